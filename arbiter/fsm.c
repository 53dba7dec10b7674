/*
 * fsm.c: the step function of the decision core: cluster view (totem ring,
 * quorum, CPG members), the A1 gate, own liveness, the state-sync barrier
 * and fence proofs.  The epoch protocol is in fsm_epoch.c, per-VM rules and
 * QMP sequences in fsm_vm.c.
 *
 * Must not: do I/O, read a clock (time comes in the event), keep globals,
 * use randomness, or log.  Every effect is an action appended to `out`.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"
#include "fsm_state.h"

void fsm_config_defaults(struct fsm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fence_policy = FSM_FENCE_PACEMAKER;
	cfg->no_quorum = FSM_NOQUORUM_FREEZE;
	cfg->expected_votes = 3;
	/* token: 1000 lab: D_max ~3.6 s (+25%), P = 500 ms, jitter 400 ms (H1) */
	cfg->liveness_period_ms = 500;
	cfg->liveness_bound_ms = 5400;
	cfg->self_fence_timeout_ms = 2000;
	cfg->kill_time_ms = 500;
	cfg->t_arb_ms = 10000;
	cfg->skew_max_s = 1;
	cfg->state_period_ms = 5000;
	cfg->commit_timeout_ms = 3000;
	cfg->cmd_timeout_ms = 2000;
	cfg->audit = true;
}

int fsm_config_check(const struct fsm_config *cfg, const char **why)
{
	const char *w = NULL;

	if (cfg->local_nodeid == 0)
		w = "local nodeid must be set";
	else if (cfg->expected_votes == 0 || cfg->expected_votes > FSM_MAX_NODES)
		w = "expected_votes out of range";
	else if (cfg->liveness_period_ms <= 0 ||
		 cfg->liveness_bound_ms <= cfg->liveness_period_ms)
		w = "liveness bound B must exceed the period P (H1)";
	else if (cfg->self_fence_timeout_ms <= 0)
		w = "self_fence_timeout must be positive";
	else if (cfg->fence_policy == FSM_FENCE_SELF &&
		 (cfg->two_node || cfg->last_man_standing) &&
		 !(cfg->test_disable & FSM_MECH_TWO_NODE))
		w = "fencing policy 'self' is refused where two partitions can "
		    "both be quorate (two_node, last_man_standing): SAFETY C3";
	if (why)
		*why = w;
	return w ? -EINVAL : 0;
}

struct fsm *fsm_new(const struct fsm_config *cfg)
{
	struct fsm *f;

	if (fsm_config_check(cfg, NULL) < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = *cfg;
	f->ipc_cpg = f->ipc_quorum = true;
	f->inputs_gen = 1;
	fsm_node_get(f, cfg->local_nodeid, true);
	return f;
}

uint64_t fsm_skip_misses(const struct fsm *f)
{
	return f ? f->skip_misses : 0;
}

uint64_t fsm_rederived(const struct fsm *f)
{
	return f ? f->rederived : 0;
}

void fsm_free(struct fsm *f)
{
	if (!f)
		return;
	fsm_table_free(f);
	free(f->pend);
	free(f);
}

void fsm_actions_reset(struct fsm_actions *out)
{
	for (unsigned i = 0; i < out->n; i++)
		if (out->a[i].kind == FSM_ACT_AUDIT)
			free(out->a[i].u.audit.text);
	out->n = 0;
	out->overflow = false;
}

void fsm_actions_release(struct fsm_actions *out)
{
	if (!out)
		return;
	fsm_actions_reset(out);
	free(out->a);
	out->a = NULL;
	out->cap = 0;
}

/* Doubling: a 500-VM node loss appends thousands of actions in one step. */
static bool actions_grow(struct fsm_actions *out)
{
	unsigned cap = out->cap ? out->cap * 2 : 64;
	struct fsm_action *a;

	if (out->cap >= FSM_MAX_ACTIONS)
		return false;
	if (cap > FSM_MAX_ACTIONS)
		cap = FSM_MAX_ACTIONS;
	a = realloc(out->a, (size_t)cap * sizeof(*a));
	if (!a)
		return false;
	out->a = a;
	out->cap = cap;
	return true;
}

/* The returned action is valid until the next fsm_act() (the array moves). */
struct fsm_action *fsm_act(struct fsm *f, struct fsm_actions *out,
			   enum fsm_action_kind kind)
{
	struct fsm_action *a;

	(void)f;
	if (out->n >= out->cap && !actions_grow(out)) {
		/* the caller still writes somewhere harmless; the daemon and
		 * the tests see the flag */
		out->overflow = true;
		memset(&out->spill, 0, sizeof(out->spill));
		return &out->spill;
	}
	a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

void fsm_send(struct fsm *f, struct fsm_actions *out, const struct fsm_msg *m)
{
	struct fsm_action *a = fsm_act(f, out, FSM_ACT_SEND);

	a->u.send = *m;
	a->u.send.ring = f->rc;
}

static void timer_start(struct fsm *f, struct fsm_actions *out,
			enum fsm_timer_id id, uint32_t vm, int64_t due)
{
	struct fsm_action *a = fsm_act(f, out, FSM_ACT_TIMER_START);

	a->u.timer.id = id;
	a->u.timer.vm = vm;
	a->u.timer.due_mono_ms = due;
}

struct fsm_node *fsm_node_get(struct fsm *f, uint32_t nodeid, bool create)
{
	struct fsm_node *fr = NULL;

	if (nodeid == 0)
		return NULL;
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		if (f->nodes[i].used && f->nodes[i].nodeid == nodeid)
			return &f->nodes[i];
		if (!f->nodes[i].used && !fr)
			fr = &f->nodes[i];
	}
	if (!create || !fr)
		return NULL;
	memset(fr, 0, sizeof(*fr));
	fr->used = true;
	fr->nodeid = nodeid;
	if ((unsigned)(fr - f->nodes) >= f->n_node_slots)
		f->n_node_slots = (unsigned)(fr - f->nodes) + 1;
	/* H4: a node first heard of now was alive no later than now;
	 * a restarted arbiter thus uses its own start time (or later) */
	fr->last_alive_mono = f->now_mono;
	fr->last_alive_wall_ms = f->now_wall_ms;
	/* rule 5 likewise: its arbiter, if away, is away since now at most,
	 * not since boot (a restarted arbiter would fence at once) */
	fr->arb_gone_mono = f->now_mono;
	return fr;
}

void fsm_node_alive(struct fsm *f, uint32_t nodeid)
{
	struct fsm_node *n = fsm_node_get(f, nodeid, true);

	if (!n)
		return;
	n->last_alive_mono = f->now_mono;
	n->last_alive_wall_ms = f->now_wall_ms;
}

static bool ring_eq(const struct fsm_ring_id *a, const struct fsm_ring_id *b)
{
	return a->nodeid == b->nodeid && a->seq == b->seq;
}

bool fsm_inst_eq(const struct fsm_instance *a, const struct fsm_instance *b)
{
	return a->pid == b->pid && a->start == b->start;
}

bool fsm_epoch_names(const struct fsm_epoch *e, uint32_t node,
		     const struct fsm_instance *inst)
{
	if (e->kind == FSM_EPOCH_NONE)
		return false;
	if (e->holder == node && fsm_inst_eq(&e->hinst, inst))
		return true;
	return e->kind == FSM_EPOCH_COLO && e->secondary == node &&
	       fsm_inst_eq(&e->sinst, inst);
}

/* NULL if the A1 gate is open, else why it is closed. */
const char *fsm_gate_reason(const struct fsm *f)
{
	if (!f->started)
		return "starting";
	if (!f->ipc_cpg || !f->ipc_quorum)
		return "ipc";
	if (fsm_mech(f, FSM_MECH_QUORUM_GATE) && (!f->have_quorum || !f->quorate))
		return "inquorate";
	if (fsm_mech(f, FSM_MECH_RING_ID_AGREEMENT) &&
	    (!f->have_totem || !f->have_quorum || !ring_eq(&f->rq, &f->rc) ||
	     f->cpg_ahead))
		return "ring-id";
	if (fsm_mech(f, FSM_MECH_OWN_LIVENESS) &&
	    (!f->live_ok || !f->live_in_rc ||
	     f->now_mono - f->live_sent > f->cfg.liveness_bound_ms))
		return "liveness";
	if (fsm_mech(f, FSM_MECH_BARRIER) && f->barrier_pending)
		return "barrier";
	return NULL;
}

bool fsm_gate_open(const struct fsm *f)
{
	return fsm_gate_reason(f) == NULL;
}

int64_t fsm_watchdog_stop_by(const struct fsm *f)
{
	return f->live_sent + f->cfg.liveness_bound_ms + f->cfg.self_fence_timeout_ms +
	       f->cfg.kill_time_ms;
}

bool fsm_watchdog_may_pet(const struct fsm *f, int64_t now_mono, int64_t timeout_ms)
{
	int64_t stop_by = fsm_watchdog_stop_by(f);

	if (f->started && fsm_gate_open(f) && now_mono + timeout_ms <= stop_by)
		return true;
	/* gate closed or its deadline near: only a node with nothing left
	 * to stop may go on, since a reset would stop nothing */
	for (unsigned i = 0; i < f->n_slots; i++) {
		const struct fsm_vm *vm = fsm_vm_at(f, i);

		if (vm->used && fsm_vm_watchdog_hold(f, vm))
			return false;
	}
	return true;
}

bool fsm_watchdog_tick(const struct fsm *f, int64_t now_mono, int64_t timeout_ms,
		       int64_t period_ms, bool held, bool *hold)
{
	int64_t stop_by = fsm_watchdog_stop_by(f);

	/* held until the next tick, late by up to a period: a crash there
	 * would still ping in time */
	if (fsm_watchdog_may_pet(f, now_mono, timeout_ms + 2 * period_ms)) {
		*hold = true;
		return true;
	}
	/* letting go pings once more, which only helps if that reset still
	 * comes by the deadline; past it, holding the device unpetted is the
	 * lesser harm (only a crash would ping now) */
	*hold = held && !(f->started && now_mono + timeout_ms <= stop_by);
	return false;
}

/*
 * Rule 4: reasons to freeze solo sides.  A transient closure (ring ids not
 * yet agreeing, barrier running) closes the gate but freezes nothing.
 */
const char *fsm_freeze_reason(const struct fsm *f)
{
	if (!f->started)
		return NULL;
	if (!f->ipc_cpg || !f->ipc_quorum)
		return "ipc";
	if (fsm_mech(f, FSM_MECH_QUORUM_GATE) && f->have_quorum && !f->quorate)
		return "inquorate";
	if (fsm_mech(f, FSM_MECH_OWN_LIVENESS) &&
	    f->now_mono - f->live_sent > f->cfg.liveness_bound_ms)
		return "liveness";
	return NULL;
}

bool fsm_node_lost(const struct fsm *f, uint32_t nodeid)
{
	const struct fsm_node *n;

	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		n = &f->nodes[i];
		if (!n->used || n->nodeid != nodeid)
			continue;
		if (!fsm_mech(f, FSM_MECH_LEVEL_TRIGGERED_LOSS))
			return n->nodedown_seen;
		return f->have_totem && !n->in_ring;
	}
	/* never seen in any ring: absent from the current one */
	return fsm_mech(f, FSM_MECH_LEVEL_TRIGGERED_LOSS) && f->have_totem;
}

/* H3: fence_time > ceil(last_alive_wall) + skew_max, success only. */
bool fsm_fence_proof(const struct fsm *f, uint32_t nodeid)
{
	const struct fsm_node *n = NULL;

	for (unsigned i = 0; i < FSM_MAX_NODES; i++)
		if (f->nodes[i].used && f->nodes[i].nodeid == nodeid)
			n = &f->nodes[i];
	if (!n || !n->fence_ok)
		return false;
	if (!fsm_mech(f, FSM_MECH_FENCE_PROOF_AGE))
		return true;
	int64_t alive_s = (n->last_alive_wall_ms + 999) / 1000;
	return n->fence_wall_s > alive_s + f->cfg.skew_max_s;
}

bool fsm_fence_pending(const struct fsm *f, uint32_t nodeid)
{
	for (unsigned i = 0; i < FSM_MAX_NODES; i++)
		if (f->nodes[i].used && f->nodes[i].nodeid == nodeid)
			return f->nodes[i].fence_pending;
	return false;
}

void fsm_request_fence(struct fsm *f, uint32_t nodeid, struct fsm_actions *out)
{
	struct fsm_node *n = fsm_node_get(f, nodeid, true);
	struct fsm_msg m;

	unsigned first = out->n;

	if (!n || nodeid == f->cfg.local_nodeid)
		return;
	/* H3: a success that is not newer than last-alive (1 s resolution,
	 * skew) proves nothing: fence again rather than wait forever */
	if (n->fence_requested &&
	    (n->fence_pending || !n->fence_ok || fsm_fence_proof(f, nodeid)))
		return;
	n->fence_requested = true;
	n->fence_pending = true;
	fsm_act(f, out, FSM_ACT_FENCE)->u.fence.nodeid = nodeid;
	/* H3: tell everyone, so a rejoining n cannot go solo meanwhile */
	memset(&m, 0, sizeof(m));
	m.kind = FSM_MSG_FENCING;
	m.node = nodeid;
	m.pending = true;
	fsm_send(f, out, &m);
	fsm_audit(f, NULL, "H3-fence-request",
		  "fence requested (in a worker; the loop never blocks)", out, first);
}

int64_t fsm_self_wait(const struct fsm *f)
{
	const struct fsm_config *c = &f->cfg;

	if (c->self_wait_ms > 0)
		return c->self_wait_ms;
	/* A4: W = P + B + SFT_all + kill_time + margin (D_min taken as 0) */
	return c->liveness_period_ms + c->liveness_bound_ms +
	       c->self_fence_timeout_ms + c->kill_time_ms + 1000;
}

/* ---- cluster view ------------------------------------------------------ */

static void send_liveness(struct fsm *f, struct fsm_actions *out)
{
	struct fsm_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = FSM_MSG_LIVENESS;
	m.seq = ++f->live_seq;
	m.sent_mono_ms = f->now_mono;
	f->live_out = f->now_mono;
	fsm_send(f, out, &m);
}

/*
 * The next liveness tick: at the next multiple of P on the wall clock,
 * never more than P away (B counts on a send every P).  The arbiters of a
 * cluster (clocks within skew_max) then send their LIVENESS, and their
 * periodic STATE rounds, in the same instant: totem carries them in one
 * turn of the token instead of one each, and each turn costs corosync tens
 * of ms of CPU across the nodes (BENCHMARKS.md, "a lone CPG message").
 */
static int64_t next_tick(const struct fsm *f)
{
	int64_t p = f->cfg.liveness_period_ms;

	/* in (0, p]: on a multiple itself, the next one */
	return f->now_mono + p - ((f->now_wall_ms % p) + p) % p;
}

/* The VM's STATE, remembered as announced (M5). */
static void send_report(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	struct fsm_msg m;

	memset(&m, 0, sizeof(m));
	fsm_vm_report(f, vm, &m);
	fsm_send(f, out, &m);
	vm->sent_valid = true;
	vm->last_sent = m.side;
	vm->last_sent_epoch = m.epoch;
}

/* Pending fences are state too (H3). */
static void send_fencing_state(struct fsm *f, struct fsm_actions *out)
{
	struct fsm_msg m;

	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];

		if (!n->used || !n->fence_requested || !n->fence_pending)
			continue;
		memset(&m, 0, sizeof(m));
		m.kind = FSM_MSG_FENCING;
		m.node = n->nodeid;
		m.pending = true;
		fsm_send(f, out, &m);
	}
}

static void send_all_state(struct fsm *f, struct fsm_actions *out, bool sync)
{
	struct fsm_msg m;

	for (unsigned i = 0; i < f->n_slots; i++) {
		struct fsm_vm *vm = fsm_vm_at(f, i);

		if (vm->used)
			send_report(f, vm, out);
	}
	send_fencing_state(f, out);
	if (sync) {
		memset(&m, 0, sizeof(m));
		m.kind = FSM_MSG_SYNC_DONE;
		fsm_send(f, out, &m);
	}
	f->last_state_mono = f->now_mono;
}

/*
 * M5's periodic round, a slice per tick: the VMs whose slot is the
 * slice's number modulo state_period / P, so each VM is still reported
 * every state_period, but 500 VMs make 50 reports on every tick rather
 * than 500 on every tenth.  A whole round at once filled, for a quarter
 * of a second, queues of hundreds of kilobytes on every node (this
 * step's actions, the send queue, each peer's event queue), mapped
 * afresh each time above the mmap threshold; a slice's come from reused
 * heap (BENCHMARKS.md, "a state round's transients").  Totem carries a
 * slice in the same turn of the token as the tick's LIVENESS.
 */
static void send_state_slice(struct fsm *f, struct fsm_actions *out)
{
	int64_t per = f->cfg.state_period_ms / f->cfg.liveness_period_ms;
	unsigned n = per < 1 ? 1 : per > FSM_MAX_VMS ? FSM_MAX_VMS : (unsigned)per;
	unsigned k = f->state_slice % n;

	for (unsigned i = k; i < f->n_slots; i += n) {
		struct fsm_vm *vm = fsm_vm_at(f, i);

		if (vm->used)
			send_report(f, vm, out);
	}
	if (k == 0) {
		send_fencing_state(f, out);
		f->last_state_mono = f->now_mono;
	}
	f->state_slice = (k + 1) % n;
}

static void barrier_check(struct fsm *f)
{
	if (!f->barrier_pending)
		return;
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (n->used && n->arb_member && !n->synced)
			return;
	}
	f->barrier_pending = false;
}

static void on_cpg(struct fsm *f, const struct fsm_event *ev,
		   struct fsm_actions *out)
{
	bool was[FSM_MAX_NODES];
	unsigned i, j;

	for (i = 0; i < FSM_MAX_NODES; i++) {
		was[i] = f->nodes[i].arb_member;
		f->nodes[i].arb_member = false;
	}
	f->in_cpg = false;
	for (j = 0; j < ev->u.cpg.n_members && j < FSM_MAX_NODES; j++) {
		struct fsm_node *n = fsm_node_get(f, ev->u.cpg.members[j].nodeid, true);

		if (!n)
			continue;
		n->arb_member = true;
		n->arb_pid = ev->u.cpg.members[j].pid;
		n->last_alive_mono = f->now_mono;
		n->last_alive_wall_ms = f->now_wall_ms;
		if (n->nodeid == f->cfg.local_nodeid)
			f->in_cpg = true;
	}
	for (i = 0; i < FSM_MAX_NODES; i++)
		if (f->nodes[i].used && was[i] && !f->nodes[i].arb_member)
			f->nodes[i].arb_gone_mono = f->now_mono;
	/* H3: a pending fence reported by an arbiter that has left the group
	 * will never be resolved by it (its worker's result died with it);
	 * members still fencing re-announce theirs with every state round */
	for (i = 0; i < FSM_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];

		if (!n->used || !n->fence_from)
			continue;
		for (j = 0; j < FSM_MAX_NODES; j++)
			if (!f->nodes[j].arb_member)
				n->fence_from &= ~(1u << j);
		if (!n->fence_from && !n->fence_requested)
			n->fence_pending = false;
	}
	for (j = 0; j < ev->u.cpg.n_left && j < FSM_MAX_NODES; j++) {
		struct fsm_node *n = fsm_node_get(f, ev->u.cpg.left[j].nodeid, true);

		if (n && ev->u.cpg.left[j].reason == FSM_CPG_NODEDOWN &&
		    !n->nodedown_seen) {
			n->nodedown_seen = true;
			if (!fsm_mech(f, FSM_MECH_LEVEL_TRIGGERED_LOSS)) {
				n->lost_since_mono = f->now_mono;
				n->fence_requested = false;
			}
		}
	}
	for (j = 0; j < ev->u.cpg.n_joined && j < FSM_MAX_NODES; j++) {
		struct fsm_node *n = fsm_node_get(f, ev->u.cpg.joined[j].nodeid, true);

		if (n)
			n->nodedown_seen = false;
		/* the ring changed and its totem confchg is still due: the
		 * gate waits for it (whichever callback comes first) */
		if (n && ev->u.cpg.joined[j].reason == FSM_CPG_NODEUP && !n->in_ring)
			f->cpg_ahead = true;
	}
	for (j = 0; j < ev->u.cpg.n_left && j < FSM_MAX_NODES; j++) {
		struct fsm_node *n = fsm_node_get(f, ev->u.cpg.left[j].nodeid, false);

		if (n && ev->u.cpg.left[j].reason == FSM_CPG_NODEDOWN && n->in_ring)
			f->cpg_ahead = true;
	}
	if (ev->u.cpg.n_joined > 0) {
		/* dlm_controld-style barrier: nothing decided until every
		 * member's state for this view has been delivered */
		f->barrier_pending = true;
		for (i = 0; i < FSM_MAX_NODES; i++)
			f->nodes[i].synced = false;
		send_all_state(f, out, true);
	} else {
		barrier_check(f);
		send_all_state(f, out, false);
	}
}

static void on_totem(struct fsm *f, const struct fsm_event *ev,
		     struct fsm_actions *out)
{
	bool changed = !f->have_totem || !ring_eq(&f->rc, &ev->u.totem.ring);

	f->have_totem = true;
	f->cpg_ahead = false;
	f->rc = ev->u.totem.ring;
	for (unsigned i = 0; i < FSM_MAX_NODES; i++)
		f->nodes[i].in_ring = false;
	for (unsigned j = 0; j < ev->u.totem.n_nodes && j < FSM_MAX_NODES; j++) {
		struct fsm_node *n = fsm_node_get(f, ev->u.totem.nodes[j], true);

		if (!n)
			continue;
		n->in_ring = true;
		n->last_alive_mono = f->now_mono;
		n->last_alive_wall_ms = f->now_wall_ms;
		n->lost = false;
	}
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		struct fsm_node *n = &f->nodes[i];

		if (!n->used || n->in_ring || n->lost)
			continue;
		/* level-triggered loss (H4): absent from the ring's list.
		 * A new loss restarts the self wait and needs a new fence. */
		n->lost = true;
		n->lost_gated = false;
		if (fsm_mech(f, FSM_MECH_LEVEL_TRIGGERED_LOSS)) {
			n->lost_since_mono = f->now_mono;
			n->fence_requested = false;
		}
	}
	if (changed) {
		f->live_in_rc = false;
		send_liveness(f, out); /* reopen the gate within one round */
	}
}

static void on_liveness(struct fsm *f, uint32_t from, const struct fsm_msg *m,
			struct fsm_actions *out)
{
	fsm_node_alive(f, from);
	if (from != f->cfg.local_nodeid)
		return;
	/* delivered now, hence in the current ring Rc (virtual synchrony) */
	if (m->sent_mono_ms >= f->live_sent || !f->live_in_rc) {
		if (m->sent_mono_ms > f->live_sent)
			f->live_sent = m->sent_mono_ms;
		f->live_ok = true;
		f->live_in_rc = true;
		timer_start(f, out, FSM_TIMER_LIVENESS_DEADLINE, 0,
			    f->live_sent + f->cfg.liveness_bound_ms + 1);
	}
}

static bool vm_name_ok(const char *name)
{
	return name[0] != '\0' && strnlen(name, FSM_NAME_MAX) < FSM_NAME_MAX;
}

/* The VM named `name`, created if new: 0, -EINVAL, -ENOSPC or -ENOMEM. */
static int vm_get(struct fsm *f, const char *name, struct fsm_vm **vmp)
{
	*vmp = fsm_vm_find(f, name);
	if (*vmp)
		return 0;
	if (!vm_name_ok(name))
		return -EINVAL;
	return fsm_vm_create(f, name, vmp);
}

static void on_state(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		     const struct fsm_msg *m, struct fsm_actions *out)
{
	fsm_node_alive(f, from);
	fsm_epoch_adopt(f, vm, &m->epoch, out);
	if (from == vm->peer && from != f->cfg.local_nodeid) {
		vm->peer_rep_valid = true;
		vm->peer_rep = m->side;
		vm->peer_epoch = m->epoch;
	}
}

static int on_peer(struct fsm *f, const struct fsm_event *ev,
		   struct fsm_actions *out)
{
	const struct fsm_msg *m = &ev->u.peer.msg;
	uint32_t from = ev->u.peer.from;
	struct fsm_vm *vm = NULL;
	struct fsm_node *n;
	int rc;

	switch (m->kind) {
	case FSM_MSG_LIVENESS:
		on_liveness(f, from, m, out);
		return 0;
	case FSM_MSG_SYNC_DONE:
		fsm_node_alive(f, from);
		n = fsm_node_get(f, from, true);
		if (n)
			n->synced = true;
		barrier_check(f);
		return 0;
	case FSM_MSG_FENCING:
		fsm_node_alive(f, from);
		n = fsm_node_get(f, m->node, true);
		if (!n)
			return -EINVAL;
		if (m->pending) {
			struct fsm_node *by = fsm_node_get(f, from, true);

			n->fence_pending = true;
			if (by)
				n->fence_from |= 1u << (by - f->nodes);
		} else {
			n->fence_from = 0;
			if (!n->fence_requested)
				n->fence_pending = false;
		}
		return 0;
	case FSM_MSG_STATE:
	case FSM_MSG_PROPOSE:
	case FSM_MSG_ACK:
	case FSM_MSG_NACK:
		break;
	default:
		return -EINVAL;
	}
	if (strnlen(m->vm, FSM_NAME_MAX) >= FSM_NAME_MAX)
		return -EINVAL;
	/* witnesses keep epochs of VMs they do not host */
	rc = vm_get(f, m->vm, &vm);
	if (rc)
		return rc;
	switch (m->kind) {
	case FSM_MSG_STATE:
		on_state(f, vm, from, m, out);
		break;
	case FSM_MSG_PROPOSE:
		fsm_epoch_on_propose(f, vm, from, &m->prop, out);
		break;
	case FSM_MSG_ACK:
		fsm_epoch_on_ack(f, vm, from, &m->prop, out);
		break;
	default:
		fsm_epoch_on_nack(f, vm, from, m, out);
		break;
	}
	return 0;
}

static void on_fence(struct fsm *f, const struct fsm_event *ev,
		     struct fsm_actions *out)
{
	struct fsm_node *n = fsm_node_get(f, ev->u.fence.nodeid, true);
	struct fsm_msg m;

	if (!n)
		return;
	n->fence_pending = false;
	if (ev->u.fence.success) {
		n->fence_ok = true;
		if (ev->u.fence.fence_wall_s > n->fence_wall_s)
			n->fence_wall_s = ev->u.fence.fence_wall_s;
	} else {
		/* H3: a timeout or -ENODEV never counts; ask again later */
		n->fence_requested = false;
	}
	memset(&m, 0, sizeof(m));
	m.kind = FSM_MSG_FENCING;
	m.node = n->nodeid;
	m.pending = false;
	fsm_send(f, out, &m);
	fsm_audit(f, NULL, ev->u.fence.success ? "H3-fence-done" : "H3-fence-failed",
		  "fence result", out, out->n);
}

static int on_start(struct fsm *f, const struct fsm_event *ev,
		    struct fsm_actions *out)
{
	const struct fsm_persist *recs = ev->u.start.recs;
	unsigned n = ev->u.start.n;
	struct fsm_vm *vm;
	int rc = 0;

	if (f->started)
		return -EINVAL;
	if (n > FSM_MAX_VMS || (n && !recs))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (!vm_name_ok(recs[i].vm))
			return -EINVAL;
	for (unsigned i = 0; i < n && !rc; i++) {
		vm = fsm_vm_find(f, recs[i].vm);
		if (!vm) {
			rc = fsm_vm_create(f, recs[i].vm, &vm);
			if (vm)
				vm->start_new = true;
		}
	}
	/* all or nothing: a refused START leaves no VM behind */
	for (unsigned i = 0; i < n; i++) {
		vm = fsm_vm_find(f, recs[i].vm);
		if (vm && vm->start_new) {
			vm->start_new = false;
			if (rc)
				fsm_vm_remove(f, vm);
		}
	}
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++)
		fsm_vm_find(f, recs[i].vm)->p = recs[i];
	f->started = true;
	f->start_mono = f->now_mono;
	f->start_wall_ms = f->now_wall_ms;
	/* liveness deadline counts from our start */
	f->live_sent = f->now_mono;
	f->live_ok = false;
	for (unsigned i = 0; i < FSM_MAX_NODES; i++)
		if (f->nodes[i].used) {
			f->nodes[i].last_alive_mono = f->now_mono;
			f->nodes[i].last_alive_wall_ms = f->now_wall_ms;
		}
	send_liveness(f, out);
	timer_start(f, out, FSM_TIMER_LIVENESS_TICK, 0, next_tick(f));
	fsm_audit(f, NULL, "rule6-start", "persisted epochs loaded", out, out->n);
	return 0;
}

static int on_admin(struct fsm *f, const struct fsm_event *ev,
		    struct fsm_actions *out)
{
	struct fsm_vm *vm;
	int rc;

	if (strnlen(ev->u.admin.vm, FSM_NAME_MAX) >= FSM_NAME_MAX)
		return -EINVAL;
	switch (ev->u.admin.kind) {
	case FSM_ADMIN_VM_ADD:
		if (ev->u.admin.peer_node == 0 ||
		    ev->u.admin.peer_node == f->cfg.local_nodeid ||
		    ev->u.admin.n_pre > 64 || ev->u.admin.n_post > 64)
			return -EINVAL;
		rc = vm_get(f, ev->u.admin.vm, &vm);
		if (rc)
			return rc;
		vm->local = true;
		vm->peer = ev->u.admin.peer_node;
		vm->n_pre = ev->u.admin.n_pre;
		vm->n_post = ev->u.admin.n_post;
		fsm_node_get(f, vm->peer, true);
		return 0;
	case FSM_ADMIN_VM_REMOVE:
		vm = fsm_vm_find(f, ev->u.admin.vm);
		if (!vm || vm->seq != FSM_SEQ_NONE)
			return vm ? -EBUSY : -ENOENT;
		fsm_vm_remove(f, vm);
		return 0;
	default:
		break;
	}
	vm = fsm_vm_find(f, ev->u.admin.vm);
	if (!vm || !vm->local)
		return -ENOENT;
	switch (ev->u.admin.kind) {
	case FSM_ADMIN_FAILOVER:
		/* force lets an operator declare the peer lost; the gate,
		 * eligibility and the epoch commit still apply */
		vm->admin_force = ev->u.admin.force;
		fsm_audit(f, vm, "admin-failover", ev->u.admin.force ?
			  "forced request: peer treated as lost" :
			  "request: rules decide", out, out->n);
		break;
	case FSM_ADMIN_PROMOTE:
		/* M4: promote confirms, it never decides */
		fsm_audit(f, vm, "M4-promote", vm->status == FSM_ST_SOLO ?
			  "confirmed: local side holds E(v)" :
			  "refused: arbiter has not committed this side",
			  out, out->n);
		break;
	case FSM_ADMIN_DEMOTE:
		vm->admin_force = false;
		fsm_audit(f, vm, "M4-demote", "request", out, out->n);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* The local side entered COLO again: an earlier exit no longer says that
 * this pair broke. */
static void forget_break(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	vm->q.colo_exit_seen = false;
	if (vm->p.broke) {
		vm->p.broke = false;
		memset(&vm->p.broke_inst, 0, sizeof(vm->p.broke_inst));
		fsm_persist(f, vm, out);
	}
}

static int on_qmp(struct fsm *f, const struct fsm_event *ev,
		  struct fsm_actions *out)
{
	struct fsm_vm *vm = fsm_vm_find(f, ev->u.qmp.vm);
	struct fsm_side_report *q;

	if (!vm || !vm->local)
		return -ENOENT;
	q = &vm->q;
	switch (ev->kind) {
	case FSM_EV_QMP_CONNECTED:
		if (!q->present || !q->alive || !fsm_inst_eq(&q->inst, &ev->u.qmp.inst))
			fsm_vm_new_instance(f, vm, &ev->u.qmp.inst, out);
		q->connected = true;
		break;
	case FSM_EV_QMP_LOST:
		/* A7: a hang-up is not a QEMU exit */
		q->connected = false;
		break;
	case FSM_EV_QEMU_EXITED:
		if (!q->present && vm->p.named &&
		    fsm_inst_eq(&vm->p.named_inst, &ev->u.qmp.inst)) {
			/* rule 6, A7: a restarted arbiter learns from the pidfd
			 * (pidfd_open: ESRCH) that the instance its record names
			 * is gone; its peer must hear "QEMU gone" (H4c) */
			memset(q, 0, sizeof(*q));
			q->present = true;
			q->inst = ev->u.qmp.inst;
			vm->inst_named = true;
			vm->inst_named_n = vm->p.named_n;
			break;
		}
		if (!fsm_inst_eq(&q->inst, &ev->u.qmp.inst))
			return 0; /* an older incarnation */
		q->alive = false;
		q->connected = false;
		q->run = FSM_RUN_UNKNOWN;
		vm->failover_inflight = false;
		if (vm->seq != FSM_SEQ_NONE)
			fsm_vm_abort(f, vm, "QEMU exited", out);
		break;
	case FSM_EV_QMP_COLO_EXIT:
		q->colo_exit_seen = true;
		/* durable: this arbiter may restart before the peer's arbiter
		 * has heard of the break, and no query would show it again */
		if (ev->u.qmp.reason == FSM_REASON_ERROR && q->present &&
		    !(vm->p.broke && fsm_inst_eq(&vm->p.broke_inst, &q->inst))) {
			vm->p.broke = true;
			vm->p.broke_inst = q->inst;
			fsm_persist(f, vm, out);
		}
		break;
	case FSM_EV_QMP_COLO_STATUS:
		if (q->mode == FSM_MODE_NONE && ev->u.qmp.mode != FSM_MODE_NONE &&
		    ev->u.qmp.mode != FSM_MODE_UNKNOWN)
			forget_break(f, vm, out); /* entered COLO again */
		q->mode = ev->u.qmp.mode;
		q->last_mode = ev->u.qmp.last_mode;
		q->reason = ev->u.qmp.reason;
		vm->q_colo_known = true;
		if (q->mode == FSM_MODE_SECONDARY && !q->colo_exit_seen &&
		    fsm_epoch_names(&vm->p.epoch, f->cfg.local_nodeid, &q->inst) &&
		    vm->p.epoch.kind == FSM_EPOCH_COLO &&
		    vm->p.epoch.secondary == f->cfg.local_nodeid) {
			vm->colo_seen = true;
			vm->colo_seen_n = vm->p.epoch.n;
		}
		break;
	case FSM_EV_QMP_STATUS:
		q->run = ev->u.qmp.run;
		vm->q_status_known = true;
		break;
	case FSM_EV_QMP_MIGRATE:
		/* entering COLO again (resync) starts a new pair: an exit
		 * of the previous one no longer says this one broke */
		if (ev->u.qmp.mig == FSM_MIG_COLO && q->mig != FSM_MIG_COLO &&
		    q->mig != FSM_MIG_UNKNOWN) /* not the first read */
			forget_break(f, vm, out);
		q->mig = ev->u.qmp.mig;
		break;
	case FSM_EV_QMP_RESUME:
		q->run = FSM_RUN_RUNNING;
		break;
	case FSM_EV_QMP_STOP:
		q->run = FSM_RUN_PAUSED; /* a hint; never a freeze proof (A5) */
		break;
	case FSM_EV_QMP_YANK_SET:
		if (ev->u.qmp.n_yank > FSM_YANK_MAX)
			return -EINVAL;
		if (fsm_vm_set_yank(vm, ev->u.qmp.yank, ev->u.qmp.n_yank))
			return -ENOMEM; /* the previous list stays */
		break;
	default:
		return -EINVAL;
	}
	fsm_vm_result(f, vm, ev, out);
	return 0;
}

static void arm_wake(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	int64_t due = 0;
	struct fsm_node *pn = vm->local ? fsm_node_get(f, vm->peer, false) : NULL;

#define CONSIDER(t) do { int64_t t_ = (t); \
	if (t_ > f->now_mono && (due == 0 || t_ < due)) due = t_; } while (0)
	if (vm->seq == FSM_SEQ_FREEZE)
		CONSIDER(vm->seq_deadline);
	if (vm->ph == FSM_PH_COMMIT)
		CONSIDER(vm->prop_since + f->cfg.commit_timeout_ms);
	if (vm->poll_due)
		CONSIDER(vm->poll_due);
	CONSIDER(vm->retry_after);
	if (pn && pn->lost && f->cfg.fence_policy == FSM_FENCE_SELF)
		CONSIDER(pn->lost_since_mono + fsm_self_wait(f));
	if (pn && !pn->arb_member && pn->in_ring)
		CONSIDER(pn->arb_gone_mono + f->cfg.t_arb_ms);
#undef CONSIDER
	if (due && due != vm->wake_due) {
		vm->wake_due = due;
		if (due < f->min_wake)
			f->min_wake = due;
		timer_start(f, out, FSM_TIMER_VM_WAKE, vm->slot, due);
	}
}

static void inputs_take(const struct fsm *f, struct fsm_inputs *in)
{
	memset(in, 0, sizeof(*in));
	in->started = f->started;
	in->have_totem = f->have_totem;
	in->have_quorum = f->have_quorum;
	in->quorate = f->quorate;
	in->ipc_cpg = f->ipc_cpg;
	in->ipc_quorum = f->ipc_quorum;
	in->in_cpg = f->in_cpg;
	in->cpg_ahead = f->cpg_ahead;
	in->live_ok = f->live_ok;
	in->live_in_rc = f->live_in_rc;
	in->tick_armed = f->tick_armed;
	in->barrier_pending = f->barrier_pending;
	in->rc = f->rc;
	in->rq = f->rq;
	in->live_sent = f->live_sent;
	in->last_state_mono = f->last_state_mono;
	in->gate = fsm_gate_reason(f);
	in->freeze = fsm_freeze_reason(f);
	memcpy(in->nodes, f->nodes, f->n_node_slots * sizeof(in->nodes[0]));
	for (unsigned i = 0; i < f->n_node_slots; i++) {
		in->nodes[i].last_alive_mono = 0;
		in->nodes[i].last_alive_wall_ms = 0;
		in->fence_proof[i] = f->nodes[i].used && fsm_fence_proof(f, f->nodes[i].nodeid);
	}
}

/* A new inputs_gen (every VM due) if the inputs changed. */
static void inputs_update(struct fsm *f, bool force)
{
	struct fsm_inputs in;

	inputs_take(f, &in);
	/* both are zero past the nodes' high-water mark, which only grows */
	if (force || memcmp(&in, &f->inputs, offsetof(struct fsm_inputs, nodes) +
				       f->n_node_slots * sizeof(in.nodes[0])) ||
	    memcmp(in.fence_proof, f->inputs.fence_proof, sizeof(in.fence_proof))) {
		f->inputs = in;
		f->inputs_gen++;
	}
}

/* The VM an event is about, whose own fields its handler may have changed;
 * NULL for events about the cluster (their changes show in the inputs). */
static struct fsm_vm *step_vm(struct fsm *f, const struct fsm_event *ev)
{
	const char *name = fsm_event_vm(ev);
	unsigned slot;

	if (name)
		return fsm_vm_find(f, name);
	switch (ev->kind) {
	case FSM_EV_QMP_RESULT:
		slot = ev->u.result.tag.vm;
		break;
	case FSM_EV_TIMER:
		if (ev->u.timer.id != FSM_TIMER_VM_WAKE)
			return NULL;
		slot = ev->u.timer.vm;
		break;
	default:
		return NULL;
	}
	return slot < f->n_slots && fsm_vm_at(f, slot)->used ? fsm_vm_at(f, slot) : NULL;
}

/* Events that change what every VM is (membership, the table, fencing,
 * the start): every VM is re-derived whatever the inputs say. */
static bool step_all(const struct fsm_event *ev)
{
	switch (ev->kind) {
	case FSM_EV_START:
	case FSM_EV_CPG_CONFCHG:
	case FSM_EV_TOTEM_CONFCHG:
	case FSM_EV_QUORUM:
	case FSM_EV_IPC:
	case FSM_EV_FENCE_RESULT:
	case FSM_EV_ADMIN:
		return true;
	default:
		return false;
	}
}

/*
 * Only the arbiter of v's other node reads the side report (on_state); the
 * others take the epoch.  Every CPG message costs corosync's totem, on the
 * nodes it reaches, tens of milliseconds of CPU as the token turns again
 * (BENCHMARKS.md, "a lone CPG message"): a node loss with 20 pairs used to
 * trickle a STATE per QMP reply to a witness that ignored them, and the
 * corosyncs took both cores while the survivors' QEMUs waited.
 */
static bool report_read_now(struct fsm *f, const struct fsm_vm *vm)
{
	struct fsm_node *n;

	if (!vm->peer)
		return true;
	n = fsm_node_get(f, vm->peer, false);
	return !n || n->arb_member;
}

static void rederive(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	fsm_vm_eval(f, vm, out);
	if (f->started) {
		struct fsm_side_report side;
		struct fsm_epoch e;
		bool epoch_new;

		/* M5: announce every change, idempotently: a new E(v) to
		 * all, a side change while the peer's arbiter is there to
		 * read it (the rest goes with every confchg and every
		 * state_period).  The message is built only for a change:
		 * with hundreds of VMs, building unchanged ones was most of
		 * a step's time. */
		memset(&side, 0, sizeof(side));
		memset(&e, 0, sizeof(e));
		fsm_vm_side(vm, &side);
		e = vm->p.epoch;
		epoch_new = !vm->sent_valid || memcmp(&e, &vm->last_sent_epoch, sizeof(e));
		if (epoch_new || (memcmp(&side, &vm->last_sent, sizeof(side)) &&
				  report_read_now(f, vm)))
			send_report(f, vm, out);
	}
	arm_wake(f, vm, out);
}

/* cfg.check_skips: a skipped VM re-derived on a copy of itself; anything
 * it would have done is a miss.  The VM is restored either way. */
static void check_skip(struct fsm *f, struct fsm_vm *vm)
{
	struct fsm_actions scratch;

	memset(&scratch, 0, sizeof(scratch));
	memcpy(&f->vm_before, vm, sizeof(*vm));
	rederive(f, vm, &scratch);
	if (scratch.n || scratch.overflow || memcmp(&f->vm_before, vm, sizeof(*vm)))
		f->skip_misses++;
	memcpy(vm, &f->vm_before, sizeof(*vm));
	fsm_actions_reset(&scratch);
	fsm_actions_release(&scratch);
}

static void pend_add(struct fsm *f, struct fsm_vm *vm)
{
	if (vm->pend)
		return;
	if (f->n_pend == f->pend_cap) {
		unsigned cap = f->pend_cap ? f->pend_cap * 2 : 64;
		unsigned *np = realloc(f->pend, sizeof(*np) * cap);

		if (!np) {
			f->pend_lost = true;
			return;
		}
		f->pend = np;
		f->pend_cap = cap;
	}
	f->pend[f->n_pend++] = vm->slot;
	vm->pend = true;
}

static void rederive_one(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	vm->eval_step = f->step_no;
	memcpy(&f->vm_before, vm, sizeof(*vm));
	f->rederived++;
	rederive(f, vm, out);
	/* a decision that changed the VM (an abort "to re-derive") is not a
	 * fixed point yet: due again at the next step */
	if (memcmp(&f->vm_before, vm, sizeof(*vm))) {
		vm->eval_gen = 0;
		pend_add(f, vm);
	} else {
		vm->eval_gen = f->inputs_gen;
	}
	inputs_update(f, false);
}

static bool local_vm(const struct fsm_vm *vm)
{
	/* a VM only witnessed here never decides, reports or wakes */
	return vm->used && vm->local;
}

/* The VMs due at the next step and the earliest wake time, from scratch;
 * re-derives every VM that is due now (touched: the event's VM). */
static void rederive_all(struct fsm *f, struct fsm_vm *touched, struct fsm_actions *out)
{
	int64_t min = INT64_MAX;

	f->n_pend = 0;
	f->pend_lost = false;
	for (unsigned i = 0; i < f->n_slots; i++) {
		struct fsm_vm *vm = fsm_vm_at(f, i);

		vm->pend = false;
		if (!local_vm(vm))
			continue;
		if (vm->eval_step == f->step_no) {
			/* re-derived earlier in this step, before the inputs
			 * changed: it sees them at the next step */
			if (vm->eval_gen != f->inputs_gen) {
				vm->eval_gen = 0;
				pend_add(f, vm);
			}
		} else if (vm == touched || vm->eval_gen != f->inputs_gen ||
			   (vm->wake_due && vm->wake_due <= f->now_mono)) {
			rederive_one(f, vm, out);
		} else if (f->cfg.check_skips) {
			check_skip(f, vm);
		}
		if (vm->wake_due && vm->wake_due < min)
			min = vm->wake_due;
	}
	f->min_wake = min;
}

/*
 * Level-triggered (H4): every VM's decision is a function of its own
 * fields, the inputs of struct fsm_inputs and deadlines; re-deriving one
 * whose arguments did not change since a re-derivation that changed
 * nothing is a no-op.  So a step re-derives only the VM the event is about,
 * the VMs whose wake time has come, those whose last re-derivation changed
 * them (fsm.pend) and, when the inputs changed, every VM; only the last two
 * cases look at every VM.  At 500 VMs re-deriving all of them on every QMP
 * reply and ack made a failover quadratic (~30 us per step).  A
 * re-derivation that changes the inputs (a fence request) makes the VMs
 * after it due in the same pass and the ones before it at the next step,
 * as the full loop did.  cfg.check_skips proves each skip in tests.
 */
static void step_rederive(struct fsm *f, const struct fsm_event *ev, unsigned n_vms_before,
			  struct fsm_actions *out)
{
	struct fsm_vm *touched = step_vm(f, ev);
	uint64_t gen0 = f->inputs_gen;
	unsigned n0;

	f->step_no++;
	inputs_update(f, step_all(ev) || f->n_vms != n_vms_before);
	if (f->inputs_gen != gen0 || f->now_mono >= f->min_wake || f->pend_lost) {
		rederive_all(f, touched, out);
		return;
	}
	/* the VMs due from the last step, then the event's own; a
	 * re-derivation may queue one again (appended past n0) */
	n0 = f->n_pend;
	for (unsigned k = 0; k < n0 && f->inputs_gen == gen0; k++) {
		struct fsm_vm *vm;

		if (f->pend[k] >= f->n_slots)
			continue; /* its slot was freed since */
		vm = fsm_vm_at(f, f->pend[k]);
		if (!vm->pend)
			continue;
		vm->pend = false;
		if (local_vm(vm))
			rederive_one(f, vm, out);
	}
	if (touched && local_vm(touched) && touched->eval_step != f->step_no &&
	    f->inputs_gen == gen0)
		rederive_one(f, touched, out);
	if (f->inputs_gen != gen0 || f->pend_lost) {
		rederive_all(f, touched, out);
		return;
	}
	if (n0 && f->n_pend > n0)
		memmove(f->pend, f->pend + n0, sizeof(*f->pend) * (f->n_pend - n0));
	f->n_pend -= n0;
	if (f->cfg.check_skips) {
		for (unsigned i = 0; i < f->n_slots; i++) {
			struct fsm_vm *vm = fsm_vm_at(f, i);

			if (local_vm(vm) && vm->eval_step != f->step_no)
				check_skip(f, vm);
		}
	}
}

int fsm_step(struct fsm *f, const struct fsm_event *ev, struct fsm_actions *out)
{
	unsigned n_vms_before;
	int rc = 0;
	unsigned first = out->n;

	if (!f || !ev || !out)
		return -EINVAL;
	if (ev->now_mono_ms < f->now_mono)
		return -EINVAL; /* monotonic time never goes back */
	f->now_mono = ev->now_mono_ms;
	f->now_wall_ms = ev->now_wall_ms;
	f->ev = ev;
	n_vms_before = f->n_vms;

	switch (ev->kind) {
	case FSM_EV_START:
		rc = on_start(f, ev, out);
		break;
	case FSM_EV_CPG_CONFCHG:
		if (ev->u.cpg.n_members > FSM_MAX_NODES ||
		    ev->u.cpg.n_left > FSM_MAX_NODES ||
		    ev->u.cpg.n_joined > FSM_MAX_NODES)
			return -EINVAL;
		on_cpg(f, ev, out);
		break;
	case FSM_EV_TOTEM_CONFCHG:
		if (ev->u.totem.n_nodes > FSM_MAX_NODES)
			return -EINVAL;
		on_totem(f, ev, out);
		break;
	case FSM_EV_QUORUM:
		if (ev->u.quorum.n_nodes > FSM_MAX_NODES)
			return -EINVAL;
		f->have_quorum = true;
		f->quorate = ev->u.quorum.quorate;
		f->rq = ev->u.quorum.ring;
		for (unsigned j = 0; j < ev->u.quorum.n_nodes; j++)
			fsm_node_alive(f, ev->u.quorum.nodes[j]);
		break;
	case FSM_EV_IPC:
		f->ipc_cpg = ev->u.ipc.cpg_ok;
		f->ipc_quorum = ev->u.ipc.quorum_ok;
		if (!f->ipc_quorum)
			f->have_quorum = false;
		break;
	case FSM_EV_PEER_MSG:
		rc = on_peer(f, ev, out);
		break;
	case FSM_EV_QMP_RESULT:
		if (ev->u.result.tag.vm >= f->n_slots ||
		    !fsm_vm_at(f, ev->u.result.tag.vm)->used)
			return -EINVAL;
		fsm_vm_result(f, fsm_vm_at(f, ev->u.result.tag.vm), ev, out);
		break;
	case FSM_EV_PERSIST_DONE: {
		struct fsm_vm *vm = fsm_vm_find(f, ev->u.persisted.vm);

		if (!vm)
			return -ENOENT;
		if (vm->ack_pending && ev->u.persisted.seq >= vm->ack_persist_seq) {
			vm->ack_pending = false;
			fsm_epoch_send_ack(f, vm, &vm->ack_prop, FSM_MSG_ACK, out);
		}
		fsm_vm_persisted(f, vm, ev->u.persisted.seq, out);
		break;
	}
	case FSM_EV_FENCE_RESULT:
		on_fence(f, ev, out);
		break;
	case FSM_EV_TIMER:
		if (ev->u.timer.id == FSM_TIMER_LIVENESS_TICK && f->started) {
			/* The last probe not back: the ring is not delivering
			 * (a membership change under way, mostly).  A round
			 * sent now would wait in corosync and come out after
			 * the confchg's own round, ahead of the proposals of
			 * the failover it triggers (hundreds of VMs: tens of
			 * ms); it goes at the first tick the ring is back. */
			bool delivering = f->live_sent >= f->live_out;

			send_liveness(f, out);
			if (fsm_mech(f, FSM_MECH_PERIODIC_STATE) && delivering)
				send_state_slice(f, out);
			timer_start(f, out, FSM_TIMER_LIVENESS_TICK, 0, next_tick(f));
		} else if (ev->u.timer.id == FSM_TIMER_VM_WAKE) {
			if (ev->u.timer.vm >= FSM_MAX_VMS)
				return -EINVAL;
			/* a slot freed since the timer was set: just a wake */
			if (ev->u.timer.vm < f->n_slots &&
			    fsm_vm_at(f, ev->u.timer.vm)->wake_due <= f->now_mono)
				fsm_vm_at(f, ev->u.timer.vm)->wake_due = 0;
		}
		break;
	case FSM_EV_ADMIN:
		rc = on_admin(f, ev, out);
		break;
	default:
		if (!fsm_event_is_qmp(ev->kind))
			return -EINVAL;
		rc = on_qmp(f, ev, out); /* facts about one local QEMU */
		break;
	}
	if (rc < 0)
		return rc;

	/* H4/A4: a node is lost once absent from a *gated* ring; the self
	 * wait counts from then, not from an ungated view such as the
	 * private inquorate ring of a freshly restarted corosync */
	if (!fsm_gate_reason(f))
		for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
			struct fsm_node *n = &f->nodes[i];

			if (n->used && n->lost && !n->lost_gated) {
				n->lost_gated = true;
				if (fsm_mech(f, FSM_MECH_LEVEL_TRIGGERED_LOSS))
					n->lost_since_mono = f->now_mono;
			}
		}

	/* level-triggered: every VM's decision is re-derived after any event
	 * whose inputs to it changed (see struct fsm_inputs) */
	step_rederive(f, ev, n_vms_before, out);
	(void)first;
	f->ev = NULL;
	return 0;
}

void fsm_audit(struct fsm *f, struct fsm_vm *vm, const char *rule,
	       const char *decision, struct fsm_actions *out, unsigned first)
{
	struct fsm_action *a;
	char *text;

	if (!f->cfg.audit || !f->ev)
		return;
	text = audit_record_text(f, f->ev, vm, rule, decision, out, first);
	if (!text)
		return;
	a = fsm_act(f, out, FSM_ACT_AUDIT);
	if (a == &out->spill) { /* overflow: never read, so never freed */
		free(text);
		return;
	}
	a->u.audit.text = text;
	a->u.audit.rule = rule;
	a->u.audit.decision = decision;
	a->u.audit.event = fsm_event_kind_to_str(f->ev->kind);
	a->u.audit.has_last = vm != NULL;
	if (vm) {
		a->u.audit.last = (struct fsm_last_decision){
			.mono_ms = f->now_mono, .wall_ms = f->now_wall_ms,
			.node = f->cfg.local_nodeid, .event = a->u.audit.event,
			.rule = rule, .decision = decision,
			.epoch = vm->p.epoch,
		};
	}
	fsm_name_copy(a->u.audit.vm, vm ? vm->name : "", sizeof(a->u.audit.vm));
}

json_t *fsm_status_json(const struct fsm *f)
{
	return audit_status(f);
}

json_t *fsm_status_cluster_json(const struct fsm *f)
{
	return audit_status_cluster(f);
}

json_t *fsm_vm_status_json(const struct fsm *f, const char *name)
{
	const struct fsm_vm *vm = fsm_vm_find(f, name);

	return vm ? audit_status_vm(vm) : NULL;
}
