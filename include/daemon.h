/*
 * daemon.h: the state of colo-arbiterd shared by arbiter/main.c and the
 * arbiter/daemon_*.c files.  Not a library API: only the daemon includes it.
 *
 * One struct daemon per process, on one qb_loop.  Callbacks (membership,
 * QMP, pidfd, timers, fence children, control) only turn what they learn
 * into one struct fsm_event and call daemon_post(); the actions fsm_step()
 * returns are carried out in one place (daemon_core.c).
 */
#ifndef COLO_ARBITER_DAEMON_H
#define COLO_ARBITER_DAEMON_H

#include "config.h"
#include "fdhub.h"
#include "fsm.h"
#include "json_text.h"
#include "membership.h"
#include "peer_msg.h"
#include "qmp_client.h"
#include "timerhub.h"

#include <jansson.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon;

/* One local QEMU side. */
struct daemon_vm {
	struct daemon *d;
	struct daemon_vm *next;
	struct arb_vm_config cfg;
	bool runtime;             /* vm-add at run time: file under run_dir/vm.d */
	bool in_fsm;              /* FSM_ADMIN_VM_ADD done */
	bool seen;                /* registry reload mark */
	struct qmp_client *qc;
	struct fsm_instance inst; /* of the connected QEMU; pid 0: none */
	int pidfd;                /* -1: none */
	struct fdhub_watch *pidfd_w; /* in d->hub_pidfd */
	int pidfd_err;            /* the last failed watch of inst, 0: none */
	bool pidfd_retry_armed;
	qb_loop_timer_handle pidfd_retry;
	bool fd_stored;           /* handed to systemd's fd store */
	bool probed;              /* a first connect ended: QMP up, or nobody there */
	const char *refused;      /* QEMU without COLO: out of the fsm, status "refused" */
	/* status as the fsm last reported it */
	enum fsm_vm_status status;
	uint32_t where;
	const char *why;
	bool has_last;            /* last: the VM's last decision */
	struct fsm_last_decision last;
	/* facts for status: the local side as posted to the fsm, and the
	 * peer side from its last STATE message */
	struct fsm_side_report local;
	bool peer_reported;
	struct fsm_side_report peer;
};

struct daemon_timer {
	struct daemon *d;
	enum fsm_timer_id id;
	uint32_t vm;
	struct timerhub_entry e; /* of d->timers_fsm */
};

struct daemon_fence;
struct daemon_fence_backoff;
struct daemon_worker;
struct epoch_log_file;
struct persist_group;
struct daemon_ratelimit;
struct control_server;

struct daemon {
	qb_loop_t *loop;
	struct qmp_cmdset_cache *qmp_cmdsets; /* query-commands lists, shared by the VMs' clients */
	const char *config_path;
	struct arb_config cfg;
	bool foreground;
	int log_prio;             /* LOG_* threshold of the stderr/syslog targets */

	struct membership *mem;
	uint32_t nodeid;          /* 0 until the first IPC_UP */
	struct fsm *fsm;          /* created at the first IPC_UP */
	struct fsm_actions *acts;
	bool fsm_failed;          /* fsm_new refused the config: exit */

	struct daemon_vm *vms;
	/* vms by name (daemon_vm.c): open addressing, at most half full */
	struct daemon_vm **vm_idx;
	unsigned vm_idx_cap, n_vms;
	struct daemon_timer tick, deadline;
	struct daemon_timer wake[FSM_MAX_VMS];

	/* events raised while actions run (PERSIST_DONE, ...): FIFO */
	struct fsm_event *evq;
	unsigned evq_head, evq_n, evq_cap;
	bool stepping;
	/* the last CPG batch's decode buffer, reused */
	struct fsm_msg *batch_msgs;
	unsigned batch_msgs_cap;
	/* burst buffers (evq, acts, sendq, batch_msgs) freed at this timer */
	qb_loop_timer_handle release_timer;
	bool release_armed;

	/* sends refused with -EAGAIN/-ENOTCONN, in order: flushed on every
	 * membership dispatch and on a backoff timer (1 ms doubling to 50) */
	struct fsm_msg *sendq;    /* ring: sendq_n from sendq_head */
	unsigned sendq_head, sendq_n, sendq_cap;
	bool sendq_dropping;      /* the bound was hit: logged once per episode */
	/* a CPG message as built, then compressed: 2 x 24 KiB kept for a
	 * tick's messages; 2 x PEER_BATCH_MAX (its own mapping) for more,
	 * kept BURST_KEEP_MS after a flush, not resident for ever */
	uint8_t *send_buf;        /* two halves: encoded, compressed */
	size_t send_half;         /* bytes in each half */
	/* own CPG messages sent and not yet delivered back, oldest first */
	struct own_sent *own_head, *own_tail;
	unsigned own_n;
	bool send_retry_armed;
	uint64_t sent_bytes;      /* CPG bytes sent, for the debug log */
	uint64_t sent_plain;      /* the same before batch compression */
	unsigned send_retry_ms;
	qb_loop_timer_handle send_retry;

	/* cluster facts for status */
	bool ipc_cpg, ipc_quorum, quorate;
	struct membership_ring_id ring, qring;
	unsigned n_members;
	uint32_t members[FSM_MAX_NODES];

	struct daemon_worker *worker;   /* persistence and audit I/O */
	/* the epoch log: the worker's once the first batch is queued */
	struct epoch_log_file *elog;
	struct persist_group *persist_pending; /* this loop iteration's records */
	qb_loop_timer_handle persist_timer;
	bool persist_timer_armed;
	struct daemon_ratelimit *drop_rl; /* log lines of dropped CPG messages */

	int audit_fd;
	bool audit_dirty;
	qb_loop_timer_handle audit_sync;
	bool audit_sync_armed;
	/* this loop iteration's audit lines, written as one */
	struct jtext audit_buf;
	qb_loop_timer_handle audit_flush;
	bool audit_flush_armed;

	struct daemon_fence *fences;
	struct daemon_fence_backoff *fence_backoff; /* FSM_MAX_NODES slots */

	/* one poll entry of the loop for all QMP sockets, one for all pidfds
	 * (fdhub.h: libqb walks every entry on every turn) */
	struct fdhub *hub_qmp, *hub_pidfd;
	/* the fsm's timers (HIGH) and the QMP commands' timeouts (MED) */
	struct timerhub *timers_fsm, *timers_qmp;

	/* watchdog_device (daemon_watchdog.c) */
	bool wdog_on;             /* a device is configured */
	int wdog_fd;              /* held open; -1: released (or none) */
	int64_t wdog_timeout_ms;  /* as the device took it */
	int64_t wdog_period_ms;   /* between ticks */
	qb_loop_timer_handle wdog_timer;
	bool wdog_armed, wdog_petting;
	bool wdog_checked;        /* its timeout was read (and set) once */
	bool wdog_late;           /* held past the time a release could ping */
	int wdog_errno;           /* the last open or pet failure, 0: none */

	/* systemd */
	bool notify;              /* NOTIFY_SOCKET set */
	uint64_t watchdog_usec;
	qb_loop_timer_handle wd_timer;
	bool ready_sent;

	/* status dump for tests and `status` (until colo-arbiterctl) */
	bool status_dirty;
	qb_loop_timer_handle status_timer;
	unsigned status_delay_ms; /* after a change: 10x the last snapshot's cost */
	int64_t status_asked_ms;  /* the change the pending snapshot is for */
	qb_loop_timer_handle trim_timer; /* daemon_mem.c */
	bool trim_armed;

	/* reaction latency (CLOCK_MONOTONIC us): the event being stepped, and
	 * the last corosync membership event */
	int64_t cur_ev_us, last_memb_us;
	const char *last_memb_kind;

	struct control_server *control;
	uint64_t qmp_first_id;
	bool stopping;
	int exit_code;
};

/* ---- daemon_core.c ---- */
/* Stamps the clocks and queues ev; runs the fsm unless already inside it.
 * Returns fsm_step()'s result for ev when it ran at once, 0 when queued. */
int daemon_post(struct daemon *d, struct fsm_event *ev);
void daemon_membership_event(struct membership *m, const struct membership_event *ev,
			     void *opaque);
/* First IPC_UP: builds the fsm, loads persisted records, adds the VMs. */
int daemon_fsm_create(struct daemon *d, uint32_t nodeid);
void daemon_core_free(struct daemon *d);
int64_t daemon_mono_ms(void);
int64_t daemon_wall_ms(void);
int64_t daemon_mono_us(void);

/* ---- daemon_vm.c ---- */
struct daemon_vm *daemon_vm_find(struct daemon *d, const char *name);
/* Takes over cfg (its lists); starts the QMP client if the fsm exists. */
int daemon_vm_add(struct daemon *d, struct arb_vm_config *cfg, bool runtime);
/* -EBUSY (nothing removed) while the fsm runs a sequence on it. */
int daemon_vm_remove(struct daemon *d, struct daemon_vm *v);
/* Registers with the fsm and starts QMP (called once the fsm exists). */
void daemon_vm_activate(struct daemon *d, struct daemon_vm *v, int adopt_fd);
void daemon_vm_exec(struct daemon *d, const struct fsm_action *a);
void daemon_vm_kill(struct daemon *d, const struct fsm_action *a);
void daemon_vm_free_all(struct daemon *d);
/* Keeps the status facts of the VM an event is about. */
void daemon_vm_note(struct daemon *d, const struct fsm_event *ev);

/* ---- daemon_sched.c ---- */
/* SCHED_RR at cfg.realtime_priority (0: leave it), for the loop and the
 * I/O worker: after daemon_worker_start(). */
void daemon_sched_apply(struct daemon *d);

/* ---- daemon_mem.c ---- */
/* Once at start: the allocator settings that keep bursts out of the heap.
 * After a burst of allocations: free pages go back to the kernel once the
 * loop has been quiet for a while. */
void daemon_mem_init(void);
void daemon_mem_trim_soon(struct daemon *d);
void daemon_mem_stop(struct daemon *d);

/* ---- daemon_persist.c ---- */
/* Queues rec for this loop iteration's batch, made durable on the worker
 * thread (in the loop itself if there is no worker); FSM_EV_PERSIST_DONE
 * (seq) is posted from the loop once it is.  A failure is logged and never
 * completed.  0, or -errno (nothing queued: not durable, ever). */
int daemon_persist_submit(struct daemon *d, const struct fsm_persist *rec, uint64_t seq);
/* Hands the queued records to the worker now (at shutdown, before
 * daemon_worker_stop()). */
void daemon_persist_flush(struct daemon *d);
/* Opens the epoch log (recovering an unfinished last batch) and returns
 * every VM's record; *recs malloc'd (NULL when n = 0). */
int daemon_persist_load(struct daemon *d, struct fsm_persist **recs, unsigned *n);
/* After daemon_worker_stop(). */
void daemon_persist_close(struct daemon *d);
int daemon_audit_open(struct daemon *d);
void daemon_audit_write(struct daemon *d, const char *text);
void daemon_audit_close(struct daemon *d);

/* ---- daemon_fence.c ---- */
void daemon_fence_start(struct daemon *d, uint32_t nodeid);
void daemon_fence_free_all(struct daemon *d);

/* Has every local QEMU been looked at once since start?  Until then the
 * fsm cannot know that nothing runs alone here. */
bool daemon_vm_all_probed(const struct daemon *d);

/* ---- daemon_watchdog.c ---- */
/* 0, or -errno when the configured device is not there to be written
 * (CRIT logged).  It is opened later, at the first tick that may hold it. */
int daemon_watchdog_open(struct daemon *d);
/* disarm: a clean stop (the magic close); else the device keeps counting */
void daemon_watchdog_close(struct daemon *d, bool disarm);

/* ---- daemon_notify.c ---- */
void daemon_notify_init(struct daemon *d);
int daemon_notify(struct daemon *d, const char *state);
int daemon_notify_fdstore(struct daemon *d, const char *name, int fd);
int daemon_notify_fdremove(struct daemon *d, const char *name);
/* LISTEN_FDS with LISTEN_FDNAMES: fd stored under `name`, or -1. */
int daemon_notify_take_fd(const char *name);
void daemon_notify_close_unused(void);

/* ---- daemon_registry.c ---- */
int daemon_registry_load(struct daemon *d, bool reload);
int daemon_registry_store(struct daemon *d, const struct arb_vm_config *cfg);
int daemon_registry_unstore(struct daemon *d, const char *name);
int daemon_load_config(const char *path, struct arb_config *c, struct config_error *err);
int daemon_read_file(const char *path, char **text, size_t *len);

/* ---- daemon_status.c ---- */
/* compact JSON text of the `status` snapshot (malloc'd), NULL: no memory */
char *daemon_status_text(struct daemon *d);
void daemon_status_changed(struct daemon *d);
void daemon_status_stop(struct daemon *d);

/* ---- daemon_log.c ---- */
void daemon_log_init(struct daemon *d);
void daemon_log_set_level(struct daemon *d);
void daemon_log_fini(void);
/* ---- daemon_log_stderr.c ---- */
int32_t daemon_log_stderr_open(qb_loop_t *loop);
void daemon_log_stderr_immediate(void); /* no loop runs any more: each line at once */
void daemon_log_stderr_after_fork(void); /* in a child: drop the parent's lines */
/* A CPG message from node `from` was dropped: true if it may be logged in
 * full; otherwise it is counted and summed up once per 10 s. */
bool daemon_log_drop_ok(struct daemon *d, uint32_t from);
void daemon_log_drop_free(struct daemon *d);

#endif
