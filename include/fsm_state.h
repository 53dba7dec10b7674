/*
 * fsm_state.h: layout of struct fsm, shared by the fsm_*.c files and the
 * audit/status builders.  Callers outside the fsm module use only fsm.h.
 * Nothing here does I/O.
 */
#ifndef COLO_ARBITER_FSM_STATE_H
#define COLO_ARBITER_FSM_STATE_H

#include "fsm.h"

struct fsm_node {
	bool used;
	uint32_t nodeid;
	bool in_ring;           /* in the last totem confchg node list */
	bool arb_member;        /* its arbiter is in the CPG group */
	uint32_t arb_pid;
	int64_t arb_gone_mono;  /* since when its arbiter is away (rule 5) */
	bool nodedown_seen;     /* edge: only for LEVEL_TRIGGERED_LOSS off */
	int64_t last_alive_mono;
	int64_t last_alive_wall_ms;
	bool lost;              /* absent from the current ring (level) */
	bool lost_gated;        /* ... and the gate has been open since */
	int64_t lost_since_mono; /* when first absent from a gated ring (H4, A4) */
	bool fence_requested;   /* by this arbiter, for this loss */
	bool fence_pending;     /* a fence is in progress (here or reported) */
	uint32_t fence_from;    /* slots of the arbiters that reported it pending */
	bool fence_ok;          /* a success was reported ... */
	int64_t fence_wall_s;   /* ... at this fencer time */
	bool synced;            /* its SYNC_DONE seen since the last join */
};

enum fsm_seq_kind {
	FSM_SEQ_NONE,
	FSM_SEQ_SOLO,     /* primary goes solo (rules 1, 3) */
	FSM_SEQ_TAKEOVER, /* secondary fails over (rule 2) */
	FSM_SEQ_RESUME,   /* frozen solo side resumes (M3) */
	FSM_SEQ_COLO,     /* record a protected pair as a COLO epoch */
	FSM_SEQ_FREEZE,   /* rule 4 */
	FSM_SEQ_KILL,     /* stale or unconfirmed side */
};

enum fsm_phase {
	FSM_PH_IDLE,
	FSM_PH_YANK,
	FSM_PH_COMMIT,        /* proposal out, waiting for acks or fence */
	FSM_PH_PERSIST_COMMIT,
	FSM_PH_PRE,
	FSM_PH_LHB,
	FSM_PH_POST,
	FSM_PH_QCOLO,
	FSM_PH_QSTATUS,
	FSM_PH_CONT,
	FSM_PH_DONE,
	FSM_PH_RECONNECT,     /* NOT_DELIVERED: wait, then query and resend */
	FSM_PH_FZ_WAIT_FO,    /* failover in flight: poll until mode none */
	FSM_PH_FZ_PERSIST,
	FSM_PH_FZ_YANK,
	FSM_PH_FZ_STOP,
	FSM_PH_FZ_QSTATUS,
	FSM_PH_KILLED,
};

#define FSM_VM_CHUNK 16 /* slots per allocation of the VM table */

struct fsm_prop_track {
	bool used;
	struct fsm_proposal prop;
	uint32_t ackers[FSM_MAX_NODES];
	unsigned n_ack;
	bool nacked;
};

/* room for a COLO pair's yank set in the VM itself: QEMU 7.2's recorded
 * one (six chardevs, the NBD block node, the migration) takes 141 bytes */
#define FSM_YANK_INLINE 160

struct fsm_vm {
	bool used;
	uint32_t slot;         /* its index in the table: tags and timers name it */
	uint32_t hash;         /* fsm_name_hash(name) */
	bool start_new;        /* created by the START being applied */
	char name[FSM_NAME_MAX];
	bool local;            /* a QEMU side of v runs here */
	uint32_t peer;
	unsigned n_pre, n_post;
	struct fsm_persist p;  /* as last handed to PERSIST (or loaded) */
	/* local QEMU facts */
	struct fsm_side_report q;
	bool q_colo_known, q_status_known;
	unsigned n_yank;
	/* n_yank NUL-terminated names back to back, in yank_in when they fit
	 * (yank NULL), else on the heap: a fixed array of FSM_YANK_MAX names
	 * was 640 bytes a VM, and a block of its own, made amid the probes of
	 * hundreds of monitors, kept a heap page resident for each few VMs */
	char *yank;
	char yank_in[FSM_YANK_INLINE];
	bool inst_named;       /* local instance named by some epoch ... */
	uint64_t inst_named_n; /* ... last at this n */
	bool colo_seen;        /* local S seen in COLO at epoch colo_seen_n */
	uint64_t colo_seen_n;
	/* peer side as reported */
	bool peer_rep_valid;
	struct fsm_side_report peer_rep;
	struct fsm_epoch peer_epoch;
	/* proposals out of the current n, counted from delivered acks */
	/* FSM_MAX_PROPOSALS entries while a transition out of n is being
	 * counted, else NULL (608 bytes a VM otherwise, nearly always unused) */
	struct fsm_prop_track *tr;
	/* own proposal */
	bool prop_active;
	struct fsm_proposal prop;
	int64_t prop_since;
	/* pending ack awaiting persistence */
	bool ack_pending;
	struct fsm_proposal ack_prop;
	uint64_t ack_persist_seq;
	uint64_t seq_persist_seq; /* sequence waits for this write */
	uint64_t persist_seq;  /* last PERSIST issued */
	/* last report multicast, to announce changes only (M5) */
	bool sent_valid;
	struct fsm_side_report last_sent;
	struct fsm_epoch last_sent_epoch;
	bool admin_force;
	bool cleanup_failed;   /* M6: a post command failed */
	int64_t poll_due;
	/* sequence */
	enum fsm_seq_kind seq;
	enum fsm_phase ph;
	enum fsm_phase resume_ph; /* after RECONNECT */
	unsigned idx;
	bool cmd_pending;
	struct fsm_tag tag;
	enum fsm_qmp_cmd cmd;
	bool failover_inflight;
	bool resent_lhb;
	unsigned posts_out;    /* post-failover commands written, unanswered:
				* tags vm->tag.seq - posts_out + 1 .. tag.seq */
	unsigned pres_out;     /* pre-failover commands written, unanswered:
				* tags pre_seq_next .. + pres_out - 1; the
				* x-colo-lost-heartbeat may be out behind them */
	uint64_t pre_seq_next;
	bool commit_early;     /* T committed, E(v) persisting while the yank or
				* the pre-failover commands are out ... */
	bool commit_durable;   /* ... and persisted since: the failover may go */
	int64_t seq_deadline;  /* freeze: SFT; others: commit timeout */
	const char *rule;      /* rule of the running sequence */
	/* status */
	enum fsm_vm_status status;
	uint32_t where;
	const char *why;
	int64_t wake_due;
	uint64_t eval_gen;     /* inputs_gen when last re-derived; 0: due */
	uint64_t eval_step;    /* the step that last re-derived it */
	bool pend;             /* in fsm.pend: its last re-derivation changed it */
	int64_t retry_after;   /* a refused proposal is retried after P */
};

/* What a VM's decision reads besides its own fields (and the clock, whose
 * deadlines arm_wake() turns into wake times): a VM whose own fields and
 * these are unchanged since its last re-derivation is skipped (its
 * decision would be the same no-op).  Nodes' last-alive times move with
 * every peer message; decisions read them only through the fence proof,
 * kept here instead. */
struct fsm_inputs {
	bool started, have_totem, have_quorum, quorate, ipc_cpg, ipc_quorum;
	bool in_cpg, cpg_ahead, live_ok, live_in_rc, tick_armed, barrier_pending;
	struct fsm_ring_id rc, rq;
	int64_t live_sent, last_state_mono;
	const char *gate, *freeze;
	struct fsm_node nodes[FSM_MAX_NODES]; /* last_alive_* zeroed */
	bool fence_proof[FSM_MAX_NODES];
};

struct fsm {
	struct fsm_config cfg;
	bool started;          /* START seen (persisted epochs loaded) */
	int64_t start_mono, start_wall_ms;
	int64_t now_mono, now_wall_ms;
	/* cluster view */
	bool have_totem;
	struct fsm_ring_id rc;
	bool have_quorum;
	bool quorate;
	struct fsm_ring_id rq;
	bool ipc_cpg, ipc_quorum;
	bool in_cpg;           /* we are a member of our own group */
	bool cpg_ahead;        /* a CPG confchg whose totem confchg is due */
	/* own liveness */
	uint64_t live_seq;
	bool live_ok;          /* a message was delivered ... */
	int64_t live_sent;     /* ... that was sent at this time */
	int64_t live_out;      /* the newest one sent, at this time */
	bool live_in_rc;       /* ... in the current ring */
	bool tick_armed;
	/* barrier */
	bool barrier_pending;
	int64_t last_state_mono; /* the periodic round's slice 0 went out */
	unsigned state_slice;  /* the periodic round's next slice */
	struct fsm_node nodes[FSM_MAX_NODES];
	/* nodes[n_node_slots..] were never used and are zero: the inputs,
	 * taken after every re-derived VM, copy and compare only up to here */
	unsigned n_node_slots;
	/* VM table (fsm_table.c): chunks of FSM_VM_CHUNK slots, allocated on
	 * first use and never moved (struct fsm_vm * is held across calls
	 * that create VMs).  Every loop over VMs stops at n_slots. */
	struct fsm_vm *vm_chunk[FSM_MAX_VMS / FSM_VM_CHUNK];
	unsigned n_slots;      /* high-water mark: slots above are unused */
	unsigned n_vms;        /* slots in use */
	unsigned free_lo;      /* no free slot below this one */
	/* name -> slot + 1 (0: empty cell): open addressing, linear probing,
	 * deletion by backward shift (no tombstones); at most half full */
	uint32_t *vm_index;
	unsigned vm_index_cap; /* 0 or a power of two */
	uint64_t cmd_seq;
	uint64_t persist_seq;
	/* incremental re-derivation: inputs as of inputs_gen */
	struct fsm_inputs inputs;
	uint64_t inputs_gen;   /* starts at 1: a new VM (eval_gen 0) is due */
	uint64_t step_no;
	int64_t min_wake;      /* no VM's wake_due is earlier (0: unknown) */
	unsigned *pend;        /* slots of VMs due at the next step (eval_gen 0) */
	unsigned n_pend, pend_cap;
	bool pend_lost;        /* out of memory for pend: scan every VM */
	uint64_t skip_misses;  /* cfg.check_skips */
	uint64_t rederived;    /* VM decisions re-derived, for benchmarks */
	struct fsm_vm vm_before; /* the VM being re-derived, as it was */
	/* audit of the current step */
	json_t *step_rules;
	const struct fsm_event *ev;
};

/* Bounded copy of a NUL-terminated name (no stdio in the pure core). */
static inline void fsm_name_copy(char *dst, const char *src, unsigned size)
{
	unsigned i = 0;

	for (; src && i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

/* The VM in table slot `slot` (< f->n_slots; check ->used). */
static inline struct fsm_vm *fsm_vm_at(const struct fsm *f, unsigned slot)
{
	return &f->vm_chunk[slot / FSM_VM_CHUNK][slot % FSM_VM_CHUNK];
}

static inline bool fsm_mech(const struct fsm *f, enum fsm_mechanism m)
{
	return !(f->cfg.test_disable & (uint32_t)m);
}

/* fsm.c: helpers shared by the fsm_*.c files */
struct fsm_action *fsm_act(struct fsm *f, struct fsm_actions *out,
			   enum fsm_action_kind kind);
void fsm_send(struct fsm *f, struct fsm_actions *out, const struct fsm_msg *m);
struct fsm_node *fsm_node_get(struct fsm *f, uint32_t nodeid, bool create);
const char *fsm_gate_reason(const struct fsm *f);
const char *fsm_freeze_reason(const struct fsm *f);
bool fsm_node_lost(const struct fsm *f, uint32_t nodeid);
bool fsm_fence_proof(const struct fsm *f, uint32_t nodeid);
bool fsm_fence_pending(const struct fsm *f, uint32_t nodeid);
void fsm_persist(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);
void fsm_propose(struct fsm *f, struct fsm_vm *vm, const struct fsm_epoch *to,
		 struct fsm_actions *out);
void fsm_audit(struct fsm *f, struct fsm_vm *vm, const char *rule,
	       const char *decision, struct fsm_actions *out, unsigned first);
void fsm_request_fence(struct fsm *f, uint32_t nodeid, struct fsm_actions *out);
int64_t fsm_self_wait(const struct fsm *f);
bool fsm_epoch_names(const struct fsm_epoch *e, uint32_t node,
		     const struct fsm_instance *inst);
bool fsm_inst_eq(const struct fsm_instance *a, const struct fsm_instance *b);
void fsm_node_alive(struct fsm *f, uint32_t nodeid);

/* fsm_table.c: the VM table and its name index */
uint32_t fsm_name_hash(const char *name);
/* NULL if unknown, or if name has no NUL within FSM_NAME_MAX */
struct fsm_vm *fsm_vm_find(const struct fsm *f, const char *name);
/* A new VM for a valid name not in the table: 0, -ENOSPC (FSM_MAX_VMS),
 * -ENOMEM; the table is unchanged on error. */
int fsm_vm_create(struct fsm *f, const char *name, struct fsm_vm **vmp);
/* Ends the counting of proposals out of the current n (frees the tracks). */
void fsm_tracks_clear(struct fsm_vm *vm);
/* Replaces v's yank list by a copy of names[0..n) (n 0: none); -ENOMEM
 * leaves the old list.  fsm_vm_yank_list() is the list itself (n_yank
 * names back to back, NUL after each), fsm_vm_yank_names() unpacks it. */
int fsm_vm_set_yank(struct fsm_vm *vm, const char (*names)[FSM_YANK_NAME_MAX], unsigned n);
const char *fsm_vm_yank_list(const struct fsm_vm *vm);
void fsm_vm_yank_names(const struct fsm_vm *vm, char (*names)[FSM_YANK_NAME_MAX]);
void fsm_vm_remove(struct fsm *f, struct fsm_vm *vm);
void fsm_table_free(struct fsm *f);

/* fsm_epoch.c: the epoch protocol */
void fsm_epoch_adopt(struct fsm *f, struct fsm_vm *vm,
		     const struct fsm_epoch *e, struct fsm_actions *out);
void fsm_epoch_send_ack(struct fsm *f, struct fsm_vm *vm,
			const struct fsm_proposal *p, enum fsm_msg_kind kind,
			struct fsm_actions *out);
void fsm_epoch_on_propose(struct fsm *f, struct fsm_vm *vm, uint32_t from,
			  const struct fsm_proposal *p, struct fsm_actions *out);
void fsm_epoch_on_ack(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		      const struct fsm_proposal *p, struct fsm_actions *out);
void fsm_epoch_on_nack(struct fsm *f, struct fsm_vm *vm, uint32_t from,
		       const struct fsm_msg *m, struct fsm_actions *out);
/* The local arbiter's own ACK of v's active proposal has been delivered
 * (it was durable, and no other transition out of n was acked here). */
bool fsm_epoch_own_ack_in(const struct fsm *f, const struct fsm_vm *vm);

/* fsm_vm.c: per-VM rules and command sequences */
void fsm_vm_eval(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);
void fsm_vm_result(struct fsm *f, struct fsm_vm *vm, const struct fsm_event *ev,
		   struct fsm_actions *out);
void fsm_vm_persisted(struct fsm *f, struct fsm_vm *vm, uint64_t seq,
		      struct fsm_actions *out);
void fsm_vm_committed(struct fsm *f, struct fsm_vm *vm, struct fsm_actions *out);
void fsm_vm_abort(struct fsm *f, struct fsm_vm *vm, const char *why,
		  struct fsm_actions *out);
void fsm_vm_report(const struct fsm *f, const struct fsm_vm *vm,
		   struct fsm_msg *m);
/* the local side as reported (into zeroed memory: reports are memcmp'd) */
void fsm_vm_side(const struct fsm_vm *vm, struct fsm_side_report *side);
void fsm_vm_new_instance(struct fsm *f, struct fsm_vm *vm,
			 const struct fsm_instance *inst, struct fsm_actions *out);
void fsm_vm_set_status(struct fsm *f, struct fsm_vm *vm, enum fsm_vm_status st,
		       uint32_t where, const char *why, struct fsm_actions *out);
/* a local side that rule 4 would still have to stop (or one not read yet) */
bool fsm_vm_watchdog_hold(const struct fsm *f, const struct fsm_vm *vm);

/* audit_text.c: the record of one decision (malloc'd text, NULL without
 * memory) */
char *audit_record_text(const struct fsm *f, const struct fsm_event *ev,
			const struct fsm_vm *vm, const char *rule, const char *decision,
			const struct fsm_actions *out, unsigned first_action);

/* audit.c: the status snapshot */
json_t *audit_status(const struct fsm *f);
json_t *audit_status_cluster(const struct fsm *f);
json_t *audit_status_vm(const struct fsm_vm *vm);

#endif
