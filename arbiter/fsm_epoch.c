/*
 * fsm_epoch.c: the per-VM epoch protocol of SAFETY.md §0: persisted records,
 * proposals T(v, n -> n+1), acks only for the first transition out of n and
 * only once durable, commit by a majority of expected votes, adoption of a
 * newer committed epoch.  (Commit by fencing is in fsm_vm.c, where the
 * proposer knows which node may hold the other copy.)
 *
 * Must not: do I/O, read a clock, keep globals, log.
 */
#include <stdlib.h>
#include <string.h>

#include "fsm_state.h"

void fsm_persist(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	struct fsm_action *a = fsm_act(f, out, FSM_ACT_PERSIST);

	fsm_name_copy(vm->p.vm, vm->name, sizeof(vm->p.vm));
	a->u.persist.rec = vm->p;
	a->u.persist.seq = ++f->persist_seq;
	vm->persist_seq = f->persist_seq;
}

void fsm_tracks_clear(struct fsm_vm *vm)
{
	free(vm->tr);
	vm->tr = NULL;
}

/* A committed epoch is a fact: adopt it if newer, persist it. */
void fsm_epoch_adopt(struct fsm *f, struct fsm_vm *vm,
		     const struct fsm_epoch *e, struct fsm_actions *out)
{
	if (e->n <= vm->p.epoch.n)
		return;
	vm->p.epoch = *e;
	fsm_tracks_clear(vm);
	if (vm->local && vm->q.alive &&
	    fsm_epoch_names(e, f->cfg.local_nodeid, &vm->q.inst)) {
		vm->inst_named = true;
		vm->inst_named_n = e->n;
		vm->p.named = true;
		vm->p.named_inst = vm->q.inst;
		vm->p.named_n = e->n;
		if (e->kind == FSM_EPOCH_COLO && e->secondary == f->cfg.local_nodeid &&
		    vm->q.mode == FSM_MODE_SECONDARY && !vm->q.colo_exit_seen) {
			vm->colo_seen = true;
			vm->colo_seen_n = e->n;
		}
		/* a COLO epoch naming this instance after it was frozen
		 * supersedes the mark: a majority has verified it in a
		 * protected pair since (a secondary Pacemaker started while
		 * this node was inquorate, then resynchronised; sim seed
		 * 2140468 left it frozen, unable to take over) */
		if (e->kind == FSM_EPOCH_COLO && vm->p.frozen &&
		    fsm_inst_eq(&vm->p.frozen_inst, &vm->q.inst) && vm->p.frozen_n < e->n) {
			vm->p.frozen = false;
			vm->p.frozen_n = 0;
		}
	}
	fsm_persist(f, vm, out);
	if (vm->prop_active) {
		bool mine = vm->prop.to.n == e->n && vm->prop.to.holder == e->holder &&
			    vm->prop.to.kind == e->kind &&
			    fsm_inst_eq(&vm->prop.to.hinst, &e->hinst);

		if (mine)
			fsm_vm_committed(f, vm, out);
		else if (fsm_mech(f, FSM_MECH_EPOCH_CAS) && vm->prop.from_n < e->n)
			fsm_vm_abort(f, vm, "epoch moved past our proposal", out);
	}
}

static bool prop_eq(const struct fsm_proposal *a, const struct fsm_proposal *b)
{
	return a->from_n == b->from_n && a->proposer == b->proposer &&
	       a->to.n == b->to.n && a->to.kind == b->to.kind &&
	       a->to.holder == b->to.holder &&
	       fsm_inst_eq(&a->to.hinst, &b->to.hinst) &&
	       a->to.secondary == b->to.secondary &&
	       fsm_inst_eq(&a->to.sinst, &b->to.sinst);
}

/* The track counting p's acks, or NULL. */
static struct fsm_prop_track *track_find(const struct fsm_vm *vm,
					 const struct fsm_proposal *p)
{
	for (unsigned i = 0; vm->tr && i < FSM_MAX_PROPOSALS; i++)
		if (vm->tr[i].used && prop_eq(&vm->tr[i].prop, p))
			return &vm->tr[i];
	return NULL;
}

static bool track_has(const struct fsm_prop_track *t, uint32_t node)
{
	for (unsigned i = 0; i < t->n_ack; i++)
		if (t->ackers[i] == node)
			return true;
	return false;
}

static struct fsm_prop_track *track_get(struct fsm_vm *vm,
					const struct fsm_proposal *p)
{
	struct fsm_prop_track *fr = track_find(vm, p);

	if (fr)
		return fr;
	if (!vm->tr) {
		vm->tr = calloc(FSM_MAX_PROPOSALS, sizeof(*vm->tr));
		if (!vm->tr)
			return NULL; /* as when every track is taken */
	}
	for (unsigned i = 0; i < FSM_MAX_PROPOSALS && !fr; i++)
		if (!vm->tr[i].used)
			fr = &vm->tr[i];
	if (!fr)
		return NULL;
	memset(fr, 0, sizeof(*fr));
	fr->used = true;
	fr->prop = *p;
	return fr;
}

void fsm_propose(struct fsm *f, struct fsm_vm *vm, const struct fsm_epoch *to,
		 struct fsm_actions *out)
{
	struct fsm_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = FSM_MSG_PROPOSE;
	fsm_name_copy(m.vm, vm->name, sizeof(m.vm));
	m.prop.from_n = vm->p.epoch.n;
	m.prop.proposer = f->cfg.local_nodeid;
	m.prop.to = *to;
	m.prop.to.n = vm->p.epoch.n + 1;
	vm->prop = m.prop;
	vm->prop_active = true;
	vm->prop_since = f->now_mono;
	fsm_send(f, out, &m);
}

void fsm_epoch_send_ack(struct fsm *f, struct fsm_vm *vm,
		     const struct fsm_proposal *p, enum fsm_msg_kind kind,
		     struct fsm_actions *out)
{
	struct fsm_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	fsm_name_copy(m.vm, vm->name, sizeof(m.vm));
	m.prop = *p;
	m.epoch = vm->p.epoch;
	fsm_send(f, out, &m);
}

/* SAFETY §0: ack only the first transition out of n, persisted first. */
void fsm_epoch_on_propose(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		       const struct fsm_proposal *p, struct fsm_actions *out)
{
	bool cas = fsm_mech(f, FSM_MECH_EPOCH_CAS);

	fsm_node_alive(f, from);
	if (p->to.n != p->from_n + 1 || p->proposer != from) {
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_NACK, out);
		return;
	}
	if (cas && p->from_n < vm->p.epoch.n) {
		/* behind: our newer E(v) in the NACK tells the proposer */
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_NACK, out);
		return;
	}
	if (cas && vm->p.acked && vm->p.acked_prop.from_n >= p->from_n &&
	    !prop_eq(&vm->p.acked_prop, p)) {
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_NACK, out);
		return;
	}
	/* H3/C2c: nobody on a node with a fence in flight goes solo */
	if (fsm_mech(f, FSM_MECH_FENCE_INCARNATION) &&
	    p->to.kind == FSM_EPOCH_SOLO && fsm_fence_pending(f, p->to.holder)) {
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_NACK, out);
		return;
	}
	if (vm->p.acked && prop_eq(&vm->p.acked_prop, p) && !vm->ack_pending) {
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_ACK, out); /* duplicate: idempotent */
		return;
	}
	vm->p.acked = true;
	vm->p.acked_prop = *p;
	if (!fsm_mech(f, FSM_MECH_PERSIST_BEFORE_ACK)) {
		fsm_persist(f, vm, out);
		fsm_epoch_send_ack(f, vm, p, FSM_MSG_ACK, out);
		return;
	}
	fsm_persist(f, vm, out);
	vm->ack_pending = true;
	vm->ack_prop = *p;
	vm->ack_persist_seq = vm->persist_seq;
}

static unsigned majority_votes(const struct fsm *f)
{
	unsigned votes = f->cfg.expected_votes;

	if (!fsm_mech(f, FSM_MECH_TWO_NODE)) {
		/* the C3 hole: count the votes of the partition we are in */
		votes = 0;
		for (unsigned i = 0; i < FSM_MAX_NODES; i++)
			if (f->nodes[i].used && f->nodes[i].in_ring)
				votes++;
	}
	return votes / 2 + 1;
}

void fsm_epoch_on_ack(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		   const struct fsm_proposal *p, struct fsm_actions *out)
{
	bool cas = fsm_mech(f, FSM_MECH_EPOCH_CAS);
	struct fsm_prop_track *t;

	fsm_node_alive(f, from);
	if (cas && p->from_n != vm->p.epoch.n)
		return;
	t = track_get(vm, p);
	if (!t || track_has(t, from))
		return;
	if (t->n_ack < FSM_MAX_NODES)
		t->ackers[t->n_ack++] = from;
	if (t->n_ack >= majority_votes(f)) {
		struct fsm_epoch e = p->to;

		/* without compare-and-swap on n, the last commit simply wins */
		if (!cas && e.n <= vm->p.epoch.n)
			vm->p.epoch.n = e.n - 1;
		fsm_epoch_adopt(f, vm, &e, out);
		fsm_audit(f, vm, "epoch-commit-majority", "committed", out, out->n);
	}
}

bool fsm_epoch_own_ack_in(const struct fsm *f, const struct fsm_vm *vm)
{
	const struct fsm_prop_track *t = vm->prop_active ? track_find(vm, &vm->prop) : NULL;

	return t && track_has(t, f->cfg.local_nodeid);
}

void fsm_epoch_on_nack(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		    const struct fsm_msg *m, struct fsm_actions *out)
{
	fsm_node_alive(f, from);
	fsm_epoch_adopt(f, vm, &m->epoch, out);
	if (vm->prop_active && prop_eq(&vm->prop, &m->prop)) {
		fsm_vm_abort(f, vm, "proposal refused", out);
		/* re-derived after one period, not at once: a refusal that
		 * persists (an ack held for a dead proposer, a fence in
		 * flight) must not become a proposal storm on the group */
		vm->retry_after = f->now_mono + f->cfg.liveness_period_ms;
	}
}

