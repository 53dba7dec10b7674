/*
 * test_membership_unit.c: the membership module without a corosync.
 *
 * Two ways, both deterministic:
 *  - Real libcpg/libquorum with no corosync to talk to. main() first moves
 *    the process into a fresh network namespace (unshare(CLONE_NEWNET) as
 *    root, else CLONE_NEWUSER|CLONE_NEWNET): corosync's IPC sockets (@cpg,
 *    @quorum) are abstract unix sockets, which exist per network namespace,
 *    so there is nothing to connect to whatever runs on the machine. If
 *    neither unshare works, these tests run only when /proc/net/unix shows
 *    no @cpg/@quorum socket, and are skipped otherwise.
 *  - A fake corosync: the test links with -Wl,--wrap for every libcpg and
 *    libquorum call the module makes (see local.am). Each __wrap_ passes
 *    through to the real library unless fake mode is on; in fake mode a pipe
 *    per handle stands for its IPC fd (one byte per queued event; closing
 *    the write end is a corosync death: POLLHUP), and the test queues the
 *    callbacks corosync would make. This drives the paths a real cluster
 *    cannot be told to take on demand: TRY_AGAIN, oversized lists, a send
 *    that finds the IPC dead, a free from inside a callback.
 * Loops run with run_until(condition, seconds): outcomes and order are
 * asserted, never latencies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "compiler.h"
#include "membership.h"
#include "common/loop_wait.h"

/* ============================================================ fake corosync */

#define FAKE_CPG_HANDLE 0xc0c0c0c0ULL
#define FAKE_QUORUM_HANDLE 0x0909ULL
#define FAKE_QLEN 32
#define FAKE_NODEID 7

enum fake_kind { F_DELIVER, F_CONFCHG, F_TOTEM, F_QUORUM, F_NODELIST };

struct fake_ev {
	enum fake_kind kind;
	char group[64];
	uint32_t nodeid, pid;
	char payload[64];
	size_t n_members, n_left, n_joined;
	struct cpg_address members[MEMBERSHIP_MAX_NODES + 2];
	struct cpg_address left[4], joined[4];
	uint32_t ids[MEMBERSHIP_MAX_NODES + 2];
	uint32_t quorate;
	uint32_t ring_nodeid;
	uint64_t ring_seq;
};

struct fake_conn {
	bool open;
	int rfd, wfd;               /* the "IPC fd" and its doorbell */
	void *context;
	struct fake_ev q[FAKE_QLEN];
	size_t head, n;
	int dispatch_flags[64];     /* flags of every dispatch call */
	size_t n_dispatch;
	unsigned finalized;
};

static struct {
	bool on;
	bool corosync_up;           /* initialize fails with LIBRARY if not */
	unsigned join_try_again;    /* cpg_join says TRY_AGAIN this often */
	cs_error_t mcast_rc;
	unsigned n_mcast;
	char last_mcast[128];
	uint32_t quorate;
	cpg_model_v1_data_t cpg_model;
	quorum_model_v1_data_t quorum_model;
	struct fake_conn cpg, quorum;
} fake;

/* Real functions (ld --wrap) and our wrappers. */
cs_error_t __real_cpg_model_initialize(cpg_handle_t *, cpg_model_t,
				       cpg_model_data_t *, void *);
cs_error_t __real_cpg_finalize(cpg_handle_t);
cs_error_t __real_cpg_fd_get(cpg_handle_t, int *);
cs_error_t __real_cpg_local_get(cpg_handle_t, unsigned int *);
cs_error_t __real_cpg_max_atomic_msgsize_get(cpg_handle_t, uint32_t *);
cs_error_t __real_cpg_join(cpg_handle_t, const struct cpg_name *);
cs_error_t __real_cpg_dispatch(cpg_handle_t, cs_dispatch_flags_t);
cs_error_t __real_cpg_mcast_joined(cpg_handle_t, cpg_guarantee_t,
				   const struct iovec *, unsigned int);
cs_error_t __real_cpg_context_get(cpg_handle_t, void **);
cs_error_t __real_quorum_model_initialize(quorum_handle_t *, quorum_model_t,
					  quorum_model_data_t *, uint32_t *,
					  void *);
cs_error_t __real_quorum_finalize(quorum_handle_t);
cs_error_t __real_quorum_trackstart(quorum_handle_t, unsigned int);
cs_error_t __real_quorum_fd_get(quorum_handle_t, int *);
cs_error_t __real_quorum_getquorate(quorum_handle_t, int *);
cs_error_t __real_quorum_dispatch(quorum_handle_t, cs_dispatch_flags_t);
cs_error_t __real_quorum_context_get(quorum_handle_t, const void **);

cs_error_t __wrap_cpg_model_initialize(cpg_handle_t *, cpg_model_t,
				       cpg_model_data_t *, void *);
cs_error_t __wrap_cpg_finalize(cpg_handle_t);
cs_error_t __wrap_cpg_fd_get(cpg_handle_t, int *);
cs_error_t __wrap_cpg_local_get(cpg_handle_t, unsigned int *);
cs_error_t __wrap_cpg_max_atomic_msgsize_get(cpg_handle_t, uint32_t *);
cs_error_t __wrap_cpg_join(cpg_handle_t, const struct cpg_name *);
cs_error_t __wrap_cpg_dispatch(cpg_handle_t, cs_dispatch_flags_t);
cs_error_t __wrap_cpg_mcast_joined(cpg_handle_t, cpg_guarantee_t,
				   const struct iovec *, unsigned int);
cs_error_t __wrap_cpg_context_get(cpg_handle_t, void **);
cs_error_t __wrap_quorum_model_initialize(quorum_handle_t *, quorum_model_t,
					  quorum_model_data_t *, uint32_t *,
					  void *);
cs_error_t __wrap_quorum_finalize(quorum_handle_t);
cs_error_t __wrap_quorum_trackstart(quorum_handle_t, unsigned int);
cs_error_t __wrap_quorum_fd_get(quorum_handle_t, int *);
cs_error_t __wrap_quorum_getquorate(quorum_handle_t, int *);
cs_error_t __wrap_quorum_dispatch(quorum_handle_t, cs_dispatch_flags_t);
cs_error_t __wrap_quorum_context_get(quorum_handle_t, const void **);

static cs_error_t fake_open(struct fake_conn *c, void *context)
{
	int p[2];

	if (!fake.corosync_up)
		return CS_ERR_LIBRARY;
	assert_false(c->open);
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	c->rfd = p[0];
	c->wfd = p[1];
	c->open = true;
	c->context = context;
	c->head = c->n = 0;
	return CS_OK;
}

static void fake_close(struct fake_conn *c)
{
	if (!c->open)
		return;
	close(c->rfd);
	if (c->wfd >= 0)
		close(c->wfd);
	c->open = false;
	c->finalized++;
}

/* corosync dies: every open connection hangs up. */
static void fake_kill(void)
{
	fake.corosync_up = false;
	if (fake.cpg.open && fake.cpg.wfd >= 0) {
		close(fake.cpg.wfd);
		fake.cpg.wfd = -1;
	}
	if (fake.quorum.open && fake.quorum.wfd >= 0) {
		close(fake.quorum.wfd);
		fake.quorum.wfd = -1;
	}
}

static struct fake_ev *fake_push(struct fake_conn *c, enum fake_kind kind)
{
	struct fake_ev *e;

	assert_true(c->open);
	assert_true(c->n < FAKE_QLEN);
	e = &c->q[(c->head + c->n) % FAKE_QLEN];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	c->n++;
	assert_int_equal(write(c->wfd, "x", 1), 1);
	return e;
}

static void fake_run_cpg(struct fake_ev *e)
{
	struct cpg_name g;

	g.length = (uint32_t)strlen(e->group);
	memcpy(g.value, e->group, g.length);
	switch (e->kind) {
	case F_DELIVER:
		fake.cpg_model.cpg_deliver_fn(FAKE_CPG_HANDLE, &g, e->nodeid,
					      e->pid, e->payload,
					      strlen(e->payload));
		break;
	case F_CONFCHG:
		fake.cpg_model.cpg_confchg_fn(FAKE_CPG_HANDLE, &g, e->members,
					      e->n_members, e->left, e->n_left,
					      e->joined, e->n_joined);
		break;
	case F_TOTEM: {
		struct cpg_ring_id r = { e->ring_nodeid, e->ring_seq };

		fake.cpg_model.cpg_totem_confchg_fn(FAKE_CPG_HANDLE, r,
						    (uint32_t)e->n_members,
						    e->ids);
		break;
	}
	default:
		fail_msg("not a cpg event");
	}
}

static void fake_run_quorum(struct fake_ev *e)
{
	struct quorum_ring_id r = { e->ring_nodeid, e->ring_seq };

	if (e->kind == F_QUORUM)
		fake.quorum_model.quorum_notify_fn(FAKE_QUORUM_HANDLE,
						   e->quorate, r,
						   (uint32_t)e->n_members,
						   e->ids);
	else
		fake.quorum_model.nodelist_notify_fn(FAKE_QUORUM_HANDLE, r,
						     (uint32_t)e->n_members,
						     e->ids, 0, NULL, 0, NULL);
}

static cs_error_t fake_dispatch(struct fake_conn *c, cs_dispatch_flags_t f,
				void (*run)(struct fake_ev *))
{
	char b;

	if (c->n_dispatch < ARRAY_SIZE(c->dispatch_flags))
		c->dispatch_flags[c->n_dispatch++] = f;
	do {
		struct fake_ev e;

		if (!c->n)
			return c->wfd < 0 ? CS_ERR_LIBRARY :
			       f == CS_DISPATCH_ALL ? CS_OK : CS_ERR_TRY_AGAIN;
		assert_int_equal(read(c->rfd, &b, 1), 1);
		e = c->q[c->head];
		c->head = (c->head + 1) % FAKE_QLEN;
		c->n--;
		run(&e);
		if (!c->open)   /* finalized from inside the callback */
			return CS_ERR_BAD_HANDLE;
	} while (f == CS_DISPATCH_ALL);
	return CS_OK;
}

cs_error_t __wrap_cpg_model_initialize(cpg_handle_t *h, cpg_model_t model,
				       cpg_model_data_t *d, void *context)
{
	cs_error_t rc;

	if (!fake.on)
		return __real_cpg_model_initialize(h, model, d, context);
	assert_int_equal(model, CPG_MODEL_V1);
	memcpy(&fake.cpg_model, d, sizeof(fake.cpg_model));
	assert_true(fake.cpg_model.flags & CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF);
	rc = fake_open(&fake.cpg, context);
	if (rc == CS_OK)
		*h = FAKE_CPG_HANDLE;
	return rc;
}

cs_error_t __wrap_cpg_finalize(cpg_handle_t h)
{
	if (!fake.on)
		return __real_cpg_finalize(h);
	assert_true(h == FAKE_CPG_HANDLE);
	fake_close(&fake.cpg);
	return CS_OK;
}

cs_error_t __wrap_cpg_fd_get(cpg_handle_t h, int *fd)
{
	if (!fake.on)
		return __real_cpg_fd_get(h, fd);
	*fd = fake.cpg.rfd;
	return CS_OK;
}

cs_error_t __wrap_cpg_local_get(cpg_handle_t h, unsigned int *nodeid)
{
	if (!fake.on)
		return __real_cpg_local_get(h, nodeid);
	*nodeid = FAKE_NODEID;
	return CS_OK;
}

cs_error_t __wrap_cpg_max_atomic_msgsize_get(cpg_handle_t h, uint32_t *size)
{
	if (!fake.on)
		return __real_cpg_max_atomic_msgsize_get(h, size);
	*size = 1000;
	return CS_OK;
}

cs_error_t __wrap_cpg_join(cpg_handle_t h, const struct cpg_name *g)
{
	if (!fake.on)
		return __real_cpg_join(h, g);
	if (fake.join_try_again) {
		fake.join_try_again--;
		return CS_ERR_TRY_AGAIN;
	}
	return CS_OK;
}

cs_error_t __wrap_cpg_dispatch(cpg_handle_t h, cs_dispatch_flags_t f)
{
	if (!fake.on)
		return __real_cpg_dispatch(h, f);
	return fake_dispatch(&fake.cpg, f, fake_run_cpg);
}

cs_error_t __wrap_cpg_mcast_joined(cpg_handle_t h, cpg_guarantee_t g,
				   const struct iovec *iov, unsigned int n)
{
	size_t len;

	if (!fake.on)
		return __real_cpg_mcast_joined(h, g, iov, n);
	assert_int_equal(g, CPG_TYPE_AGREED);
	assert_int_equal(n, 1);
	if (fake.mcast_rc != CS_OK)
		return fake.mcast_rc;
	fake.n_mcast++;
	len = iov[0].iov_len < sizeof(fake.last_mcast) - 1 ?
	      iov[0].iov_len : sizeof(fake.last_mcast) - 1;
	memcpy(fake.last_mcast, iov[0].iov_base, len);
	fake.last_mcast[len] = '\0';
	return CS_OK;
}

cs_error_t __wrap_cpg_context_get(cpg_handle_t h, void **ctx)
{
	if (!fake.on)
		return __real_cpg_context_get(h, ctx);
	*ctx = fake.cpg.context;
	return CS_OK;
}

cs_error_t __wrap_quorum_model_initialize(quorum_handle_t *h,
					  quorum_model_t model,
					  quorum_model_data_t *d,
					  uint32_t *type, void *context)
{
	cs_error_t rc;

	if (!fake.on)
		return __real_quorum_model_initialize(h, model, d, type,
						      context);
	assert_int_equal(model, QUORUM_MODEL_V1);
	memcpy(&fake.quorum_model, d, sizeof(fake.quorum_model));
	rc = fake_open(&fake.quorum, context);
	if (rc == CS_OK) {
		*h = FAKE_QUORUM_HANDLE;
		*type = QUORUM_SET;
	}
	return rc;
}

cs_error_t __wrap_quorum_finalize(quorum_handle_t h)
{
	if (!fake.on)
		return __real_quorum_finalize(h);
	fake_close(&fake.quorum);
	return CS_OK;
}

cs_error_t __wrap_quorum_trackstart(quorum_handle_t h, unsigned int flags)
{
	if (!fake.on)
		return __real_quorum_trackstart(h, flags);
	assert_int_equal(flags, CS_TRACK_CHANGES);
	return CS_OK;
}

cs_error_t __wrap_quorum_fd_get(quorum_handle_t h, int *fd)
{
	if (!fake.on)
		return __real_quorum_fd_get(h, fd);
	*fd = fake.quorum.rfd;
	return CS_OK;
}

cs_error_t __wrap_quorum_getquorate(quorum_handle_t h, int *q)
{
	if (!fake.on)
		return __real_quorum_getquorate(h, q);
	*q = (int)fake.quorate;
	return CS_OK;
}

cs_error_t __wrap_quorum_dispatch(quorum_handle_t h, cs_dispatch_flags_t f)
{
	if (!fake.on)
		return __real_quorum_dispatch(h, f);
	return fake_dispatch(&fake.quorum, f, fake_run_quorum);
}

cs_error_t __wrap_quorum_context_get(quorum_handle_t h, const void **ctx)
{
	if (!fake.on)
		return __real_quorum_context_get(h, ctx);
	*ctx = fake.quorum.context;
	return CS_OK;
}

/* ================================================================ fixture */

#define MAX_EVENTS 64

struct fx {
	qb_loop_t *loop;
	struct membership *m;
	struct membership_event *ev;  /* copies, MAX_EVENTS */
	char payload[MAX_EVENTS][64];
	size_t n_ev;
	/* the callback frees the object at this event kind, if set */
	bool free_on;
	enum membership_event_kind free_kind;
	/* the callback sends from inside, to check re-entrancy */
	bool send_on_up;
	int send_on_up_rc;
	/* loop turns counted by a job that re-adds itself (one run a turn),
	 * and the turn each event came in */
	unsigned turn;
	unsigned ev_turn[MAX_EVENTS];
};

static bool no_corosync_ns; /* main() made sure nothing answers IPC */

static void on_event(struct membership *m, const struct membership_event *ev,
		     void *opaque)
{
	struct fx *fx = opaque;

	assert_true(m == fx->m);
	if (fx->n_ev < MAX_EVENTS) {
		fx->ev[fx->n_ev] = *ev;
		fx->ev_turn[fx->n_ev] = fx->turn;
		if (ev->kind == MEMBERSHIP_EV_DELIVER) {
			size_t len = ev->u.deliver.len < 63 ?
				     ev->u.deliver.len : 63;
			memcpy(fx->payload[fx->n_ev], ev->u.deliver.data, len);
			fx->payload[fx->n_ev][len] = '\0';
		}
		fx->n_ev++;
	}
	if (fx->send_on_up && ev->kind == MEMBERSHIP_EV_IPC_UP)
		fx->send_on_up_rc = membership_send(m, "hello", 5);
	if (fx->free_on && ev->kind == fx->free_kind) {
		membership_free(m);
		fx->m = NULL;
	}
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->ev = calloc(MAX_EVENTS, sizeof(*fx->ev));
	fx->loop = qb_loop_create();
	if (!fx->ev || !fx->loop)
		return -1;
	memset(&fake, 0, sizeof(fake));
	fake.cpg.rfd = fake.cpg.wfd = fake.quorum.rfd = fake.quorum.wfd = -1;
	fake.mcast_rc = CS_OK;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	membership_free(fx->m);
	qb_loop_destroy(fx->loop);
	/* Whatever the module left open is a leak of a corosync connection. */
	if (fake.on) {
		assert_false(fake.cpg.open);
		assert_false(fake.quorum.open);
	}
	fake.on = false;
	free(fx->ev);
	free(fx);
	return 0;
}

/* run_until: the shared loop_wait() with this fixture's condition shape. */
struct fx_cond {
	struct fx *fx;
	bool (*cond)(struct fx *, void *);
	void *arg;
};

static bool fx_cond_eval(void *data)
{
	struct fx_cond *c = data;

	return c->cond(c->fx, c->arg);
}

/* Runs the loop until cond holds (true) or the seconds pass (false). cond NULL:
 * just run that long. */
static bool run_until(struct fx *fx, bool (*cond)(struct fx *, void *), void *arg,
		      double seconds)
{
	struct fx_cond c = {fx, cond, arg};

	return loop_wait(fx->loop, cond ? fx_cond_eval : NULL, &c, seconds);
}

static size_t count_kind(const struct fx *fx, enum membership_event_kind k)
{
	size_t i, n = 0;

	for (i = 0; i < fx->n_ev; i++)
		n += fx->ev[i].kind == k;
	return n;
}

static bool have_n_of_kind(struct fx *fx, void *arg)
{
	const size_t *want = arg; /* [kind, n] */

	return count_kind(fx, (enum membership_event_kind)want[0]) >= want[1];
}

static bool wait_kind(struct fx *fx, enum membership_event_kind k, size_t n,
		      double secs)
{
	size_t want[2] = { k, n };

	return run_until(fx, have_n_of_kind, want, secs);
}

static const struct membership_event *nth_kind(const struct fx *fx,
					       enum membership_event_kind k,
					       size_t nth)
{
	size_t i;

	for (i = 0; i < fx->n_ev; i++)
		if (fx->ev[i].kind == k && nth-- == 0)
			return &fx->ev[i];
	return NULL;
}

static ssize_t index_of_kind(const struct fx *fx, enum membership_event_kind k)
{
	size_t i;

	for (i = 0; i < fx->n_ev; i++)
		if (fx->ev[i].kind == k)
			return (ssize_t)i;
	return -1;
}

static struct membership *new_m(struct fx *fx, unsigned rmin, unsigned rmax,
				size_t max_msg)
{
	struct membership_config cfg = {
		.group = "unit-group",
		.retry_min_ms = rmin,
		.retry_max_ms = rmax,
		.max_msg_len = max_msg,
	};

	fx->m = membership_new(fx->loop, &cfg, on_event, fx);
	assert_non_null(fx->m);
	return fx->m;
}

/* ======================================================= pure helpers */

static void test_ring_id(void **state)
{
	struct membership_ring_id a = { 1, 0x1c }, b = { 3, 0x1c },
				  c = { 1, 0x20 }, a2 = { 1, 0x1c };
	char buf[MEMBERSHIP_RING_ID_STRLEN];

	(void)state;
	assert_true(membership_ring_id_equal(&a, &a2));
	assert_int_equal(membership_ring_id_cmp(&a, &a2), 0);
	/* Same seq, other representative: two partitions, not one ring. */
	assert_false(membership_ring_id_equal(&a, &b));
	assert_true(membership_ring_id_cmp(&a, &b) < 0);
	assert_true(membership_ring_id_cmp(&b, &a) > 0);
	/* A later ring is greater whatever its representative. */
	assert_true(membership_ring_id_cmp(&b, &c) < 0);
	assert_true(membership_ring_id_cmp(&c, &a) > 0);
	assert_string_equal(membership_ring_id_to_str(&a, buf, sizeof(buf)),
			    "1.1c");
	c.nodeid = 0xffffffffu;
	c.seq = UINT64_MAX;
	assert_string_equal(membership_ring_id_to_str(&c, buf, sizeof(buf)),
			    "ffffffff.ffffffffffffffff");
	/* Truncation stays a C string. */
	assert_string_equal(membership_ring_id_to_str(&a, buf, 3), "1.");
}

static void test_to_str(void **state)
{
	(void)state;
	assert_string_equal(membership_reason_to_str(MEMBERSHIP_REASON_NODEDOWN),
			    "NODEDOWN");
	assert_string_equal(membership_reason_to_str(MEMBERSHIP_REASON_PROCDOWN),
			    "PROCDOWN");
	assert_string_equal(membership_reason_to_str((enum membership_reason)99),
			    "?");
	/* Our numbers are corosync's. */
	assert_int_equal(MEMBERSHIP_REASON_JOIN, CPG_REASON_JOIN);
	assert_int_equal(MEMBERSHIP_REASON_LEAVE, CPG_REASON_LEAVE);
	assert_int_equal(MEMBERSHIP_REASON_NODEDOWN, CPG_REASON_NODEDOWN);
	assert_int_equal(MEMBERSHIP_REASON_NODEUP, CPG_REASON_NODEUP);
	assert_int_equal(MEMBERSHIP_REASON_PROCDOWN, CPG_REASON_PROCDOWN);
	assert_string_equal(membership_ipc_to_str(MEMBERSHIP_IPC_QUORUM),
			    "quorum");
	assert_string_equal(membership_ipc_to_str((enum membership_ipc)5), "?");
	assert_string_equal(membership_event_kind_to_str(MEMBERSHIP_EV_IPC_LOST),
			    "ipc_lost");
	assert_string_equal(membership_event_kind_to_str(
		(enum membership_event_kind)-1), "?");
	assert_string_equal(membership_cs_error_to_str(CS_ERR_LIBRARY),
			    "CS_ERR_LIBRARY");
	assert_string_equal(membership_cs_error_to_str(CS_ERR_TRY_AGAIN),
			    "CS_ERR_TRY_AGAIN");
	assert_string_equal(membership_cs_error_to_str(CS_ERR_SECURITY),
			    "CS_ERR_SECURITY");
	assert_string_equal(membership_cs_error_to_str(0), "CS_ERR_?");
	assert_string_equal(membership_cs_error_to_str(29), "CS_ERR_?");
	assert_string_equal(membership_cs_error_to_str(-3), "CS_ERR_?");
	assert_string_equal(membership_cs_error_to_str(1000), "CS_ERR_?");
}

static void test_config(void **state)
{
	struct fx *fx = *state;
	char long_name[MEMBERSHIP_GROUP_MAX + 2];
	struct membership_config cfg = { .group = "g" };
	struct membership *m;

	assert_null(membership_new(NULL, &cfg, on_event, fx));
	assert_int_equal(errno, EINVAL);
	assert_null(membership_new(fx->loop, NULL, on_event, fx));
	assert_null(membership_new(fx->loop, &cfg, NULL, fx));
	cfg.group = "";
	assert_null(membership_new(fx->loop, &cfg, on_event, fx));
	assert_int_equal(errno, EINVAL);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cfg.group = long_name;          /* 128 bytes: one too many */
	assert_null(membership_new(fx->loop, &cfg, on_event, fx));
	long_name[MEMBERSHIP_GROUP_MAX] = '\0';
	m = membership_new(fx->loop, &cfg, on_event, fx);
	assert_non_null(m);
	membership_free(m);
	cfg.group = "g";
	cfg.max_msg_len = MEMBERSHIP_MSG_MAX + 1;
	assert_null(membership_new(fx->loop, &cfg, on_event, fx));
	cfg.max_msg_len = 0;
	cfg.retry_min_ms = 500;
	cfg.retry_max_ms = 100;
	assert_null(membership_new(fx->loop, &cfg, on_event, fx));
	assert_int_equal(errno, EINVAL);

	/* start twice; nothing reported from inside start */
	new_m(fx, 0, 0, 0);
	fake.on = true;                 /* no corosync: attempts fail */
	assert_int_equal(membership_start(fx->m), 0);
	assert_int_equal(fx->n_ev, 0);
	assert_int_equal(membership_start(fx->m), -EALREADY);
	assert_false(membership_is_up(fx->m));
	assert_int_equal(membership_local_nodeid(fx->m), 0);
	assert_int_equal(membership_start(NULL), -EINVAL);
	membership_free(NULL);
}

/* ================================================== real libs, no corosync */

static void test_real_absent_retries_with_backoff(void **state)
{
	struct fx *fx = *state;
	static const unsigned want_delay[] = { 10, 20, 40, 40, 40 };
	size_t i;

	if (!no_corosync_ns)
		skip();
	new_m(fx, 10, 40, 0);
	assert_int_equal(membership_start(fx->m), 0);
	assert_int_equal(fx->n_ev, 0);
	assert_true(wait_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED, 5, 10));
	for (i = 0; i < ARRAY_SIZE(want_delay); i++) {
		const struct membership_connect_failed *f =
			&fx->ev[i].u.connect_failed;

		assert_int_equal(fx->ev[i].kind, MEMBERSHIP_EV_CONNECT_FAILED);
		/* The first service tried is quorum; it is not there. */
		assert_int_equal(f->which, MEMBERSHIP_IPC_QUORUM);
		assert_int_not_equal(f->cs_error, CS_OK);
		assert_non_null(strstr(f->reason, "quorum_model_initialize: "));
		assert_int_equal(f->attempt, i + 1);
		assert_int_equal(f->next_retry_ms, want_delay[i]);
	}
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_IPC_UP), 0);
	assert_false(membership_is_up(fx->m));
}

static void test_real_absent_send_refused(void **state)
{
	struct fx *fx = *state;
	char big[101] = { 0 };

	if (!no_corosync_ns)
		skip();
	new_m(fx, 10, 40, 100);
	assert_int_equal(membership_send(fx->m, "x", 1), -ENOTCONN);
	assert_int_equal(membership_start(fx->m), 0);
	assert_true(wait_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED, 2, 10));
	assert_int_equal(membership_send(fx->m, "x", 1), -ENOTCONN);
	assert_int_equal(membership_send(fx->m, NULL, 1), -EINVAL);
	assert_int_equal(membership_send(fx->m, "x", 0), -EINVAL);
	assert_int_equal(membership_send(fx->m, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(membership_send(fx->m, big, 100), -ENOTCONN);
	assert_int_equal(membership_send(NULL, "x", 1), -ENOTCONN);
}

static void test_real_absent_free_in_callback(void **state)
{
	struct fx *fx = *state;

	if (!no_corosync_ns)
		skip();
	new_m(fx, 10, 40, 0);
	fx->free_on = true;
	fx->free_kind = MEMBERSHIP_EV_CONNECT_FAILED;
	assert_int_equal(membership_start(fx->m), 0);
	/* The retry armed before the callback must die with the object:
	 * nothing more arrives (and ASan sees no use after free). */
	run_until(fx, NULL, NULL, 0.3);
	assert_null(fx->m);
	assert_int_equal(fx->n_ev, 1);
}

/* ======================================================== fake corosync */

static void fake_start(struct fx *fx, unsigned rmin, unsigned rmax)
{
	fake.on = true;
	fake.corosync_up = true;
	fake.quorate = 1;
	new_m(fx, rmin, rmax, 0);
	assert_int_equal(membership_start(fx->m), 0);
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_UP, 1, 5));
}

static void test_fake_up_and_events(void **state)
{
	struct fx *fx = *state;
	const struct membership_ipc_up *u;
	const struct membership_event *e;
	struct fake_ev *f;
	size_t i;

	fake_start(fx, 10, 40);
	u = &fx->ev[0].u.ipc_up;
	assert_int_equal(fx->ev[0].kind, MEMBERSHIP_EV_IPC_UP);
	assert_int_equal(u->local_nodeid, FAKE_NODEID);
	assert_int_equal(u->local_pid, (uint32_t)getpid());
	assert_true(u->quorate);
	assert_int_equal(u->quorum_type, QUORUM_SET);
	assert_int_equal(u->max_msg_len, 1000); /* libcpg's atomic limit */
	assert_int_equal(u->attempts, 1);
	assert_true(membership_is_up(fx->m));

	f = fake_push(&fake.cpg, F_TOTEM);
	f->ring_nodeid = 1;
	f->ring_seq = 0x1c;
	f->n_members = 3;
	f->ids[0] = 1; f->ids[1] = 2; f->ids[2] = FAKE_NODEID;
	f = fake_push(&fake.cpg, F_CONFCHG);
	strcpy(f->group, "unit-group");
	f->n_members = 2;
	f->members[0] = (struct cpg_address){ 1, 100, 0 };
	f->members[1] = (struct cpg_address){ FAKE_NODEID, (uint32_t)getpid(), 0 };
	f->n_left = 1;
	f->left[0] = (struct cpg_address){ 2, 200, CPG_REASON_NODEDOWN };
	f->n_joined = 1;
	f->joined[0] = (struct cpg_address){ FAKE_NODEID, (uint32_t)getpid(),
					     CPG_REASON_JOIN };
	/* A payload that claims another sender changes nothing. */
	f = fake_push(&fake.cpg, F_DELIVER);
	strcpy(f->group, "unit-group");
	f->nodeid = FAKE_NODEID;
	f->pid = (uint32_t)getpid();
	strcpy(f->payload, "from:1:100");
	f = fake_push(&fake.cpg, F_DELIVER);
	strcpy(f->group, "other-group"); /* never ours: dropped */
	f->nodeid = 1;
	strcpy(f->payload, "foreign");
	f = fake_push(&fake.cpg, F_DELIVER);
	strcpy(f->group, "unit-group");
	f->nodeid = 1;
	f->pid = 100;
	strcpy(f->payload, "peer");
	f = fake_push(&fake.quorum, F_QUORUM);
	f->quorate = 1;
	f->ring_nodeid = 1;
	f->ring_seq = 0x1c;
	f->n_members = 2;
	f->ids[0] = 1; f->ids[1] = FAKE_NODEID;
	f = fake_push(&fake.quorum, F_NODELIST);
	f->ring_nodeid = 1;
	f->ring_seq = 0x1c;
	f->n_members = 2;
	f->ids[0] = 1; f->ids[1] = FAKE_NODEID;

	assert_true(wait_kind(fx, MEMBERSHIP_EV_DELIVER, 2, 5));
	assert_true(wait_kind(fx, MEMBERSHIP_EV_NODELIST, 1, 5));

	e = nth_kind(fx, MEMBERSHIP_EV_TOTEM_CONFCHG, 0);
	assert_non_null(e);
	assert_int_equal(e->u.totem_confchg.ring.nodeid, 1);
	assert_int_equal(e->u.totem_confchg.ring.seq, 0x1c);
	assert_int_equal(e->u.totem_confchg.n_members, 3);
	assert_int_equal(e->u.totem_confchg.members[2], FAKE_NODEID);

	e = nth_kind(fx, MEMBERSHIP_EV_CPG_CONFCHG, 0);
	assert_non_null(e);
	assert_string_equal(e->u.cpg_confchg.group, "unit-group");
	assert_int_equal(e->u.cpg_confchg.n_members, 2);
	assert_int_equal(e->u.cpg_confchg.members[0].pid, 100);
	assert_int_equal(e->u.cpg_confchg.n_left, 1);
	assert_int_equal(e->u.cpg_confchg.left[0].nodeid, 2);
	assert_int_equal(e->u.cpg_confchg.left[0].reason,
			 MEMBERSHIP_REASON_NODEDOWN);
	assert_int_equal(e->u.cpg_confchg.joined[0].reason,
			 MEMBERSHIP_REASON_JOIN);

	/* CPG's order is kept: totem, confchg, then the messages. */
	assert_true(index_of_kind(fx, MEMBERSHIP_EV_TOTEM_CONFCHG) <
		    index_of_kind(fx, MEMBERSHIP_EV_CPG_CONFCHG));
	assert_true(index_of_kind(fx, MEMBERSHIP_EV_CPG_CONFCHG) <
		    index_of_kind(fx, MEMBERSHIP_EV_DELIVER));
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_DELIVER), 2);
	e = nth_kind(fx, MEMBERSHIP_EV_DELIVER, 0);
	assert_int_equal(e->u.deliver.nodeid, FAKE_NODEID);
	assert_true(e->u.deliver.self);
	assert_string_equal(fx->payload[e - fx->ev], "from:1:100");
	e = nth_kind(fx, MEMBERSHIP_EV_DELIVER, 1);
	assert_int_equal(e->u.deliver.nodeid, 1);
	assert_int_equal(e->u.deliver.pid, 100);
	assert_false(e->u.deliver.self);
	assert_string_equal(fx->payload[e - fx->ev], "peer");

	e = nth_kind(fx, MEMBERSHIP_EV_QUORUM, 0);
	assert_non_null(e);
	assert_true(e->u.quorum.quorate);
	assert_true(membership_ring_id_equal(&e->u.quorum.ring,
		&nth_kind(fx, MEMBERSHIP_EV_TOTEM_CONFCHG, 0)->u.totem_confchg.ring));
	assert_int_equal(e->u.quorum.n_members, 2);
	e = nth_kind(fx, MEMBERSHIP_EV_NODELIST, 0);
	assert_int_equal(e->u.nodelist.n_members, 2);
	assert_int_equal(e->u.nodelist.n_joined, 0);

	/* One event per wake-up, never a dispatch that could wait. */
	for (i = 0; i < fake.cpg.n_dispatch; i++)
		assert_int_equal(fake.cpg.dispatch_flags[i],
				 CS_DISPATCH_ONE_NONBLOCKING);
	assert_true(fake.cpg.n_dispatch >= 5);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_IPC_LOST), 0);
}

static void test_fake_send(void **state)
{
	struct fx *fx = *state;
	char big[1001] = { 0 };
	size_t n;

	fx->send_on_up = true;          /* sending from inside a callback */
	fake_start(fx, 10, 40);
	assert_int_equal(fx->send_on_up_rc, 0);
	assert_int_equal(membership_send(fx->m, "abc", 3), 0);
	assert_string_equal(fake.last_mcast, "abc");
	assert_int_equal(fake.n_mcast, 2);
	assert_int_equal(membership_send(fx->m, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(membership_send(fx->m, big, 1000), 0);

	/* TRY_AGAIN is transient: a distinct code, the connection stays. */
	fake.mcast_rc = CS_ERR_TRY_AGAIN;
	assert_int_equal(membership_send(fx->m, "abc", 3), -EAGAIN);
	run_until(fx, NULL, NULL, 0.1);
	assert_true(membership_is_up(fx->m));
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_IPC_LOST), 0);
	fake.mcast_rc = CS_ERR_NO_RESOURCES;
	assert_int_equal(membership_send(fx->m, "abc", 3), -EIO);
	assert_true(membership_is_up(fx->m));

	/* A dead IPC found by a send: reported from the loop, not from
	 * inside membership_send(). */
	fake.mcast_rc = CS_ERR_LIBRARY;
	n = fx->n_ev;
	assert_int_equal(membership_send(fx->m, "abc", 3), -EPIPE);
	assert_int_equal(fx->n_ev, n);
	assert_int_equal(membership_send(fx->m, "abc", 3), -ENOTCONN);
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1, 5));
	assert_int_equal(nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 0)->u.ipc_lost.cs_error,
			 CS_ERR_LIBRARY);
	assert_false(fake.cpg.open);
	assert_false(fake.quorum.open);
	/* corosync is still there: the retry reconnects. */
	fake.mcast_rc = CS_OK;
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_UP, 2, 5));
	assert_int_equal(membership_send(fx->m, "again", 5), 0);
}

static void turn_job(void *data)
{
	struct fx *fx = data;

	fx->turn++;
	assert_int_equal(qb_loop_job_add(fx->loop, QB_LOOP_HIGH, fx, turn_job), 0);
}

/* Messages corosync queued back to back are taken in one loop turn, up to
 * 16: the daemon makes what they ask durable with one write, not one per
 * message each queued behind the last. */
static void test_fake_dispatch_burst(void **state)
{
	struct fx *fx = *state;
	ssize_t first;

	fake_start(fx, 10, 40);
	assert_int_equal(qb_loop_job_add(fx->loop, QB_LOOP_HIGH, fx, turn_job), 0);
	for (unsigned i = 0; i < 20; i++) {
		struct fake_ev *f = fake_push(&fake.cpg, F_DELIVER);

		strcpy(f->group, "unit-group");
		f->nodeid = 1;
		f->pid = 100;
		snprintf(f->payload, sizeof(f->payload), "m%02u", i);
	}
	assert_true(wait_kind(fx, MEMBERSHIP_EV_DELIVER, 20, 5));
	first = index_of_kind(fx, MEMBERSHIP_EV_DELIVER);
	assert_true(first >= 0);
	for (unsigned i = 0; i < 20; i++) {
		char want[8];

		snprintf(want, sizeof(want), "m%02u", i);
		assert_string_equal(fx->payload[first + i], want);
		/* the first 16 in one turn, the other 4 in one later turn */
		assert_int_equal(fx->ev_turn[first + i],
				 fx->ev_turn[first + (i < 16 ? 0 : 16)]);
	}
	assert_true(fx->ev_turn[first + 16] > fx->ev_turn[first]);
	/* one call per message, each for one message: none blocks */
	for (size_t i = 0; i < fake.cpg.n_dispatch; i++)
		assert_int_equal(fake.cpg.dispatch_flags[i], CS_DISPATCH_ONE_NONBLOCKING);
	/* qb_loop_destroy() does not free a pending job */
	assert_int_equal(qb_loop_job_del(fx->loop, QB_LOOP_HIGH, fx, turn_job), 0);
}

static void test_fake_corosync_death_and_return(void **state)
{
	struct fx *fx = *state;
	const struct membership_ipc_lost *l;
	const struct membership_event *e;
	struct fake_ev *f;
	ssize_t i_last, i_lost;
	unsigned i;

	fake_start(fx, 10, 40);
	/* Two messages queued, then corosync dies: both are still handed
	 * over, then the loss. */
	for (i = 0; i < 2; i++) {
		f = fake_push(&fake.cpg, F_DELIVER);
		strcpy(f->group, "unit-group");
		f->nodeid = 1;
		snprintf(f->payload, sizeof(f->payload), "last-%u", i);
	}
	fake_kill();
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1, 5));
	l = &nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 0)->u.ipc_lost;
	assert_true(l->revents & POLLHUP);
	assert_non_null(strstr(l->reason, "POLLHUP"));
	assert_int_equal(l->next_retry_ms, 10);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_IPC_LOST), 1);
	assert_false(membership_is_up(fx->m));
	/* Both handles went, whichever fd told first. */
	assert_false(fake.cpg.open);
	assert_false(fake.quorum.open);
	assert_int_equal(fake.cpg.finalized, 1);
	assert_int_equal(fake.quorum.finalized, 1);
	i_lost = index_of_kind(fx, MEMBERSHIP_EV_IPC_LOST);
	e = nth_kind(fx, MEMBERSHIP_EV_DELIVER, 1);
	if (l->which == MEMBERSHIP_IPC_CPG) {
		assert_non_null(e);
		i_last = e - fx->ev;
		assert_true(i_last < i_lost);
		assert_string_equal(fx->payload[i_last], "last-1");
	}
	assert_int_equal(membership_send(fx->m, "x", 1), -ENOTCONN);

	/* Down: attempts fail with backoff 10, 20, 40, 40. */
	assert_true(wait_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED, 3, 5));
	assert_int_equal(nth_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED, 0)
			 ->u.connect_failed.next_retry_ms, 20);
	assert_int_equal(nth_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED, 2)
			 ->u.connect_failed.next_retry_ms, 40);
	/* Back, starting inquorate like a restarted corosync. */
	fake.quorate = 0;
	fake.corosync_up = true;
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_UP, 2, 5));
	e = nth_kind(fx, MEMBERSHIP_EV_IPC_UP, 1);
	assert_false(e->u.ipc_up.quorate);
	assert_true(e->u.ipc_up.attempts >= 4);
	assert_true(membership_is_up(fx->m));
	/* The backoff starts over after an UP. */
	fake_kill();
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 2, 5));
	assert_int_equal(nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1)
			 ->u.ipc_lost.next_retry_ms, 10);
}

static void test_fake_join_try_again(void **state)
{
	struct fx *fx = *state;
	const struct membership_connect_failed *f;

	fake.join_try_again = 2;
	fake_start(fx, 10, 40);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_CONNECT_FAILED), 2);
	f = &fx->ev[0].u.connect_failed;
	assert_int_equal(f->which, MEMBERSHIP_IPC_CPG);
	assert_int_equal(f->cs_error, CS_ERR_TRY_AGAIN);
	assert_string_equal(f->reason, "cpg_join: CS_ERR_TRY_AGAIN");
	/* Each failed attempt closed what it had opened. */
	assert_int_equal(fake.cpg.finalized, 2);
	assert_int_equal(fake.quorum.finalized, 2);
	assert_int_equal(fx->ev[2].kind, MEMBERSHIP_EV_IPC_UP);
	assert_int_equal(fx->ev[2].u.ipc_up.attempts, 3);
}

static void test_fake_oversized_list(void **state)
{
	struct fx *fx = *state;
	const struct membership_ipc_lost *l;
	struct fake_ev *f;

	fake_start(fx, 10, 40);
	f = fake_push(&fake.cpg, F_CONFCHG);
	strcpy(f->group, "unit-group");
	f->n_members = MEMBERSHIP_MAX_NODES + 1;
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1, 5));
	l = &nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 0)->u.ipc_lost;
	assert_int_equal(l->which, MEMBERSHIP_IPC_CPG);
	assert_int_equal(l->cs_error, CS_ERR_MESSAGE_ERROR);
	assert_non_null(strstr(l->reason, "exceeds"));
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_CPG_CONFCHG), 0);
	/* and it starts over */
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_UP, 2, 5));

	f = fake_push(&fake.quorum, F_QUORUM);
	f->quorate = 1;
	f->n_members = MEMBERSHIP_MAX_NODES + 2;
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 2, 5));
	l = &nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1)->u.ipc_lost;
	assert_int_equal(l->which, MEMBERSHIP_IPC_QUORUM);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_QUORUM), 0);
}

static void test_fake_quorum_dispatch_error(void **state)
{
	struct fx *fx = *state;
	const struct membership_ipc_lost *l;

	fake_start(fx, 10, 40);
	/* Only the quorum connection dies (its fd hangs up). */
	close(fake.quorum.wfd);
	fake.quorum.wfd = -1;
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_LOST, 1, 5));
	l = &nth_kind(fx, MEMBERSHIP_EV_IPC_LOST, 0)->u.ipc_lost;
	assert_int_equal(l->which, MEMBERSHIP_IPC_QUORUM);
	assert_int_equal(l->cs_error, CS_ERR_LIBRARY);
	/* The healthy CPG handle goes too: never one without the other. */
	assert_false(fake.cpg.open);
	assert_true(wait_kind(fx, MEMBERSHIP_EV_IPC_UP, 2, 5));
}

static void test_fake_free_inside_dispatch(void **state)
{
	struct fx *fx = *state;
	struct fake_ev *f;
	unsigned i;

	fake_start(fx, 10, 40);
	fx->free_on = true;
	fx->free_kind = MEMBERSHIP_EV_DELIVER;
	for (i = 0; i < 3; i++) {
		f = fake_push(&fake.cpg, F_DELIVER);
		strcpy(f->group, "unit-group");
		f->nodeid = 1;
		strcpy(f->payload, "m");
	}
	/* The CPG connection hangs up too, so the drain (CS_DISPATCH_ALL)
	 * is what calls back; the quorum fd stays quiet. */
	close(fake.cpg.wfd);
	fake.cpg.wfd = -1;
	run_until(fx, NULL, NULL, 0.2);
	assert_null(fx->m);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_DELIVER), 1);
	assert_int_equal(count_kind(fx, MEMBERSHIP_EV_IPC_LOST), 0);
	assert_false(fake.cpg.open);
	assert_false(fake.quorum.open);
}

/* ==================================================================== main */

static bool ipc_socket_visible(void)
{
	FILE *f = fopen("/proc/net/unix", "r");
	char line[512];
	bool found = false;

	if (!f)
		return true;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " @cpg") || strstr(line, " @quorum"))
			found = true;
	fclose(f);
	return found;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_id),
		cmocka_unit_test(test_to_str),
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_absent_retries_with_backoff,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_absent_send_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_absent_free_in_callback,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_up_and_events, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fake_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_dispatch_burst, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fake_corosync_death_and_return,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_join_try_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fake_oversized_list, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fake_quorum_dispatch_error,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_free_inside_dispatch,
						setup, teardown),
	};
	const char *how;

	/* Abstract unix sockets are per network namespace: in a new one,
	 * no corosync can answer. */
	if (unshare(CLONE_NEWNET) == 0)
		how = "own network namespace";
	else if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		how = "own user+network namespace";
	else
		how = NULL;
	no_corosync_ns = how || !ipc_socket_visible();
	printf("# corosync-absent tests: %s\n",
	       how ? how : no_corosync_ns ? "no @cpg/@quorum socket visible" :
	       "skipped (cannot unshare and a corosync is reachable)");
	fflush(stdout);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
