/*
 * harness.c: deterministic multi-node driver for the fsm tests (see
 * harness.h).  Test code only: it may print, it never touches the clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm_state.h"
#include "harness.h"

#define WALL_BASE H_WALL_BASE

static struct fsm_actions *g_out;

struct h_node *h_node(struct h_cluster *c, uint32_t id)
{
	if (id == 0 || id > c->n)
		abort();
	return &c->nodes[id - 1];
}

static int vm_idx(struct h_cluster *c, const char *vm)
{
	for (unsigned i = 0; i < c->n_vms; i++)
		if (strcmp(c->vm_names[i], vm) == 0)
			return (int)i;
	abort();
}

struct h_qemu *h_q(struct h_cluster *c, uint32_t node, const char *vm)
{
	return &h_node(c, node)->q[vm_idx(c, vm)];
}

struct fsm_event h_ev(struct h_cluster *c, int node, enum fsm_event_kind k)
{
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = k;
	ev.now_mono_ms = c->now;
	ev.now_wall_ms = WALL_BASE + c->now + c->wall_off[node];
	return ev;
}

static void lq_push(struct h_cluster *c, int node, const struct fsm_event *ev)
{
	if (c->lq_tail - c->lq_head >= H_QUEUE)
		abort();
	c->lq[c->lq_tail % H_QUEUE].node = node;
	c->lq[c->lq_tail % H_QUEUE].ev = *ev;
	c->lq_tail++;
}

static void set_name(char *dst, const char *src)
{
	snprintf(dst, FSM_NAME_MAX, "%s", src);
}

static void qmp_fact(struct h_cluster *c, int i, int v, enum fsm_event_kind k,
		     const struct fsm_tag *tag)
{
	struct fsm_event ev = h_ev(c, i, k);
	struct h_qemu *q = &c->nodes[i].q[v];

	set_name(ev.u.qmp.vm, c->vm_names[v]);
	ev.u.qmp.inst = q->inst;
	ev.u.qmp.mode = q->mode;
	ev.u.qmp.last_mode = q->last_mode;
	ev.u.qmp.reason = q->reason;
	ev.u.qmp.run = q->run;
	ev.u.qmp.mig = q->mig;
	if (k == FSM_EV_QMP_YANK_SET) {
		ev.u.qmp.n_yank = 4;
		set_name(ev.u.qmp.yank[0], "block-node:#block364");
		set_name(ev.u.qmp.yank[1], "migration");
		set_name(ev.u.qmp.yank[2], "chardev:mirror0");
		set_name(ev.u.qmp.yank[3], "chardev:compare1");
	}
	if (tag) {
		ev.u.qmp.tagged = true;
		ev.u.qmp.tag = *tag;
	}
	lq_push(c, i, &ev);
}

static void result(struct h_cluster *c, int i, const struct fsm_tag *tag,
		   enum fsm_qmp_cmd cmd, enum fsm_cmd_result r)
{
	struct fsm_event ev = h_ev(c, i, FSM_EV_QMP_RESULT);

	ev.u.result.tag = *tag;
	ev.u.result.cmd = cmd;
	ev.u.result.result = r;
	lq_push(c, i, &ev);
}

static void complete_failover(struct h_qemu *q)
{
	q->last_mode = q->mode;
	q->mode = FSM_MODE_NONE;
	q->reason = FSM_REASON_REQUEST;
	q->mig = FSM_MIG_COMPLETED;
	q->failover_pending = false;
	if (q->run != FSM_RUN_RUNNING)
		q->ran_alone++;
	q->run = FSM_RUN_RUNNING; /* QEMU's own vm_start (RESUME) */
}

static void stub_exec(struct h_cluster *c, int i, int v, enum fsm_qmp_cmd cmd,
		      const struct fsm_tag *tag, bool reply);

/* A yank names the instances QMP_YANK_SET gave (qmp_fact), all or none,
 * back to back in the action. */
static bool yank_names_ok(const struct fsm_action *a)
{
	static const char want[] = "block-node:#block364\0migration\0chardev:mirror0\0"
				   "chardev:compare1";

	if (a->u.qmp.n_yank == 0)
		return true;
	return a->u.qmp.n_yank == 4 && a->u.qmp.yank &&
	       memcmp(a->u.qmp.yank, want, sizeof(want)) == 0;
}

static void stub_cmd(struct h_cluster *c, int i, const struct fsm_action *a)
{
	int v = vm_idx(c, a->u.qmp.vm);
	struct h_qemu *q = &c->nodes[i].q[v];
	struct fsm_event ev;

	c->nodes[i].qmp_cmds[a->u.qmp.cmd]++;
	if (a->u.qmp.cmd == FSM_QMP_YANK && !yank_names_ok(a))
		c->step_errors++;
	if (!q->alive) {
		result(c, i, &a->u.qmp.tag, a->u.qmp.cmd, FSM_RES_NOT_DELIVERED);
		return;
	}
	if ((q->drop_next && a->u.qmp.cmd != FSM_QMP_YANK) ||
	    (q->drop_lhb && a->u.qmp.cmd == FSM_QMP_LOST_HEARTBEAT)) {
		q->drop_next = false;
		q->drop_lhb = false;
		if (q->drop_executes)
			stub_exec(c, i, v, a->u.qmp.cmd, &a->u.qmp.tag, false);
		result(c, i, &a->u.qmp.tag, a->u.qmp.cmd, FSM_RES_NOT_DELIVERED);
		ev = h_ev(c, i, FSM_EV_QMP_LOST);
		set_name(ev.u.qmp.vm, c->vm_names[v]);
		ev.u.qmp.inst = q->inst;
		lq_push(c, i, &ev);
		return;
	}
	stub_exec(c, i, v, a->u.qmp.cmd, &a->u.qmp.tag, true);
}

static void stub_exec(struct h_cluster *c, int i, int v, enum fsm_qmp_cmd cmd,
		      const struct fsm_tag *tag, bool reply)
{
	struct h_qemu *q = &c->nodes[i].q[v];
	bool in_colo = q->mode == FSM_MODE_PRIMARY || q->mode == FSM_MODE_SECONDARY;
	struct fsm_event ev;

	/* the whole main loop hangs on an NBD flush to a dead secondary */
	if (q->hang_on_flush && !q->yanked && cmd != FSM_QMP_YANK &&
	    (cmd == FSM_QMP_LOST_HEARTBEAT || cmd == FSM_QMP_STOP ||
	     q->stalled)) {
		if (cmd == FSM_QMP_STOP)
			q->run = FSM_RUN_PAUSED; /* vCPUs stop at once */
		if (!q->stalled) {
			q->stalled = true;
			q->stalled_cmd = cmd;
			q->stalled_tag = tag->seq;
		}
		if (cmd == FSM_QMP_LOST_HEARTBEAT)
			q->lhb_sent++;
		return;
	}
	switch (cmd) {
	case FSM_QMP_YANK:
		q->yank++;
		q->yanked = true;
		if (reply && q->hold_yank) {
			q->yank_held = true;
			q->held_yank_tag = *tag;
		} else if (reply) {
			result(c, i, tag, cmd, FSM_RES_RETURN);
		}
		if (q->stalled) {
			struct fsm_tag t = *tag;

			q->stalled = false;
			q->hang_on_flush = false;
			t.seq = q->stalled_tag;
			stub_exec(c, i, v, q->stalled_cmd, &t, true);
		}
		q->hang_on_flush = false;
		return;
	case FSM_QMP_LOST_HEARTBEAT:
		q->lhb_sent++;
		if (!in_colo || q->failover_pending) {
			if (reply)
				result(c, i, tag, cmd, FSM_RES_ERROR);
			return;
		}
		if (q->lhb_run == 0)
			q->yank_before_lhb = q->yank;
		q->lhb_run++;
		if (q->manual_complete) {
			q->failover_pending = true;
			q->reason = FSM_REASON_PROCESSING;
			q->run = FSM_RUN_PAUSED;
		} else {
			complete_failover(q);
		}
		break;
	case FSM_QMP_QUERY_COLO_STATUS:
		if (reply)
			qmp_fact(c, i, v, FSM_EV_QMP_COLO_STATUS, tag);
		return;
	case FSM_QMP_QUERY_STATUS:
		if (reply)
			qmp_fact(c, i, v, FSM_EV_QMP_STATUS, tag);
		return;
	case FSM_QMP_QUERY_MIGRATE:
		if (reply)
			qmp_fact(c, i, v, FSM_EV_QMP_MIGRATE, tag);
		return;
	case FSM_QMP_CONT:
		q->cont++;
		if (q->run != FSM_RUN_RUNNING && q->mode == FSM_MODE_NONE)
			q->ran_alone++;
		q->run = FSM_RUN_RUNNING;
		break;
	case FSM_QMP_STOP:
		q->stop++;
		q->run = FSM_RUN_PAUSED;
		break;
	case FSM_QMP_PRE:
		q->pre++;
		if (reply && q->hold_pre) {
			q->pre_held = true;
			q->held_pre_tag = *tag;
			return;
		}
		break;
	case FSM_QMP_POST:
		q->post++;
		if (reply && q->hold_post) {
			if (q->posts_held >= sizeof(q->held_post_tag) / sizeof(q->held_post_tag[0]))
				abort();
			q->held_post_tag[q->posts_held++] = *tag;
			return;
		}
		if (q->post_error) {
			if (reply)
				result(c, i, tag, cmd, FSM_RES_ERROR);
			return;
		}
		break;
	case FSM_QMP_QUIT:
		q->alive = false;
		if (reply)
			result(c, i, tag, cmd, FSM_RES_RETURN);
		ev = h_ev(c, i, FSM_EV_QEMU_EXITED);
		set_name(ev.u.qmp.vm, c->vm_names[v]);
		ev.u.qmp.inst = q->inst;
		lq_push(c, i, &ev);
		return;
	}
	if (reply)
		result(c, i, tag, cmd, FSM_RES_RETURN);
}

static void timer_set(struct h_node *nd, enum fsm_timer_id id, uint32_t vm,
		      int64_t due)
{
	struct h_timer *fr = NULL;

	for (unsigned t = 0; t < H_TIMERS; t++) {
		if (nd->timers[t].used && nd->timers[t].id == id &&
		    nd->timers[t].vm == vm) {
			nd->timers[t].due = due;
			return;
		}
		if (!nd->timers[t].used && !fr)
			fr = &nd->timers[t];
	}
	if (!fr)
		abort();
	fr->used = true;
	fr->id = id;
	fr->vm = vm;
	fr->due = due;
}

/*
 * An audit record as the audit log and watchers get it: it must be one JSON
 * object, and a VM's summary for status must repeat its time, VM, rule,
 * decision and epoch.  Anything else aborts the test.
 */
static json_t *audit_parse(const struct fsm_action *a)
{
	static const char *const same[] = { "mono_ms", "wall_ms", "node", "vm", "event",
					    "rule", "decision" };
	json_error_t e;
	json_t *j = json_loads(a->u.audit.text, 0, &e), *l;
	char *last;

	if (!json_is_object(j)) {
		fprintf(stderr, "audit record is not a JSON object (%s): %s\n", e.text,
			a->u.audit.text);
		abort();
	}
	if (!a->u.audit.has_last) {
		if (json_object_get(j, "vm")) {
			fprintf(stderr, "audit record of a VM without its summary\n");
			abort();
		}
		return j;
	}
	last = fsm_last_decision_text(&a->u.audit.last, a->u.audit.vm);
	l = last ? json_loads(last, 0, &e) : NULL;
	for (size_t k = 0; k < sizeof(same) / sizeof(same[0]); k++)
		if (!l || !json_equal(json_object_get(l, same[k]), json_object_get(j, same[k]))) {
			fprintf(stderr, "audit summary differs in %s: %s vs %s\n", same[k],
				last ? last : "(none)", a->u.audit.text);
			abort();
		}
	if (!json_equal(json_object_get(l, "epoch"),
			json_object_get(json_object_get(j, "inputs"), "epoch")) ||
	    json_object_size(l) != sizeof(same) / sizeof(same[0]) + 1) {
		fprintf(stderr, "audit summary: %s vs %s\n", last, a->u.audit.text);
		abort();
	}
	free(last);
	json_decref(l);
	return j;
}

static void do_actions(struct h_cluster *c, int i, struct fsm_actions *out)
{
	struct h_node *nd = &c->nodes[i];

	if (out->overflow)
		c->step_errors++;
	for (unsigned k = 0; k < out->n; k++) {
		const struct fsm_action *a = &out->a[k];
		struct fsm_event ev;
		int v;

		switch (a->kind) {
		case FSM_ACT_QMP:
			stub_cmd(c, i, a);
			break;
		case FSM_ACT_SEND: {
			struct h_msg *m;

			if ((unsigned)a->u.send.kind <
			    sizeof(nd->msgs_sent) / sizeof(nd->msgs_sent[0]))
				nd->msgs_sent[a->u.send.kind]++;
			if (nd->drop_sends)
				break;
			if (c->mq_tail - c->mq_head >= H_QUEUE)
				abort();
			m = &c->mq[c->mq_tail++ % H_QUEUE];
			m->from = nd->id;
			m->part = nd->part;
			m->msg = a->u.send;
			m->held = nd->cpg_stalled;
			break;
		}
		case FSM_ACT_PERSIST: {
			unsigned d;

			for (d = 0; d < nd->n_disk; d++)
				if (!strcmp(nd->disk[d].vm, a->u.persist.rec.vm))
					break;
			if (d == nd->n_disk) {
				if (nd->n_disk >= H_VMS)
					abort();
				nd->n_disk++;
			}
			nd->disk[d] = a->u.persist.rec;
			ev = h_ev(c, i, FSM_EV_PERSIST_DONE);
			set_name(ev.u.persisted.vm, a->u.persist.rec.vm);
			ev.u.persisted.seq = a->u.persist.seq;
			if (!nd->persist_manual)
				lq_push(c, i, &ev);
			break;
		}
		case FSM_ACT_FENCE:
			if (a->u.fence.nodeid <= FSM_MAX_NODES)
				nd->fences_requested[a->u.fence.nodeid]++;
			break;
		case FSM_ACT_TIMER_START:
			timer_set(nd, a->u.timer.id, a->u.timer.vm,
				  a->u.timer.due_mono_ms);
			break;
		case FSM_ACT_TIMER_CANCEL:
			break;
		case FSM_ACT_KILL:
			v = vm_idx(c, a->u.kill.vm);
			if (nd->kill_manual) {
				nd->kill_pending[v] = 1;
				break;
			}
			if (nd->q[v].alive) {
				nd->q[v].alive = false;
				nd->q[v].killed++;
				ev = h_ev(c, i, FSM_EV_QEMU_EXITED);
				set_name(ev.u.qmp.vm, a->u.kill.vm);
				ev.u.qmp.inst = nd->q[v].inst;
				lq_push(c, i, &ev);
			}
			break;
		case FSM_ACT_STATUS:
			v = vm_idx(c, a->u.status.vm);
			nd->status[v] = a->u.status.status;
			nd->status_where[v] = a->u.status.where;
			break;
		case FSM_ACT_AUDIT: {
			json_t **slot = &nd->audit_log[nd->audits % 64];

			json_decref(*slot);
			*slot = audit_parse(a);
			nd->audits++;
			break;
		}
		}
		if (c->verbose && a->kind == FSM_ACT_QMP)
			fprintf(stderr, "# t=%lld n%u qmp %s %s\n",
				(long long)c->now, nd->id, a->u.qmp.vm,
				fsm_qmp_cmd_to_str(a->u.qmp.cmd));
		if (c->verbose && a->kind == FSM_ACT_SEND &&
		    a->u.send.kind != FSM_MSG_LIVENESS)
			fprintf(stderr, "# t=%lld n%u send %s %s E=%llu prop %llu->%llu %s h%u\n",
				(long long)c->now, nd->id,
				fsm_msg_kind_to_str(a->u.send.kind), a->u.send.vm,
				(unsigned long long)a->u.send.epoch.n,
				(unsigned long long)a->u.send.prop.from_n,
				(unsigned long long)a->u.send.prop.to.n,
				fsm_epoch_kind_to_str(a->u.send.prop.to.kind),
				a->u.send.prop.to.holder);
		if (c->verbose && (a->kind == FSM_ACT_KILL || a->kind == FSM_ACT_FENCE ||
				   a->kind == FSM_ACT_STATUS))
			fprintf(stderr, "# t=%lld n%u %s %s\n", (long long)c->now,
				nd->id, fsm_action_kind_to_str(a->kind),
				a->kind == FSM_ACT_STATUS ?
				fsm_vm_status_to_str(a->u.status.status) : "");
		if (c->verbose && a->kind == FSM_ACT_AUDIT)
			fprintf(stderr, "# t=%lld n%u audit %s: %s\n", (long long)c->now,
				nd->id, a->u.audit.rule, a->u.audit.decision);
	}
	fsm_actions_reset(out);
}

void h_step(struct h_cluster *c, int i, const struct fsm_event *ev)
{
	struct h_node *nd = &c->nodes[i];

	if (!nd->power || !nd->arb_up || !nd->f)
		return;
	if (fsm_step(nd->f, ev, g_out) < 0) {
		if (c->verbose)
			fprintf(stderr, "# step error n%u ev %s\n", nd->id,
				fsm_event_kind_to_str(ev->kind));
		c->step_errors++;
	}
	if (fsm_skip_misses(nd->f) != nd->skip_misses) {
		nd->skip_misses = fsm_skip_misses(nd->f);
		fprintf(stderr, "# n%u ev %s: a skipped VM would have acted\n", nd->id,
			fsm_event_kind_to_str(ev->kind));
		c->step_errors++;
	}
	if (c->verbose && ev->kind == FSM_EV_PEER_MSG &&
	    ev->u.peer.msg.kind == FSM_MSG_LIVENESS && ev->u.peer.from == nd->id)
		fprintf(stderr, "# t=%lld n%u own liveness back, gate %s\n",
			(long long)c->now, nd->id,
			fsm_gate_reason(nd->f) ? fsm_gate_reason(nd->f) : "open");
	do_actions(c, i, g_out);
}

void h_run(struct h_cluster *c)
{
	for (unsigned iter = 0; iter < 200000; iter++) {
		if (c->lq_head != c->lq_tail) {
			struct h_local l = c->lq[c->lq_head++ % H_QUEUE];

			l.ev.now_mono_ms = c->now;
			l.ev.now_wall_ms = WALL_BASE + c->now + c->wall_off[l.node];
			h_step(c, l.node, &l.ev);
			continue;
		}
		if (c->mq_head != c->mq_tail) {
			struct h_msg m = c->mq[c->mq_head++ % H_QUEUE];

			if (m.held)
				continue; /* a stalled corosync delivers nothing */
			for (unsigned j = 0; j < c->n; j++) {
				struct h_node *nd = &c->nodes[j];
				struct fsm_event ev;

				if (!nd->power || !nd->arb_up || nd->part != m.part ||
				    nd->cpg_stalled)
					continue;
				ev = h_ev(c, (int)j, FSM_EV_PEER_MSG);
				ev.u.peer.from = m.from;
				ev.u.peer.msg = m.msg;
				h_step(c, (int)j, &ev);
			}
			continue;
		}
		return;
	}
	abort(); /* a message storm: the fsm never settles */
}

void h_advance(struct h_cluster *c, int64_t ms)
{
	int64_t target = c->now + ms;

	h_run(c);
	for (;;) {
		struct h_timer *best = NULL;
		int bi = -1;

		for (unsigned i = 0; i < c->n; i++) {
			struct h_node *nd = &c->nodes[i];

			if (!nd->power || !nd->arb_up)
				continue;
			for (unsigned t = 0; t < H_TIMERS; t++)
				if (nd->timers[t].used && nd->timers[t].due <= target &&
				    (!best || nd->timers[t].due < best->due)) {
					best = &nd->timers[t];
					bi = (int)i;
				}
		}
		if (!best) {
			c->now = target;
			return;
		}
		if (best->due > c->now)
			c->now = best->due;
		best->used = false;
		struct fsm_event ev = h_ev(c, bi, FSM_EV_TIMER);

		ev.u.timer.id = best->id;
		ev.u.timer.vm = best->vm;
		h_step(c, bi, &ev);
		h_run(c);
	}
}

void h_init(struct h_cluster *c, unsigned n, const struct fsm_config *base)
{
	memset(c, 0, sizeof(*c));
	if (!g_out)
		g_out = calloc(1, sizeof(*g_out));
	c->mq = calloc(H_QUEUE, sizeof(*c->mq));
	c->lq = calloc(H_QUEUE, sizeof(*c->lq));
	if (!g_out || !c->mq || !c->lq)
		abort();
	c->n = n;
	c->verbose = getenv("H_VERBOSE") != NULL;
	c->base = *base;
	if (c->base.expected_votes == 0)
		c->base.expected_votes = n;
	c->now = 100000;
	c->pid_next = 4000;
	for (unsigned i = 0; i < n; i++) {
		struct fsm_config cfg = *base;

		cfg.local_nodeid = i + 1;
		/* every step also proves its skipped VMs had nothing to do */
		cfg.check_skips = true;
		if (cfg.expected_votes == 0)
			cfg.expected_votes = n;
		c->nodes[i].id = i + 1;
		c->nodes[i].f = fsm_new(&cfg);
		if (!c->nodes[i].f)
			abort();
		c->nodes[i].power = true;
		c->nodes[i].arb_up = true;
	}
}

json_t *h_audit_find(struct h_cluster *c, uint32_t node, const char *rule)
{
	struct h_node *nd = h_node(c, node);

	int k0 = nd->audits > 64 ? nd->audits - 64 : 0;

	for (int k = k0; k < nd->audits; k++) {
		json_t *j = nd->audit_log[k % 64];
		const char *r = json_string_value(json_object_get(j, "rule"));

		if (r && !strcmp(r, rule))
			return j;
	}
	return NULL;
}

void h_free(struct h_cluster *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		fsm_free(c->nodes[i].f);
		for (unsigned k = 0; k < 64; k++)
			json_decref(c->nodes[i].audit_log[k]);
	}
	fsm_actions_release(g_out);
	free(g_out);
	g_out = NULL;
	free(c->mq);
	free(c->lq);
	c->mq = NULL;
	c->lq = NULL;
}

void h_vm(struct h_cluster *c, const char *name, uint32_t p, uint32_t s)
{
	c->vm_names[c->n_vms] = name;
	c->vm_primary[c->n_vms] = p;
	c->vm_secondary[c->n_vms] = s;
	c->n_vms++;
}

static void qemu_connect(struct h_cluster *c, int i, int v)
{
	struct fsm_event ev = h_ev(c, i, FSM_EV_QMP_CONNECTED);

	set_name(ev.u.qmp.vm, c->vm_names[v]);
	ev.u.qmp.inst = c->nodes[i].q[v].inst;
	lq_push(c, i, &ev);
	qmp_fact(c, i, v, FSM_EV_QMP_YANK_SET, NULL);
	qmp_fact(c, i, v, FSM_EV_QMP_COLO_STATUS, NULL);
	qmp_fact(c, i, v, FSM_EV_QMP_STATUS, NULL);
	qmp_fact(c, i, v, FSM_EV_QMP_MIGRATE, NULL);
}

static void arbiter_boot(struct h_cluster *c, int i)
{
	struct h_node *nd = &c->nodes[i];
	struct fsm_event ev = h_ev(c, i, FSM_EV_START);

	ev.u.start.n = nd->n_disk;
	ev.u.start.recs = nd->disk;
	h_step(c, i, &ev);
	for (unsigned v = 0; v < c->n_vms; v++) {
		uint32_t peer;

		if (c->vm_primary[v] == nd->id)
			peer = c->vm_secondary[v];
		else if (c->vm_secondary[v] == nd->id)
			peer = c->vm_primary[v];
		else
			continue;
		ev = h_ev(c, i, FSM_EV_ADMIN);
		ev.u.admin.kind = FSM_ADMIN_VM_ADD;
		set_name(ev.u.admin.vm, c->vm_names[v]);
		ev.u.admin.peer_node = peer;
		ev.u.admin.n_pre = 1;
		ev.u.admin.n_post = c->n_post ? c->n_post : 1;
		h_step(c, i, &ev);
		if (nd->q[v].alive)
			qemu_connect(c, i, (int)v);
	}
}

void h_boot(struct h_cluster *c)
{
	uint32_t all[H_NODES + 1] = { 0 };

	for (unsigned i = 0; i < c->n; i++) {
		for (unsigned v = 0; v < c->n_vms; v++) {
			struct h_qemu *q = &c->nodes[i].q[v];
			bool p = c->vm_primary[v] == c->nodes[i].id;

			if (!p && c->vm_secondary[v] != c->nodes[i].id)
				continue;
			q->present = q->alive = true;
			q->inst.pid = c->pid_next++;
			q->inst.start = 7000 + q->inst.pid;
			q->mode = p ? FSM_MODE_PRIMARY : FSM_MODE_SECONDARY;
			q->last_mode = FSM_MODE_NONE;
			q->reason = FSM_REASON_NONE;
			q->run = FSM_RUN_RUNNING;
			q->mig = p ? FSM_MIG_COLO : FSM_MIG_NONE;
		}
		arbiter_boot(c, (int)i);
		all[i] = c->nodes[i].id;
	}
	h_run(c);
	for (unsigned i = 0; i < c->n; i++)
		c->nodes[i].n_cpg = 0; /* everyone joins in the first view */
	h_partition(c, all, NULL);
	h_advance(c, 1000);
}

static bool in_list(const uint32_t *l, unsigned n, uint32_t id)
{
	for (unsigned k = 0; k < n; k++)
		if (l[k] == id)
			return true;
	return false;
}

/* Deliver one node's view of a new configuration, in cpgwatch order:
 * CPG confchg, totem confchg, quorum. */
static void view(struct h_cluster *c, int i, struct fsm_ring_id ring,
		 const uint32_t *nodes, unsigned n_nodes, bool quorate)
{
	struct h_node *nd = &c->nodes[i];
	struct fsm_event ev = h_ev(c, i, FSM_EV_CPG_CONFCHG);
	uint32_t mem[FSM_MAX_NODES];
	unsigned nm = 0;

	for (unsigned k = 0; k < n_nodes; k++) {
		struct h_node *o = h_node(c, nodes[k]);

		if (o->power && o->arb_up)
			mem[nm++] = nodes[k];
	}
	for (unsigned k = 0; k < nm; k++) {
		ev.u.cpg.members[k].nodeid = mem[k];
		ev.u.cpg.members[k].pid = 100 + mem[k];
	}
	ev.u.cpg.n_members = nm;
	for (unsigned k = 0; k < nd->n_cpg; k++)
		if (!in_list(mem, nm, nd->cpg_members[k])) {
			ev.u.cpg.left[ev.u.cpg.n_left].nodeid = nd->cpg_members[k];
			ev.u.cpg.left[ev.u.cpg.n_left++].reason = FSM_CPG_NODEDOWN;
		}
	for (unsigned k = 0; k < nm; k++)
		if (!in_list(nd->cpg_members, nd->n_cpg, mem[k])) {
			ev.u.cpg.joined[ev.u.cpg.n_joined].nodeid = mem[k];
			ev.u.cpg.joined[ev.u.cpg.n_joined++].reason =
				in_list(nd->ring_nodes, nd->n_ring, mem[k]) ?
				FSM_CPG_JOIN : FSM_CPG_NODEUP;
		}
	memcpy(nd->cpg_members, mem, sizeof(mem));
	nd->n_cpg = nm;
	if (ev.u.cpg.n_left || ev.u.cpg.n_joined)
		h_step(c, i, &ev);

	ev = h_ev(c, i, FSM_EV_TOTEM_CONFCHG);
	ev.u.totem.ring = ring;
	ev.u.totem.n_nodes = n_nodes;
	memcpy(ev.u.totem.nodes, nodes, n_nodes * sizeof(*nodes));
	h_step(c, i, &ev);
	nd->ring = ring;
	memcpy(nd->ring_nodes, nodes, n_nodes * sizeof(*nodes));
	nd->n_ring = n_nodes;

	ev = h_ev(c, i, FSM_EV_QUORUM);
	ev.u.quorum.quorate = quorate;
	ev.u.quorum.ring = ring;
	ev.u.quorum.n_nodes = n_nodes;
	memcpy(ev.u.quorum.nodes, nodes, n_nodes * sizeof(*nodes));
	nd->quorate = quorate;
	h_step(c, i, &ev);
}

static void group_view(struct h_cluster *c, const uint32_t *g, int part)
{
	uint32_t nodes[FSM_MAX_NODES];
	unsigned n = 0;
	struct fsm_ring_id ring;
	bool two_node;
	unsigned expected;

	for (; g && *g; g++)
		if (h_node(c, *g)->power)
			nodes[n++] = *g;
	if (n == 0)
		return;
	ring.nodeid = nodes[0];
	ring.seq = ++c->ring_seq * 4;
	two_node = c->base.two_node; /* votequorum semantics, whatever the fsm believes */
	expected = c->base.expected_votes ? c->base.expected_votes : c->n;
	for (unsigned k = 0; k < n; k++)
		h_node(c, nodes[k])->part = part;
	for (unsigned k = 0; k < n; k++) {
		struct h_node *nd = h_node(c, nodes[k]);

		if (nd->cpg_stalled)
			continue;
		view(c, (int)(nodes[k] - 1), ring, nodes, n,
		     n * 2 > expected || (two_node && n >= 1));
	}
}

void h_partition_views(struct h_cluster *c, const uint32_t *g1,
		       const uint32_t *g2)
{
	h_run(c);
	for (unsigned i = 0; i < c->n; i++)
		if (!c->nodes[i].power)
			c->nodes[i].part = -1;
	group_view(c, g1, 1);
	group_view(c, g2, 2);
}

void h_partition(struct h_cluster *c, const uint32_t *g1, const uint32_t *g2)
{
	h_partition_views(c, g1, g2);
	h_run(c);
}

void h_kill_land(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_node *nd = h_node(c, node);
	int v = vm_idx(c, vm);
	struct fsm_event ev = h_ev(c, (int)node - 1, FSM_EV_QEMU_EXITED);

	if (!nd->kill_pending[v] || !nd->q[v].alive)
		return;
	nd->kill_pending[v] = 0;
	nd->q[v].alive = false;
	nd->q[v].killed++;
	set_name(ev.u.qmp.vm, vm);
	ev.u.qmp.inst = nd->q[v].inst;
	lq_push(c, (int)node - 1, &ev);
	h_run(c);
}

void h_heal(struct h_cluster *c)
{
	uint32_t all[H_NODES + 1] = { 0 };
	unsigned k = 0;

	for (unsigned i = 0; i < c->n; i++)
		if (c->nodes[i].power) {
			all[k++] = c->nodes[i].id;
			c->nodes[i].cpg_stalled = false;
		}
	h_partition(c, all, NULL);
}

void h_node_view(struct h_cluster *c, int node, const uint32_t *members,
		 bool quorate)
{
	uint32_t nodes[FSM_MAX_NODES];
	unsigned n = 0;
	struct fsm_ring_id ring;

	for (; members && *members; members++)
		nodes[n++] = *members;
	ring.nodeid = nodes[0];
	ring.seq = ++c->ring_seq * 4;
	view(c, node - 1, ring, nodes, n, quorate);
	h_run(c);
}

void h_power_off(struct h_cluster *c, uint32_t id)
{
	struct h_node *nd = h_node(c, id);

	nd->power = false;
	nd->part = -1;
	for (unsigned v = 0; v < c->n_vms; v++) {
		if (nd->q[v].present && nd->q[v].alive) {
			nd->q[v].alive = false;
			/* a primary never notices a silently dead secondary,
			 * and hangs on its next flush (silent-loss/) */
			if (c->vm_secondary[v] == id) {
				struct h_qemu *p = h_q(c, c->vm_primary[v], c->vm_names[v]);

				if (p->mode == FSM_MODE_PRIMARY)
					p->hang_on_flush = true;
			}
		}
	}
}

void h_arbiter_stop(struct h_cluster *c, uint32_t id, enum fsm_cpg_reason why)
{
	struct h_node *nd = h_node(c, id);

	h_run(c);
	nd->arb_up = false;
	fsm_free(nd->f);
	nd->f = NULL;
	memset(nd->timers, 0, sizeof(nd->timers));
	for (unsigned i = 0; i < c->n; i++) {
		struct h_node *o = &c->nodes[i];
		struct fsm_event ev;
		unsigned nm = 0;

		if (!o->power || !o->arb_up || o->part != nd->part)
			continue;
		ev = h_ev(c, (int)i, FSM_EV_CPG_CONFCHG);
		for (unsigned k = 0; k < o->n_cpg; k++) {
			if (o->cpg_members[k] == id)
				continue;
			ev.u.cpg.members[nm].nodeid = o->cpg_members[k];
			ev.u.cpg.members[nm].pid = 100 + o->cpg_members[k];
			o->cpg_members[nm++] = o->cpg_members[k];
		}
		ev.u.cpg.n_members = nm;
		o->n_cpg = nm;
		ev.u.cpg.left[0].nodeid = id;
		ev.u.cpg.left[0].reason = why;
		ev.u.cpg.n_left = 1;
		h_step(c, (int)i, &ev);
	}
	h_run(c);
}

void h_arbiter_start(struct h_cluster *c, uint32_t id)
{
	struct h_node *nd = h_node(c, id);
	struct fsm_config cfg = c->base;

	cfg.local_nodeid = id;
	cfg.check_skips = true;
	nd->f = fsm_new(&cfg);
	nd->skip_misses = 0;
	if (!nd->f)
		abort();
	nd->arb_up = true;
	nd->n_cpg = 0;
	arbiter_boot(c, (int)(id - 1));
	h_run(c);
	/* initial totem conf + quorum, then the group join everyone sees */
	for (unsigned i = 0; i < c->n; i++) {
		struct h_node *o = &c->nodes[i];
		struct fsm_event ev;
		unsigned nm = 0;

		if (!o->power || !o->arb_up || o->part != nd->part)
			continue;
		if (o->id == id) {
			view(c, (int)i, o->ring, o->ring_nodes, o->n_ring, o->quorate);
			continue;
		}
		ev = h_ev(c, (int)i, FSM_EV_CPG_CONFCHG);
		for (unsigned k = 0; k < o->n_cpg; k++) {
			ev.u.cpg.members[nm].nodeid = o->cpg_members[k];
			ev.u.cpg.members[nm++].pid = 100 + o->cpg_members[k];
		}
		ev.u.cpg.members[nm].nodeid = id;
		ev.u.cpg.members[nm++].pid = 100 + id;
		o->cpg_members[o->n_cpg++] = id;
		ev.u.cpg.n_members = nm;
		ev.u.cpg.joined[0].nodeid = id;
		ev.u.cpg.joined[0].reason = FSM_CPG_JOIN;
		ev.u.cpg.n_joined = 1;
		h_step(c, (int)i, &ev);
	}
	h_run(c);
}

void h_fence_result(struct h_cluster *c, uint32_t at, uint32_t victim,
		    bool ok, int64_t fence_wall_s)
{
	struct fsm_event ev = h_ev(c, (int)at - 1, FSM_EV_FENCE_RESULT);

	if (ok && fence_wall_s == 0 && h_node(c, victim)->power)
		h_power_off(c, victim);
	ev.u.fence.nodeid = victim;
	ev.u.fence.success = ok;
	ev.u.fence.fence_wall_s = fence_wall_s ? fence_wall_s :
				  (WALL_BASE + c->now + c->wall_off[at - 1]) / 1000;
	h_step(c, (int)at - 1, &ev);
	h_run(c);
}

void h_qemu_colo_exit(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct fsm_event ev = h_ev(c, (int)node - 1, FSM_EV_QMP_COLO_EXIT);
	struct h_qemu *q = h_q(c, node, vm);

	set_name(ev.u.qmp.vm, vm);
	ev.u.qmp.inst = q->inst;
	ev.u.qmp.mode = q->mode;
	ev.u.qmp.reason = FSM_REASON_ERROR;
	lq_push(c, (int)node - 1, &ev);
	h_run(c);
}

void h_qemu_complete(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_qemu *q = h_q(c, node, vm);
	struct fsm_event ev = h_ev(c, (int)node - 1, FSM_EV_QMP_RESUME);

	if (!q->failover_pending)
		return;
	complete_failover(q);
	set_name(ev.u.qmp.vm, vm);
	ev.u.qmp.inst = q->inst;
	lq_push(c, (int)node - 1, &ev);
	h_run(c);
}

void h_qemu_release_yank(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_qemu *q = h_q(c, node, vm);

	q->hold_yank = false;
	if (!q->yank_held)
		return;
	q->yank_held = false;
	result(c, (int)node - 1, &q->held_yank_tag, FSM_QMP_YANK, FSM_RES_RETURN);
	h_run(c);
}

void h_qemu_release_pre(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_qemu *q = h_q(c, node, vm);

	q->hold_pre = false;
	if (!q->pre_held)
		return;
	q->pre_held = false;
	result(c, (int)node - 1, &q->held_pre_tag, FSM_QMP_PRE, FSM_RES_RETURN);
	h_run(c);
}

void h_qemu_release_post(struct h_cluster *c, uint32_t node, const char *vm, bool lost)
{
	struct h_qemu *q = h_q(c, node, vm);
	unsigned n = q->posts_held;
	struct fsm_event ev;

	q->hold_post = false;
	q->posts_held = 0;
	for (unsigned k = 0; k < n; k++)
		result(c, (int)node - 1, &q->held_post_tag[k], FSM_QMP_POST,
		       lost ? FSM_RES_NOT_DELIVERED : FSM_RES_RETURN);
	if (lost) {
		ev = h_ev(c, (int)node - 1, FSM_EV_QMP_LOST);
		set_name(ev.u.qmp.vm, vm);
		ev.u.qmp.inst = q->inst;
		lq_push(c, (int)node - 1, &ev);
	}
	h_run(c);
}

void h_qemu_post_result(struct h_cluster *c, uint32_t node, const char *vm, unsigned k,
			enum fsm_cmd_result r)
{
	struct h_qemu *q = h_q(c, node, vm);

	if (k >= q->posts_held)
		abort();
	result(c, (int)node - 1, &q->held_post_tag[k], FSM_QMP_POST, r);
	h_run(c);
}

void h_persist_release(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct fsm_event ev = h_ev(c, (int)node - 1, FSM_EV_PERSIST_DONE);

	h_node(c, node)->persist_manual = false;
	set_name(ev.u.persisted.vm, vm);
	ev.u.persisted.seq = UINT64_MAX; /* every write so far */
	h_step(c, (int)node - 1, &ev);
	h_run(c);
}

void h_qemu_kill(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_qemu *q = h_q(c, node, vm);
	struct fsm_event ev = h_ev(c, (int)node - 1, FSM_EV_QEMU_EXITED);
	int v = vm_idx(c, vm);

	q->alive = false;
	set_name(ev.u.qmp.vm, vm);
	ev.u.qmp.inst = q->inst;
	lq_push(c, (int)node - 1, &ev);
	/* the secondary sees EOF at once; the primary sees nothing */
	if (c->vm_primary[v] == node) {
		struct h_qemu *s = h_q(c, c->vm_secondary[v], vm);

		if (s->alive && s->mode == FSM_MODE_SECONDARY)
			h_qemu_colo_exit(c, c->vm_secondary[v], vm);
	}
	h_run(c);
}

void h_qemu_restart(struct h_cluster *c, uint32_t node, const char *vm,
		    enum fsm_colo_mode mode)
{
	struct h_qemu *q = h_q(c, node, vm);
	int v = vm_idx(c, vm);

	memset(q, 0, sizeof(*q));
	q->present = q->alive = true;
	q->inst.pid = c->pid_next++;
	q->inst.start = 7000 + q->inst.pid;
	q->mode = mode;
	q->last_mode = FSM_MODE_NONE;
	q->run = FSM_RUN_RUNNING;
	q->mig = mode == FSM_MODE_PRIMARY ? FSM_MIG_COLO : FSM_MIG_NONE;
	qemu_connect(c, (int)node - 1, v);
	h_run(c);
}

/* the monitor connection of the running instance goes down or comes up */
static void qmp_link(struct h_cluster *c, uint32_t node, const char *vm,
		     enum fsm_event_kind kind)
{
	struct fsm_event ev = h_ev(c, (int)node - 1, kind);

	set_name(ev.u.qmp.vm, vm);
	ev.u.qmp.inst = h_q(c, node, vm)->inst;
	lq_push(c, (int)node - 1, &ev);
	h_run(c);
}

void h_qmp_lost(struct h_cluster *c, uint32_t node, const char *vm)
{
	qmp_link(c, node, vm, FSM_EV_QMP_LOST);
}

void h_qmp_reconnect(struct h_cluster *c, uint32_t node, const char *vm)
{
	qmp_link(c, node, vm, FSM_EV_QMP_CONNECTED);
}

int h_alone(struct h_cluster *c, const char *vm)
{
	int v = vm_idx(c, vm), n = 0;

	for (unsigned i = 0; i < c->n; i++) {
		const struct h_qemu *q = &c->nodes[i].q[v];

		if (q->present && q->alive && q->mode == FSM_MODE_NONE &&
		    q->run == FSM_RUN_RUNNING)
			n++;
	}
	return n;
}

int h_lhb_total(struct h_cluster *c, const char *vm)
{
	int v = vm_idx(c, vm), n = 0;

	for (unsigned i = 0; i < c->n; i++)
		n += c->nodes[i].q[v].lhb_run;
	return n;
}

enum fsm_vm_status h_status(struct h_cluster *c, uint32_t node, const char *vm)
{
	return h_node(c, node)->status[vm_idx(c, vm)];
}

uint64_t h_epoch(struct h_cluster *c, uint32_t node, const char *vm)
{
	struct h_node *nd = h_node(c, node);

	for (unsigned d = 0; d < nd->n_disk; d++)
		if (!strcmp(nd->disk[d].vm, vm))
			return nd->disk[d].epoch.n;
	return 0;
}

void h_qemu_facts(struct h_cluster *c, uint32_t node, const char *vm)
{
	int v = vm_idx(c, vm);

	qmp_fact(c, (int)node - 1, v, FSM_EV_QMP_MIGRATE, NULL);
	qmp_fact(c, (int)node - 1, v, FSM_EV_QMP_COLO_STATUS, NULL);
	qmp_fact(c, (int)node - 1, v, FSM_EV_QMP_STATUS, NULL);
	h_run(c);
}
