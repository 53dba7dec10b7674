/*
 * audit_text.c: the audit record of one fsm decision, as the line the audit
 * log keeps (one compact JSON object), and its summary that status keeps
 * per VM.  An operator reads these to answer "why did it fail over, and
 * when".  Pure: text only, no I/O, no clock.
 *
 * Written as text, not built as a jansson tree and dumped: a node loss
 * writes three records per VM, and with 500 VMs building, dumping, again
 * for the summary, and freeing the trees was a fifth of the surviving
 * arbiter's CPU before its last x-colo-lost-heartbeat (BENCHMARKS.md).
 * Keys and their order are those the tree had; every string is escaped.
 */
#include "fsm_state.h"

#include <stdlib.h>
#include <string.h>

/* A growing buffer; after a failed allocation it drops everything. */
struct tb {
	char *p;
	size_t n, cap;
	bool oom;
};

static void tb_put(struct tb *b, const char *s, size_t len)
{
	if (b->oom)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;

		while (cap < b->n + len + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void tb_raw(struct tb *b, const char *s)
{
	tb_put(b, s, strlen(s));
}

/* as jansson's "I": the value as a signed 64-bit integer */
static void tb_int(struct tb *b, long long v)
{
	char d[24], *e = d + sizeof(d), *q = e;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	tb_put(b, q, (size_t)(e - q));
}

static void tb_bool(struct tb *b, bool v)
{
	tb_raw(b, v ? "true" : "false");
}

/* a JSON string (NULL: null); control characters, '"' and '\' escaped */
static void tb_str(struct tb *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run;

	if (!s) {
		tb_raw(b, "null");
		return;
	}
	tb_put(b, "\"", 1);
	for (run = s; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		tb_put(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			tb_put(b, esc, 2);
		} else {
			tb_put(b, esc, 6);
		}
		run = s + 1;
	}
	tb_put(b, run, (size_t)(s - run));
	tb_put(b, "\"", 1);
}

static void ring_text(struct tb *b, const struct fsm_ring_id *r)
{
	tb_raw(b, "{\"nodeid\":");
	tb_int(b, (long long)r->nodeid);
	tb_raw(b, ",\"seq\":");
	tb_int(b, (long long)r->seq);
	tb_raw(b, "}");
}

static void inst_text(struct tb *b, const struct fsm_instance *i)
{
	tb_raw(b, "{\"pid\":");
	tb_int(b, (long long)i->pid);
	tb_raw(b, ",\"start\":");
	tb_int(b, (long long)i->start);
	tb_raw(b, "}");
}

static void epoch_text(struct tb *b, const struct fsm_epoch *e)
{
	tb_raw(b, "{\"n\":");
	tb_int(b, (long long)e->n);
	tb_raw(b, ",\"kind\":");
	tb_str(b, fsm_epoch_kind_to_str(e->kind));
	tb_raw(b, ",\"holder\":");
	tb_int(b, (long long)e->holder);
	tb_raw(b, ",\"instance\":");
	inst_text(b, &e->hinst);
	if (e->kind == FSM_EPOCH_COLO) {
		tb_raw(b, ",\"secondary\":");
		tb_int(b, (long long)e->secondary);
		tb_raw(b, ",\"secondary_instance\":");
		inst_text(b, &e->sinst);
	}
	tb_raw(b, "}");
}

static void side_text(struct tb *b, const struct fsm_side_report *s)
{
	tb_raw(b, "{\"present\":");
	tb_bool(b, s->present);
	tb_raw(b, ",\"connected\":");
	tb_bool(b, s->connected);
	tb_raw(b, ",\"alive\":");
	tb_bool(b, s->alive);
	tb_raw(b, ",\"instance\":");
	inst_text(b, &s->inst);
	tb_raw(b, ",\"mode\":");
	tb_str(b, fsm_colo_mode_to_str(s->mode));
	tb_raw(b, ",\"last_mode\":");
	tb_str(b, fsm_colo_mode_to_str(s->last_mode));
	tb_raw(b, ",\"reason\":");
	tb_str(b, fsm_colo_reason_to_str(s->reason));
	tb_raw(b, ",\"run\":");
	tb_str(b, fsm_run_state_to_str(s->run));
	tb_raw(b, ",\"mig\":");
	tb_str(b, fsm_mig_state_to_str(s->mig));
	tb_raw(b, ",\"colo_exit_seen\":");
	tb_bool(b, s->colo_exit_seen);
	tb_raw(b, ",\"frozen\":");
	tb_bool(b, s->frozen);
	tb_raw(b, ",\"failover_inflight\":");
	tb_bool(b, s->failover_inflight);
	tb_raw(b, "}");
}

static void nodes_text(struct tb *b, const struct fsm *f)
{
	bool first = true;

	tb_raw(b, "[");
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		const struct fsm_node *n = &f->nodes[i];

		if (!n->used)
			continue;
		tb_raw(b, first ? "{\"nodeid\":" : ",{\"nodeid\":");
		first = false;
		tb_int(b, (long long)n->nodeid);
		tb_raw(b, ",\"in_ring\":");
		tb_bool(b, n->in_ring);
		tb_raw(b, ",\"arbiter\":");
		tb_bool(b, n->arb_member);
		tb_raw(b, ",\"lost\":");
		tb_bool(b, n->lost);
		tb_raw(b, ",\"last_alive_mono_ms\":");
		tb_int(b, (long long)n->last_alive_mono);
		tb_raw(b, ",\"last_alive_wall_ms\":");
		tb_int(b, (long long)n->last_alive_wall_ms);
		tb_raw(b, ",\"fence_pending\":");
		tb_bool(b, n->fence_pending);
		tb_raw(b, ",\"fence_ok\":");
		tb_bool(b, n->fence_ok);
		tb_raw(b, ",\"fence_wall_s\":");
		tb_int(b, (long long)n->fence_wall_s);
		tb_raw(b, "}");
	}
	tb_raw(b, "]");
}

static void action_text(struct tb *b, const struct fsm_action *a)
{
	tb_raw(b, "{\"kind\":");
	tb_str(b, fsm_action_kind_to_str(a->kind));
	switch (a->kind) {
	case FSM_ACT_QMP:
		tb_raw(b, ",\"vm\":");
		tb_str(b, a->u.qmp.vm);
		tb_raw(b, ",\"cmd\":");
		tb_str(b, fsm_qmp_cmd_to_str(a->u.qmp.cmd));
		tb_raw(b, ",\"oob\":");
		tb_bool(b, a->u.qmp.oob);
		tb_raw(b, ",\"epoch\":");
		tb_int(b, (long long)a->u.qmp.tag.epoch);
		break;
	case FSM_ACT_SEND:
		tb_raw(b, ",\"msg\":");
		tb_str(b, fsm_msg_kind_to_str(a->u.send.kind));
		break;
	case FSM_ACT_FENCE:
		tb_raw(b, ",\"node\":");
		tb_int(b, (long long)a->u.fence.nodeid);
		break;
	case FSM_ACT_KILL:
		tb_raw(b, ",\"vm\":");
		tb_str(b, a->u.kill.vm);
		break;
	case FSM_ACT_STATUS:
		tb_raw(b, ",\"status\":");
		tb_str(b, fsm_vm_status_to_str(a->u.status.status));
		break;
	case FSM_ACT_PERSIST:
		tb_raw(b, ",\"epoch\":");
		epoch_text(b, &a->u.persist.rec.epoch);
		break;
	default:
		break;
	}
	tb_raw(b, "}");
}

/* "mono_ms", "wall_ms", "node": the start of both texts */
static void head_text(struct tb *b, const struct fsm *f)
{
	tb_raw(b, "{\"mono_ms\":");
	tb_int(b, (long long)f->now_mono);
	tb_raw(b, ",\"wall_ms\":");
	tb_int(b, (long long)f->now_wall_ms);
	tb_raw(b, ",\"node\":");
	tb_int(b, (long long)f->cfg.local_nodeid);
}

static char *tb_done(struct tb *b)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

char *audit_record_text(const struct fsm *f, const struct fsm_event *ev,
			const struct fsm_vm *vm, const char *rule, const char *decision,
			const struct fsm_actions *out, unsigned first_action, char **last)
{
	struct tb b = { 0 };
	bool first = true;

	head_text(&b, f);
	tb_raw(&b, ",\"policy\":");
	tb_str(&b, fsm_fence_policy_to_str(f->cfg.fence_policy));
	tb_raw(&b, ",\"event\":");
	tb_str(&b, fsm_event_kind_to_str(ev->kind));
	tb_raw(&b, ",\"rule\":");
	tb_str(&b, rule ? rule : "");
	tb_raw(&b, ",\"decision\":");
	tb_str(&b, decision ? decision : "");
	tb_raw(&b, ",\"inputs\":{\"ring\":");
	ring_text(&b, &f->rc);
	tb_raw(&b, ",\"quorate\":");
	tb_bool(&b, f->quorate);
	tb_raw(&b, ",\"quorum_ring\":");
	ring_text(&b, &f->rq);
	tb_raw(&b, ",\"gate_closed\":");
	tb_str(&b, fsm_gate_reason(f));
	tb_raw(&b, ",\"nodes\":");
	nodes_text(&b, f);
	if (vm) {
		tb_raw(&b, ",\"epoch\":");
		epoch_text(&b, &vm->p.epoch);
		if (vm->local) {
			tb_raw(&b, ",\"local\":");
			side_text(&b, &vm->q);
		}
		if (vm->peer_rep_valid) {
			tb_raw(&b, ",\"peer\":");
			side_text(&b, &vm->peer_rep);
		}
	}
	tb_raw(&b, "},\"actions\":[");
	for (unsigned i = first_action; i < out->n; i++) {
		if (out->a[i].kind == FSM_ACT_AUDIT)
			continue;
		if (!first)
			tb_raw(&b, ",");
		first = false;
		action_text(&b, &out->a[i]);
	}
	tb_raw(&b, "]");
	if (vm) {
		tb_raw(&b, ",\"vm\":");
		tb_str(&b, vm->name);
	}
	tb_raw(&b, "}");
	if (last) {
		struct tb s = { 0 };

		*last = NULL;
		if (vm) {
			head_text(&s, f);
			tb_raw(&s, ",\"vm\":");
			tb_str(&s, vm->name);
			tb_raw(&s, ",\"event\":");
			tb_str(&s, fsm_event_kind_to_str(ev->kind));
			tb_raw(&s, ",\"rule\":");
			tb_str(&s, rule ? rule : "");
			tb_raw(&s, ",\"decision\":");
			tb_str(&s, decision ? decision : "");
			tb_raw(&s, ",\"epoch\":");
			epoch_text(&s, &vm->p.epoch);
			tb_raw(&s, "}");
			*last = tb_done(&s);
		}
	}
	return tb_done(&b);
}
