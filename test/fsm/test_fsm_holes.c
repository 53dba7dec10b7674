/*
 * test_fsm_holes.c: every hole of SAFETY.md (C1-C3, H1-H5, M1-M7) as the
 * event schedule its section describes, and the ten adversarial schedules
 * of SAFETY.md §6.  Each hole runs twice or more: with every mechanism on it
 * asserts the safe physical outcome (what the QEMU stubs did); with the
 * mechanism(s) that close it switched off (fsm_config.test_disable) it
 * asserts the unsafe outcome the section predicts.  Where several
 * mechanisms close a hole independently (defence in depth), the test also
 * shows that each one alone suffices.
 */
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "compiler.h"
#include "fsm_state.h"
#include "scenarios.h"

/* ---- C1: a frozen primary is failed over after heal ------------------- */

#define C1_CLOSE (FSM_MECH_BARRIER | FSM_MECH_EPOCH_CAS | FSM_MECH_FROZEN_GUARD | \
		  FSM_MECH_STALE_KILL)

/* returns how many sides run alone at the end; *p_lhb: failovers of P */
static int c1_run(uint32_t disable, bool restart_n1, int *p_lhb)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_SELF, disable);
	int alone;

	cfg.freeze_colo_primaries = true; /* C1 as written: n1 yanks and stops P */
	h_init(&c, 3, &cfg);
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	/* 1. n1 is isolated; it yanks and stops P */
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G23);
	h_advance(&c, 200);
	assert_int_equal(h_q(&c, 1, "v")->run, FSM_RUN_PAUSED);
	if (restart_n1) { /* variant: n1's arbiter restarts while partitioned */
		h_arbiter_stop(&c, 1, FSM_CPG_PROCDOWN);
		h_advance(&c, 500);
		h_arbiter_start(&c, 1);
	}
	/* 2. after the self wait, S takes over on {n2,n3} */
	h_advance(&c, 2 * 10000);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	/* 3. heal; 4. COLO_EXIT{primary,error} on n1 between NODEUP and n2's
	 * state message */
	h_partition_views(&c, G123, NULL);
	h_qemu_colo_exit(&c, 1, "v");
	if (c.verbose) {
		struct fsm_vm *vm = fsm_vm_find(h_node(&c, 1)->f, "v");
		fprintf(stderr, "DBG seq=%d ph=%d mode=%d exit=%d frozen=%d gate=%s E=%llu st=%d\n",
			vm->seq, vm->ph, vm->q.mode, vm->q.colo_exit_seen, vm->p.frozen,
			fsm_gate_reason(h_node(&c, 1)->f), (unsigned long long)vm->p.epoch.n, vm->status);
	}
	h_advance(&c, 2000);
	alone = h_alone(&c, "v");
	*p_lhb = h_q(&c, 1, "v")->lhb_run + h_q(&c, 1, "v")->cont;
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
	return alone;
}

static void test_c1_heal_after_takeover(void **state)
{
	int lhb;

	(void)state;
	assert_int_equal(c1_run(0, false, &lhb), 1);
	assert_int_equal(lhb, 0);
	/* each closing mechanism alone is enough */
	assert_int_equal(c1_run(C1_CLOSE & ~FSM_MECH_BARRIER, false, &lhb), 1);
	assert_int_equal(c1_run(C1_CLOSE & ~FSM_MECH_EPOCH_CAS, false, &lhb), 1);
	assert_int_equal(c1_run(C1_CLOSE & ~FSM_MECH_FROZEN_GUARD, false, &lhb), 1);
	assert_int_equal(lhb, 0);
	/* all off: rule 1/3 fails P over after heal: two VMs run alone */
	assert_int_equal(c1_run(C1_CLOSE, false, &lhb), 2);
	assert_int_equal(lhb, 1);
}

static void test_c1_restart_while_partitioned(void **state)
{
	int lhb;

	(void)state;
	/* the persisted FROZEN(v,n) and E(v) survive the restart */
	assert_int_equal(c1_run(0, true, &lhb), 1);
	assert_int_equal(lhb, 0);
	assert_int_equal(c1_run(C1_CLOSE, true, &lhb), 2);
}

/* ---- C2: stale secondary takes over after the primary went solo ------- */

#define C2_CLOSE (FSM_MECH_ELIGIBILITY | FSM_MECH_STALE_KILL)

/* (a) reset, then n1 powers off `delay_ms` after P's failover command,
 * before S's kill has landed.  Returns S's failovers (lost writes). */
static int c2a_run(uint32_t disable, int64_t delay_ms, int *fences)
{
	struct h_cluster c;
	int s_lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_node(&c, 2)->kill_manual = true; /* quit/kill takes 18-35 ms */
	h_qemu_colo_exit(&c, 2, "v");      /* ss -K: only S reports */
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1); /* P solo, writes W */
	h_advance(&c, delay_ms);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	*fences = h_node(&c, 2)->fences_requested[1];
	h_advance(&c, 2000);
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 200);
	s_lhb = h_q(&c, 2, "v")->lhb_run;
	if (!(disable & FSM_MECH_ELIGIBILITY) || !(disable & FSM_MECH_STALE_KILL)) {
		/* killed as stale, or stalled on purpose; either way it names
		 * n1 as the holder of the only current copy */
		assert_true(h_status(&c, 2, "v") == FSM_ST_STALE ||
			    h_status(&c, 2, "v") == FSM_ST_STALLED);
		assert_int_equal(h_node(&c, 2)->status_where[0], 1);
	}
	h_free(&c);
	return s_lhb;
}

static void test_c2a_reset_then_death(void **state)
{
	int fences;

	(void)state;
	assert_int_equal(c2a_run(0, 5, &fences), 0);
	assert_int_equal(fences, 0); /* nobody fenced for an ineligible takeover */
	assert_int_equal(c2a_run(C2_CLOSE & ~FSM_MECH_ELIGIBILITY, 5, &fences), 0);
	assert_int_equal(c2a_run(C2_CLOSE & ~FSM_MECH_STALE_KILL, 5, &fences), 0);
	assert_int_equal(c2a_run(C2_CLOSE, 5, &fences), 1); /* W lost */
}

/* (b) rolling partition: {n2} | {n1,n3} with P solo for 60 s, then
 * {n1} | {n2,n3}. */
static int c2b_run(uint32_t disable, int *fences, uint32_t *where)
{
	struct h_cluster c;
	int s_lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G2, G13);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
	h_advance(&c, 60000);
	h_partition(&c, G1, G23);
	*fences = h_node(&c, 2)->fences_requested[1];
	if (*fences)
		h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 5000);
	if (!*fences && h_node(&c, 2)->fences_requested[1]) {
		*fences = h_node(&c, 2)->fences_requested[1];
		h_fence_result(&c, 2, 1, true, 0);
		h_advance(&c, 200);
	}
	s_lhb = h_q(&c, 2, "v")->lhb_run;
	*where = h_node(&c, 2)->status_where[0];
	/* the isolated n1 froze its solo side */
	assert_true(h_q(&c, 1, "v")->run == FSM_RUN_PAUSED || !h_q(&c, 1, "v")->alive);
	h_free(&c);
	return s_lhb;
}

static void test_c2b_rolling_partition(void **state)
{
	int fences;
	uint32_t where;

	(void)state;
	assert_int_equal(c2b_run(0, &fences, &where), 0);
	assert_int_equal(fences, 0);
	assert_int_equal(where, 1); /* status names n1 */
	assert_int_equal(c2b_run(C2_CLOSE & ~FSM_MECH_ELIGIBILITY, &fences, &where), 0);
	assert_int_equal(c2b_run(C2_CLOSE & ~FSM_MECH_STALE_KILL, &fences, &where), 0);
	assert_int_equal(c2b_run(C2_CLOSE, &fences, &where), 1);
	/* without the barrier n2 decides before n3's record arrives and asks
	 * to fence n1, the holder of the only current copy */
	c2b_run(FSM_MECH_BARRIER, &fences, &where);
	assert_true(fences >= 1);
}

/* (c) late fence: a kick for n1 is pending when n1 rejoins; then a reset. */
static void c2c_run(uint32_t disable, int *p_lhb, int *alone_end)
{
	struct h_cluster c;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G23);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 1);
	h_advance(&c, 1500);
	h_heal(&c);              /* n1 rejoins, the kick still pending */
	h_advance(&c, 500);
	h_qemu_colo_exit(&c, 2, "v"); /* rule 3 wants P solo */
	h_advance(&c, 500);
	*p_lhb = h_q(&c, 1, "v")->lhb_run;
	h_fence_result(&c, 2, 1, true, 0); /* the fence lands after the rejoin */
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 3000);
	if (h_node(&c, 2)->fences_requested[1] > 1)
		h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 200);
	*alone_end = h_alone(&c, "v");
	h_free(&c);
}

static void test_c2c_late_fence(void **state)
{
	int p_lhb, alone;

	(void)state;
	c2c_run(0, &p_lhb, &alone);
	assert_int_equal(p_lhb, 0); /* no side on n1 goes solo meanwhile */
	assert_int_equal(alone, 1); /* S took over once n1 was really gone */
	c2c_run(FSM_MECH_FENCE_INCARNATION, &p_lhb, &alone);
	assert_int_equal(p_lhb, 1); /* P released output, then was fenced */
	assert_int_equal(alone, 0); /* ... and the VM is gone: S is stale */
}

/* ---- C3: two_node, both partitions quorate ----------------------------- */

static void test_c3_two_node(void **state)
{
	struct h_cluster c;
	struct fsm_config cfg;

	(void)state;
	for (int off = 0; off < 2; off++) {
		cfg = sc_config(FSM_FENCE_PACEMAKER, off ? FSM_MECH_TWO_NODE : 0);
		cfg.two_node = true;
		h_init(&c, 2, &cfg);
		h_vm(&c, "v", 1, 2);
		h_boot(&c);
		assert_int_equal(h_epoch(&c, 1, "v"), 1);
		h_advance(&c, SC_DETECT_MS);
		h_partition(&c, G1, G2); /* both halves stay quorate */
		h_advance(&c, 100);
		if (off) {
			/* the hole: P released output before any fence */
			assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
			h_free(&c);
			continue;
		}
		assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
		assert_int_equal(h_q(&c, 2, "v")->lhb_run, 0);
		assert_int_equal(h_node(&c, 1)->fences_requested[2], 1);
		assert_int_equal(h_node(&c, 2)->fences_requested[1], 1);
		/* the race is biased to the primary: n1 fences n2 first */
		h_advance(&c, 3000);
		h_fence_result(&c, 1, 2, true, 0);
		h_advance(&c, 3000);
		assert_int_equal(h_q(&c, 1, "v")->lhb_run, 1);
		assert_int_equal(h_alone(&c, "v"), 1);
		h_free(&c);
	}
	/* `self` is refused under two_node */
	cfg = sc_config(FSM_FENCE_SELF, 0);
	cfg.two_node = true;
	cfg.expected_votes = 2;
	assert_int_equal(fsm_config_check(&cfg, NULL), -22);
}

/* ---- H1: the liveness deadline and a witness death ---------------------- */

/* n3 dies; no CPG message is delivered anywhere for D + P = 4 s. */
static void h1_run(uint32_t disable, int64_t bound, int *stops, int *yanks)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_SELF, disable);

	cfg.liveness_bound_ms = bound;
	h_init(&c, 3, &cfg);
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	h_power_off(&c, 3);
	for (uint32_t n = 1; n <= 2; n++)
		h_node(&c, n)->cpg_stalled = true;
	h_advance(&c, 4000);
	for (uint32_t n = 1; n <= 2; n++)
		h_node(&c, n)->cpg_stalled = false;
	h_partition(&c, G12, NULL);
	h_advance(&c, 2000);
	*stops = h_q(&c, 1, "v")->stop;
	*yanks = h_q(&c, 1, "v")->yank;
	assert_int_equal(h_lhb_total(&c, "v"), 0);
	h_free(&c);
}

static void test_h1_witness_death(void **state)
{
	int stops, yanks;

	(void)state;
	/* B sized as SAFETY H1 says: nothing happens at all */
	h1_run(0, 5400, &stops, &yanks);
	assert_int_equal(stops + yanks, 0);
	/* B = token + consensus (too small): the deadline passes, but A9
	 * keeps COLO primaries out of the freeze: v stays in COLO */
	h1_run(0, 3630, &stops, &yanks);
	assert_int_equal(stops + yanks, 0);
	/* without A9 the witness death yanks and stops P: a stall */
	h1_run(FSM_MECH_FREEZE_SOLO_ONLY, 3630, &stops, &yanks);
	assert_int_equal(stops, 1);
	assert_true(yanks >= 1);
}

/* ---- H2: stop undone by an in-flight failover ---------------------------- */

static void h2_run(uint32_t disable, enum fsm_vm_status *st, enum fsm_run_state *run)
{
	struct h_cluster c;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_q(&c, 2, "v")->manual_complete = true; /* RESUME comes 0-12 ms later */
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 2000);
	h_fence_result(&c, 2, 1, true, 0);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1); /* replied, not resumed */
	/* the gate closes: n3 goes away too */
	h_partition(&c, G2, G3);
	h_advance(&c, 5);
	h_qemu_complete(&c, 2, "v"); /* QEMU's own vm_start */
	h_advance(&c, 200);
	*st = h_status(&c, 2, "v");
	*run = h_q(&c, 2, "v")->alive ? h_q(&c, 2, "v")->run : FSM_RUN_UNKNOWN;
	h_free(&c);
}

static void test_h2_freeze_vs_inflight_failover(void **state)
{
	enum fsm_vm_status st;
	enum fsm_run_state run;

	(void)state;
	h2_run(0, &st, &run);
	assert_int_equal(st, FSM_ST_FROZEN);
	assert_int_equal(run, FSM_RUN_PAUSED); /* belief matches QEMU */
	h2_run(FSM_MECH_FREEZE_CONFIRM, &st, &run);
	assert_int_equal(st, FSM_ST_FROZEN);
	assert_int_equal(run, FSM_RUN_RUNNING); /* believed frozen, runs */
}

/* ---- H3: fence proof newer than last-alive ------------------------------ */

static void h3_run(uint32_t disable, int *s_lhb, bool *p_running)
{
	struct h_cluster c;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G23); /* n1 alive, cut off */
	h_advance(&c, 1000);
	/* stonith_api_time reports an old fence of n1 (an hour ago) */
	h_fence_result(&c, 2, 1, true, (1795630000000LL + c.now) / 1000 - 3600);
	h_advance(&c, 200);
	*s_lhb = h_q(&c, 2, "v")->lhb_run;
	*p_running = h_q(&c, 1, "v")->alive && h_q(&c, 1, "v")->run == FSM_RUN_RUNNING;
	h_free(&c);
}

static void test_h3_fence_proof_newer_than_last_alive(void **state)
{
	int s_lhb;
	bool p_running;

	(void)state;
	h3_run(0, &s_lhb, &p_running);
	assert_int_equal(s_lhb, 0);
	h3_run(FSM_MECH_FENCE_PROOF_AGE, &s_lhb, &p_running);
	assert_int_equal(s_lhb, 1);
	assert_true(p_running); /* inv. 6 broken: P alive and unfenced */
}

static void test_h3_fence_failure_never_counts(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 60000);
	h_fence_result(&c, 2, 1, false, 0); /* timeout / -ENODEV */
	h_advance(&c, 200);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 0);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 2); /* asked again */
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 200);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	h_free(&c);
}

/* ---- H4: level-triggered loss ------------------------------------------- */

/* (a) LEAVE on n1 (clean shutdown stops the arbiter first), then n1 off */
static int h4a_run(uint32_t disable)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_arbiter_stop(&c, 1, FSM_CPG_LEAVE);
	h_advance(&c, 200);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_advance(&c, 2000);
	if (h_node(&c, 2)->fences_requested[1])
		h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 60000);
	lhb = h_q(&c, 2, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_h4a_leave_then_power_off(void **state)
{
	(void)state;
	assert_int_equal(h4a_run(0), 1);
	assert_int_equal(h4a_run(FSM_MECH_LEVEL_TRIGGERED_LOSS), 0); /* stall */
}

/* (b) S's arbiter restarts after n1 is gone: it never sees a NODEDOWN */
static int h4b_run(uint32_t disable)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	h_arbiter_stop(&c, 2, FSM_CPG_PROCDOWN);
	h_advance(&c, 1000);
	h_arbiter_start(&c, 2);
	h_advance(&c, 3000);
	if (h_node(&c, 2)->fences_requested[1])
		h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 60000);
	lhb = h_q(&c, 2, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_h4b_restart_after_nodedown(void **state)
{
	(void)state;
	assert_int_equal(h4b_run(0), 1);
	assert_int_equal(h4b_run(FSM_MECH_LEVEL_TRIGGERED_LOSS), 0);
}

/* (c) P's arbiter crash-loops (PROCDOWN) while P's QEMU dies: S gets
 * COLO_EXIT{error} and "only the primary's arbiter knows". */
static int h4c_run(uint32_t disable, int *fences)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_arbiter_stop(&c, 1, FSM_CPG_PROCDOWN);
	h_qemu_kill(&c, 1, "v"); /* no arbiter on n1 to report the pidfd */
	h_advance(&c, c.base.t_arb_ms + 1000);
	*fences = h_node(&c, 2)->fences_requested[1];
	if (*fences) {
		h_advance(&c, 3000);
		h_fence_result(&c, 2, 1, true, 0);
	}
	h_advance(&c, 200);
	lhb = h_q(&c, 2, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_h4c_procdown_then_qemu_death(void **state)
{
	int fences;

	(void)state;
	assert_int_equal(h4c_run(0, &fences), 1);
	assert_int_equal(fences, 1);
	assert_int_equal(h4c_run(FSM_MECH_ARB_TIMEOUT, &fences), 0); /* waits forever */
	assert_int_equal(fences, 0);
}

/* ---- H5: yank first on a primary, always -------------------------------- */

static void h5_run(uint32_t disable, int *alone, enum fsm_vm_status *st)
{
	struct h_cluster c;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_power_off(&c, 2); /* silent: P's next flush hangs its main loop */
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	h_advance(&c, 10000);
	*alone = h_alone(&c, "v");
	*st = h_status(&c, 1, "v");
	h_free(&c);
}

static void test_h5_yank_first(void **state)
{
	int alone;
	enum fsm_vm_status st;

	(void)state;
	h5_run(0, &alone, &st);
	assert_int_equal(alone, 1);
	assert_int_equal(st, FSM_ST_SOLO);
	h5_run(FSM_MECH_YANK_FIRST, &alone, &st);
	assert_int_equal(alone, 0); /* x-colo-lost-heartbeat hangs in the flush */
	assert_int_equal(st, FSM_ST_FAILING_OVER);
}

/* ---- M1: rule 3 against a pending takeover ------------------------------ */

static int m1_run(uint32_t disable)
{
	struct h_cluster c;
	struct fsm_event ev;
	int alone;

	sc_boot3(&c, FSM_FENCE_NONE, disable);
	/* same instant: an operator forces S over on n2, and P's own COLO
	 * loop breaks on n1 (rule 3) */
	ev = h_ev(&c, 1, FSM_EV_ADMIN);
	ev.u.admin.kind = FSM_ADMIN_FAILOVER;
	strcpy(ev.u.admin.vm, "v");
	ev.u.admin.force = true;
	h_step(&c, 1, &ev);
	h_qemu_colo_exit(&c, 1, "v");
	h_advance(&c, 500);
	alone = h_alone(&c, "v");
	h_free(&c);
	return alone;
}

#define M1_CLOSE (FSM_MECH_EPOCH_CAS | FSM_MECH_STALE_KILL)

static void test_m1_rule3_vs_pending_takeover(void **state)
{
	(void)state;
	assert_int_equal(m1_run(0), 1); /* the first transition out of n wins */
	assert_int_equal(m1_run(M1_CLOSE & ~FSM_MECH_EPOCH_CAS), 1);
	assert_int_equal(m1_run(M1_CLOSE & ~FSM_MECH_STALE_KILL), 1);
	assert_int_equal(m1_run(M1_CLOSE), 2);
}

/* ---- M2: stale multi-step sequences -------------------------------------- */

/* P's failover reply is lost; before the monitor reconnects, P's QEMU was
 * restarted into a new pair.  A resend must not reach the new instance. */
static int m2_run(uint32_t disable)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_q(&c, 1, "v")->drop_lhb = true; /* hang-up before the reply */
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	h_qemu_restart(&c, 1, "v", FSM_MODE_PRIMARY);
	h_advance(&c, 200);
	lhb = h_q(&c, 1, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_m2_stale_sequence_dropped(void **state)
{
	(void)state;
	assert_int_equal(m2_run(0), 0);
	assert_int_equal(m2_run(FSM_MECH_ACTION_TAGS), 1); /* breaks the new pair */
}

static void test_m2_gate_rechecked_before_each_command(void **state)
{
	struct h_cluster c;

	(void)state;
	/* the commit's durable write is slow; the gate closes meanwhile */
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_node(&c, 1)->persist_manual = true;
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	h_partition(&c, G1, G3); /* n1 loses quorum before its write lands */
	h_persist_release(&c, 1, "v");
	h_advance(&c, 500);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	assert_int_equal(h_q(&c, 1, "v")->pre, 0);
	h_free(&c);
}

/* ---- M3: a frozen solo side resumes by a committed transition ----------- */

static int m3_run(uint32_t disable, uint64_t *epoch)
{
	struct h_cluster c;
	int run;

	sc_boot3(&c, FSM_FENCE_SELF, disable);
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	h_advance(&c, 100);
	h_partition(&c, G1, G3); /* P solo and the only copy: freeze */
	h_advance(&c, 500);
	assert_int_equal(h_q(&c, 1, "v")->run, FSM_RUN_PAUSED);
	h_partition(&c, G13, NULL);
	h_advance(&c, 500);
	run = h_q(&c, 1, "v")->run;
	*epoch = h_epoch(&c, 3, "v");
	h_free(&c);
	return run;
}

static void test_m3_resume_frozen_solo(void **state)
{
	uint64_t e;

	(void)state;
	assert_int_equal(m3_run(0, &e), FSM_RUN_RUNNING);
	assert_int_equal(e, 3); /* T(SOLO n1) 2 -> 3 named it */
	assert_int_equal(m3_run(FSM_MECH_RESUME, &e), FSM_RUN_PAUSED); /* stall */
}

/* ---- M4: Pacemaker's promote is a request, never a decision ------------ */

static void test_m4_promote_is_a_request(void **state)
{
	struct h_cluster c;
	struct fsm_event ev;
	int audits;

	(void)state;
	sc_boot3(&c, FSM_FENCE_SELF, 0);
	audits = h_node(&c, 2)->audits;
	ev = h_ev(&c, 1, FSM_EV_ADMIN);
	ev.u.admin.kind = FSM_ADMIN_PROMOTE;
	strcpy(ev.u.admin.vm, "v");
	h_step(&c, 1, &ev); /* Pacemaker promotes S ~1 s after a loss */
	h_advance(&c, 1000);
	assert_int_equal(h_lhb_total(&c, "v"), 0);
	assert_int_equal(h_q(&c, 2, "v")->cont, 0);
	assert_true(h_node(&c, 2)->audits > audits); /* refused, recorded */
	h_free(&c);
}

/* ---- M5: a lost state report is announced again ------------------------- */

static int m5_run(uint32_t disable)
{
	struct h_cluster c;
	int lhb;

	sc_boot3(&c, FSM_FENCE_PACEMAKER, disable);
	h_node(&c, 2)->drop_sends = true; /* CS_ERR_TRY_AGAIN: report lost */
	h_qemu_colo_exit(&c, 2, "v");
	h_node(&c, 2)->drop_sends = false;
	h_advance(&c, 500);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	h_advance(&c, 3 * c.base.state_period_ms);
	lhb = h_q(&c, 1, "v")->lhb_run;
	h_free(&c);
	return lhb;
}

static void test_m5_lost_report_reannounced(void **state)
{
	(void)state;
	assert_int_equal(m5_run(0), 1);
	assert_int_equal(m5_run(FSM_MECH_PERIODIC_STATE), 0); /* waits forever */
}

/* ---- M6: clean-up is part of the failover -------------------------------- */

static void test_m6_cleanup_before_confirmation(void **state)
{
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	/* pre list before the failover, post list (red0/red1, filters) before
	 * the side is reported solo */
	assert_int_equal(h_q(&c, 1, "v")->pre, 1);
	assert_int_equal(h_q(&c, 1, "v")->post, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_SOLO);
	h_free(&c);

	/* a failed clean-up means "not confirmed" */
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	h_q(&c, 1, "v")->post_error = true;
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	assert_int_equal(h_q(&c, 1, "v")->post, 1);
	assert_int_equal(h_status(&c, 1, "v"), FSM_ST_DEGRADED);
	assert_non_null(h_audit_find(&c, 1, "M6-cleanup-failed"));
	h_free(&c);
}

/* ---- M7: many VMs per node: all local sides freeze in parallel --------- */

static void test_m7_many_vms_freeze_in_parallel(void **state)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_SELF, 0);
	const char *names[] = { "a", "b", "c", "d" };
	int64_t t0;

	(void)state;
	h_init(&c, 3, &cfg);
	for (int i = 0; i < 4; i++)
		h_vm(&c, names[i], 1, 2);
	h_boot(&c);
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G13, NULL);
	h_advance(&c, 100);
	for (int i = 0; i < 4; i++)
		assert_int_equal(h_status(&c, 1, names[i]), FSM_ST_SOLO);
	t0 = c.now;
	h_partition(&c, G1, G3);
	/* every stop went out in the same step, no waiting per VM */
	assert_int_equal(c.now, t0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(h_q(&c, 1, names[i])->run, FSM_RUN_PAUSED);
		assert_int_equal(h_status(&c, 1, names[i]), FSM_ST_FROZEN);
	}
	h_free(&c);
}

/* ==== SAFETY.md §6: the ten adversarial schedules ======================= */

static void test_s6_01_rolling_partition(void **state)
{
	int fences;
	uint32_t where;

	(void)state;
	assert_int_equal(c2b_run(0, &fences, &where), 0);
	assert_int_equal(where, 1);
}

static void test_s6_02_reset_then_death(void **state)
{
	const int64_t delays[] = { 1, 5, 20 };
	int fences;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(c2a_run(0, delays[i], &fences), 0);
		assert_int_equal(fences, 0);
	}
}

static void test_s6_03_heal_after_takeover(void **state)
{
	int lhb;

	(void)state;
	assert_int_equal(c1_run(0, false, &lhb), 1);
	assert_int_equal(c1_run(0, true, &lhb), 1);
}

/* egress-only drop on P's node: its corosync stalls 35-58 s, ingress works
 * (S's failover closes the sockets: P sees COLO_EXIT{error}) */
static void s6_04_run(enum fsm_fence_policy pol)
{
	struct h_cluster c;
	int max_alone = 0;

	sc_boot3(&c, pol, 0);
	h_node(&c, 1)->cpg_stalled = true;
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL); /* n1 gets nothing: stalled */
	for (int i = 0; i < 30; i++) {
		h_advance(&c, 1000);
		if (h_node(&c, 2)->fences_requested[1] && h_node(&c, 1)->power)
			h_fence_result(&c, 2, 1, true, 0);
		if (h_q(&c, 2, "v")->lhb_run && h_q(&c, 1, "v")->alive &&
		    h_q(&c, 1, "v")->mode == FSM_MODE_PRIMARY &&
		    !h_q(&c, 1, "v")->reason)
			h_qemu_colo_exit(&c, 1, "v");
		if (h_alone(&c, "v") > max_alone)
			max_alone = h_alone(&c, "v");
	}
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	assert_int_equal(max_alone, 1);
	h_free(&c);
}

static void test_s6_04_egress_drop(void **state)
{
	(void)state;
	s6_04_run(FSM_FENCE_SELF);
	s6_04_run(FSM_FENCE_PACEMAKER);
}

static void test_s6_05_witness_death(void **state)
{
	int stops, yanks;

	(void)state;
	for (int64_t b = 3630; b <= 5400; b += 1770) {
		h1_run(0, b, &stops, &yanks);
		assert_int_equal(stops + yanks, 0);
	}
}

static void test_s6_06_two_node(void **state)
{
	test_c3_two_node(state);
}

/* flap: NODEDOWN, NODEUP 1.5 s later while a kick is pending; the fence
 * completes after the rejoin; a second flap hits the self wait. */
static void test_s6_07_flap(void **state)
{
	struct h_cluster c;
	int p_lhb, alone;
	int64_t t_loss2;

	(void)state;
	c2c_run(0, &p_lhb, &alone);
	assert_int_equal(p_lhb, 0);
	assert_int_equal(alone, 1);

	sc_boot3(&c, FSM_FENCE_SELF, 0);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G23);
	h_advance(&c, 1500);
	h_heal(&c);
	h_advance(&c, 3000);
	h_partition(&c, G1, G23);
	t_loss2 = c.now;
	while (h_q(&c, 2, "v")->lhb_run == 0 && c.now < t_loss2 + 60000)
		h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "v")->lhb_run, 1);
	/* the wait restarted at the second loss: W = P + B + SFT + kill + 1 s */
	assert_true(c.now - t_loss2 >= 500 + 5400 + 2000 + 500 + 1000);
	assert_int_equal(h_q(&c, 1, "v")->lhb_run, 0);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_free(&c);
}

static void test_s6_08_freeze_vs_inflight(void **state)
{
	enum fsm_vm_status st;
	enum fsm_run_state run;

	(void)state;
	h2_run(0, &st, &run);
	assert_int_equal(st, FSM_ST_FROZEN);
	assert_int_equal(run, FSM_RUN_PAUSED);
}

static void test_s6_09_arbiter_left_first(void **state)
{
	int fences;

	(void)state;
	assert_int_equal(h4a_run(0), 1);
	assert_int_equal(h4b_run(0), 1);
	assert_int_equal(h4c_run(0, &fences), 1);
}

/* a: n1 -> n2, b: n2 -> n1, c: n2 -> n3.  n1 dies while n2's fence call
 * takes 60 s; b's failover reply is lost, then the monitor reconnects;
 * n2 is isolated mid-fence and must still freeze in time. */
static void test_s6_10_both_directions_slow_fence(void **state)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_PACEMAKER, 0);
	int64_t t0;

	(void)state;
	h_init(&c, 3, &cfg);
	h_vm(&c, "a", 1, 2);
	h_vm(&c, "b", 2, 1);
	h_vm(&c, "c", 2, 3);
	h_boot(&c);
	h_q(&c, 2, "b")->drop_lhb = true;
	h_q(&c, 2, "b")->drop_executes = true;
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	t0 = c.now;
	h_partition(&c, G23, NULL);
	/* b's primary went solo at once (no fence wait with a majority),
	 * although n2's fence of n1 (for a) is pending */
	assert_int_equal(c.now, t0);
	assert_int_equal(h_node(&c, 2)->fences_requested[1], 1);
	assert_int_equal(h_q(&c, 2, "b")->lhb_run, 1);
	assert_int_equal(h_q(&c, 2, "a")->lhb_run, 0);
	assert_int_equal(h_q(&c, 2, "c")->lhb_run, 0); /* untouched (inv. 9) */
	/* the reply was lost; after reconnecting, query and do not resend */
	h_qmp_reconnect(&c, 2, "b");
	h_advance(&c, 100);
	assert_int_equal(h_q(&c, 2, "b")->lhb_sent, 1);
	assert_int_equal(h_status(&c, 2, "b"), FSM_ST_SOLO);
	/* n2 isolated mid-fence: its solo side b freezes within SFT */
	h_advance(&c, 5000);
	t0 = c.now;
	h_partition(&c, G2, G3);
	h_advance(&c, c.base.self_fence_timeout_ms);
	assert_int_equal(h_q(&c, 2, "b")->run, FSM_RUN_PAUSED);
	assert_int_equal(h_q(&c, 2, "c")->stop, 0); /* COLO primary: A9 */
	assert_int_equal(h_q(&c, 2, "a")->lhb_run, 0);
	h_free(&c);
}

/* ==== the hole table: each hole, its closing mechanism(s), both outcomes ==== */

static int tc1(uint32_t d) { int l; return c1_run(d, false, &l); }
static int tc2a(uint32_t d) { int f; return c2a_run(d, 5, &f); }
static int tc2b(uint32_t d) { int f; uint32_t w; return c2b_run(d, &f, &w); }
static int tc2c(uint32_t d) { int l, a; c2c_run(d, &l, &a); return l; }
static int tc3(uint32_t d)
{
	struct h_cluster c;
	struct fsm_config cfg = sc_config(FSM_FENCE_PACEMAKER, d);
	int lhb;

	cfg.two_node = true;
	h_init(&c, 2, &cfg);
	h_vm(&c, "v", 1, 2);
	h_boot(&c);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G1, G2);
	h_advance(&c, 100);
	lhb = h_q(&c, 1, "v")->lhb_run; /* before any fence */
	h_free(&c);
	return lhb;
}
static int th1(uint32_t d) { int s, y; h1_run(d, 3630, &s, &y); return s; }
static int th2(uint32_t d)
{
	enum fsm_vm_status st;
	enum fsm_run_state run;

	h2_run(d, &st, &run);
	return st == FSM_ST_FROZEN ? (int)run : -1;
}
static int th3(uint32_t d) { int l; bool p; h3_run(d, &l, &p); return l; }
static int th4a(uint32_t d) { return h4a_run(d); }
static int th4b(uint32_t d) { return h4b_run(d); }
static int th4c(uint32_t d) { int f; return h4c_run(d, &f); }
static int th5(uint32_t d)
{
	int a;
	enum fsm_vm_status st;

	h5_run(d, &a, &st);
	return a;
}
static int tm1(uint32_t d) { return m1_run(d); }
static int tm2(uint32_t d) { return m2_run(d); }
static int tm3(uint32_t d) { uint64_t e; return m3_run(d, &e); }
static int tm5(uint32_t d) { return m5_run(d); }

static const struct hole_case {
	const char *id;      /* SAFETY.md section */
	const char *outcome; /* what the metric counts */
	int (*run)(uint32_t disable);
	uint32_t close;      /* mechanism(s) that close it */
	int safe, unsafe;
} holes[] = {
	{ "C1", "sides running alone", tc1, C1_CLOSE, 1, 2 },
	{ "C2a", "stale S failovers", tc2a, C2_CLOSE, 0, 1 },
	{ "C2b", "stale S failovers", tc2b, C2_CLOSE, 0, 1 },
	{ "C2c", "P failovers while fenced", tc2c, FSM_MECH_FENCE_INCARNATION, 0, 1 },
	{ "C3", "P failovers before a fence", tc3, FSM_MECH_TWO_NODE, 0, 1 },
	{ "H1", "stops of a COLO primary", th1, FSM_MECH_FREEZE_SOLO_ONLY, 0, 1 },
	{ "H2", "run state of a 'frozen' S", th2, FSM_MECH_FREEZE_CONFIRM,
	  FSM_RUN_PAUSED, FSM_RUN_RUNNING },
	{ "H3", "S failovers on an old fence", th3, FSM_MECH_FENCE_PROOF_AGE, 0, 1 },
	{ "H4a", "S failovers (0 = stall)", th4a, FSM_MECH_LEVEL_TRIGGERED_LOSS, 1, 0 },
	{ "H4b", "S failovers (0 = stall)", th4b, FSM_MECH_LEVEL_TRIGGERED_LOSS, 1, 0 },
	{ "H4c", "S failovers (0 = stall)", th4c, FSM_MECH_ARB_TIMEOUT, 1, 0 },
	{ "H5", "sides running alone (0 = hung)", th5, FSM_MECH_YANK_FIRST, 1, 0 },
	{ "M1", "sides running alone", tm1, M1_CLOSE, 1, 2 },
	{ "M2", "failovers sent to a new instance", tm2, FSM_MECH_ACTION_TAGS, 0, 1 },
	{ "M3", "run state of the only copy", tm3, FSM_MECH_RESUME,
	  FSM_RUN_RUNNING, FSM_RUN_PAUSED },
	{ "M5", "P failovers (0 = stall)", tm5, FSM_MECH_PERIODIC_STATE, 1, 0 },
};

static void test_hole_table(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(holes); i++) {
		const struct hole_case *h = &holes[i];
		int safe = h->run(0), unsafe = h->run(h->close);

		print_message("# %-4s %-34s on: %d  off:", h->id, h->outcome, safe);
		for (unsigned b = 0; b < FSM_MECH_COUNT; b++)
			if (h->close & (1u << b))
				print_message(" %s", fsm_mechanism_to_str(1u << b));
		print_message(" -> %d\n", unsafe);
		assert_int_equal(safe, h->safe);
		assert_int_equal(unsafe, h->unsafe);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hole_table),
		cmocka_unit_test(test_c1_heal_after_takeover),
		cmocka_unit_test(test_c1_restart_while_partitioned),
		cmocka_unit_test(test_c2a_reset_then_death),
		cmocka_unit_test(test_c2b_rolling_partition),
		cmocka_unit_test(test_c2c_late_fence),
		cmocka_unit_test(test_c3_two_node),
		cmocka_unit_test(test_h1_witness_death),
		cmocka_unit_test(test_h2_freeze_vs_inflight_failover),
		cmocka_unit_test(test_h3_fence_proof_newer_than_last_alive),
		cmocka_unit_test(test_h3_fence_failure_never_counts),
		cmocka_unit_test(test_h4a_leave_then_power_off),
		cmocka_unit_test(test_h4b_restart_after_nodedown),
		cmocka_unit_test(test_h4c_procdown_then_qemu_death),
		cmocka_unit_test(test_h5_yank_first),
		cmocka_unit_test(test_m1_rule3_vs_pending_takeover),
		cmocka_unit_test(test_m2_stale_sequence_dropped),
		cmocka_unit_test(test_m2_gate_rechecked_before_each_command),
		cmocka_unit_test(test_m3_resume_frozen_solo),
		cmocka_unit_test(test_m4_promote_is_a_request),
		cmocka_unit_test(test_m5_lost_report_reannounced),
		cmocka_unit_test(test_m6_cleanup_before_confirmation),
		cmocka_unit_test(test_m7_many_vms_freeze_in_parallel),
		cmocka_unit_test(test_s6_01_rolling_partition),
		cmocka_unit_test(test_s6_02_reset_then_death),
		cmocka_unit_test(test_s6_03_heal_after_takeover),
		cmocka_unit_test(test_s6_04_egress_drop),
		cmocka_unit_test(test_s6_05_witness_death),
		cmocka_unit_test(test_s6_06_two_node),
		cmocka_unit_test(test_s6_07_flap),
		cmocka_unit_test(test_s6_08_freeze_vs_inflight),
		cmocka_unit_test(test_s6_09_arbiter_left_first),
		cmocka_unit_test(test_s6_10_both_directions_slow_fence),
	};

	if (getenv("FSM_TEST")) /* run one test: FSM_TEST=test_c1_* */
		cmocka_set_test_filter(getenv("FSM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
