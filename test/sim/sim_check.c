/*
 * sim_check.c: the invariants of SAFETY.md §5, checked after every step of
 * the simulation on the physical model (what the simulated QEMUs do, what
 * is on each disk, which messages were sent), never on the arbiters'
 * beliefs.  Also the output bookkeeping that makes lost writes visible.
 *
 * Must not: change the world (only w->v and the checker's own ledgers).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

#define DISTURB_MS 20000

void sim_violate(struct sim_world *w, int inv, const char *fmt, ...)
{
	va_list ap;

	if (w->v.hit)
		return;
	w->v.hit = true;
	w->v.inv = inv;
	w->v.t = w->now;
	va_start(ap, fmt);
	vsnprintf(w->v.what, sizeof(w->v.what), fmt, ap);
	va_end(ap);
}

bool sim_alone(const struct sim_qemu *q)
{
	return q->present && q->alive && q->mode == FSM_MODE_NONE &&
	       q->run == FSM_RUN_RUNNING;
}

static bool live(const struct sim_qemu *q)
{
	return q->present && q->alive;
}

bool sim_pair_healthy(const struct sim_world *w, unsigned v)
{
	const struct sim_vm *vm = &w->vms[v];
	const struct sim_qemu *a = &w->q[vm->a][v], *b = &w->q[vm->b][v];
	const struct sim_qemu *p = a->mode == FSM_MODE_PRIMARY ? a : b;
	const struct sim_qemu *s = p == a ? b : a;

	return live(a) && live(b) && p->mode == FSM_MODE_PRIMARY &&
	       s->mode == FSM_MODE_SECONDARY && p->gen == vm->gen &&
	       s->gen == vm->gen && !vm->reset && !p->yanked && !s->yanked &&
	       !p->exit_sent && !s->exit_sent && !p->hung && !p->fo_pending &&
	       !s->fo_pending && s->run == FSM_RUN_RUNNING &&
	       sim_qemu_reach(w, vm->a, vm->b);
}

/* Outputs: a solo side releases as it runs; a healthy COLO pair releases
 * only what both sides hold (colo-compare); anything else releases nothing. */
void sim_release(struct sim_world *w)
{
	if (w->now <= w->last_release_t)
		return;
	w->last_release_t = w->now;
	for (unsigned v = 0; v < w->s->p.vms; v++) {
		struct sim_vm *vm = &w->vms[v];
		struct sim_qemu *a = &w->q[vm->a][v], *b = &w->q[vm->b][v];
		bool any = false;

		for (int k = 0; k < 2; k++) {
			struct sim_qemu *q = k ? b : a;

			if (sim_alone(q)) {
				q->have = ++vm->released;
				any = true;
			}
		}
		if (!any && sim_pair_healthy(w, v)) {
			struct sim_qemu *p = a->mode == FSM_MODE_PRIMARY ? a : b;

			if (p->run == FSM_RUN_RUNNING)
				a->have = b->have = ++vm->released;
		}
	}
}

static bool cause_now(const struct sim_world *w, unsigned v)
{
	const struct sim_vm *vm = &w->vms[v];
	const struct sim_qemu *a = &w->q[vm->a][v], *b = &w->q[vm->b][v];
	unsigned x[2] = { vm->a, vm->b };

	if (!live(a) || !live(b) || a->gen != b->gen || vm->reset)
		return true;
	if (!((a->mode == FSM_MODE_PRIMARY && b->mode == FSM_MODE_SECONDARY) ||
	      (b->mode == FSM_MODE_PRIMARY && a->mode == FSM_MODE_SECONDARY)))
		return true;
	if (a->exit_sent || b->exit_sent || a->yanked || b->yanked || a->hung ||
	    b->hung || a->fo_pending || b->fo_pending)
		return true;
	for (int k = 0; k < 2; k++) {
		const struct sim_node *n = &w->nodes[x[k]];

		if (!n->power || !n->cs_up || n->stalled || n->egress ||
		    sim_node_outside(w, x[k]) || n->q_ring != n->ring)
			return true;
	}
	return !sim_cs_conn(w, vm->a, vm->b) ||
	       w->nodes[vm->a].ring != w->nodes[vm->b].ring;
}

void sim_disturb_update(struct sim_world *w)
{
	for (unsigned v = 0; v < w->s->p.vms; v++)
		if (cause_now(w, v))
			w->vms[v].disturbed_until = w->now + DISTURB_MS;
}

static const char *who(const struct sim_world *w, unsigned node, unsigned v)
{
	static char buf[64];
	const struct sim_qemu *q = &w->q[node][v];

	snprintf(buf, sizeof(buf), "%s on n%u (pid %u, %s, %s)", w->vms[v].name,
		 node + 1, q->inst.pid, fsm_colo_mode_to_str(q->mode),
		 q->run == FSM_RUN_RUNNING ? "running" :
		 q->run == FSM_RUN_PAUSED ? "paused" : "?");
	return buf;
}

/* the highest epoch any disk holds for v (powered-off disks included) */
static const struct fsm_epoch *max_epoch(const struct sim_world *w, unsigned v)
{
	const struct fsm_epoch *best = NULL;

	for (unsigned i = 0; i < w->s->p.nodes; i++)
		if (w->nodes[i].disk_has[v] &&
		    (!best || w->nodes[i].disk[v].epoch.n > best->n))
			best = &w->nodes[i].disk[v].epoch;
	return best;
}

static bool inst_eq(const struct fsm_instance *a, const struct fsm_instance *b)
{
	return a->pid == b->pid && a->start == b->start;
}

void sim_check_step(struct sim_world *w)
{
	const struct fsm_config *c = &w->d.cfg;
	int64_t bound = c->liveness_period_ms + c->liveness_bound_ms +
			c->self_fence_timeout_ms + c->kill_time_ms + 200;

	for (unsigned v = 0; v < w->s->p.vms && !w->v.hit; v++) {
		unsigned runners = 0;

		for (unsigned i = 0; i < w->s->p.nodes; i++) {
			struct sim_qemu *q = &w->q[i][v];
			bool alone = sim_alone(q);

			if (alone || (live(q) && q->fo_pending))
				runners++;
			if (alone && !q->was_alone) {
				const struct fsm_epoch *e = max_epoch(w, v);

				/* 2. no lost ack */
				if (q->have != w->vms[v].released)
					sim_violate(w, 2, "%s starts running alone holding "
						    "%llu of %llu released outputs (lost writes)",
						    who(w, i, v), (unsigned long long)q->have,
						    (unsigned long long)w->vms[v].released);
				/* 5. no undo: only E(v)'s holder runs alone */
				else if (!e || e->kind != FSM_EPOCH_SOLO ||
					 e->holder != i + 1 || !inst_eq(&e->hinst, &q->inst))
					sim_violate(w, 5, "%s runs alone but the highest "
						    "committed epoch n=%llu is %s holder n%u",
						    who(w, i, v),
						    (unsigned long long)(e ? e->n : 0),
						    e ? fsm_epoch_kind_to_str(e->kind) : "-",
						    e ? e->holder : 0);
			}
			q->was_alone = alone;
		}
		/* 1. single runner */
		if (runners > 1)
			sim_violate(w, 1, "split brain: %u sides of %s run alone or fail over",
				    runners, w->vms[v].name);
	}
	/* 7. freeze bound */
	for (unsigned i = 0; i < w->s->p.nodes && !w->v.hit; i++) {
		struct sim_node *n = &w->nodes[i];
		int64_t since;

		if (!sim_node_outside(w, i)) {
			if (n->outside_since) {
				n->outside_prev_since = n->outside_since;
				n->outside_prev_end = w->now;
			}
			n->outside_since = 0;
			continue;
		}
		if (!n->outside_since)
			n->outside_since = w->now;
		since = n->outside_since;
		/* under pacemaker fencing and without a device only a live
		 * arbiter freezes, from its start: one that died leaves its
		 * sides to the fence (under self, that is the device's job) */
		if ((w->s->p.disable & SIM_NO_WATCHDOG) &&
		    w->s->p.policy == FSM_FENCE_PACEMAKER) {
			if (!n->arb_up)
				continue;
			if (n->arb_up_since > since)
				since = n->arb_up_since;
		}
		if (w->now - since <= bound)
			continue;
		for (unsigned v = 0; v < w->s->p.vms; v++)
			if (sim_alone(&w->q[i][v]))
				sim_violate(w, 7, "n%u is outside every quorate ring "
					    "since %+.3f s but %s still runs alone",
					    i + 1, (double)(n->outside_since - w->t0) / 1000.0,
					    who(w, i, v));
	}
}

void sim_check_cmd(struct sim_world *w, unsigned node, unsigned v,
		   enum fsm_qmp_cmd cmd, bool executes)
{
	const struct sim_node *n = &w->nodes[node];
	const struct sim_qemu *q = &w->q[node][v];

	if (cmd == FSM_QMP_LOST_HEARTBEAT || cmd == FSM_QMP_CONT) {
		const struct fsm_epoch *e = &n->durable[v].epoch;

		/* 3. gate: sent from a quorate ring with the epoch committed */
		/* a stalled corosync: outside once the others have formed a ring
		 * without it (before that nothing can tell), unless alone is
		 * quorate (two_node) */
		bool stall = n->stalled && !(w->s->p.two_node && w->d.expected == 2 &&
					     n->wfa_ok);
		bool excluded = false;

		for (unsigned j = 0; n->ring && j < w->s->p.nodes; j++)
			if (j != node && (w->rings[n->ring].members & (1u << j)) &&
			    w->nodes[j].power && w->nodes[j].ring != n->ring)
				excluded = true;
		stall = stall && excluded;

		/* a corosync that just died: the arbiter hears it within 11 ms */
		bool fresh = !n->cs_up && w->now - n->cs_down_at <= 11;

		if (!fresh && (!n->cs_up || stall || !n->ring || n->q_ring != n->ring ||
			       !n->q_quorate))
			sim_violate(w, 3, "%s sent to %s from n%u outside a quorate ring "
				    "(ring %u, quorum for ring %u quorate=%d%s)",
				    fsm_qmp_cmd_to_str(cmd), who(w, node, v), node + 1,
				    n->ring, n->q_ring, n->q_quorate,
				    n->stalled ? ", corosync stalled" : "");
		else if (executes && (!n->durable_has[v] || e->kind != FSM_EPOCH_SOLO ||
				      e->holder != node + 1 || !inst_eq(&e->hinst, &q->inst)))
			sim_violate(w, 3, "%s sent to %s without a committed epoch naming "
				    "it (disk: n=%llu %s holder n%u)",
				    fsm_qmp_cmd_to_str(cmd), who(w, node, v),
				    (unsigned long long)e->n, fsm_epoch_kind_to_str(e->kind),
				    e->holder);
	}
	if ((cmd == FSM_QMP_YANK || cmd == FSM_QMP_STOP ||
	     cmd == FSM_QMP_LOST_HEARTBEAT) && executes &&
	    w->now > w->vms[v].disturbed_until) {
		bool arb = false;

		for (unsigned i = 0; i < w->s->p.nodes; i++)
			if (!w->nodes[i].arb_up ||
			    w->now - w->nodes[i].arb_down_since < DISTURB_MS)
				arb = true;
		/* 8: an arbiter exit alone; 9: a fault away from v */
		sim_violate(w, arb ? 8 : 9, "%s sent to %s with the pair intact and "
			    "no fault on its nodes or link%s", fsm_qmp_cmd_to_str(cmd),
			    who(w, node, v), arb ? " (only an arbiter left: PROCDOWN/LEAVE)" : "");
	}
}

void sim_check_lhb_exec(struct sim_world *w, unsigned node, unsigned v,
			const struct sim_cmd *c)
{
	const struct sim_qemu *q = &w->q[node][v];

	/* 5. a command from before this pairing must not fail it over */
	if (c->issued < q->gen_start) {
		sim_violate(w, 5, "x-colo-lost-heartbeat issued at %+.3f s, before %s "
			    "entered its current COLO pair, fails it over",
			    (double)(c->issued - w->t0) / 1000.0, who(w, node, v));
		return;
	}
	/* 6. fence truth for a takeover.  Under `self` a primary still in COLO
	 * mode releases nothing (colo-compare holds it: SAFETY §0, H1/A9), so
	 * it counts once its node has been outside every quorate ring for the
	 * whole self wait W (its solo sides are frozen by then, invariant 7).
	 * The invariant holds "when S is sent the command": a heal between
	 * the send and QEMU running it (seed 17000848: same millisecond) ends
	 * the stretch, which still counts if it lasted W up to the send. */
	if (q->mode == FSM_MODE_SECONDARY) {
		const struct fsm_config *cf = &w->d.cfg;
		unsigned o = w->vms[v].a == node ? w->vms[v].b : w->vms[v].a;
		const struct sim_qemu *p = &w->q[o][v];
		int64_t wait = cf->self_wait_ms > 0 ? cf->self_wait_ms :
			       cf->liveness_period_ms + cf->liveness_bound_ms +
			       cf->self_fence_timeout_ms + cf->kill_time_ms + 1000;
		const struct sim_node *on = &w->nodes[o];
		bool self_ok = w->s->p.policy == FSM_FENCE_SELF &&
			       (p->run == FSM_RUN_PAUSED ||
				(!sim_alone(p) &&
				 ((on->outside_since && w->now - on->outside_since >= wait) ||
				  (on->outside_prev_end >= c->issued &&
				   c->issued - on->outside_prev_since >= wait))));

		if (live(p) && on->power && !self_ok)
			sim_violate(w, 6, "takeover of %s while the other side %s "
				    "is alive and not fenced%s", w->vms[v].name, who(w, o, v),
				    w->s->p.policy == FSM_FENCE_SELF ?
				    ", not paused, not cut off for the self wait" : "");
	}
}

static bool prop_eq(const struct fsm_proposal *a, const struct fsm_proposal *b)
{
	return a->from_n == b->from_n && a->proposer == b->proposer &&
	       a->to.n == b->to.n && a->to.kind == b->to.kind &&
	       a->to.holder == b->to.holder && inst_eq(&a->to.hinst, &b->to.hinst) &&
	       a->to.secondary == b->to.secondary && inst_eq(&a->to.sinst, &b->to.sinst);
}

static bool epoch_eq(const struct fsm_epoch *a, const struct fsm_epoch *b)
{
	return a->n == b->n && a->kind == b->kind && a->holder == b->holder &&
	       inst_eq(&a->hinst, &b->hinst) &&
	       (a->kind != FSM_EPOCH_COLO || (a->secondary == b->secondary &&
					      inst_eq(&a->sinst, &b->sinst)));
}

void sim_check_persist(struct sim_world *w, unsigned node, unsigned v,
		       const struct fsm_persist *rec)
{
	struct sim_node *n = &w->nodes[node];
	struct sim_vm *vm = &w->vms[v];
	uint64_t e = rec->epoch.n;

	/* 4. recorded epochs never decrease, across restarts too */
	if (n->disk_has[v] && e < n->disk[v].epoch.n) {
		sim_violate(w, 4, "n%u's recorded E(%s) goes back from %llu to %llu",
			    node + 1, vm->name, (unsigned long long)n->disk[v].epoch.n,
			    (unsigned long long)e);
		return;
	}
	/* 4. committed transitions form one chain */
	if (e == 0 || e >= 64)
		return;
	if (!vm->chain_has[e]) {
		vm->chain_has[e] = true;
		vm->chain[e] = rec->epoch;
	} else if (!epoch_eq(&vm->chain[e], &rec->epoch)) {
		sim_violate(w, 4, "two different epochs n=%llu of %s committed: "
			    "%s holder n%u pid %u vs %s holder n%u pid %u (n%u)",
			    (unsigned long long)e, vm->name,
			    fsm_epoch_kind_to_str(vm->chain[e].kind), vm->chain[e].holder,
			    vm->chain[e].hinst.pid, fsm_epoch_kind_to_str(rec->epoch.kind),
			    rec->epoch.holder, rec->epoch.hinst.pid, node + 1);
	}
}

void sim_check_ack(struct sim_world *w, unsigned node, unsigned v,
		   const struct fsm_proposal *p)
{
	struct sim_node *n = &w->nodes[node];
	const struct fsm_persist *d = &n->durable[v];

	for (unsigned k = 0; k < n->n_acks; k++)
		if (n->acks[k].vm == v && n->acks[k].p.from_n == p->from_n) {
			if (!prop_eq(&n->acks[k].p, p))
				sim_violate(w, 4, "n%u acks two transitions of %s out of "
					    "n=%llu: to %s holder n%u, then to %s holder n%u",
					    node + 1, w->vms[v].name,
					    (unsigned long long)p->from_n,
					    fsm_epoch_kind_to_str(n->acks[k].p.to.kind),
					    n->acks[k].p.to.holder,
					    fsm_epoch_kind_to_str(p->to.kind), p->to.holder);
			return;
		}
	if (!n->durable_has[v] || !d->acked ||
	    (!prop_eq(&d->acked_prop, p) && d->acked_prop.from_n <= p->from_n))
		sim_violate(w, 4, "n%u acks T(%s, %llu->%llu) before the ack is durable",
			    node + 1, w->vms[v].name, (unsigned long long)p->from_n,
			    (unsigned long long)p->to.n);
	if (n->n_acks == SIM_ACKLOG) {
		memmove(n->acks, n->acks + 1, (SIM_ACKLOG - 1) * sizeof(n->acks[0]));
		n->n_acks--;
	}
	n->acks[n->n_acks].vm = v;
	n->acks[n->n_acks++].p = *p;
}

/* doc/fsm.md §11: an ack held for a transition out of the current n that
 * never committed blocks every other transition out of n */
static bool held_ack(const struct sim_world *w, unsigned v)
{
	const struct fsm_epoch *e = max_epoch(w, v);
	uint64_t n = e ? e->n : 0;

	for (unsigned i = 0; i < w->s->p.nodes; i++) {
		const struct fsm_persist *d = &w->nodes[i].durable[v];

		if (w->nodes[i].durable_has[v] && d->acked && d->acked_prop.from_n == n)
			return true;
	}
	return false;
}

/* 10. liveness, after faults stopped and the cluster had time to act */
void sim_check_end(struct sim_world *w)
{
	for (unsigned v = 0; v < w->s->p.vms && !w->v.hit; v++) {
		const struct sim_vm *vm = &w->vms[v];
		unsigned x[2] = { vm->a, vm->b };
		bool ok = sim_pair_healthy(w, v), said = false, anyarb = false;
		bool limited = false;

		for (int k = 0; k < 2; k++)
			if (sim_alone(&w->q[x[k]][v]))
				ok = true;
		if (ok)
			continue;
		for (int k = 0; k < 2; k++) {
			const struct sim_node *n = &w->nodes[x[k]];
			const struct sim_qemu *q = &w->q[x[k]][v];
			const struct fsm_epoch *e = max_epoch(w, v);
			/* eligible (SAFETY C2): current physically and named by
			 * the committed epoch, so an arbiter can know it */
			bool named = e && ((e->holder == x[k] + 1 && inst_eq(&e->hinst, &q->inst)) ||
					   (e->kind == FSM_EPOCH_COLO && e->secondary == x[k] + 1 &&
					    inst_eq(&e->sinst, &q->inst)));

			if (!named && live(q) && q->have == vm->released)
				continue;
			if (live(q) && q->have == vm->released && n->power && n->cs_up &&
			    !n->stalled && !sim_node_outside(w, x[k]) && n->arb_up &&
			    !q->hung && held_ack(w, v)) {
				w->limit_stalls++;
				limited = true;
				break;
			}
			if (live(q) && q->have == vm->released && n->power && n->cs_up &&
			    !n->stalled && !sim_node_outside(w, x[k]) && n->arb_up &&
			    !q->hung) {
				if (vm->reset && !vm->break_seen) {
					/* §11: QEMU's queries do not show a
					 * replication break; no arbiter got the
					 * COLO_EXIT{error} that did */
					w->limit_breaks++;
					limited = true;
					break;
				}
				sim_violate(w, 10, "after the faults stopped nobody runs %s, "
					    "though %s holds every output (status there: %s, %s)",
					    vm->name, who(w, x[k], v),
					    fsm_vm_status_to_str(n->status[v]),
					    n->status_why[v] ? n->status_why[v] : "-");
				break;
			}
		}
		for (int k = 0; k < 2; k++) {
			const struct sim_node *n = &w->nodes[x[k]];

			if (n->arb_up) {
				anyarb = true;
				/* status --json shows gate_closed (e.g. inquorate) */
				if (!fsm_gate_open(n->f))
					said = true;
				if (n->status_why[v] && (n->status[v] == FSM_ST_STALLED ||
				    n->status[v] == FSM_ST_WAITING ||
				    n->status[v] == FSM_ST_FROZEN ||
				    (n->status[v] == FSM_ST_STALE &&
				     live(&w->q[x[k]][v]))))
					said = true;
			}
		}
		/* with no QEMU of v left alive anywhere there is nothing to run
		 * and nothing to report on: Pacemaker must start it again */
		if (limited || (!live(&w->q[vm->a][v]) && !live(&w->q[vm->b][v])))
			continue;
		if (!w->v.hit && anyarb && !said)
			sim_violate(w, 10, "%s stalls (no side holds every output and runs) "
				    "and no arbiter's status says why", vm->name);
	}
}
