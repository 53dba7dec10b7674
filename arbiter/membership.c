/*
 * membership.c: CPG group + quorum tracking on a libqb loop (see
 * membership.h).
 *
 * Does: connect both corosync services with backoff, join one CPG group,
 * turn every libcpg/libquorum callback into one plain event for the owner,
 * detect a dead corosync (POLLHUP, dispatch errors) and start over, send
 * agreed-order messages without waiting.
 * Must not: log, exit, sleep, keep globals, interpret what it reports (the
 * decision core does), or trust anything a payload says about its sender.
 * Every owner callback may free the object: code after an emit checks
 * m->freed, and memory goes only when the outermost entry point returns.
 */
#include "membership.h"

#include "compiler.h"

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MS_TO_NS(ms) ((uint64_t)(ms) * 1000000ULL)
#define DEFAULT_RETRY_MIN_MS 100
#define DEFAULT_RETRY_MAX_MS 2000
/* Messages corosync queued back to back (a 500-VM node loss proposes and
 * acks in several 64 KiB batches) are taken in one loop turn, up to this
 * many: what the owner makes durable for them then goes out as one write and
 * one fdatasync, not one per message each queued behind the last.  Bounded,
 * so that QEMU's sockets still get their turn during a long burst. */
#define DISPATCH_BURST 16

struct membership {
	qb_loop_t *loop;
	struct cpg_name group;
	char group_str[MEMBERSHIP_GROUP_MAX + 1];
	unsigned retry_min_ms, retry_max_ms;
	size_t cfg_max_msg;
	membership_event_fn fn;
	void *opaque;

	bool started;
	int depth;              /* entry points and callbacks on the stack */
	bool freed;

	/* connection */
	bool up;
	bool cpg_open, quorum_open;
	cpg_handle_t cpg;
	quorum_handle_t quorum;
	int cpg_fd, quorum_fd;  /* -1 unless on the loop */
	uint32_t nodeid;
	uint32_t pid;
	size_t max_msg;
	unsigned attempts;      /* failed attempts since the last UP */
	unsigned next_delay_ms;
	bool retry_armed;
	qb_loop_timer_handle retry_timer;

	/* A send found the IPC dead: reported from the loop, not from inside
	 * membership_send() (the caller may be in the middle of anything). */
	bool lost_armed;
	qb_loop_timer_handle lost_timer;
	int lost_cs_error;

	/* Set by a libcpg/libquorum callback that got input it cannot
	 * represent; the connection is dropped once dispatch returns. */
	bool fatal;
	enum membership_ipc fatal_which;
	char fatal_reason[128];

	struct membership_event ev; /* scratch: too big for the stack */
};

/* --------------------------------------------------------- to_str */

int membership_ring_id_cmp(const struct membership_ring_id *a,
			   const struct membership_ring_id *b)
{
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	if (a->nodeid != b->nodeid)
		return a->nodeid < b->nodeid ? -1 : 1;
	return 0;
}

bool membership_ring_id_equal(const struct membership_ring_id *a,
			      const struct membership_ring_id *b)
{
	return membership_ring_id_cmp(a, b) == 0;
}

char *membership_ring_id_to_str(const struct membership_ring_id *r,
				char *buf, size_t len)
{
	if (len)
		snprintf(buf, len, "%" PRIx32 ".%" PRIx64, r->nodeid, r->seq);
	return buf;
}

static const char *const reason_names[] = {
	[MEMBERSHIP_REASON_UNDEFINED] = "UNDEFINED",
	[MEMBERSHIP_REASON_JOIN] = "JOIN",
	[MEMBERSHIP_REASON_LEAVE] = "LEAVE",
	[MEMBERSHIP_REASON_NODEDOWN] = "NODEDOWN",
	[MEMBERSHIP_REASON_NODEUP] = "NODEUP",
	[MEMBERSHIP_REASON_PROCDOWN] = "PROCDOWN",
};

const char *membership_reason_to_str(enum membership_reason r)
{
	if ((unsigned)r >= ARRAY_SIZE(reason_names))
		return "?";
	return reason_names[r];
}

static const char *const ipc_names[] = {
	[MEMBERSHIP_IPC_CPG] = "cpg",
	[MEMBERSHIP_IPC_QUORUM] = "quorum",
};

const char *membership_ipc_to_str(enum membership_ipc i)
{
	if ((unsigned)i >= ARRAY_SIZE(ipc_names))
		return "?";
	return ipc_names[i];
}

static const char *const kind_names[] = {
	[MEMBERSHIP_EV_IPC_UP] = "ipc_up",
	[MEMBERSHIP_EV_IPC_LOST] = "ipc_lost",
	[MEMBERSHIP_EV_CONNECT_FAILED] = "connect_failed",
	[MEMBERSHIP_EV_CPG_CONFCHG] = "cpg_confchg",
	[MEMBERSHIP_EV_TOTEM_CONFCHG] = "totem_confchg",
	[MEMBERSHIP_EV_QUORUM] = "quorum",
	[MEMBERSHIP_EV_NODELIST] = "nodelist",
	[MEMBERSHIP_EV_DELIVER] = "deliver",
};

const char *membership_event_kind_to_str(enum membership_event_kind k)
{
	if ((unsigned)k >= ARRAY_SIZE(kind_names))
		return "?";
	return kind_names[k];
}

static const char *const cs_names[] = {
	[CS_OK] = "CS_OK",
	[CS_ERR_LIBRARY] = "CS_ERR_LIBRARY",
	[CS_ERR_VERSION] = "CS_ERR_VERSION",
	[CS_ERR_INIT] = "CS_ERR_INIT",
	[CS_ERR_TIMEOUT] = "CS_ERR_TIMEOUT",
	[CS_ERR_TRY_AGAIN] = "CS_ERR_TRY_AGAIN",
	[CS_ERR_INVALID_PARAM] = "CS_ERR_INVALID_PARAM",
	[CS_ERR_NO_MEMORY] = "CS_ERR_NO_MEMORY",
	[CS_ERR_BAD_HANDLE] = "CS_ERR_BAD_HANDLE",
	[CS_ERR_BUSY] = "CS_ERR_BUSY",
	[CS_ERR_ACCESS] = "CS_ERR_ACCESS",
	[CS_ERR_NOT_EXIST] = "CS_ERR_NOT_EXIST",
	[CS_ERR_NAME_TOO_LONG] = "CS_ERR_NAME_TOO_LONG",
	[CS_ERR_EXIST] = "CS_ERR_EXIST",
	[CS_ERR_NO_SPACE] = "CS_ERR_NO_SPACE",
	[CS_ERR_INTERRUPT] = "CS_ERR_INTERRUPT",
	[CS_ERR_NAME_NOT_FOUND] = "CS_ERR_NAME_NOT_FOUND",
	[CS_ERR_NO_RESOURCES] = "CS_ERR_NO_RESOURCES",
	[CS_ERR_NOT_SUPPORTED] = "CS_ERR_NOT_SUPPORTED",
	[CS_ERR_BAD_OPERATION] = "CS_ERR_BAD_OPERATION",
	[CS_ERR_FAILED_OPERATION] = "CS_ERR_FAILED_OPERATION",
	[CS_ERR_MESSAGE_ERROR] = "CS_ERR_MESSAGE_ERROR",
	[CS_ERR_QUEUE_FULL] = "CS_ERR_QUEUE_FULL",
	[CS_ERR_QUEUE_NOT_AVAILABLE] = "CS_ERR_QUEUE_NOT_AVAILABLE",
	[CS_ERR_BAD_FLAGS] = "CS_ERR_BAD_FLAGS",
	[CS_ERR_TOO_BIG] = "CS_ERR_TOO_BIG",
	[CS_ERR_NO_SECTIONS] = "CS_ERR_NO_SECTIONS",
	[CS_ERR_CONTEXT_NOT_FOUND] = "CS_ERR_CONTEXT_NOT_FOUND",
	[CS_ERR_TOO_MANY_GROUPS] = "CS_ERR_TOO_MANY_GROUPS",
};

const char *membership_cs_error_to_str(int cs_error)
{
	if (cs_error == CS_ERR_SECURITY)
		return "CS_ERR_SECURITY";
	if (cs_error < 0 || (unsigned)cs_error >= ARRAY_SIZE(cs_names) ||
	    !cs_names[cs_error])
		return "CS_ERR_?";
	return cs_names[cs_error];
}

/* ------------------------------------------------------- lifetime */

static void enter(struct membership *m)
{
	m->depth++;
}

static void teardown(struct membership *m);

/* Returns true when the object is gone (caller must not touch it). */
static bool leave(struct membership *m)
{
	if (--m->depth == 0 && m->freed) {
		teardown(m);
		if (m->retry_armed)
			qb_loop_timer_del(m->loop, m->retry_timer);
		free(m);
		return true;
	}
	return m->freed;
}

static void emit(struct membership *m)
{
	if (m->freed)
		return;
	enter(m);
	m->fn(m, &m->ev, m->opaque);
	/* The caller holds its own depth, so this never frees. */
	leave(m);
}

/* ----------------------------------------------------- connection */

static void unpoll(struct membership *m)
{
	if (m->cpg_fd >= 0)
		qb_loop_poll_del(m->loop, m->cpg_fd);
	if (m->quorum_fd >= 0)
		qb_loop_poll_del(m->loop, m->quorum_fd);
	m->cpg_fd = m->quorum_fd = -1;
}

/* Both handles go together: after corosync died neither can be reused, and
 * one without the other would leave the gate half-informed. */
static void teardown(struct membership *m)
{
	unpoll(m);
	if (m->cpg_open)
		cpg_finalize(m->cpg);
	if (m->quorum_open)
		quorum_finalize(m->quorum);
	m->cpg_open = m->quorum_open = false;
	m->up = false;
	m->fatal = false;
	if (m->lost_armed) {
		qb_loop_timer_del(m->loop, m->lost_timer);
		m->lost_armed = false;
	}
}

static void attempt_timer_cb(void *data);

/* Arms the next attempt; returns its delay. */
static unsigned arm_retry(struct membership *m, unsigned delay_ms)
{
	if (m->retry_armed)
		qb_loop_timer_del(m->loop, m->retry_timer);
	m->retry_armed = qb_loop_timer_add(m->loop, QB_LOOP_MED,
					   MS_TO_NS(delay_ms), m,
					   attempt_timer_cb,
					   &m->retry_timer) == 0;
	/* 0 tells the owner no retry is armed (the loop is out of memory):
	 * a backoff delay is never 0. */
	return m->retry_armed ? delay_ms : 0;
}

static unsigned arm_backoff(struct membership *m)
{
	unsigned d = m->next_delay_ms;

	m->next_delay_ms = d >= m->retry_max_ms / 2 ? m->retry_max_ms : d * 2;
	return arm_retry(m, d);
}

static void conn_lost(struct membership *m, enum membership_ipc which,
		      int cs_error, int revents, const char *fmt, ...)
	ATTR_PRINTF(5, 6);

static void conn_lost(struct membership *m, enum membership_ipc which,
		      int cs_error, int revents, const char *fmt, ...)
{
	struct membership_ipc_lost *l = &m->ev.u.ipc_lost;
	va_list ap;

	if (!m->up)
		return;
	teardown(m);
	memset(l, 0, sizeof(*l));
	m->ev.kind = MEMBERSHIP_EV_IPC_LOST;
	l->which = which;
	l->cs_error = cs_error;
	l->revents = revents;
	va_start(ap, fmt);
	vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
	va_end(ap);
	l->next_retry_ms = arm_backoff(m);
	emit(m);
}

static void attempt_failed(struct membership *m, enum membership_ipc which,
			   int cs_error, const char *what)
{
	struct membership_connect_failed *f = &m->ev.u.connect_failed;

	teardown(m);
	memset(f, 0, sizeof(*f));
	m->ev.kind = MEMBERSHIP_EV_CONNECT_FAILED;
	f->which = which;
	f->cs_error = cs_error;
	snprintf(f->reason, sizeof(f->reason), "%s: %s", what,
		 membership_cs_error_to_str(cs_error));
	f->attempt = m->attempts;
	f->next_retry_ms = arm_backoff(m);
	emit(m);
}

static struct membership *cpg_owner(cpg_handle_t h)
{
	void *ctx = NULL;
	struct membership *m;

	if (cpg_context_get(h, &ctx) != CS_OK || !ctx)
		return NULL;
	m = ctx;
	/* A callback of a handle we already gave up on says nothing. */
	if (m->freed || !m->up || !m->cpg_open || m->cpg != h || m->fatal)
		return NULL;
	return m;
}

static struct membership *quorum_owner(quorum_handle_t h)
{
	const void *ctx = NULL;
	struct membership *m;

	if (quorum_context_get(h, &ctx) != CS_OK || !ctx)
		return NULL;
	m = (struct membership *)ctx;
	if (m->freed || !m->up || !m->quorum_open || m->quorum != h || m->fatal)
		return NULL;
	return m;
}

static void set_fatal(struct membership *m, enum membership_ipc which,
		      const char *what, size_t n)
{
	m->fatal = true;
	m->fatal_which = which;
	snprintf(m->fatal_reason, sizeof(m->fatal_reason),
		 "%s list of %zu entries exceeds %d", what, n,
		 MEMBERSHIP_MAX_NODES);
}

static bool group_is_ours(const struct membership *m,
			  const struct cpg_name *g)
{
	return g && g->length == m->group.length &&
	       memcmp(g->value, m->group.value, g->length) == 0;
}

/* ------------------------------------------------- libcpg callbacks */

static void cpg_deliver_cb(cpg_handle_t h, const struct cpg_name *group,
			   uint32_t nodeid, uint32_t pid, void *msg,
			   size_t len)
{
	struct membership *m = cpg_owner(h);
	struct membership_deliver *d;

	if (!m || !group_is_ours(m, group))
		return;
	d = &m->ev.u.deliver;
	m->ev.kind = MEMBERSHIP_EV_DELIVER;
	d->nodeid = nodeid;
	d->pid = pid;
	d->self = nodeid == m->nodeid && pid == m->pid;
	d->data = msg;
	d->len = len;
	emit(m);
}

static void copy_members(struct membership_member *dst,
			 const struct cpg_address *src, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i].nodeid = src[i].nodeid;
		dst[i].pid = src[i].pid;
		dst[i].reason = src[i].reason <= MEMBERSHIP_REASON_PROCDOWN ?
			(enum membership_reason)src[i].reason :
			MEMBERSHIP_REASON_UNDEFINED;
	}
}

static void cpg_confchg_cb(cpg_handle_t h, const struct cpg_name *group,
			   const struct cpg_address *members, size_t n_members,
			   const struct cpg_address *left, size_t n_left,
			   const struct cpg_address *joined, size_t n_joined)
{
	struct membership *m = cpg_owner(h);
	struct membership_cpg_confchg *c;

	if (!m || !group_is_ours(m, group))
		return;
	if (n_members > MEMBERSHIP_MAX_NODES || n_left > MEMBERSHIP_MAX_NODES ||
	    n_joined > MEMBERSHIP_MAX_NODES) {
		set_fatal(m, MEMBERSHIP_IPC_CPG, "cpg confchg",
			  n_members > n_left ?
			  (n_members > n_joined ? n_members : n_joined) :
			  (n_left > n_joined ? n_left : n_joined));
		return;
	}
	c = &m->ev.u.cpg_confchg;
	m->ev.kind = MEMBERSHIP_EV_CPG_CONFCHG;
	memcpy(c->group, m->group_str, sizeof(c->group));
	c->n_members = n_members;
	c->n_left = n_left;
	c->n_joined = n_joined;
	copy_members(c->members, members, n_members);
	copy_members(c->left, left, n_left);
	copy_members(c->joined, joined, n_joined);
	emit(m);
}

static void cpg_totem_cb(cpg_handle_t h, struct cpg_ring_id ring,
			 uint32_t n_members, const uint32_t *members)
{
	struct membership *m = cpg_owner(h);
	struct membership_totem_confchg *t;

	if (!m)
		return;
	if (n_members > MEMBERSHIP_MAX_NODES) {
		set_fatal(m, MEMBERSHIP_IPC_CPG, "totem confchg", n_members);
		return;
	}
	t = &m->ev.u.totem_confchg;
	m->ev.kind = MEMBERSHIP_EV_TOTEM_CONFCHG;
	t->ring.nodeid = ring.nodeid;
	t->ring.seq = ring.seq;
	t->n_members = n_members;
	if (n_members)
		memcpy(t->members, members, n_members * sizeof(*members));
	emit(m);
}

/* ---------------------------------------------- libquorum callbacks */

static void quorum_notify_cb(quorum_handle_t h, uint32_t quorate,
			     struct quorum_ring_id ring, uint32_t n_members,
			     const uint32_t *members)
{
	struct membership *m = quorum_owner(h);
	struct membership_quorum *q;

	if (!m)
		return;
	if (n_members > MEMBERSHIP_MAX_NODES) {
		set_fatal(m, MEMBERSHIP_IPC_QUORUM, "quorum member", n_members);
		return;
	}
	q = &m->ev.u.quorum;
	m->ev.kind = MEMBERSHIP_EV_QUORUM;
	q->quorate = quorate != 0;
	q->ring.nodeid = ring.nodeid;
	q->ring.seq = ring.seq;
	q->n_members = n_members;
	if (n_members)
		memcpy(q->members, members, n_members * sizeof(*members));
	emit(m);
}

static void quorum_nodelist_cb(quorum_handle_t h, struct quorum_ring_id ring,
			       uint32_t n_members, const uint32_t *members,
			       uint32_t n_joined, const uint32_t *joined,
			       uint32_t n_left, const uint32_t *left)
{
	struct membership *m = quorum_owner(h);
	struct membership_nodelist *l;

	if (!m)
		return;
	if (n_members > MEMBERSHIP_MAX_NODES || n_joined > MEMBERSHIP_MAX_NODES ||
	    n_left > MEMBERSHIP_MAX_NODES) {
		set_fatal(m, MEMBERSHIP_IPC_QUORUM, "quorum nodelist",
			  n_members + n_joined + n_left);
		return;
	}
	l = &m->ev.u.nodelist;
	m->ev.kind = MEMBERSHIP_EV_NODELIST;
	l->ring.nodeid = ring.nodeid;
	l->ring.seq = ring.seq;
	l->n_members = n_members;
	l->n_joined = n_joined;
	l->n_left = n_left;
	if (n_members)
		memcpy(l->members, members, n_members * sizeof(*members));
	if (n_joined)
		memcpy(l->joined, joined, n_joined * sizeof(*joined));
	if (n_left)
		memcpy(l->left, left, n_left * sizeof(*left));
	emit(m);
}

/* -------------------------------------------------------- dispatch */

typedef cs_error_t (*dispatch_fn)(struct membership *m,
				  cs_dispatch_flags_t flags);

static cs_error_t dispatch_cpg(struct membership *m, cs_dispatch_flags_t f)
{
	return cpg_dispatch(m->cpg, f);
}

static cs_error_t dispatch_quorum(struct membership *m, cs_dispatch_flags_t f)
{
	return quorum_dispatch(m->quorum, f);
}

static void fd_event(struct membership *m, enum membership_ipc which,
		     int revents, dispatch_fn dispatch)
{
	const char *name = membership_ipc_to_str(which);
	bool hup = revents & (POLLHUP | POLLERR | POLLNVAL);
	cs_error_t rc;

	/* On a hang-up, what corosync queued before it went is still worth
	 * having: drain it, then report the loss whatever dispatch says. */
	if (hup) {
		rc = dispatch(m, CS_DISPATCH_ALL);
	} else {
		unsigned n = 0;

		do
			rc = dispatch(m, CS_DISPATCH_ONE_NONBLOCKING);
		while (rc == CS_OK && ++n < DISPATCH_BURST && !m->freed && m->up && !m->fatal);
	}
	if (m->freed || !m->up)
		return;
	if (m->fatal) {
		conn_lost(m, m->fatal_which, CS_ERR_MESSAGE_ERROR, revents,
			  "%s", m->fatal_reason);
		return;
	}
	if (hup) {
		conn_lost(m, which, rc, revents, "%s fd %s%s%s (dispatch: %s)",
			  name, revents & POLLHUP ? "POLLHUP" : "",
			  revents & POLLERR ? " POLLERR" : "",
			  revents & POLLNVAL ? " POLLNVAL" : "",
			  membership_cs_error_to_str(rc));
		return;
	}
	/* TRY_AGAIN: a wake-up with nothing queued (not an error). */
	if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN)
		conn_lost(m, which, rc, revents, "%s_dispatch: %s", name,
			  membership_cs_error_to_str(rc));
}

static int32_t cpg_fd_cb(int32_t fd, int32_t revents, void *data)
{
	struct membership *m = data;

	enter(m);
	if (!m->freed && m->up && fd == m->cpg_fd)
		fd_event(m, MEMBERSHIP_IPC_CPG, revents, dispatch_cpg);
	leave(m);
	return 0;
}

static int32_t quorum_fd_cb(int32_t fd, int32_t revents, void *data)
{
	struct membership *m = data;

	enter(m);
	if (!m->freed && m->up && fd == m->quorum_fd)
		fd_event(m, MEMBERSHIP_IPC_QUORUM, revents, dispatch_quorum);
	leave(m);
	return 0;
}

static void lost_timer_cb(void *data)
{
	struct membership *m = data;

	m->lost_armed = false;
	enter(m);
	if (!m->freed && m->up)
		conn_lost(m, MEMBERSHIP_IPC_CPG, m->lost_cs_error, 0,
			  "cpg_mcast_joined: %s",
			  membership_cs_error_to_str(m->lost_cs_error));
	leave(m);
}

/* ------------------------------------------------------- attempts */

static void attempt(struct membership *m)
{
	quorum_model_v1_data_t qdata = {
		.model = QUORUM_MODEL_V1,
		.quorum_notify_fn = quorum_notify_cb,
		.nodelist_notify_fn = quorum_nodelist_cb,
	};
	cpg_model_v1_data_t cdata = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = cpg_deliver_cb,
		.cpg_confchg_fn = cpg_confchg_cb,
		.cpg_totem_confchg_fn = cpg_totem_cb,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	struct membership_ipc_up *u = &m->ev.u.ipc_up;
	enum membership_ipc which = MEMBERSHIP_IPC_QUORUM;
	const char *what;
	uint32_t qtype = 0;
	unsigned int nodeid = 0;
	uint32_t atomic = 0;
	int cfd = -1, qfd = -1, quorate = 0;
	cs_error_t rc;

	m->attempts++;
	what = "quorum_model_initialize";
	rc = quorum_model_initialize(&m->quorum, QUORUM_MODEL_V1,
				     (quorum_model_data_t *)&qdata, &qtype, m);
	if (rc != CS_OK)
		goto fail;
	m->quorum_open = true;
	what = "quorum_trackstart";
	rc = quorum_trackstart(m->quorum, CS_TRACK_CHANGES);
	if (rc != CS_OK)
		goto fail;
	what = "quorum_fd_get";
	rc = quorum_fd_get(m->quorum, &qfd);
	if (rc != CS_OK)
		goto fail;

	which = MEMBERSHIP_IPC_CPG;
	what = "cpg_model_initialize";
	rc = cpg_model_initialize(&m->cpg, CPG_MODEL_V1,
				  (cpg_model_data_t *)&cdata, m);
	if (rc != CS_OK)
		goto fail;
	m->cpg_open = true;
	what = "cpg_fd_get";
	rc = cpg_fd_get(m->cpg, &cfd);
	if (rc != CS_OK)
		goto fail;
	what = "cpg_local_get";
	rc = cpg_local_get(m->cpg, &nodeid);
	if (rc != CS_OK)
		goto fail;
	what = "cpg_max_atomic_msgsize_get";
	rc = cpg_max_atomic_msgsize_get(m->cpg, &atomic);
	if (rc != CS_OK)
		goto fail;
	/* cpg_join says TRY_AGAIN while corosync syncs: the backoff retries
	 * it, this loop never sleeps for it. */
	what = "cpg_join";
	rc = cpg_join(m->cpg, &m->group);
	if (rc != CS_OK)
		goto fail;
	which = MEMBERSHIP_IPC_QUORUM;
	what = "quorum_getquorate";
	rc = quorum_getquorate(m->quorum, &quorate);
	if (rc != CS_OK)
		goto fail;

	what = "qb_loop_poll_add";
	rc = CS_ERR_LIBRARY;
	if (qb_loop_poll_add(m->loop, QB_LOOP_MED, qfd, POLLIN, m,
			     quorum_fd_cb) != 0)
		goto fail;
	m->quorum_fd = qfd;
	which = MEMBERSHIP_IPC_CPG;
	if (qb_loop_poll_add(m->loop, QB_LOOP_MED, cfd, POLLIN, m,
			     cpg_fd_cb) != 0)
		goto fail;
	m->cpg_fd = cfd;

	m->up = true;
	m->nodeid = nodeid;
	m->pid = (uint32_t)getpid();
	m->max_msg = atomic && atomic < m->cfg_max_msg ? atomic : m->cfg_max_msg;
	m->next_delay_ms = m->retry_min_ms;
	memset(u, 0, sizeof(*u));
	m->ev.kind = MEMBERSHIP_EV_IPC_UP;
	u->local_nodeid = nodeid;
	u->local_pid = m->pid;
	u->quorate = quorate != 0;
	u->quorum_type = qtype;
	u->max_msg_len = m->max_msg;
	u->attempts = m->attempts;
	m->attempts = 0;
	emit(m);
	return;
fail:
	attempt_failed(m, which, rc, what);
}

static void attempt_timer_cb(void *data)
{
	struct membership *m = data;

	m->retry_armed = false;
	enter(m);
	if (!m->freed && !m->up)
		attempt(m);
	leave(m);
}

/* ------------------------------------------------------------ API */

struct membership *membership_new(qb_loop_t *loop,
				  const struct membership_config *cfg,
				  membership_event_fn fn, void *opaque)
{
	struct membership *m;
	size_t glen;

	if (!loop || !cfg || !fn || !cfg->group) {
		errno = EINVAL;
		return NULL;
	}
	glen = strlen(cfg->group);
	if (glen == 0 || glen > MEMBERSHIP_GROUP_MAX ||
	    cfg->max_msg_len > MEMBERSHIP_MSG_MAX ||
	    (cfg->retry_min_ms && cfg->retry_max_ms &&
	     cfg->retry_min_ms > cfg->retry_max_ms)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->loop = loop;
	m->fn = fn;
	m->opaque = opaque;
	memcpy(m->group_str, cfg->group, glen + 1);
	m->group.length = (uint32_t)glen;
	memcpy(m->group.value, cfg->group, glen);
	m->retry_min_ms = cfg->retry_min_ms ? cfg->retry_min_ms :
		DEFAULT_RETRY_MIN_MS;
	m->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms :
		DEFAULT_RETRY_MAX_MS;
	if (m->retry_max_ms < m->retry_min_ms)
		m->retry_max_ms = m->retry_min_ms;
	m->cfg_max_msg = cfg->max_msg_len ? cfg->max_msg_len :
		MEMBERSHIP_MSG_MAX;
	m->max_msg = m->cfg_max_msg;
	m->next_delay_ms = m->retry_min_ms;
	m->cpg_fd = m->quorum_fd = -1;
	return m;
}

int membership_start(struct membership *m)
{
	if (!m || m->freed)
		return -EINVAL;
	if (m->started)
		return -EALREADY;
	arm_retry(m, 0);
	if (!m->retry_armed)
		return -ENOMEM;
	m->started = true;
	return 0;
}

void membership_free(struct membership *m)
{
	if (!m || m->freed)
		return;
	m->freed = true;
	enter(m);
	leave(m);
}

int membership_send(struct membership *m, const void *buf, size_t len)
{
	struct iovec iov;
	cs_error_t rc;

	if (!m || m->freed)
		return -ENOTCONN;
	if (!buf || !len)
		return -EINVAL;
	if (len > m->max_msg)
		return -EMSGSIZE;
	if (!m->up || m->lost_armed)
		return -ENOTCONN;
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	rc = cpg_mcast_joined(m->cpg, CPG_TYPE_AGREED, &iov, 1);
	switch (rc) {
	case CS_OK:
		return 0;
	case CS_ERR_TRY_AGAIN:
		return -EAGAIN;
	case CS_ERR_LIBRARY:
	case CS_ERR_BAD_HANDLE:
		m->lost_cs_error = rc;
		m->lost_armed = qb_loop_timer_add(m->loop, QB_LOOP_HIGH, 0, m,
						  lost_timer_cb,
						  &m->lost_timer) == 0;
		return -EPIPE;
	default:
		return -EIO;
	}
}

bool membership_is_up(const struct membership *m)
{
	return m && !m->freed && m->up;
}

uint32_t membership_local_nodeid(const struct membership *m)
{
	return m ? m->nodeid : 0;
}

size_t membership_max_msg_len(const struct membership *m)
{
	return m ? m->max_msg : 0;
}
