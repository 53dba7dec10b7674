/*
 * qmp_client.h: non-blocking QMP client for one QEMU monitor socket, on a
 * libqb main loop.
 *
 * One client = one QEMU monitor (unix socket), kept open for the VM's life
 * and reconnected with exponential backoff after every failure or loss.
 * The client never logs and has no globals: it reports everything through
 * the callbacks below and the owner decides what to log or do.
 *
 * States:
 *   DISCONNECTED -> CONNECTING -> GREETING -> NEGOTIATING -> PROBING -> READY
 *   GREETING      waits for QEMU's greeting (greeting_timeout_ms, else close)
 *   NEGOTIATING   qmp_capabilities, with {"enable":["oob"]} when offered and
 *                 wanted (negotiate_timeout_ms, else close)
 *   PROBING       query-commands, then query-yank if QEMU has it. A probe
 *                 that times out does NOT close the connection: QEMU's main
 *                 loop may be hung (silent-loss/README.md) and only this
 *                 already negotiated monitor can still carry an OOB yank.
 *                 The client keeps waiting for the probe's reply; OOB
 *                 commands are accepted meanwhile (when oob was negotiated).
 *   READY         facts known; owner commands accepted.
 * Any loss (EOF, error, framing or parse error, greeting/negotiation
 * timeout) goes to DISCONNECTED: every pending command gets NOT_DELIVERED
 * (QEMU drops commands whose reply was never read, d-reconnect-*.txt), and
 * a reconnect is scheduled after the current backoff delay.
 *
 * Command ids are "cab-<n>" (qmp_msg.h) with n counting up from
 * config.first_id; replies are matched by id.
 *
 * In-band flow control: with oob enabled, QEMU queues at most 8 in-band
 * requests and stops reading the socket when the queue is full, which
 * would also block an OOB yank behind them. The client therefore keeps at
 * most QMP_CLIENT_MAX_INBAND_INFLIGHT in-band commands written and
 * unanswered (a timed-out one still counts until its late reply); more wait
 * in the client's queue. OOB commands are written at once.
 *
 * Re-entrancy: callbacks may call qmp_client_execute() and
 * qmp_client_free() on the same client (the memory is released once the
 * callback returns). They must not run the loop recursively.
 */
#ifndef COLO_ARBITER_QMP_CLIENT_H
#define COLO_ARBITER_QMP_CLIENT_H

#include "qmp_msg.h"
#include "timerhub.h"

#include <jansson.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define QMP_CLIENT_MAX_INBAND_INFLIGHT 4

enum qmp_client_state {
	QMP_CLIENT_DISCONNECTED = 0,
	QMP_CLIENT_CONNECTING,
	QMP_CLIENT_GREETING,
	QMP_CLIENT_NEGOTIATING,
	QMP_CLIENT_PROBING,
	QMP_CLIENT_READY,
};
const char *qmp_client_state_to_str(enum qmp_client_state s);

enum qmp_result_kind {
	QMP_RESULT_RETURN = 0,   /* r->ret holds QEMU's "return" value */
	QMP_RESULT_ERROR,        /* r->err_class / r->err_desc */
	QMP_RESULT_NOT_DELIVERED,/* connection lost before the reply was read:
				  * the command may or may not have run;
				  * query the state and resend if needed */
	QMP_RESULT_TIMEOUT,      /* no reply within the timeout; the connection
				  * stays open; a reply arriving later goes to
				  * on_late_reply, never to this callback */
	QMP_RESULT_CANCELLED,    /* the owner freed the client */
};
const char *qmp_result_kind_to_str(enum qmp_result_kind k);

/* Valid only during the callback; json_incref(ret) to keep it. */
struct qmp_result {
	enum qmp_result_kind kind;
	uint64_t id;             /* as returned by qmp_client_execute() */
	const char *command;     /* the command's name */
	bool oob;                /* sent with exec-oob */
	json_t *ret;             /* RETURN: borrowed */
	enum qmp_error_class err_class;  /* ERROR */
	const char *err_class_str;       /* ERROR: QEMU's class string */
	const char *err_desc;            /* ERROR: QEMU's text (do not match it) */
	const char *reason;      /* NOT_DELIVERED/TIMEOUT/CANCELLED: why */
};

struct qmp_client;
struct fdhub;

/*
 * Command lists shared between clients: query-commands' answer (some 250
 * names, about 10 KiB) is the same for every QEMU of one build, and a
 * daemon watching hundreds of VMs keeps one copy per distinct list instead
 * of one per client. Optional (qmp_client_config.cmdset_cache); owned by
 * the caller, used on one thread, freed after every client using it.
 */
struct qmp_cmdset_cache;
struct qmp_cmdset_cache *qmp_cmdset_cache_new(void); /* NULL: ENOMEM */
void qmp_cmdset_cache_free(struct qmp_cmdset_cache *cache);
/* Distinct lists held (for tests and status). */
unsigned qmp_cmdset_cache_sets(const struct qmp_cmdset_cache *cache);

/* Result of one command: called exactly once per successful execute(). */
typedef void (*qmp_client_result_fn)(struct qmp_client *c,
				     const struct qmp_result *r, void *opaque);

struct qmp_client_callbacks {
	/* Every state change, with a human-readable reason ("connect: No such
	 * file or directory", "greeting timeout after 2000 ms", "framing: NUL
	 * byte at offset 17", ...). Optional. */
	void (*on_state)(struct qmp_client *c, enum qmp_client_state old_state,
			 enum qmp_client_state new_state, const char *reason,
			 void *opaque);
	/* Every QMP event, also those arriving during set-up. data may be NULL;
	 * ts_* is QEMU's own timestamp. Optional. */
	void (*on_event)(struct qmp_client *c, const char *name, json_t *data,
			 int64_t ts_sec, int64_t ts_usec, void *opaque);
	/* A reply to a command that had already timed out (r->kind RETURN or
	 * ERROR, r->id/command of that command). Optional. */
	void (*on_late_reply)(struct qmp_client *c, const struct qmp_result *r,
			      void *opaque);
	/* Protocol anomalies. fatal=true: the connection is being closed (a
	 * state change with the same text follows); fatal=false: reported and
	 * ignored (reply with an unknown or foreign id, error without id,
	 * set-up command failure that does not end the connection). */
	void (*on_error)(struct qmp_client *c, bool fatal, const char *msg,
			 void *opaque);
};

struct qmp_client_config {
	const char *path;               /* monitor socket; copied */
	size_t max_line;                /* 0: QMP_FRAMER_DEFAULT_MAX_LINE */
	size_t max_output;              /* queued bytes, 0: 1 MiB */
	unsigned backoff_min_ms;        /* 0: 50 */
	unsigned backoff_max_ms;        /* 0: 5000 */
	unsigned greeting_timeout_ms;   /* 0: 5000; from connect() to greeting */
	unsigned negotiate_timeout_ms;  /* 0: 5000 */
	unsigned probe_timeout_ms;      /* 0: 5000 */
	bool no_oob;                    /* do not ask for oob even if offered */
	struct qmp_cmdset_cache *cmdset_cache; /* NULL: the client keeps its
					 * own copy of the command list */
	struct fdhub *hub;              /* NULL: the socket is a poll entry of
					 * the loop; else a watch of this hub
					 * (fdhub.h: many clients per loop) */
	struct timerhub *timers;        /* NULL: a loop timer per command's
					 * timeout; else an entry of this hub
					 * (timerhub.h) */
	uint64_t first_id;              /* 0: 1. Use a value unique per process
					 * start (e.g. realtime in us) when
					 * adopting fds, so that late replies
					 * meant for a previous process cannot
					 * match a new command's id. */
};

/*
 * Creates a client on loop. Does not connect: call qmp_client_start() or
 * qmp_client_adopt_fd(). cfg and cb are copied. NULL with errno set
 * (EINVAL: no path; ENAMETOOLONG: path longer than sun_path; ENOMEM).
 */
struct qmp_client *qmp_client_new(qb_loop_t *loop,
				  const struct qmp_client_config *cfg,
				  const struct qmp_client_callbacks *cb,
				  void *opaque);

/* Starts connecting (at once; then with backoff). 0, or -EALREADY if
 * already started/connected. */
int qmp_client_start(struct qmp_client *c);

/*
 * Closes the connection and frees the client. Every pending command's
 * callback runs with QMP_RESULT_CANCELLED before this returns; no other
 * callback runs afterwards. NULL is fine.
 */
void qmp_client_free(struct qmp_client *c);

/* Flags for qmp_client_execute(). */
#define QMP_CMD_OOB 0x1u /* send with exec-oob; needs oob negotiated */

/*
 * Sends command `name` with `args` (an object or NULL; the reference is
 * stolen, also on failure). timeout_ms 0 means no timeout. cb may be NULL
 * (fire and forget). Returns the command id (> 0), or:
 *   -ENOTCONN  not READY (OOB commands: also allowed in PROBING once oob
 *              was negotiated)
 *   -ENOTSUP   QMP_CMD_OOB without oob negotiated
 *   -ENOBUFS   output queue full
 *   -EINVAL    bad name/args/flags; -ENOMEM
 * The callback is never called from within qmp_client_execute().
 */
int64_t qmp_client_execute(struct qmp_client *c, const char *name,
			   json_t *args, unsigned flags, unsigned timeout_ms,
			   qmp_client_result_fn cb, void *opaque);

/* What the owner kept of a negotiated connection, for adopt_fd. */
struct qmp_client_adopt {
	bool oob;                  /* oob was negotiated on this fd */
	struct qmp_version version;/* from the original greeting (or zeroes) */
};

/*
 * Takes over fd, a connected monitor socket on which qmp_capabilities was
 * already done (e.g. kept in systemd's fd store across a daemon restart).
 * The client owns fd on success (closes it on loss and does not reconnect
 * through it; later reconnects use cfg.path). The client enters PROBING and
 * re-runs query-commands/query-yank; on a hung QEMU the probe times out but
 * the connection stays and OOB commands work. Bytes of a partial line left
 * by the previous owner may precede the first reply: an invalid first line
 * after adoption is reported (non-fatal) and skipped.
 * 0, -EALREADY (already connected or connecting), -EBADF, -errno.
 */
int qmp_client_adopt_fd(struct qmp_client *c, int fd,
			const struct qmp_client_adopt *a);

/* ---- facts; valid while connected (reset on every loss) ---- */
enum qmp_client_state qmp_client_state(const struct qmp_client *c);
/* Greeting's version; NULL before a greeting (or adoption). */
const struct qmp_version *qmp_client_version(const struct qmp_client *c);
bool qmp_client_oob(const struct qmp_client *c);
/* 1 yes, 0 no, -EAGAIN command set not known yet (probe pending). */
int qmp_client_has_command(const struct qmp_client *c, const char *name);
/* query-yank's list; NULL if not known (not probed yet, or QEMU lacks
 * query-yank, see qmp_client_has_command(c, "query-yank")). */
const struct qmp_yank_list *qmp_client_yank(const struct qmp_client *c);
/* Frees that list once its reader has taken what it needs (a daemon with
 * hundreds of monitors keeps its own selection, not every list); then
 * qmp_client_yank() is NULL until a new connection is probed. */
void qmp_client_yank_forget(struct qmp_client *c);
/* Peer's pid from SO_PEERCRED, or 0 when unknown. */
pid_t qmp_client_peer_pid(const struct qmp_client *c);
/* The connected fd (e.g. to store it in systemd's fd store), or -1. */
int qmp_client_fd(const struct qmp_client *c);
/* Commands sent or queued and not yet answered/timed out. */
unsigned qmp_client_pending(const struct qmp_client *c);
const char *qmp_client_path(const struct qmp_client *c);

#endif
