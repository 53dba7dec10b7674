/*
 * scale.h: a 3-node cluster of real fsm instances with hundreds of VMs, for
 * the scale test and benchmark (the harness of harness.h holds 4 VMs).
 * Queues and per-VM records are on the heap and sized at s_init.  QEMU is a
 * stub that answers at once as test/data/qemu-colo does for a primary whose
 * secondary is gone (after the yank) and a secondary taking over; fences
 * succeed at once.  Only power-off of a node is modelled, no partitions.
 *
 * VMs 0 .. n_local-1: primary on node 1, secondary on node 2.
 * VMs n_local .. n_local+n_witness-1: primary on node 2, secondary on
 * node 3 (node 1 only hears of them: a witness record).
 */
#ifndef FSM_TEST_SCALE_H
#define FSM_TEST_SCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"

#define S_NODES 3
#define S_LOG 16   /* per VM and node: the first QMP commands/commits seen */
#define S_YANKS 10 /* yank instances per VM: more than the old cap of 6 */

struct s_qemu {
	bool present;
	struct fsm_instance inst;
	enum fsm_colo_mode mode, last_mode;
	enum fsm_colo_reason reason;
	enum fsm_run_state run;
	enum fsm_mig_state mig;
	int lhb_run, yank, yank_names; /* yank_names: names in the last yank */
};

/* What one node did for one VM, in order: Y yank, S its T(SOLO) persisted,
 * P pre, L x-colo-lost-heartbeat, O post, Q query-colo-status,
 * T query-status, C cont, X stop, K kill. */
struct s_vmlog {
	char seq[S_LOG + 1];
	unsigned n;
	uint64_t yank_step; /* step counter of the first yank */
};

struct s_node {
	uint32_t id;
	struct fsm *f;
	bool up;
	struct s_qemu *q;            /* per VM */
	struct s_vmlog *log;         /* per VM */
	enum fsm_vm_status *status;  /* per VM, from STATUS actions */
	struct fsm_epoch *disk;      /* per VM: last persisted E(v) */
	uint64_t steps;              /* fsm_step calls */
	uint64_t step_ns;            /* their time, if a clock is set */
	unsigned max_actions;        /* most actions of one step */
	uint64_t max_actions_step;   /* ... at this step */
	uint64_t max_actions_ns;     /* ... which took this long */
	unsigned max_yanks;          /* most yanks of one step */
	unsigned max_yanks_actions;  /* ... among this many actions */
	uint64_t max_yanks_ns;       /* ... in a step this long */
	unsigned audits, kills, fences;
	unsigned *reports;           /* per VM: STATE messages it sent */
	unsigned max_reports;        /* most STATEs of one step */
};

struct s_item {
	int node;
	struct fsm_event ev;
};

struct s_cluster {
	unsigned n_local, n_witness, n_vms;
	struct fsm_config base;
	struct s_node nodes[S_NODES];
	struct fsm_actions out;
	struct s_item *q;            /* FIFO of events, grows */
	unsigned q_head, q_tail, q_cap;
	int64_t now;
	uint64_t ring_seq;
	int errors;                  /* fsm_step < 0 or an overflowed list */
	bool record;                 /* fill the per-VM logs */
	/* optional: the bench times each fsm_step with it */
	int64_t (*clock_ns)(void);
	/* the last step: its event and how long it took */
	struct fsm_event last_ev;
	int last_node;
	uint64_t last_ns;
	unsigned last_actions;
};

/* 0, or -1 if out of memory or the fsm refused the config */
int s_init(struct s_cluster *c, unsigned n_local, unsigned n_witness,
	   const struct fsm_config *base);
void s_free(struct s_cluster *c);
/* VM names are "vm<index>" */
void s_name(unsigned v, char *buf);
/* one event on node (0-based), its actions carried out at once */
int s_step(struct s_cluster *c, int node, struct fsm_event *ev);
struct fsm_event s_ev(struct s_cluster *c, enum fsm_event_kind k);
/* deliver everything queued (messages in one agreed order) */
void s_run(struct s_cluster *c);
/* VMs added, START, one ring of 3, QEMU facts, run: COLO epochs committed */
void s_boot(struct s_cluster *c);
/* power off node id: the others get CPG, totem and quorum confchgs */
void s_power_off(struct s_cluster *c, uint32_t id);

#endif
