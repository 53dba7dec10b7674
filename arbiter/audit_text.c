/*
 * audit_text.c: the audit record of one fsm decision, as the line the audit
 * log keeps (one compact JSON object), and the summary of a VM's last
 * decision that status shows.  An operator reads these to answer "why did
 * it fail over, and when".  Pure: text only, no I/O, no clock.
 *
 * Written as text, not built as a jansson tree and dumped: a node loss
 * writes three records per VM, and with 500 VMs building, dumping, again
 * for the summary, and freeing the trees was a fifth of the surviving
 * arbiter's CPU before its last x-colo-lost-heartbeat (BENCHMARKS.md).
 * Keys and their order are those the tree had; every string is escaped.
 */
#include "fsm_state.h"
#include "json_text.h"

#include <stdlib.h>
#include <string.h>

static void ring_text(struct jtext *b, const struct fsm_ring_id *r)
{
	jtext_kint(b, "{\"nodeid\":", (long long)r->nodeid);
	jtext_kint(b, ",\"seq\":", (long long)r->seq);
	jtext_raw(b, "}");
}

static void inst_text(struct jtext *b, const struct fsm_instance *i)
{
	jtext_kint(b, "{\"pid\":", (long long)i->pid);
	jtext_kint(b, ",\"start\":", (long long)i->start);
	jtext_raw(b, "}");
}

static void epoch_text(struct jtext *b, const struct fsm_epoch *e)
{
	jtext_kint(b, "{\"n\":", (long long)e->n);
	jtext_kstr(b, ",\"kind\":", fsm_epoch_kind_to_str(e->kind));
	jtext_kint(b, ",\"holder\":", (long long)e->holder);
	jtext_raw(b, ",\"instance\":");
	inst_text(b, &e->hinst);
	if (e->kind == FSM_EPOCH_COLO) {
		jtext_kint(b, ",\"secondary\":", (long long)e->secondary);
		jtext_raw(b, ",\"secondary_instance\":");
		inst_text(b, &e->sinst);
	}
	jtext_raw(b, "}");
}

static void side_text(struct jtext *b, const struct fsm_side_report *s)
{
	jtext_kbool(b, "{\"present\":", s->present);
	jtext_kbool(b, ",\"connected\":", s->connected);
	jtext_kbool(b, ",\"alive\":", s->alive);
	jtext_raw(b, ",\"instance\":");
	inst_text(b, &s->inst);
	jtext_kstr(b, ",\"mode\":", fsm_colo_mode_to_str(s->mode));
	jtext_kstr(b, ",\"last_mode\":", fsm_colo_mode_to_str(s->last_mode));
	jtext_kstr(b, ",\"reason\":", fsm_colo_reason_to_str(s->reason));
	jtext_kstr(b, ",\"run\":", fsm_run_state_to_str(s->run));
	jtext_kstr(b, ",\"mig\":", fsm_mig_state_to_str(s->mig));
	jtext_kbool(b, ",\"colo_exit_seen\":", s->colo_exit_seen);
	jtext_kbool(b, ",\"frozen\":", s->frozen);
	jtext_kbool(b, ",\"failover_inflight\":", s->failover_inflight);
	jtext_raw(b, "}");
}

static void nodes_text(struct jtext *b, const struct fsm *f)
{
	bool first = true;

	jtext_raw(b, "[");
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (!n->used)
			continue;
		jtext_raw(b, first ? "{\"nodeid\":" : ",{\"nodeid\":");
		first = false;
		jtext_int(b, (long long)n->nodeid);
		jtext_kbool(b, ",\"in_ring\":", n->in_ring);
		jtext_kbool(b, ",\"arbiter\":", n->arb_member);
		jtext_kbool(b, ",\"lost\":", n->lost);
		jtext_kint(b, ",\"last_alive_mono_ms\":", (long long)n->last_alive_mono);
		jtext_kint(b, ",\"last_alive_wall_ms\":", (long long)n->last_alive_wall_ms);
		jtext_kbool(b, ",\"fence_pending\":", n->fence_pending);
		jtext_kbool(b, ",\"fence_ok\":", n->fence_ok);
		jtext_kint(b, ",\"fence_wall_s\":", (long long)n->fence_wall_s);
		jtext_raw(b, "}");
	}
	jtext_raw(b, "]");
}

static void action_text(struct jtext *b, const struct fsm_action *a)
{
	jtext_kstr(b, "{\"kind\":", fsm_action_kind_to_str(a->kind));
	switch (a->kind) {
	case FSM_ACT_QMP:
		jtext_kstr(b, ",\"vm\":", a->u.qmp.vm);
		jtext_kstr(b, ",\"cmd\":", fsm_qmp_cmd_to_str(a->u.qmp.cmd));
		jtext_kbool(b, ",\"oob\":", a->u.qmp.oob);
		jtext_kint(b, ",\"epoch\":", (long long)a->u.qmp.tag.epoch);
		break;
	case FSM_ACT_SEND:
		jtext_kstr(b, ",\"msg\":", fsm_msg_kind_to_str(a->u.send.kind));
		break;
	case FSM_ACT_FENCE:
		jtext_kint(b, ",\"node\":", (long long)a->u.fence.nodeid);
		break;
	case FSM_ACT_KILL:
		jtext_kstr(b, ",\"vm\":", a->u.kill.vm);
		break;
	case FSM_ACT_STATUS:
		jtext_kstr(b, ",\"status\":", fsm_vm_status_to_str(a->u.status.status));
		break;
	case FSM_ACT_PERSIST:
		jtext_raw(b, ",\"epoch\":");
		epoch_text(b, &a->u.persist.rec.epoch);
		break;
	default:
		break;
	}
	jtext_raw(b, "}");
}

/* "mono_ms", "wall_ms", "node": the start of both texts */
static void head_text(struct jtext *b, const struct fsm *f)
{
	jtext_kint(b, "{\"mono_ms\":", (long long)f->now_mono);
	jtext_kint(b, ",\"wall_ms\":", (long long)f->now_wall_ms);
	jtext_kint(b, ",\"node\":", (long long)f->cfg.local_nodeid);
}

char *audit_record_text(const struct fsm *f, const struct fsm_event *ev,
			const struct fsm_vm *vm, const char *rule, const char *decision,
			const struct fsm_actions *out, unsigned first_action)
{
	struct jtext b = { 0 };
	bool first = true;

	head_text(&b, f);
	jtext_kstr(&b, ",\"policy\":", fsm_fence_policy_to_str(f->cfg.fence_policy));
	jtext_kstr(&b, ",\"event\":", fsm_event_kind_to_str(ev->kind));
	jtext_kstr(&b, ",\"rule\":", rule ? rule : "");
	jtext_kstr(&b, ",\"decision\":", decision ? decision : "");
	jtext_raw(&b, ",\"inputs\":{\"ring\":");
	ring_text(&b, &f->rc);
	jtext_kbool(&b, ",\"quorate\":", f->quorate);
	jtext_raw(&b, ",\"quorum_ring\":");
	ring_text(&b, &f->rq);
	jtext_kstr(&b, ",\"gate_closed\":", fsm_gate_reason(f));
	jtext_raw(&b, ",\"nodes\":");
	nodes_text(&b, f);
	if (vm) {
		jtext_raw(&b, ",\"epoch\":");
		epoch_text(&b, &vm->p.epoch);
		if (vm->local) {
			jtext_raw(&b, ",\"local\":");
			side_text(&b, &vm->q);
		}
		if (vm->peer_rep_valid) {
			jtext_raw(&b, ",\"peer\":");
			side_text(&b, &vm->peer_rep);
		}
	}
	jtext_raw(&b, "},\"actions\":[");
	for (unsigned i = first_action; i < out->n; i++) {
		if (out->a[i].kind == FSM_ACT_AUDIT)
			continue;
		if (!first)
			jtext_raw(&b, ",");
		first = false;
		action_text(&b, &out->a[i]);
	}
	jtext_raw(&b, "]");
	if (vm) {
		jtext_kstr(&b, ",\"vm\":", vm->name);
	}
	jtext_raw(&b, "}");
	return jtext_done(&b);
}

char *fsm_last_decision_text(const struct fsm_last_decision *l, const char *vm)
{
	struct jtext s = { 0 };

	jtext_kint(&s, "{\"mono_ms\":", (long long)l->mono_ms);
	jtext_kint(&s, ",\"wall_ms\":", (long long)l->wall_ms);
	jtext_kint(&s, ",\"node\":", (long long)l->node);
	jtext_kstr(&s, ",\"vm\":", vm);
	jtext_kstr(&s, ",\"event\":", l->event ? l->event : "");
	jtext_kstr(&s, ",\"rule\":", l->rule ? l->rule : "");
	jtext_kstr(&s, ",\"decision\":", l->decision ? l->decision : "");
	jtext_raw(&s, ",\"epoch\":");
	epoch_text(&s, &l->epoch);
	jtext_raw(&s, "}");
	return jtext_done(&s);
}
