/*
 * scenarios.h: shared set-up for the fsm table tests: the lab config
 * (corosync token: 1000), node groups, and small assertion helpers.
 */
#ifndef FSM_TEST_SCENARIOS_H
#define FSM_TEST_SCENARIOS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

static inline struct fsm_config sc_config(enum fsm_fence_policy pol,
					  uint32_t disable)
{
	struct fsm_config cfg;

	fsm_config_defaults(&cfg);
	cfg.local_nodeid = 1; /* replaced per node */
	cfg.expected_votes = 0; /* = number of nodes */
	cfg.fence_policy = pol;
	cfg.test_disable = disable;
	return cfg;
}

/* 3 nodes, v: P on n1, S on n2, booted into a committed COLO epoch. */
static inline void sc_boot3(struct h_cluster *c, enum fsm_fence_policy pol,
			    uint32_t disable)
{
	struct fsm_config cfg = sc_config(pol, disable);

	h_init(c, 3, &cfg);
	h_vm(c, "v", 1, 2);
	h_boot(c);
}

/* corosync token: 1000 detection time (corosync-lab.md) */
#define SC_DETECT_MS 3500

static const uint32_t G1[] = { 1, 0 }, G2[] = { 2, 0 }, G3[] = { 3, 0 };
static const uint32_t G12[] = { 1, 2, 0 }, G13[] = { 1, 3, 0 },
		      G23[] = { 2, 3, 0 }, G123[] = { 1, 2, 3, 0 };

#endif
