/*
 * fsm_vm.c: per-VM rules (DESIGN §4 rules 1-6 as amended by SAFETY.md) and
 * the QMP command sequences that carry them out: go solo, take over,
 * resume, record a COLO epoch, freeze, kill.  Every command is tagged with
 * (VM, epoch, QEMU instance) and the gate and E(v) are re-checked before
 * each one (M2).
 *
 * Must not: do I/O, read a clock, keep globals, log.
 */
#include <string.h>

#include "compiler.h"
#include "fsm_state.h"

#define POLL_MS 10

static uint32_t local_id(const struct fsm *f)
{
	return f->cfg.local_nodeid;
}

static uint32_t vm_slot(const struct fsm *f, const struct fsm_vm *vm)
{
	(void)f;
	return vm->slot;
}

static bool named_solo(const struct fsm *f, const struct fsm_vm *vm)
{
	const struct fsm_epoch *e = &vm->p.epoch;

	return e->kind == FSM_EPOCH_SOLO && e->holder == local_id(f) &&
	       fsm_inst_eq(&e->hinst, &vm->q.inst);
}

/* SAFETY §0: alone = mode none and running (or a failover under way). */
static bool side_alone(const struct fsm_vm *vm)
{
	return vm->q.alive && (vm->failover_inflight ||
			       (vm->q.mode == FSM_MODE_NONE &&
				vm->q.run != FSM_RUN_PAUSED));
}

static bool side_primaryish(const struct fsm_vm *vm)
{
	return vm->q.mode == FSM_MODE_PRIMARY ||
	       vm->q.last_mode == FSM_MODE_PRIMARY;
}

void fsm_vm_set_status(struct fsm *f, struct fsm_vm *vm, enum fsm_vm_status st,
		       uint32_t where, const char *why, struct fsm_actions *out)
{
	struct fsm_action *a;

	if (vm->status == st && vm->where == where && vm->why == why)
		return;
	vm->status = st;
	vm->where = where;
	vm->why = why;
	a = fsm_act(f, out, FSM_ACT_STATUS);
	fsm_name_copy(a->u.status.vm, vm->name, sizeof(a->u.status.vm));
	a->u.status.status = st;
	a->u.status.where = where;
	a->u.status.why = why;
}

void fsm_vm_report(const struct fsm *f, const struct fsm_vm *vm,
		   struct fsm_msg *m)
{
	m->kind = FSM_MSG_STATE;
	fsm_name_copy(m->vm, vm->name, sizeof(m->vm));
	m->epoch = vm->p.epoch;
	if (vm->local)
		fsm_vm_side(vm, &m->side);
	(void)f;
}

/* COLO_EXIT{error} of the local instance, seen now or, recorded, by an
 * earlier incarnation of this arbiter (no query shows it again).  Not for
 * eligibility: a secondary that broke was still in COLO at its epoch. */
static bool side_broke(const struct fsm_vm *vm)
{
	return vm->q.colo_exit_seen ||
	       (vm->p.broke && fsm_inst_eq(&vm->p.broke_inst, &vm->q.inst));
}

void fsm_vm_side(const struct fsm_vm *vm, struct fsm_side_report *side)
{
	*side = vm->q;
	side->colo_exit_seen = side_broke(vm);
	side->frozen = vm->p.frozen;
	side->failover_inflight = vm->failover_inflight;
}

static void cmd(struct fsm *f, struct fsm_vm *vm, enum fsm_qmp_cmd c,
		unsigned idx, struct fsm_actions *out)
{
	struct fsm_action *a = fsm_act(f, out, FSM_ACT_QMP);

	fsm_name_copy(a->u.qmp.vm, vm->name, sizeof(a->u.qmp.vm));
	a->u.qmp.cmd = c;
	a->u.qmp.index = idx;
	a->u.qmp.oob = c == FSM_QMP_YANK;
	a->u.qmp.tag.vm = vm_slot(f, vm);
	a->u.qmp.tag.epoch = vm->p.epoch.n;
	a->u.qmp.tag.inst = vm->q.inst;
	a->u.qmp.tag.seq = ++f->cmd_seq;
	if (c == FSM_QMP_YANK) {
		a->u.qmp.n_yank = vm->n_yank;
		a->u.qmp.yank = fsm_vm_yank_list(vm);
	}
	vm->cmd_pending = true;
	vm->tag = a->u.qmp.tag;
	vm->cmd = c;
	if (c == FSM_QMP_LOST_HEARTBEAT)
		vm->failover_inflight = true;
}

/* A sequence's commands in flight and its commit, forgotten when it ends
 * and when the next one begins. */
static void seq_clear_flight(struct fsm_vm *vm)
{
	vm->cmd_pending = false;
	vm->poll_due = 0;
	vm->commit_early = false;
	vm->commit_durable = false;
	vm->posts_out = 0;
	vm->pres_out = 0;
}

void fsm_vm_abort(struct fsm *f, struct fsm_vm *vm, const char *why,
		  struct fsm_actions *out)
{
	unsigned first = out->n;
	const char *rule = vm->rule ? vm->rule : "sequence";

	if (vm->seq == FSM_SEQ_NONE)
		return;
	vm->seq = FSM_SEQ_NONE;
	vm->ph = FSM_PH_IDLE;
	vm->prop_active = false;
	seq_clear_flight(vm);
	fsm_audit(f, vm, rule, why, out, first);
}

static void seq_begin(struct fsm *f, struct fsm_vm *vm, enum fsm_seq_kind k,
		      const char *rule)
{
	vm->seq = k;
	vm->cleanup_failed = false;
	vm->rule = rule;
	vm->idx = 0;
	vm->resent_lhb = false;
	seq_clear_flight(vm);
	(void)f;
}

static void start_kill(struct fsm *f, struct fsm_vm *vm, const char *rule,
		       const char *why, uint32_t where, struct fsm_actions *out)
{
	unsigned first = out->n;
	struct fsm_action *a;

	fsm_vm_abort(f, vm, "superseded by kill", out);
	seq_begin(f, vm, FSM_SEQ_KILL, rule);
	vm->ph = FSM_PH_KILLED;
	a = fsm_act(f, out, FSM_ACT_KILL);
	fsm_name_copy(a->u.kill.vm, vm->name, sizeof(a->u.kill.vm));
	a->u.kill.inst = vm->q.inst;
	fsm_vm_set_status(f, vm, FSM_ST_STALE, where, why, out);
	fsm_audit(f, vm, rule, why, out, first);
}

/* ---- freeze (rule 4, H2, A5, A9) -------------------------------------- */

static void freeze_step(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);

static void start_freeze(struct fsm *f, struct fsm_vm *vm, const char *rule,
			 struct fsm_actions *out)
{
	unsigned first = out->n;
	bool inflight = vm->failover_inflight;

	if (f->cfg.no_quorum == FSM_NOQUORUM_KILL) {
		start_kill(f, vm, rule, "no-quorum policy kill", 0, out);
		return;
	}
	vm->seq = FSM_SEQ_NONE; /* drop a running sequence, keep its flags */
	vm->prop_active = false;
	seq_begin(f, vm, FSM_SEQ_FREEZE, rule);
	vm->seq_deadline = f->now_mono + f->cfg.self_fence_timeout_ms;
	fsm_vm_set_status(f, vm, FSM_ST_FREEZING, 0, rule, out);
	if (inflight && fsm_mech(f, FSM_MECH_FREEZE_CONFIRM)) {
		/* H2: a stop now would be undone by QEMU's own vm_start */
		vm->ph = FSM_PH_FZ_WAIT_FO;
		cmd(f, vm, FSM_QMP_QUERY_COLO_STATUS, 0, out);
	} else {
		vm->ph = FSM_PH_FZ_PERSIST;
		freeze_step(f, vm, out);
	}
	fsm_audit(f, vm, rule, "freeze", out, first);
}

static void freeze_step(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	switch (vm->ph) {
	case FSM_PH_FZ_PERSIST:
		/* C1: FROZEN(v, n) is durable before `stop` goes out */
		vm->p.frozen = true;
		vm->p.frozen_n = vm->p.epoch.n;
		vm->p.frozen_inst = vm->q.inst;
		fsm_persist(f, vm, out);
		vm->seq_persist_seq = vm->persist_seq;
		break;
	case FSM_PH_FZ_YANK:
		if (side_primaryish(vm) && fsm_mech(f, FSM_MECH_YANK_FIRST)) {
			cmd(f, vm, FSM_QMP_YANK, 0, out);
			break;
		}
		vm->ph = FSM_PH_FZ_STOP;
		/* fall through */
	case FSM_PH_FZ_STOP:
		cmd(f, vm, FSM_QMP_STOP, 0, out);
		break;
	case FSM_PH_FZ_QSTATUS:
		cmd(f, vm, FSM_QMP_QUERY_STATUS, 0, out);
		break;
	default:
		break;
	}
}

static void freeze_done(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	unsigned first = out->n;

	vm->seq = FSM_SEQ_NONE;
	vm->ph = FSM_PH_IDLE;
	fsm_vm_set_status(f, vm, FSM_ST_FROZEN, 0, vm->rule, out);
	fsm_audit(f, vm, vm->rule, "freeze confirmed", out, first);
}

/* ---- go solo / take over / resume / record COLO ------------------------ */

static void seq_step(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);
static void propose_for(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);

static void start_transition(struct fsm *f, struct fsm_vm *vm,
			     enum fsm_seq_kind k, const char *rule,
			     const char *why, struct fsm_actions *out)
{
	unsigned first = out->n;

	seq_begin(f, vm, k, rule);
	if (k == FSM_SEQ_SOLO && fsm_mech(f, FSM_MECH_YANK_FIRST)) {
		/* H5: always yank a primary first.  The proposal goes out with
		 * it: the commit's CPG round and durable acks overlap the yank
		 * (SAFETY §0), and only the pre-failover commands wait for
		 * both (fsm_vm_committed, on_result) */
		vm->ph = FSM_PH_YANK;
		cmd(f, vm, FSM_QMP_YANK, 0, out);
		if (!fsm_gate_reason(f))
			propose_for(f, vm, out);
	} else {
		vm->ph = FSM_PH_COMMIT;
		seq_step(f, vm, out);
	}
	if (k != FSM_SEQ_COLO)
		fsm_vm_set_status(f, vm, FSM_ST_FAILING_OVER, 0, why, out);
	fsm_audit(f, vm, rule, why, out, first);
}

static bool seq_gated(const struct fsm_vm *vm)
{
	return vm->seq == FSM_SEQ_SOLO || vm->seq == FSM_SEQ_TAKEOVER ||
	       vm->seq == FSM_SEQ_RESUME || vm->seq == FSM_SEQ_COLO;
}

/* M2: before each command, the gate and E(v) must still allow it. */
static bool step_allowed(struct fsm *f, struct fsm_vm *vm)
{
	if (fsm_gate_reason(f))
		return false;
	if (!fsm_mech(f, FSM_MECH_ACTION_TAGS))
		return true;
	if (vm->ph == FSM_PH_YANK || vm->ph == FSM_PH_COMMIT)
		return vm->p.epoch.n == vm->prop.from_n || !vm->prop_active;
	return named_solo(f, vm);
}

static void propose_for(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	struct fsm_epoch to;

	memset(&to, 0, sizeof(to));
	to.holder = local_id(f);
	to.hinst = vm->q.inst;
	if (vm->seq == FSM_SEQ_COLO) {
		to.kind = FSM_EPOCH_COLO;
		to.secondary = vm->peer;
		to.sinst = vm->peer_rep.inst;
	} else {
		to.kind = FSM_EPOCH_SOLO;
	}
	fsm_propose(f, vm, &to, out);
}

static void seq_step(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	if (vm->ph != FSM_PH_COMMIT && vm->ph != FSM_PH_YANK &&
	    vm->ph != FSM_PH_QCOLO && vm->ph != FSM_PH_QSTATUS &&
	    !step_allowed(f, vm)) {
		/* hold: the next command waits for the gate; an epoch that
		 * moved past us ends the sequence through the stale check */
		return;
	}
	switch (vm->ph) {
	case FSM_PH_YANK:
		/* resumed after a reconnect: the yank was dropped, resend */
		cmd(f, vm, FSM_QMP_YANK, 0, out);
		break;
	case FSM_PH_COMMIT:
		/* a proposal is a decision too: only through an open gate */
		if (!vm->prop_active && !fsm_gate_reason(f))
			propose_for(f, vm, out);
		break;
	case FSM_PH_PRE:
		/* QEMU runs in-band commands in order and a pre-command's
		 * result decides nothing: all of them go now, each through
		 * this step's check (M2), and x-colo-lost-heartbeat follows
		 * them as soon as E(v) is durable, without a round trip per
		 * reply (a 500-VM node loss waited for every VM's
		 * nbd-server-stop reply to be read first) */
		if (!vm->pres_out)
			vm->pre_seq_next = f->cmd_seq + 1;
		for (; vm->idx + vm->pres_out < vm->n_pre; vm->pres_out++)
			cmd(f, vm, FSM_QMP_PRE, vm->idx + vm->pres_out, out);
		vm->ph = FSM_PH_LHB;
		/* fall through */
	case FSM_PH_LHB:
		if (vm->commit_early && !vm->commit_durable) {
			/* H5: E(v) durable before the command that runs us alone */
			vm->ph = FSM_PH_PERSIST_COMMIT;
			break;
		}
		if (vm->seq == FSM_SEQ_RESUME) {
			vm->ph = FSM_PH_CONT;
			cmd(f, vm, FSM_QMP_CONT, 0, out);
			break;
		}
		cmd(f, vm, FSM_QMP_LOST_HEARTBEAT, 0, out);
		break;
	case FSM_PH_POST:
		if (vm->idx < vm->n_post) {
			/* the clean-up runs no side alone and QEMU runs in-band
			 * commands in order: all of it goes at once, so that
			 * QEMU reads the next command while it runs one */
			vm->posts_out = vm->n_post - vm->idx;
			for (unsigned i = vm->idx; i < vm->n_post; i++)
				cmd(f, vm, FSM_QMP_POST, i, out);
			break;
		}
		vm->ph = FSM_PH_QCOLO;
		/* fall through */
	case FSM_PH_QCOLO:
		cmd(f, vm, FSM_QMP_QUERY_COLO_STATUS, 0, out);
		break;
	case FSM_PH_QSTATUS:
		cmd(f, vm, FSM_QMP_QUERY_STATUS, 0, out);
		break;
	case FSM_PH_CONT:
		cmd(f, vm, FSM_QMP_CONT, 0, out);
		break;
	default:
		break;
	}
}

static void seq_confirmed(struct fsm *f, struct fsm_vm *vm,
			  struct fsm_actions *out)
{
	unsigned first = out->n;

	vm->seq = FSM_SEQ_NONE;
	vm->ph = FSM_PH_IDLE;
	vm->failover_inflight = false;
	vm->admin_force = false;
	if (vm->cleanup_failed) {
		/* M6: redirectors left behind may reattach to the old side's
		 * compare after a heal: running, but not a confirmed failover */
		fsm_vm_set_status(f, vm, FSM_ST_DEGRADED, local_id(f),
				  "M6: running alone, clean-up failed: not confirmed", out);
		fsm_audit(f, vm, "M6-cleanup-failed", "not confirmed", out, first);
		return;
	}
	fsm_vm_set_status(f, vm, FSM_ST_SOLO, local_id(f), vm->rule, out);
	fsm_audit(f, vm, vm->rule, "confirmed running alone", out, first);
}

void fsm_vm_committed(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	unsigned first = out->n;

	if (!vm->prop_active || (vm->ph != FSM_PH_COMMIT && vm->ph != FSM_PH_YANK))
		return;
	vm->prop_active = false;
	if (vm->ph == FSM_PH_YANK) {
		/* the yank's reply is still out: E(v) is persisted meanwhile
		 * and the pre-failover commands start on that reply */
		vm->commit_early = true;
		vm->seq_persist_seq = vm->persist_seq;
		fsm_audit(f, vm, vm->rule, "transition committed", out, first);
		return;
	}
	if (vm->seq == FSM_SEQ_COLO) {
		vm->seq = FSM_SEQ_NONE;
		vm->ph = FSM_PH_IDLE;
		fsm_vm_set_status(f, vm, FSM_ST_PROTECTED, local_id(f),
				  "COLO epoch committed", out);
		fsm_audit(f, vm, vm->rule, "COLO epoch committed", out, first);
		return;
	}
	if (vm->seq == FSM_SEQ_RESUME) {
		vm->p.frozen = false;
		vm->p.frozen_n = 0;
		fsm_persist(f, vm, out);
		/* H5: E(v) is durable before `cont` runs the side alone */
		vm->ph = FSM_PH_PERSIST_COMMIT;
		vm->idx = 0;
		vm->seq_persist_seq = vm->persist_seq;
		fsm_audit(f, vm, vm->rule, "transition committed", out, first);
		return;
	}
	/* The pre-failover commands (a secondary's nbd-server-stop) run no
	 * side alone: they go out while E(v) is made durable, and only
	 * x-colo-lost-heartbeat waits for it (seq_step, H5) */
	vm->commit_early = true;
	vm->commit_durable = false;
	vm->seq_persist_seq = vm->persist_seq;
	vm->ph = FSM_PH_PRE;
	vm->idx = 0;
	seq_step(f, vm, out);
	fsm_audit(f, vm, vm->rule, "transition committed", out, first);
}

void fsm_vm_persisted(struct fsm *f, struct fsm_vm *vm, uint64_t seq,
		      struct fsm_actions *out)
{
	if (seq < vm->seq_persist_seq)
		return;
	if (vm->commit_early && vm->ph != FSM_PH_PERSIST_COMMIT) {
		vm->commit_durable = true; /* the yank or a pre-command is out */
		return;
	}
	if (vm->ph == FSM_PH_PERSIST_COMMIT) {
		/* idx: 0, or past the pre-commands sent while E(v) persisted */
		vm->commit_early = false;
		vm->commit_durable = false;
		vm->ph = vm->seq == FSM_SEQ_RESUME ? FSM_PH_CONT : FSM_PH_PRE;
		seq_step(f, vm, out);
	} else if (vm->ph == FSM_PH_FZ_PERSIST) {
		vm->ph = FSM_PH_FZ_YANK;
		freeze_step(f, vm, out);
	}
}

/* Commit by fencing (SAFETY §0): where no majority can answer (2 nodes,
 * two_node), every node that may hold the other copy must be proven dead.
 * "Can answer" counts every other node of the cluster, not the arbiters in
 * the group now: a node whose arbiter is down (crashed, restarting) still
 * votes, and once its arbiter is back it acks another proposal out of the
 * same n with the nodes we cannot see (sim seed 19461: n3 committed alone
 * while n2's arbiter was dead; n2 rebooted and committed another n with
 * n1). */
static bool fence_commit(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	const struct fsm_node *pn = fsm_node_get(f, vm->peer, false);
	uint32_t others = f->cfg.expected_votes ? f->cfg.expected_votes - 1 : 0;
	/* The proof stands for the peer's vote, not for ours: our own ack,
	 * durable, must be in too.  Without it an arbiter that had acked the
	 * peer's transition out of the same n (committed there with that ack,
	 * its holder then run alone and fenced) committed a second one from
	 * its stale side after a restart: sim seed 21125125. */
	bool own = fsm_epoch_own_ack_in(f, vm);

	if (others >= f->cfg.expected_votes / 2 + 1)
		return false; /* a majority can answer without us: wait for it */
	if (!pn || !fsm_node_lost(f, vm->peer))
		return false;
	switch (f->cfg.fence_policy) {
	case FSM_FENCE_PACEMAKER:
		if (fsm_fence_proof(f, vm->peer))
			return own;
		fsm_request_fence(f, vm->peer, out);
		return false;
	case FSM_FENCE_SELF:
		return own && f->now_mono - pn->lost_since_mono >= fsm_self_wait(f);
	case FSM_FENCE_NONE:
		return own;
	}
	return false;
}

static void seq_poll(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	if (vm->ph == FSM_PH_COMMIT && vm->prop_active) {
		if (fence_commit(f, vm, out)) {
			struct fsm_epoch e = vm->prop.to;

			fsm_audit(f, vm, "epoch-commit-fence",
				  "committed by fencing the peer", out, out->n);
			fsm_epoch_adopt(f, vm, &e, out);
			return;
		}
		if (f->now_mono - vm->prop_since >= f->cfg.commit_timeout_ms)
			fsm_vm_abort(f, vm, "commit timeout: re-derive", out);
		return;
	}
	if (vm->poll_due && vm->poll_due <= f->now_mono) {
		vm->poll_due = 0;
		if (vm->ph == FSM_PH_QCOLO || vm->ph == FSM_PH_FZ_WAIT_FO)
			cmd(f, vm, FSM_QMP_QUERY_COLO_STATUS, 0, out);
	}
}

/* A freeze runs to its end even if the gate reopens; SFT bounds it (A5). */
static void freeze_poll(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	if (f->now_mono >= vm->seq_deadline) {
		start_kill(f, vm, vm->rule, "freeze not confirmed within SFT", 0, out);
		return;
	}
	seq_poll(f, vm, out);
}

/* ---- command results ---------------------------------------------------- */

/* The answer to the oldest pre-failover command still out (they are
 * answered in order, the failover command perhaps out behind them). */
static bool pre_answer(const struct fsm_vm *vm, const struct fsm_tag *t)
{
	return vm->pres_out && t->seq == vm->pre_seq_next;
}

static bool tag_ok(const struct fsm *f, const struct fsm_vm *vm,
		   const struct fsm_tag *t)
{
	if (!vm->cmd_pending)
		return false;
	if (!fsm_mech(f, FSM_MECH_ACTION_TAGS))
		return true;
	if (pre_answer(vm, t)) {
		/* checked below like any other */
	} else if (vm->ph == FSM_PH_POST && vm->posts_out) {
		/* one of the clean-up's commands still out: QEMU answers them
		 * in order, and a failure of any sends the rest again */
		if (t->seq > vm->tag.seq || t->seq <= vm->tag.seq - vm->posts_out)
			return false;
	} else if (t->seq != vm->tag.seq) {
		return false;
	}
	return fsm_inst_eq(&t->inst, &vm->q.inst) && vm->tag.vm == t->vm;
}

static void after_lhb(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	vm->pres_out = 0; /* answered in order: none can still be out */
	vm->idx = 0;
	vm->ph = FSM_PH_POST;
	seq_step(f, vm, out);
}

static void on_colo_status(struct fsm *f, struct fsm_vm *vm,
			   struct fsm_actions *out)
{
	const struct fsm_side_report *q = &vm->q;
	bool done = q->mode == FSM_MODE_NONE && q->reason != FSM_REASON_PROCESSING;

	if (done)
		vm->failover_inflight = false;
	switch (vm->ph) {
	case FSM_PH_QCOLO:
		if (done) {
			vm->ph = FSM_PH_QSTATUS;
			seq_step(f, vm, out);
		} else {
			vm->poll_due = f->now_mono + POLL_MS;
		}
		break;
	case FSM_PH_RECONNECT:
		/* re-query after a reconnect: resend only what was dropped */
		if (vm->resume_ph == FSM_PH_LHB && done) {
			after_lhb(f, vm, out);
		} else if (vm->resume_ph == FSM_PH_LHB) {
			vm->ph = vm->idx < vm->n_pre ? FSM_PH_PRE : FSM_PH_LHB;
			vm->resent_lhb = true;
			seq_step(f, vm, out);
		} else {
			vm->ph = vm->resume_ph;
			seq_step(f, vm, out);
		}
		break;
	case FSM_PH_FZ_WAIT_FO:
		if (done) {
			vm->ph = FSM_PH_FZ_PERSIST;
			freeze_step(f, vm, out);
		} else {
			vm->poll_due = f->now_mono + POLL_MS;
		}
		break;
	default:
		break;
	}
}

static void on_run_status(struct fsm *f, struct fsm_vm *vm,
			  struct fsm_actions *out)
{
	if (vm->ph == FSM_PH_QSTATUS) {
		if (vm->q.run == FSM_RUN_RUNNING) {
			seq_confirmed(f, vm, out);
		} else {
			vm->ph = FSM_PH_CONT; /* a primary left paused */
			seq_step(f, vm, out);
		}
	} else if (vm->ph == FSM_PH_FZ_QSTATUS) {
		/* A5: paused, read with no failover in flight; else kill */
		if (vm->q.run == FSM_RUN_PAUSED && !vm->failover_inflight)
			freeze_done(f, vm, out);
		else
			start_kill(f, vm, vm->rule, "freeze not confirmed", 0, out);
	}
}

static void on_result(struct fsm *f, struct fsm_vm *vm,
		      const struct fsm_event *ev, struct fsm_actions *out)
{
	enum fsm_cmd_result r = ev->u.result.result;
	bool pre;

	if (!tag_ok(f, vm, &ev->u.result.tag))
		return; /* M2: from an older epoch, instance or sequence */
	pre = pre_answer(vm, &ev->u.result.tag);
	vm->cmd_pending = false;
	if (r == FSM_RES_NOT_DELIVERED || r == FSM_RES_TIMEOUT) {
		if (vm->ph == FSM_PH_KILLED)
			return;
		vm->posts_out = 0; /* the rest of the clean-up is resent */
		vm->resume_ph = vm->ph;
		if (vm->pres_out) {
			/* the unanswered pre-commands go again first, unless
			 * the failover command is out behind them: then the
			 * query after the reconnect says what is still due */
			vm->pres_out = 0;
			if (vm->ph != FSM_PH_LHB)
				vm->resume_ph = FSM_PH_PRE;
		}
		vm->ph = FSM_PH_RECONNECT;
		if (r == FSM_RES_TIMEOUT && vm->q.connected)
			cmd(f, vm, FSM_QMP_QUERY_COLO_STATUS, 0, out);
		return;
	}
	if (pre) {
		vm->pres_out--;
		vm->pre_seq_next++;
		vm->idx++;
		/* still out: more of them, or the failover command behind */
		vm->cmd_pending = vm->pres_out || vm->ph == FSM_PH_LHB;
		return;
	}
	switch (vm->ph) {
	case FSM_PH_YANK:
		if (vm->commit_early) {
			/* committed while the yank was out; E(v) may still be
			 * persisting: x-colo-lost-heartbeat waits for it */
			vm->ph = FSM_PH_PRE;
			vm->idx = 0;
			seq_step(f, vm, out);
			break;
		}
		vm->ph = FSM_PH_COMMIT;
		seq_step(f, vm, out);
		break;
	case FSM_PH_LHB:
		/* an ERROR means "not in COLO": already failed over, resend-safe */
		after_lhb(f, vm, out);
		break;
	case FSM_PH_POST:
		if (r == FSM_RES_ERROR)
			vm->cleanup_failed = true;
		vm->idx++;
		if (vm->posts_out && --vm->posts_out) {
			vm->cmd_pending = true; /* the next of the clean-up */
			break;
		}
		seq_step(f, vm, out);
		break;
	case FSM_PH_CONT:
		vm->ph = FSM_PH_QSTATUS;
		seq_step(f, vm, out);
		break;
	case FSM_PH_FZ_YANK:
		vm->ph = FSM_PH_FZ_STOP;
		freeze_step(f, vm, out);
		break;
	case FSM_PH_FZ_STOP:
		if (!fsm_mech(f, FSM_MECH_FREEZE_CONFIRM)) {
			freeze_done(f, vm, out); /* trusting `stop`: the H2 hole */
			break;
		}
		vm->ph = FSM_PH_FZ_QSTATUS;
		freeze_step(f, vm, out);
		break;
	default:
		break;
	}
}

void fsm_vm_result(struct fsm *f, struct fsm_vm *vm, const struct fsm_event *ev,
		   struct fsm_actions *out)
{
	switch (ev->kind) {
	case FSM_EV_QMP_RESULT:
		on_result(f, vm, ev, out);
		return;
	case FSM_EV_QMP_CONNECTED:
		if (vm->ph == FSM_PH_RECONNECT)
			cmd(f, vm, FSM_QMP_QUERY_COLO_STATUS, 0, out);
		return;
	case FSM_EV_QMP_COLO_STATUS:
	case FSM_EV_QMP_STATUS:
		break;
	default:
		return;
	}
	if (ev->u.qmp.tagged) {
		if (!tag_ok(f, vm, &ev->u.qmp.tag))
			return;
		vm->cmd_pending = false;
	} else if (vm->cmd_pending) {
		return; /* an untagged fact: wait for our own reply */
	}
	if (ev->kind == FSM_EV_QMP_COLO_STATUS)
		on_colo_status(f, vm, out);
	else
		on_run_status(f, vm, out);
}

void fsm_vm_new_instance(struct fsm *f, struct fsm_vm *vm,
			 const struct fsm_instance *inst, struct fsm_actions *out)
{
	bool tags = fsm_mech(f, FSM_MECH_ACTION_TAGS);

	if (tags && vm->seq != FSM_SEQ_NONE)
		fsm_vm_abort(f, vm, "new QEMU instance", out);
	memset(&vm->q, 0, sizeof(vm->q));
	vm->q.present = true;
	vm->q.alive = true;
	vm->q.inst = *inst;
	vm->q_colo_known = vm->q_status_known = false;
	vm->colo_seen = false;
	vm->cleanup_failed = false;
	if (tags)
		vm->failover_inflight = false;
	/* rule 6: the record says whether this instance was ever named */
	vm->inst_named = fsm_epoch_names(&vm->p.epoch, local_id(f), inst);
	vm->inst_named_n = vm->p.epoch.n;
	if (!vm->inst_named && vm->p.named && fsm_inst_eq(&vm->p.named_inst, inst)) {
		vm->inst_named = true;
		vm->inst_named_n = vm->p.named_n;
	}
	/* FROZEN(v, n) and a recorded break belong to their instance, not
	 * to its successor */
	bool drop_frozen = vm->p.frozen && !fsm_inst_eq(&vm->p.frozen_inst, inst);
	bool drop_broke = vm->p.broke && !fsm_inst_eq(&vm->p.broke_inst, inst);

	if (drop_frozen) {
		vm->p.frozen = false;
		vm->p.frozen_n = 0;
	}
	if (drop_broke) {
		vm->p.broke = false;
		memset(&vm->p.broke_inst, 0, sizeof(vm->p.broke_inst));
	}
	if (drop_frozen || drop_broke)
		fsm_persist(f, vm, out);
}

/* ---- the rules ------------------------------------------------------- */

static bool needs_freeze(const struct fsm *f, const struct fsm_vm *vm)
{
	if (!vm->q.alive)
		return false;
	if (side_alone(vm))
		return true;
	/* A9/H1: COLO primaries only if compare does not gate all I/O */
	return vm->q.mode == FSM_MODE_PRIMARY &&
	       (f->cfg.freeze_colo_primaries ||
		!fsm_mech(f, FSM_MECH_FREEZE_SOLO_ONLY));
}

bool fsm_vm_watchdog_hold(const struct fsm *f, const struct fsm_vm *vm)
{
	if (!vm->local || !vm->q.present || !vm->q.alive)
		return false;
	if (vm->q.mode == FSM_MODE_UNKNOWN)
		return vm->q.inst.pid != 0; /* a QEMU here, not read yet */
	if (vm->p.frozen && vm->status == FSM_ST_FROZEN)
		return false;
	return vm->failover_inflight || needs_freeze(f, vm);
}

static void rule_primary(struct fsm *f, struct fsm_vm *vm, bool peer_lost,
			 const struct fsm_side_report *rep,
			 struct fsm_actions *out)
{
	const struct fsm_epoch *e = &vm->p.epoch;
	bool current = e->n == 0 ||
		       (e->holder == local_id(f) && fsm_inst_eq(&e->hinst, &vm->q.inst));
	bool qemu_gone = rep && rep->present && !rep->alive;
	bool broke = side_broke(vm) || (rep && rep->colo_exit_seen);
	const char *rule;

	if (!current) {
		fsm_vm_set_status(f, vm, FSM_ST_STALLED, e->holder,
				  "local primary not named by E(v)", out);
		return;
	}
	if (peer_lost || qemu_gone || broke) {
		if (fsm_mech(f, FSM_MECH_FENCE_INCARNATION) &&
		    fsm_fence_pending(f, local_id(f))) {
			fsm_vm_set_status(f, vm, FSM_ST_WAITING, 0,
					  "H3: a fence of this node is pending", out);
			return;
		}
		rule = peer_lost ? "rule1-secondary-node-lost" :
		       qemu_gone ? "rule1-secondary-qemu-gone" : "rule3-colo-broke";
		start_transition(f, vm, FSM_SEQ_SOLO, rule,
				 "primary goes solo through a committed T(SOLO)", out);
		return;
	}
	if (vm->q.mig == FSM_MIG_COLO && rep && rep->alive &&
	    rep->mode == FSM_MODE_SECONDARY && !rep->colo_exit_seen) {
		bool recorded = e->kind == FSM_EPOCH_COLO &&
				e->secondary == vm->peer &&
				fsm_inst_eq(&e->sinst, &rep->inst);

		if (!recorded) {
			start_transition(f, vm, FSM_SEQ_COLO, "colo-epoch",
					 "protected pair: record T(COLO)", out);
			return;
		}
		fsm_vm_set_status(f, vm, FSM_ST_PROTECTED, local_id(f),
				  "COLO epoch committed", out);
		return;
	}
	fsm_vm_set_status(f, vm, FSM_ST_DEGRADED, local_id(f),
			  "pair not verified protected", out);
}

static void rule_secondary(struct fsm *f, struct fsm_vm *vm, bool peer_lost,
			   const struct fsm_side_report *rep,
			   struct fsm_actions *out)
{
	const struct fsm_epoch *e = &vm->p.epoch;
	const struct fsm_node *pn = fsm_node_get(f, vm->peer, false);
	bool lost = false, need_fence = false, eligible;
	const char *rule = NULL;

	if (peer_lost) {
		lost = need_fence = true;
		rule = "rule2-primary-node-lost";
	} else if (rep && rep->present && !rep->alive &&
		   (e->kind != FSM_EPOCH_COLO || fsm_inst_eq(&rep->inst, &e->hinst))) {
		lost = true; /* A7: pidfd exit reported by its arbiter */
		rule = "rule2-primary-qemu-gone";
	} else if (fsm_mech(f, FSM_MECH_ARB_TIMEOUT) &&
		   pn && pn->in_ring && !pn->arb_member && side_broke(vm) &&
		   f->now_mono - pn->arb_gone_mono >= f->cfg.t_arb_ms) {
		lost = need_fence = true;
		rule = "rule5-arbiter-gone-fence";
	}
	/* E(v) already names this secondary as the solo holder: a takeover
	 * committed after its own sequence was aborted (its PROPOSE was
	 * delivered late, in a later view).  It is current by the epoch;
	 * it still waits for the old primary to be gone, as rule 2 does. */
	bool committed = named_solo(f, vm);

	if (!lost) {
		if (committed)
			fsm_vm_set_status(f, vm, FSM_ST_WAITING, vm->peer,
					  "E(v) names this side: waiting for the old "
					  "primary to be gone", out);
		else
			fsm_vm_set_status(f, vm, e->kind == FSM_EPOCH_COLO ?
					  FSM_ST_PROTECTED : FSM_ST_DEGRADED, e->holder,
					  "secondary", out);
		return;
	}
	eligible = committed ||
		   (e->kind == FSM_EPOCH_COLO && e->secondary == local_id(f) &&
		    fsm_inst_eq(&e->sinst, &vm->q.inst) && vm->colo_seen &&
		    vm->colo_seen_n == e->n);
	if (!eligible && fsm_mech(f, FSM_MECH_ELIGIBILITY)) {
		/* C2: stall on purpose, fence nobody for it */
		if (vm->status != FSM_ST_STALLED)
			fsm_audit(f, vm, "C2-eligibility",
				  "not current: no takeover", out, out->n);
		fsm_vm_set_status(f, vm, FSM_ST_STALLED,
				  e->kind == FSM_EPOCH_NONE ? vm->peer : e->holder,
				  "only current copy is on node `where`", out);
		return;
	}
	if (need_fence && fsm_mech(f, FSM_MECH_FENCE_WAIT)) {
		switch (f->cfg.fence_policy) {
		case FSM_FENCE_PACEMAKER:
			if (!fsm_fence_proof(f, vm->peer)) {
				fsm_request_fence(f, vm->peer, out);
				fsm_vm_set_status(f, vm, FSM_ST_WAITING, vm->peer,
						  "waiting for fence proof newer "
						  "than last-alive", out);
				return;
			}
			break;
		case FSM_FENCE_SELF:
			if (!pn || !pn->lost || f->now_mono - pn->lost_since_mono <
			    fsm_self_wait(f)) {
				fsm_vm_set_status(f, vm, FSM_ST_WAITING, vm->peer,
						  "self policy: waiting W (A4)", out);
				return;
			}
			break;
		case FSM_FENCE_NONE:
			break;
		}
	}
	start_transition(f, vm, FSM_SEQ_TAKEOVER, rule,
			 "secondary takes over through a committed T(SOLO)", out);
}

void fsm_vm_eval(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out)
{
	const struct fsm_epoch *e = &vm->p.epoch;
	const struct fsm_node *pn;
	const struct fsm_side_report *rep = NULL;
	const char *fr, *gr;
	bool peer_lost;

	if (!vm->local || !f->started || !vm->q.present)
		return;
	if (vm->seq == FSM_SEQ_KILL)
		return;
	/* C1/A8: once E(v) has passed the local side, it is killed */
	if (fsm_mech(f, FSM_MECH_STALE_KILL) && vm->q.alive && vm->inst_named &&
	    vm->inst_named_n < e->n &&
	    !fsm_epoch_names(e, local_id(f), &vm->q.inst)) {
		start_kill(f, vm, "C1-stale-side", "E(v) has passed the local side",
			   e->holder, out);
		return;
	}
	fr = fsm_freeze_reason(f);
	if (fr) {
		/* rule 4: no failover ever; freeze what may run alone */
		if (seq_gated(vm) && !vm->failover_inflight)
			fsm_vm_abort(f, vm, "gate closed", out);
		if (vm->seq == FSM_SEQ_FREEZE) {
			freeze_poll(f, vm, out);
			return;
		}
		if (!(vm->p.frozen && vm->status == FSM_ST_FROZEN) &&
		    needs_freeze(f, vm))
			start_freeze(f, vm, "rule4-freeze", out);
		return;
	}
	if (vm->seq == FSM_SEQ_FREEZE) {
		freeze_poll(f, vm, out);
		return;
	}
	gr = fsm_gate_reason(f);
	if (gr) {
		if (seq_gated(vm) && !vm->failover_inflight)
			fsm_vm_abort(f, vm, "gate closed", out);
		return;
	}
	if (vm->seq != FSM_SEQ_NONE) {
		seq_poll(f, vm, out);
		if (vm->seq == FSM_SEQ_NONE || vm->cmd_pending ||
		    (vm->ph == FSM_PH_COMMIT && vm->prop_active) ||
		    vm->ph == FSM_PH_PERSIST_COMMIT || vm->ph == FSM_PH_RECONNECT ||
		    vm->ph == FSM_PH_KILLED || vm->poll_due)
			return;
		seq_step(f, vm, out); /* a step held by the gate */
		return;
	}
	if (vm->q.present && !vm->q.alive &&
	    fsm_epoch_names(e, local_id(f), &vm->q.inst)) {
		/* status says why it stalls (SAFETY §5.10) */
		fsm_vm_set_status(f, vm, FSM_ST_STALLED, local_id(f),
				  "the QEMU named by E(v) exited: restart it here", out);
		return;
	}
	if (vm->q.present && !vm->q.alive && e->kind != FSM_EPOCH_NONE) {
		/* E(v) moved on without the exited side: point the operator at
		 * the holder, never at a restart here */
		fsm_vm_set_status(f, vm, FSM_ST_STALE, e->holder,
				  "the local QEMU exited; E(v) names another side", out);
		return;
	}
	if (!vm->q.alive || !vm->q.connected || !vm->q_colo_known ||
	    !vm->q_status_known)
		return;
	if (f->now_mono < vm->retry_after)
		return; /* a refused proposal: retried after one period */
	if (vm->p.frozen && fsm_mech(f, FSM_MECH_FROZEN_GUARD)) {
		if (vm->q.run == FSM_RUN_RUNNING && vm->q.mode == FSM_MODE_NONE) {
			start_freeze(f, vm, "A8-frozen-stays-frozen", out);
		} else if (named_solo(f, vm) && fsm_mech(f, FSM_MECH_RESUME) &&
			   !(fsm_mech(f, FSM_MECH_FENCE_INCARNATION) &&
			     fsm_fence_pending(f, local_id(f)))) {
			/* M3: the only copy resumes through a commit naming it */
			start_transition(f, vm, FSM_SEQ_RESUME, "M3-resume",
					 "frozen side named by E(v) resumes", out);
		}
		return;
	}
	pn = fsm_node_get(f, vm->peer, false);
	peer_lost = fsm_node_lost(f, vm->peer);
	if (!fsm_mech(f, FSM_MECH_PROCDOWN_GUARD) && pn && !pn->arb_member)
		peer_lost = true; /* the hole: an arbiter exit read as node loss */
	if (vm->admin_force)
		peer_lost = true;
	if (vm->peer_rep_valid && pn && pn->arb_member)
		rep = &vm->peer_rep;
	switch (vm->q.mode) {
	case FSM_MODE_PRIMARY:
		rule_primary(f, vm, peer_lost, rep, out);
		break;
	case FSM_MODE_SECONDARY:
		rule_secondary(f, vm, peer_lost, rep, out);
		break;
	case FSM_MODE_NONE:
		if (named_solo(f, vm) && vm->q.run == FSM_RUN_RUNNING &&
		    !vm->cleanup_failed)
			fsm_vm_set_status(f, vm, FSM_ST_SOLO, local_id(f),
					  "E(v) names the local side", out);
		break;
	default:
		break;
	}
}
