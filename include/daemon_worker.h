/*
 * daemon_worker.h: one worker thread for the daemon's blocking file work
 * (epoch records: write, fsync, rename, fsync dir; audit lines and their
 * fdatasync), so that a slow disk never stalls the qb_loop.
 *
 * Jobs run one at a time in submission order (FIFO), except that every
 * queued job of one batch function runs in one call with the first of them
 * (in their order; ahead of queued jobs of other kinds).  A job's run()
 * executes on the worker thread and may only make system calls on data the
 * job owns: no qb_log, no jansson, no struct daemon.  Its done() runs back
 * on the loop thread, in submission order, with run()'s result; done()
 * owns and frees the job's argument.  Results come back through an eventfd
 * watched by the loop, so done() is never called from inside submit().
 */
#ifndef COLO_ARBITER_DAEMON_WORKER_H
#define COLO_ARBITER_DAEMON_WORKER_H

#include <qb/qbloop.h>
#include <stdbool.h>

struct daemon_worker;

/* Runs on the worker thread. Returns 0 or -errno. */
typedef int (*daemon_worker_run_fn)(void *arg);
/* Runs on the loop thread (or in daemon_worker_stop()). cancelled: the
 * daemon is shutting down: free arg, start nothing new. */
typedef void (*daemon_worker_done_fn)(void *arg, int rc, bool cancelled);

/* Runs on the worker thread for n >= 1 queued jobs submitted with the same
 * function (at most DAEMON_WORKER_BATCH_MAX), in their submission order;
 * sets rcs[i] for each. Lets a queue of writes share one flush. */
typedef void (*daemon_worker_batch_fn)(void **args, int *rcs, unsigned n);
#define DAEMON_WORKER_BATCH_MAX 256

/* NULL with errno set (the caller may then run jobs inline). */
struct daemon_worker *daemon_worker_start(qb_loop_t *loop);

/* The worker thread's scheduling (pthread_setschedparam): 0 or an errno. */
int daemon_worker_set_sched(struct daemon_worker *w, int policy, int priority);
/* Queues a job; 0, or -ENOMEM / -ESHUTDOWN (nothing queued: arg is still
 * the caller's). */
int daemon_worker_submit(struct daemon_worker *w, daemon_worker_run_fn run,
			 daemon_worker_done_fn done, void *arg);
/* The same, run together with the other queued jobs of the same batch
 * function. Each still gets its own done(), in submission order among
 * them. */
int daemon_worker_submit_batch(struct daemon_worker *w, daemon_worker_batch_fn batch,
			       daemon_worker_done_fn done, void *arg);
/* Drains: every queued job still runs (durability first), then the thread
 * is joined and each done() is called with cancelled = true.  NULL is
 * ignored. */
void daemon_worker_stop(struct daemon_worker *w);

#endif
