/*
 * sim.h: the deterministic, seeded simulator of issue 4.  One real fsm
 * (arbiter/fsm*.c) per simulated node, driven by a model of corosync
 * (virtual synchrony, partitions, stalls, restarts, votequorum), QEMU COLO
 * (as test/data/qemu-colo shows), fencing and a durable disk; the SAFETY.md
 * §5 invariants are checked after every step on the physical model.
 *
 * Test code only: no wall clock, no I/O except printing; all randomness
 * comes from one seeded generator per run.
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm.h"

#define SIM_NODES 5
#define SIM_VMS 4
#define SIM_FAULTS 16
#define SIM_POOL 8192
#define SIM_TIMERS 48
#define SIM_CMDS 16
#define SIM_RINGS 256
#define SIM_HELD 512
#define SIM_WRITES 64
#define SIM_ACKLOG 32

/* ---- deterministic randomness ------------------------------------------ */

struct sim_rng {
	uint64_t s[4];
};

void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* uniform in [lo, hi] */
int64_t sim_rng_range(struct sim_rng *r, int64_t lo, int64_t hi);
/* true with probability per_mille / 1000 */
bool sim_rng_chance(struct sim_rng *r, unsigned per_mille);

/* ---- schedules ----------------------------------------------------------- */

enum sim_fault_kind {
	SF_PARTITION,     /* groups[] assign nodes to sides */
	SF_HEAL,          /* one network again, egress drops lifted */
	SF_POWER_OFF,
	SF_POWER_ON,      /* reboot: corosync + arbiter, no QEMU */
	SF_STALL,         /* egress drop: corosync stalls for dur ms (lab: 35-58 s) */
	SF_CS_CRASH,      /* corosync dies (IPC lost), restarts after dur */
	SF_ARB_CRASH,     /* arbiter dies (PROCDOWN), restarts after dur */
	SF_ARB_LEAVE,     /* arbiter stops cleanly (LEAVE), restarts after dur */
	SF_QEMU_KILL,
	SF_RESET,         /* ss -K of the migration socket */
	SF_QMP_DROP,      /* the arbiter's monitor hangs up; reconnects after dur */
	SF_RESYNC,        /* Pacemaker restarts a secondary next to a solo side */
	SF_CS_CRASH_AFTER_LHB, /* reactive: dur ms after node's next lhb */
	SF_POWER_AFTER_LHB,    /* reactive: power off node dur ms after any lhb */
	SF_KIND_COUNT,
};
const char *sim_fault_to_str(enum sim_fault_kind k);

struct sim_fault {
	int64_t at;                 /* virtual ms after boot */
	enum sim_fault_kind kind;
	uint8_t node;               /* 1-based */
	uint8_t vm;
	uint8_t groups[SIM_NODES];  /* SF_PARTITION */
	int64_t dur;
};

struct sim_params {
	unsigned nodes;
	unsigned vms;
	uint8_t vm_p[SIM_VMS], vm_s[SIM_VMS]; /* initial primary / secondary */
	enum fsm_fence_policy policy;
	bool two_node;
	bool freeze_colo_primaries;
	uint32_t disable;           /* fsm_config.test_disable */
	unsigned msg_loss_pm;       /* per mille of sends hitting TRY_AGAIN (retried) */
	int64_t quorum_delay_max;   /* confchg -> quorum notification */
	unsigned quorum_slow_pm;    /* chance of a slow (up to 5 s) notification */
	unsigned fence_fail_pm;
	unsigned fence_slow_pm;     /* 10-60 s fence calls */
	int64_t fence_fast_max;
};

struct sim_schedule {
	uint64_t seed;
	struct sim_params p;
	unsigned n;
	struct sim_fault f[SIM_FAULTS];
	const char *name;           /* fixed schedules */
};

enum sim_profile {
	SP_GENERAL,
	SP_QUORUM_GATE,
	SP_RING_ID,
	SP_FENCE_WAIT,
	SP_PROCDOWN,
	SP_OWN_LIVENESS,
	SP_EPOCH_CAS,
	SP_ELIGIBILITY,
	SP_FREEZE_CONFIRM,
	SP_YANK_FIRST,
	SP_WATCHDOG,
	SP_COUNT,
};

/* A bit of sim_params.disable beside the fsm's mechanisms: no node has a
 * watchdog device (production allows it, with a warning under `self`). */
#define SIM_NO_WATCHDOG (1u << 31)
/* ... and the daemon's rule before fsm_watchdog_tick(): the device opened
 * (WDIOC_SETTIMEOUT: a ping) at every start and held throughout, so the
 * release by a dying arbiter pings it whenever that comes */
#define SIM_WD_HOLD_ALWAYS (1u << 30)
const char *sim_profile_to_str(enum sim_profile p);

void sim_schedule_random(struct sim_schedule *s, uint64_t seed,
			 enum sim_profile prof);
/* SAFETY.md §6: i in 1..10; returns false if out of range */
bool sim_schedule_fixed(struct sim_schedule *s, unsigned i);
void sim_schedule_print(const struct sim_schedule *s);

/* ---- the physical model ------------------------------------------------- */

struct sim_cmd {
	bool used;
	struct fsm_tag tag;
	enum fsm_qmp_cmd cmd;
	unsigned index;
	int64_t issued;
	uint32_t conn;       /* monitor connection generation */
	int state;           /* SC_QUEUED, SC_STUCK, SC_SENT (reply due) */
};

struct sim_qemu {
	bool present, alive;
	struct fsm_instance inst;
	enum fsm_colo_mode mode, last_mode;
	enum fsm_colo_reason reason;
	enum fsm_run_state run;
	enum fsm_mig_state mig;
	uint32_t gen;        /* COLO pairing this side joined */
	int64_t gen_start;
	bool exit_sent;      /* COLO_EXIT is emitted once per side */
	bool yanked;
	bool hung;           /* main loop stuck on an NBD flush */
	bool fo_pending;     /* x-colo-lost-heartbeat under way */
	bool kill_pending;
	uint64_t have;       /* outputs this side's state holds */
	bool was_alone;
	int64_t lhb_gen_ok;  /* gen in which it ran a failover (+1), 0: none */
	bool connected;      /* the arbiter's OOB monitor */
	uint32_t conn;
	struct sim_cmd cmds[SIM_CMDS];
	int lhb_runs;
};

struct sim_timer {
	bool used;
	enum fsm_timer_id id;
	uint32_t vm;
	int64_t due;
	uint32_t gen;
};

struct sim_write {
	unsigned vm;
	struct fsm_persist rec;
	uint64_t seq;
};

struct sim_node {
	uint32_t id;
	bool power, cs_up, stalled, egress, arb_up, left_clean;
	bool joined;             /* its arbiter is a member of the CPG group */
	uint32_t cs_epoch;       /* corosync incarnation */
	bool ipc_blocked;        /* arbiter started on a stalled corosync */
	int64_t send_after;      /* CS_ERR_TRY_AGAIN: the daemon's queue retries */
	int64_t cs_down_at;      /* corosync died (POLLHUP reaches the arbiter <= 11 ms later) */
	int group;
	int64_t skew_ms;
	struct fsm *f;
	uint32_t inc;            /* arbiter incarnation */
	int64_t arb_down_since;
	int64_t arb_up_since;
	/* corosync's view as delivered to this node */
	unsigned ring;           /* index into world rings; 0: none */
	uint32_t cpg_view;       /* bitmask of arbiters in its CPG view */
	uint32_t view_inc[SIM_NODES]; /* ... and their incarnations */
	bool q_quorate;          /* last quorum notification delivered ... */
	unsigned q_ring;         /* ... for this ring */
	bool wfa_ok;             /* votequorum wait_for_all satisfied */
	int64_t q_last_due;
	/* arbiter side */
	struct sim_timer timers[SIM_TIMERS];
	struct fsm_persist disk[SIM_VMS];    /* as written */
	bool disk_has[SIM_VMS];
	struct fsm_persist durable[SIM_VMS];
	bool durable_has[SIM_VMS];
	struct sim_write writes[SIM_WRITES];
	unsigned n_writes;
	int64_t persist_last_due;
	enum fsm_vm_status status[SIM_VMS];
	uint32_t status_where[SIM_VMS];
	const char *status_why[SIM_VMS];
	bool fence_pending_for[SIM_NODES + 1];
	int64_t outside_since;   /* outside every quorate ring (truth) */
	int64_t outside_prev_since, outside_prev_end; /* the last such stretch that ended */
	bool wd_armed;           /* the node's watchdog runs (since its first pet) */
	bool wd_held;            /* the arbiter holds the device open */
	uint32_t wd_gen;         /* the pending reset's generation: one per ping (pet,
				  * release, start), only the last one's comes due */
	/* ack ledger of invariant 4 (the checker's memory, not the disk) */
	struct { unsigned vm; struct fsm_proposal p; } acks[SIM_ACKLOG];
	unsigned n_acks;
};

struct sim_vm {
	char name[FSM_NAME_MAX];
	uint8_t a, b;            /* the two nodes of the pair */
	uint64_t released;
	bool reset;
	bool break_seen;         /* a COLO_EXIT{error} since the reset reached an arbiter */
	uint32_t gen;
	int64_t disturbed_until;
	/* inv 4: committed chain */
	struct fsm_epoch chain[64];
	bool chain_has[64];
};

struct sim_ring {
	uint32_t members;
	uint32_t cs_epoch[SIM_NODES];
	uint32_t rep;
	uint64_t seq;
	int64_t last_deliver;
};

struct sim_world;

struct sim_violation {
	bool hit;
	int inv;               /* SAFETY.md §5 number */
	int64_t t;
	char what[256];
};

struct sim_world {
	const struct sim_schedule *s;
	struct sim_config_derived {
		struct fsm_config cfg;
		unsigned expected;
	} d;
	struct sim_rng rng;
	int64_t now, t0, faults_end, end, fence_max_due;
	int64_t last_break;        /* last loss of connectivity (token timeout) */
	int64_t last_view;         /* last ring installed anywhere */
	int64_t last_qmp;          /* last QMP command any arbiter sent */
	int64_t next_settle;       /* next check for an early, settled end */
	uint64_t comp_key;         /* connectivity the cache below is for */
	uint32_t comp[SIM_NODES];
	uint64_t seq;
	/* event queue */
	struct sim_hent { int64_t t; uint64_t seq; unsigned idx; } heap[SIM_POOL];
	unsigned n_heap;
	unsigned free_top;
	unsigned free_list[SIM_POOL];
	struct sim_node nodes[SIM_NODES];
	struct sim_qemu q[SIM_NODES][SIM_VMS];
	struct sim_vm vms[SIM_VMS];
	struct sim_ring rings[SIM_RINGS];
	unsigned n_rings;
	unsigned held[SIM_HELD];   /* pool indexes of held messages */
	unsigned n_held;
	uint32_t pid_next;
	bool quiescent;
	int verbose;
	bool trace_steps;
	uint64_t steps;
	int64_t last_release_t;
	struct sim_violation v;
	unsigned reactive_fired;
	unsigned limit_stalls;     /* stalls of the documented limit, doc/fsm.md §11 */
	unsigned limit_breaks;     /* stalls after a break no arbiter saw (same §11) */
	struct fsm_actions *out;
	struct sim_ev *pool;
};

/* sim_world.c */
struct sim_world *sim_world_new(void);
void sim_world_free(struct sim_world *w);
/* runs one schedule to its end; returns true if an invariant broke */
bool sim_run(struct sim_world *w, const struct sim_schedule *s, int verbose);

/* sim_check.c: invariants (SAFETY.md §5) */
void sim_violate(struct sim_world *w, int inv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool sim_alone(const struct sim_qemu *q);
bool sim_pair_healthy(const struct sim_world *w, unsigned v);
bool sim_node_outside(const struct sim_world *w, unsigned i);
bool sim_cs_conn(const struct sim_world *w, unsigned a, unsigned b);
bool sim_qemu_reach(const struct sim_world *w, unsigned a, unsigned b);
bool sim_component_quorate(const struct sim_world *w, unsigned i);
void sim_check_step(struct sim_world *w);
void sim_check_cmd(struct sim_world *w, unsigned node, unsigned v,
		   enum fsm_qmp_cmd cmd, bool executes);
void sim_check_lhb_exec(struct sim_world *w, unsigned node, unsigned v,
			const struct sim_cmd *c);
void sim_check_persist(struct sim_world *w, unsigned node, unsigned v,
		       const struct fsm_persist *rec);
void sim_check_ack(struct sim_world *w, unsigned node, unsigned v,
		   const struct fsm_proposal *p);
void sim_check_end(struct sim_world *w);
void sim_release(struct sim_world *w);
void sim_disturb_update(struct sim_world *w);

#endif
