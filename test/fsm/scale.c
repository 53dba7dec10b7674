/*
 * scale.c: the many-VM cluster of scale.h, for test_fsm_scale and
 * bench_fsm_scale.  Test code: it may allocate and abort; it reads a clock
 * only through the hook the benchmark sets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

#define WALL_BASE 1795630000000LL

void s_name(unsigned v, char *buf)
{
	snprintf(buf, FSM_NAME_MAX, "vm%u", v);
}

static int vm_of(const struct s_cluster *c, const char *name)
{
	char *end;
	unsigned long v;

	if (strncmp(name, "vm", 2) != 0)
		return -1;
	v = strtoul(name + 2, &end, 10);
	return *end == '\0' && v < c->n_vms ? (int)v : -1;
}

/* which node hosts the primary / secondary of VM v (1-based ids) */
static uint32_t primary_of(const struct s_cluster *c, unsigned v)
{
	return v < c->n_local ? 1 : 2;
}

static uint32_t secondary_of(const struct s_cluster *c, unsigned v)
{
	return v < c->n_local ? 2 : 3;
}

struct fsm_event s_ev(struct s_cluster *c, enum fsm_event_kind k)
{
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = k;
	ev.now_mono_ms = c->now;
	ev.now_wall_ms = WALL_BASE + c->now;
	return ev;
}

static void push(struct s_cluster *c, int node, const struct fsm_event *ev)
{
	if (c->q_tail - c->q_head == c->q_cap) {
		unsigned cap = c->q_cap ? c->q_cap * 2 : 1024;
		struct s_item *q = malloc(cap * sizeof(*q));

		if (!q)
			abort();
		for (unsigned k = 0; k < c->q_cap; k++)
			q[k] = c->q[(c->q_head + k) % c->q_cap];
		free(c->q);
		c->q = q;
		c->q_tail -= c->q_head;
		c->q_head = 0;
		c->q_cap = cap;
	}
	c->q[c->q_tail % c->q_cap].node = node;
	c->q[c->q_tail % c->q_cap].ev = *ev;
	c->q_tail++;
}

static void vm_log(struct s_cluster *c, int i, int v, char what)
{
	struct s_vmlog *l = &c->nodes[i].log[v];

	if (!c->record)
		return;
	if (what == 'Y' && !strchr(l->seq, 'Y'))
		l->yank_step = c->nodes[i].steps;
	if (l->n < S_LOG)
		l->seq[l->n++] = what;
}

static void fact(struct s_cluster *c, int i, int v, enum fsm_event_kind k,
		 const struct fsm_tag *tag)
{
	struct fsm_event ev = s_ev(c, k);
	const struct s_qemu *q = &c->nodes[i].q[v];

	s_name((unsigned)v, ev.u.qmp.vm);
	ev.u.qmp.inst = q->inst;
	ev.u.qmp.mode = q->mode;
	ev.u.qmp.last_mode = q->last_mode;
	ev.u.qmp.reason = q->reason;
	ev.u.qmp.run = q->run;
	ev.u.qmp.mig = q->mig;
	if (k == FSM_EV_QMP_YANK_SET) {
		ev.u.qmp.n_yank = S_YANKS;
		for (unsigned y = 0; y < S_YANKS; y++)
			snprintf(ev.u.qmp.yank[y], FSM_YANK_NAME_MAX,
				 y == 0 ? "migration" : "block-node:#block%u", y);
	}
	if (tag) {
		ev.u.qmp.tagged = true;
		ev.u.qmp.tag = *tag;
	}
	push(c, i, &ev);
}

static void result(struct s_cluster *c, int i, const struct fsm_action *a,
		   enum fsm_cmd_result r)
{
	struct fsm_event ev = s_ev(c, FSM_EV_QMP_RESULT);

	ev.u.result.tag = a->u.qmp.tag;
	ev.u.result.cmd = a->u.qmp.cmd;
	ev.u.result.result = r;
	push(c, i, &ev);
}

/* How many of a yank's names, in order, are the ones QMP_YANK_SET gave
 * (-1 at the first that is not): the action lists them back to back. */
static int yank_names_ok(const struct fsm_action *a)
{
	const char *s = a->u.qmp.yank;
	char want[FSM_YANK_NAME_MAX];

	for (unsigned y = 0; y < a->u.qmp.n_yank; y++, s += strlen(s) + 1) {
		snprintf(want, sizeof(want), y == 0 ? "migration" : "block-node:#block%u", y);
		if (!s || strcmp(s, want) != 0)
			return -1;
	}
	return (int)a->u.qmp.n_yank;
}

/* QEMU as recorded, for a primary whose secondary's node is gone (the
 * yank came first) and for a secondary told to take over. */
static void stub(struct s_cluster *c, int i, const struct fsm_action *a)
{
	int v = vm_of(c, a->u.qmp.vm);
	struct s_qemu *q;
	static const char letter[] = {
		[FSM_QMP_YANK] = 'Y', [FSM_QMP_PRE] = 'P',
		[FSM_QMP_LOST_HEARTBEAT] = 'L', [FSM_QMP_POST] = 'O',
		[FSM_QMP_QUERY_COLO_STATUS] = 'Q', [FSM_QMP_QUERY_STATUS] = 'T',
		[FSM_QMP_QUERY_MIGRATE] = 'M', [FSM_QMP_CONT] = 'C',
		[FSM_QMP_STOP] = 'X', [FSM_QMP_QUIT] = 'U',
	};

	if (v < 0 || !c->nodes[i].q[v].present) {
		c->errors++;
		return;
	}
	q = &c->nodes[i].q[v];
	vm_log(c, i, v, letter[a->u.qmp.cmd]);
	switch (a->u.qmp.cmd) {
	case FSM_QMP_YANK:
		q->yank++;
		q->yank_names = yank_names_ok(a);
		break;
	case FSM_QMP_LOST_HEARTBEAT:
		if (q->mode != FSM_MODE_PRIMARY && q->mode != FSM_MODE_SECONDARY) {
			result(c, i, a, FSM_RES_ERROR);
			return;
		}
		q->lhb_run++;
		q->last_mode = q->mode;
		q->mode = FSM_MODE_NONE;
		q->reason = FSM_REASON_REQUEST;
		q->mig = FSM_MIG_COMPLETED;
		q->run = FSM_RUN_RUNNING;
		break;
	case FSM_QMP_QUERY_COLO_STATUS:
		fact(c, i, v, FSM_EV_QMP_COLO_STATUS, &a->u.qmp.tag);
		return;
	case FSM_QMP_QUERY_STATUS:
		fact(c, i, v, FSM_EV_QMP_STATUS, &a->u.qmp.tag);
		return;
	case FSM_QMP_QUERY_MIGRATE:
		fact(c, i, v, FSM_EV_QMP_MIGRATE, &a->u.qmp.tag);
		return;
	case FSM_QMP_CONT:
		q->run = FSM_RUN_RUNNING;
		break;
	case FSM_QMP_STOP:
		q->run = FSM_RUN_PAUSED;
		break;
	default:
		break;
	}
	result(c, i, a, FSM_RES_RETURN);
}

static void do_actions(struct s_cluster *c, int i)
{
	struct s_node *nd = &c->nodes[i];
	struct fsm_event ev;
	int v;

	for (unsigned k = 0; k < c->out.n; k++) {
		const struct fsm_action *a = &c->out.a[k];

		switch (a->kind) {
		case FSM_ACT_QMP:
			stub(c, i, a);
			break;
		case FSM_ACT_SEND:
			v = a->u.send.kind == FSM_MSG_STATE ? vm_of(c, a->u.send.vm) : -1;
			if (v >= 0)
				nd->reports[v]++;
			/* one agreed order: every member's copy is queued now */
			ev = s_ev(c, FSM_EV_PEER_MSG);
			ev.u.peer.from = nd->id;
			ev.u.peer.msg = a->u.send;
			for (int j = 0; j < S_NODES; j++)
				if (c->nodes[j].up)
					push(c, j, &ev);
			break;
		case FSM_ACT_PERSIST:
			v = vm_of(c, a->u.persist.rec.vm);
			if (v < 0) {
				c->errors++;
				break;
			}
			if (a->u.persist.rec.epoch.kind == FSM_EPOCH_SOLO &&
			    a->u.persist.rec.epoch.holder == nd->id &&
			    (nd->disk[v].kind != FSM_EPOCH_SOLO ||
			     nd->disk[v].n != a->u.persist.rec.epoch.n))
				vm_log(c, i, v, 'S');
			nd->disk[v] = a->u.persist.rec.epoch;
			ev = s_ev(c, FSM_EV_PERSIST_DONE);
			snprintf(ev.u.persisted.vm, FSM_NAME_MAX, "%s", a->u.persist.rec.vm);
			ev.u.persisted.seq = a->u.persist.seq;
			push(c, i, &ev);
			break;
		case FSM_ACT_FENCE:
			/* the victim is powered off: a proof newer than last-alive */
			nd->fences++;
			ev = s_ev(c, FSM_EV_FENCE_RESULT);
			ev.u.fence.nodeid = a->u.fence.nodeid;
			ev.u.fence.success = !c->nodes[a->u.fence.nodeid - 1].up;
			ev.u.fence.fence_wall_s = (WALL_BASE + c->now) / 1000 + 10;
			push(c, i, &ev);
			break;
		case FSM_ACT_KILL:
			nd->kills++;
			v = vm_of(c, a->u.kill.vm);
			if (v >= 0)
				vm_log(c, i, v, 'K');
			break;
		case FSM_ACT_STATUS:
			v = vm_of(c, a->u.status.vm);
			if (v >= 0)
				nd->status[v] = a->u.status.status;
			break;
		case FSM_ACT_AUDIT:
			nd->audits++;
			break;
		default: /* timers: the clock stands still in these runs */
			break;
		}
	}
}

int s_step(struct s_cluster *c, int i, struct fsm_event *ev)
{
	struct s_node *nd = &c->nodes[i];
	unsigned yanks = 0, reports = 0;
	int64_t t0 = 0;
	int rc;

	if (!nd->up)
		return 0;
	ev->now_mono_ms = c->now;
	ev->now_wall_ms = WALL_BASE + c->now;
	nd->steps++;
	if (c->clock_ns)
		t0 = c->clock_ns();
	rc = fsm_step(nd->f, ev, &c->out);
	c->last_ns = c->clock_ns ? (uint64_t)(c->clock_ns() - t0) : 0;
	if (fsm_skip_misses(nd->f))
		c->errors++;
	nd->step_ns += c->last_ns;
	c->last_ev = *ev;
	c->last_node = i;
	c->last_actions = c->out.n;
	if (rc < 0 || c->out.overflow)
		c->errors++;
	if (c->out.n > nd->max_actions) {
		nd->max_actions = c->out.n;
		nd->max_actions_step = nd->steps;
		nd->max_actions_ns = c->last_ns;
	}
	for (unsigned k = 0; k < c->out.n; k++) {
		yanks += c->out.a[k].kind == FSM_ACT_QMP &&
			 c->out.a[k].u.qmp.cmd == FSM_QMP_YANK;
		reports += c->out.a[k].kind == FSM_ACT_SEND &&
			   c->out.a[k].u.send.kind == FSM_MSG_STATE;
	}
	if (reports > nd->max_reports)
		nd->max_reports = reports;
	if (yanks > nd->max_yanks) {
		nd->max_yanks = yanks;
		nd->max_yanks_actions = c->out.n;
		nd->max_yanks_ns = c->last_ns;
	}
	do_actions(c, i);
	fsm_actions_reset(&c->out);
	return rc;
}

void s_run(struct s_cluster *c)
{
	while (c->q_head != c->q_tail) {
		struct s_item it = c->q[c->q_head % c->q_cap];

		c->q_head++;
		s_step(c, it.node, &it.ev);
	}
}

int s_init(struct s_cluster *c, unsigned n_local, unsigned n_witness,
	   const struct fsm_config *base)
{
	memset(c, 0, sizeof(*c));
	c->n_local = n_local;
	c->n_witness = n_witness;
	c->n_vms = n_local + n_witness;
	c->base = *base;
	c->base.expected_votes = S_NODES;
	c->now = 100000;
	c->ring_seq = 4;
	for (unsigned i = 0; i < S_NODES; i++) {
		struct s_node *nd = &c->nodes[i];
		struct fsm_config cfg = c->base;

		cfg.local_nodeid = i + 1;
		nd->id = i + 1;
		nd->up = true;
		nd->f = fsm_new(&cfg);
		nd->q = calloc(c->n_vms + 1, sizeof(*nd->q));
		nd->log = calloc(c->n_vms + 1, sizeof(*nd->log));
		nd->status = calloc(c->n_vms + 1, sizeof(*nd->status));
		nd->disk = calloc(c->n_vms + 1, sizeof(*nd->disk));
		nd->reports = calloc(c->n_vms + 1, sizeof(*nd->reports));
		if (!nd->f || !nd->q || !nd->log || !nd->status || !nd->disk ||
		    !nd->reports)
			return -1;
	}
	return 0;
}

void s_free(struct s_cluster *c)
{
	for (unsigned i = 0; i < S_NODES; i++) {
		fsm_free(c->nodes[i].f);
		free(c->nodes[i].q);
		free(c->nodes[i].log);
		free(c->nodes[i].status);
		free(c->nodes[i].disk);
		free(c->nodes[i].reports);
	}
	fsm_actions_release(&c->out);
	free(c->q);
	memset(c, 0, sizeof(*c));
}

static void view(struct s_cluster *c, int i, uint32_t gone)
{
	struct fsm_event ev = s_ev(c, FSM_EV_CPG_CONFCHG);
	unsigned n = 0;
	uint32_t ids[S_NODES];

	for (unsigned j = 0; j < S_NODES; j++)
		if (c->nodes[j].up)
			ids[n++] = j + 1;
	for (unsigned k = 0; k < n; k++) {
		ev.u.cpg.members[k].nodeid = ids[k];
		ev.u.cpg.members[k].pid = 100 + ids[k];
	}
	ev.u.cpg.n_members = n;
	if (gone) {
		ev.u.cpg.n_left = 1;
		ev.u.cpg.left[0].nodeid = gone;
		ev.u.cpg.left[0].pid = 100 + gone;
		ev.u.cpg.left[0].reason = FSM_CPG_NODEDOWN;
	} else {
		ev.u.cpg.n_joined = n;
		for (unsigned k = 0; k < n; k++) {
			ev.u.cpg.joined[k] = ev.u.cpg.members[k];
			ev.u.cpg.joined[k].reason = FSM_CPG_JOIN;
		}
	}
	s_step(c, i, &ev);
	ev = s_ev(c, FSM_EV_TOTEM_CONFCHG);
	ev.u.totem.ring.nodeid = ids[0];
	ev.u.totem.ring.seq = c->ring_seq;
	ev.u.totem.n_nodes = n;
	memcpy(ev.u.totem.nodes, ids, n * sizeof(ids[0]));
	s_step(c, i, &ev);
	ev = s_ev(c, FSM_EV_QUORUM);
	ev.u.quorum.quorate = n * 2 > S_NODES;
	ev.u.quorum.ring.nodeid = ids[0];
	ev.u.quorum.ring.seq = c->ring_seq;
	ev.u.quorum.n_nodes = n;
	memcpy(ev.u.quorum.nodes, ids, n * sizeof(ids[0]));
	s_step(c, i, &ev);
}

void s_boot(struct s_cluster *c)
{
	struct fsm_event ev;

	for (unsigned i = 0; i < S_NODES; i++) {
		for (unsigned v = 0; v < c->n_vms; v++) {
			uint32_t p = primary_of(c, v), s = secondary_of(c, v);
			struct s_qemu *q = &c->nodes[i].q[v];

			if (i + 1 != p && i + 1 != s)
				continue;
			ev = s_ev(c, FSM_EV_ADMIN);
			ev.u.admin.kind = FSM_ADMIN_VM_ADD;
			s_name(v, ev.u.admin.vm);
			ev.u.admin.peer_node = i + 1 == p ? s : p;
			ev.u.admin.n_pre = 1;
			ev.u.admin.n_post = 1;
			s_step(c, (int)i, &ev);
			q->present = true;
			q->inst.pid = 10000 * (i + 1) + v;
			q->inst.start = 1;
			q->mode = i + 1 == p ? FSM_MODE_PRIMARY : FSM_MODE_SECONDARY;
			q->last_mode = FSM_MODE_NONE;
			q->reason = FSM_REASON_NONE;
			q->run = FSM_RUN_RUNNING;
			q->mig = FSM_MIG_COLO;
		}
		ev = s_ev(c, FSM_EV_START);
		s_step(c, (int)i, &ev);
		for (unsigned v = 0; v < c->n_vms; v++) {
			if (!c->nodes[i].q[v].present)
				continue;
			fact(c, (int)i, (int)v, FSM_EV_QMP_CONNECTED, NULL);
			fact(c, (int)i, (int)v, FSM_EV_QMP_YANK_SET, NULL);
			fact(c, (int)i, (int)v, FSM_EV_QMP_MIGRATE, NULL);
			fact(c, (int)i, (int)v, FSM_EV_QMP_COLO_STATUS, NULL);
			fact(c, (int)i, (int)v, FSM_EV_QMP_STATUS, NULL);
		}
	}
	s_run(c);
	for (unsigned i = 0; i < S_NODES; i++)
		view(c, (int)i, 0);
	s_run(c);
}

void s_power_off(struct s_cluster *c, uint32_t id)
{
	c->nodes[id - 1].up = false;
	c->ring_seq += 4;
	for (unsigned i = 0; i < S_NODES; i++)
		if (c->nodes[i].up)
			view(c, (int)i, id);
}
