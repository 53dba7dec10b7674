/*
 * test_fsm_scale.c: the decision core at the scale of the issue's
 * benchmark: 500 protected VMs on one node whose secondaries' node dies
 * (every failover sequence complete, in order, started by one event), the
 * VM table's name index under many adds and removes (collisions, re-adds,
 * wrap-around), the FSM_MAX_VMS cap, growable action lists and the larger
 * yank set.  Physical outcomes come from the stubs of scale.c; the table
 * checks read fsm_state.h, which is what they test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fsm_state.h"
#include "scale.h"

#define N_LOCAL 500
#define N_WITNESS 100

static struct fsm *new_fsm(uint32_t id)
{
	struct fsm_config cfg;
	struct fsm *f;

	fsm_config_defaults(&cfg);
	cfg.check_skips = true;
	cfg.local_nodeid = id;
	f = fsm_new(&cfg);
	assert_non_null(f);
	return f;
}

static struct fsm_event ev_at(enum fsm_event_kind k, int64_t t)
{
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = k;
	ev.now_mono_ms = t;
	ev.now_wall_ms = 1795630000000LL + t;
	return ev;
}

/* VM_ADD (local side, peer node 2) or a STATE report from node 2 (a VM only
 * witnessed): the two ways a VM enters the table. */
static int add_vm(struct fsm *f, const char *name, bool local,
		  struct fsm_actions *out)
{
	struct fsm_event ev;
	int rc;

	if (local) {
		ev = ev_at(FSM_EV_ADMIN, 1);
		ev.u.admin.kind = FSM_ADMIN_VM_ADD;
		ev.u.admin.peer_node = 2;
		snprintf(ev.u.admin.vm, FSM_NAME_MAX, "%s", name);
	} else {
		ev = ev_at(FSM_EV_PEER_MSG, 1);
		ev.u.peer.from = 2;
		ev.u.peer.msg.kind = FSM_MSG_STATE;
		snprintf(ev.u.peer.msg.vm, FSM_NAME_MAX, "%s", name);
	}
	rc = fsm_step(f, &ev, out);
	fsm_actions_reset(out);
	return rc;
}

static int remove_vm(struct fsm *f, const char *name, struct fsm_actions *out)
{
	struct fsm_event ev = ev_at(FSM_EV_ADMIN, 1);
	int rc;

	ev.u.admin.kind = FSM_ADMIN_VM_REMOVE;
	snprintf(ev.u.admin.vm, FSM_NAME_MAX, "%s", name);
	rc = fsm_step(f, &ev, out);
	fsm_actions_reset(out);
	return rc;
}

static unsigned status_vm_count(const struct fsm *f)
{
	json_t *j = fsm_status_json(f);
	unsigned n;

	assert_non_null(j);
	n = (unsigned)json_array_size(json_object_get(j, "vms"));
	json_decref(j);
	return n;
}

/* N_LOCAL + N_WITNESS VMs at the defaults, every skipped re-derivation
 * checked, booted: every pair protected under a COLO epoch. */
static struct s_cluster *booted_cluster(struct fsm_config *cfg)
{
	struct s_cluster *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	fsm_config_defaults(cfg);
	cfg->check_skips = true;
	assert_int_equal(s_init(c, N_LOCAL, N_WITNESS, cfg), 0);
	s_boot(c);
	return c;
}

/*
 * 500 VMs protected with their primary on n1 and secondary on n2 (plus 100
 * pairs n2 -> n3 that n1 only witnesses).  n2 powers off.  On n1 the gate
 * opens again with one event (its own liveness message delivered in the
 * new ring); that one fsm_step yanks all 500 primaries.  Each then commits
 * T(SOLO) with n3 and runs pre, x-colo-lost-heartbeat, post and both
 * queries, in that order, nothing missing, nothing twice.
 */
static void test_node_loss_500_vms(void **state)
{
	struct fsm_config cfg;
	struct s_cluster *c = booted_cluster(&cfg);
	struct s_node *n1, *n3;
	uint64_t yank_step;

	(void)state;
	n1 = &c->nodes[0];
	n3 = &c->nodes[2];
	assert_int_equal(c->errors, 0);
	for (unsigned v = 0; v < c->n_vms; v++) {
		for (unsigned i = 0; i < S_NODES; i++) {
			assert_int_equal(c->nodes[i].disk[v].kind, FSM_EPOCH_COLO);
			assert_int_equal(c->nodes[i].disk[v].n, 1);
		}
		assert_int_equal(c->nodes[v < N_LOCAL ? 0 : 1].status[v],
				 FSM_ST_PROTECTED);
	}
	assert_int_equal(n1->f->n_vms, N_LOCAL + N_WITNESS);

	c->record = true;
	c->now += 1000;
	s_power_off(c, 2);
	s_run(c);
	assert_int_equal(c->errors, 0);

	/* one event started every failover */
	yank_step = n1->log[0].yank_step;
	assert_true(yank_step > 0);
	for (unsigned v = 0; v < N_LOCAL; v++)
		assert_int_equal(n1->log[v].yank_step, yank_step);
	assert_int_equal(n1->max_actions_step, yank_step);
	assert_int_equal(n1->max_yanks, N_LOCAL);
	print_message("# node loss: %u actions in the one step that yanked %u "
		      "primaries (old limit 512)\n", n1->max_actions, N_LOCAL);
	assert_true(n1->max_actions > 512);
	assert_true(n1->max_actions >= 3 * N_LOCAL); /* yank, status, audit */

	for (unsigned v = 0; v < N_LOCAL; v++) {
		const struct s_qemu *q = &n1->q[v];

		/* yank, T(SOLO) durable, pre, lhb, post, both queries */
		if (strcmp(n1->log[v].seq, "YSPLOQT") != 0)
			fail_msg("vm%u on n1: %s", v, n1->log[v].seq);
		assert_int_equal(q->yank, 1);
		assert_int_equal(q->yank_names, S_YANKS);
		assert_int_equal(q->lhb_run, 1);
		assert_int_equal(q->mode, FSM_MODE_NONE);
		assert_int_equal(q->run, FSM_RUN_RUNNING);
		assert_int_equal(n1->status[v], FSM_ST_SOLO);
		assert_int_equal(n1->disk[v].kind, FSM_EPOCH_SOLO);
		assert_int_equal(n1->disk[v].holder, 1);
		assert_int_equal(n1->disk[v].n, 2);
		assert_int_equal(n3->disk[v].kind, FSM_EPOCH_SOLO);
		assert_int_equal(n3->disk[v].n, 2);
		assert_string_equal(n3->log[v].seq, "");
	}
	/* the witnessed pairs: n3's secondaries take over after one fence */
	assert_int_equal(n3->fences, 1);
	for (unsigned v = N_LOCAL; v < c->n_vms; v++) {
		if (strcmp(n3->log[v].seq, "SPLOQT") != 0)
			fail_msg("vm%u on n3: %s", v, n3->log[v].seq);
		assert_int_equal(n3->status[v], FSM_ST_SOLO);
		assert_int_equal(n1->disk[v].holder, 3);
		assert_string_equal(n1->log[v].seq, "");
	}
	assert_int_equal(n1->kills + n3->kills, 0);
	s_free(c);
	free(c);
}

/*
 * M5's periodic round goes a slice per liveness tick: over each
 * state_period every VM is reported exactly once by every arbiter that
 * holds it, and no step carries more than a slice's share.  (All 600 in
 * one step every tenth tick filled queues of hundreds of KiB on every
 * node, mapped afresh each time.)
 */
static void test_periodic_round_in_slices(void **state)
{
	struct fsm_config cfg;
	struct s_cluster *c = booted_cluster(&cfg);
	unsigned slices, share;

	(void)state;
	assert_int_equal(c->errors, 0);
	slices = (unsigned)(cfg.state_period_ms / cfg.liveness_period_ms);
	assert_int_equal(slices, 10);
	share = (c->n_vms + slices - 1) / slices;
	for (unsigned i = 0; i < S_NODES; i++) {
		memset(c->nodes[i].reports, 0, c->n_vms * sizeof(unsigned));
		c->nodes[i].max_reports = 0;
	}
	for (unsigned round = 1; round <= 3; round++) {
		for (unsigned t = 0; t < slices; t++) {
			c->now += cfg.liveness_period_ms;
			for (int i = 0; i < S_NODES; i++) {
				struct fsm_event ev = s_ev(c, FSM_EV_TIMER);

				ev.u.timer.id = FSM_TIMER_LIVENESS_TICK;
				s_step(c, i, &ev);
			}
			s_run(c);
		}
		for (unsigned i = 0; i < S_NODES; i++) {
			const struct s_node *nd = &c->nodes[i];
			unsigned held = 0;

			for (unsigned v = 0; v < c->n_vms; v++) {
				if (nd->reports[v] != 0 && nd->reports[v] != round)
					fail_msg("n%u vm%u: %u reports in %u periods",
						 nd->id, v, nd->reports[v], round);
				held += nd->reports[v] != 0;
			}
			assert_int_equal(held, nd->f->n_vms);
		}
	}
	assert_int_equal(c->nodes[0].f->n_vms, c->n_vms);
	for (unsigned i = 0; i < S_NODES; i++) {
		assert_true(c->nodes[i].max_reports > 0);
		assert_true(c->nodes[i].max_reports <= share);
	}
	assert_int_equal(c->errors, 0);
	s_free(c);
	free(c);
}

/* The list grows past any old bound, keeps its capacity, drops audit refs
 * on reset, frees on release, and stops at FSM_MAX_ACTIONS with a flag. */
static void test_actions_grow_reset_release(void **state)
{
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	struct fsm_action *a, *arr;
	unsigned cap;

	(void)state;
	memset(&out, 0, sizeof(out));
	for (unsigned i = 0; i < 5000; i++)
		fsm_act(f, &out, FSM_ACT_FENCE)->u.fence.nodeid = i;
	/* owned by the list from here: reset frees it (ASan and valgrind
	 * would see a leak) */
	fsm_act(f, &out, FSM_ACT_AUDIT)->u.audit.text = strdup("{}");
	assert_int_equal(out.n, 5001);
	assert_false(out.overflow);
	for (unsigned i = 0; i < 5000; i++) {
		assert_int_equal(out.a[i].kind, FSM_ACT_FENCE);
		assert_int_equal(out.a[i].u.fence.nodeid, i);
	}
	cap = out.cap;
	arr = out.a;
	fsm_actions_reset(&out);
	assert_int_equal(out.n, 0);
	assert_int_equal(out.cap, cap);
	assert_ptr_equal(out.a, arr);
	fsm_actions_release(&out);
	assert_null(out.a);
	assert_int_equal(out.cap, 0);
	fsm_actions_release(&out); /* twice is harmless */
	fsm_actions_release(NULL);

	/* the bound: a runaway loop overflows instead of eating memory */
	for (unsigned i = 0; i < FSM_MAX_ACTIONS; i++)
		fsm_act(f, &out, FSM_ACT_STATUS);
	assert_false(out.overflow);
	a = fsm_act(f, &out, FSM_ACT_KILL);
	assert_ptr_equal(a, &out.spill);
	assert_true(out.overflow);
	assert_int_equal(out.n, FSM_MAX_ACTIONS);
	assert_int_equal(out.cap, FSM_MAX_ACTIONS);
	fsm_actions_reset(&out);
	assert_false(out.overflow);
	fsm_actions_release(&out);
	fsm_free(f);
}

/* xorshift: a fixed sequence, the test is the same on every run */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void check_all(const struct fsm *f, const bool *in, unsigned universe,
		      unsigned count)
{
	char name[FSM_NAME_MAX];
	unsigned found = 0;

	for (unsigned k = 0; k < universe; k++) {
		struct fsm_vm *vm;

		snprintf(name, sizeof(name), "m%u", k);
		vm = fsm_vm_find(f, name);
		if (in[k] != (vm != NULL))
			fail_msg("%s: %s", name, in[k] ? "lost" : "found after removal");
		if (vm) {
			assert_string_equal(vm->name, name);
			assert_true(vm->used);
			assert_true(vm->slot < f->n_slots);
			assert_ptr_equal(fsm_vm_at(f, vm->slot), vm);
			found++;
		}
	}
	assert_int_equal(found, count);
	assert_int_equal(f->n_vms, count);
}

/* Random adds and removes against a model of the set: every name found
 * iff present, and freed slots are reused (the table does not creep). */
static void test_index_random_add_remove(void **state)
{
	enum { UNIVERSE = 700, OPS = 12000 };
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	bool in[UNIVERSE] = { false };
	unsigned count = 0, high = 0;
	uint32_t seed = 12345;
	char name[FSM_NAME_MAX];

	(void)state;
	memset(&out, 0, sizeof(out));
	for (unsigned op = 0; op < OPS; op++) {
		unsigned k = rnd(&seed) % UNIVERSE;
		/* phases: mostly adding, then mostly removing, then mixed */
		unsigned add_pm = op < OPS / 3 ? 800 : op < 2 * OPS / 3 ? 250 : 500;
		bool add = rnd(&seed) % 1000 < add_pm;

		snprintf(name, sizeof(name), "m%u", k);
		if (add) {
			assert_int_equal(add_vm(f, name, k % 3 == 0, &out), 0);
			if (!in[k])
				count++;
			in[k] = true;
		} else {
			assert_int_equal(remove_vm(f, name, &out),
					 in[k] ? 0 : -ENOENT);
			if (in[k])
				count--;
			in[k] = false;
		}
		if (count > high)
			high = count;
		assert_true(f->n_slots <= high);
		assert_true((fsm_vm_find(f, name) != NULL) == in[k]);
		if (op % 1000 == 999)
			check_all(f, in, UNIVERSE, count);
	}
	check_all(f, in, UNIVERSE, count);
	/* all out, then in again: the lowest slots are used first */
	for (unsigned k = 0; k < UNIVERSE; k++) {
		snprintf(name, sizeof(name), "m%u", k);
		if (in[k])
			assert_int_equal(remove_vm(f, name, &out), 0);
		in[k] = false;
	}
	check_all(f, in, UNIVERSE, 0);
	assert_int_equal(f->n_slots, 0);
	for (unsigned k = 0; k < 40; k++) {
		snprintf(name, sizeof(name), "m%u", k);
		assert_int_equal(add_vm(f, name, false, &out), 0);
		in[k] = true;
		assert_int_equal(fsm_vm_find(f, name)->slot, k);
	}
	check_all(f, in, UNIVERSE, 40);
	assert_int_equal(status_vm_count(f), 40);
	fsm_actions_release(&out);
	fsm_free(f);
}

/*
 * Names that share the low 16 bits of their hash, all 1s: one home cell
 * (the last) for every index size up to 65536, so one probe chain that
 * wraps around the end of the index.  Removing from its front, middle and
 * end must leave every other name reachable (backward shift, no
 * tombstones); other names interleave with the chain.
 */
static void test_index_collisions(void **state)
{
	enum { N = 48 };
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	char names[N][FSM_NAME_MAX], other[N][FSM_NAME_MAX];
	bool in[N];
	unsigned n = 0;
	static const unsigned order[] = { 24, 0, 47, 1, 46, 23, 25, 12, 36, 2 };

	(void)state;
	memset(&out, 0, sizeof(out));
	for (unsigned k = 0; n < N; k++) {
		snprintf(names[n], FSM_NAME_MAX, "c%u", k);
		if ((fsm_name_hash(names[n]) & 0xffff) == 0xffff)
			n++;
	}
	for (unsigned k = 0; k < N; k++) {
		snprintf(other[k], FSM_NAME_MAX, "o%u", k);
		assert_int_equal(add_vm(f, names[k], k % 2, &out), 0);
		assert_int_equal(add_vm(f, other[k], false, &out), 0);
		in[k] = true;
	}
	for (unsigned r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
		assert_int_equal(remove_vm(f, names[order[r]], &out), 0);
		in[order[r]] = false;
		for (unsigned k = 0; k < N; k++) {
			struct fsm_vm *vm = fsm_vm_find(f, names[k]);

			assert_true((vm != NULL) == in[k]);
			if (vm)
				assert_string_equal(vm->name, names[k]);
			assert_non_null(fsm_vm_find(f, other[k]));
		}
	}
	/* every third of the rest, then all back */
	for (unsigned k = 0; k < N; k += 3)
		if (in[k]) {
			assert_int_equal(remove_vm(f, names[k], &out), 0);
			in[k] = false;
		}
	for (unsigned k = 0; k < N; k++)
		assert_true((fsm_vm_find(f, names[k]) != NULL) == in[k]);
	for (unsigned k = 0; k < N; k++)
		if (!in[k])
			assert_int_equal(add_vm(f, names[k], true, &out), 0);
	for (unsigned k = 0; k < N; k++) {
		assert_string_equal(fsm_vm_find(f, names[k])->name, names[k]);
		assert_string_equal(fsm_vm_find(f, other[k])->name, other[k]);
	}
	assert_int_equal(f->n_vms, 2 * N);
	assert_int_equal(f->n_slots, 2 * N);
	fsm_actions_release(&out);
	fsm_free(f);
}

/* FSM_MAX_VMS is a hard cap: one more VM is -ENOSPC whichever way it comes,
 * and nothing changes; a freed slot takes the next one. */
static void test_cap_enospc(void **state)
{
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	struct fsm_event ev;
	char name[FSM_NAME_MAX];
	struct fsm_persist *recs;
	unsigned slots;

	(void)state;
	memset(&out, 0, sizeof(out));
	for (unsigned k = 0; k < FSM_MAX_VMS; k++) {
		snprintf(name, sizeof(name), "cap%u", k);
		assert_int_equal(add_vm(f, name, k < 8, &out), 0);
	}
	assert_int_equal(f->n_vms, FSM_MAX_VMS);
	slots = f->n_slots;
	assert_int_equal(add_vm(f, "one-more", false, &out), -ENOSPC);
	assert_int_equal(add_vm(f, "one-more", true, &out), -ENOSPC);
	ev = ev_at(FSM_EV_PEER_MSG, 1);
	ev.u.peer.from = 3;
	ev.u.peer.msg.kind = FSM_MSG_PROPOSE;
	strcpy(ev.u.peer.msg.vm, "one-more");
	assert_int_equal(fsm_step(f, &ev, &out), -ENOSPC);
	assert_int_equal(out.n, 0);
	assert_null(fsm_vm_find(f, "one-more"));
	assert_int_equal(f->n_vms, FSM_MAX_VMS);
	assert_int_equal(f->n_slots, slots);
	assert_int_equal(status_vm_count(f), FSM_MAX_VMS);
	/* a known name is no new VM: a witnessed one becomes local */
	assert_int_equal(add_vm(f, "cap4000", true, &out), 0);
	assert_true(fsm_vm_find(f, "cap4000")->local);
	/* one out, one in, in the freed slot */
	slots = fsm_vm_find(f, "cap17")->slot;
	assert_int_equal(remove_vm(f, "cap17", &out), 0);
	assert_int_equal(add_vm(f, "one-more", false, &out), 0);
	assert_int_equal(fsm_vm_find(f, "one-more")->slot, slots);
	assert_int_equal(add_vm(f, "two-more", false, &out), -ENOSPC);

	/* START: more records than the cap, or records that do not fit:
	 * refused as a whole */
	recs = calloc(FSM_MAX_VMS + 1, sizeof(*recs));
	assert_non_null(recs);
	ev = ev_at(FSM_EV_START, 1);
	ev.u.start.recs = recs;
	ev.u.start.n = FSM_MAX_VMS + 1;
	for (unsigned k = 0; k <= FSM_MAX_VMS; k++)
		snprintf(recs[k].vm, FSM_NAME_MAX, "rec%u", k);
	assert_int_equal(fsm_step(f, &ev, &out), -EINVAL);
	assert_int_equal(remove_vm(f, "cap100", &out), 0);
	assert_int_equal(remove_vm(f, "cap4095", &out), 0);
	slots = f->n_slots;
	ev.u.start.n = 3; /* rec0 and rec1 fit, rec2 does not */
	assert_int_equal(fsm_step(f, &ev, &out), -ENOSPC);
	assert_null(fsm_vm_find(f, "rec0"));
	assert_null(fsm_vm_find(f, "rec1"));
	assert_int_equal(f->n_vms, FSM_MAX_VMS - 2);
	assert_int_equal(f->n_slots, slots);
	assert_false(fsm_gate_open(f));
	ev.u.start.n = 2;
	assert_int_equal(fsm_step(f, &ev, &out), 0);
	assert_non_null(fsm_vm_find(f, "rec1"));
	free(recs);
	fsm_actions_reset(&out);
	fsm_actions_release(&out);
	fsm_free(f);
}

/* An unused slot costs no memory (chunks on first use) and no loop time. */
static void test_table_grows_with_use(void **state)
{
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	char name[FSM_NAME_MAX];

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_int_equal(f->n_slots, 0);
	for (unsigned c = 0; c < FSM_MAX_VMS / FSM_VM_CHUNK; c++)
		assert_null(f->vm_chunk[c]);
	for (unsigned k = 0; k < FSM_VM_CHUNK + 1; k++) {
		snprintf(name, sizeof(name), "g%u", k);
		assert_int_equal(add_vm(f, name, true, &out), 0);
	}
	assert_int_equal(f->n_slots, FSM_VM_CHUNK + 1);
	assert_non_null(f->vm_chunk[0]);
	assert_non_null(f->vm_chunk[1]);
	for (unsigned c = 2; c < FSM_MAX_VMS / FSM_VM_CHUNK; c++)
		assert_null(f->vm_chunk[c]);
	assert_true(f->vm_index_cap <= 64);
	/* bad names: no VM */
	assert_int_equal(add_vm(f, "", false, &out), -EINVAL);
	assert_int_equal(f->n_vms, FSM_VM_CHUNK + 1);
	fsm_actions_release(&out);
	fsm_free(f);
}

/* FSM_YANK_MAX instances go through; one more is refused. */
static void test_yank_set_max(void **state)
{
	struct fsm *f = new_fsm(1);
	struct fsm_actions out;
	struct fsm_event ev;
	char names[FSM_YANK_MAX][FSM_YANK_NAME_MAX];

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_int_equal(add_vm(f, "y", true, &out), 0);
	ev = ev_at(FSM_EV_QMP_YANK_SET, 2);
	strcpy(ev.u.qmp.vm, "y");
	ev.u.qmp.n_yank = FSM_YANK_MAX;
	for (unsigned k = 0; k < FSM_YANK_MAX; k++)
		snprintf(ev.u.qmp.yank[k], FSM_YANK_NAME_MAX, "block-node:#block%u", k);
	assert_int_equal(fsm_step(f, &ev, &out), 0);
	assert_int_equal(fsm_vm_find(f, "y")->n_yank, FSM_YANK_MAX);
	memset(names, 0, sizeof(names));
	fsm_vm_yank_names(fsm_vm_find(f, "y"), names);
	assert_string_equal(names[0], "block-node:#block0");
	assert_string_equal(names[FSM_YANK_MAX - 1], "block-node:#block15");
	assert_non_null(fsm_vm_find(f, "y")->yank); /* 304 bytes: on the heap */
	/* packed: the names and their NULs, not FSM_YANK_MAX fixed slots; a
	 * set that fits stays in the VM */
	ev.u.qmp.n_yank = 2;
	assert_int_equal(fsm_step(f, &ev, &out), 0);
	assert_null(fsm_vm_find(f, "y")->yank);
	memset(names, 0, sizeof(names));
	fsm_vm_yank_names(fsm_vm_find(f, "y"), names);
	assert_string_equal(names[0], "block-node:#block0");
	assert_string_equal(names[1], "block-node:#block1");
	assert_string_equal(names[2], "");
	ev.u.qmp.n_yank = 0;
	assert_int_equal(fsm_step(f, &ev, &out), 0);
	assert_null(fsm_vm_find(f, "y")->yank);
	ev.u.qmp.n_yank = FSM_YANK_MAX;
	assert_int_equal(fsm_step(f, &ev, &out), 0);
	ev.u.qmp.n_yank = FSM_YANK_MAX + 1;
	assert_int_equal(fsm_step(f, &ev, &out), -EINVAL);
	assert_int_equal(fsm_vm_find(f, "y")->n_yank, FSM_YANK_MAX);
	fsm_actions_release(&out);
	fsm_free(f);
}

/* the audit text and a VM's last-decision summary are JSON whatever a
 * string holds: quotes, backslashes and control characters escaped, other
 * bytes as they are */
static void test_audit_text_escapes(void **state)
{
	static const char *const odd[] = { "plain", "quote \" in", "back\\slash",
					   "line\nbreak\ttab\x01\x1f", "\"", "",
					   "caf\xc3\xa9" };
	struct fsm *f = new_fsm(1);
	struct fsm_event ev = ev_at(FSM_EV_ADMIN, 5);
	struct fsm_actions out;

	(void)state;
	memset(&out, 0, sizeof(out));
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		char *text = audit_record_text(f, &ev, NULL, odd[i], "d\"1", &out, 0);
		json_t *j = text ? json_loads(text, 0, NULL) : NULL;
		struct fsm_last_decision ld = { .mono_ms = 7, .wall_ms = 8, .node = 1,
						.event = "admin", .rule = odd[i],
						.decision = "d\"1" };
		char *last = fsm_last_decision_text(&ld, odd[i]);
		json_t *l = last ? json_loads(last, 0, NULL) : NULL;

		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "rule")), odd[i]);
		assert_string_equal(json_string_value(json_object_get(j, "decision")), "d\"1");
		assert_true(json_is_null(json_object_get(json_object_get(j, "inputs"),
							 "gate_closed")) ||
			    json_is_string(json_object_get(json_object_get(j, "inputs"),
							   "gate_closed")));
		assert_int_equal(json_integer_value(json_object_get(j, "mono_ms")), f->now_mono);
		assert_non_null(l);
		assert_string_equal(json_string_value(json_object_get(l, "rule")), odd[i]);
		assert_string_equal(json_string_value(json_object_get(l, "vm")), odd[i]);
		assert_string_equal(json_string_value(json_object_get(l, "decision")), "d\"1");
		assert_int_equal(json_integer_value(json_object_get(l, "wall_ms")), 8);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "epoch"),
								    "n")), 0);
		json_decref(l);
		free(last);
		json_decref(j);
		free(text);
	}
	fsm_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit_text_escapes),
		cmocka_unit_test(test_node_loss_500_vms),
		cmocka_unit_test(test_periodic_round_in_slices),
		cmocka_unit_test(test_actions_grow_reset_release),
		cmocka_unit_test(test_index_random_add_remove),
		cmocka_unit_test(test_index_collisions),
		cmocka_unit_test(test_cap_enospc),
		cmocka_unit_test(test_table_grows_with_use),
		cmocka_unit_test(test_yank_set_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
