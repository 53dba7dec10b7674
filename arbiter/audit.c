/*
 * audit.c: builds the structured (jansson) audit record of one fsm decision
 * and the status snapshot.  An operator reads these to answer "why did it
 * fail over, and when".  Pure: builds objects only, no I/O, no clock.
 */
#include "fsm_state.h"

static json_t *ring_json(const struct fsm_ring_id *r)
{
	return json_pack("{s:I,s:I}", "nodeid", (json_int_t)r->nodeid,
			 "seq", (json_int_t)r->seq);
}

static json_t *inst_json(const struct fsm_instance *i)
{
	return json_pack("{s:I,s:I}", "pid", (json_int_t)i->pid,
			 "start", (json_int_t)i->start);
}

static json_t *epoch_json(const struct fsm_epoch *e)
{
	json_t *j = json_pack("{s:I,s:s,s:I,s:o}", "n", (json_int_t)e->n,
			      "kind", fsm_epoch_kind_to_str(e->kind),
			      "holder", (json_int_t)e->holder,
			      "instance", inst_json(&e->hinst));

	if (j && e->kind == FSM_EPOCH_COLO) {
		json_object_set_new(j, "secondary", json_integer(e->secondary));
		json_object_set_new(j, "secondary_instance", inst_json(&e->sinst));
	}
	return j;
}

static json_t *side_json(const struct fsm_side_report *s)
{
	return json_pack("{s:b,s:b,s:b,s:o,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:b}",
			 "present", s->present, "connected", s->connected,
			 "alive", s->alive, "instance", inst_json(&s->inst),
			 "mode", fsm_colo_mode_to_str(s->mode),
			 "last_mode", fsm_colo_mode_to_str(s->last_mode),
			 "reason", fsm_colo_reason_to_str(s->reason),
			 "run", fsm_run_state_to_str(s->run),
			 "mig", fsm_mig_state_to_str(s->mig),
			 "colo_exit_seen", s->colo_exit_seen,
			 "frozen", s->frozen,
			 "failover_inflight", s->failover_inflight);
}

static json_t *nodes_json(const struct fsm *f)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < FSM_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (!n->used)
			continue;
		json_array_append_new(a, json_pack(
			"{s:I,s:b,s:b,s:b,s:I,s:I,s:b,s:b,s:I}",
			"nodeid", (json_int_t)n->nodeid, "in_ring", n->in_ring,
			"arbiter", n->arb_member, "lost", n->lost,
			"last_alive_mono_ms", (json_int_t)n->last_alive_mono,
			"last_alive_wall_ms", (json_int_t)n->last_alive_wall_ms,
			"fence_pending", n->fence_pending, "fence_ok", n->fence_ok,
			"fence_wall_s", (json_int_t)n->fence_wall_s));
	}
	return a;
}

static json_t *action_json(const struct fsm_action *a)
{
	json_t *j = json_pack("{s:s}", "kind", fsm_action_kind_to_str(a->kind));

	if (!j)
		return NULL;
	switch (a->kind) {
	case FSM_ACT_QMP:
		json_object_set_new(j, "vm", json_string(a->u.qmp.vm));
		json_object_set_new(j, "cmd", json_string(fsm_qmp_cmd_to_str(a->u.qmp.cmd)));
		json_object_set_new(j, "oob", json_boolean(a->u.qmp.oob));
		json_object_set_new(j, "epoch", json_integer((json_int_t)a->u.qmp.tag.epoch));
		break;
	case FSM_ACT_SEND:
		json_object_set_new(j, "msg", json_string(fsm_msg_kind_to_str(a->u.send.kind)));
		break;
	case FSM_ACT_FENCE:
		json_object_set_new(j, "node", json_integer(a->u.fence.nodeid));
		break;
	case FSM_ACT_KILL:
		json_object_set_new(j, "vm", json_string(a->u.kill.vm));
		break;
	case FSM_ACT_STATUS:
		json_object_set_new(j, "status", json_string(fsm_vm_status_to_str(a->u.status.status)));
		break;
	case FSM_ACT_PERSIST:
		json_object_set_new(j, "epoch", epoch_json(&a->u.persist.rec.epoch));
		break;
	default:
		break;
	}
	return j;
}

json_t *audit_record(const struct fsm *f, const struct fsm_event *ev,
		     const struct fsm_vm *vm, const char *rule,
		     const char *decision, const struct fsm_actions *out,
		     unsigned first_action)
{
	const char *gate = fsm_gate_reason(f);
	json_t *acts = json_array();
	json_t *j;

	for (unsigned i = first_action; acts && i < out->n; i++)
		if (out->a[i].kind != FSM_ACT_AUDIT)
			json_array_append_new(acts, action_json(&out->a[i]));
	j = json_pack("{s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:{s:o,s:b,s:o,s:s?,s:o},s:o}",
		      "mono_ms", (json_int_t)f->now_mono,
		      "wall_ms", (json_int_t)f->now_wall_ms,
		      "node", (json_int_t)f->cfg.local_nodeid,
		      "policy", fsm_fence_policy_to_str(f->cfg.fence_policy),
		      "event", fsm_event_kind_to_str(ev->kind),
		      "rule", rule ? rule : "",
		      "decision", decision ? decision : "",
		      "inputs",
		      "ring", ring_json(&f->rc),
		      "quorate", f->quorate,
		      "quorum_ring", ring_json(&f->rq),
		      "gate_closed", gate,
		      "nodes", nodes_json(f),
		      "actions", acts ? acts : json_array());
	if (j && vm) {
		json_t *in = json_object_get(j, "inputs");

		json_object_set_new(j, "vm", json_string(vm->name));
		json_object_set_new(in, "epoch", epoch_json(&vm->p.epoch));
		if (vm->local)
			json_object_set_new(in, "local", side_json(&vm->q));
		if (vm->peer_rep_valid)
			json_object_set_new(in, "peer", side_json(&vm->peer_rep));
	}
	return j;
}

json_t *audit_status_vm(const struct fsm_vm *vm)
{
	return json_pack("{s:s,s:b,s:s,s:I,s:s?,s:o,s:b,s:s}",
			 "name", vm->name, "local", vm->local,
			 "status", fsm_vm_status_to_str(vm->status),
			 "where", (json_int_t)vm->where, "why", vm->why,
			 "epoch", epoch_json(&vm->p.epoch),
			 "frozen", vm->p.frozen,
			 "mode", fsm_colo_mode_to_str(vm->q.mode));
}

json_t *audit_status_cluster(const struct fsm *f)
{
	const char *gate = fsm_gate_reason(f);

	return json_pack("{s:I,s:b,s:s?,s:b,s:o,s:o}",
			 "node", (json_int_t)f->cfg.local_nodeid,
			 "gate_open", gate == NULL, "gate_closed", gate,
			 "quorate", f->quorate, "ring", ring_json(&f->rc),
			 "nodes", nodes_json(f));
}

json_t *audit_status(const struct fsm *f)
{
	json_t *vms = json_array(), *st = audit_status_cluster(f);

	for (unsigned i = 0; vms && i < f->n_slots; i++) {
		const struct fsm_vm *vm = fsm_vm_at(f, i);

		if (vm->used)
			json_array_append_new(vms, audit_status_vm(vm));
	}
	if (st)
		json_object_set_new(st, "vms", vms ? vms : json_array());
	else
		json_decref(vms);
	return st;
}
