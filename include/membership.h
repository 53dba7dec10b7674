/*
 * membership.h: the daemon's view of the corosync cluster: one CPG group
 * (libcpg, CPG_MODEL_V1 with the initial totem configuration) and quorum
 * (libquorum, QUORUM_MODEL_V1), both on one libqb loop.
 *
 * One object per daemon. It never logs and has no globals: everything it
 * learns is handed to the owner as one plain struct per event (below), which
 * the daemon translates 1:1 into the decision core's inputs. Lists are fixed
 * arrays inside the event, so an event can be copied as it is.
 *
 * Connection life:
 *   DOWN --attempt ok--> UP --POLLHUP / dispatch error--> DOWN (retry)
 *   An attempt is: quorum_model_initialize, quorum_trackstart(CHANGES),
 *   cpg_model_initialize, cpg_local_get, cpg_join. Any failure finalizes
 *   whatever was opened and retries after a backoff delay (retry_min_ms,
 *   doubled per failure up to retry_max_ms; reset by a successful attempt).
 *   MEMBERSHIP_EV_IPC_UP is reported once an attempt succeeds, before any
 *   cluster event of that connection; MEMBERSHIP_EV_IPC_LOST once per loss
 *   of an UP connection. Both handles are always finalized and re-created
 *   together: libcpg/libquorum handles cannot be reused after corosync died.
 *   While DOWN the owner must act as inquorate (DESIGN.md §3). A restarted
 *   corosync reports quorate=0 for 2-3 s before it merges; that is reported
 *   as it comes: the owner decides what it means.
 *
 * Dispatch: up to 16 events per wake-up of an fd, one call of
 * CS_DISPATCH_ONE_NONBLOCKING each, stopping at the first that finds
 * nothing; the loop polls level-triggered, so the rest come on the next
 * rounds.  Messages queued back to back are thus handled in one loop turn
 * (the owner makes what they ask durable with one write), a long burst of
 * CPG messages does not starve the other sources of the loop (QMP, timers),
 * and a spurious wake-up never blocks (plain CS_DISPATCH_ONE waits without a
 * timeout in corosync 3). On POLLHUP the
 * events already queued are drained (CS_DISPATCH_ALL) before the loss is
 * reported, so nothing corosync delivered is dropped.
 *
 * Blocking: only the libcpg/libquorum IPC calls themselves (local IPC to
 * corosync: initialize, join, local_get, finalize) can wait; a corosync that
 * is alive but hung makes them wait, which the daemon's own liveness
 * deadline has to cover. Sending never waits: see membership_send().
 *
 * Gate helper: the totem ring id of a CPG totem confchg and the ring id of a
 * quorum notification are the same {representative nodeid, seq} pair, so
 * membership_ring_id_equal() tells whether quorum was computed for the ring
 * the CPG view belongs to (SAFETY.md A1: Rq == Rc).
 *
 * Re-entrancy: event callbacks may call membership_send() and
 * membership_free() (the memory is released once the callback returns).
 * They must not run the loop recursively.
 */
#ifndef COLO_ARBITER_MEMBERSHIP_H
#define COLO_ARBITER_MEMBERSHIP_H

#include <qb/qbloop.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* corosync's PROCESSOR_COUNT_MAX: no list from corosync can be longer. */
#define MEMBERSHIP_MAX_NODES 384
/* CPG_MAX_NAME_LENGTH - 1: the group name as a C string. */
#define MEMBERSHIP_GROUP_MAX 127
/* Upper bound of membership_config.max_msg_len; libcpg's atomic limit
 * (cpg_max_atomic_msgsize_get) may lower it further at connect time.
 * Larger messages would make libcpg fragment them, and its fragment path
 * sleeps and retries inside the call: never on our loop. */
#define MEMBERSHIP_MSG_MAX (64 * 1024)

/* {representative nodeid, ring sequence}: totem and quorum use the same. */
struct membership_ring_id {
	uint32_t nodeid;
	uint64_t seq;
};

/* Total order: seq first, then nodeid. Two partitions can form rings with
 * the same seq and different representatives, so only equality of both
 * fields means "the same ring". Returns <0, 0, >0. */
int membership_ring_id_cmp(const struct membership_ring_id *a,
			   const struct membership_ring_id *b);
bool membership_ring_id_equal(const struct membership_ring_id *a,
			      const struct membership_ring_id *b);
/* corosync's own notation, hex "nodeid.seq" ("1.1c"). Returns buf. */
#define MEMBERSHIP_RING_ID_STRLEN 32
char *membership_ring_id_to_str(const struct membership_ring_id *r,
				char *buf, size_t len);

/* The CPG reasons, with corosync's numbers. */
enum membership_reason {
	MEMBERSHIP_REASON_UNDEFINED = 0,
	MEMBERSHIP_REASON_JOIN = 1,     /* process joined (node already in) */
	MEMBERSHIP_REASON_LEAVE = 2,    /* process left cleanly */
	MEMBERSHIP_REASON_NODEDOWN = 3, /* its node left the ring */
	MEMBERSHIP_REASON_NODEUP = 4,   /* its node (re)joined the ring */
	MEMBERSHIP_REASON_PROCDOWN = 5, /* process died, node still in */
};
const char *membership_reason_to_str(enum membership_reason r);

/* Which IPC connection. */
enum membership_ipc {
	MEMBERSHIP_IPC_CPG = 0,
	MEMBERSHIP_IPC_QUORUM,
};
const char *membership_ipc_to_str(enum membership_ipc i);

/* corosync's cs_error_t as a name ("CS_ERR_LIBRARY"); "CS_ERR_?" if unknown.
 * (cs_strerror lives in libcorosync_common, which we do not link.) */
const char *membership_cs_error_to_str(int cs_error);

enum membership_event_kind {
	MEMBERSHIP_EV_IPC_UP = 0,
	MEMBERSHIP_EV_IPC_LOST,
	MEMBERSHIP_EV_CONNECT_FAILED,
	MEMBERSHIP_EV_CPG_CONFCHG,
	MEMBERSHIP_EV_TOTEM_CONFCHG,
	MEMBERSHIP_EV_QUORUM,
	MEMBERSHIP_EV_NODELIST,
	MEMBERSHIP_EV_DELIVER,
};
const char *membership_event_kind_to_str(enum membership_event_kind k);

struct membership_member {
	uint32_t nodeid;
	uint32_t pid;
	enum membership_reason reason; /* UNDEFINED in the member list */
};

/* Both handles are open, the group is joined. */
struct membership_ipc_up {
	uint32_t local_nodeid;
	uint32_t local_pid;        /* as given to corosync in cpg_join */
	bool quorate;              /* quorum_getquorate() at connect time; the
				    * notifications that follow carry ring ids
				    * and are what the gate must use */
	uint32_t quorum_type;      /* QUORUM_SET (1) or QUORUM_FREE (0: no
				    * quorum provider, always "quorate") */
	size_t max_msg_len;        /* what membership_send() accepts now */
	unsigned attempts;         /* attempts it took, >= 1 */
};

/* An UP connection was lost; both handles are finalized, a retry armed. */
struct membership_ipc_lost {
	enum membership_ipc which; /* the handle that failed first */
	int cs_error;              /* dispatch result; CS_OK if only POLLHUP */
	int revents;               /* poll revents seen, 0 if none */
	char reason[128];          /* "cpg fd POLLHUP", "quorum_dispatch:
				    * CS_ERR_LIBRARY", ... */
	unsigned next_retry_ms;    /* 0: no retry could be armed (no memory
				    * in the loop); free and re-create it */
};

/* An attempt to connect failed (corosync absent, starting, or refusing). */
struct membership_connect_failed {
	enum membership_ipc which;
	int cs_error;
	char reason[128];          /* "cpg_join: CS_ERR_TRY_AGAIN", ... */
	unsigned attempt;          /* 1 for the first since the last UP */
	unsigned next_retry_ms;    /* 0 as in membership_ipc_lost */
};

/* CPG view of our group, in agreed order with the messages. */
struct membership_cpg_confchg {
	char group[MEMBERSHIP_GROUP_MAX + 1];
	size_t n_members, n_left, n_joined;
	struct membership_member members[MEMBERSHIP_MAX_NODES];
	struct membership_member left[MEMBERSHIP_MAX_NODES];
	struct membership_member joined[MEMBERSHIP_MAX_NODES];
};

/* The totem ring (all nodes, with or without our group). The first one of
 * a connection is the current ring (CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF). */
struct membership_totem_confchg {
	struct membership_ring_id ring;
	size_t n_members;
	uint32_t members[MEMBERSHIP_MAX_NODES];
};

struct membership_quorum {
	bool quorate;
	struct membership_ring_id ring;
	size_t n_members;
	uint32_t members[MEMBERSHIP_MAX_NODES];
};

struct membership_nodelist {
	struct membership_ring_id ring;
	size_t n_members, n_joined, n_left;
	uint32_t members[MEMBERSHIP_MAX_NODES];
	uint32_t joined[MEMBERSHIP_MAX_NODES];
	uint32_t left[MEMBERSHIP_MAX_NODES];
};

/* A message, with the sender as CPG delivered it (never a field of the
 * payload). data is valid only during the callback. */
struct membership_deliver {
	uint32_t nodeid;
	uint32_t pid;
	bool self;                 /* sent by this process */
	const void *data;
	size_t len;
};

struct membership_event {
	enum membership_event_kind kind;
	union {
		struct membership_ipc_up ipc_up;
		struct membership_ipc_lost ipc_lost;
		struct membership_connect_failed connect_failed;
		struct membership_cpg_confchg cpg_confchg;
		struct membership_totem_confchg totem_confchg;
		struct membership_quorum quorum;
		struct membership_nodelist nodelist;
		struct membership_deliver deliver;
	} u;
};

struct membership;

/* ev is valid only during the call. */
typedef void (*membership_event_fn)(struct membership *m,
				    const struct membership_event *ev,
				    void *opaque);

struct membership_config {
	const char *group;          /* CPG group, 1..127 bytes; copied */
	unsigned retry_min_ms;      /* 0: 100 */
	unsigned retry_max_ms;      /* 0: 2000 */
	size_t max_msg_len;         /* 0: MEMBERSHIP_MSG_MAX; larger: -EINVAL */
};

/* NULL with errno = EINVAL (bad config) or ENOMEM. Nothing happens until
 * membership_start(). */
struct membership *membership_new(qb_loop_t *loop,
				  const struct membership_config *cfg,
				  membership_event_fn fn, void *opaque);
/* Arms the first attempt (it runs from the loop, so no event is reported
 * from inside this call). 0, or -EALREADY, -ENOMEM. */
int membership_start(struct membership *m);
/* Finalizes both handles (leaving the group) and releases everything.
 * Safe from inside the event callback. NULL is ignored. */
void membership_free(struct membership *m);

/* cpg_mcast_joined(CPG_TYPE_AGREED) of one message. Never blocks:
 *   0          queued to corosync; it will be delivered to every member,
 *              us included, in agreed order, unless the ring breaks first
 *   -EAGAIN    CS_ERR_TRY_AGAIN: corosync is busy (sync, flow control);
 *              transient, not a sign that IPC is dead: send again later
 *   -ENOTCONN  not joined (IPC down or reconnecting)
 *   -EMSGSIZE  len > the current max_msg_len
 *   -EINVAL    buf NULL or len 0
 *   -EPIPE     the IPC failed while sending; the loss is reported from the
 *              loop right after (MEMBERSHIP_EV_IPC_LOST)
 *   -EIO       any other corosync error (not fatal to the connection) */
int membership_send(struct membership *m, const void *buf, size_t len);

bool membership_is_up(const struct membership *m);
/* 0 while never connected. */
uint32_t membership_local_nodeid(const struct membership *m);
size_t membership_max_msg_len(const struct membership *m);

#endif
