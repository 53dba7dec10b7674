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

/* key: the literal text before the value, e.g. ",\"seq\":" */
static void tb_kint(struct tb *b, const char *key, long long v)
{
	tb_raw(b, key);
	tb_int(b, v);
}

static void tb_kbool(struct tb *b, const char *key, bool v)
{
	tb_raw(b, key);
	tb_bool(b, v);
}

static void tb_kstr(struct tb *b, const char *key, const char *v)
{
	tb_raw(b, key);
	tb_str(b, v);
}

static void ring_text(struct tb *b, const struct fsm_ring_id *r)
{
	tb_kint(b, "{\"nodeid\":", (long long)r->nodeid);
	tb_kint(b, ",\"seq\":", (long long)r->seq);
	tb_raw(b, "}");
}

static void inst_text(struct tb *b, const struct fsm_instance *i)
{
	tb_kint(b, "{\"pid\":", (long long)i->pid);
	tb_kint(b, ",\"start\":", (long long)i->start);
	tb_raw(b, "}");
}

static void epoch_text(struct tb *b, const struct fsm_epoch *e)
{
	tb_kint(b, "{\"n\":", (long long)e->n);
	tb_kstr(b, ",\"kind\":", fsm_epoch_kind_to_str(e->kind));
	tb_kint(b, ",\"holder\":", (long long)e->holder);
	tb_raw(b, ",\"instance\":");
	inst_text(b, &e->hinst);
	if (e->kind == FSM_EPOCH_COLO) {
		tb_kint(b, ",\"secondary\":", (long long)e->secondary);
		tb_raw(b, ",\"secondary_instance\":");
		inst_text(b, &e->sinst);
	}
	tb_raw(b, "}");
}

static void side_text(struct tb *b, const struct fsm_side_report *s)
{
	tb_kbool(b, "{\"present\":", s->present);
	tb_kbool(b, ",\"connected\":", s->connected);
	tb_kbool(b, ",\"alive\":", s->alive);
	tb_raw(b, ",\"instance\":");
	inst_text(b, &s->inst);
	tb_kstr(b, ",\"mode\":", fsm_colo_mode_to_str(s->mode));
	tb_kstr(b, ",\"last_mode\":", fsm_colo_mode_to_str(s->last_mode));
	tb_kstr(b, ",\"reason\":", fsm_colo_reason_to_str(s->reason));
	tb_kstr(b, ",\"run\":", fsm_run_state_to_str(s->run));
	tb_kstr(b, ",\"mig\":", fsm_mig_state_to_str(s->mig));
	tb_kbool(b, ",\"colo_exit_seen\":", s->colo_exit_seen);
	tb_kbool(b, ",\"frozen\":", s->frozen);
	tb_kbool(b, ",\"failover_inflight\":", s->failover_inflight);
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
		tb_kbool(b, ",\"in_ring\":", n->in_ring);
		tb_kbool(b, ",\"arbiter\":", n->arb_member);
		tb_kbool(b, ",\"lost\":", n->lost);
		tb_kint(b, ",\"last_alive_mono_ms\":", (long long)n->last_alive_mono);
		tb_kint(b, ",\"last_alive_wall_ms\":", (long long)n->last_alive_wall_ms);
		tb_kbool(b, ",\"fence_pending\":", n->fence_pending);
		tb_kbool(b, ",\"fence_ok\":", n->fence_ok);
		tb_kint(b, ",\"fence_wall_s\":", (long long)n->fence_wall_s);
		tb_raw(b, "}");
	}
	tb_raw(b, "]");
}

static void action_text(struct tb *b, const struct fsm_action *a)
{
	tb_kstr(b, "{\"kind\":", fsm_action_kind_to_str(a->kind));
	switch (a->kind) {
	case FSM_ACT_QMP:
		tb_kstr(b, ",\"vm\":", a->u.qmp.vm);
		tb_kstr(b, ",\"cmd\":", fsm_qmp_cmd_to_str(a->u.qmp.cmd));
		tb_kbool(b, ",\"oob\":", a->u.qmp.oob);
		tb_kint(b, ",\"epoch\":", (long long)a->u.qmp.tag.epoch);
		break;
	case FSM_ACT_SEND:
		tb_kstr(b, ",\"msg\":", fsm_msg_kind_to_str(a->u.send.kind));
		break;
	case FSM_ACT_FENCE:
		tb_kint(b, ",\"node\":", (long long)a->u.fence.nodeid);
		break;
	case FSM_ACT_KILL:
		tb_kstr(b, ",\"vm\":", a->u.kill.vm);
		break;
	case FSM_ACT_STATUS:
		tb_kstr(b, ",\"status\":", fsm_vm_status_to_str(a->u.status.status));
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
	tb_kint(b, "{\"mono_ms\":", (long long)f->now_mono);
	tb_kint(b, ",\"wall_ms\":", (long long)f->now_wall_ms);
	tb_kint(b, ",\"node\":", (long long)f->cfg.local_nodeid);
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
	tb_kstr(&b, ",\"policy\":", fsm_fence_policy_to_str(f->cfg.fence_policy));
	tb_kstr(&b, ",\"event\":", fsm_event_kind_to_str(ev->kind));
	tb_kstr(&b, ",\"rule\":", rule ? rule : "");
	tb_kstr(&b, ",\"decision\":", decision ? decision : "");
	tb_raw(&b, ",\"inputs\":{\"ring\":");
	ring_text(&b, &f->rc);
	tb_kbool(&b, ",\"quorate\":", f->quorate);
	tb_raw(&b, ",\"quorum_ring\":");
	ring_text(&b, &f->rq);
	tb_kstr(&b, ",\"gate_closed\":", fsm_gate_reason(f));
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
		tb_kstr(&b, ",\"vm\":", vm->name);
	}
	tb_raw(&b, "}");
	if (last) {
		struct tb s = { 0 };

		*last = NULL;
		if (vm) {
			head_text(&s, f);
			tb_kstr(&s, ",\"vm\":", vm->name);
			tb_kstr(&s, ",\"event\":", fsm_event_kind_to_str(ev->kind));
			tb_kstr(&s, ",\"rule\":", rule ? rule : "");
			tb_kstr(&s, ",\"decision\":", decision ? decision : "");
			tb_raw(&s, ",\"epoch\":");
			epoch_text(&s, &vm->p.epoch);
			tb_raw(&s, "}");
			*last = tb_done(&s);
		}
	}
	return tb_done(&b);
}
