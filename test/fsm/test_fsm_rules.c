/*
 * test_fsm_rules.c: one test per rule of DESIGN §4 (1-6) and per gate
 * mechanism of SAFETY.md A1, each asserting on what the QEMU stubs were
 * told to do (the physical outcome), and, for a mechanism, also showing the
 * unsafe outcome with that mechanism switched off (fsm_config.test_disable).
 */
#include <stdlib.h>
#include <string.h>

#include "scenarios.h"

static void test_boot_commits_colo_epoch(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	assert_int_equal(c.step_errors, 0);
	for (uint32_t n = 1; n <= 3; n++)
		assert_int_equal(h_epoch(&c, n, "v"), 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_PROTECTED);
	assert_int_equal(h_lhb_total(&c, "v"), 0);
	assert_int_equal(h_alone(&c, "v"), 0);
	assert_true(h_node(&c, 1)->audits > 0);
	h_free(&c);
}

/* Rule 1: the secondary's node is lost -> the primary goes solo at once,
 * yank first, through a committed T(SOLO), with no fence wait (3 nodes). */
static void test_rule1_secondary_node_lost(void **state)
{
	struct h_cluster c;
	struct h_qemu *p;
	int64_t t0;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	p = h_q(&c, 1, "v");
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	t0 = c.now;
	h_partition(&c, G13, NULL);
	assert_int_equal(c.now, t0); /* no wait at all */
	assert_int_equal(p->lhb_run, 1);
	assert_true(p->yank_before_lhb >= 1);
	assert_int_equal(p->pre, 1);
	assert_int_equal(p->post, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(h_node(&c, 1)->fences_requested[2], 0);
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	assert_int_equal(h_epoch(&c, 3, "v"), 2); /* the witness holds the record */
	assert_int_equal(c.step_errors, 0);
	/* "why did it fail over, and when": the audit record of the decision */
	json_t *j = h_audit_find(&c, 1, "rule1-secondary-node-lost");
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "vm")), "v");
	assert_int_equal(json_integer_value(json_object_get(j, "mono_ms")), t0);
	json_t *in = json_object_get(j, "inputs");
	assert_true(json_is_true(json_object_get(in, "quorate")));
	/* decided at epoch 1, the primary still in COLO, yank first (OOB) */
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(in, "epoch"), "n")), 1);
	assert_non_null(json_object_get(in, "ring"));
	assert_non_null(json_object_get(in, "nodes"));
	assert_string_equal(json_string_value(json_object_get(
		json_object_get(in, "local"), "mode")), "primary");
	json_t *a0 = json_array_get(json_object_get(j, "actions"), 0);
	assert_string_equal(json_string_value(json_object_get(a0, "cmd")), "yank");
	assert_true(json_is_true(json_object_get(a0, "oob")));
	j = h_audit_find(&c, 1, "epoch-commit-majority");
	assert_non_null(j);
	h_free(&c);
}

/* Rule 1's start with the primary's yank reply held (and n1's durable
 * writes held if asked): returns n1's QEMU of v. */
static struct h_qemu *rule1_yank_held(struct h_cluster *c, bool persist_manual)
{
	struct h_qemu *p;

	sc_boot3(c, FSM_FENCE_PACEMAKER, 0);
	p = h_q(c, 1, "v");
	p->hold_yank = true;
	h_power_off(c, 2);
	h_advance(c, SC_DETECT_MS);
	h_node(c, 1)->persist_manual = persist_manual;
	h_partition(c, G13, NULL);
	return p;
}

/* Rule 1 with a slow yank: the proposal goes out with the yank, so the
 * commit (CPG round, durable acks) overlaps it (SAFETY §0); nothing that
 * lets the primary run alone goes out before both are done. */
static void test_rule1_commit_overlaps_yank(void **state)
{
	struct h_cluster c;
	struct h_qemu *p = rule1_yank_held(&c, false);
	json_t *j, *acts;
	bool yank = false, propose = false;

	(void)state;
	/* the decision sends both */
	j = h_audit_find(&c, 1, "rule1-secondary-node-lost");
	assert_non_null(j);
	acts = json_object_get(j, "actions");
	for (size_t i = 0; i < json_array_size(acts); i++) {
		json_t *a = json_array_get(acts, i);
		const char *cmd = json_string_value(json_object_get(a, "cmd"));
		const char *msg = json_string_value(json_object_get(a, "msg"));

		yank |= cmd && strcmp(cmd, "yank") == 0;
		propose |= msg && strcmp(msg, "PROPOSE") == 0;
	}
	assert_true(yank);
	assert_true(propose);
	/* committed and durable on both arbiters while the yank's reply is out */
	assert_true(p->yank_held);
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	assert_int_equal(h_epoch(&c, 3, "v"), 2);
	assert_int_equal(p->pre, 0);
	assert_int_equal(p->lhb_run, 0);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FAILING_OVER);
	h_advance(&c, 100);
	assert_int_equal(p->pre, 0); /* still waiting for the reply */
	h_qemu_release_yank(&c, 1, "v");
	assert_int_equal(p->pre, 1);
	assert_int_equal(p->lhb_run, 1);
	assert_int_equal(p->post, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* The other order: the yank returns first, the commit waits for n1's own
 * durable ack; the pre-failover commands follow the commit (H5). */
static void test_rule1_yank_returns_before_commit(void **state)
{
	struct h_cluster c;
	struct h_qemu *p = rule1_yank_held(&c, true);

	(void)state;
	assert_true(p->yank_held);
	h_qemu_release_yank(&c, 1, "v");
	assert_int_equal(h_epoch(&c, 1, "v"), 1); /* n1's ack is not durable yet */
	assert_int_equal(p->pre, 0);
	assert_int_equal(p->lhb_run, 0);
	h_persist_release(&c, 1, "v");
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	assert_int_equal(p->pre, 1);
	assert_int_equal(p->lhb_run, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* Rule 2: the primary's node is lost -> fence per policy (proof newer than
 * last-alive), then the current secondary takes over. */
static void test_rule2_primary_node_lost(void **state)
{
	struct h_cluster c;
	struct h_qemu *s;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	s = h_q(&c, 2, "v");
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 1);
	assert_int_equal(s->lhb_run, 0); /* waits for the fence */
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_WAITING);
	h_advance(&c, 1500);
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 100);
	assert_int_equal(s->lhb_run, 1);
	assert_int_equal(s->pre, 1);
	assert_int_equal(s->yank, 0); /* a secondary needs no yank */
	assert_int_equal(h_alone(&c, "v"), 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
	assert_int_equal(h_epoch(&c, 3, "v"), 2);
	h_free(&c);
}

/* Rule 2, self policy: the survivor waits W (A4) counted from the loss. */
static void test_rule2_self_policy_waits_w(void **state)
{
	struct h_cluster c;
	struct h_qemu *s;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	s = h_q(&c, 2, "v");
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 5000);
	assert_int_equal(s->lhb_run, 0);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 0);
	h_advance(&c, 10000);
	assert_int_equal(s->lhb_run, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_free(&c);
}

/* Rule 2 via A7: the primary's arbiter reports its QEMU gone by pidfd:
 * no node fence needed. */
static void test_rule2_primary_qemu_gone(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_qemu_kill(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 0);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_free(&c);
}

/* Rule 2 with the taker's durable writes held: once the majority has
 * committed T, the pre-failover nbd-server-stop goes out while E(v) is
 * made durable (it runs no side alone); x-colo-lost-heartbeat waits for
 * the write (H5), in either order. */
static void test_rule2_pre_overlaps_commit_write(void **state)
{
	struct h_cluster c;
	struct h_qemu *s;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	s = h_q(&c, 2, "v");
	h_node(&c, 2)->persist_manual = true;
	h_qemu_kill(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(h_epoch(&c, 3, "v"), 2); /* n1 and n3 acked: committed */
	assert_int_equal(s->pre, 1);
	assert_int_equal(s->lhb_run, 0);
	h_advance(&c, 1000);
	assert_int_equal(s->lhb_run, 0); /* E(v) is still not durable on n2 */
	h_persist_release(&c, 2, "v");
	assert_int_equal(s->lhb_run, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);

	/* the other order: durable before the pre-command's reply.  QEMU
	 * runs in-band commands in order and that reply decides nothing: the
	 * failover command goes out behind it without waiting for it */
	h_free(&c);
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	s = h_q(&c, 2, "v");
	s->hold_pre = true;
	h_qemu_kill(&c, 1, "v");
	h_advance(&c, 100);
	assert_true(s->pre_held);
	assert_int_equal(s->pre, 1);
	assert_int_equal(s->lhb_run, 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
	/* the late reply of a finished sequence is dropped (M2 tags) */
	h_qemu_release_pre(&c, 2, "v");
	assert_int_equal(s->pre, 1);
	assert_int_equal(s->lhb_sent, 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* The connection lost with the pre-command and x-colo-lost-heartbeat out:
 * the query after the reconnect decides.  Failed over: nothing is sent
 * again.  Not: the unanswered pre-command goes again, then the failover. */
static void test_rule2_pre_and_lhb_lost(void **state)
{
	struct h_cluster c;
	struct h_qemu *s;

	(void)state;
	for (int executed = 1; executed >= 0; executed--) {
		sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
		s = h_q(&c, 2, "v");
		s->hold_pre = true;
		s->drop_lhb = true;
		s->drop_executes = executed;
		h_qemu_kill(&c, 1, "v");
		h_advance(&c, 100);
		assert_true(s->pre_held);
		assert_int_equal(s->lhb_sent, executed);
		assert_int_equal(s->lhb_run, executed);
		s->hold_pre = false;
		h_qmp_reconnect(&c, 2, "v");
		h_advance(&c, 100);
		assert_int_equal(s->pre, executed ? 1 : 2);
		assert_int_equal(s->lhb_sent, 1); /* the lost one never arrived, or ran */
		assert_int_equal(s->lhb_run, 1);
		assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
		h_qemu_release_pre(&c, 2, "v"); /* the first one's late reply */
		assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
		assert_int_equal(c.step_errors, 0);
		h_free(&c);
	}
}

/* Rule 1 with a three-command clean-up whose replies are held. */
static struct h_qemu *rule1_posts_held(struct h_cluster *c)
{
	struct fsm_config cfg = sc_config(FSM_FENCE_PACEMAKER, 0);
	struct h_qemu *p;

	h_init(c, 3, &cfg);
	c->n_post = 3;
	h_vm(c, "v", 1, 2);
	h_boot(c);
	p = h_q(c, 1, "v");
	p->hold_post = true;
	h_power_off(c, 2);
	h_advance(c, SC_DETECT_MS);
	h_partition(c, G13, NULL);
	return p;
}

/* The post-failover clean-up goes out at once: it runs no side alone, and
 * QEMU reads the next command while it runs one.  Confirmed only once every
 * reply is in; a connection lost with replies out resends the rest. */
static void test_post_list_pipelined(void **state)
{
	struct h_cluster c;
	struct h_qemu *p;

	(void)state;
	p = rule1_posts_held(&c);
	assert_int_equal(p->lhb_run, 1);
	assert_int_equal(p->post, 3); /* all written before any reply */
	assert_int_equal(p->posts_held, 3);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FAILING_OVER);
	h_advance(&c, 100);
	assert_int_equal(p->post, 3);
	h_qemu_release_post(&c, 1, "v", false);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(p->post, 3);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);

	p = rule1_posts_held(&c);
	assert_int_equal(p->posts_held, 3);
	h_qemu_release_post(&c, 1, "v", true);
	h_advance(&c, 100);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FAILING_OVER);
	h_qmp_reconnect(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(p->post, 6); /* none was answered: all three again */
	assert_int_equal(p->lhb_run, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);

	/* the first answered, then the last one's timeout before the second's
	 * reply: the two unanswered go again */
	p = rule1_posts_held(&c);
	h_qemu_post_result(&c, 1, "v", 0, FSM_RES_RETURN);
	p->hold_post = false; /* the ones sent again are answered */
	h_qemu_post_result(&c, 1, "v", 2, FSM_RES_TIMEOUT);
	h_advance(&c, 100);
	assert_int_equal(p->post, 5);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* A replication reset while the primary's arbiter is away: only the
 * secondary's COLO_EXIT{error} tells (QEMU's queries still show both sides
 * in COLO).  Its arbiter records the break, so restarting before the
 * primary's arbiter is back does not forget it: the primary goes solo. */
static void test_rule3_break_survives_restart(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_arbiter_stop(&c, 1, FSM_CPG_PROCDOWN);
	h_advance(&c, 100);
	h_qemu_colo_exit(&c, 2, "v");
	h_advance(&c, 100);
	h_arbiter_stop(&c, 2, FSM_CPG_PROCDOWN);
	h_advance(&c, 100);
	h_arbiter_start(&c, 2);
	h_advance(&c, 500);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	h_arbiter_start(&c, 1);
	h_advance(&c, 1000);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 0);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* Rule 3: COLO broke with both alive (reset): the primary goes solo, the
 * secondary is stopped (killed: stale once E(v) passed it). */
static void test_rule3_colo_broke_both_alive(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_qemu_colo_exit(&c, 2, "v");
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 0);
	assert_int_equal(h_q(&c, 2, "v")->killed, 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_STALE);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_free(&c);
}

/* Make P solo on n1 (E = 2, SOLO n1) and bring S's node back empty. */
static void solo_on_n1(struct h_cluster *c)
{
	h_power_off(c, 2);
	h_advance(c, SC_DETECT_MS);
	h_partition(c, G13, NULL);
	h_advance(c, 100);
	assert_int_equal(h_status(c, 1, "v"), FSM_ST_SOLO);
}

/* Rule 4: gate closed (inquorate) -> freeze the solo side: yank, stop,
 * confirmed by query-status paused; FROZEN persisted before stop. */
static void test_rule4_inquorate_freezes_solo(void **state)
{
	struct h_cluster c;
	struct h_qemu *p;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	solo_on_n1(&c);
	p = h_q(&c, 1, "v");
	int yanks = p->yank;
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G3);
	h_advance(&c, 100);
	assert_int_equal(p->run, FSM_RUN_PAUSED);
	assert_true(p->yank > yanks);
	assert_int_equal(p->stop, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FROZEN);
	assert_true(h_node(&c, 1)->disk[0].frozen);
	assert_int_equal(h_lhb_total(&c, "v"), 1);
	h_free(&c);
}

/* The node's watchdog (fsm_watchdog_may_pet): when n1's corosync stalls
 * with a side running alone there, pets stop while the gate is still open,
 * early enough that a reset `wd` after the last one comes within
 * P + B + SFT + kill_time of the stall, the bound the survivor's self wait
 * counts on; once rule 4 has frozen the side there is nothing left to stop
 * and pets resume.  Sim seed 3076838: n1's arbiter died just before its
 * liveness deadline, and a watchdog petted while the gate was open reset the
 * node 4 s later, past the bound, with the VM running alone there. */
static void test_watchdog_pet_bound(void **state)
{
	const int64_t wd = 4000;
	struct h_cluster c;
	struct fsm *f;
	int64_t stall, bound, last = -1;
	bool stopped_gate_open = false;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	solo_on_n1(&c);
	f = h_node(&c, 1)->f;
	assert_true(fsm_watchdog_may_pet(f, c.now, wd));
	stall = c.now;
	bound = stall + c.base.liveness_period_ms + c.base.liveness_bound_ms +
		c.base.self_fence_timeout_ms + c.base.kill_time_ms;
	h_node(&c, 1)->cpg_stalled = true;
	for (int i = 0; i < 400 && h_q(&c, 1, "v")->run == FSM_RUN_RUNNING; i++) {
		if (fsm_watchdog_may_pet(f, c.now, wd))
			last = c.now;
		else if (fsm_gate_open(f))
			stopped_gate_open = true;
		h_advance(&c, 50);
	}
	assert_int_equal(h_q(&c, 1, "v")->run, FSM_RUN_PAUSED);
	assert_true(last >= stall);
	assert_true(last + wd <= bound);
	assert_true(stopped_gate_open);
	h_advance(&c, 100);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FROZEN);
	assert_false(fsm_gate_open(f));
	assert_true(fsm_watchdog_may_pet(f, c.now, wd));
	/* the survivors' gate stays open: they pet on */
	assert_true(fsm_watchdog_may_pet(h_node(&c, 3)->f, c.now, wd));
	h_free(&c);
}

/* fsm_watchdog_tick(): the same stall, ticked as the daemon ticks.  The
 * kernel pings a watchdog whose file is released (a crash releases it), so
 * wherever the device is held after a tick, a crash before the next tick
 * must still reset the node within the bound; it is let go in time, pets
 * stop with it, and once the side is frozen it is held and petted again. */
static void test_watchdog_tick_lets_go_in_time(void **state)
{
	const int64_t wd = 4000, period = 500;
	struct h_cluster c;
	struct fsm *f;
	int64_t stall, bound, let_go = -1;
	bool held = true, pet;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	solo_on_n1(&c);
	f = h_node(&c, 1)->f;
	pet = fsm_watchdog_tick(f, c.now, wd, period, held, &held);
	assert_true(pet && held);
	stall = c.now;
	h_node(&c, 1)->cpg_stalled = true;
	h_advance(&c, 1);
	/* no liveness message comes back from now on */
	bound = fsm_watchdog_stop_by(f);
	assert_true(bound <= stall + c.base.liveness_bound_ms + c.base.self_fence_timeout_ms +
		    c.base.kill_time_ms);
	for (int i = 0; i < 40 && h_q(&c, 1, "v")->run == FSM_RUN_RUNNING; i++) {
		bool was = held;

		pet = fsm_watchdog_tick(f, c.now, wd, period, was, &held);
		if (pet)
			assert_true(held);
		if (held)
			assert_true(c.now + period + wd <= bound);
		if (was && !held) {
			assert_int_equal(let_go, -1);
			let_go = c.now;
			assert_true(let_go + wd <= bound);
		}
		if (!was)
			assert_false(held); /* not taken again while v runs alone */
		h_advance(&c, period);
	}
	assert_int_equal(h_q(&c, 1, "v")->run, FSM_RUN_PAUSED);
	assert_true(let_go >= stall);
	h_advance(&c, 100);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_FROZEN);
	pet = fsm_watchdog_tick(f, c.now, wd, period, false, &held);
	assert_true(pet && held);
	h_free(&c);
}

/* A secondary started on an inquorate node is frozen (it looks alone:
 * mode none, running); after the heal a resync takes it into COLO and a
 * COLO epoch names it.  That supersedes its FROZEN mark: once the primary's
 * node is lost, it takes over (sim seed 2140468 left it frozen for ever). */
static void test_rule4_frozen_superseded_by_colo_epoch(void **state)
{
	struct h_cluster c;
	struct h_qemu *p, *s;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_partition(&c, G13, G2);
	h_advance(&c, 100);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	h_qemu_kill(&c, 2, "v");
	h_advance(&c, 100);
	h_qemu_restart(&c, 2, "v", FSM_MODE_NONE); /* Pacemaker's new secondary */
	h_advance(&c, 100);
	s = h_q(&c, 2, "v");
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_FROZEN);
	assert_true(h_node(&c, 2)->disk[0].frozen);
	h_heal(&c);
	h_advance(&c, 1000);
	/* the resync: both enter COLO, and the primary records the pair */
	p = h_q(&c, 1, "v");
	p->mode = FSM_MODE_PRIMARY;
	p->mig = FSM_MIG_COLO;
	s->mode = FSM_MODE_SECONDARY;
	s->run = FSM_RUN_RUNNING;
	h_qemu_facts(&c, 2, "v");
	h_qemu_facts(&c, 1, "v");
	h_advance(&c, 1000);
	assert_int_equal(h_epoch(&c, 3, "v"), 3);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_PROTECTED);
	assert_false(h_node(&c, 2)->disk[0].frozen);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 1500);
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 100);
	assert_int_equal(s->lhb_run, 1);
	assert_int_equal(h_status(&c, 2, "v"), FSM_ST_SOLO);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* Rule 5: the peer's arbiter is gone (PROCDOWN) but its node lives: never
 * fail over on that alone (invariant 8).  Switched off: a fence and a
 * failover follow from a mere process exit. */
static int rule5_run(uint32_t disable, int *fences)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_arbiter_stop(&c, 1, FSM_CPG_PROCDOWN);
	h_advance(&c, 30000);
	*fences = h_node(&c, 2)->fences_requested[1];
	if (*fences)
		h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 100);
	lhb = h_q(&c, 2, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_rule5_procdown_alone_never_fails_over(void **state)
{
	int fences;

	(void)state;
	assert_int_equal(rule5_run(0, &fences), 0);
	assert_int_equal(fences, 0);
	assert_int_equal(rule5_run(FSM_MECH_PROCDOWN_GUARD, &fences), 1);
	assert_int_equal(fences, 1);
}

/* Rule 6: a restarted arbiter keeps its gate closed until its persisted
 * epochs are loaded, every QEMU was queried and the barrier completed. */
static void test_rule6_restart_rederives(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_arbiter_stop(&c, 2, FSM_CPG_PROCDOWN);
	h_advance(&c, 1000);
	h_arbiter_start(&c, 2);
	h_advance(&c, 1000);
	assert_true(fsm_gate_open(h_node(&c, 2)->f));
	assert_int_equal(h_epoch(&c, 2, "v"), 1);
	assert_int_equal(h_lhb_total(&c, "v"), 0);
	/* and the restarted secondary is still eligible (H4b) */
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	h_free(&c);
}

/* Fence wait (rule 2, inv. 6): {n1} | {n2,n3} with n1 alive.  S may be
 * sent the failover command only once P's node was fenced (pacemaker) or
 * after W (self).  Switched off, S fails over while P is alive, unfenced. */
static void fence_wait_run(enum fsm_fence_policy pol, uint32_t disable,
			   int *s_lhb, bool *p_alive)
{
	struct h_cluster c;

	sc_boot3(&c, pol, disable);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G23);
	h_advance(&c, 1000);
	*s_lhb = h_q(&c, 2, "v")->lhb_run;
	*p_alive = h_q(&c, 1, "v")->alive;
	h_free(&c);
}

static void test_mech_fence_wait(void **state)
{
	int s_lhb;
	bool p_alive;

	(void)state;
	fence_wait_run(FSM_FENCE_PACEMAKER, 0, &s_lhb, &p_alive);
	assert_int_equal(s_lhb, 0);
	fence_wait_run(FSM_FENCE_SELF, 0, &s_lhb, &p_alive);
	assert_int_equal(s_lhb, 0);
	fence_wait_run(FSM_FENCE_PACEMAKER, FSM_MECH_FENCE_WAIT, &s_lhb, &p_alive);
	assert_int_equal(s_lhb, 1);
	assert_true(p_alive);
	fence_wait_run(FSM_FENCE_SELF, FSM_MECH_FENCE_WAIT, &s_lhb, &p_alive);
	assert_int_equal(s_lhb, 1);
	assert_true(p_alive);
}

/* CPG and totem confchgs of one change may come in either order: the gate
 * waits for both, and opens in both orders. */
static int view_order_run(bool totem_first)
{
	struct h_cluster c;
	struct fsm_event cpg, tot, quo;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	for (int i = 0; i < 3; i += 2) {
		cpg = h_ev(&c, i, FSM_EV_CPG_CONFCHG);
		cpg.u.cpg.n_members = 2;
		cpg.u.cpg.members[0].nodeid = 1;
		cpg.u.cpg.members[1].nodeid = 3;
		cpg.u.cpg.n_left = 1;
		cpg.u.cpg.left[0].nodeid = 2;
		cpg.u.cpg.left[0].reason = FSM_CPG_NODEDOWN;
		tot = h_ev(&c, i, FSM_EV_TOTEM_CONFCHG);
		tot.u.totem.ring.nodeid = 1;
		tot.u.totem.ring.seq = 500;
		tot.u.totem.n_nodes = 2;
		tot.u.totem.nodes[0] = 1;
		tot.u.totem.nodes[1] = 3;
		quo = h_ev(&c, i, FSM_EV_QUORUM);
		quo.u.quorum.quorate = true;
		quo.u.quorum.ring = tot.u.totem.ring;
		quo.u.quorum.n_nodes = 2;
		quo.u.quorum.nodes[0] = 1;
		quo.u.quorum.nodes[1] = 3;
		if (totem_first) {
			h_step(&c, i, &tot);
			h_step(&c, i, &quo);
			h_step(&c, i, &cpg);
		} else {
			h_step(&c, i, &cpg);
			h_step(&c, i, &tot);
			h_step(&c, i, &quo);
		}
	}
	h_advance(&c, 1000);
	lhb = h_q(&c, 1, "v")->lhb_run;
	assert_true(fsm_gate_open(h_node(&c, 1)->f));
	h_free(&c);
	return lhb;
}

static void test_view_order_either_way(void **state)
{
	(void)state;
	assert_int_equal(view_order_run(false), 1);
	assert_int_equal(view_order_run(true), 1);
}

/* A1 quorum gate, policy none, 2 nodes without two_node: {n1} | {n2},
 * both halves inquorate.  A majority cannot answer in 2 nodes, so the
 * proposer may commit by "fencing" (none: nothing) and only the gate
 * stands in the way.  (In 3 nodes the epoch majority stops the isolated
 * side as well: fence_commit counts every other node.) */
static int quorum_gate_run(uint32_t disable)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_NONE, disable);
	int alone;

	h_init(&c, 2, &cfg);
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G2);
	h_advance(&c, 500);
	alone = h_alone(&c, "v");
	h_free(&c);
	return alone;
}

/* The liveness tick (and the periodic STATE round with it) falls on a
 * multiple of P on the wall clock, at most P away: the arbiters of a
 * cluster send in the same instant, one turn of totem's token for all,
 * whenever each started.  n3's clock is 1.7 s off: its tick still lands on
 * a multiple of P of its own clock. */
static void test_liveness_tick_on_wall_multiple(void **state)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_PACEMAKER, 0);
	int64_t p = cfg.liveness_period_ms;

	(void)state;
	h_init(&c, 3, &cfg);
	c.wall_off[2] = 1700;
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	h_advance(&c, 1234);
	for (unsigned i = 0; i < 3; i++) {
		int found = 0;

		for (unsigned t = 0; t < H_TIMERS; t++) {
			const struct h_timer *tm = &c.nodes[i].timers[t];

			if (!tm->used || tm->id != FSM_TIMER_LIVENESS_TICK)
				continue;
			found++;
			assert_true(tm->due > c.now && tm->due <= c.now + p);
			assert_int_equal((H_WALL_BASE + tm->due + c.wall_off[i]) % p, 0);
		}
		assert_int_equal(found, 1);
	}
	h_free(&c);
}

/* M5: a side change is reported at once only while the arbiter of v's
 * other node, its only reader, is in the group; E(v) always.  n1 goes solo
 * after n2's node is lost (the witness only takes the epoch), or after only
 * S's QEMU died (n2's arbiter reads P's side); then n1's QMP connection
 * drops: a side change, no new epoch. */
static int solo_state_reports(bool node_lost, int *during)
{
	struct h_cluster c;
	int before, n;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_advance(&c, SC_DETECT_MS);
	before = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE];
	if (node_lost) {
		h_power_off(&c, 2);
		h_advance(&c, SC_DETECT_MS);
		h_partition(&c, G13, NULL);
	} else {
		h_qemu_kill(&c, 2, "v");
	}
	h_advance(&c, 1000); /* < state_period: no periodic round */
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	assert_int_equal(h_epoch(&c, 3, "v"), 2);
	*during = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE] - before;
	before = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE];
	h_qmp_lost(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	n = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE] - before;
	h_free(&c);
	return n;
}

static void test_m5_reports_for_readers(void **state)
{
	int during_lost, during_alive;

	(void)state;
	/* n2's arbiter is gone with its node: nobody reads n1's side */
	assert_int_equal(solo_state_reports(true, &during_lost), 0);
	/* the confchg round and the new E(v), not a report per QMP reply */
	assert_in_range(during_lost, 1, 3);
	/* n2's arbiter is there and reads it */
	assert_true(solo_state_reports(false, &during_alive) >= 1);
	assert_true(during_alive >= 2);
}

/* M5's periodic round waits for a ring that delivers: while n1's own
 * probe is not back (its corosync stalled, as in a membership change) a
 * round would only queue behind the confchg's own round and delay the
 * proposals after it; it goes at the first tick after a probe returned. */
static void test_m5_periodic_round_waits_for_delivery(void **state)
{
	struct h_cluster c;
	int before, waited = 0;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_advance(&c, SC_DETECT_MS);
	/* just after a periodic round of n1 */
	before = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE];
	while (h_node(&c, 1)->msgs_sent[FSM_MSG_STATE] == before && waited < 20000) {
		h_advance(&c, 100);
		waited += 100;
	}
	assert_true(waited < 20000);
	h_advance(&c, c.base.state_period_ms - 600);
	before = h_node(&c, 1)->msgs_sent[FSM_MSG_STATE];
	h_node(&c, 1)->cpg_stalled = true;
	h_advance(&c, 1200); /* the round is due in here */
	assert_int_equal(h_node(&c, 1)->msgs_sent[FSM_MSG_STATE], before);
	assert_true(h_node(&c, 1)->msgs_sent[FSM_MSG_LIVENESS] > 0);
	h_node(&c, 1)->cpg_stalled = false;
	h_advance(&c, 1100); /* a probe back, then the next tick */
	assert_true(h_node(&c, 1)->msgs_sent[FSM_MSG_STATE] > before);
	/* n2's corosync delivered all along: its rounds went out meanwhile */
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* SAFETY §0, commit by fencing: only where no majority can answer.  3
 * nodes, the witness's arbiter down (its node still votes), P's node lost:
 * S must wait for the witness's ack, not commit alone (policy none would
 * allow it at once).  Else the witness's arbiter, back, acks another T out
 * of the same n with P's node: sim seed 19461. */
static void test_fence_commit_counts_nodes_not_arbiters(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_NONE, 0);
	h_advance(&c, SC_DETECT_MS);
	h_arbiter_stop(&c, 3, FSM_CPG_PROCDOWN);
	h_advance(&c, 1000);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 10000);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 0);
	assert_int_equal(h_epoch(&c, 2, "v"), 1);
	h_arbiter_start(&c, 3);
	h_advance(&c, 10000);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	assert_int_equal(h_epoch(&c, 3, "v"), 2); /* the witness holds the record */
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

static void test_mech_quorum_gate(void **state)
{
	(void)state;
	assert_int_equal(quorum_gate_run(0), 0);
	assert_int_equal(quorum_gate_run(FSM_MECH_QUORUM_GATE), 2);
}

/* A1 ring-id agreement: n1 gets the totem confchg of its new, lone ring
 * while the last quorum notification still says quorate for the old one
 * (2 nodes, policy none: as in quorum_gate_run, only the gate can stop
 * n1's commit). */
static int ring_id_run(uint32_t disable)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_NONE, disable);
	struct fsm_event ev;
	int lhb;

	h_init(&c, 2, &cfg);
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	h_advance(&c, SC_DETECT_MS);
	ev = h_ev(&c, 0, FSM_EV_CPG_CONFCHG);
	ev.u.cpg.n_members = 1;
	ev.u.cpg.members[0].nodeid = 1;
	ev.u.cpg.n_left = 1;
	ev.u.cpg.left[0].nodeid = 2;
	ev.u.cpg.left[0].reason = FSM_CPG_NODEDOWN;
	h_node(&c, 1)->part = 9;
	h_node(&c, 1)->n_cpg = 1;
	h_step(&c, 0, &ev);
	ev = h_ev(&c, 0, FSM_EV_TOTEM_CONFCHG);
	ev.u.totem.ring.nodeid = 1;
	ev.u.totem.ring.seq = 999;
	ev.u.totem.n_nodes = 1;
	ev.u.totem.nodes[0] = 1;
	h_step(&c, 0, &ev);
	h_run(&c); /* quorum notification not yet here */
	lhb = h_q(&c, 1, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_mech_ring_id_agreement(void **state)
{
	(void)state;
	assert_int_equal(ring_id_run(0), 0);
	assert_int_equal(ring_id_run(FSM_MECH_RING_ID_AGREEMENT), 1);
}

/* Own liveness deadline (SAFETY §5 inv. 7): n1's corosync stalls (egress
 * drop, "not scheduled for 35 s"): no quorum notification for ~58 s.  Its
 * solo side must be paused within B + SFT_all. */
static int own_liveness_run(uint32_t disable)
{
	struct h_cluster c;
	enum fsm_run_state run;

	sc_boot3(&c, FSM_FENCE_SELF, disable);
	solo_on_n1(&c);
	h_node(&c, 1)->cpg_stalled = true;
	h_advance(&c, c.base.liveness_bound_ms + c.base.self_fence_timeout_ms +
		  c.base.liveness_period_ms);
	run = h_q(&c, 1, "v")->run;
	h_free(&c);
	return run;
}

static void test_mech_own_liveness(void **state)
{
	(void)state;
	assert_int_equal(own_liveness_run(0), FSM_RUN_PAUSED);
	assert_int_equal(own_liveness_run(FSM_MECH_OWN_LIVENESS), FSM_RUN_RUNNING);
}

/* IPC loss (A2): POLLHUP/CS_ERR_LIBRARY closes the gate and freezes. */
static void test_mech_ipc_loss_freezes(void **state)
{
	struct h_cluster c;
	struct fsm_event ev;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	solo_on_n1(&c);
	ev = h_ev(&c, 0, FSM_EV_IPC);
	ev.u.ipc.cpg_ok = false;
	ev.u.ipc.quorum_ok = true;
	h_step(&c, 0, &ev);
	h_advance(&c, 100);
	assert_false(fsm_gate_open(h_node(&c, 1)->f));
	assert_int_equal(h_q(&c, 1, "v")->run, FSM_RUN_PAUSED);
	h_free(&c);
}

/* Epoch CAS: an arbiter acks only the first transition out of n, and only
 * after the record is durable. */
static void test_mech_persist_before_ack(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_node(&c, 3)->persist_manual = true;
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	/* n3's write is not durable yet: no ack, no commit, no failover */
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	h_free(&c);

	sc_boot3(&c, FSM_FENCE_PACEMAKER, FSM_MECH_PERSIST_BEFORE_ACK);
	h_node(&c, 3)->persist_manual = true;
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1); /* acked from memory */
	h_free(&c);
}

/* Resync (Pacemaker start + notify): after P went solo, a new secondary
 * joins and P re-enters COLO.  The pair is recorded as a new COLO epoch
 * naming both instances; the new secondary is then eligible. */
static void test_resync_records_new_colo_epoch(void **state)
{
	struct h_cluster c;
	struct h_qemu *p;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_qemu_colo_exit(&c, 1, "v"); /* P's COLO loop broke: P solo, S killed */
	h_advance(&c, 100);
	p = h_q(&c, 1, "v");
	assert_int_equal(p->lhb_run, 1);
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	h_qemu_restart(&c, 2, "v", FSM_MODE_SECONDARY);
	p->mig = FSM_MIG_ACTIVE; /* migrate with x-colo again */
	h_qemu_facts(&c, 1, "v");
	h_advance(&c, 100);
	p->mode = FSM_MODE_PRIMARY;
	p->mig = FSM_MIG_COLO;
	h_qemu_facts(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(h_epoch(&c, 3, "v"), 3);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_PROTECTED);
	assert_int_equal(p->lhb_run, 1); /* the old exit breaks nothing now */
	/* and the new secondary takes over when this primary dies */
	h_qemu_kill(&c, 1, "v");
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_free(&c);
}

/* A8 across a restart: the record says which instance E(v) last named, so
 * a restarted arbiter still kills its stale side. */
static void test_a8_stale_kill_survives_restart(void **state)
{
	struct h_cluster c;
	struct fsm_event ev;

	(void)state;
	sc_boot3(&c, FSM_FENCE_NONE, 0);
	h_node(&c, 1)->kill_manual = true;
	ev = h_ev(&c, 1, FSM_EV_ADMIN);
	ev.u.admin.kind = FSM_ADMIN_FAILOVER;
	strcpy(ev.u.admin.vm, "v");
	ev.u.admin.force = true;
	h_step(&c, 1, &ev);
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	assert_int_equal(h_node(&c, 1)->kill_pending[0], 1);
	/* n1's arbiter dies before its SIGKILL went out */
	h_node(&c, 1)->kill_pending[0] = 0;
	h_arbiter_stop(&c, 1, FSM_CPG_PROCDOWN);
	h_arbiter_start(&c, 1);
	h_advance(&c, 100);
	assert_int_equal(h_epoch(&c, 1, "v"), 2);
	assert_int_equal(h_node(&c, 1)->kill_pending[0], 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_STALE);
	h_free(&c);
}

/* FROZEN(v, n) belongs to the frozen instance: a new QEMU for resync is
 * not frozen. */
static void test_a8_frozen_flag_follows_instance(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	solo_on_n1(&c);
	h_partition(&c, G1, G3);
	h_advance(&c, 100);
	assert_true(h_node(&c, 1)->disk[0].frozen);
	h_qemu_kill(&c, 1, "v");
	h_qemu_restart(&c, 1, "v", FSM_MODE_SECONDARY);
	h_advance(&c, 100);
	assert_false(h_node(&c, 1)->disk[0].frozen);
	h_free(&c);
}

static void test_config_refuses_self_with_two_node(void **state)
{
	struct fsm_config cfg;
	const char *why = NULL;

	(void)state;
	fsm_config_defaults(&cfg);
	cfg.local_nodeid = 1;
	cfg.expected_votes = 2;
	cfg.two_node = true;
	cfg.fence_policy = FSM_FENCE_SELF;
	assert_int_equal(fsm_config_check(&cfg, &why), -22);
	assert_non_null(why);
	assert_null(fsm_new(&cfg));
	cfg.fence_policy = FSM_FENCE_PACEMAKER;
	assert_int_equal(fsm_config_check(&cfg, NULL), 0);
	cfg.liveness_bound_ms = cfg.liveness_period_ms;
	assert_int_equal(fsm_config_check(&cfg, NULL), -22);
}

/* Bad input gets a clear error, never a crash. */
static void test_bad_events_rejected(void **state)
{
	struct fsm_config cfg;
	struct fsm *f;
	struct fsm_event ev;
	static struct fsm_actions out;

	(void)state;
	fsm_config_defaults(&cfg);
	cfg.local_nodeid = 1;
	f = fsm_new(&cfg);
	assert_non_null(f);
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_TOTEM_CONFCHG;
	ev.now_mono_ms = 10;
	ev.u.totem.n_nodes = FSM_MAX_NODES + 1;
	assert_int_equal(fsm_step(f, &ev, &out), -22);
	ev.kind = FSM_EV_QMP_COLO_STATUS;
	strcpy(ev.u.qmp.vm, "nope");
	assert_true(fsm_step(f, &ev, &out) < 0);
	ev.kind = (enum fsm_event_kind)999;
	assert_int_equal(fsm_step(f, &ev, &out), -22);
	ev.kind = FSM_EV_TIMER;
	ev.now_mono_ms = 5; /* time going back */
	assert_int_equal(fsm_step(f, &ev, &out), -22);
	ev.kind = FSM_EV_PEER_MSG;
	ev.now_mono_ms = 20;
	ev.u.peer.msg.kind = FSM_MSG_STATE;
	memset(ev.u.peer.msg.vm, 'x', sizeof(ev.u.peer.msg.vm)); /* no NUL */
	assert_int_equal(fsm_step(f, &ev, &out), -22);
	fsm_actions_release(&out);
	fsm_free(f);
}

static void test_status_json_snapshot(void **state)
{
	struct h_cluster c;
	json_t *j;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	j = fsm_status_json(h_node(&c, 1)->f);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "gate_open")));
	json_t *vm = json_array_get(json_object_get(j, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "status")),
			    "protected");
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(vm, "epoch"), "n")), 1);
	json_decref(j);
	h_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_commits_colo_epoch),
		cmocka_unit_test(test_rule1_secondary_node_lost),
		cmocka_unit_test(test_rule1_commit_overlaps_yank),
		cmocka_unit_test(test_rule1_yank_returns_before_commit),
		cmocka_unit_test(test_rule2_primary_node_lost),
		cmocka_unit_test(test_rule2_self_policy_waits_w),
		cmocka_unit_test(test_rule2_primary_qemu_gone),
		cmocka_unit_test(test_rule2_pre_overlaps_commit_write),
		cmocka_unit_test(test_rule2_pre_and_lhb_lost),
		cmocka_unit_test(test_post_list_pipelined),
		cmocka_unit_test(test_rule3_break_survives_restart),
		cmocka_unit_test(test_rule3_colo_broke_both_alive),
		cmocka_unit_test(test_rule4_inquorate_freezes_solo),
		cmocka_unit_test(test_rule4_frozen_superseded_by_colo_epoch),
		cmocka_unit_test(test_watchdog_pet_bound),
		cmocka_unit_test(test_watchdog_tick_lets_go_in_time),
		cmocka_unit_test(test_rule5_procdown_alone_never_fails_over),
		cmocka_unit_test(test_rule6_restart_rederives),
		cmocka_unit_test(test_mech_fence_wait),
		cmocka_unit_test(test_view_order_either_way),
		cmocka_unit_test(test_liveness_tick_on_wall_multiple),
		cmocka_unit_test(test_m5_reports_for_readers),
		cmocka_unit_test(test_m5_periodic_round_waits_for_delivery),
		cmocka_unit_test(test_fence_commit_counts_nodes_not_arbiters),
		cmocka_unit_test(test_mech_quorum_gate),
		cmocka_unit_test(test_mech_ring_id_agreement),
		cmocka_unit_test(test_mech_own_liveness),
		cmocka_unit_test(test_mech_ipc_loss_freezes),
		cmocka_unit_test(test_mech_persist_before_ack),
		cmocka_unit_test(test_resync_records_new_colo_epoch),
		cmocka_unit_test(test_a8_stale_kill_survives_restart),
		cmocka_unit_test(test_a8_frozen_flag_follows_instance),
		cmocka_unit_test(test_config_refuses_self_with_two_node),
		cmocka_unit_test(test_bad_events_rejected),
		cmocka_unit_test(test_status_json_snapshot),
	};

	if (getenv("FSM_TEST")) /* run one test: FSM_TEST=test_c1_* */
		cmocka_set_test_filter(getenv("FSM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
