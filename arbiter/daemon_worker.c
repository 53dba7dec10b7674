/*
 * daemon_worker.c: the daemon's one worker thread (see daemon_worker.h).
 *
 * Does: a FIFO of jobs run on one thread, results handed back to the loop
 * through an eventfd, in order.  Queued jobs of one batch function run as
 * one call, so that a burst of record writes (a node loss with hundreds of
 * VMs) shares one flush instead of two fsyncs per record; they keep their
 * order among themselves and may overtake jobs of other kinds.  One thread, not a pool: epoch records must
 * become durable in the order the fsm issued them (its PERSIST_DONE
 * sequence numbers), and the audit file is append-only.
 * Must not: log (qb_log's blackbox is not thread-safe), touch struct
 * daemon, or run a job's done() anywhere but on the loop thread (or in
 * daemon_worker_stop() after the thread is gone).
 */
#include "daemon_worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct worker_job {
	struct worker_job *next;
	daemon_worker_run_fn run;      /* or */
	daemon_worker_batch_fn batch;
	daemon_worker_done_fn done;
	void *arg;
	int rc;
};

struct job_list {
	struct worker_job *head, *tail;
};

struct daemon_worker {
	qb_loop_t *loop;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list todo, done; /* both under mu */
	bool stop;                  /* under mu */
	int efd;
	/* worker thread only: the batch being run */
	struct worker_job *bjobs[DAEMON_WORKER_BATCH_MAX];
	void *bargs[DAEMON_WORKER_BATCH_MAX];
	int brcs[DAEMON_WORKER_BATCH_MAX];
};

static void list_push(struct job_list *l, struct worker_job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static struct worker_job *list_pop(struct job_list *l)
{
	struct worker_job *j = l->head;

	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
	}
	return j;
}

/* j and every queued job of its batch function, in their order: they may
 * overtake jobs of other kinds (an audit line between two records must not
 * split the batch), never each other. Under mu. */
static unsigned take_batch(struct daemon_worker *w, struct worker_job *j)
{
	struct worker_job **pp = &w->todo.head, *prev = NULL;
	unsigned n = 0;

	w->bjobs[n++] = j;
	while (*pp && n < DAEMON_WORKER_BATCH_MAX) {
		struct worker_job *q = *pp;

		if (q->batch != j->batch) {
			prev = q;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		if (w->todo.tail == q)
			w->todo.tail = prev;
		w->bjobs[n++] = q;
	}
	return n;
}

static void *worker_main(void *data)
{
	struct daemon_worker *w = data;
	const uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct worker_job *j;
		unsigned n = 0;

		while (!w->todo.head && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		j = list_pop(&w->todo);
		if (!j)
			break; /* stop, and nothing left to make durable */
		if (j->batch)
			n = take_batch(w, j);
		pthread_mutex_unlock(&w->mu);
		if (n) {
			for (unsigned i = 0; i < n; i++) {
				w->bargs[i] = w->bjobs[i]->arg;
				w->brcs[i] = -EIO;
			}
			j->batch(w->bargs, w->brcs, n);
			for (unsigned i = 0; i < n; i++)
				w->bjobs[i]->rc = w->brcs[i];
		} else {
			j->rc = j->run(j->arg);
		}
		pthread_mutex_lock(&w->mu);
		if (n) {
			for (unsigned i = 0; i < n; i++)
				list_push(&w->done, w->bjobs[i]);
		} else {
			list_push(&w->done, j);
		}
		/* a full counter (never in practice) still leaves it readable */
		while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Completions in submission order; done() may submit again. */
static void complete(struct daemon_worker *w, bool cancelled)
{
	struct job_list l;
	struct worker_job *j;

	pthread_mutex_lock(&w->mu);
	l = w->done;
	w->done.head = w->done.tail = NULL;
	pthread_mutex_unlock(&w->mu);
	while ((j = list_pop(&l))) {
		j->done(j->arg, j->rc, cancelled);
		free(j);
	}
}

static int32_t efd_cb(int32_t fd, int32_t revents, void *data)
{
	struct daemon_worker *w = data;
	uint64_t n;

	(void)revents;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	complete(w, false);
	return 0;
}

int daemon_worker_set_sched(struct daemon_worker *w, int policy, int priority)
{
	struct sched_param sp = { .sched_priority = priority };

	return w ? pthread_setschedparam(w->thread, policy, &sp) : EINVAL;
}

struct daemon_worker *daemon_worker_start(qb_loop_t *loop)
{
	struct daemon_worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int rc;

	if (!w) {
		errno = ENOMEM;
		return NULL;
	}
	w->loop = loop;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (qb_loop_poll_add(loop, QB_LOOP_HIGH, w->efd, POLLIN, w, efd_cb)) {
		errno = ENOMEM;
		goto fail_sync;
	}
	/* signals stay with the loop thread (qb_loop's signal pipe) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		qb_loop_poll_del(loop, w->efd);
		errno = rc;
		goto fail_sync;
	}
	return w;
fail_sync:
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	close(w->efd);
fail:
	rc = errno;
	free(w);
	errno = rc;
	return NULL;
}

static int submit(struct daemon_worker *w, daemon_worker_run_fn run,
		  daemon_worker_batch_fn batch, daemon_worker_done_fn done, void *arg)
{
	struct worker_job *j;

	if (!w)
		return -ESHUTDOWN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->run = run;
	j->batch = batch;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stop) {
		pthread_mutex_unlock(&w->mu);
		free(j);
		return -ESHUTDOWN;
	}
	list_push(&w->todo, j);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int daemon_worker_submit(struct daemon_worker *w, daemon_worker_run_fn run,
			 daemon_worker_done_fn done, void *arg)
{
	return submit(w, run, NULL, done, arg);
}

int daemon_worker_submit_batch(struct daemon_worker *w, daemon_worker_batch_fn batch,
			       daemon_worker_done_fn done, void *arg)
{
	return submit(w, NULL, batch, done, arg);
}

void daemon_worker_stop(struct daemon_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	qb_loop_poll_del(w->loop, w->efd);
	complete(w, true);
	close(w->efd);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
