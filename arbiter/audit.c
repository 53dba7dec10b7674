/*
 * audit.c: the status snapshot (jansson), per VM and for the cluster.  The
 * audit record of a decision is written as text by audit_text.c.  Pure:
 * builds objects only, no I/O, no clock.
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
