/*
 * test_peer_fsm.c: every peer message the real decision core sends in the fsm
 * harness's scenarios (boot, failover, partition, fencing, heal, restart)
 * goes through the wire: encode must accept it, and decode must give back
 * every field the fsm set, so delivering the decoded copy instead of the
 * struct would change nothing (the harness is deterministic).  This catches
 * an fsm field the wire format drops, and an fsm message the encoder refuses.
 * Must not: change the harness (owned by the fsm suite); it only reads mq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fsm/scenarios.h"
#include "peer_msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct wire_stats {
	unsigned seen;     /* mq index already checked */
	unsigned count[8]; /* per wire kind */
	unsigned total;
	size_t max_len;
};

static void inst_eq(const struct fsm_instance *a, const struct fsm_instance *b)
{
	assert_int_equal(a->pid, b->pid);
	assert_true(a->start == b->start);
}

static void epoch_eq(const struct fsm_epoch *a, const struct fsm_epoch *b)
{
	assert_true(a->n == b->n);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->holder, b->holder);
	inst_eq(&a->hinst, &b->hinst);
	assert_int_equal(a->secondary, b->secondary);
	inst_eq(&a->sinst, &b->sinst);
}

/* Field by field (padding may differ): every field, used by the kind or not. */
static void msg_eq(const struct fsm_msg *a, const struct fsm_msg *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->ring.nodeid, b->ring.nodeid);
	assert_true(a->ring.seq == b->ring.seq);
	assert_string_equal(a->vm, b->vm);
	epoch_eq(&a->epoch, &b->epoch);
	assert_true(a->prop.from_n == b->prop.from_n);
	assert_int_equal(a->prop.proposer, b->prop.proposer);
	epoch_eq(&a->prop.to, &b->prop.to);
	assert_int_equal(a->side.present, b->side.present);
	assert_int_equal(a->side.connected, b->side.connected);
	assert_int_equal(a->side.alive, b->side.alive);
	inst_eq(&a->side.inst, &b->side.inst);
	assert_int_equal(a->side.mode, b->side.mode);
	assert_int_equal(a->side.last_mode, b->side.last_mode);
	assert_int_equal(a->side.reason, b->side.reason);
	assert_int_equal(a->side.run, b->side.run);
	assert_int_equal(a->side.mig, b->side.mig);
	assert_int_equal(a->side.colo_exit_seen, b->side.colo_exit_seen);
	assert_int_equal(a->side.frozen, b->side.frozen);
	assert_int_equal(a->side.failover_inflight, b->side.failover_inflight);
	assert_true(a->seq == b->seq);
	assert_true(a->sent_mono_ms == b->sent_mono_ms);
	assert_int_equal(a->node, b->node);
	assert_int_equal(a->pending, b->pending);
}

/* Round-trips every message queued since the last call. */
static void wire_check(struct h_cluster *c, struct wire_stats *st)
{
	/* the queue is a ring: older entries than H_QUEUE are overwritten */
	assert_true(c->mq_tail - st->seen <= H_QUEUE);
	for (; st->seen != c->mq_tail; st->seen++) {
		const struct fsm_msg *m = &c->mq[st->seen % H_QUEUE].msg;
		uint8_t buf[PEER_MSG_MAX];
		struct peer_msg_error err;
		struct fsm_msg out;
		int n, rc;

		n = peer_msg_encode(m, buf, sizeof(buf));
		if (n < 0)
			fail_msg("fsm sent a %s the encoder refuses: %d",
				 peer_msg_kind_to_str(m->kind), n);
		rc = peer_msg_decode(buf, (size_t)n, &out, &err);
		if (rc)
			fail_msg("%s: %s: %s", peer_msg_kind_to_str(m->kind),
				 err.member, err.msg);
		msg_eq(m, &out);
		st->count[buf[6] & 7]++;
		st->total++;
		if ((size_t)n > st->max_len)
			st->max_len = (size_t)n;
	}
}

static void report(const struct wire_stats *st, const char *name)
{
	print_message("# %s: %u messages (liveness %u state %u sync_done %u "
		      "propose %u ack %u nack %u fencing %u), largest %zu bytes\n",
		      name, st->total, st->count[1], st->count[2], st->count[3],
		      st->count[4], st->count[5], st->count[6], st->count[7],
		      st->max_len);
}

/* Boot into COLO, lose the secondary's node, fail over, heal. */
static void test_failover_heal(void **state)
{
	struct wire_stats st = { 0 };
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	wire_check(&c, &st);
	h_power_off(&c, 2);
	h_advance(&c, SC_DETECT_MS);
	wire_check(&c, &st);
	h_partition(&c, G13, NULL);
	wire_check(&c, &st);
	assert_int_equal(h_alone(&c, "v"), 1);
	h_advance(&c, 5000);
	wire_check(&c, &st);
	h_heal(&c);
	h_advance(&c, 5000);
	wire_check(&c, &st);
	assert_int_equal(c.step_errors, 0);
	report(&st, "failover_heal");
	/* the scenario exercised the epoch protocol and the barrier */
	assert_true(st.count[PEER_WIRE_LIVENESS] > 0);
	assert_true(st.count[PEER_WIRE_STATE] > 0);
	assert_true(st.count[PEER_WIRE_SYNC_DONE] > 0);
	assert_true(st.count[PEER_WIRE_PROPOSE] > 0);
	assert_true(st.count[PEER_WIRE_ACK] > 0);
	h_free(&c);
}

/* Primary's node lost under pacemaker: the secondary fences (FENCING). */
static void test_fence_takeover(void **state)
{
	struct wire_stats st = { 0 };
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	wire_check(&c, &st);
	h_power_off(&c, 1);
	h_advance(&c, SC_DETECT_MS);
	h_partition(&c, G23, NULL);
	wire_check(&c, &st);
	h_advance(&c, 2000);
	wire_check(&c, &st);
	h_fence_result(&c, 2, 1, true, 0);
	h_advance(&c, 5000);
	wire_check(&c, &st);
	report(&st, "fence_takeover");
	assert_true(st.count[PEER_WIRE_FENCING] > 0);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

/* A rolling partition and an arbiter restart: NACKs and re-syncs. */
static void test_partition_restart(void **state)
{
	struct wire_stats st = { 0 };
	struct h_cluster c;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	wire_check(&c, &st);
	h_partition(&c, G1, G23);
	h_advance(&c, 8000);
	wire_check(&c, &st);
	h_heal(&c);
	h_advance(&c, 5000);
	wire_check(&c, &st);
	h_arbiter_stop(&c, 3, FSM_CPG_PROCDOWN);
	h_advance(&c, 3000);
	wire_check(&c, &st);
	h_arbiter_start(&c, 3);
	h_advance(&c, 5000);
	wire_check(&c, &st);
	h_qemu_colo_exit(&c, 1, "v");
	h_advance(&c, 5000);
	wire_check(&c, &st);
	report(&st, "partition_restart");
	assert_true(st.total > 0);
	h_free(&c);
}

/*
 * A stale PROPOSE (out of epoch 0 when E(v).n is 1), delivered to the witness
 * from the wire bytes: it must NACK with its newer E(v).
 */
static void test_stale_proposal_nack(void **state)
{
	struct wire_stats st = { 0 };
	struct h_cluster c;
	struct fsm_msg p;
	struct fsm_event ev;
	uint8_t buf[PEER_MSG_MAX];
	int n;

	(void)state;
	sc_boot3(&c, FSM_FENCE_PACEMAKER, 0);
	wire_check(&c, &st);
	assert_true(h_epoch(&c, 3, "v") >= 1);
	memset(&p, 0, sizeof(p));
	p.kind = FSM_MSG_PROPOSE;
	p.ring = c.nodes[0].ring;
	strcpy(p.vm, "v");
	p.prop.from_n = 0;
	p.prop.proposer = 1;
	p.prop.to.n = 1;
	p.prop.to.kind = FSM_EPOCH_SOLO;
	p.prop.to.holder = 1;
	p.prop.to.hinst = h_q(&c, 1, "v")->inst;
	n = peer_msg_encode(&p, buf, sizeof(buf));
	assert_true(n > 0);
	ev = h_ev(&c, 2, FSM_EV_PEER_MSG);
	ev.u.peer.from = 1; /* as CPG delivers it */
	assert_int_equal(peer_msg_decode(buf, (size_t)n, &ev.u.peer.msg, NULL), 0);
	h_step(&c, 2, &ev);
	h_run(&c);
	wire_check(&c, &st);
	report(&st, "stale_proposal_nack");
	assert_true(st.count[PEER_WIRE_NACK] > 0);
	assert_int_equal(c.step_errors, 0);
	h_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failover_heal),
		cmocka_unit_test(test_fence_takeover),
		cmocka_unit_test(test_partition_restart),
		cmocka_unit_test(test_stale_proposal_nack),
	};

	return cmocka_run_group_tests_name("peer_fsm", tests, NULL, NULL);
}
