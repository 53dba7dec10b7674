/*
 * control.c: the control socket server of colo-arbiterd on the libqb loop
 * (protocol and access rules in control.h).
 *
 * It frames lines, checks the request's shape, calls the daemon's handler
 * and queues the answer; it decides nothing and changes no daemon state.
 * It must never block the loop (every socket is non-blocking, every buffer
 * bounded), never log (notices go to the owner's callback), and never free
 * a client while one of its callbacks is still on the stack.
 */
#include "control.h"

#include "compiler.h"
#include "control_msg.h"
#include "qmp_framer.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux >= 4.13 */
#endif

#define CONTROL_READ_CHUNK 4096
#define CONTROL_READS_PER_DISPATCH 16 /* fairness between clients */
#define CONTROL_ACCEPTS_PER_DISPATCH 16
#define CONTROL_ACCEPT_PAUSE_NS (200ull * 1000 * 1000) /* after EMFILE */
#define CONTROL_MAX_GROUPS 65536
/* An output buffer larger than this is released once drained: one status
 * reply for thousands of VMs must not stay allocated per client. */
#define CONTROL_OUT_KEEP ((size_t)64 * 1024)

struct control_conn {
	struct control_server *s;
	struct control_conn *prev, *next;
	int fd;
	int poll_events;
	struct qmp_framer framer;
	char *out;
	size_t out_len, out_off, out_cap;
	bool watching;
	bool watch_req;      /* control_conn_watch() during the handler */
	bool in_handler;
	char *raw_ret;       /* control_conn_return_text() during the handler */
	bool eof;            /* peer shut its write side: answer, then close */
	bool close_on_flush; /* fatal input error: error sent, then close */
	bool dead;
	unsigned busy;       /* callbacks of this conn on the stack */
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

struct control_server {
	qb_loop_t *loop;
	int fd;
	bool polled;
	bool accept_paused;
	qb_loop_timer_handle accept_timer;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool have_group;
	gid_t gid;
	bool group_fallback;
	uint32_t node;
	char version[64];
	size_t max_line, max_outq;
	unsigned max_clients;
	control_notice_fn notice_fn;
	void *notice_opaque;
	control_handler_fn fn;
	void *opaque;
	struct control_conn *conns;
	unsigned n_conns, n_watchers;
};

static void notice(const struct control_server *s, int level, const char *fmt, ...)
	ATTR_PRINTF(3, 4);

static void notice(const struct control_server *s, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!s->notice_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->notice_fn(level, msg, s->notice_opaque);
}

/* ------------------------------------------------------------ clients */

static int32_t conn_dispatch(int32_t fd, int32_t revents, void *data);

static void conn_free(struct control_conn *c)
{
	qmp_framer_free(&c->framer);
	free(c->out);
	free(c);
}

/* Unlinks and closes at once; the memory goes when no callback of this
 * client is on the stack any more. */
static void conn_close(struct control_conn *c)
{
	struct control_server *s = c->s;

	if (c->dead)
		return;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->watching)
		s->n_watchers--;
	c->watching = false;
	qb_loop_poll_del(s->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	if (c->busy == 0)
		conn_free(c);
}

/* Every path that may close a client holds it (busy) meanwhile: the
 * memory outlives the close until the outermost holder lets go. */
static void conn_hold(struct control_conn *c)
{
	c->busy++;
}

static void conn_release(struct control_conn *c)
{
	if (--c->busy == 0 && c->dead)
		conn_free(c);
}

static size_t conn_pending(const struct control_conn *c)
{
	return c->out_len - c->out_off;
}

static void conn_poll_update(struct control_conn *c)
{
	int ev = 0;

	if (c->dead)
		return;
	if (!c->eof && !c->close_on_flush &&
	    conn_pending(c) <= c->s->max_outq / 2)
		ev |= POLLIN;
	if (conn_pending(c) > 0)
		ev |= POLLOUT;
	if (ev != c->poll_events &&
	    qb_loop_poll_mod(c->s->loop, QB_LOOP_MED, c->fd, ev, c,
			     conn_dispatch) == 0)
		c->poll_events = ev;
}

/* Writes what the socket takes now. Closes the client on a write error,
 * or once drained if it is to be closed. */
static void conn_flush(struct control_conn *c)
{
	while (!c->dead && conn_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_off, conn_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			notice(c->s, LOG_DEBUG, "control client pid %ld: write: %s",
			       (long)c->pid, strerror(errno));
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->dead)
		return;
	if (conn_pending(c) == 0) {
		c->out_off = c->out_len = 0;
		if (c->out_cap > CONTROL_OUT_KEEP) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
		if (c->close_on_flush || c->eof) {
			conn_close(c);
			return;
		}
	}
	conn_poll_update(c);
}

/*
 * Whether a message of len bytes may join the queue. The bound is on what
 * is already waiting, not on the message: a client holding at most
 * max_outq / 2 unsent bytes (reading stops above that, see conn_read) takes
 * the next message whatever its size, so a `status` reply or STATUS event
 * for thousands of VMs reaches a client that keeps up; a client holding more
 * may only grow to max_outq. Per client that is at most max_outq / 2 plus
 * the largest message, or max_outq.
 */
static bool conn_fits(const struct control_conn *c, size_t len)
{
	size_t pending = conn_pending(c);

	return pending <= c->s->max_outq / 2 ||
	       (pending < c->s->max_outq && len + 1 <= c->s->max_outq - pending);
}

/* A client that is not reading is dropped: the loop must not wait. */
static bool conn_check_room(struct control_conn *c, size_t len)
{
	if (conn_fits(c, len))
		return true;
	notice(c->s, LOG_WARNING,
	       "control client pid %ld uid %ld dropped: output queue full (%zu bytes pending)",
	       (long)c->pid, (long)c->uid, conn_pending(c));
	conn_close(c);
	return false;
}

/* Appends one line (text without "\n"). The caller holds c. */
static int conn_queue(struct control_conn *c, const char *text, size_t len)
{
	size_t need;

	if (c->dead)
		return -EPIPE;
	if (!conn_check_room(c, len))
		return -ENOBUFS;
	if (c->out_off > 0 && c->out_len + len + 1 > c->out_cap) {
		memmove(c->out, c->out + c->out_off, conn_pending(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	need = c->out_len + len + 1;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			conn_close(c);
			return -ENOMEM;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	conn_flush(c);
	return c->dead ? -EPIPE : 0; /* still allocated: the caller holds c */
}

/* Queues text from json_dumps() and frees it. A large message on an empty
 * queue becomes the output buffer itself (its NUL turned into the "\n"):
 * a megabyte status reply is not copied a second time. */
static int conn_queue_owned(struct control_conn *c, char *text)
{
	size_t len = strlen(text);
	int r;

	/* An empty queue always has room (conn_fits). */
	if (!c->dead && conn_pending(c) == 0 && len + 1 > c->out_cap &&
	    len + 1 > CONTROL_OUT_KEEP) {
		free(c->out);
		text[len] = '\n';
		c->out = text;
		c->out_off = 0;
		c->out_len = c->out_cap = len + 1;
		conn_flush(c);
		return c->dead ? -EPIPE : 0;
	}
	r = conn_queue(c, text, len);
	free(text);
	return r;
}

static int conn_queue_json(struct control_conn *c, json_t *msg)
{
	char *text;

	if (!msg)
		return -ENOMEM;
	text = json_dumps(msg, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	return conn_queue_owned(c, text);
}

static json_t *error_json(const char *cls, const char *desc, json_t *id)
{
	json_t *m = json_pack("{s:{s:s,s:s}}", "error", "class", cls,
			      "desc", desc);

	if (m && id)
		json_object_set(m, "id", id);
	return m;
}

static void conn_reply_error(struct control_conn *c, json_t *id,
			     const char *cls, const char *fmt, ...)
	ATTR_PRINTF(4, 5);

static void conn_reply_error(struct control_conn *c, json_t *id,
			     const char *cls, const char *fmt, ...)
{
	char desc[CONTROL_ERR_DESC_MAX];
	va_list ap;
	json_t *m;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	m = error_json(cls, desc, id);
	conn_queue_json(c, m);
	json_decref(m);
}

/* {"return":TEXT,"id":ID}, TEXT already encoded: a handler may answer with
 * text (control_conn_return_text), never built as one tree (a status of 500
 * VMs was 3 MB of jansson nodes at once, and the heap kept the holes). */
static void conn_queue_return_text(struct control_conn *c, const char *text, json_t *id)
{
	char *idt = id ? json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	size_t len = strlen(text) + (idt ? strlen(idt) : 0) + 32;
	char *out = malloc(len);

	if (!out || (id && !idt)) {
		free(out);
		free(idt);
		conn_reply_error(c, id, CONTROL_ERR_GENERIC, "out of memory");
		return;
	}
	snprintf(out, len, "{\"return\":%s%s%s}", text, idt ? ",\"id\":" : "", idt ? idt : "");
	free(idt);
	conn_queue_owned(c, out);
}

static void conn_call(struct control_conn *c, const char *cmd, json_t *args,
		      json_t *id)
{
	struct control_server *s = c->s;
	char cls[CONTROL_ERR_CLASS_MAX] = "";
	char desc[CONTROL_ERR_DESC_MAX] = "";
	json_t *ret = NULL;
	int r;

	c->in_handler = true;
	c->watch_req = false;
	r = s->fn(c, cmd, args, &ret, cls, sizeof(cls), desc, sizeof(desc),
		  s->opaque);
	c->in_handler = false;
	if (r < 0) {
		json_decref(ret);
		free(c->raw_ret);
		c->raw_ret = NULL;
		if (!cls[0])
			snprintf(cls, sizeof(cls), "%s", CONTROL_ERR_GENERIC);
		if (!desc[0])
			snprintf(desc, sizeof(desc), "%s: %s", cmd, strerror(-r));
		c->watch_req = false;
		conn_reply_error(c, id, cls, "%s", desc);
	} else {
		char *text = c->raw_ret;

		c->raw_ret = NULL;
		if (!text)
			text = ret ? json_dumps(ret, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
		json_decref(ret);
		if (text)
			conn_queue_return_text(c, text, id);
		else
			conn_reply_error(c, id, CONTROL_ERR_GENERIC, "out of memory");
		free(text);
	}
	/* Events only after the reply that started them. */
	if (c->watch_req && !c->dead && !c->watching) {
		c->watching = true;
		s->n_watchers++;
	}
	c->watch_req = false;
}

static void conn_request(struct control_conn *c, const char *line, size_t len)
{
	struct control_request rq;
	char desc[CONTROL_ERR_DESC_MAX];
	int r = control_request_parse(line, len, &rq, desc, sizeof(desc));

	if (r == 0)
		conn_call(c, rq.cmd, rq.args, rq.id);
	else
		conn_reply_error(c, rq.id, CONTROL_ERR_GENERIC, "%s",
				 r == -ENOMEM ? "out of memory" : desc);
	control_request_clear(&rq);
}

static int conn_on_line(const char *line, size_t len, void *opaque)
{
	struct control_conn *c = opaque;

	conn_request(c, line, len);
	/* Stop the feed if the client went away meanwhile (e.g. a broadcast
	 * from the handler dropped it). */
	return c->dead ? -ECANCELED : 0;
}

static void conn_read(struct control_conn *c)
{
	char buf[CONTROL_READ_CHUNK];

	for (unsigned i = 0; i < CONTROL_READS_PER_DISPATCH; i++) {
		ssize_t n;
		int r;

		if (c->dead || c->eof || c->close_on_flush ||
		    conn_pending(c) > c->s->max_outq / 2)
			return;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		if (n == 0) {
			c->eof = true;
			conn_flush(c); /* closes when nothing is left to send */
			return;
		}
		r = qmp_framer_feed(&c->framer, buf, (size_t)n, conn_on_line, c,
				    NULL);
		if (c->dead)
			return;
		if (r == QMP_FRAMER_E_OVERSIZE) {
			conn_reply_error(c, NULL, CONTROL_ERR_GENERIC,
					 "request line longer than %zu bytes: closing",
					 c->s->max_line);
			c->close_on_flush = true;
		} else if (r == QMP_FRAMER_E_NUL) {
			conn_reply_error(c, NULL, CONTROL_ERR_GENERIC,
					 "NUL byte in the request stream: closing");
			c->close_on_flush = true;
		} else if (r < 0) {
			conn_close(c);
			return;
		}
		if (c->close_on_flush) {
			conn_flush(c);
			return;
		}
	}
}

static int32_t conn_dispatch(int32_t fd, int32_t revents, void *data)
{
	struct control_conn *c = data;

	conn_hold(c);
	if (revents & POLLOUT)
		conn_flush(c);
	if (!c->dead && (revents & POLLIN))
		conn_read(c);
	/* Hang-up or error without readable data: nobody to answer to
	 * (a half-closed peer still gets its answers: that is POLLIN + EOF). */
	if (!c->dead && (revents & (POLLHUP | POLLERR)) && !(revents & POLLIN))
		conn_close(c);
	conn_poll_update(c);
	conn_release(c);
	return 0;
}

/* ------------------------------------------------------ access check */

static bool gid_in(const gid_t *g, size_t n, gid_t want)
{
	for (size_t i = 0; i < n; i++)
		if (g[i] == want)
			return true;
	return false;
}

/* Supplementary groups of the peer as they were at connect() time. */
static int peer_groups(int fd, gid_t **out, size_t *n)
{
	socklen_t len = 0;
	gid_t *g = NULL;

	for (unsigned tries = 0; tries < 4; tries++) {
		int e;

		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			*out = g;
			*n = len / sizeof(gid_t);
			return 0;
		}
		e = errno;
		free(g);
		g = NULL;
		if (e != ERANGE || len > CONTROL_MAX_GROUPS * sizeof(gid_t))
			return -e;
		g = malloc(len ? len : sizeof(gid_t));
		if (!g)
			return -ENOMEM;
	}
	free(g);
	return -EAGAIN;
}

static bool peer_in_group(const struct control_server *s, int fd,
			  const struct ucred *cr)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	gid_t groups[256];
	int ng = ARRAY_SIZE(groups);
	gid_t *g = NULL;
	size_t n = 0;
	int r;

	if (cr->gid == s->gid)
		return true;
	r = peer_groups(fd, &g, &n);
	if (r == 0) {
		bool in = gid_in(g, n, s->gid);

		free(g);
		return in;
	}
	if (r != -ENOPROTOOPT)
		return false;
	/* Kernels before 4.13: the group database (may consult NSS). */
	if (getpwuid_r(cr->uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res)
		return false;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ng) < 0)
		return false;
	return gid_in(groups, (size_t)ng, s->gid);
}

static bool peer_allowed(const struct control_server *s, int fd,
			 const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == geteuid())
		return true;
	if (!s->have_group)
		return false;
	return peer_in_group(s, fd, cr);
}

/* A refused client gets one short line, written at once into its empty
 * socket buffer, and is closed: nothing is allocated for it. */
static void refuse(int fd, const char *cls, const char *desc)
{
	json_t *m = error_json(cls, desc, NULL);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;

	if (text) {
		size_t len = strlen(text);

		text[len] = '\n';
		(void)!send(fd, text, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		text[len] = '\0';
	}
	free(text);
	json_decref(m);
	close(fd);
}

static void conn_new(struct control_server *s, int fd)
{
	struct control_conn *c;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	json_t *greet;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr)) {
		notice(s, LOG_WARNING, "control client refused: SO_PEERCRED: %s",
		       strerror(errno));
		refuse(fd, CONTROL_ERR_PERMISSION, "cannot read peer credentials");
		return;
	}
	if (!peer_allowed(s, fd, &cr)) {
		notice(s, LOG_WARNING,
		       "control client pid %ld uid %ld gid %ld refused: not root%s%s",
		       (long)cr.pid, (long)cr.uid, (long)cr.gid,
		       s->have_group ? " nor in the control group" : "",
		       s->have_group ? "" : " (socket is root-only)");
		refuse(fd, CONTROL_ERR_PERMISSION,
		       "permission denied: root or the control group required");
		return;
	}
	if (s->n_conns >= s->max_clients) {
		notice(s, LOG_WARNING,
		       "control client pid %ld refused: %u clients already",
		       (long)cr.pid, s->n_conns);
		refuse(fd, CONTROL_ERR_GENERIC, "too many control clients");
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->pid = cr.pid;
	c->uid = cr.uid;
	c->gid = cr.gid;
	qmp_framer_init(&c->framer, s->max_line);
	if (qb_loop_poll_add(s->loop, QB_LOOP_MED, fd, POLLIN, c,
			     conn_dispatch) != 0) {
		notice(s, LOG_ERR, "control: cannot add client to the loop");
		close(fd);
		conn_free(c);
		return;
	}
	c->poll_events = POLLIN;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	notice(s, LOG_DEBUG, "control client pid %ld uid %ld connected",
	       (long)cr.pid, (long)cr.uid);
	greet = json_pack("{s:{s:s,s:I}}", "colo-arbiter", "version", s->version,
			  "node", (json_int_t)s->node);
	conn_hold(c);
	conn_queue_json(c, greet); /* may close it: a client gone already */
	conn_release(c);
	json_decref(greet);
}

/* ------------------------------------------------------------ listener */

static int32_t listen_dispatch(int32_t fd, int32_t revents, void *data);

static void accept_resume(void *data)
{
	struct control_server *s = data;

	s->accept_paused = false;
	if (qb_loop_poll_add(s->loop, QB_LOOP_MED, s->fd, POLLIN, s,
			     listen_dispatch) == 0)
		s->polled = true;
}

static int32_t listen_dispatch(int32_t fd, int32_t revents, void *data)
{
	struct control_server *s = data;

	for (unsigned i = 0; i < CONTROL_ACCEPTS_PER_DISPATCH; i++) {
		int cfd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd >= 0) {
			conn_new(s, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* The listener stays readable: pause it rather than
			 * spin until descriptors are free again. */
			notice(s, LOG_ERR, "control: accept: %s: pausing",
			       strerror(errno));
			qb_loop_poll_del(s->loop, s->fd);
			s->polled = false;
			if (qb_loop_timer_add(s->loop, QB_LOOP_MED,
					      CONTROL_ACCEPT_PAUSE_NS, s,
					      accept_resume, &s->accept_timer) == 0)
				s->accept_paused = true;
		}
		break;
	}
	return 0;
}

/* 0 when path is free (absent, or a stale socket now removed);
 * -EADDRINUSE when a server answers; -EEXIST when it is not a socket. */
static int stale_check(struct control_server *s, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		notice(s, LOG_ERR, "control socket %s exists and is not a socket: refusing to replace it",
		       sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0 || errno == EAGAIN) {
		close(fd);
		notice(s, LOG_ERR, "control socket %s: another server answers on it (is colo-arbiterd already running?)",
		       sa->sun_path);
		return -EADDRINUSE;
	}
	r = errno;
	close(fd);
	if (r == ENOENT)
		return 0;
	if (r != ECONNREFUSED) {
		notice(s, LOG_ERR, "control socket %s: cannot probe it: %s",
		       sa->sun_path, strerror(r));
		return -r;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	notice(s, LOG_NOTICE, "control socket %s: replaced a stale socket file",
	       sa->sun_path);
	return 0;
}

/* Sets owner group and mode before listen(): until then nobody can
 * connect, so no client ever sees the socket with looser rights. */
static void socket_set_access(struct control_server *s, const char *group,
			      mode_t mode)
{
	const char *path = s->path;

	s->have_group = false;
	if (group[0]) {
		struct group gr, *res = NULL;
		char buf[4096];
		int r = getgrnam_r(group, &gr, buf, sizeof(buf), &res);

		if (r == 0 && res) {
			if (chown(path, (uid_t)-1, gr.gr_gid) == 0) {
				s->have_group = true;
				s->gid = gr.gr_gid;
			} else {
				notice(s, LOG_WARNING,
				       "control socket %s: cannot give it to group %s: %s: root only (0600)",
				       path, group, strerror(errno));
			}
		} else {
			notice(s, LOG_WARNING,
			       "control group '%s' %s: control socket %s is root only (0600)",
			       group, r ? strerror(r) : "does not exist", path);
		}
		s->group_fallback = !s->have_group;
	}
	if (!s->have_group)
		mode = CONTROL_MODE_FALLBACK;
	if (chmod(path, mode & 0777) < 0)
		notice(s, LOG_WARNING, "control socket %s: chmod: %s", path,
		       strerror(errno));
}

struct control_server *control_server_new(qb_loop_t *loop,
					  const struct control_server_config *cfg,
					  control_handler_fn fn, void *opaque)
{
	struct control_server *s;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = cfg && cfg->path ? cfg->path : CONTROL_SOCKET_DEFAULT;
	const char *group = cfg && cfg->group ? cfg->group : CONTROL_GROUP_DEFAULT;
	mode_t mode = cfg && cfg->mode ? cfg->mode : CONTROL_MODE_DEFAULT;
	struct stat st;
	int r;

	if (!loop || !fn) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->loop = loop;
	s->fd = -1;
	s->fn = fn;
	s->opaque = opaque;
	if (cfg) {
		s->node = cfg->node;
		s->notice_fn = cfg->notice;
		s->notice_opaque = cfg->notice_opaque;
		s->max_line = cfg->max_line;
		s->max_outq = cfg->max_outq;
		s->max_clients = cfg->max_clients;
	}
	snprintf(s->version, sizeof(s->version), "%s",
		 cfg && cfg->version ? cfg->version : "unknown");
	if (!s->max_line)
		s->max_line = CONTROL_MAX_LINE_DEFAULT;
	if (!s->max_outq)
		s->max_outq = CONTROL_MAX_OUTQ_DEFAULT;
	if (!s->max_clients)
		s->max_clients = CONTROL_MAX_CLIENTS_DEFAULT;

	if (!path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		notice(s, LOG_ERR, "control socket path '%s' is empty or longer than %zu bytes",
		       path, sizeof(sa.sun_path) - 1);
		r = -ENAMETOOLONG;
		goto fail;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	memcpy(s->path, path, strlen(path) + 1);
	r = stale_check(s, &sa);
	if (r < 0)
		goto fail;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		notice(s, LOG_ERR, "control socket %s: bind: %s", path, strerror(-r));
		goto fail;
	}
	if (lstat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	socket_set_access(s, group, mode);
	if (listen(s->fd, 16) < 0) {
		r = -errno;
		notice(s, LOG_ERR, "control socket %s: listen: %s", path, strerror(-r));
		goto fail_unlink;
	}
	if (qb_loop_poll_add(loop, QB_LOOP_MED, s->fd, POLLIN, s,
			     listen_dispatch) != 0) {
		r = -EIO;
		notice(s, LOG_ERR, "control socket %s: cannot add it to the loop", path);
		goto fail_unlink;
	}
	s->polled = true;
	return s;

fail_unlink:
	unlink(path);
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s);
	errno = -r;
	return NULL;
}

void control_server_free(struct control_server *s)
{
	struct stat st;

	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	if (s->accept_paused)
		qb_loop_timer_del(s->loop, s->accept_timer);
	if (s->polled)
		qb_loop_poll_del(s->loop, s->fd);
	if (s->fd >= 0)
		close(s->fd);
	/* Only our own file: a successor may already have replaced it. */
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	free(s);
}

void control_conn_watch(struct control_conn *conn)
{
	if (!conn || conn->dead || conn->watching)
		return;
	if (conn->in_handler) {
		conn->watch_req = true;
		return;
	}
	conn->watching = true;
	conn->s->n_watchers++;
}

void control_conn_peer(const struct control_conn *conn, pid_t *pid, uid_t *uid,
		       gid_t *gid)
{
	if (pid)
		*pid = conn->pid;
	if (uid)
		*uid = conn->uid;
	if (gid)
		*gid = conn->gid;
}

static void broadcast_text(struct control_server *s, const char *text)
{
	struct control_conn *c, *next;
	size_t len = strlen(text);

	for (c = s->conns; c; c = next) {
		next = c->next; /* only c itself can be dropped here */
		if (c->watching) {
			conn_hold(c);
			conn_queue(c, text, len);
			conn_release(c);
		}
	}
}

void control_server_broadcast(struct control_server *s, const char *event,
			      json_t *data)
{
	char *text;

	if (!s || !event || s->n_watchers == 0)
		return;
	text = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
	if (!text) {
		notice(s, LOG_ERR, "control: cannot encode %s event", event);
		return;
	}
	control_server_broadcast_text(s, event, text);
	free(text);
}

void control_server_broadcast_text(struct control_server *s, const char *event,
				   const char *data)
{
	struct timeval tv;
	json_t *ev;
	char *evt, *text;
	size_t len;

	if (!s || !event || !data || s->n_watchers == 0)
		return;
	gettimeofday(&tv, NULL);
	ev = json_string(event);
	evt = ev ? json_dumps(ev, JSON_ENCODE_ANY) : NULL;
	json_decref(ev);
	len = strlen(data) + (evt ? strlen(evt) : 0) + 96;
	text = evt ? malloc(len) : NULL;
	if (!text) {
		free(evt);
		notice(s, LOG_ERR, "control: cannot encode %s event", event);
		return;
	}
	snprintf(text, len, "{\"event\":%s,\"data\":%s,\"timestamp\":{\"seconds\":%lld,"
		 "\"microseconds\":%lld}}", evt, data, (long long)tv.tv_sec,
		 (long long)tv.tv_usec);
	free(evt);
	broadcast_text(s, text);
	free(text);
}

void control_conn_return_text(struct control_conn *conn, char *text)
{
	if (!conn->in_handler) {
		free(text);
		return;
	}
	free(conn->raw_ret);
	conn->raw_ret = text;
}

unsigned control_server_clients(const struct control_server *s)
{
	return s->n_conns;
}

unsigned control_server_watchers(const struct control_server *s)
{
	return s->n_watchers;
}

bool control_server_group_fallback(const struct control_server *s)
{
	return s->group_fallback;
}

const char *control_server_path(const struct control_server *s)
{
	return s->path;
}
