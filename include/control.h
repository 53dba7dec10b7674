/*
 * control.h: the control socket of colo-arbiterd (colo-arbiterctl talks to
 * it), a unix stream socket served on the daemon's libqb loop.
 *
 * Protocol (QMP style, one JSON object per "\n"-terminated line):
 *   server, on connect   {"colo-arbiter":{"version":"0.1.0","node":N}}
 *   request              {"execute":CMD[,"arguments":{...}][,"id":ANY]}
 *   reply                {"return":X[,"id":ANY]}
 *                        {"error":{"class":S,"desc":S}[,"id":ANY]}
 *   event (watchers)     {"event":"STATUS"|"AUDIT","data":{...},
 *                         "timestamp":{"seconds":N,"microseconds":N}}
 * Replies come in request order; "id" is echoed verbatim when present.
 * Malformed JSON, a request of the wrong shape, an unknown command or bad
 * arguments get an error reply and the connection stays open. A line longer
 * than max_line or a NUL byte gets an error reply and the connection is
 * closed (a byte stream cannot be resynchronised safely).
 *
 * Access: the socket file gets cfg->mode and group cfg->group. Each client's
 * credentials (SO_PEERCRED, SO_PEERGROUPS) are checked on accept: uid 0, the
 * daemon's own euid, or a process whose primary or supplementary groups
 * contain that group. Others get {"error":{"class":"PermissionDenied",..}}
 * instead of the greeting, and are closed.
 *
 * The server never blocks the loop: input lines are bounded, each client's
 * output queue is bounded, and reading stops while a client's queue is more
 * than half full (max_outq / 2). The bound is on what already waits: a
 * client holding at most max_outq / 2 bytes takes the next message whatever
 * its size (a `status` reply or STATUS event for thousands of VMs is several
 * MB), one holding more only up to max_outq in total; a client, typically a
 * slow watcher, whose message does not fit is dropped. Per client that is at
 * most max_outq / 2 plus the largest message. A drained buffer larger than
 * 64 KiB is released. It never logs: it reports through cfg->notice.
 * The handler builds its answer from a snapshot and returns at once (see
 * STYLE.md, ntpd control.c).
 */
#ifndef COLO_ARBITER_CONTROL_H
#define COLO_ARBITER_CONTROL_H

#include <jansson.h>
#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Shared defaults: config.c uses them for control_socket/control_group/
 * control_mode, colo-arbiterctl for --socket. */
#define CONTROL_SOCKET_DEFAULT "/run/colo-arbiter/control.sock"
#define CONTROL_GROUP_DEFAULT "haclient"
#define CONTROL_MODE_DEFAULT 0660
#define CONTROL_MODE_FALLBACK 0600 /* group missing: root only */

#define CONTROL_MAX_LINE_DEFAULT ((size_t)64 * 1024)
#define CONTROL_MAX_OUTQ_DEFAULT ((size_t)1024 * 1024)
#define CONTROL_MAX_CLIENTS_DEFAULT 64u

/* Error classes the server itself emits (handlers may use any string). */
#define CONTROL_ERR_GENERIC "GenericError"
#define CONTROL_ERR_NOT_FOUND "CommandNotFound"
#define CONTROL_ERR_SAFETY "SafetyRefused"
#define CONTROL_ERR_PERMISSION "PermissionDenied"
#define CONTROL_ERR_CLASS_MAX 64
#define CONTROL_ERR_DESC_MAX 512

struct control_server;
struct control_conn;

/* Severity of a notice, as syslog's LOG_* values (LOG_ERR, LOG_WARNING,
 * LOG_NOTICE, LOG_INFO, LOG_DEBUG). */
typedef void (*control_notice_fn)(int level, const char *msg, void *opaque);

struct control_server_config {
	const char *path;      /* socket path; NULL: CONTROL_SOCKET_DEFAULT */
	const char *group;     /* NULL: CONTROL_GROUP_DEFAULT; "": root only */
	mode_t mode;           /* 0: CONTROL_MODE_DEFAULT */
	uint32_t node;         /* local nodeid, in the greeting */
	const char *version;   /* greeting; the daemon passes PACKAGE_VERSION */
	size_t max_line;       /* 0: CONTROL_MAX_LINE_DEFAULT */
	size_t max_outq;       /* 0: CONTROL_MAX_OUTQ_DEFAULT (see above) */
	unsigned max_clients;  /* 0: CONTROL_MAX_CLIENTS_DEFAULT */
	control_notice_fn notice; /* may be NULL */
	void *notice_opaque;
};

/*
 * One request. `cmd` is the "execute" string, `args` the "arguments" object
 * (an empty object when absent; borrowed). On success fill *ret with a new
 * reference (NULL means {}) and return 0. On failure return a negative errno
 * and fill err_class (e.g. "GenericError", "CommandNotFound",
 * "SafetyRefused"; empty: "GenericError") and desc (empty: strerror).
 * Unknown commands: -ENOENT with "CommandNotFound". Must not run the loop,
 * free the server, or block.
 */
typedef int (*control_handler_fn)(struct control_conn *conn, const char *cmd,
				  json_t *args, json_t **ret,
				  char *err_class, size_t ec_len,
				  char *desc, size_t desc_len, void *opaque);

/*
 * Binds and listens on cfg->path, adds it to the loop. A stale socket file
 * (nobody answers) is replaced; if a live server answers on it, fails with
 * errno EADDRINUSE; a non-socket file there is never removed (EEXIST).
 * If cfg->group does not exist the socket falls back to mode 0600 root:root
 * (reported through cfg->notice at LOG_WARNING and by
 * control_server_group_fallback()): never a failure.
 * Returns NULL with errno set (and a LOG_ERR notice) on failure.
 */
struct control_server *control_server_new(qb_loop_t *loop,
					  const struct control_server_config *cfg,
					  control_handler_fn fn, void *opaque);

/* Closes every client, removes the socket file if it is still ours. */
void control_server_free(struct control_server *s);

/* Subscribes conn to broadcasts. Called from the handler of "watch": the
 * events start after the reply to that request. */
void control_conn_watch(struct control_conn *conn);

/* Credentials of the client, from SO_PEERCRED at accept time. */
void control_conn_peer(const struct control_conn *conn, pid_t *pid, uid_t *uid,
		       gid_t *gid);

/*
 * Sends {"event":event,"data":data,"timestamp":...} to every watcher.
 * data is borrowed (NULL: {}). A watcher whose output queue would overflow
 * is dropped (LOG_WARNING notice). Safe to call from the handler.
 */
void control_server_broadcast(struct control_server *s, const char *event,
			      json_t *data);

/* The same with data already encoded: one compact JSON value, borrowed,
 * spliced in as it is (a status of hundreds of VMs is built as text, never
 * as one jansson tree). */
void control_server_broadcast_text(struct control_server *s, const char *event,
				   const char *data);

/* From the handler, instead of *ret: the reply's "return" value as encoded
 * compact JSON text (one value, taken over and freed).  Ignored, and freed,
 * outside the handler or when the handler fails. */
void control_conn_return_text(struct control_conn *conn, char *text);

/* For tests and status: connected clients, watchers, the fallback flag. */
unsigned control_server_clients(const struct control_server *s);
unsigned control_server_watchers(const struct control_server *s);
bool control_server_group_fallback(const struct control_server *s);
const char *control_server_path(const struct control_server *s);

#endif
