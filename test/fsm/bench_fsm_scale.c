/*
 * bench_fsm_scale.c: figures for the decision core at scale (not a test:
 * it reads the clock and asserts nothing but that the run completed).
 * A 3-node cluster (scale.c) with N VMs protected from node 1 to node 2 and
 * M pairs from node 2 to node 3 that node 1 only witnesses; node 2 powers
 * off.  Prints the time of the one fsm_step on node 1 that starts every
 * failover, of the whole failover on node 1, and of an ordinary step with
 * that many VMs in the table, with audit records on and off.
 *
 *   test/fsm/bench_fsm_scale [--vms N] [--witness M]     (500, 1000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsm_state.h"
#include "scale.h"

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int run(unsigned n_local, unsigned n_witness, bool audit)
{
	struct s_cluster *c = calloc(1, sizeof(*c));
	struct fsm_config cfg;
	struct s_node *n1;
	uint64_t red0, steps0, ns0, boot_ns = 0, quiet_ns;
	unsigned solo = 0;
	enum { QUIET = 2000 };

	fsm_config_defaults(&cfg);
	cfg.audit = audit;
	if (!c || s_init(c, n_local, n_witness, &cfg) < 0) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	c->clock_ns = cpu_ns;
	n1 = &c->nodes[0];
	s_boot(c);
	for (unsigned i = 0; i < S_NODES; i++)
		boot_ns += c->nodes[i].step_ns;

	/* an ordinary event: a peer's idempotent report of a witnessed VM */
	quiet_ns = 0;
	for (unsigned k = 0; k < QUIET; k++) {
		struct fsm_event ev = s_ev(c, FSM_EV_PEER_MSG);

		ev.u.peer.from = 3;
		ev.u.peer.msg.kind = FSM_MSG_STATE;
		s_name(n_local + k % (n_witness ? n_witness : 1), ev.u.peer.msg.vm);
		if (!n_witness)
			s_name(k % n_local, ev.u.peer.msg.vm);
		s_step(c, 0, &ev);
		quiet_ns += c->last_ns;
	}
	s_run(c);

	n1->max_actions = 0;
	red0 = fsm_rederived(n1->f);
	steps0 = n1->steps;
	ns0 = n1->step_ns;
	c->now += 1000;
	s_power_off(c, 2);
	s_run(c);
	for (unsigned v = 0; v < n_local; v++)
		solo += n1->status[v] == FSM_ST_SOLO;
	printf("audit %s: %u local VMs, %u witnessed, %u in n1's table\n",
	       audit ? "on " : "off", n_local, n_witness, n1->f->n_vms);
	printf("  boot (3 nodes, COLO epochs committed): %.1f ms of fsm_step\n",
	       boot_ns / 1e6);
	printf("  ordinary step on n1 (peer STATE): %.1f us (mean of %d)\n",
	       quiet_ns / 1e3 / QUIET, QUIET);
	printf("  node loss, the one step on n1 that yanks every primary: %u yanks "
	       "in %u actions, %.2f ms, %.2f us per VM\n", n1->max_yanks,
	       n1->max_yanks_actions, n1->max_yanks_ns / 1e6,
	       n1->max_yanks_ns / 1e3 / n_local);
	printf("  whole failover on n1 (node loss to %u/%u solo): %llu steps, "
	       "%.1f ms of fsm_step, %.1f us per step, %.1f VM decisions re-derived per step\n",
	       solo, n_local, (unsigned long long)(n1->steps - steps0),
	       (n1->step_ns - ns0) / 1e6,
	       (n1->step_ns - ns0) / 1e3 / (double)(n1->steps - steps0),
	       (double)(fsm_rederived(n1->f) - red0) / (double)(n1->steps - steps0));
	if (c->errors || solo != n_local) {
		fprintf(stderr, "bench: run did not complete (%d errors)\n", c->errors);
		s_free(c);
		free(c);
		return 1;
	}
	s_free(c);
	free(c);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n_local = 500, n_witness = 1000;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--vms"))
			n_local = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--witness"))
			n_witness = (unsigned)strtoul(argv[i + 1], NULL, 10);
	}
	if (n_local == 0 || n_local + n_witness > FSM_MAX_VMS) {
		fprintf(stderr, "usage: %s [--vms N] [--witness M] (1 <= N, N + M <= %d)\n",
			argv[0], FSM_MAX_VMS);
		return 2;
	}
	printf("sizeof: struct fsm %zu, fsm_vm %zu, fsm_action %zu, fsm_event %zu bytes\n",
	       sizeof(struct fsm), sizeof(struct fsm_vm), sizeof(struct fsm_action),
	       sizeof(struct fsm_event));
	if (run(n_local, n_witness, true) || run(n_local, n_witness, false))
		return 1;
	return 0;
}
