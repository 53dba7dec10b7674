/*
 * harness.h: a small deterministic cluster for fsm tests.  It holds 2-3 fsm
 * instances ("nodes"), scripts corosync events to them, delivers the peer
 * messages they send in one agreed (CPG) order to the members of the
 * sender's partition, and answers QMP command actions from a tiny QEMU stub
 * per VM side that behaves as the transcripts in test/data/qemu-colo do.
 * Tests assert on what the stubs did (commands run, who runs alone) and on
 * the actions the fsm produced — never on fsm internals alone.
 */
#ifndef FSM_TEST_HARNESS_H
#define FSM_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"

#define H_NODES 3
#define H_VMS 4
#define H_QUEUE 4096
#define H_TIMERS 64

/* The QEMU side of one VM on one node, as the transcripts show it. */
struct h_qemu {
	bool present, alive;
	struct fsm_instance inst;
	enum fsm_colo_mode mode, last_mode;
	enum fsm_colo_reason reason;
	enum fsm_run_state run;
	enum fsm_mig_state mig;
	bool hang_on_flush;     /* primary whose secondary is silently gone */
	bool yanked;
	bool manual_complete;   /* lhb completes only on h_qemu_complete() */
	bool failover_pending;
	bool drop_next;         /* next reply is lost: NOT_DELIVERED */
	bool drop_executes;     /* ... and the command still took effect */
	bool drop_lhb;          /* the same, for the next x-colo-lost-heartbeat */
	bool post_error;        /* post-failover commands fail */
	bool hold_yank;         /* a yank acts at once, its reply waits for
				 * h_qemu_release_yank() */
	bool yank_held;
	struct fsm_tag held_yank_tag;
	bool hold_pre;          /* the same for pre-failover commands */
	bool pre_held;
	struct fsm_tag held_pre_tag;
	bool hold_post;         /* post-failover replies wait for h_qemu_release_post() */
	unsigned posts_held;
	struct fsm_tag held_post_tag[8];
	/* what happened physically */
	int lhb_run;            /* x-colo-lost-heartbeat that started a failover */
	int lhb_sent;           /* every x-colo-lost-heartbeat received */
	int cont, stop, yank, killed, pre, post;
	int yank_before_lhb;    /* yanks seen before the first lhb */
	int ran_alone;          /* times it became mode none + running */
	uint64_t stalled_tag;   /* a hung command waiting for a yank */
	enum fsm_qmp_cmd stalled_cmd;
	bool stalled;
};

/* every node's CLOCK_REALTIME (ms) at now = 0, plus its wall_off */
#define H_WALL_BASE 1795630000000LL

struct h_timer {
	bool used;
	enum fsm_timer_id id;
	uint32_t vm;
	int64_t due;
};

struct h_node {
	uint32_t id;
	struct fsm *f;
	uint64_t skip_misses; /* of f, as last reported */
	bool arb_up;       /* arbiter process running */
	bool power;        /* node powered */
	bool cpg_stalled;  /* corosync not scheduled: nothing delivered */
	bool drop_sends;   /* its sends fail (CS_ERR_TRY_AGAIN): lost */
	int part;          /* partition number */
	struct fsm_ring_id ring;
	uint32_t ring_nodes[FSM_MAX_NODES];
	unsigned n_ring;
	uint32_t cpg_members[FSM_MAX_NODES];
	unsigned n_cpg;
	bool quorate;
	struct h_qemu q[H_VMS];
	struct fsm_persist disk[H_VMS]; /* durable records */
	unsigned n_disk;
	bool persist_manual;            /* hold persist-done events */
	bool kill_manual;               /* SIGKILL lands on h_kill_land() */
	char kill_pending[H_VMS];
	struct h_timer timers[H_TIMERS];
	int fences_requested[FSM_MAX_NODES + 1];
	enum fsm_vm_status status[H_VMS];
	uint32_t status_where[H_VMS];
	int audits;
	json_t *audit_log[64];          /* the last audit records (refs) */
	int qmp_cmds[16]; /* per enum fsm_qmp_cmd */
	int msgs_sent[8]; /* per enum fsm_msg_kind, dropped ones included */
};

struct h_msg {
	uint32_t from;
	int part;        /* partition of the sender when sent */
	struct fsm_msg msg;
	bool held;       /* sender's corosync is stalled */
};

struct h_local {
	int node;
	struct fsm_event ev;
};

struct h_cluster {
	unsigned n;
	struct fsm_config base;
	struct h_node nodes[H_NODES];
	const char *vm_names[H_VMS];
	uint32_t vm_primary[H_VMS], vm_secondary[H_VMS];
	unsigned n_vms;
	int64_t now;       /* shared CLOCK_MONOTONIC (ms) */
	int64_t wall_off[H_NODES]; /* per node wall = now + base + off */
	uint64_t ring_seq;
	/* on the heap (h_init): a test may hold two clusters on its stack */
	struct h_msg *mq;  /* H_QUEUE entries */
	unsigned mq_head, mq_tail;
	struct h_local *lq; /* H_QUEUE entries */
	unsigned lq_head, lq_tail;
	uint32_t pid_next;
	unsigned n_post;    /* post-failover commands per VM side (0: 1) */
	bool auto_fence_ok; /* fences succeed at once */
	bool verbose;
	int step_errors;
};

/* config for every node; tweak before h_boot */
void h_init(struct h_cluster *c, unsigned n, const struct fsm_config *base);
/* add a VM pair: primary on node p, secondary on node s (node ids 1..n) */
void h_vm(struct h_cluster *c, const char *name, uint32_t p, uint32_t s);
/* boot arbiters and QEMUs, form one ring, establish COLO epochs */
void h_boot(struct h_cluster *c);
void h_free(struct h_cluster *c);

/* drive */
void h_run(struct h_cluster *c);
void h_advance(struct h_cluster *c, int64_t ms);
void h_step(struct h_cluster *c, int node, const struct fsm_event *ev);
struct fsm_event h_ev(struct h_cluster *c, int node, enum fsm_event_kind k);

/* corosync scripting: groups given as arrays of node ids ending with 0 */
void h_partition(struct h_cluster *c, const uint32_t *g1, const uint32_t *g2);
void h_heal(struct h_cluster *c);
/* the same, without delivering anything after the confchgs */
void h_partition_views(struct h_cluster *c, const uint32_t *g1, const uint32_t *g2);
void h_kill_land(struct h_cluster *c, uint32_t node, const char *vm);
void h_node_view(struct h_cluster *c, int node, const uint32_t *members,
		 bool quorate);
void h_power_off(struct h_cluster *c, uint32_t id);
void h_arbiter_stop(struct h_cluster *c, uint32_t id, enum fsm_cpg_reason why);
void h_arbiter_start(struct h_cluster *c, uint32_t id);
void h_fence_result(struct h_cluster *c, uint32_t at, uint32_t victim,
		    bool ok, int64_t fence_wall_s);

/* QEMU scripting */
struct h_qemu *h_q(struct h_cluster *c, uint32_t node, const char *vm);
void h_qemu_colo_exit(struct h_cluster *c, uint32_t node, const char *vm);
void h_qemu_complete(struct h_cluster *c, uint32_t node, const char *vm);
void h_qemu_release_yank(struct h_cluster *c, uint32_t node, const char *vm);
void h_qemu_release_pre(struct h_cluster *c, uint32_t node, const char *vm);
/* node's held durable writes of vm complete (persist_manual off) */
void h_persist_release(struct h_cluster *c, uint32_t node, const char *vm);
/* answers the held post-failover commands, in order; a lost connection
 * instead (NOT_DELIVERED for each) if lost */
void h_qemu_release_post(struct h_cluster *c, uint32_t node, const char *vm, bool lost);
/* delivers result r for the k-th held post-failover command alone */
void h_qemu_post_result(struct h_cluster *c, uint32_t node, const char *vm, unsigned k,
			enum fsm_cmd_result r);
void h_qemu_kill(struct h_cluster *c, uint32_t node, const char *vm);
void h_qemu_restart(struct h_cluster *c, uint32_t node, const char *vm,
		    enum fsm_colo_mode mode);
/* the monitor connection hangs up (QEMU alive): FSM_EV_QMP_LOST */
void h_qmp_lost(struct h_cluster *c, uint32_t node, const char *vm);
void h_qmp_reconnect(struct h_cluster *c, uint32_t node, const char *vm);
/* the stub's current facts, as the events QEMU/the daemon would give */
void h_qemu_facts(struct h_cluster *c, uint32_t node, const char *vm);

/* observations */
int h_alone(struct h_cluster *c, const char *vm);       /* sides mode none+running now */
int h_lhb_total(struct h_cluster *c, const char *vm);   /* failovers started */
enum fsm_vm_status h_status(struct h_cluster *c, uint32_t node, const char *vm);
uint64_t h_epoch(struct h_cluster *c, uint32_t node, const char *vm);
struct h_node *h_node(struct h_cluster *c, uint32_t id);
/* the oldest kept audit record of `node` with this rule (borrowed ref) */
json_t *h_audit_find(struct h_cluster *c, uint32_t node, const char *rule);

#endif
