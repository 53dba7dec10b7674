/*
 * sim_world.c: the simulated cluster: an event queue in virtual time (ms),
 * one real fsm per node, and models of corosync (virtual synchrony per ring,
 * partitions, stalls, restarts, votequorum, confchg -> quorum delay), QEMU
 * COLO (test/data/qemu-colo: COLO_EXIT once per side, the primary's hang on
 * a silently lost peer until an OOB yank, RESUME after the failover reply,
 * commands dropped on hang-up), fencing (fast, slow, failing, late) and a
 * durable disk whose unsynced writes may be lost in a crash.
 *
 * Must not: read a clock, use any randomness but w->rng, or look at fsm
 * internals to decide what the world does (only fsm.h's API and actions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define WALL_BASE 1795630000000LL
#define BOOT_MS 3000
#define WATCHDOG_MS 4000

enum sim_ev_kind {
	EV_FSM,          /* an fsm event for node `node` */
	EV_MSG,          /* CPG delivery attempt */
	EV_TIMER,
	EV_FAULT,
	EV_RECOMPUTE,    /* totem forms new rings from the connectivity */
	EV_FO_DONE,      /* a failover completes inside QEMU */
	EV_CKPT,         /* primary's next checkpoint */
	EV_COLO_EXIT,    /* a side's COLO loop ends by itself (error) */
	EV_KILL_LAND,
	EV_CMD_EXEC,     /* an in-band command reaches QEMU's main loop */
	EV_FENCE,
	EV_ARB_START,
	EV_CS_START,
	EV_CS_PRIVATE,   /* a restarted corosync reports its own ring */
	EV_STALL_END,
	EV_POWER_ON,
	EV_QMP_RECONNECT,
	EV_CPG_REFRESH,  /* an arbiter process left: CPG tells peers */
	EV_CPG_JOIN,     /* an arbiter's cpg_join, seen by all members at once */
	EV_WATCHDOG,     /* a ping's reset comes due */
	EV_PET_TICK,     /* the arbiter's watchdog tick */
	EV_END_FAULTS,
	EV_RESYNC_COLO,
};

enum sim_hook {
	HK_NONE,
	HK_QUORUM,   /* model: quorum notification delivered */
	HK_REPLY,    /* a command reply read by the arbiter */
	HK_QEVENT,   /* a QEMU event on the current connection */
	HK_PERSIST,  /* a write became durable */
};

enum { SC_FREE, SC_QUEUED, SC_STUCK, SC_SENT };

struct sim_ev {
	enum sim_ev_kind kind;
	int node, vm;
	uint32_t inc, gen, conn, pid;
	int slot;
	int arg;
	enum sim_hook hook;
	bool quorate;
	unsigned ring;
	struct fsm_event fe;
	struct fsm_msg msg;
};

/* ---- rng ------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(sim_rng_next(r) % (uint64_t)(hi - lo + 1));
}

bool sim_rng_chance(struct sim_rng *r, unsigned per_mille)
{
	return per_mille && sim_rng_next(r) % 1000 < per_mille;
}

/* ---- event queue ---------------------------------------------------------- */

static struct sim_ev *ev_new(struct sim_world *w, enum sim_ev_kind k)
{
	struct sim_ev *e;

	if (w->free_top == 0) {
		fprintf(stderr, "sim: event pool exhausted\n");
		abort();
	}
	e = &w->pool[w->free_list[--w->free_top]];
	memset(e, 0, offsetof(struct sim_ev, fe));
	e->kind = k;
	return e;
}

static void ev_at(struct sim_world *w, struct sim_ev *e, int64_t t)
{
	unsigned i = w->n_heap++;
	struct sim_hent h = { t < w->now ? w->now : t, ++w->seq,
			      (unsigned)(e - w->pool) };

	while (i > 0) {
		unsigned p = (i - 1) / 2;

		if (w->heap[p].t < h.t || (w->heap[p].t == h.t && w->heap[p].seq < h.seq))
			break;
		w->heap[i] = w->heap[p];
		i = p;
	}
	w->heap[i] = h;
}

static bool ev_pop(struct sim_world *w, struct sim_hent *out)
{
	struct sim_hent last;
	unsigned i = 0;

	if (w->n_heap == 0)
		return false;
	*out = w->heap[0];
	last = w->heap[--w->n_heap];
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		const struct sim_hent *best = &last;

		if (l < w->n_heap && (w->heap[l].t < best->t ||
		    (w->heap[l].t == best->t && w->heap[l].seq < best->seq))) {
			m = l;
			best = &w->heap[l];
		}
		if (r < w->n_heap && (w->heap[r].t < best->t ||
		    (w->heap[r].t == best->t && w->heap[r].seq < best->seq)))
			m = r;
		if (m == i)
			break;
		w->heap[i] = w->heap[m];
		i = m;
	}
	if (w->n_heap)
		w->heap[i] = last;
	return true;
}

static void ev_free(struct sim_world *w, struct sim_ev *e)
{
	w->free_list[w->free_top++] = (unsigned)(e - w->pool);
}

/* ---- helpers --------------------------------------------------------------- */

static struct fsm_event fev(struct sim_world *w, int node, enum fsm_event_kind k)
{
	struct fsm_event e;

	memset(&e, 0, sizeof(e));
	e.kind = k;
	e.now_mono_ms = w->now;
	e.now_wall_ms = WALL_BASE + w->now + w->nodes[node].skew_ms;
	return e;
}

static struct sim_ev *fsm_ev_at(struct sim_world *w, int node, int64_t t,
				const struct fsm_event *fe)
{
	struct sim_ev *e = ev_new(w, EV_FSM);

	e->node = node;
	e->inc = w->nodes[node].inc;
	e->fe = *fe;
	ev_at(w, e, t);
	return e;
}

static int vm_by_name(const struct sim_world *w, const char *name)
{
	for (unsigned v = 0; v < w->s->p.vms; v++)
		if (strcmp(w->vms[v].name, name) == 0)
			return (int)v;
	return -1;
}

static int pair_other(const struct sim_world *w, unsigned v, int node)
{
	return w->vms[v].a == node ? w->vms[v].b : w->vms[v].a;
}

static bool on_pair(const struct sim_world *w, unsigned v, int node)
{
	return w->vms[v].a == node || w->vms[v].b == node;
}

static const char *mode_s(enum fsm_colo_mode m)
{
	return fsm_colo_mode_to_str(m);
}

static void trace(struct sim_world *w, int node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void trace(struct sim_world *w, int node, const char *fmt, ...)
{
	va_list ap;

	if (!w->verbose)
		return;
	printf("%8lld.%03lld ", (long long)((w->now - w->t0) / 1000),
	       (long long)(((w->now - w->t0) % 1000 + 1000) % 1000));
	if (node >= 0)
		printf("n%d ", node + 1);
	else
		printf("-- ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void step(struct sim_world *w, int i, struct fsm_event *ev);

/* ---- corosync model --------------------------------------------------------- */

static bool active(const struct sim_world *w, unsigned i)
{
	const struct sim_node *n = &w->nodes[i];

	return n->power && n->cs_up && !n->stalled;
}

bool sim_cs_conn(const struct sim_world *w, unsigned a, unsigned b)
{
	if (a == b)
		return active(w, a);
	return active(w, a) && active(w, b) && !w->nodes[a].egress &&
	       !w->nodes[b].egress && w->nodes[a].group == w->nodes[b].group;
}

/* QEMU-level reachability (TCP between the nodes) */
bool sim_qemu_reach(const struct sim_world *w, unsigned a, unsigned b)
{
	const struct sim_node *x = &w->nodes[a], *y = &w->nodes[b];

	return x->power && y->power && !x->egress && !y->egress &&
	       x->group == y->group;
}

static uint32_t component_calc(const struct sim_world *w, unsigned i)
{
	uint32_t m = 0, frontier;

	if (!active(w, i))
		return 0;
	m = 1u << i;
	do {
		frontier = m;
		for (unsigned a = 0; a < w->s->p.nodes; a++)
			if (m & (1u << a))
				for (unsigned b = 0; b < w->s->p.nodes; b++)
					if (sim_cs_conn(w, a, b))
						m |= 1u << b;
	} while (m != frontier);
	return m;
}

/* components are asked for after every step: cache them per connectivity */
static uint32_t component(const struct sim_world *cw, unsigned i)
{
	struct sim_world *w = (struct sim_world *)cw;
	uint64_t key = 1;

	for (unsigned j = 0; j < w->s->p.nodes; j++) {
		const struct sim_node *n = &w->nodes[j];

		key = key * 131 + (uint64_t)(n->power | n->cs_up << 1 | n->stalled << 2 |
					     n->egress << 3 | (unsigned)n->group << 4);
	}
	if (key != w->comp_key) {
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			w->comp[j] = component_calc(w, j);
		w->comp_key = key;
	}
	return w->comp[i];
}

static bool votequorum(const struct sim_world *w, uint32_t members, unsigned i)
{
	unsigned n = (unsigned)__builtin_popcount(members);

	if (w->s->p.two_node && w->d.expected == 2)
		return n == 2 || (n == 1 && w->nodes[i].wfa_ok);
	return n * 2 > w->d.expected;
}

bool sim_component_quorate(const struct sim_world *w, unsigned i)
{
	uint32_t c = component(w, i);

	return c && votequorum(w, c, i);
}

static bool ring_intact(const struct sim_world *w, unsigned r);

bool sim_node_outside(const struct sim_world *w, unsigned i)
{
	const struct sim_node *n = &w->nodes[i];

	if (!n->power)
		return false;
	/* cut off (truth), or its corosync not (yet) in a quorate ring that still
	 * exists: a node whose stall just ended holds its old ring, which the
	 * others left (seed 14141006: counted inside, it voided the self wait) */
	return !n->cs_up || n->stalled || !sim_component_quorate(w, i) ||
	       !n->ring || !ring_intact(w, n->ring) ||
	       !votequorum(w, w->rings[n->ring].members, i);
}

static bool ring_intact(const struct sim_world *w, unsigned r)
{
	uint32_t m;

	if (r == 0)
		return false;
	m = w->rings[r].members;
	for (unsigned a = 0; a < w->s->p.nodes; a++) {
		if (!(m & (1u << a)))
			continue;
		if (w->nodes[a].ring != r || !active(w, a))
			return false;
		for (unsigned b = a + 1; b < w->s->p.nodes; b++)
			if ((m & (1u << b)) && !sim_cs_conn(w, a, b))
				return false;
	}
	return true;
}

static uint32_t cpg_members(const struct sim_world *w, unsigned r)
{
	uint32_t m = 0;

	if (r == 0)
		return 0;
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if ((w->rings[r].members & (1u << j)) && w->nodes[j].arb_up &&
		    w->nodes[j].joined)
			m |= 1u << j;
	return m;
}

/* Deliver node i's CPG view change, computed against what it last saw. */
static void cpg_deliver(struct sim_world *w, unsigned i, uint32_t prev_ring_members,
			bool own_join, uint32_t diverged)
{
	struct sim_node *n = &w->nodes[i];
	uint32_t nv = cpg_members(w, n->ring), ov = n->cpg_view;
	uint32_t left = ov & ~nv, joined = nv & ~ov, again = 0;
	struct fsm_event e;

	if (!n->arb_up)
		return;
	/* an arbiter that restarted unseen: its old process left, a new joined */
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if ((ov & nv & (1u << j)) && n->view_inc[j] != w->nodes[j].inc)
			again |= 1u << j;
	/* members that were in another ring without us left, then join anew */
	left |= again | (diverged & ov & nv);
	joined |= diverged & ov & nv;
	joined |= again;
	if (own_join)
		joined = 1u << i;
	n->cpg_view = nv;
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if (nv & (1u << j))
			n->view_inc[j] = w->nodes[j].inc;
	if (!left && !joined)
		return;
	e = fev(w, (int)i, FSM_EV_CPG_CONFCHG);
	for (unsigned j = 0; j < w->s->p.nodes; j++) {
		if (nv & (1u << j)) {
			e.u.cpg.members[e.u.cpg.n_members].nodeid = j + 1;
			e.u.cpg.members[e.u.cpg.n_members++].pid = 1000 + j;
		}
		if (left & (1u << j)) {
			struct fsm_cpg_member *m = &e.u.cpg.left[e.u.cpg.n_left++];

			m->nodeid = j + 1;
			m->pid = 1000 + j;
			m->reason = !(w->rings[n->ring].members & (1u << j)) ||
				    (diverged & (1u << j)) ?
				    FSM_CPG_NODEDOWN : (again & (1u << j)) ? FSM_CPG_PROCDOWN :
				    w->nodes[j].left_clean ?
				    FSM_CPG_LEAVE : FSM_CPG_PROCDOWN;
		}
		if (joined & (1u << j)) {
			struct fsm_cpg_member *m = &e.u.cpg.joined[e.u.cpg.n_joined++];

			m->nodeid = j + 1;
			m->pid = 1000 + j;
			m->reason = ((prev_ring_members & (1u << j)) || own_join ||
				     (again & (1u << j))) && !(diverged & (1u << j)) ?
				    FSM_CPG_JOIN : FSM_CPG_NODEUP;
		}
	}
	trace(w, (int)i, "cpg confchg members=%#x left=%#x joined=%#x", nv, left, joined);
	step(w, (int)i, &e);
}

static void quorum_notify(struct sim_world *w, unsigned i)
{
	struct sim_node *n = &w->nodes[i];
	struct sim_ev *e;
	int64_t d = sim_rng_range(&w->rng, 0, w->s->p.quorum_delay_max);
	bool q = votequorum(w, w->rings[n->ring].members, i);

	if (!w->quiescent && sim_rng_chance(&w->rng, w->s->p.quorum_slow_pm))
		d = sim_rng_range(&w->rng, 100, 5000);
	e = ev_new(w, EV_FSM);
	e->node = (int)i;
	e->inc = n->inc;
	e->hook = HK_QUORUM;
	e->ring = n->ring;
	e->quorate = q;
	e->fe = fev(w, (int)i, FSM_EV_QUORUM);
	e->fe.u.quorum.quorate = q;
	e->fe.u.quorum.ring.nodeid = w->rings[n->ring].rep;
	e->fe.u.quorum.ring.seq = w->rings[n->ring].seq;
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if (w->rings[n->ring].members & (1u << j))
			e->fe.u.quorum.nodes[e->fe.u.quorum.n_nodes++] = j + 1;
	/* notifications come in order */
	if (w->now + d < n->q_last_due)
		d = n->q_last_due - w->now;
	n->q_last_due = w->now + d;
	ev_at(w, e, w->now + d);
}

static void totem_deliver(struct sim_world *w, unsigned i)
{
	struct sim_node *n = &w->nodes[i];
	struct fsm_event e = fev(w, (int)i, FSM_EV_TOTEM_CONFCHG);

	if (!n->arb_up)
		return;
	e.u.totem.ring.nodeid = w->rings[n->ring].rep;
	e.u.totem.ring.seq = w->rings[n->ring].seq;
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if (w->rings[n->ring].members & (1u << j))
			e.u.totem.nodes[e.u.totem.n_nodes++] = j + 1;
	step(w, (int)i, &e);
}

/* the slot of a transitional view: no ring is ever given it, so what a node
 * sends from that view is never delivered to a later ring's members (the
 * sender's next ring gets it: msg_deliver) */
#define RING_TRANSITIONAL (SIM_RINGS - 1)

static void ring_set(struct sim_world *w, unsigned r, uint32_t members, uint64_t seq)
{
	w->rings[r].members = members;
	w->rings[r].rep = (unsigned)__builtin_ctz(members) + 1;
	w->rings[r].seq = seq;
	w->rings[r].last_deliver = 0;
	for (unsigned j = 0; j < SIM_NODES; j++)
		w->rings[r].cs_epoch[j] = w->nodes[j].cs_epoch;
}

static unsigned ring_new(struct sim_world *w, uint32_t members)
{
	unsigned r;

	if (w->n_rings + 1 >= RING_TRANSITIONAL) {
		fprintf(stderr, "sim: too many rings\n");
		abort();
	}
	r = ++w->n_rings;
	ring_set(w, r, members, (uint64_t)r * 4);
	return r;
}

static void install(struct sim_world *w, unsigned i, unsigned r, uint32_t diverged)
{
	struct sim_node *n = &w->nodes[i];
	uint32_t prev = n->ring ? w->rings[n->ring].members : 0;

	if (prev && n->cpg_view) {
		uint32_t stale = 0;

		for (unsigned j = 0; j < w->s->p.nodes; j++)
			if ((prev & (1u << j)) && j != i &&
			    w->rings[n->ring].cs_epoch[j] != w->nodes[j].cs_epoch)
				stale |= 1u << j;
		if (stale & n->cpg_view) {
			/* its corosync restarted: its members left, then join anew */
			uint32_t keep = n->ring;

			/* a transitional view, not a ring: its own slot (seed
			 * 8095708: with the next ring's index, a FENCING that n1
			 * sent from it reached n2 after n2's confchg without n1) */
			ring_set(w, RING_TRANSITIONAL, prev & ~stale,
				 (uint64_t)(w->n_rings + 1) * 4);
			n->ring = RING_TRANSITIONAL;
			cpg_deliver(w, i, prev, false, 0);
			n->ring = keep;
			prev &= ~stale;
		}
	}
	n->ring = r;
	w->last_view = w->now;
	if (__builtin_popcount(w->rings[r].members) >= 2)
		n->wfa_ok = true;
	trace(w, (int)i, "totem ring %u.%llu members=%#x", w->rings[r].rep,
	      (unsigned long long)w->rings[r].seq, w->rings[r].members);
	cpg_deliver(w, i, prev, false, diverged);
	totem_deliver(w, i);
	quorum_notify(w, i);
}

static void msg_enqueue(struct sim_world *w, int from, unsigned r,
			const struct fsm_msg *m, int64_t t);

static void release_held(struct sim_world *w)
{
	unsigned n = w->n_held;
	unsigned idx[SIM_HELD];

	memcpy(idx, w->held, n * sizeof(idx[0]));
	w->n_held = 0;
	for (unsigned k = 0; k < n; k++) {
		struct sim_ev *e = &w->pool[idx[k]];
		struct sim_node *s = &w->nodes[e->node];

		if (s->power && s->cs_up && s->ring)
			msg_enqueue(w, e->node, e->ring == s->ring ? e->ring : s->ring,
				    &e->msg, w->now);
		ev_free(w, e);
	}
}

static bool shrinks(const struct sim_world *w)
{
	for (unsigned i = 0; i < w->s->p.nodes; i++) {
		const struct sim_node *n = &w->nodes[i];

		if (n->ring && n->power && n->cs_up && !n->stalled &&
		    (w->rings[n->ring].members & ~component(w, i)))
			return true;
	}
	return false;
}

/* an arbiter's cpg_join: one agreed confchg for every member of its ring */
static void cpg_join(struct sim_world *w, unsigned i)
{
	struct sim_node *n = &w->nodes[i];

	if (!n->arb_up || n->joined || !n->cs_up || !ring_intact(w, n->ring))
		return; /* the next ring that forms (or heals) joins it */
	n->joined = true;
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if ((w->rings[n->ring].members & (1u << j)) && w->nodes[j].arb_up &&
		    w->nodes[j].joined)
			cpg_deliver(w, j, w->rings[n->ring].members, j == i, 0);
}

static void recompute(struct sim_world *w)
{
	uint32_t done = 0;
	unsigned prevr[SIM_NODES];

	/* totem drops a member only after token + consensus */
	if (w->now - w->last_break < 3400 && shrinks(w)) {
		ev_at(w, ev_new(w, EV_RECOMPUTE),
		      w->last_break + sim_rng_range(&w->rng, 3400, 3600));
		return;
	}

	for (unsigned i = 0; i < w->s->p.nodes; i++) {
		uint32_t c;
		unsigned r;
		bool same = true;

		if (done & (1u << i) || !active(w, i))
			continue;
		c = component(w, i);
		done |= c;
		r = w->nodes[i].ring;
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			if ((c & (1u << j)) && (w->nodes[j].ring != r || !r ||
						w->rings[r].members != c ||
						w->rings[r].cs_epoch[j] != w->nodes[j].cs_epoch))
				same = false;
		if (same)
			continue;
		r = ring_new(w, c);
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			if (c & (1u << j))
				w->nodes[j].joined = w->nodes[j].arb_up;
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			prevr[j] = w->nodes[j].ring;
		for (unsigned j = 0; j < w->s->p.nodes; j++) {
			uint32_t div = 0;

			if (!(c & (1u << j)))
				continue;
			for (unsigned k = 0; k < w->s->p.nodes; k++)
				if ((c & (1u << k)) && k != j && prevr[k] != prevr[j])
					div |= 1u << k;
			install(w, j, r, div);
		}
	}
	for (unsigned i = 0; i < w->s->p.nodes; i++)
		cpg_join(w, i);
	release_held(w);
}

static void schedule_recompute(struct sim_world *w, int64_t lo, int64_t hi)
{
	ev_at(w, ev_new(w, EV_RECOMPUTE), w->now + sim_rng_range(&w->rng, lo, hi));
}

/* ---- CPG messages ------------------------------------------------------------ */

static void msg_enqueue(struct sim_world *w, int from, unsigned r,
			const struct fsm_msg *m, int64_t t)
{
	struct sim_ev *e = ev_new(w, EV_MSG);

	e->node = from;
	e->ring = r;
	e->msg = *m;
	if (t < w->rings[r].last_deliver)
		t = w->rings[r].last_deliver;
	w->rings[r].last_deliver = t;
	ev_at(w, e, t);
}

static void msg_send(struct sim_world *w, int i, const struct fsm_msg *m)
{
	struct sim_node *n = &w->nodes[i];

	if (!n->cs_up || !n->ring || !n->joined)
		return; /* not (yet) a member: cpg_mcast_joined fails */
	if (!w->quiescent && sim_rng_chance(&w->rng, w->s->p.msg_loss_pm)) {
		/* the daemon keeps its send queue in order and retries */
		n->send_after = w->now + sim_rng_range(&w->rng, 10, 200);
		if (m->kind != FSM_MSG_LIVENESS)
			trace(w, i, "send %s: CS_ERR_TRY_AGAIN, retried", fsm_msg_kind_to_str(m->kind));
	}
	msg_enqueue(w, i, n->ring, m, (w->now > n->send_after ? w->now : n->send_after) +
		    sim_rng_range(&w->rng, 0, 2));
}

static bool any_installed(const struct sim_world *w, unsigned r)
{
	for (unsigned j = 0; j < w->s->p.nodes; j++)
		if (w->nodes[j].ring == r && w->nodes[j].power && w->nodes[j].cs_up)
			return true;
	return false;
}

static void msg_deliver(struct sim_world *w, struct sim_ev *e)
{
	unsigned r = e->ring;
	struct sim_node *s = &w->nodes[e->node];

	if (ring_intact(w, r)) {
		if (w->verbose && e->msg.kind != FSM_MSG_LIVENESS)
			trace(w, e->node, "deliver %s %s n=%llu->%llu in ring %u",
			      fsm_msg_kind_to_str(e->msg.kind), e->msg.vm,
			      (unsigned long long)e->msg.prop.from_n,
			      (unsigned long long)(e->msg.kind == FSM_MSG_STATE ?
				e->msg.epoch.n : e->msg.prop.to.n), r);
		struct fsm_event *fe = &e->fe; /* one copy for every receiver */

		fe->kind = FSM_EV_PEER_MSG;
		fe->u.peer.from = (uint32_t)e->node + 1;
		fe->u.peer.msg = e->msg;
		for (unsigned j = 0; j < w->s->p.nodes; j++) {
			if (!(w->rings[r].members & (1u << j)) || !w->nodes[j].arb_up ||
			    !w->nodes[j].joined)
				continue;
			step(w, (int)j, fe);
		}
		ev_free(w, e);
		return;
	}
	if (any_installed(w, r) && w->n_held < SIM_HELD) {
		w->held[w->n_held++] = (unsigned)(e - w->pool); /* token lost */
		return;
	}
	if (s->power && s->cs_up && s->ring && s->ring != r) {
		msg_enqueue(w, e->node, s->ring, &e->msg, w->now);
	}
	ev_free(w, e);
}

/* ---- QEMU model -------------------------------------------------------------- */

static bool nbd_silent(const struct sim_world *w, int i, unsigned v)
{
	const struct sim_qemu *q = &w->q[i][v];

	return q->mode == FSM_MODE_PRIMARY && !q->yanked &&
	       !sim_qemu_reach(w, (unsigned)i, (unsigned)pair_other(w, v, i));
}

static void qevent(struct sim_world *w, int i, unsigned v, enum fsm_event_kind k,
		   int64_t delay, enum fsm_colo_mode mode,
		   enum fsm_colo_reason reason)
{
	struct sim_qemu *q = &w->q[i][v];
	struct sim_ev *e;

	if (!q->connected || !w->nodes[i].arb_up)
		return; /* events are never replayed to a new connection */
	e = ev_new(w, EV_FSM);
	e->node = i;
	e->vm = (int)v;
	e->inc = w->nodes[i].inc;
	e->hook = HK_QEVENT;
	e->conn = q->conn;
	e->fe = fev(w, i, k);
	snprintf(e->fe.u.qmp.vm, sizeof(e->fe.u.qmp.vm), "%s", w->vms[v].name);
	e->fe.u.qmp.inst = q->inst;
	e->fe.u.qmp.mode = mode;
	e->fe.u.qmp.reason = reason;
	ev_at(w, e, w->now + delay);
}

static void fact(struct sim_world *w, int i, unsigned v, enum fsm_event_kind k,
		 struct fsm_event *fe)
{
	const struct sim_qemu *q = &w->q[i][v];

	*fe = fev(w, i, k);
	snprintf(fe->u.qmp.vm, sizeof(fe->u.qmp.vm), "%s", w->vms[v].name);
	fe->u.qmp.inst = q->inst;
	fe->u.qmp.mode = q->mode;
	fe->u.qmp.last_mode = q->last_mode;
	fe->u.qmp.reason = q->reason;
	fe->u.qmp.run = q->run;
	fe->u.qmp.mig = q->mig;
	if (k == FSM_EV_QMP_YANK_SET) {
		bool p = q->mode == FSM_MODE_PRIMARY || q->last_mode == FSM_MODE_PRIMARY;

		fe->u.qmp.n_yank = p ? 4 : 3;
		snprintf(fe->u.qmp.yank[0], FSM_YANK_NAME_MAX, "migration");
		snprintf(fe->u.qmp.yank[1], FSM_YANK_NAME_MAX, p ? "chardev:mirror0" : "chardev:red0");
		snprintf(fe->u.qmp.yank[2], FSM_YANK_NAME_MAX, p ? "chardev:compare1" : "chardev:red1");
		snprintf(fe->u.qmp.yank[3], FSM_YANK_NAME_MAX, "block-node:#block364");
	}
}

/* facts an (re)connecting monitor learns: query-yank, -colo-status, -status, -migrate */
static void facts_push(struct sim_world *w, int i, unsigned v, int64_t t)
{
	static const enum fsm_event_kind ks[] = {
		FSM_EV_QMP_YANK_SET, FSM_EV_QMP_MIGRATE, FSM_EV_QMP_COLO_STATUS,
		FSM_EV_QMP_STATUS,
	};
	struct sim_qemu *q = &w->q[i][v];

	for (unsigned k = 0; k < 4; k++) {
		struct sim_ev *e = ev_new(w, EV_FSM);

		e->node = i;
		e->vm = (int)v;
		e->inc = w->nodes[i].inc;
		e->hook = HK_QEVENT;
		e->conn = q->conn;
		fact(w, i, v, ks[k], &e->fe);
		ev_at(w, e, t);
	}
}

static void qmp_connect(struct sim_world *w, int i, unsigned v, int64_t t)
{
	struct sim_qemu *q = &w->q[i][v];
	struct fsm_event fe;

	if (!q->present || !q->alive || !w->nodes[i].arb_up)
		return;
	q->connected = true;
	q->conn++;
	fe = fev(w, i, FSM_EV_QMP_CONNECTED);
	snprintf(fe.u.qmp.vm, sizeof(fe.u.qmp.vm), "%s", w->vms[v].name);
	fe.u.qmp.inst = q->inst;
	fsm_ev_at(w, i, t, &fe)->vm = (int)v;
	/* a hung main loop answers nothing in-band (its OOB fds are kept in
	 * systemd's fd store, so yank still works): facts come when unhung */
	if (!q->hung)
		facts_push(w, i, v, t);
	else
		facts_push(w, i, v, INT64_MAX / 4); /* re-pushed on unhang */
}

static void reply(struct sim_world *w, int i, unsigned v, int slot,
		  enum fsm_cmd_result r, int64_t delay)
{
	struct sim_qemu *q = &w->q[i][v];
	struct sim_cmd *c = &q->cmds[slot];
	struct sim_ev *e = ev_new(w, EV_FSM);

	c->state = SC_SENT;
	e->node = i;
	e->vm = (int)v;
	e->inc = w->nodes[i].inc;
	e->hook = HK_REPLY;
	e->conn = c->conn;
	e->slot = slot;
	if (c->cmd == FSM_QMP_QUERY_COLO_STATUS || c->cmd == FSM_QMP_QUERY_STATUS ||
	    c->cmd == FSM_QMP_QUERY_MIGRATE) {
		fact(w, i, v, c->cmd == FSM_QMP_QUERY_COLO_STATUS ? FSM_EV_QMP_COLO_STATUS :
		     c->cmd == FSM_QMP_QUERY_STATUS ? FSM_EV_QMP_STATUS :
		     FSM_EV_QMP_MIGRATE, &e->fe);
		e->fe.u.qmp.tagged = true;
		e->fe.u.qmp.tag = c->tag;
	} else {
		e->fe = fev(w, i, FSM_EV_QMP_RESULT);
		e->fe.u.result.tag = c->tag;
		e->fe.u.result.cmd = c->cmd;
		e->fe.u.result.result = r;
	}
	ev_at(w, e, w->now + delay);
}

static void side_paused(struct sim_world *w, int i, unsigned v)
{
	struct sim_qemu *q = &w->q[i][v];

	if (q->run != FSM_RUN_PAUSED) {
		q->run = FSM_RUN_PAUSED;
		qevent(w, i, v, FSM_EV_QMP_STOP, 0, q->mode, q->reason);
	}
}

static void peer_colo_exit(struct sim_world *w, int i, unsigned v, int64_t lo,
			   int64_t hi)
{
	int o = pair_other(w, v, i);
	struct sim_qemu *s = &w->q[o][v];
	struct sim_ev *e;

	/* the peer's COLO thread reads EOF/RST: only if reachable */
	if (!s->alive || s->mode != FSM_MODE_SECONDARY || s->exit_sent ||
	    s->gen != w->q[i][v].gen || !sim_qemu_reach(w, (unsigned)i, (unsigned)o))
		return;
	e = ev_new(w, EV_COLO_EXIT);
	e->node = o;
	e->vm = (int)v;
	e->pid = s->inst.pid;
	e->gen = s->gen;
	ev_at(w, e, w->now + sim_rng_range(&w->rng, lo, hi));
}

static void schedule_ckpt(struct sim_world *w, int i, unsigned v)
{
	struct sim_qemu *p = &w->q[i][v];
	struct sim_ev *e;

	if (!p->alive || p->mode != FSM_MODE_PRIMARY || p->exit_sent)
		return;
	e = ev_new(w, EV_CKPT);
	e->node = i;
	e->vm = (int)v;
	e->pid = p->inst.pid;
	e->gen = p->gen;
	ev_at(w, e, w->now + sim_rng_range(&w->rng, 500, 20000));
}

static void cmd_exec(struct sim_world *w, int i, unsigned v, int slot);

static void unhang(struct sim_world *w, int i, unsigned v)
{
	struct sim_qemu *q = &w->q[i][v];
	int stuck = -1;

	if (!q->hung)
		return;
	q->hung = false;
	trace(w, i, "qemu %s: main loop unblocked (flush failed: EIO)", w->vms[v].name);
	for (int k = 0; k < SIM_CMDS; k++)
		if (q->cmds[k].used && q->cmds[k].state == SC_STUCK)
			stuck = k;
	if (stuck >= 0)
		cmd_exec(w, i, v, stuck);
	/* queued in-band commands in issue order */
	for (;;) {
		int best = -1;

		for (int k = 0; k < SIM_CMDS; k++)
			if (q->cmds[k].used && q->cmds[k].state == SC_QUEUED &&
			    (best < 0 || q->cmds[k].tag.seq < q->cmds[best].tag.seq))
				best = k;
		if (best < 0 || q->hung)
			break;
		cmd_exec(w, i, v, best);
	}
	if (q->connected)
		facts_push(w, i, v, w->now + 1);
}

static void hang(struct sim_world *w, int i, unsigned v, int slot)
{
	struct sim_qemu *q = &w->q[i][v];

	q->hung = true;
	q->cmds[slot].state = SC_STUCK;
	trace(w, i, "qemu %s: main loop HUNG in NBD flush to a silent peer (%s)",
	      w->vms[v].name, fsm_qmp_cmd_to_str(q->cmds[slot].cmd));
}

static void reactive(struct sim_world *w, int i);

static void start_failover(struct sim_world *w, int i, unsigned v, int slot)
{
	struct sim_qemu *q = &w->q[i][v];
	bool prim = q->mode == FSM_MODE_PRIMARY;
	int64_t t_reply = prim ? sim_rng_range(&w->rng, 1, 3) :
			  sim_rng_range(&w->rng, 13, 19);
	int64_t t_done = t_reply + (prim ? sim_rng_range(&w->rng, 0, 1) :
				    sim_rng_range(&w->rng, 0, 12));
	struct sim_ev *e;

	sim_check_lhb_exec(w, (unsigned)i, v, &q->cmds[slot]);
	q->fo_pending = true;
	q->lhb_runs++;
	q->lhb_gen_ok = (int64_t)q->gen + 1;
	side_paused(w, i, v);
	trace(w, i, "qemu %s: x-colo-lost-heartbeat runs (%s), reply in %lld ms, RESUME in %lld ms",
	      w->vms[v].name, mode_s(q->mode), (long long)t_reply, (long long)t_done);
	reply(w, i, v, slot, FSM_RES_RETURN, t_reply);
	reactive(w, i);
	e = ev_new(w, EV_FO_DONE);
	e->node = i;
	e->vm = (int)v;
	e->pid = q->inst.pid;
	ev_at(w, e, w->now + t_done);
}

static void cmd_exec(struct sim_world *w, int i, unsigned v, int slot)
{
	struct sim_qemu *q = &w->q[i][v];
	struct sim_cmd *c = &q->cmds[slot];
	bool in_colo = q->mode == FSM_MODE_PRIMARY || q->mode == FSM_MODE_SECONDARY;

	if (!q->alive) {
		c->used = false;
		return;
	}
	if (q->hung && c->cmd != FSM_QMP_YANK && c->state != SC_STUCK) {
		c->state = SC_QUEUED;
		return;
	}
	switch (c->cmd) {
	case FSM_QMP_YANK:
		q->yanked = true;
		trace(w, i, "qemu %s: exec-oob yank", w->vms[v].name);
		reply(w, i, v, slot, FSM_RES_RETURN, sim_rng_range(&w->rng, 1, 2));
		if (q->mode == FSM_MODE_PRIMARY) {
			peer_colo_exit(w, i, v, 1, 5);
			schedule_ckpt(w, i, v);
		} else if (q->mode == FSM_MODE_SECONDARY && !q->exit_sent) {
			struct sim_ev *e = ev_new(w, EV_COLO_EXIT);

			e->node = i;
			e->vm = (int)v;
			e->pid = q->inst.pid;
			e->gen = q->gen;
			ev_at(w, e, w->now + sim_rng_range(&w->rng, 1, 5));
		}
		unhang(w, i, v);
		return;
	case FSM_QMP_LOST_HEARTBEAT:
		if (!in_colo || q->fo_pending) {
			reply(w, i, v, slot, FSM_RES_ERROR, 1);
			return;
		}
		if (q->mode == FSM_MODE_PRIMARY && nbd_silent(w, i, v)) {
			side_paused(w, i, v); /* vm_stop: vCPUs stop at once */
			sim_check_lhb_exec(w, (unsigned)i, v, c);
			hang(w, i, v, slot);
			return;
		}
		start_failover(w, i, v, slot);
		return;
	case FSM_QMP_STOP:
		side_paused(w, i, v);
		trace(w, i, "qemu %s: stop -> paused", w->vms[v].name);
		if (nbd_silent(w, i, v) && c->state != SC_STUCK) {
			hang(w, i, v, slot);
			return;
		}
		reply(w, i, v, slot, FSM_RES_RETURN, 1);
		return;
	case FSM_QMP_PRE:
		if (nbd_silent(w, i, v) && c->state != SC_STUCK) {
			hang(w, i, v, slot); /* blockdev-del flushes */
			return;
		}
		reply(w, i, v, slot, FSM_RES_RETURN, 1);
		return;
	case FSM_QMP_CONT:
		if (q->run != FSM_RUN_RUNNING) {
			q->run = FSM_RUN_RUNNING;
			trace(w, i, "qemu %s: cont -> running", w->vms[v].name);
			qevent(w, i, v, FSM_EV_QMP_RESUME, 0, q->mode, q->reason);
		}
		reply(w, i, v, slot, FSM_RES_RETURN, 1);
		return;
	case FSM_QMP_QUIT: {
		struct sim_ev *e = ev_new(w, EV_KILL_LAND);

		e->node = i;
		e->vm = (int)v;
		e->pid = q->inst.pid;
		ev_at(w, e, w->now + sim_rng_range(&w->rng, 18, 35));
		reply(w, i, v, slot, FSM_RES_RETURN, 2);
		return;
	}
	case FSM_QMP_POST:
	case FSM_QMP_QUERY_COLO_STATUS:
	case FSM_QMP_QUERY_STATUS:
	case FSM_QMP_QUERY_MIGRATE:
		reply(w, i, v, slot, FSM_RES_RETURN, sim_rng_range(&w->rng, 0, 1));
		return;
	}
}

static void qmp_action(struct sim_world *w, int i, const struct fsm_action *a)
{
	int v = vm_by_name(w, a->u.qmp.vm);
	struct sim_qemu *q;
	struct sim_cmd *c = NULL;
	struct fsm_event fe;
	int slot = -1;

	if (v < 0)
		return;
	q = &w->q[i][v];
	w->last_qmp = w->now;
	trace(w, i, "qmp %s %s%s epoch=%llu", a->u.qmp.vm,
	      fsm_qmp_cmd_to_str(a->u.qmp.cmd), a->u.qmp.oob ? " (oob)" : "",
	      (unsigned long long)a->u.qmp.tag.epoch);
	sim_check_cmd(w, (unsigned)i, (unsigned)v, a->u.qmp.cmd, q->alive && q->connected);
	if (!q->present || !q->alive || !q->connected) {
		fe = fev(w, i, FSM_EV_QMP_RESULT);
		fe.u.result.tag = a->u.qmp.tag;
		fe.u.result.cmd = a->u.qmp.cmd;
		fe.u.result.result = FSM_RES_NOT_DELIVERED;
		fsm_ev_at(w, i, w->now + 1, &fe);
		return;
	}
	for (int k = 0; k < SIM_CMDS; k++)
		if (!q->cmds[k].used) {
			slot = k;
			break;
		}
	if (slot < 0) {
		sim_violate(w, 0, "n%d %s: more than %d QMP commands outstanding",
			    i + 1, a->u.qmp.vm, SIM_CMDS);
		return;
	}
	c = &q->cmds[slot];
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->tag = a->u.qmp.tag;
	c->cmd = a->u.qmp.cmd;
	c->index = a->u.qmp.index;
	c->issued = w->now;
	c->conn = q->conn;
	c->state = SC_QUEUED;
	if (c->cmd == FSM_QMP_YANK) {
		cmd_exec(w, i, (unsigned)v, slot); /* OOB: at once, even when hung */
	} else {
		struct sim_ev *e = ev_new(w, EV_CMD_EXEC);

		e->node = i;
		e->vm = v;
		e->slot = slot;
		e->pid = q->inst.pid;
		e->conn = q->conn;
		e->gen = (uint32_t)c->tag.seq;
		ev_at(w, e, w->now + sim_rng_range(&w->rng, 0, 1));
	}
}

/* The QEMU process dies (SIGKILL lands, crash, quit). */
static void qemu_dies(struct sim_world *w, int i, unsigned v, bool pidfd)
{
	struct sim_qemu *q = &w->q[i][v];
	bool was_p = q->mode == FSM_MODE_PRIMARY, was_s = q->mode == FSM_MODE_SECONDARY;
	struct fsm_event fe;

	if (!q->alive)
		return;
	trace(w, i, "qemu %s pid %u exits", w->vms[v].name, q->inst.pid);
	q->alive = false;
	q->hung = false;
	q->fo_pending = false;
	if (pidfd && w->nodes[i].arb_up) {
		/* monitor hang-up: what was not answered is NOT_DELIVERED */
		for (int k = 0; k < SIM_CMDS; k++) {
			struct sim_cmd *c = &q->cmds[k];

			if (!c->used || c->conn != q->conn || !q->connected)
				continue;
			fe = fev(w, i, FSM_EV_QMP_RESULT);
			fe.u.result.tag = c->tag;
			fe.u.result.cmd = c->cmd;
			fe.u.result.result = FSM_RES_NOT_DELIVERED;
			fsm_ev_at(w, i, w->now + 1, &fe);
		}
		fe = fev(w, i, FSM_EV_QEMU_EXITED);
		snprintf(fe.u.qmp.vm, sizeof(fe.u.qmp.vm), "%s", w->vms[v].name);
		fe.u.qmp.inst = q->inst;
		fsm_ev_at(w, i, w->now + 1, &fe);
	}
	memset(q->cmds, 0, sizeof(q->cmds));
	q->connected = false;
	q->conn++;
	if (was_p && pidfd)
		peer_colo_exit(w, i, v, 2, 4);
	if (was_s) {
		int o = pair_other(w, v, i);

		if (w->q[o][v].gen == q->gen && pidfd &&
		    sim_qemu_reach(w, (unsigned)i, (unsigned)o))
			schedule_ckpt(w, o, v);
	}
}

/* ---- arbiter lifecycle ------------------------------------------------------- */

static struct fsm_config node_cfg(const struct sim_world *w, int i)
{
	struct fsm_config c = w->d.cfg;

	c.local_nodeid = (uint32_t)i + 1;
	/* every step also proves its skipped VMs had nothing to do */
	c.check_skips = true;
	return c;
}

static void persist_crash(struct sim_world *w, int i)
{
	struct sim_node *n = &w->nodes[i];
	unsigned land = (unsigned)sim_rng_range(&w->rng, 0, n->n_writes);

	/* an unsynced write may or may not have reached the disk, in order */
	for (unsigned k = 0; k < land; k++) {
		n->durable[n->writes[k].vm] = n->writes[k].rec;
		n->durable_has[n->writes[k].vm] = true;
	}
	n->n_writes = 0;
	memcpy(n->disk, n->durable, sizeof(n->disk));
	memcpy(n->disk_has, n->durable_has, sizeof(n->disk_has));
}

/* The device resets the node WATCHDOG_MS after its last ping: a pet, the
 * release of an active device without the magic close, or its start. */
static void wd_ping(struct sim_world *w, int i, const char *how)
{
	struct sim_node *n = &w->nodes[i];
	struct sim_ev *e = ev_new(w, EV_WATCHDOG);

	if (!n->wd_armed || how)
		trace(w, i, "watchdog %s", how ? how : "started");
	n->wd_armed = true;
	e->node = i;
	e->arg = (int)++n->wd_gen;
	ev_at(w, e, w->now + WATCHDOG_MS);
}

/* the daemon's pet timer (daemon_watchdog.c), with the same rule */
static void wd_tick(struct sim_world *w, int i)
{
	struct sim_node *n = &w->nodes[i];
	int64_t period = fsm_watchdog_period_ms(WATCHDOG_MS, w->d.cfg.liveness_period_ms);
	bool keep = n->wd_held;
	bool pet = fsm_watchdog_tick(n->f, w->now, WATCHDOG_MS, period, n->wd_held, &keep);
	struct sim_ev *e;

	if (w->s->p.disable & SIM_WD_HOLD_ALWAYS) {
		pet = fsm_watchdog_may_pet(n->f, w->now, WATCHDOG_MS);
		keep = true;
	}
	if (pet)
		wd_ping(w, i, NULL);
	if (n->wd_held && !keep)
		wd_ping(w, i, "let go");
	n->wd_held = keep;
	e = ev_new(w, EV_PET_TICK);
	e->node = i;
	e->inc = n->inc;
	ev_at(w, e, w->now + period);
}

static void arb_kill(struct sim_world *w, int i, enum fsm_cpg_reason why,
		     bool silent)
{
	struct sim_node *n = &w->nodes[i];

	if (!n->arb_up)
		return;
	trace(w, i, "arbiter %s", why == FSM_CPG_LEAVE ? "stops (LEAVE)" : "dies");
	fsm_free(n->f);
	n->f = NULL;
	n->arb_up = false;
	n->joined = false;
	n->left_clean = why == FSM_CPG_LEAVE;
	n->inc++;
	n->arb_down_since = w->now;
	n->cpg_view = 0;
	memset(n->timers, 0, sizeof(n->timers));
	memset(n->fence_pending_for, 0, sizeof(n->fence_pending_for));
	persist_crash(w, i);
	for (unsigned v = 0; v < w->s->p.vms; v++) {
		struct sim_qemu *q = &w->q[i][v];

		/* hang-up: queued commands are mostly dropped (d1: 5 of 6) */
		for (int k = 0; k < SIM_CMDS; k++)
			if (q->cmds[k].used && q->cmds[k].state == SC_QUEUED &&
			    !sim_rng_chance(&w->rng, 167))
				q->cmds[k].used = false;
		q->connected = false;
		q->conn++;
	}
	if (silent)
		return;
	for (unsigned j = 0; j < w->s->p.nodes; j++) {
		struct sim_ev *e;

		if ((int)j == i || w->nodes[j].ring != n->ring || !n->ring)
			continue;
		e = ev_new(w, EV_CPG_REFRESH);
		e->node = (int)j;
		ev_at(w, e, w->now + 3);
	}
	if (why == FSM_CPG_LEAVE) {
		/* the magic close */
		n->wd_armed = false;
		n->wd_gen++;
	} else if (n->wd_held) {
		/* the kernel pings a watchdog released without the magic close */
		wd_ping(w, i, "released by the dying arbiter");
	}
	n->wd_held = false;
}

static void power_off(struct sim_world *w, int i, const char *why);

/* new handles: the initial totem conf and the quorum state come at once;
 * the group join is one agreed confchg for every member, a little later */
static void initial_view(struct sim_world *w, int i)
{
	struct sim_node *n = &w->nodes[i];
	struct fsm_event fe;

	totem_deliver(w, (unsigned)i);
	if (n->q_ring) {
		fe = fev(w, i, FSM_EV_QUORUM);
		fe.u.quorum.quorate = n->q_quorate;
		fe.u.quorum.ring.nodeid = w->rings[n->q_ring].rep;
		fe.u.quorum.ring.seq = w->rings[n->q_ring].seq;
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			if (w->rings[n->q_ring].members & (1u << j))
				fe.u.quorum.nodes[fe.u.quorum.n_nodes++] = j + 1;
		step(w, i, &fe);
	}
}

static void arb_start(struct sim_world *w, int i)
{
	struct sim_node *n = &w->nodes[i];
	struct fsm_config cfg = node_cfg(w, i);
	struct fsm_persist recs[SIM_VMS];
	unsigned nr = 0;
	struct fsm_event fe;
	struct sim_ev *tick;

	if (!n->power || n->arb_up)
		return;
	n->f = fsm_new(&cfg);
	if (!n->f) {
		sim_violate(w, 0, "fsm_new refused the config");
		return;
	}
	n->arb_up = true;
	n->arb_up_since = w->now;
	n->left_clean = false;
	n->inc++;
	n->n_writes = 0;
	trace(w, i, "arbiter starts");
	if (w->s->p.disable & SIM_WD_HOLD_ALWAYS) {
		wd_ping(w, i, "opened, WDIOC_SETTIMEOUT");
		n->wd_held = true;
	}
	tick = ev_new(w, EV_PET_TICK); /* the device is only checked at start */
	tick->node = i;
	tick->inc = n->inc;
	ev_at(w, tick, w->now + fsm_watchdog_period_ms(WATCHDOG_MS, cfg.liveness_period_ms));
	for (unsigned v = 0; v < SIM_VMS; v++)
		if (n->durable_has[v])
			recs[nr++] = n->durable[v];
	fe = fev(w, i, FSM_EV_START);
	fe.u.start.n = nr;
	fe.u.start.recs = recs;
	step(w, i, &fe);
	for (unsigned v = 0; v < w->s->p.vms; v++) {
		if (!on_pair(w, v, i))
			continue;
		fe = fev(w, i, FSM_EV_ADMIN);
		fe.u.admin.kind = FSM_ADMIN_VM_ADD;
		snprintf(fe.u.admin.vm, sizeof(fe.u.admin.vm), "%s", w->vms[v].name);
		fe.u.admin.peer_node = (uint32_t)pair_other(w, v, i) + 1;
		fe.u.admin.n_pre = 1;
		fe.u.admin.n_post = 1;
		step(w, i, &fe);
		if (w->q[i][v].present && w->q[i][v].alive) {
			qmp_connect(w, i, v, w->now + 1);
		} else if (n->durable_has[v] && n->durable[v].named) {
			/* pidfd_open() of the recorded instance: ESRCH */
			fe = fev(w, i, FSM_EV_QEMU_EXITED);
			snprintf(fe.u.qmp.vm, sizeof(fe.u.qmp.vm), "%s", w->vms[v].name);
			fe.u.qmp.inst = n->durable[v].named_inst;
			step(w, i, &fe);
		}
	}
	if (!n->cs_up || n->stalled) {
		/* no corosync, or one that is not scheduled: the IPC calls
		 * fail or block (A2), so the handles count as lost */
		fe = fev(w, i, FSM_EV_IPC);
		step(w, i, &fe);
		n->ipc_blocked = n->stalled;
		return;
	}
	if (!n->ring)
		return;
	initial_view(w, i);
	{
		struct sim_ev *e = ev_new(w, EV_CPG_JOIN);

		e->node = i;
		e->inc = n->inc;
		ev_at(w, e, w->now + sim_rng_range(&w->rng, 17, 25));
	}
}

static void power_off(struct sim_world *w, int i, const char *why)
{
	struct sim_node *n = &w->nodes[i];

	if (!n->power)
		return;
	trace(w, i, "POWER OFF (%s)", why);
	arb_kill(w, i, FSM_CPG_PROCDOWN, true);
	w->last_break = w->now;
	n->power = false;
	n->wd_armed = false;
	n->wd_held = false;
	n->wd_gen++;
	n->cs_up = false;
	n->stalled = false;
	n->egress = false;
	n->ring = 0;
	n->q_ring = 0;
	n->cpg_view = 0;
	n->wfa_ok = false;
	for (unsigned v = 0; v < w->s->p.vms; v++)
		qemu_dies(w, i, v, false); /* silently: no FIN, no RST */
	schedule_recompute(w, 3400, 3600);
}

static void power_on(struct sim_world *w, int i)
{
	struct sim_node *n = &w->nodes[i];
	struct sim_ev *e;

	if (n->power)
		return;
	trace(w, i, "POWER ON (reboot: no QEMU started)");
	n->power = true;
	n->cs_up = true;
	n->cs_epoch++;
	n->group = 0;
	for (unsigned v = 0; v < w->s->p.vms; v++)
		w->q[i][v].present = false;
	install(w, (unsigned)i, ring_new(w, 1u << i), 0);
	e = ev_new(w, EV_ARB_START);
	e->node = i;
	ev_at(w, e, w->now + sim_rng_range(&w->rng, 300, 1000));
	schedule_recompute(w, 2100, 2300);
}

/* ---- fencing --------------------------------------------------------------- */

static void fence_request(struct sim_world *w, int i, uint32_t victim)
{
	struct sim_ev *e;
	int64_t due;
	bool slow = !w->quiescent && sim_rng_chance(&w->rng, w->s->p.fence_slow_pm);

	if (victim == 0 || victim > w->s->p.nodes)
		return;
	trace(w, i, "FENCE request for n%u%s", victim, slow ? " (slow)" : "");
	e = ev_new(w, EV_FENCE);
	e->node = i;
	e->inc = w->nodes[i].inc;
	e->arg = (int)victim - 1;
	e->quorate = w->quiescent || !sim_rng_chance(&w->rng, w->s->p.fence_fail_pm);
	due = w->now + (slow ? sim_rng_range(&w->rng, 10000, 60000) :
			sim_rng_range(&w->rng, 300, w->s->p.fence_fast_max));
	if (due > w->fence_max_due)
		w->fence_max_due = due;
	ev_at(w, e, due);
}

static void fence_land(struct sim_world *w, struct sim_ev *e)
{
	struct sim_node *f = &w->nodes[e->node];
	struct fsm_event fe;
	bool ok = e->quorate && f->power;

	if (ok) {
		power_off(w, e->arg, "fenced");
		if (sim_rng_chance(&w->rng, 500)) {
			struct sim_ev *p = ev_new(w, EV_POWER_ON);

			p->node = e->arg;
			ev_at(w, p, w->now + sim_rng_range(&w->rng, 15000, 40000));
		}
	}
	trace(w, e->node, "fence of n%d %s", e->arg + 1, ok ? "succeeded" : "FAILED");
	if (!f->arb_up || f->inc != e->inc)
		return; /* the worker's parent is gone: result lost */
	fe = fev(w, e->node, FSM_EV_FENCE_RESULT);
	fe.u.fence.nodeid = (uint32_t)e->arg + 1;
	fe.u.fence.success = ok;
	fe.u.fence.fence_wall_s = (WALL_BASE + w->now + f->skew_ms) / 1000;
	step(w, e->node, &fe);
}

/* ---- fsm actions --------------------------------------------------------------- */

static void timer_set(struct sim_world *w, int i, const struct fsm_action *a)
{
	struct sim_node *n = &w->nodes[i];
	struct sim_timer *t = NULL;
	struct sim_ev *e;

	for (int k = 0; k < SIM_TIMERS; k++)
		if (n->timers[k].used && n->timers[k].id == a->u.timer.id &&
		    n->timers[k].vm == a->u.timer.vm) {
			t = &n->timers[k];
			break;
		}
	for (int k = 0; !t && k < SIM_TIMERS; k++)
		if (!n->timers[k].used)
			t = &n->timers[k];
	if (!t) {
		sim_violate(w, 0, "n%d: too many timers", i + 1);
		return;
	}
	t->used = true;
	t->id = a->u.timer.id;
	t->vm = a->u.timer.vm;
	t->due = a->u.timer.due_mono_ms;
	t->gen++;
	e = ev_new(w, EV_TIMER);
	e->node = i;
	e->inc = n->inc;
	e->slot = (int)(t - n->timers);
	e->gen = t->gen;
	ev_at(w, e, t->due);
}

static void persist_action(struct sim_world *w, int i, const struct fsm_action *a)
{
	struct sim_node *n = &w->nodes[i];
	int v = vm_by_name(w, a->u.persist.rec.vm);
	struct sim_ev *e;
	int64_t t;

	if (v < 0)
		return;
	sim_check_persist(w, (unsigned)i, (unsigned)v, &a->u.persist.rec);
	n->disk[v] = a->u.persist.rec;
	n->disk_has[v] = true;
	if (n->n_writes < SIM_WRITES) {
		n->writes[n->n_writes].vm = (unsigned)v;
		n->writes[n->n_writes].rec = a->u.persist.rec;
		n->writes[n->n_writes++].seq = a->u.persist.seq;
	}
	t = w->now + sim_rng_range(&w->rng, 0, 3);
	if (t < n->persist_last_due)
		t = n->persist_last_due;
	n->persist_last_due = t;
	e = ev_new(w, EV_FSM);
	e->node = i;
	e->inc = n->inc;
	e->hook = HK_PERSIST;
	e->gen = (uint32_t)a->u.persist.seq;
	e->fe = fev(w, i, FSM_EV_PERSIST_DONE);
	snprintf(e->fe.u.persisted.vm, sizeof(e->fe.u.persisted.vm), "%s",
		 a->u.persist.rec.vm);
	e->fe.u.persisted.seq = a->u.persist.seq;
	ev_at(w, e, t);
}

static void kill_action(struct sim_world *w, int i, const struct fsm_action *a)
{
	int v = vm_by_name(w, a->u.kill.vm);
	struct sim_qemu *q;
	struct sim_ev *e;

	if (v < 0)
		return;
	q = &w->q[i][v];
	trace(w, i, "KILL %s pid %u", a->u.kill.vm, a->u.kill.inst.pid);
	if (!q->alive || q->inst.pid != a->u.kill.inst.pid || q->kill_pending)
		return;
	q->kill_pending = true;
	e = ev_new(w, EV_KILL_LAND);
	e->node = i;
	e->vm = v;
	e->pid = q->inst.pid;
	ev_at(w, e, w->now + sim_rng_range(&w->rng, 1, 30));
}

static void do_actions(struct sim_world *w, int i, struct fsm_actions *out)
{
	struct sim_node *n = &w->nodes[i];

	if (out->overflow)
		sim_violate(w, 0, "n%d: action list overflow", i + 1);
	for (unsigned k = 0; k < out->n; k++) {
		const struct fsm_action *a = &out->a[k];
		int v;

		switch (a->kind) {
		case FSM_ACT_QMP:
			qmp_action(w, i, a);
			break;
		case FSM_ACT_SEND:
			if (a->u.send.kind == FSM_MSG_ACK) {
				v = vm_by_name(w, a->u.send.vm);
				if (v >= 0)
					sim_check_ack(w, (unsigned)i, (unsigned)v,
						      &a->u.send.prop);
			}
			if (w->verbose && a->u.send.kind != FSM_MSG_LIVENESS &&
			    a->u.send.kind != FSM_MSG_STATE &&
			    a->u.send.kind != FSM_MSG_SYNC_DONE)
				trace(w, i, "send %s %s %llu->%llu %s holder n%u",
				      fsm_msg_kind_to_str(a->u.send.kind), a->u.send.vm,
				      (unsigned long long)a->u.send.prop.from_n,
				      (unsigned long long)a->u.send.prop.to.n,
				      fsm_epoch_kind_to_str(a->u.send.prop.to.kind),
				      a->u.send.prop.to.holder);
			msg_send(w, i, &a->u.send);
			break;
		case FSM_ACT_PERSIST:
			persist_action(w, i, a);
			break;
		case FSM_ACT_FENCE:
			fence_request(w, i, a->u.fence.nodeid);
			break;
		case FSM_ACT_TIMER_START:
			timer_set(w, i, a);
			break;
		case FSM_ACT_TIMER_CANCEL:
			break;
		case FSM_ACT_KILL:
			kill_action(w, i, a);
			break;
		case FSM_ACT_STATUS:
			v = vm_by_name(w, a->u.status.vm);
			if (v < 0)
				break;
			if (n->status[v] != a->u.status.status)
				trace(w, i, "status %s %s where=n%u (%s)", a->u.status.vm,
				      fsm_vm_status_to_str(a->u.status.status),
				      a->u.status.where, a->u.status.why ? a->u.status.why : "");
			n->status[v] = a->u.status.status;
			n->status_where[v] = a->u.status.where;
			n->status_why[v] = a->u.status.why;
			break;
		case FSM_ACT_AUDIT:
			break;
		}
	}
	fsm_actions_reset(out);
}

static void step(struct sim_world *w, int i, struct fsm_event *ev)
{
	struct sim_node *n = &w->nodes[i];
	int rc;

	if (!n->arb_up || !n->f)
		return;
	/* queued events carry the time they are read, not when made */
	ev->now_mono_ms = w->now;
	ev->now_wall_ms = WALL_BASE + w->now + n->skew_ms;
	w->steps++;
	rc = fsm_step(n->f, ev, w->out);
	if (rc < 0) {
		sim_violate(w, 0, "n%d: fsm_step(%s) = %d", i + 1,
			    fsm_event_kind_to_str(ev->kind), rc);
		fsm_actions_reset(w->out);
		return;
	}
	if (fsm_skip_misses(n->f))
		sim_violate(w, 0, "n%d: fsm_step(%s) skipped a VM whose decision would have "
			    "acted (incremental re-derivation)", i + 1,
			    fsm_event_kind_to_str(ev->kind));
	do_actions(w, i, w->out);
}

/* ---- faults ------------------------------------------------------------------- */

static int solo_side(const struct sim_world *w, unsigned v)
{
	int who = -1;

	for (unsigned i = 0; i < w->s->p.nodes; i++)
		if (on_pair(w, v, (int)i) && sim_alone(&w->q[i][v]))
			who = who < 0 ? (int)i : -2;
	return who;
}

static void resync(struct sim_world *w, unsigned v)
{
	int h = solo_side(w, v), o;
	struct sim_qemu *p, *s;

	if (h < 0)
		return;
	o = pair_other(w, v, h);
	if (!w->nodes[o].power || !sim_qemu_reach(w, (unsigned)h, (unsigned)o))
		return;
	p = &w->q[h][v];
	s = &w->q[o][v];
	if (s->alive) {
		trace(w, o, "pacemaker stops the old %s side", w->vms[v].name);
		qemu_dies(w, o, v, true);
	}
	/* Pacemaker starts a new secondary (-incoming: mode none, inmigrate) */
	memset(s, 0, sizeof(*s));
	s->present = s->alive = true;
	s->inst.pid = w->pid_next++;
	s->inst.start = 7000 + s->inst.pid;
	s->mode = FSM_MODE_NONE;
	s->last_mode = FSM_MODE_NONE;
	s->run = FSM_RUN_PAUSED;
	s->mig = FSM_MIG_ACTIVE;
	s->gen = 0;
	s->conn = 100;
	trace(w, o, "RESYNC %s: pacemaker starts secondary pid %u (incoming)",
	      w->vms[v].name, s->inst.pid);
	qmp_connect(w, o, v, w->now + 1);
	{
		struct sim_ev *e = ev_new(w, EV_RESYNC_COLO);

		e->node = h;
		e->vm = (int)v;
		e->pid = p->inst.pid;
		e->arg = (int)s->inst.pid;
		ev_at(w, e, w->now + sim_rng_range(&w->rng, 300, 600));
	}
}

/* The migration completes and both sides enter COLO (a new pairing). */
static void resync_colo(struct sim_world *w, int h, unsigned v, uint32_t ppid,
			uint32_t spid)
{
	int o = pair_other(w, v, h);
	struct sim_qemu *p = &w->q[h][v], *s = &w->q[o][v];

	if (!sim_alone(p) || p->inst.pid != ppid || !s->alive || s->inst.pid != spid ||
	    !sim_qemu_reach(w, (unsigned)h, (unsigned)o))
		return;
	w->vms[v].gen++;
	w->vms[v].reset = false;
	s->mode = FSM_MODE_SECONDARY;
	s->run = FSM_RUN_RUNNING;
	s->mig = FSM_MIG_NONE;
	s->gen = w->vms[v].gen;
	s->gen_start = w->now;
	s->have = p->have;
	p->last_mode = FSM_MODE_NONE;
	p->mode = FSM_MODE_PRIMARY;
	p->reason = FSM_REASON_NONE;
	p->mig = FSM_MIG_COLO;
	p->gen = w->vms[v].gen;
	p->gen_start = w->now;
	p->exit_sent = p->yanked = false;
	s->exit_sent = s->yanked = false;
	trace(w, h, "RESYNC %s: in COLO again, primary here, secondary pid %u on n%d",
	      w->vms[v].name, s->inst.pid, o + 1);
	for (int side = 0; side < 2; side++) {
		int i = side ? o : h;
		struct sim_qemu *q = side ? s : p;

		if (!q->connected || q->hung)
			continue;
		for (int k = 0; k < 3; k++) {
			struct sim_ev *e = ev_new(w, EV_FSM);

			e->node = i;
			e->vm = (int)v;
			e->inc = w->nodes[i].inc;
			e->hook = HK_QEVENT;
			e->conn = q->conn;
			fact(w, i, v, k == 0 ? FSM_EV_QMP_MIGRATE : k == 1 ?
			     FSM_EV_QMP_COLO_STATUS : FSM_EV_QMP_STATUS, &e->fe);
			ev_at(w, e, w->now + 1);
		}
	}
}

static void fault(struct sim_world *w, const struct sim_fault *f)
{
	int i = f->node ? f->node - 1 : 0;
	unsigned v = f->vm < w->s->p.vms ? f->vm : 0;
	struct sim_node *n = &w->nodes[i];
	struct sim_ev *e;

	if (w->verbose) {
		printf("%8lld.%03lld == FAULT %s", (long long)((w->now - w->t0) / 1000),
		       (long long)((w->now - w->t0) % 1000), sim_fault_to_str(f->kind));
		if (f->kind == SF_PARTITION) {
			for (unsigned j = 0; j < w->s->p.nodes; j++)
				printf(" n%u:%u", j + 1, f->groups[j]);
		} else if (f->kind != SF_HEAL && f->kind != SF_RESET && f->kind != SF_RESYNC) {
			printf(" n%d", i + 1);
		}
		if (f->kind == SF_QEMU_KILL || f->kind == SF_RESET || f->kind == SF_RESYNC ||
		    f->kind == SF_QMP_DROP)
			printf(" %s", w->vms[v].name);
		if (f->dur)
			printf(" dur=%lld", (long long)f->dur);
		printf("\n");
	}
	switch (f->kind) {
	case SF_PARTITION:
	w->last_break = w->now;
		for (unsigned j = 0; j < w->s->p.nodes; j++)
			w->nodes[j].group = f->groups[j];
		schedule_recompute(w, 3400, 3600);
		break;
	case SF_HEAL:
		for (unsigned j = 0; j < w->s->p.nodes; j++) {
			w->nodes[j].group = 0;
			w->nodes[j].egress = false;
		}
		schedule_recompute(w, 1700, 2000);
		break;
	case SF_POWER_OFF:
		power_off(w, i, "power");
		break;
	case SF_POWER_ON:
		power_on(w, i);
		break;
	case SF_STALL:
		if (!n->power || !n->cs_up)
			break;
	w->last_break = w->now;
		n->stalled = true;
		n->egress = true;
		schedule_recompute(w, 3400, 3600);
		e = ev_new(w, EV_STALL_END);
		e->node = i;
		ev_at(w, e, w->now + f->dur);
		break;
	case SF_CS_CRASH:
		if (!n->power || !n->cs_up)
			break;
	w->last_break = w->now;
		n->cs_up = false;
		n->cs_down_at = w->now;
		n->stalled = false;
		n->ring = 0;
		n->q_ring = 0;
		n->cpg_view = 0;
		n->wfa_ok = false;
		if (n->arb_up) {
			struct fsm_event fe = fev(w, i, FSM_EV_IPC);

			fsm_ev_at(w, i, w->now + sim_rng_range(&w->rng, 7, 11), &fe);
		}
		schedule_recompute(w, 3400, 3600);
		e = ev_new(w, EV_CS_START);
		e->node = i;
		ev_at(w, e, w->now + f->dur);
		break;
	case SF_ARB_CRASH:
	case SF_ARB_LEAVE:
		if (!n->arb_up)
			break;
		arb_kill(w, i, f->kind == SF_ARB_LEAVE ? FSM_CPG_LEAVE : FSM_CPG_PROCDOWN,
			 false);
		if (f->dur > 0) {
			e = ev_new(w, EV_ARB_START);
			e->node = i;
			ev_at(w, e, w->now + f->dur);
		}
		break;
	case SF_QEMU_KILL:
		if (on_pair(w, v, i))
			qemu_dies(w, i, v, true);
		break;
	case SF_RESET: {
		int a = w->vms[v].a, b = w->vms[v].b;

		if (w->q[a][v].gen != w->q[b][v].gen)
			break;
		w->vms[v].reset = true;
		w->vms[v].break_seen = false;
		for (int k = 0; k < 2; k++) {
			int s = k ? b : a;

			if (w->q[s][v].alive && w->q[s][v].mode == FSM_MODE_SECONDARY &&
			    !w->q[s][v].exit_sent) {
				e = ev_new(w, EV_COLO_EXIT);
				e->node = s;
				e->vm = (int)v;
				e->pid = w->q[s][v].inst.pid;
				e->gen = w->q[s][v].gen;
				ev_at(w, e, w->now + sim_rng_range(&w->rng, 4, 14));
			}
			if (w->q[s][v].alive && w->q[s][v].mode == FSM_MODE_PRIMARY)
				schedule_ckpt(w, s, v);
		}
		break;
	}
	case SF_QMP_DROP: {
		struct sim_qemu *q = &w->q[i][v];
		struct fsm_event fe;

		if (!on_pair(w, v, i) || !q->alive || !q->connected || !n->arb_up)
			break;
		for (int k = 0; k < SIM_CMDS; k++) {
			struct sim_cmd *c = &q->cmds[k];

			if (!c->used)
				continue;
			if (c->state == SC_QUEUED && !sim_rng_chance(&w->rng, 167))
				c->used = false; /* dropped before dispatch */
			fe = fev(w, i, FSM_EV_QMP_RESULT);
			fe.u.result.tag = c->tag;
			fe.u.result.cmd = c->cmd;
			fe.u.result.result = FSM_RES_NOT_DELIVERED;
			fsm_ev_at(w, i, w->now, &fe);
			if (c->state == SC_SENT)
				c->used = false;
		}
		q->connected = false;
		q->conn++;
		fe = fev(w, i, FSM_EV_QMP_LOST);
		snprintf(fe.u.qmp.vm, sizeof(fe.u.qmp.vm), "%s", w->vms[v].name);
		fe.u.qmp.inst = q->inst;
		fsm_ev_at(w, i, w->now, &fe);
		e = ev_new(w, EV_QMP_RECONNECT);
		e->node = i;
		e->vm = (int)v;
		e->inc = n->inc;
		ev_at(w, e, w->now + (f->dur ? f->dur : 50));
		break;
	}
	case SF_RESYNC:
		resync(w, v);
		break;
	case SF_CS_CRASH_AFTER_LHB:
	case SF_POWER_AFTER_LHB:
	case SF_KIND_COUNT:
		break; /* reactive: armed in sim_run */
	}
}

/* reactive faults fire off a failover command */
static void reactive(struct sim_world *w, int i)
{
	for (unsigned k = 0; k < w->s->n; k++) {
		const struct sim_fault *f = &w->s->f[k];
		struct sim_ev *e;

		if ((f->kind != SF_CS_CRASH_AFTER_LHB && f->kind != SF_POWER_AFTER_LHB) ||
		    (w->reactive_fired & (1u << k)) || w->now < w->t0 + f->at)
			continue;
		if (f->kind == SF_CS_CRASH_AFTER_LHB && f->node != i + 1)
			continue;
		w->reactive_fired |= 1u << k;
		e = ev_new(w, EV_FAULT);
		e->arg = (int)k + 1000;
		ev_at(w, e, w->now + f->dur);
	}
}

/* ---- the run ------------------------------------------------------------------ */

struct sim_world *sim_world_new(void)
{
	struct sim_world *w = calloc(1, sizeof(*w));

	if (!w)
		abort();
	w->pool = calloc(SIM_POOL, sizeof(*w->pool));
	w->out = calloc(1, sizeof(*w->out));
	if (!w->pool || !w->out)
		abort();
	return w;
}

void sim_world_free(struct sim_world *w)
{
	if (!w)
		return;
	for (unsigned i = 0; i < SIM_NODES; i++)
		fsm_free(w->nodes[i].f);
	free(w->pool);
	fsm_actions_release(w->out);
	free(w->out);
	free(w);
}

static void world_reset(struct sim_world *w, const struct sim_schedule *s)
{
	struct sim_ev *pool = w->pool;
	struct fsm_actions *out = w->out;

	for (unsigned i = 0; i < SIM_NODES; i++)
		fsm_free(w->nodes[i].f);
	memset(w, 0, offsetof(struct sim_world, pool));
	w->pool = pool;
	w->out = out;
	w->s = s;
	for (unsigned k = 0; k < SIM_POOL; k++)
		w->free_list[k] = SIM_POOL - 1 - k;
	w->free_top = SIM_POOL;
	fsm_config_defaults(&w->d.cfg);
	w->d.expected = s->p.nodes;
	w->d.cfg.expected_votes = s->p.nodes;
	w->d.cfg.fence_policy = s->p.policy;
	w->d.cfg.two_node = s->p.two_node;
	w->d.cfg.freeze_colo_primaries = s->p.freeze_colo_primaries;
	w->d.cfg.test_disable = s->p.disable & ~(SIM_NO_WATCHDOG | SIM_WD_HOLD_ALWAYS);
	w->d.cfg.audit = false;
	w->pid_next = 4000;
}

static void boot(struct sim_world *w)
{
	const struct sim_params *p = &w->s->p;
	unsigned r;

	for (unsigned i = 0; i < p->nodes; i++) {
		struct sim_node *n = &w->nodes[i];

		n->id = i + 1;
		n->power = n->cs_up = true;
		n->skew_ms = sim_rng_range(&w->rng, -400, 400);
	}
	for (unsigned v = 0; v < p->vms; v++) {
		struct sim_vm *vm = &w->vms[v];

		snprintf(vm->name, sizeof(vm->name), "v%u", v);
		vm->a = p->vm_p[v] - 1;
		vm->b = p->vm_s[v] - 1;
		vm->gen = 1;
		for (int k = 0; k < 2; k++) {
			struct sim_qemu *q = &w->q[k ? vm->b : vm->a][v];

			q->present = q->alive = true;
			q->inst.pid = w->pid_next++;
			q->inst.start = 7000 + q->inst.pid;
			q->mode = k ? FSM_MODE_SECONDARY : FSM_MODE_PRIMARY;
			q->last_mode = FSM_MODE_NONE;
			q->run = FSM_RUN_RUNNING;
			q->mig = k ? FSM_MIG_NONE : FSM_MIG_COLO;
			q->gen = 1;
			q->conn = 100;
		}
	}
	r = ring_new(w, (1u << p->nodes) - 1);
	for (unsigned i = 0; i < p->nodes; i++) {
		w->nodes[i].ring = r;
		w->nodes[i].wfa_ok = true;
	}
	for (unsigned i = 0; i < p->nodes; i++)
		arb_start(w, (int)i);
	for (unsigned i = 0; i < p->nodes; i++)
		quorum_notify(w, i);
}

static void handle(struct sim_world *w, struct sim_ev *e)
{
	struct sim_node *n = e->node >= 0 && e->node < SIM_NODES ? &w->nodes[e->node] : NULL;

	switch (e->kind) {
	case EV_FSM:
		if (e->hook == HK_QUORUM) {
			n->q_ring = e->ring;
			n->q_quorate = e->quorate;
		}
		if (e->hook == HK_PERSIST && n->inc == e->inc) {
			unsigned k = 0;

			for (; k < n->n_writes && n->writes[k].seq <= e->gen; k++) {
				n->durable[n->writes[k].vm] = n->writes[k].rec;
				n->durable_has[n->writes[k].vm] = true;
			}
			memmove(n->writes, n->writes + k, (n->n_writes - k) * sizeof(n->writes[0]));
			n->n_writes -= k;
		}
		if (e->hook == HK_REPLY || e->hook == HK_QEVENT) {
			struct sim_qemu *q = &w->q[e->node][e->vm];

			if (e->hook == HK_REPLY && q->cmds[e->slot].used &&
			    q->cmds[e->slot].conn == e->conn)
				q->cmds[e->slot].used = false;
			if (q->conn != e->conn || !q->connected)
				break; /* hung up before it was read */
		}
		/* quorum state is corosync's: any arbiter incarnation gets it */
		if (n->inc != e->inc && e->hook != HK_QUORUM)
			break;
		if (e->hook == HK_QUORUM)
			trace(w, e->node, "quorum quorate=%d ring %u", e->quorate, e->ring);
		if (e->hook == HK_QEVENT && e->fe.kind == FSM_EV_QMP_COLO_EXIT &&
		    e->fe.u.qmp.reason == FSM_REASON_ERROR)
			w->vms[e->vm].break_seen = true;
		step(w, e->node, &e->fe);
		break;
	case EV_MSG:
		msg_deliver(w, e);
		return; /* msg_deliver owns e */
	case EV_TIMER: {
		struct sim_timer *t = &n->timers[e->slot];
		struct fsm_event fe;

		if (n->inc != e->inc || !t->used || t->gen != e->gen)
			break;
		t->used = false;
		fe = fev(w, e->node, FSM_EV_TIMER);
		fe.u.timer.id = t->id;
		fe.u.timer.vm = t->vm;
		step(w, e->node, &fe);
		break;
	}
	case EV_FAULT:
		if (e->arg >= 1000) {
			struct sim_fault f = w->s->f[e->arg - 1000];

			f.kind = f.kind == SF_POWER_AFTER_LHB ? SF_POWER_OFF : SF_CS_CRASH;
			if (f.kind == SF_CS_CRASH)
				f.dur = 12000; /* long enough to pass the freeze bound */
			fault(w, &f);
		} else {
			fault(w, &w->s->f[e->arg]);
		}
		break;
	case EV_RECOMPUTE:
		recompute(w);
		break;
	case EV_FO_DONE: {
		struct sim_qemu *q = &w->q[e->node][e->vm];
		bool prim = q->mode == FSM_MODE_PRIMARY;

		if (!q->alive || q->inst.pid != e->pid || !q->fo_pending)
			break;
		q->fo_pending = false;
		q->last_mode = q->mode;
		q->mode = FSM_MODE_NONE;
		q->reason = FSM_REASON_REQUEST;
		q->mig = FSM_MIG_COMPLETED;
		q->run = FSM_RUN_RUNNING; /* QEMU's own vm_start */
		trace(w, e->node, "qemu %s: failover done: mode none, RUNNING",
		      w->vms[e->vm].name);
		if (!q->exit_sent) {
			q->exit_sent = true;
			qevent(w, e->node, (unsigned)e->vm, FSM_EV_QMP_COLO_EXIT, 0,
			       q->last_mode, sim_rng_chance(&w->rng, 200) ?
			       FSM_REASON_ERROR : FSM_REASON_REQUEST);
		}
		qevent(w, e->node, (unsigned)e->vm, FSM_EV_QMP_RESUME, 0, q->mode, q->reason);
		if (prim)
			peer_colo_exit(w, e->node, (unsigned)e->vm, 1, 5);
		break;
	}
	case EV_CKPT: {
		struct sim_qemu *q = &w->q[e->node][e->vm];

		if (!q->alive || q->inst.pid != e->pid || q->gen != e->gen ||
		    q->mode != FSM_MODE_PRIMARY || q->exit_sent ||
		    sim_pair_healthy(w, (unsigned)e->vm))
			break;
		if (q->hung || nbd_silent(w, e->node, (unsigned)e->vm)) {
			/* not modelled: the checkpoint's own hang on a silent
			 * peer; it fails once the peer answers (RST) or a yank */
			struct sim_ev *x = ev_new(w, EV_CKPT);

			x->node = e->node;
			x->vm = e->vm;
			x->pid = e->pid;
			x->gen = e->gen;
			ev_at(w, x, w->now + sim_rng_range(&w->rng, 500, 5000));
			break;
		}
		q->exit_sent = true;
		trace(w, e->node, "qemu %s: checkpoint fails: COLO_EXIT{primary,error}",
		      w->vms[e->vm].name);
		qevent(w, e->node, (unsigned)e->vm, FSM_EV_QMP_COLO_EXIT, 0,
		       FSM_MODE_PRIMARY, FSM_REASON_ERROR);
		break;
	}
	case EV_COLO_EXIT: {
		struct sim_qemu *q = &w->q[e->node][e->vm];

		if (!q->alive || q->inst.pid != e->pid || q->gen != e->gen ||
		    q->exit_sent || q->mode != FSM_MODE_SECONDARY)
			break;
		q->exit_sent = true;
		trace(w, e->node, "qemu %s: COLO_EXIT{secondary,error}", w->vms[e->vm].name);
		qevent(w, e->node, (unsigned)e->vm, FSM_EV_QMP_COLO_EXIT, 0,
		       FSM_MODE_SECONDARY, FSM_REASON_ERROR);
		break;
	}
	case EV_KILL_LAND: {
		struct sim_qemu *q = &w->q[e->node][e->vm];

		if (q->alive && q->inst.pid == e->pid)
			qemu_dies(w, e->node, (unsigned)e->vm, true);
		break;
	}
	case EV_CMD_EXEC: {
		struct sim_qemu *q = &w->q[e->node][e->vm];
		struct sim_cmd *c = &q->cmds[e->slot];

		if (!q->alive || q->inst.pid != e->pid || !c->used ||
		    c->tag.seq != (uint64_t)e->gen || c->state != SC_QUEUED)
			break;
		cmd_exec(w, e->node, (unsigned)e->vm, e->slot);
		break;
	}
	case EV_FENCE:
		fence_land(w, e);
		break;
	case EV_ARB_START:
		arb_start(w, e->node);
		break;
	case EV_CS_START: {
		struct sim_ev *x;

		if (!n->power || n->cs_up)
			break;
		trace(w, e->node, "corosync restarts");
		n->cs_up = true;
		n->cs_epoch++;
		x = ev_new(w, EV_CS_PRIVATE);
		x->node = e->node;
		ev_at(w, x, w->now + 60);
		if (n->arb_up) {
			struct fsm_event fe = fev(w, e->node, FSM_EV_IPC);

			fe.u.ipc.cpg_ok = fe.u.ipc.quorum_ok = true;
			fsm_ev_at(w, e->node, w->now + 50, &fe);
		}
		schedule_recompute(w, 2100, 2300);
		break;
	}
	case EV_CS_PRIVATE:
		if (n->power && n->cs_up && !n->ring)
			install(w, (unsigned)e->node, ring_new(w, 1u << e->node), 0);
		break;
	case EV_STALL_END:
		if (!n->stalled)
			break;
		trace(w, e->node, "corosync stall ends");
		n->stalled = false;
		if (n->ipc_blocked && n->arb_up) {
			struct fsm_event fe = fev(w, e->node, FSM_EV_IPC);

			fe.u.ipc.cpg_ok = fe.u.ipc.quorum_ok = true;
			step(w, e->node, &fe);
			if (n->ring)
				initial_view(w, e->node);
		}
		n->ipc_blocked = false;
		schedule_recompute(w, 0, 0);
		break;
	case EV_POWER_ON:
		power_on(w, e->node);
		break;
	case EV_QMP_RECONNECT:
		if (n->inc == e->inc && !w->q[e->node][e->vm].connected)
			qmp_connect(w, e->node, (unsigned)e->vm, w->now);
		break;
	case EV_CPG_JOIN:
		if (n->inc == e->inc)
			cpg_join(w, (unsigned)e->node);
		break;
	case EV_CPG_REFRESH:
		if (n->arb_up && n->cs_up && ring_intact(w, n->ring))
			cpg_deliver(w, (unsigned)e->node, w->rings[n->ring].members, false, 0);
		break;
	case EV_PET_TICK:
		if (n->arb_up && n->inc == e->inc && n->f && !(w->s->p.disable & SIM_NO_WATCHDOG))
			wd_tick(w, e->node);
		break;
	case EV_WATCHDOG:
		if (n->wd_armed && n->power && (uint32_t)e->arg == n->wd_gen) {
			struct sim_ev *p = ev_new(w, EV_POWER_ON);

			power_off(w, e->node, "watchdog: no ping for its timeout");
			p->node = e->node;
			ev_at(w, p, w->now + sim_rng_range(&w->rng, 15000, 40000));
		}
		break;
	case EV_RESYNC_COLO:
		resync_colo(w, e->node, (unsigned)e->vm, e->pid, (uint32_t)e->arg);
		break;
	case EV_END_FAULTS:
		/* faults stop: the network heals, stalls end, fences work */
		w->quiescent = true;
		trace(w, -1, "faults stop: heal, no loss, fences succeed");
		for (unsigned j = 0; j < w->s->p.nodes; j++) {
			w->nodes[j].group = 0;
			w->nodes[j].egress = false;
			if (w->nodes[j].stalled) {
				struct sim_ev *x = ev_new(w, EV_STALL_END);

				x->node = (int)j;
				ev_at(w, x, w->now);
			}
		}
		schedule_recompute(w, 3400, 3600);
		/* D + W + a failover, or the last pending fence, with margin */
		w->end = w->now + 25000;
		w->next_settle = w->now + 4000;
		if (w->fence_max_due + 15000 > w->end)
			w->end = w->fence_max_due + 15000;
		break;
	}
	ev_free(w, e);
}

/* After the faults stopped: nothing left but timers and messages, one
 * quorate ring, every VM running alone or protected, no command for 3 s.
 * Ending there instead of at the full bound keeps make check fast; every
 * invariant is still checked at that point (liveness included). */
static bool settled(struct sim_world *w)
{
	uint32_t all = 0;
	unsigned r = 0;

	if (!w->quiescent || w->now - w->last_qmp < 3000 || w->now < w->fence_max_due)
		return false;
	for (unsigned k = 0; k < w->n_heap; k++) {
		enum sim_ev_kind kd = w->pool[w->heap[k].idx].kind;

		if (kd != EV_TIMER && kd != EV_MSG && kd != EV_FSM && kd != EV_CPG_REFRESH)
			return false;
	}
	for (unsigned i = 0; i < w->s->p.nodes; i++) {
		const struct sim_node *n = &w->nodes[i];

		if (!n->power)
			continue;
		if (!n->cs_up || n->stalled || !n->arb_up || !n->joined || !n->ring ||
		    n->q_ring != n->ring || !n->q_quorate || (r && n->ring != r))
			return false;
		r = n->ring;
		all |= 1u << i;
	}
	if (!r || w->rings[r].members != all)
		return false;
	for (unsigned v = 0; v < w->s->p.vms; v++) {
		bool ok = sim_pair_healthy(w, v);

		for (unsigned i = 0; i < w->s->p.nodes; i++)
			if (sim_alone(&w->q[i][v]))
				ok = true;
		if (!ok)
			return false;
	}
	return true;
}

bool sim_run(struct sim_world *w, const struct sim_schedule *s, int verbose)
{
	struct sim_hent h;
	int64_t last_fault = 0;

	world_reset(w, s);
	w->verbose = verbose;
	sim_rng_seed(&w->rng, s->seed ^ 0x5eedf00dULL);
	w->quiescent = true; /* a clean boot: no loss, no slow quorum */
	w->verbose = verbose > 1 ? verbose : 0; /* the boot is the same every time */
	boot(w);
	w->end = BOOT_MS;
	while (ev_pop(w, &h)) {
		if (h.t > BOOT_MS) {
			ev_at(w, &w->pool[h.idx], h.t);
			break;
		}
		w->now = h.t;
		handle(w, &w->pool[h.idx]);
	}
	w->now = BOOT_MS;
	w->t0 = BOOT_MS;
	w->quiescent = false;
	w->verbose = verbose;
	w->last_release_t = w->now;
	for (unsigned v = 0; v < s->p.vms; v++) {
		const struct sim_node *a = &w->nodes[w->vms[v].a];

		if (!a->disk_has[v] || a->disk[v].epoch.kind != FSM_EPOCH_COLO)
			sim_violate(w, 0, "boot: %s has no committed COLO epoch", w->vms[v].name);
	}
	if (w->verbose)
		printf("     0.000 -- booted: every pair in COLO with a committed COLO epoch\n");
	for (unsigned k = 0; k < s->n; k++) {
		struct sim_ev *e;

		if (s->f[k].at + s->f[k].dur > last_fault)
			last_fault = s->f[k].at + s->f[k].dur;
		if (s->f[k].kind == SF_CS_CRASH_AFTER_LHB || s->f[k].kind == SF_POWER_AFTER_LHB)
			continue;
		e = ev_new(w, EV_FAULT);
		e->arg = (int)k;
		ev_at(w, e, w->t0 + s->f[k].at);
		if (s->f[k].at + s->f[k].dur > last_fault)
			last_fault = s->f[k].at + s->f[k].dur;
	}
	/* faults keep acting for a while (detection, waits), then stop */
	w->faults_end = w->t0 + last_fault + 14000;
	ev_at(w, ev_new(w, EV_END_FAULTS), w->faults_end);
	w->end = INT64_MAX / 4;
	while (!w->v.hit && ev_pop(w, &h)) {
		if (h.t > w->end && w->quiescent) {
			/* a late reboot (fence, watchdog) changed the view: give
			 * the cluster D + W + a failover from there */
			const struct fsm_config *c = &w->d.cfg;
			int64_t settle = w->last_view + c->liveness_period_ms +
					 c->liveness_bound_ms + c->self_fence_timeout_ms +
					 c->kill_time_ms + 1000 + 4000;

			if (settle > w->end)
				w->end = settle;
		}
		if (w->quiescent && h.t >= w->next_settle) {
			w->next_settle = h.t + 1000;
			if (settled(w))
				w->end = h.t - 1;
		}
		if (h.t > w->end) {
			ev_at(w, &w->pool[h.idx], h.t);
			break;
		}
		w->now = h.t;
		sim_release(w);
		handle(w, &w->pool[h.idx]);
		sim_disturb_update(w);
		sim_check_step(w);
	}
	if (!w->v.hit) {
		w->now = w->end;
		sim_release(w);
		sim_check_end(w);
	}
	/* drain */
	while (ev_pop(w, &h)) {
		struct sim_ev *e = &w->pool[h.idx];

		ev_free(w, e);
	}
	for (unsigned k = 0; k < w->n_held; k++)
		ev_free(w, &w->pool[w->held[k]]);
	w->n_held = 0;
	if (w->v.hit && w->verbose)
		printf("VIOLATION of invariant %d at %+.3f s: %s\n", w->v.inv,
		       (double)(w->v.t - w->t0) / 1000.0, w->v.what);
	return w->v.hit;
}
