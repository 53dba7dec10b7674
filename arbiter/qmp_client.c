/*
 * qmp_client.c: non-blocking QMP client on a libqb loop (see qmp_client.h).
 *
 * Does: connect with backoff, greeting, capabilities, probing, command/reply
 * matching with per-command timers, events, bounded buffers.
 * Must not: log, exit, block, keep globals, or grow a buffer without bound.
 * Every owner callback may free the client: code after a callback checks
 * c->freed before touching anything but the memory itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct ucred */
#endif
#include "qmp_client.h"

#include "compiler.h"
#include "fdhub.h"
#include "qmp_framer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MS_TO_NS(ms) ((uint64_t)(ms) * 1000000ULL)
/* Bytes read per read() and reads per wake-up: fairness with other fds. */
#define READ_CHUNK 16384
#define FATAL_MAX 256
#define READS_PER_DISPATCH 16
/* Timed-out commands remembered for their late replies. */
#define MAX_LATE 256
/* Commands queued or pending at once (the byte budget binds first). */
#define MAX_COMMANDS 4096

enum cmd_where { CMD_NOWHERE = 0, CMD_QUEUED, CMD_SENT, CMD_LATE };

struct qmp_cmd;
/* Handler of the client's own set-up commands (instead of an owner cb). */
typedef void (*internal_fn)(struct qmp_client *c, struct qmp_cmd *cmd,
			    const struct qmp_msg *m, enum qmp_result_kind kind);

struct qmp_cmd {
	struct qmp_cmd *prev, *next;
	enum cmd_where where;
	uint64_t id;
	char *name;
	char *line;           /* serialized, until copied to the output buffer */
	size_t line_len;
	bool oob;
	bool keep_after_timeout; /* internal probe: keep waiting for the reply */
	unsigned timeout_ms;
	bool timer_armed;
	qb_loop_timer_handle timer;      /* without cfg.timers */
	struct timerhub_entry hub_timer; /* with */
	struct qmp_client *c;
	qmp_client_result_fn cb;
	void *opaque;
	internal_fn internal;
};

struct cmd_list {
	struct qmp_cmd *head, *tail;
	unsigned n;
};

/* One command list, shared by every client whose QEMU sent the same one
 * (normally all: one QEMU build per host). */
struct cmdset_shared {
	struct cmdset_shared *next, **pprev;
	unsigned refs;
	struct qmp_cmdset set;
};

struct qmp_cmdset_cache {
	struct cmdset_shared *head;
	unsigned n;
};

struct qmp_client {
	qb_loop_t *loop;
	struct qmp_client_config cfg;
	char *path;              /* own copy of cfg->path */
	struct qmp_client_callbacks cb;
	void *opaque;

	enum qmp_client_state state;
	bool started;
	int fd;
	bool polled;
	struct fdhub_watch *hw;  /* polled through cfg.hub */
	int poll_events;
	bool connecting;         /* non-blocking connect() in progress */
	unsigned conn_gen;       /* bumped on every close */
	int depth;               /* callbacks/dispatches on the stack */
	bool freed;

	struct qmp_framer framer;
	bool adopt_skip_first;   /* tolerate one torn line after adopt_fd */
	char *fatal;             /* FATAL_MAX bytes on client_read()'s stack while
				  * it feeds the framer: why to close afterwards */

	char *out;               /* output buffer: out[out_off..out_len) */
	size_t out_len, out_off, out_cap;
	size_t budget_used;      /* unsent bytes: queue lines + out buffer */
	int write_err;
	bool job_armed;

	struct cmd_list queue;   /* in-band commands not yet written */
	struct cmd_list sent;    /* written, awaiting reply */
	struct cmd_list late;    /* timed out, reply may still come */
	unsigned inband_inflight;
	uint64_t next_id;

	unsigned backoff_ms;
	unsigned next_delay_ms;  /* delay of the armed reconnect */
	bool reconnect_armed;
	qb_loop_timer_handle reconnect_timer;
	bool greet_armed;
	qb_loop_timer_handle greet_timer;

	/* facts */
	bool have_version;
	struct qmp_version version;
	bool oob;
	bool cmds_known;
	struct qmp_cmdset cmds;  /* own copy (no cache configured) */
	struct cmdset_shared *cmds_sh; /* or the cache's shared one */
	bool yank_known;
	struct qmp_yank_list yank;
	pid_t peer_pid;
};

static int client_dispatch(int32_t fd, int32_t revents, void *data);
static void cmdset_unref(struct qmp_cmdset_cache *cache, struct cmdset_shared *e);
static void client_connect(struct qmp_client *c);
static void client_flush(struct qmp_client *c);

/* --------------------------------------------------------- to_str */

static const char *const state_names[] = {
	[QMP_CLIENT_DISCONNECTED] = "DISCONNECTED",
	[QMP_CLIENT_CONNECTING] = "CONNECTING",
	[QMP_CLIENT_GREETING] = "GREETING",
	[QMP_CLIENT_NEGOTIATING] = "NEGOTIATING",
	[QMP_CLIENT_PROBING] = "PROBING",
	[QMP_CLIENT_READY] = "READY",
};

const char *qmp_client_state_to_str(enum qmp_client_state s)
{
	if ((unsigned)s >= ARRAY_SIZE(state_names))
		return "?";
	return state_names[s];
}

static const char *const result_names[] = {
	[QMP_RESULT_RETURN] = "RETURN",
	[QMP_RESULT_ERROR] = "ERROR",
	[QMP_RESULT_NOT_DELIVERED] = "NOT_DELIVERED",
	[QMP_RESULT_TIMEOUT] = "TIMEOUT",
	[QMP_RESULT_CANCELLED] = "CANCELLED",
};

const char *qmp_result_kind_to_str(enum qmp_result_kind k)
{
	if ((unsigned)k >= ARRAY_SIZE(result_names))
		return "?";
	return result_names[k];
}

/* ------------------------------------------------------- lifetime */

static void real_free(struct qmp_client *c)
{
	qmp_framer_free(&c->framer);
	qmp_cmdset_free(&c->cmds);
	cmdset_unref(c->cfg.cmdset_cache, c->cmds_sh);
	qmp_yank_list_free(&c->yank);
	free(c->out);
	free(c->path);
	free(c);
}

static void enter(struct qmp_client *c)
{
	c->depth++;
}

/* Returns true when the client is gone (caller must not touch it). */
static bool leave(struct qmp_client *c)
{
	if (--c->depth == 0 && c->freed) {
		real_free(c);
		return true;
	}
	return c->freed;
}

/* ---------------------------------------------------------- lists */

static void list_push(struct cmd_list *l, struct qmp_cmd *cmd,
		      enum cmd_where where)
{
	cmd->prev = l->tail;
	cmd->next = NULL;
	if (l->tail)
		l->tail->next = cmd;
	else
		l->head = cmd;
	l->tail = cmd;
	l->n++;
	cmd->where = where;
}

static struct cmd_list *cmd_list_of(struct qmp_client *c, struct qmp_cmd *cmd)
{
	switch (cmd->where) {
	case CMD_QUEUED:
		return &c->queue;
	case CMD_SENT:
		return &c->sent;
	case CMD_LATE:
		return &c->late;
	case CMD_NOWHERE:
	default:
		return NULL;
	}
}

static void list_unlink(struct qmp_client *c, struct qmp_cmd *cmd)
{
	struct cmd_list *l = cmd_list_of(c, cmd);

	if (!l)
		return;
	if (cmd->prev)
		cmd->prev->next = cmd->next;
	else
		l->head = cmd->next;
	if (cmd->next)
		cmd->next->prev = cmd->prev;
	else
		l->tail = cmd->prev;
	l->n--;
	cmd->prev = cmd->next = NULL;
	cmd->where = CMD_NOWHERE;
}

static void cmd_timer_stop(struct qmp_client *c, struct qmp_cmd *cmd)
{
	if (cmd->timer_armed) {
		if (c->cfg.timers)
			timerhub_del(c->cfg.timers, &cmd->hub_timer);
		else
			qb_loop_timer_del(c->loop, cmd->timer);
		cmd->timer_armed = false;
	}
}

static void cmd_free(struct qmp_cmd *cmd)
{
	free(cmd->name);
	free(cmd->line);
	free(cmd);
}

static struct qmp_cmd *cmd_find(struct cmd_list *l, uint64_t id)
{
	struct qmp_cmd *cmd;

	for (cmd = l->head; cmd; cmd = cmd->next) {
		if (cmd->id == id)
			return cmd;
	}
	return NULL;
}

/* ------------------------------------------------------- reporting */

static void ATTR_PRINTF(3, 4)
report_error(struct qmp_client *c, bool fatal, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!c->cb.on_error || c->freed)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->cb.on_error(c, fatal, buf, c->opaque);
}

static void set_state(struct qmp_client *c, enum qmp_client_state s,
		      const char *reason)
{
	enum qmp_client_state old = c->state;

	c->state = s;
	if (c->cb.on_state && !c->freed)
		c->cb.on_state(c, old, s, reason ? reason : "", c->opaque);
}

/* Delivers a final result to the command's owner (or internal handler)
 * and frees the command. The command must be unlinked already. */
static void cmd_complete(struct qmp_client *c, struct qmp_cmd *cmd,
			 enum qmp_result_kind kind, const struct qmp_msg *m,
			 const char *reason)
{
	cmd_timer_stop(c, cmd);
	if (cmd->internal) {
		if (!c->freed)
			cmd->internal(c, cmd, m, kind);
	} else if (cmd->cb) {
		struct qmp_result r = {
			.kind = kind,
			.id = cmd->id,
			.command = cmd->name,
			.oob = cmd->oob,
			.reason = reason,
		};

		if (m && kind == QMP_RESULT_RETURN) {
			r.ret = m->ret;
		} else if (m && kind == QMP_RESULT_ERROR) {
			r.err_class = m->err_class;
			r.err_class_str = m->err_class_str;
			r.err_desc = m->err_desc;
		}
		cmd->cb(c, &r, cmd->opaque);
	}
	cmd_free(cmd);
}

/* ----------------------------------------------------- connection */

/* the socket's poll registration: the loop's own, or a watch of cfg.hub */
static int watch_add(struct qmp_client *c, int fd, int events)
{
	if (!c->cfg.hub)
		return qb_loop_poll_add(c->loop, QB_LOOP_MED, fd, events, c, client_dispatch);
	c->hw = fdhub_add(c->cfg.hub, fd, events, client_dispatch, c);
	return c->hw ? 0 : -errno;
}

static int watch_mod(struct qmp_client *c, int events)
{
	if (!c->cfg.hub)
		return qb_loop_poll_mod(c->loop, QB_LOOP_MED, c->fd, events, c, client_dispatch);
	return fdhub_mod(c->cfg.hub, c->hw, events);
}

static void watch_del(struct qmp_client *c)
{
	if (!c->cfg.hub) {
		qb_loop_poll_del(c->loop, c->fd);
		return;
	}
	fdhub_del(c->cfg.hub, c->hw);
	c->hw = NULL;
}

static void poll_update(struct qmp_client *c)
{
	int ev = POLLIN;

	if (c->fd < 0 || !c->polled)
		return;
	if (c->connecting || c->out_len > c->out_off)
		ev |= POLLOUT;
	if (ev != c->poll_events) {
		if (watch_mod(c, ev) == 0)
			c->poll_events = ev;
	}
}

static void reconnect_fire(void *data)
{
	struct qmp_client *c = data;

	c->reconnect_armed = false;
	enter(c);
	client_connect(c);
	leave(c);
}

static void schedule_reconnect(struct qmp_client *c)
{
	unsigned delay = c->backoff_ms;

	if (c->freed || !c->started || c->reconnect_armed)
		return;
	if (qb_loop_timer_add(c->loop, QB_LOOP_MED, MS_TO_NS(delay), c,
			      reconnect_fire, &c->reconnect_timer) == 0) {
		c->reconnect_armed = true;
		c->next_delay_ms = delay;
	}
	if (c->backoff_ms >= c->cfg.backoff_max_ms / 2)
		c->backoff_ms = c->cfg.backoff_max_ms;
	else
		c->backoff_ms *= 2;
}

/* ------------------------------------------------- shared command sets */

struct qmp_cmdset_cache *qmp_cmdset_cache_new(void)
{
	return calloc(1, sizeof(struct qmp_cmdset_cache));
}

void qmp_cmdset_cache_free(struct qmp_cmdset_cache *cache)
{
	struct cmdset_shared *e, *next;

	if (!cache)
		return;
	for (e = cache->head; e; e = next) { /* only if clients leaked */
		next = e->next;
		qmp_cmdset_free(&e->set);
		free(e);
	}
	free(cache);
}

unsigned qmp_cmdset_cache_sets(const struct qmp_cmdset_cache *cache)
{
	return cache ? cache->n : 0;
}

static bool cmdset_equal(const struct qmp_cmdset *a, const struct qmp_cmdset *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->names[i], b->names[i]))
			return false;
	return true;
}

/* Takes *set (emptied): the cache's equal set with one more reference, or
 * a new entry owning it. */
static struct cmdset_shared *cmdset_intern(struct qmp_cmdset_cache *cache,
					   struct qmp_cmdset *set)
{
	struct cmdset_shared *e;

	for (e = cache->head; e; e = e->next) {
		if (cmdset_equal(&e->set, set)) {
			qmp_cmdset_free(set);
			e->refs++;
			return e;
		}
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->set = *set;
	set->names = NULL;
	set->n = 0;
	e->refs = 1;
	e->next = cache->head;
	if (e->next)
		e->next->pprev = &e->next;
	e->pprev = &cache->head;
	cache->head = e;
	cache->n++;
	return e;
}

static void cmdset_unref(struct qmp_cmdset_cache *cache, struct cmdset_shared *e)
{
	if (!e || --e->refs > 0)
		return;
	*e->pprev = e->next;
	if (e->next)
		e->next->pprev = e->pprev;
	cache->n--;
	qmp_cmdset_free(&e->set);
	free(e);
}

static const struct qmp_cmdset *client_cmds(const struct qmp_client *c)
{
	return c->cmds_sh ? &c->cmds_sh->set : &c->cmds;
}

static void facts_reset(struct qmp_client *c)
{
	c->have_version = false;
	memset(&c->version, 0, sizeof(c->version));
	c->oob = false;
	c->cmds_known = false;
	qmp_cmdset_free(&c->cmds);
	cmdset_unref(c->cfg.cmdset_cache, c->cmds_sh);
	c->cmds_sh = NULL;
	c->yank_known = false;
	qmp_yank_list_free(&c->yank);
	c->peer_pid = 0;
}

/* Closes the socket and drops connection-bound state; no callbacks.
 * Returns the commands that were queued or sent (to fail them). */
static struct cmd_list close_socket(struct qmp_client *c)
{
	struct cmd_list failed = { 0 };
	struct qmp_cmd *cmd;

	if (c->fd >= 0) {
		if (c->polled)
			watch_del(c);
		close(c->fd);
	}
	c->fd = -1;
	c->polled = false;
	c->poll_events = 0;
	c->connecting = false;
	c->conn_gen++;
	if (c->greet_armed) {
		qb_loop_timer_del(c->loop, c->greet_timer);
		c->greet_armed = false;
	}
	/* Only offsets and the partial line: safe inside a feed too. */
	qmp_framer_reset(&c->framer);
	c->adopt_skip_first = false;
	c->out_len = c->out_off = 0;
	c->budget_used = 0;
	c->write_err = 0;
	c->inband_inflight = 0;
	facts_reset(c);
	/* Sent before queued: the order in which they were issued. */
	while ((cmd = c->sent.head)) {
		list_unlink(c, cmd);
		list_push(&failed, cmd, CMD_NOWHERE);
	}
	while ((cmd = c->queue.head)) {
		list_unlink(c, cmd);
		list_push(&failed, cmd, CMD_NOWHERE);
	}
	/* A late reply cannot come on another connection. */
	while ((cmd = c->late.head)) {
		list_unlink(c, cmd);
		cmd_timer_stop(c, cmd);
		cmd_free(cmd);
	}
	return failed;
}

static void fail_list(struct qmp_client *c, struct cmd_list *l,
		      enum qmp_result_kind kind, const char *reason)
{
	struct qmp_cmd *cmd;

	while ((cmd = l->head)) {
		l->head = cmd->next;
		cmd->where = CMD_NOWHERE;
		cmd_complete(c, cmd, kind, NULL, reason);
	}
	l->tail = NULL;
	l->n = 0;
}

/* The connection is unusable: close, report, fail pending, reconnect. */
static void conn_lost(struct qmp_client *c, const char *reason)
{
	struct cmd_list failed;
	char why[512];

	if (c->state == QMP_CLIENT_DISCONNECTED && c->fd < 0)
		return;
	snprintf(why, sizeof(why), "%s", reason);
	failed = close_socket(c);
	schedule_reconnect(c);
	set_state(c, QMP_CLIENT_DISCONNECTED, why);
	fail_list(c, &failed, QMP_RESULT_NOT_DELIVERED, why);
}

/* Fatal protocol error: report it, then close. */
static void ATTR_PRINTF(2, 3)
conn_fatal(struct qmp_client *c, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	report_error(c, true, "%s", buf);
	if (!c->freed)
		conn_lost(c, buf);
}

/* --------------------------------------------------------- output */

static int out_append(struct qmp_client *c, const char *s, size_t n)
{
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t live = c->out_len - c->out_off;
		size_t cap;
		char *nb;

		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, live);
			c->out_off = 0;
			c->out_len = live;
		}
		if (c->out_len + n > c->out_cap) {
			cap = c->out_cap ? c->out_cap : 4096;
			while (cap < c->out_len + n)
				cap *= 2;
			nb = realloc(c->out, cap);
			if (!nb)
				return -ENOMEM;
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

static void job_fire(void *data)
{
	struct qmp_client *c = data;

	c->job_armed = false;
	enter(c);
	if (c->write_err && c->fd >= 0) {
		char buf[128];

		snprintf(buf, sizeof(buf), "write: %s", strerror(c->write_err));
		conn_lost(c, buf);
	}
	leave(c);
}

/* Writes what the socket takes now. Errors are not acted on here (this
 * runs inside qmp_client_execute()): a job closes the connection. */
static void client_flush(struct qmp_client *c)
{
	while (c->fd >= 0 && !c->connecting && !c->write_err &&
	       c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			c->budget_used -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		c->write_err = n < 0 ? errno : EPIPE;
		if (!c->job_armed &&
		    qb_loop_job_add(c->loop, QB_LOOP_HIGH, c, job_fire) == 0)
			c->job_armed = true;
		break;
	}
	if (c->out_off == c->out_len) {
		/* Commands are short and rare: an idle client (one per VM)
		 * keeps no output buffer at all. */
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = c->out_cap = 0;
	}
	poll_update(c);
}

static void cmd_timer_fire(void *data);

/* Moves a command's line to the output buffer and marks it sent. */
static void cmd_send(struct qmp_client *c, struct qmp_cmd *cmd)
{
	if (out_append(c, cmd->line, cmd->line_len)) {
		/* Cannot happen within the budget unless malloc fails; the
		 * command then times out or is failed on the next loss. */
		list_push(&c->sent, cmd, CMD_SENT);
		return;
	}
	free(cmd->line);
	cmd->line = NULL;
	if (!cmd->oob)
		c->inband_inflight++;
	list_push(&c->sent, cmd, CMD_SENT);
}

/* Writes queued in-band commands while QEMU has room for them. */
static void queue_pump(struct qmp_client *c)
{
	struct qmp_cmd *cmd;

	while ((cmd = c->queue.head) &&
	       c->inband_inflight < QMP_CLIENT_MAX_INBAND_INFLIGHT) {
		list_unlink(c, cmd);
		cmd_send(c, cmd);
	}
	client_flush(c);
}

static int64_t cmd_issue(struct qmp_client *c, const char *name, json_t *args,
			 bool oob, unsigned timeout_ms, qmp_client_result_fn cb,
			 void *opaque, internal_fn internal,
			 bool keep_after_timeout)
{
	struct qmp_cmd *cmd;
	int rc;

	if (c->queue.n + c->sent.n >= MAX_COMMANDS) {
		json_decref(args);
		return -ENOBUFS;
	}
	cmd = calloc(1, sizeof(*cmd));
	if (!cmd) {
		json_decref(args);
		return -ENOMEM;
	}
	cmd->c = c;
	cmd->id = c->next_id;
	rc = qmp_msg_build_command(name, args, cmd->id, oob, &cmd->line,
				   &cmd->line_len);
	json_decref(args);
	if (rc) {
		free(cmd);
		return rc;
	}
	if (c->budget_used + cmd->line_len > c->cfg.max_output) {
		cmd_free(cmd);
		return -ENOBUFS;
	}
	cmd->name = strdup(name);
	if (!cmd->name) {
		cmd_free(cmd);
		return -ENOMEM;
	}
	if (timeout_ms) {
		if (c->cfg.timers ?
		    timerhub_add(c->cfg.timers, &cmd->hub_timer, timeout_ms, cmd_timer_fire, cmd) :
		    qb_loop_timer_add(c->loop, QB_LOOP_MED, MS_TO_NS(timeout_ms), cmd,
				      cmd_timer_fire, &cmd->timer)) {
			cmd_free(cmd);
			return -ENOMEM;
		}
		cmd->timer_armed = true;
	}
	c->next_id++;
	cmd->oob = oob;
	cmd->timeout_ms = timeout_ms;
	cmd->cb = cb;
	cmd->opaque = opaque;
	cmd->internal = internal;
	cmd->keep_after_timeout = keep_after_timeout;
	c->budget_used += cmd->line_len;
	if (oob) {
		cmd_send(c, cmd);
		client_flush(c);
	} else {
		list_push(&c->queue, cmd, CMD_QUEUED);
		queue_pump(c);
	}
	return (int64_t)cmd->id;
}

static void cmd_timer_fire(void *data)
{
	struct qmp_cmd *cmd = data;
	struct qmp_client *c = cmd->c;
	char why[96];

	cmd->timer_armed = false;
	enter(c);
	snprintf(why, sizeof(why), "no reply within %u ms", cmd->timeout_ms);
	if (cmd->where == CMD_QUEUED) {
		/* Never written: QEMU cannot answer it later. */
		list_unlink(c, cmd);
		c->budget_used -= cmd->line_len;
		cmd_complete(c, cmd, QMP_RESULT_TIMEOUT, NULL, why);
	} else if (cmd->internal) {
		/* Internal handlers decide: close, or keep waiting. */
		if (!cmd->keep_after_timeout)
			list_unlink(c, cmd);
		cmd->internal(c, cmd, NULL, QMP_RESULT_TIMEOUT);
		if (!cmd->keep_after_timeout)
			cmd_free(cmd);
	} else {
		qmp_client_result_fn cb = cmd->cb;
		struct qmp_result r = {
			.kind = QMP_RESULT_TIMEOUT,
			.id = cmd->id,
			.command = cmd->name,
			.oob = cmd->oob,
			.reason = why,
		};
		unsigned gen = c->conn_gen;

		/* Unlinked while the owner runs, so that a free from inside
		 * the callback cannot release it under r. */
		list_unlink(c, cmd);
		cmd->cb = NULL;
		if (cb)
			cb(c, &r, cmd->opaque);
		if (c->freed || gen != c->conn_gen) {
			cmd_free(cmd);
		} else {
			/* The reply may still come: remember the id (bounded). */
			if (c->late.n >= MAX_LATE) {
				struct qmp_cmd *old = c->late.head;

				list_unlink(c, old);
				cmd_free(old);
			}
			list_push(&c->late, cmd, CMD_LATE);
		}
	}
	leave(c);
}

/* ------------------------------------------------- set-up sequence */

static void set_ready(struct qmp_client *c, const char *why)
{
	c->backoff_ms = c->cfg.backoff_min_ms;
	set_state(c, QMP_CLIENT_READY, why);
}

static void probe_yank_done(struct qmp_client *c, struct qmp_cmd *cmd,
			    const struct qmp_msg *m, enum qmp_result_kind kind)
{
	struct qmp_msg_error err = { 0 };

	if (kind == QMP_RESULT_TIMEOUT) {
		report_error(c, false, "query-yank: no reply within %u ms; "
			     "QEMU may be hung, connection kept%s",
			     cmd->timeout_ms,
			     c->oob ? " (OOB usable)" : "");
		return;
	}
	if (kind == QMP_RESULT_RETURN) {
		if (qmp_yank_list_parse(m->ret, &c->yank, &err) == 0)
			c->yank_known = true;
		else
			report_error(c, false, "query-yank: %s", err.text);
	} else if (kind == QMP_RESULT_ERROR) {
		report_error(c, false, "query-yank failed: %s: %s",
			     m->err_class_str, m->err_desc);
	} else {
		return; /* NOT_DELIVERED/CANCELLED: the connection is gone */
	}
	if (!c->freed && c->state == QMP_CLIENT_PROBING)
		set_ready(c, c->yank_known ? "probed" : "probed (yank list unknown)");
}

static void probe_commands_done(struct qmp_client *c, struct qmp_cmd *cmd,
				const struct qmp_msg *m,
				enum qmp_result_kind kind)
{
	struct qmp_msg_error err = { 0 };
	int64_t id;

	if (kind == QMP_RESULT_TIMEOUT) {
		report_error(c, false, "query-commands: no reply within %u ms; "
			     "QEMU may be hung, connection kept%s",
			     cmd->timeout_ms,
			     c->oob ? " (OOB usable)" : "");
		return;
	}
	if (kind == QMP_RESULT_ERROR) {
		conn_fatal(c, "query-commands failed: %s: %s", m->err_class_str,
			   m->err_desc);
		return;
	}
	if (kind != QMP_RESULT_RETURN)
		return;
	if (qmp_cmdset_parse(m->ret, &c->cmds, &err)) {
		conn_fatal(c, "query-commands: %s", err.text);
		return;
	}
	if (c->cfg.cmdset_cache) {
		c->cmds_sh = cmdset_intern(c->cfg.cmdset_cache, &c->cmds);
		if (!c->cmds_sh) {
			conn_fatal(c, "query-commands: %s", strerror(ENOMEM));
			return;
		}
	}
	c->cmds_known = true;
	if (!qmp_cmdset_has(client_cmds(c), "query-yank")) {
		set_ready(c, "probed (QEMU has no query-yank)");
		return;
	}
	id = cmd_issue(c, "query-yank", NULL, false, c->cfg.probe_timeout_ms,
		       NULL, NULL, probe_yank_done, true);
	if (id < 0)
		conn_fatal(c, "query-yank: cannot send: %s", strerror((int)-id));
}

static void probe_start(struct qmp_client *c, const char *why)
{
	int64_t id;

	set_state(c, QMP_CLIENT_PROBING, why);
	if (c->freed || c->state != QMP_CLIENT_PROBING)
		return;
	id = cmd_issue(c, "query-commands", NULL, false, c->cfg.probe_timeout_ms,
		       NULL, NULL, probe_commands_done, true);
	if (id < 0)
		conn_fatal(c, "query-commands: cannot send: %s", strerror((int)-id));
}

static void negotiate_done(struct qmp_client *c, struct qmp_cmd *cmd,
			   const struct qmp_msg *m, enum qmp_result_kind kind)
{
	char why[64];

	switch (kind) {
	case QMP_RESULT_TIMEOUT:
		conn_fatal(c, "qmp_capabilities: no reply within %u ms",
			   cmd->timeout_ms);
		return;
	case QMP_RESULT_ERROR:
		conn_fatal(c, "qmp_capabilities failed: %s: %s",
			   m->err_class_str, m->err_desc);
		return;
	case QMP_RESULT_RETURN:
		/* oob was set optimistically when asked; it holds now. */
		snprintf(why, sizeof(why), "capabilities negotiated%s",
			 c->oob ? " (oob)" : " (no oob)");
		probe_start(c, why);
		return;
	default:
		return;
	}
}

static void handle_greeting(struct qmp_client *c, const struct qmp_msg *m)
{
	json_t *args = NULL;
	bool want_oob = m->cap_oob && !c->cfg.no_oob;
	char why[200];
	int64_t id;

	if (c->greet_armed) {
		qb_loop_timer_del(c->loop, c->greet_timer);
		c->greet_armed = false;
	}
	c->version = m->version;
	c->have_version = true;
	if (want_oob)
		args = json_pack("{s:[s]}", "enable", "oob");
	snprintf(why, sizeof(why), "greeting: QEMU %d.%d.%d (%s)%s",
		 m->version.major, m->version.minor, m->version.micro,
		 m->version.package, m->cap_oob ? ", offers oob" : "");
	set_state(c, QMP_CLIENT_NEGOTIATING, why);
	if (c->freed || c->state != QMP_CLIENT_NEGOTIATING) {
		json_decref(args);
		return;
	}
	/* qmp_capabilities is in-band and answered only after everything
	 * before it; with oob asked, later OOB replies need it acknowledged,
	 * so oob is considered on only from here on. */
	c->oob = want_oob;
	id = cmd_issue(c, "qmp_capabilities", args, false,
		       c->cfg.negotiate_timeout_ms, NULL, NULL, negotiate_done,
		       false);
	if (id < 0)
		conn_fatal(c, "qmp_capabilities: cannot send: %s",
			   strerror((int)-id));
}

static void handle_reply(struct qmp_client *c, const struct qmp_msg *m)
{
	enum qmp_result_kind kind = m->kind == QMP_MSG_RETURN ? QMP_RESULT_RETURN
							      : QMP_RESULT_ERROR;
	struct qmp_cmd *cmd;
	uint64_t id;

	if (!m->id) {
		if (m->kind == QMP_MSG_ERROR)
			report_error(c, false, "error reply without id: %s: %s",
				     m->err_class_str, m->err_desc);
		else
			report_error(c, false, "return without id (ignored)");
		return;
	}
	if (qmp_msg_id_parse(m->id, &id)) {
		char *s = json_dumps(m->id, JSON_ENCODE_ANY | JSON_COMPACT);

		report_error(c, false, "reply with a foreign id %.64s (ignored)",
			     s ? s : "?");
		free(s);
		return;
	}
	cmd = cmd_find(&c->sent, id);
	if (cmd) {
		list_unlink(c, cmd);
		if (!cmd->oob && c->inband_inflight > 0)
			c->inband_inflight--;
		queue_pump(c);
		cmd_complete(c, cmd, kind, m, NULL);
		return;
	}
	cmd = cmd_find(&c->late, id);
	if (cmd) {
		list_unlink(c, cmd);
		if (!cmd->oob && c->inband_inflight > 0)
			c->inband_inflight--;
		queue_pump(c);
		if (c->cb.on_late_reply && !c->freed) {
			struct qmp_result r = {
				.kind = kind,
				.id = cmd->id,
				.command = cmd->name,
				.oob = cmd->oob,
				.ret = m->ret,
				.err_class = m->err_class,
				.err_class_str = m->err_class_str,
				.err_desc = m->err_desc,
				.reason = "reply after timeout",
			};

			c->cb.on_late_reply(c, &r, c->opaque);
		}
		cmd_free(cmd);
		return;
	}
	report_error(c, false, "reply with unknown id " QMP_MSG_ID_PREFIX
		     "%" PRIu64 " (ignored)", id);
}

/* Framer callback: one line. Non-zero stops the feed. */
static int handle_line(const char *line, size_t len, void *opaque)
{
	struct qmp_client *c = opaque;
	struct qmp_msg m;
	bool skip = c->adopt_skip_first;
	unsigned gen = c->conn_gen;

	c->adopt_skip_first = false;
	qmp_msg_parse(line, len, &m);
	if (m.kind == QMP_MSG_INVALID) {
		if (skip) {
			report_error(c, false, "adopted fd: skipped a torn first "
				     "line: %s", m.error.text);
			qmp_msg_clear(&m);
			return c->freed ? -ECANCELED : 0;
		}
		snprintf(c->fatal, FATAL_MAX,
			 "invalid message on line %" PRIu64
			 " (column %d, byte %zu): %s",
			 qmp_framer_lines(&c->framer), m.error.column,
			 m.error.position, m.error.text);
		qmp_msg_clear(&m);
		return -EPROTO;
	}
	if (c->state == QMP_CLIENT_GREETING && m.kind != QMP_MSG_GREETING) {
		snprintf(c->fatal, FATAL_MAX,
			 "expected a greeting, got a %s",
			 qmp_msg_kind_to_str(m.kind));
		qmp_msg_clear(&m);
		return -EPROTO;
	}
	switch (m.kind) {
	case QMP_MSG_GREETING:
		if (c->state != QMP_CLIENT_GREETING) {
			snprintf(c->fatal, FATAL_MAX,
				 "unexpected greeting in state %s",
				 qmp_client_state_to_str(c->state));
			qmp_msg_clear(&m);
			return -EPROTO;
		}
		handle_greeting(c, &m);
		break;
	case QMP_MSG_EVENT:
		if (c->cb.on_event)
			c->cb.on_event(c, m.event, m.data, m.ts_sec, m.ts_usec,
				       c->opaque);
		break;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		handle_reply(c, &m);
		break;
	case QMP_MSG_INVALID:
	default:
		break;
	}
	qmp_msg_clear(&m);
	if (c->freed)
		return -ECANCELED;
	if (gen != c->conn_gen)
		return -ECONNRESET; /* closed from inside: drop the rest */
	return 0;
}

static void client_read(struct qmp_client *c)
{
	char buf[READ_CHUNK];
	char fatal[FATAL_MAX];
	unsigned gen = c->conn_gen;
	int i;

	for (i = 0; i < READS_PER_DISPATCH; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		uint64_t off = 0;
		int rc;

		if (n == 0) {
			conn_lost(c, "connection closed by QEMU");
			return;
		}
		if (n < 0) {
			char why[128];

			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
			conn_lost(c, why);
			return;
		}
		fatal[0] = '\0';
		c->fatal = fatal;
		rc = qmp_framer_feed(&c->framer, buf, (size_t)n, handle_line, c,
				     &off);
		c->fatal = NULL; /* c outlives a free from a callback (depth) */
		if (c->freed || gen != c->conn_gen)
			return;
		if (rc == -EPROTO) {
			conn_fatal(c, "%s", fatal);
			return;
		}
		if (rc) {
			conn_fatal(c, "framing: %s at stream offset %" PRIu64,
				   qmp_framer_strerror(rc), off);
			return;
		}
		/* Less than asked for: drained, most likely.  Another recv
		 * would mostly say EAGAIN (half the recvs of a 500-VM
		 * failover); the poll is level-triggered and comes back for
		 * anything that arrived meanwhile. */
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void connected(struct qmp_client *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	c->connecting = false;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		c->peer_pid = cred.pid;
	set_state(c, QMP_CLIENT_GREETING, "connected");
	poll_update(c);
}

static void greet_fire(void *data)
{
	struct qmp_client *c = data;

	c->greet_armed = false;
	enter(c);
	/* Also bounds a connect() still in progress. */
	if (c->state == QMP_CLIENT_GREETING || c->state == QMP_CLIENT_CONNECTING)
		conn_fatal(c, "no greeting within %u ms",
			   c->cfg.greeting_timeout_ms);
	leave(c);
}

static int client_dispatch(int32_t fd, int32_t revents, void *data)
{
	struct qmp_client *c = data;

	if (fd != c->fd)
		return 0;
	enter(c);
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			char why[160];

			snprintf(why, sizeof(why), "connect %s: %s", c->path,
				 strerror(err));
			conn_lost(c, why);
			goto out;
		}
		if (revents & POLLOUT)
			connected(c);
		goto out;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		client_read(c);
	if (!c->freed && c->fd == fd && (revents & POLLOUT))
		client_flush(c);
	if (!c->freed && c->fd == fd && c->write_err) {
		char why[128];

		snprintf(why, sizeof(why), "write: %s", strerror(c->write_err));
		conn_lost(c, why);
	}
out:
	leave(c);
	return 0;
}

static void client_connect(struct qmp_client *c)
{
	struct sockaddr_un sa;
	char why[200];
	int fd, rc;

	if (c->freed || c->fd >= 0)
		return;
	set_state(c, QMP_CLIENT_CONNECTING, c->path);
	if (c->freed || c->state != QMP_CLIENT_CONNECTING)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, c->path, strlen(c->path));
	do {
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno != EINPROGRESS) {
		/* EAGAIN on a unix socket: backlog full, not in progress. */
		snprintf(why, sizeof(why), "connect %s: %s", c->path,
			 strerror(errno));
		close(fd);
		goto fail;
	}
	c->fd = fd;
	c->connecting = rc < 0;
	c->poll_events = c->connecting ? POLLOUT : POLLIN;
	rc = watch_add(c, fd, c->poll_events);
	if (rc != 0) {
		c->fd = -1;
		close(fd);
		snprintf(why, sizeof(why), "cannot watch the socket: %s", strerror(-rc));
		goto fail;
	}
	c->polled = true;
	qmp_framer_reset(&c->framer);
	if (qb_loop_timer_add(c->loop, QB_LOOP_MED,
			      MS_TO_NS(c->cfg.greeting_timeout_ms), c,
			      greet_fire, &c->greet_timer) == 0)
		c->greet_armed = true;
	if (!c->connecting)
		connected(c);
	return;
fail:
	schedule_reconnect(c);
	{
		char msg[300];

		snprintf(msg, sizeof(msg), "%s; retry in %u ms", why,
			 c->reconnect_armed ? c->next_delay_ms : 0);
		set_state(c, QMP_CLIENT_DISCONNECTED, msg);
	}
}

/* ------------------------------------------------------------- API */

struct qmp_client *qmp_client_new(qb_loop_t *loop,
				  const struct qmp_client_config *cfg,
				  const struct qmp_client_callbacks *cb,
				  void *opaque)
{
	struct qmp_client *c;

	if (!loop || !cfg || !cfg->path || !*cfg->path) {
		errno = EINVAL;
		return NULL;
	}
	if (strlen(cfg->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->path = strdup(cfg->path);
	if (!c->path) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->loop = loop;
	c->cfg = *cfg;
	c->cfg.path = c->path;
	if (!c->cfg.max_output)
		c->cfg.max_output = 1024 * 1024;
	if (!c->cfg.backoff_min_ms)
		c->cfg.backoff_min_ms = 50;
	if (!c->cfg.backoff_max_ms)
		c->cfg.backoff_max_ms = 5000;
	if (c->cfg.backoff_max_ms < c->cfg.backoff_min_ms)
		c->cfg.backoff_max_ms = c->cfg.backoff_min_ms;
	if (!c->cfg.greeting_timeout_ms)
		c->cfg.greeting_timeout_ms = 5000;
	if (!c->cfg.negotiate_timeout_ms)
		c->cfg.negotiate_timeout_ms = 5000;
	if (!c->cfg.probe_timeout_ms)
		c->cfg.probe_timeout_ms = 5000;
	c->next_id = c->cfg.first_id ? c->cfg.first_id : 1;
	if (cb)
		c->cb = *cb;
	c->opaque = opaque;
	c->fd = -1;
	c->backoff_ms = c->cfg.backoff_min_ms;
	qmp_framer_init(&c->framer, c->cfg.max_line);
	c->cfg.max_line = c->framer.max_line;
	return c;
}

int qmp_client_start(struct qmp_client *c)
{
	if (c->started || c->fd >= 0)
		return -EALREADY;
	c->started = true;
	enter(c);
	client_connect(c);
	leave(c);
	return 0;
}

void qmp_client_free(struct qmp_client *c)
{
	struct cmd_list failed;

	if (!c || c->freed)
		return;
	enter(c);
	c->started = false;
	if (c->reconnect_armed) {
		qb_loop_timer_del(c->loop, c->reconnect_timer);
		c->reconnect_armed = false;
	}
	if (c->job_armed) {
		qb_loop_job_del(c->loop, QB_LOOP_HIGH, c, job_fire);
		c->job_armed = false;
	}
	failed = close_socket(c);
	/* Callbacks below may not free again; no state callback from here. */
	c->freed = true;
	{
		struct qmp_cmd *cmd;

		while ((cmd = failed.head)) {
			failed.head = cmd->next;
			cmd->where = CMD_NOWHERE;
			cmd_timer_stop(c, cmd);
			if (!cmd->internal && cmd->cb) {
				struct qmp_result r = {
					.kind = QMP_RESULT_CANCELLED,
					.id = cmd->id,
					.command = cmd->name,
					.oob = cmd->oob,
					.reason = "client freed",
				};

				cmd->cb(c, &r, cmd->opaque);
			}
			cmd_free(cmd);
		}
	}
	leave(c);
}

int64_t qmp_client_execute(struct qmp_client *c, const char *name,
			   json_t *args, unsigned flags, unsigned timeout_ms,
			   qmp_client_result_fn cb, void *opaque)
{
	bool oob = flags & QMP_CMD_OOB;
	int64_t id;

	if (c->freed || (flags & ~QMP_CMD_OOB) || !name || !*name ||
	    (args && !json_is_object(args))) {
		json_decref(args);
		return c->freed ? -ENOTCONN : -EINVAL;
	}
	if (c->fd < 0 || c->state < QMP_CLIENT_PROBING) {
		json_decref(args);
		return -ENOTCONN;
	}
	if (oob && !c->oob) {
		json_decref(args);
		return -ENOTSUP;
	}
	if (!oob && c->state != QMP_CLIENT_READY) {
		json_decref(args);
		return -ENOTCONN;
	}
	enter(c);
	id = cmd_issue(c, name, args, oob, timeout_ms, cb, opaque, NULL, false);
	leave(c);
	return id;
}

int qmp_client_adopt_fd(struct qmp_client *c, int fd,
			const struct qmp_client_adopt *a)
{
	int fl, type;
	socklen_t len = sizeof(type);
	struct ucred cred;

	if (c->freed)
		return -EINVAL;
	if (c->fd >= 0 || c->state != QMP_CLIENT_DISCONNECTED)
		return -EALREADY;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -EBADF;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (type != SOCK_STREAM)
		return -EINVAL;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (watch_add(c, fd, POLLIN) != 0)
		return -EIO;
	if (c->reconnect_armed) {
		qb_loop_timer_del(c->loop, c->reconnect_timer);
		c->reconnect_armed = false;
	}
	c->started = true;
	c->fd = fd;
	c->polled = true;
	c->poll_events = POLLIN;
	c->connecting = false;
	qmp_framer_reset(&c->framer);
	c->adopt_skip_first = true;
	len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		c->peer_pid = cred.pid;
	if (a) {
		c->version = a->version;
		c->have_version = true;
		c->oob = a->oob;
	}
	enter(c);
	probe_start(c, "adopted a negotiated fd");
	leave(c);
	return 0;
}

enum qmp_client_state qmp_client_state(const struct qmp_client *c)
{
	return c->state;
}

const struct qmp_version *qmp_client_version(const struct qmp_client *c)
{
	return c->have_version ? &c->version : NULL;
}

bool qmp_client_oob(const struct qmp_client *c)
{
	return c->oob && c->state >= QMP_CLIENT_PROBING;
}

int qmp_client_has_command(const struct qmp_client *c, const char *name)
{
	if (!c->cmds_known)
		return -EAGAIN;
	return qmp_cmdset_has(client_cmds(c), name) ? 1 : 0;
}

const struct qmp_yank_list *qmp_client_yank(const struct qmp_client *c)
{
	return c->yank_known ? &c->yank : NULL;
}

void qmp_client_yank_forget(struct qmp_client *c)
{
	c->yank_known = false;
	qmp_yank_list_free(&c->yank);
}

pid_t qmp_client_peer_pid(const struct qmp_client *c)
{
	return c->peer_pid;
}

int qmp_client_fd(const struct qmp_client *c)
{
	return c->connecting ? -1 : c->fd;
}

unsigned qmp_client_pending(const struct qmp_client *c)
{
	return c->queue.n + c->sent.n;
}

const char *qmp_client_path(const struct qmp_client *c)
{
	return c->path;
}
