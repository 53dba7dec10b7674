/*
 * fsm.h: the pure failover decision core of colo-arbiter (issue 3).
 *
 * One struct fsm per node.  fsm_step() takes one event (with the time inside
 * it) and appends actions; it does no I/O, reads no clock, keeps no globals
 * and uses no randomness, so the daemon and the simulator drive the very same
 * code.  Events, actions and peer messages are plain C structs: a simulator
 * can queue, drop, duplicate and reorder them; the daemon serialises peer
 * messages (struct fsm_msg) itself.  See doc/fsm.md for the rules and the
 * epoch protocol, with their SAFETY.md references.
 */
#ifndef COLO_ARBITER_FSM_H
#define COLO_ARBITER_FSM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define FSM_MAX_NODES 16
/* Hard cap on VMs one fsm tracks (its own and every VM it hears of).  The
 * table costs memory and time only for the VMs in use (doc/fsm.md). */
#define FSM_MAX_VMS 4096
#define FSM_NAME_MAX 64
#define FSM_YANK_MAX 16
#define FSM_YANK_NAME_MAX 40
/* Bound of one action list (struct fsm_actions grows up to it): 32 per VM
 * at FSM_MAX_VMS, where one node loss needs fewer than 10, so a bug that
 * loops shows as `overflow` instead of eating the host's memory. */
#define FSM_MAX_ACTIONS (1u << 17)
#define FSM_MAX_PROPOSALS 4

/* ---- configuration ---------------------------------------------------- */

enum fsm_fence_policy {
	FSM_FENCE_PACEMAKER,
	FSM_FENCE_SELF,
	FSM_FENCE_NONE, /* tests and demos only: logged as unsafe */
};

/* What the losing side does with solo sides when its gate closes (rule 4). */
enum fsm_noquorum_policy {
	FSM_NOQUORUM_FREEZE, /* yank + stop, confirmed by query-status, else kill */
	FSM_NOQUORUM_KILL,   /* SIGKILL the solo side at once */
};

/*
 * One bit per mechanism of SAFETY.md.  Setting a bit in
 * fsm_config.test_disable switches that mechanism off, so a test (or the
 * simulator of issue 4) can show that the schedule it closes really ends
 * unsafe without it.  Production configs must leave test_disable at 0.
 */
enum fsm_mechanism {
	FSM_MECH_QUORUM_GATE = 1u << 0,      /* A1: quorate required */
	FSM_MECH_RING_ID_AGREEMENT = 1u << 1, /* A1: Rq == Rc */
	FSM_MECH_FENCE_WAIT = 1u << 2,       /* rule 2: fence proof / self wait */
	FSM_MECH_PROCDOWN_GUARD = 1u << 3,   /* rule 5, inv. 8 */
	FSM_MECH_OWN_LIVENESS = 1u << 4,     /* own liveness deadline B */
	FSM_MECH_EPOCH_CAS = 1u << 5,        /* ack only the first T out of n */
	FSM_MECH_ELIGIBILITY = 1u << 6,      /* C2: S current at E(v) */
	FSM_MECH_FREEZE_CONFIRM = 1u << 7,   /* H2/A5 */
	FSM_MECH_YANK_FIRST = 1u << 8,       /* H5 */
	FSM_MECH_BARRIER = 1u << 9,          /* state-sync barrier */
	FSM_MECH_LEVEL_TRIGGERED_LOSS = 1u << 10, /* H4 */
	FSM_MECH_FENCE_PROOF_AGE = 1u << 11, /* H3: fence newer than last-alive */
	FSM_MECH_FENCE_INCARNATION = 1u << 12, /* H3/C2c: pending fence blocks */
	FSM_MECH_ACTION_TAGS = 1u << 13,     /* M2: (v, epoch, instance) tags */
	FSM_MECH_FREEZE_SOLO_ONLY = 1u << 14, /* H1/A9: COLO primaries not frozen */
	FSM_MECH_TWO_NODE = 1u << 15,        /* C3: votes of expected, fence first */
	FSM_MECH_STALE_KILL = 1u << 16,      /* C1/A8: stale side killed */
	FSM_MECH_PERSIST_BEFORE_ACK = 1u << 17, /* acks only after persist done */
	FSM_MECH_FROZEN_GUARD = 1u << 18,    /* A8: frozen resumes only by commit */
	FSM_MECH_ARB_TIMEOUT = 1u << 19,     /* rule 5/H4c: T_arb then fence */
	FSM_MECH_RESUME = 1u << 20,          /* M3: committed resume of a frozen solo */
	FSM_MECH_PERIODIC_STATE = 1u << 21,  /* M5: periodic idempotent reports */
};
#define FSM_MECH_COUNT 22
const char *fsm_mechanism_to_str(enum fsm_mechanism m);

struct fsm_config {
	uint32_t local_nodeid;
	enum fsm_fence_policy fence_policy;
	enum fsm_noquorum_policy no_quorum;
	bool two_node;            /* votequorum two_node: both halves quorate */
	bool last_man_standing;   /* treated like two_node (SAFETY C3) */
	uint32_t expected_votes;  /* one vote per node */
	int64_t liveness_period_ms;  /* P */
	int64_t liveness_bound_ms;   /* B >= D_max + P + jitter (H1) */
	int64_t self_fence_timeout_ms; /* SFT_all: all local sides (M7) */
	int64_t self_wait_ms;     /* W of A4; 0: P + B + SFT + kill + margin */
	int64_t kill_time_ms;
	int64_t t_arb_ms;         /* rule 5: peer arbiter away while impaired */
	int64_t skew_max_s;       /* H3: wall-clock skew between nodes */
	int64_t state_period_ms;  /* M5: periodic per-VM state reports */
	int64_t commit_timeout_ms; /* proposal not committed: re-derive */
	int64_t cmd_timeout_ms;   /* informational for the daemon */
	bool freeze_colo_primaries; /* H1: VM has I/O compare does not gate */
	bool audit;               /* write audit records */
	uint32_t test_disable;    /* bitmask of enum fsm_mechanism */
	/* tests: also re-derive the VMs a step skips (their inputs did not
	 * change) and count, in fsm_skip_misses(), those whose decision would
	 * have acted or changed anything; the skipped VM is left as it was */
	bool check_skips;
};

/* Fills defaults (token 1000 lab figures).  Caller sets nodeid/votes. */
void fsm_config_defaults(struct fsm_config *cfg);
/* 0, or -EINVAL with *why set: e.g. `self` under two_node (C3). */
int fsm_config_check(const struct fsm_config *cfg, const char **why);

/* ---- shared plain data ------------------------------------------------ */

struct fsm_ring_id {
	uint32_t nodeid;
	uint64_t seq;
};

/* A QEMU process incarnation: pid plus start time (from /proc or pidfd). */
struct fsm_instance {
	uint32_t pid;
	uint64_t start;
};

enum fsm_epoch_kind {
	FSM_EPOCH_NONE, /* n == 0: never established */
	FSM_EPOCH_COLO, /* holder = primary, secondary named too */
	FSM_EPOCH_SOLO, /* holder runs alone */
};
const char *fsm_epoch_kind_to_str(enum fsm_epoch_kind k);

/* E(v) = (n, kind, holder, instance) of SAFETY §0, plus the COLO secondary. */
struct fsm_epoch {
	uint64_t n;
	enum fsm_epoch_kind kind;
	uint32_t holder;
	struct fsm_instance hinst;
	uint32_t secondary;          /* COLO only */
	struct fsm_instance sinst;   /* COLO only */
};

/* T(v, n -> n+1): identified by (from_n, proposer, to). */
struct fsm_proposal {
	uint64_t from_n;
	uint32_t proposer;
	struct fsm_epoch to;
};

/* What survives a restart, per VM.  The caller writes it durably. */
struct fsm_persist {
	char vm[FSM_NAME_MAX];
	struct fsm_epoch epoch;
	bool acked;                  /* acked.from_n is the last n acked */
	struct fsm_proposal acked_prop;
	uint64_t frozen_n;           /* FROZEN(v, n); 0: not frozen */
	bool frozen;
	struct fsm_instance frozen_inst; /* the instance that was frozen */
	bool named;                  /* the local QEMU instance ... */
	struct fsm_instance named_inst;
	uint64_t named_n;            /* ... was last named by E(v) at named_n */
	/* the local instance gave COLO_EXIT{error} and has not entered COLO
	 * since: after a replication reset QEMU's queries still show both
	 * sides in COLO, so the event is the only witness of the break */
	bool broke;
	struct fsm_instance broke_inst;
};

enum fsm_colo_mode {
	FSM_MODE_UNKNOWN,
	FSM_MODE_NONE,
	FSM_MODE_PRIMARY,
	FSM_MODE_SECONDARY,
};
const char *fsm_colo_mode_to_str(enum fsm_colo_mode m);

enum fsm_colo_reason {
	FSM_REASON_NONE,
	FSM_REASON_REQUEST,
	FSM_REASON_ERROR,
	FSM_REASON_PROCESSING,
};
const char *fsm_colo_reason_to_str(enum fsm_colo_reason r);

enum fsm_run_state {
	FSM_RUN_UNKNOWN,
	FSM_RUN_RUNNING,
	FSM_RUN_PAUSED,
};

enum fsm_mig_state {
	FSM_MIG_UNKNOWN,
	FSM_MIG_NONE,
	FSM_MIG_ACTIVE,
	FSM_MIG_COLO,
	FSM_MIG_COMPLETED,
	FSM_MIG_FAILED,
};
const char *fsm_run_state_to_str(enum fsm_run_state r);
const char *fsm_mig_state_to_str(enum fsm_mig_state m);
const char *fsm_fence_policy_to_str(enum fsm_fence_policy p);

/* One side as its arbiter reports it (M5, A6, A7). */
struct fsm_side_report {
	bool present;               /* a QEMU for v is configured on that node */
	bool connected;             /* OOB monitor up */
	bool alive;                 /* false only on pidfd exit (A7) */
	struct fsm_instance inst;
	enum fsm_colo_mode mode;
	enum fsm_colo_mode last_mode;
	enum fsm_colo_reason reason;
	enum fsm_run_state run;
	enum fsm_mig_state mig;
	bool colo_exit_seen;        /* COLO_EXIT since this side entered COLO */
	bool frozen;
	bool failover_inflight;
};

/* ---- peer messages (CPG) --------------------------------------------- */

enum fsm_msg_kind {
	FSM_MSG_LIVENESS,   /* own liveness echo (own messages come back) */
	FSM_MSG_STATE,      /* per-VM state report (M5), carries E(v) */
	FSM_MSG_SYNC_DONE,  /* all of the sender's reports for this view sent */
	FSM_MSG_PROPOSE,    /* T(v, n -> n+1) */
	FSM_MSG_ACK,        /* persisted first ack out of n */
	FSM_MSG_NACK,       /* already acked another T out of n, or behind */
	FSM_MSG_FENCING,    /* a fence of `node` is pending / resolved (H3) */
};
const char *fsm_msg_kind_to_str(enum fsm_msg_kind k);

struct fsm_msg {
	enum fsm_msg_kind kind;
	struct fsm_ring_id ring;     /* sender's totem ring when sent */
	char vm[FSM_NAME_MAX];       /* STATE, PROPOSE, ACK, NACK */
	struct fsm_epoch epoch;      /* STATE: sender's E(v) */
	struct fsm_proposal prop;    /* PROPOSE, ACK, NACK */
	struct fsm_side_report side; /* STATE: sender's local side of v */
	uint64_t seq;                /* LIVENESS */
	int64_t sent_mono_ms;        /* LIVENESS */
	uint32_t node;               /* FENCING */
	bool pending;                /* FENCING */
};

/* ---- events ----------------------------------------------------------- */

enum fsm_cpg_reason {
	FSM_CPG_JOIN = 1,
	FSM_CPG_LEAVE = 2,
	FSM_CPG_NODEDOWN = 3,
	FSM_CPG_NODEUP = 4,
	FSM_CPG_PROCDOWN = 5,
};

struct fsm_cpg_member {
	uint32_t nodeid;
	uint32_t pid;
	enum fsm_cpg_reason reason; /* for left/joined lists */
};

enum fsm_qmp_cmd {
	FSM_QMP_YANK,              /* exec-oob yank of the VM's yank set */
	FSM_QMP_PRE,               /* per-VM pre-failover list, item `index` */
	FSM_QMP_LOST_HEARTBEAT,    /* x-colo-lost-heartbeat */
	FSM_QMP_POST,              /* per-VM post-failover list, item `index` */
	FSM_QMP_QUERY_COLO_STATUS,
	FSM_QMP_QUERY_STATUS,
	FSM_QMP_QUERY_MIGRATE,
	FSM_QMP_CONT,
	FSM_QMP_STOP,
	FSM_QMP_QUIT,
};
const char *fsm_qmp_cmd_to_str(enum fsm_qmp_cmd c);

/* Every command carries this tag; results come back with it (M2). */
struct fsm_tag {
	uint32_t vm;       /* VM slot */
	uint64_t epoch;    /* E(v).n when sent */
	struct fsm_instance inst;
	uint64_t seq;      /* per-fsm command counter */
};

enum fsm_cmd_result {
	FSM_RES_RETURN,
	FSM_RES_ERROR,         /* e.g. GenericError: not in COLO (resend safe) */
	FSM_RES_NOT_DELIVERED, /* connection closed before the reply */
	FSM_RES_TIMEOUT,
};
const char *fsm_cmd_result_to_str(enum fsm_cmd_result r);

enum fsm_timer_id {
	FSM_TIMER_LIVENESS_TICK,     /* every P: send liveness, maybe state */
	FSM_TIMER_LIVENESS_DEADLINE, /* B after the last delivered own message */
	FSM_TIMER_VM_WAKE,           /* re-evaluate one VM at a due time */
};

enum fsm_admin_kind {
	FSM_ADMIN_VM_ADD,      /* a local QEMU side of v, peer on peer_node */
	FSM_ADMIN_VM_REMOVE,
	FSM_ADMIN_FAILOVER,    /* manual: make the local side solo (gated) */
	FSM_ADMIN_PROMOTE,     /* OCF promote: same path as failover */
	FSM_ADMIN_DEMOTE,      /* OCF demote: freeze the local solo side */
};

enum fsm_event_kind {
	FSM_EV_START,         /* persisted records loaded (rule 6) */
	FSM_EV_CPG_CONFCHG,
	FSM_EV_TOTEM_CONFCHG,
	FSM_EV_QUORUM,
	FSM_EV_IPC,           /* handle lost / restored (A2) */
	FSM_EV_PEER_MSG,
	FSM_EV_QMP_CONNECTED, /* OOB monitor up for instance */
	FSM_EV_QMP_LOST,      /* monitor hang-up: NOT "QEMU gone" (A7) */
	FSM_EV_QMP_COLO_EXIT,
	FSM_EV_QMP_COLO_STATUS,
	FSM_EV_QMP_STATUS,
	FSM_EV_QMP_MIGRATE,
	FSM_EV_QMP_RESUME,    /* RESUME event: a hint only */
	FSM_EV_QMP_STOP,      /* STOP event: never freeze confirmation (A5) */
	FSM_EV_QMP_YANK_SET,
	FSM_EV_QMP_RESULT,
	FSM_EV_QEMU_EXITED,   /* pidfd exit: the only "QEMU gone" (A7) */
	FSM_EV_PERSIST_DONE,
	FSM_EV_FENCE_RESULT,
	FSM_EV_TIMER,
	FSM_EV_ADMIN,
};
const char *fsm_event_kind_to_str(enum fsm_event_kind k);

struct fsm_event {
	enum fsm_event_kind kind;
	int64_t now_mono_ms;
	int64_t now_wall_ms; /* local CLOCK_REALTIME in ms (H3 needs ceil()) */
	union {
		struct {
			unsigned n;
			const struct fsm_persist *recs;
		} start;
		struct {
			unsigned n_members, n_left, n_joined;
			struct fsm_cpg_member members[FSM_MAX_NODES];
			struct fsm_cpg_member left[FSM_MAX_NODES];
			struct fsm_cpg_member joined[FSM_MAX_NODES];
		} cpg;
		struct {
			struct fsm_ring_id ring;
			unsigned n_nodes;
			uint32_t nodes[FSM_MAX_NODES];
		} totem;
		struct {
			bool quorate;
			struct fsm_ring_id ring;
			unsigned n_nodes;
			uint32_t nodes[FSM_MAX_NODES];
		} quorum;
		struct {
			bool cpg_ok;
			bool quorum_ok;
		} ipc;
		struct {
			uint32_t from;
			struct fsm_msg msg;
		} peer;
		struct {
			char vm[FSM_NAME_MAX];
			struct fsm_instance inst;
			enum fsm_colo_mode mode, last_mode;
			enum fsm_colo_reason reason;
			enum fsm_run_state run;
			enum fsm_mig_state mig;
			unsigned n_yank;
			char yank[FSM_YANK_MAX][FSM_YANK_NAME_MAX];
			/* a query reply carries the tag of the command */
			bool tagged;
			struct fsm_tag tag;
		} qmp;
		struct {
			struct fsm_tag tag;
			enum fsm_qmp_cmd cmd;
			enum fsm_cmd_result result;
		} result;
		struct {
			char vm[FSM_NAME_MAX];
			uint64_t seq;
		} persisted;
		struct {
			uint32_t nodeid;
			bool success;      /* timeout and -ENODEV are failures */
			int64_t fence_wall_s; /* stonith_api_time: fencer's time_t */
		} fence;
		struct {
			enum fsm_timer_id id;
			uint32_t vm;
		} timer;
		struct {
			enum fsm_admin_kind kind;
			char vm[FSM_NAME_MAX];
			uint32_t peer_node;
			unsigned n_pre, n_post;
			bool force;
		} admin;
	} u;
};

/* ---- actions ---------------------------------------------------------- */

enum fsm_action_kind {
	FSM_ACT_QMP,          /* command to a local VM's QEMU */
	FSM_ACT_SEND,         /* multicast to the CPG group (self included) */
	FSM_ACT_PERSIST,      /* write durably, then FSM_EV_PERSIST_DONE */
	FSM_ACT_FENCE,        /* request fencing of nodeid (in a worker: H3) */
	FSM_ACT_TIMER_START,
	FSM_ACT_TIMER_CANCEL,
	FSM_ACT_KILL,         /* SIGKILL the QEMU instance */
	FSM_ACT_STATUS,       /* per-VM status changed */
	FSM_ACT_AUDIT,        /* one decision record (text), freed by fsm_actions_reset */
};
const char *fsm_action_kind_to_str(enum fsm_action_kind k);

enum fsm_vm_status {
	FSM_ST_UNKNOWN,
	FSM_ST_PROTECTED,     /* COLO epoch committed, both sides in COLO */
	FSM_ST_DEGRADED,      /* COLO not (yet) protected */
	FSM_ST_FAILING_OVER,
	FSM_ST_SOLO,          /* local side confirmed running alone */
	FSM_ST_FREEZING,
	FSM_ST_FROZEN,
	FSM_ST_STALE,         /* local side behind E(v): killed */
	FSM_ST_STALLED,       /* no eligible side here: see `where` */
	FSM_ST_WAITING,       /* waiting for fence / self wait / commit */
};
const char *fsm_vm_status_to_str(enum fsm_vm_status s);

/*
 * A VM's last decision, the summary of its audit record that status shows
 * ("last_decision").  Kept per VM as these fields, not as text: 500 VMs'
 * texts were 140 KiB of heap, reallocated at every decision.
 */
struct fsm_last_decision {
	int64_t mono_ms, wall_ms;
	uint32_t node;
	const char *event, *rule, *decision; /* static strings */
	struct fsm_epoch epoch;
};

/* The summary as one compact JSON object (malloc'd; NULL: out of memory):
 * {"mono_ms","wall_ms","node","vm","event","rule","decision","epoch"}. */
char *fsm_last_decision_text(const struct fsm_last_decision *l, const char *vm);

struct fsm_action {
	enum fsm_action_kind kind;
	union {
		struct {
			char vm[FSM_NAME_MAX];
			enum fsm_qmp_cmd cmd;
			unsigned index;   /* PRE/POST list item */
			bool oob;
			struct fsm_tag tag;
			/* YANK: n_yank instance names back to back, each ending in
			 * NUL, in the VM's own list: valid until the next
			 * fsm_step() or fsm_free(), which the daemon's run of a
			 * step's actions never outlives.  Sixteen fixed slots made
			 * every action 776 bytes: 390 KiB for a state round of 500
			 * VMs, megabytes for their failover */
			unsigned n_yank;
			const char *yank;
		} qmp;
		struct fsm_msg send;
		struct {
			struct fsm_persist rec;
			uint64_t seq;
		} persist;
		struct {
			uint32_t nodeid;
		} fence;
		struct {
			enum fsm_timer_id id;
			uint32_t vm;
			int64_t due_mono_ms;
		} timer;
		struct {
			char vm[FSM_NAME_MAX];
			struct fsm_instance inst;
		} kill;
		struct {
			char vm[FSM_NAME_MAX];
			enum fsm_vm_status status;
			uint32_t where;    /* node holding the only current copy */
			const char *why;   /* static string */
		} status;
		struct {
			char *text;  /* the record: one compact JSON object */
			bool has_last; /* a VM's record: last is its summary */
			struct fsm_last_decision last;
			const char *rule, *decision, *event; /* static strings */
			char vm[FSM_NAME_MAX]; /* "" for a record about the cluster */
		} audit;
	} u;
};

/*
 * The actions of one or more steps.  A zeroed struct is an empty list; the
 * array grows (doubling) as fsm_step appends, so one step may emit any
 * number of actions up to FSM_MAX_ACTIONS.  `a` may move when a step
 * appends: keep indexes, not pointers, across fsm_step.
 */
struct fsm_actions {
	unsigned n;
	unsigned cap;            /* entries allocated in a */
	bool overflow;           /* actions were lost: out of memory, or
				  * FSM_MAX_ACTIONS reached (a bug) */
	struct fsm_action *a;
	struct fsm_action spill; /* written on overflow, never read */
};

/* Frees the audit texts and empties the list; keeps the capacity. */
void fsm_actions_reset(struct fsm_actions *out);
/* Reset, then frees the array (the struct itself is the caller's). */
void fsm_actions_release(struct fsm_actions *out);

/* ---- the state machine ------------------------------------------------ */

struct fsm; /* opaque; fsm_state.h has the layout for tests and status */

/* Allocates a state machine; NULL on -EINVAL (see fsm_config_check) or OOM. */
struct fsm *fsm_new(const struct fsm_config *cfg);
void fsm_free(struct fsm *f);
/* Steps that skipped a VM whose re-derivation would have acted (only with
 * cfg.check_skips; must stay 0). */
uint64_t fsm_skip_misses(const struct fsm *f);
/* VM decisions re-derived so far (benchmarks: the cost of a step). */
uint64_t fsm_rederived(const struct fsm *f);

/*
 * One event in, actions appended to *out.  Returns 0, or -EINVAL for an
 * event that makes no sense (unknown VM, bad list sizes), -ENOSPC for a new
 * VM beyond FSM_MAX_VMS, -ENOMEM if the VM table cannot grow: nothing
 * changes then.  Deterministic: the same state and event give the same actions.
 */
int fsm_step(struct fsm *f, const struct fsm_event *ev, struct fsm_actions *out);

/* The VM an event names (QMP facts, a peer message about a VM, a persisted
 * record, an admin request); NULL for the others, and for those that name
 * it by table slot (command results, wake timers). */
const char *fsm_event_vm(const struct fsm_event *ev);

/* A fact about one local QEMU (ev->u.qmp), as opposed to a command result. */
bool fsm_event_is_qmp(enum fsm_event_kind k);

/* Is the A1 gate open right now (as of the last event)? */
bool fsm_gate_open(const struct fsm *f);

/*
 * May a watchdog that resets this node `timeout_ms` after its last pet be
 * petted at now_mono?  Yes while the gate is open and a reset that far ahead
 * would still come before the own liveness deadline plus self_fence_timeout
 * plus kill_time (the latest time by which rule 4 has stopped every local
 * side that runs alone), or while no local side would need stopping.  So an
 * arbiter that dies or hangs on a node cut off from the cluster has the node
 * reset within that same bound, which `fence_policy = self` counts on.
 */
bool fsm_watchdog_may_pet(const struct fsm *f, int64_t now_mono, int64_t timeout_ms);

/* That bound: the own liveness deadline + self_fence_timeout + kill_time. */
int64_t fsm_watchdog_stop_by(const struct fsm *f);

/*
 * One tick, `period_ms` after the last, of whoever owns the watchdog device.
 * The kernel pings an active watchdog not only on a write but also when its
 * file is released without the magic close, as a crash releases it, and on
 * WDIOC_SETTIMEOUT.  So holding the device open is itself a pet deferred to
 * an unknown time: it may be held only while a ping up to a period late
 * would still be allowed.  Returns whether to pet now; *hold says whether
 * the device is to be held (opened, or kept open) after this tick, given
 * whether it is `held` now.  Releasing it is its last pet: the node resets
 * `timeout_ms` later unless a later tick holds and pets it again.
 */
bool fsm_watchdog_tick(const struct fsm *f, int64_t now_mono, int64_t timeout_ms,
		       int64_t period_ms, bool held, bool *hold);

/* The tick period for a device that resets `timeout_ms` after a pet. */
static inline int64_t fsm_watchdog_period_ms(int64_t timeout_ms, int64_t liveness_period_ms)
{
	return timeout_ms / 5 < liveness_period_ms ? timeout_ms / 5 : liveness_period_ms;
}

/* Pure snapshot for `colo-arbiterctl status --json`. New reference. */
json_t *fsm_status_json(const struct fsm *f);
/* The same in parts: without "vms", and one entry of "vms" (NULL: no such
 * VM), so that a status of hundreds of VMs costs one lookup per VM. */
json_t *fsm_status_cluster_json(const struct fsm *f);
json_t *fsm_vm_status_json(const struct fsm *f, const char *name);

#endif
