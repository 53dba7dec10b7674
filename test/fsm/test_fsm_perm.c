/*
 * test_fsm_perm.c: inputs that commute give the same outcome in any order
 * (as bgpd's rde_decide_test does for its decision process).  Three VM
 * pairs in both directions over three nodes; a set of independent inputs
 * (a reset of one pair, a QEMU death in another, QMP facts of a third, a
 * repeated quorum notification, a duplicated state report from an older
 * ring) is applied in every order, one at a time and all at once, and the
 * physical outcome (what every QEMU stub did) plus every node's epochs and
 * statuses must be identical for all 5! orders.
 */
#include <stdlib.h>
#include <string.h>

#include "fsm_state.h"
#include "scenarios.h"

#define N_EV 5

struct outcome {
	struct {
		bool alive;
		enum fsm_colo_mode mode;
		enum fsm_run_state run;
		int lhb_run, killed, cont, stop;
		enum fsm_vm_status status;
		uint64_t epoch;
	} s[H_NODES][3];
};

static const char *vms[] = { "a", "b", "c" };

static void boot(struct h_cluster *c)
{
	struct fsm_config cfg = sc_config(FSM_FENCE_PACEMAKER, 0);

	h_init(c, 3, &cfg);
	h_vm(c, "a", 1, 2);
	h_vm(c, "b", 2, 3);
	h_vm(c, "c", 3, 1);
	h_boot(c);
}

/* the k-th input, as one local event on one node */
static void input(struct h_cluster *c, int k, int *node, struct fsm_event *ev)
{
	switch (k) {
	case 0: /* reset of a's migration socket: only S (n2) reports */
		*node = 1;
		*ev = h_ev(c, 1, FSM_EV_QMP_COLO_EXIT);
		strcpy(ev->u.qmp.vm, "a");
		ev->u.qmp.inst = h_q(c, 2, "a")->inst;
		ev->u.qmp.mode = FSM_MODE_SECONDARY;
		ev->u.qmp.reason = FSM_REASON_ERROR;
		break;
	case 1: /* b's secondary QEMU (n3) dies: pidfd */
		*node = 2;
		h_q(c, 3, "b")->alive = false;
		*ev = h_ev(c, 2, FSM_EV_QEMU_EXITED);
		strcpy(ev->u.qmp.vm, "b");
		ev->u.qmp.inst = h_q(c, 3, "b")->inst;
		break;
	case 2: /* a fresh query-status of c's secondary on n1: unchanged */
		*node = 0;
		*ev = h_ev(c, 0, FSM_EV_QMP_STATUS);
		strcpy(ev->u.qmp.vm, "c");
		ev->u.qmp.inst = h_q(c, 1, "c")->inst;
		ev->u.qmp.run = FSM_RUN_RUNNING;
		break;
	case 3: /* the quorum notification repeated on n3 */
		*node = 2;
		*ev = h_ev(c, 2, FSM_EV_QUORUM);
		ev->u.quorum.quorate = true;
		ev->u.quorum.ring = h_node(c, 3)->ring;
		ev->u.quorum.n_nodes = 3;
		for (unsigned i = 0; i < 3; i++)
			ev->u.quorum.nodes[i] = i + 1;
		break;
	default: /* n1 gets c's state report again, sent in an older ring */
		*node = 0;
		*ev = h_ev(c, 0, FSM_EV_PEER_MSG);
		ev->u.peer.from = 3;
		fsm_vm_report(h_node(c, 3)->f, fsm_vm_find(h_node(c, 3)->f, "c"),
			      &ev->u.peer.msg);
		ev->u.peer.msg.ring.nodeid = 1;
		ev->u.peer.msg.ring.seq = 1;
		break;
	}
}

static void observe(struct h_cluster *c, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	for (uint32_t n = 1; n <= 3; n++)
		for (int v = 0; v < 3; v++) {
			struct h_qemu *q = h_q(c, n, vms[v]);

			o->s[n - 1][v].alive = q->alive;
			o->s[n - 1][v].mode = q->mode;
			o->s[n - 1][v].run = q->run;
			o->s[n - 1][v].lhb_run = q->lhb_run;
			o->s[n - 1][v].killed = q->killed;
			o->s[n - 1][v].cont = q->cont;
			o->s[n - 1][v].stop = q->stop;
			o->s[n - 1][v].status = h_status(c, n, vms[v]);
			o->s[n - 1][v].epoch = h_epoch(c, n, vms[v]);
		}
}

static void run_order(const int *order, bool settle_each, struct outcome *o)
{
	struct h_cluster c;

	boot(&c);
	for (int i = 0; i < N_EV; i++) {
		struct fsm_event ev;
		int node;

		input(&c, order[i], &node, &ev);
		h_step(&c, node, &ev);
		if (settle_each)
			h_run(&c);
	}
	h_advance(&c, 1000);
	assert_int_equal(c.step_errors, 0);
	observe(&c, o);
	h_free(&c);
}

static bool next_perm(int *a, int n)
{
	int i = n - 2, j = n - 1, t;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return false;
	while (a[j] <= a[i])
		j--;
	t = a[i]; a[i] = a[j]; a[j] = t;
	for (i++, j = n - 1; i < j; i++, j--) {
		t = a[i]; a[i] = a[j]; a[j] = t;
	}
	return true;
}

static void perm_test(bool settle_each)
{
	int order[N_EV] = { 0, 1, 2, 3, 4 };
	struct outcome first, o;
	int count = 0;

	run_order(order, settle_each, &first);
	/* the inputs really did something: a and b went solo on their P */
	assert_int_equal(first.s[0][0].lhb_run, 1);
	assert_int_equal(first.s[1][0].killed, 1);
	assert_int_equal(first.s[1][1].lhb_run, 1);
	assert_int_equal(first.s[2][2].lhb_run, 0);
	assert_int_equal(first.s[2][2].status, FSM_ST_PROTECTED);
	while (next_perm(order, N_EV)) {
		run_order(order, settle_each, &o);
		assert_memory_equal(&o, &first, sizeof(o));
		count++;
	}
	assert_int_equal(count, 119);
}

static void test_perm_settled_one_by_one(void **state)
{
	(void)state;
	perm_test(true);
}

static void test_perm_all_at_once(void **state)
{
	(void)state;
	perm_test(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_perm_settled_one_by_one),
		cmocka_unit_test(test_perm_all_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
