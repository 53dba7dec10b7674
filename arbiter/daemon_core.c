/*
 * daemon_core.c: the one place where colo-arbiterd runs the decision core.
 *
 * Every input becomes a struct fsm_event posted here; fsm_step() runs on
 * it with the clocks read once, and the returned actions are carried out
 * right away (QMP commands, CPG sends, fencing in a child, timers, kills,
 * status) or handed off (persistence and audit lines to the worker thread,
 * whose PERSIST_DONE comes back as an event).  Events raised while actions
 * run queue behind and run next, never re-entrantly.
 * Also translates the membership module's events 1:1 into fsm events
 * (a delivered batch into its messages, in order), and sends the fsm's
 * messages of one loop iteration together, in order, also when corosync
 * refuses them for a while.
 * Must not block: every wait is a loop source, the worker or a child.
 */
#include "daemon.h"
#include "daemon_control.h"
#include "compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <qb/qblog.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t daemon_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t daemon_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t daemon_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void run_actions(struct daemon *d, const struct fsm_event *ev);

static int evq_push(struct daemon *d, const struct fsm_event *ev)
{
	if (d->evq_n == d->evq_cap) {
		unsigned cap = d->evq_cap ? d->evq_cap * 2 : 16;
		struct fsm_event *n;

		if (cap > 65536)
			return -ENOSPC; /* a loop of events: never expected */
		n = malloc(sizeof(*n) * cap);
		if (!n)
			return -ENOMEM;
		for (unsigned i = 0; i < d->evq_n; i++)
			n[i] = d->evq[(d->evq_head + i) % d->evq_cap];
		free(d->evq);
		d->evq = n;
		d->evq_cap = cap;
		d->evq_head = 0;
	}
	d->evq[(d->evq_head + d->evq_n) % d->evq_cap] = *ev;
	d->evq_n++;
	return 0;
}


#define ACTS_KEEP 64     /* action list capacity kept between events */
#define SENDQ_KEEP 64    /* send queue capacity kept once it is empty */
#define EVQ_KEEP 64      /* event queue capacity kept once it is empty */
#define BATCH_MSGS_KEEP 64 /* decoded batch messages kept */
/* The send buffer kept between bursts, each half: a liveness tick's slice
 * of 500 VMs' state reports (~50 of ~250 bytes) in one CPG message, from
 * the heap (two halves of PEER_BATCH_MAX are above the mmap threshold:
 * mapped and faulted in again at every tick). */
#define SEND_HALF_KEEP ((size_t)24 * 1024)

#define BURST_KEEP_MS 250  /* a node loss's steps come within ~100 ms */

/* The burst buffers beyond what is kept between bursts, BURST_KEEP_MS
 * after the burst began: a node loss grows them in each of its steps (the
 * decisions, the proposals, the acks, the commits), and freed after each
 * step they were faulted in again by the next one, on the failover's path.
 * A timer, never a step, frees them. */
static void evq_free(struct daemon *d)
{
	free(d->evq);
	d->evq = NULL;
	d->evq_head = d->evq_n = d->evq_cap = 0;
}

static void sendq_free(struct daemon *d)
{
	free(d->sendq);
	d->sendq = NULL;
	d->sendq_head = d->sendq_n = d->sendq_cap = 0;
}

static void send_buf_free(struct daemon *d)
{
	free(d->send_buf);
	d->send_buf = NULL;
	d->send_half = 0;
}

static void batch_msgs_free(struct daemon *d)
{
	free(d->batch_msgs);
	d->batch_msgs = NULL;
	d->batch_msgs_cap = 0;
}

static void release_fire(void *data)
{
	struct daemon *d = data;

	d->release_armed = false;
	if (d->stepping)
		return;
	if (d->acts && d->acts->cap > ACTS_KEEP)
		fsm_actions_release(d->acts);
	if (d->evq_cap > EVQ_KEEP && !d->evq_n)
		evq_free(d);
	if (d->sendq_cap > SENDQ_KEEP && !d->sendq_n)
		sendq_free(d);
	if (d->batch_msgs_cap > BATCH_MSGS_KEEP)
		batch_msgs_free(d);
	if (!d->sendq_n && d->send_half > SEND_HALF_KEEP)
		send_buf_free(d);
	daemon_mem_trim_soon(d);
}

static void release_soon(struct daemon *d)
{
	if (d->release_armed || d->stopping || !d->loop)
		return;
	if (qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)BURST_KEEP_MS * QB_TIME_NS_IN_MSEC,
			      d, release_fire, &d->release_timer) == 0)
		d->release_armed = true;
	else
		daemon_mem_trim_soon(d);
}

/* QMP replies and events are logged where they are read, with their detail
 * (command, error, QEMU's timestamp), and durable epochs where the write is
 * done: a second record for each was 5 of a failover's 31 records a VM, and
 * with 500 VMs the 1 MiB blackbox did not hold the failover's start.  What
 * the fsm does about them is logged as it is done (status, decisions,
 * commands). */
static bool logged_at_source(enum fsm_event_kind k)
{
	switch (k) {
	case FSM_EV_PERSIST_DONE:
	case FSM_EV_QMP_COLO_EXIT:
	case FSM_EV_QMP_COLO_STATUS:
	case FSM_EV_QMP_STATUS:
	case FSM_EV_QMP_MIGRATE:
	case FSM_EV_QMP_RESUME:
	case FSM_EV_QMP_STOP:
	case FSM_EV_QMP_RESULT:
		return true;
	default:
		return false;
	}
}

/* The step only re-armed timers: an own LIVENESS back re-arms the
 * liveness deadline, every tick; a VM's wake-up found nothing due. */
static bool timers_only(const struct fsm_actions *acts)
{
	for (unsigned i = 0; i < acts->n; i++)
		if (acts->a[i].kind != FSM_ACT_TIMER_START &&
		    acts->a[i].kind != FSM_ACT_TIMER_CANCEL)
			return false;
	return true;
}

/* One record per step, except where its source already logged the event
 * (logged_at_source) or a state report called for no action: the periodic
 * rounds are 3 reports a VM every state_period, which with 500 VMs filled
 * the 1 MiB blackbox in under half a minute; deliver_batch counts them.
 * What every liveness tick does when nothing happens (the tick, the
 * LIVENESS messages back, the transport lines) is LOG_TRACE, which the
 * blackbox does not keep: at debug it was 17 records a second on any
 * cluster, and a blackbox of 256K held two minutes of them. */
static void log_step(struct daemon *d, const struct fsm_event *e, int rc)
{
	const struct fsm_msg *m = &e->u.peer.msg;
	const char *vm = fsm_event_vm(e);

	if (e->kind == FSM_EV_PEER_MSG && rc)
		qb_log(LOG_WARNING, "node=%u vm=%s: %s from node %u refused by the fsm: %s",
		       d->nodeid, m->vm[0] ? m->vm : "-", fsm_msg_kind_to_str(m->kind),
		       e->u.peer.from, strerror(-rc));
	else if (rc)
		qb_log(LOG_WARNING, "node=%u vm=%s: event %s refused by the fsm: %s",
		       d->nodeid, vm ? vm : "-", fsm_event_kind_to_str(e->kind), strerror(-rc));
	else if (e->kind == FSM_EV_PEER_MSG && m->kind == FSM_MSG_LIVENESS && timers_only(d->acts))
		qb_log(LOG_TRACE, "node=%u: LIVENESS %" PRIu64 " from node %u", d->nodeid,
		       m->seq, e->u.peer.from);
	else if (e->kind == FSM_EV_PEER_MSG && (m->kind != FSM_MSG_STATE || d->acts->n))
		qb_log(LOG_DEBUG, "node=%u vm=%s: %s from node %u -> %u actions", d->nodeid,
		       m->vm[0] ? m->vm : "-", fsm_msg_kind_to_str(m->kind), e->u.peer.from,
		       d->acts->n);
	else if (e->kind == FSM_EV_TIMER && (e->u.timer.id == FSM_TIMER_LIVENESS_TICK ||
					     timers_only(d->acts)))
		qb_log(LOG_TRACE, "node=%u: timer %s -> %u actions", d->nodeid,
		       e->u.timer.id == FSM_TIMER_LIVENESS_TICK ? "liveness tick" :
		       e->u.timer.id == FSM_TIMER_VM_WAKE ? "VM wake-up" : "liveness deadline",
		       d->acts->n);
	else if (e->kind != FSM_EV_PEER_MSG && !logged_at_source(e->kind))
		qb_log(LOG_DEBUG, "node=%u vm=%s: event %s -> %u actions", d->nodeid,
		       vm ? vm : "-", fsm_event_kind_to_str(e->kind), d->acts->n);
}

/* Steps the fsm on every queued event, oldest first, with what each one
 * adds behind it.  Returns the first step's result. */
static int drain(struct daemon *d)
{
	bool gate_before, first = true;
	int first_rc = 0;

	d->stepping = true;
	gate_before = fsm_gate_open(d->fsm);
	while (d->evq_n) {
		struct fsm_event e = d->evq[d->evq_head];
		int rc;

		d->evq_head = (d->evq_head + 1) % d->evq_cap;
		d->evq_n--;
		/* read once per event; monotonic never goes backwards */
		d->cur_ev_us = daemon_mono_us();
		e.now_mono_ms = d->cur_ev_us / 1000;
		e.now_wall_ms = daemon_wall_ms();
		daemon_vm_note(d, &e);
		rc = fsm_step(d->fsm, &e, d->acts);
		if (first)
			first_rc = rc;
		first = false;
		log_step(d, &e, rc);
		run_actions(d, &e);
		fsm_actions_reset(d->acts);
	}
	d->stepping = false;
	/* a node loss needs thousands of actions and queued events: kept
	 * while it lasts, then freed and the heap trimmed (release_fire).
	 * A drain whose lists stayed within their kept capacity, as a
	 * liveness tick's slice of the state round does, reuses the same
	 * blocks every time: trimmed after each, their pages were faulted
	 * in again at the next tick (~150 KiB every 2 s at 500 VMs). */
	if (d->acts->cap > ACTS_KEEP || d->evq_cap > EVQ_KEEP)
		release_soon(d);
	if (gate_before != fsm_gate_open(d->fsm)) {
		qb_log(LOG_NOTICE, "node=%u: gate %s -> %s", d->nodeid,
		       gate_before ? "open" : "closed",
		       fsm_gate_open(d->fsm) ? "open" : "closed");
		daemon_status_changed(d);
	}
	return first_rc;
}

static int post_push(struct daemon *d, const struct fsm_event *ev)
{
	if (evq_push(d, ev)) {
		qb_log(LOG_CRIT, "node=%u: event queue overflow, dropping %s", d->nodeid,
		       fsm_event_kind_to_str(ev->kind));
		return -ENOSPC;
	}
	return 0;
}

int daemon_post(struct daemon *d, struct fsm_event *ev)
{
	int rc;

	if (!d->fsm)
		return -ENOTCONN; /* nothing decides before the first IPC_UP */
	rc = post_push(d, ev);
	if (rc)
		return rc;
	if (d->stepping)
		return 0;
	return drain(d);
}

/* ---- timers ------------------------------------------------------------ */

static struct daemon_timer *timer_slot(struct daemon *d, enum fsm_timer_id id,
				       uint32_t vm)
{
	switch (id) {
	case FSM_TIMER_LIVENESS_TICK:
		return &d->tick;
	case FSM_TIMER_LIVENESS_DEADLINE:
		return &d->deadline;
	case FSM_TIMER_VM_WAKE:
		return vm < FSM_MAX_VMS ? &d->wake[vm] : NULL;
	}
	return NULL;
}

static void timer_fire(void *data)
{
	struct daemon_timer *t = data;
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_TIMER;
	ev.u.timer.id = t->id;
	ev.u.timer.vm = t->vm;
	daemon_post(t->d, &ev);
}

static void timer_cancel(struct daemon *d, struct daemon_timer *t)
{
	if (d->timers_fsm) /* none armed without it */
		timerhub_del(d->timers_fsm, &t->e);
}

static void timer_start(struct daemon *d, enum fsm_timer_id id, uint32_t vm,
			int64_t due)
{
	struct daemon_timer *t = timer_slot(d, id, vm);
	int64_t delay = due - daemon_mono_ms();

	if (!t) {
		qb_log(LOG_ERR, "node=%u: timer for VM slot %u out of range", d->nodeid, vm);
		return;
	}
	timer_cancel(d, t);
	t->d = d;
	t->id = id;
	t->vm = vm;
	if (delay < 0)
		delay = 0;
	if (timerhub_add(d->timers_fsm, &t->e, (uint64_t)delay, timer_fire, t))
		qb_log(LOG_CRIT, "node=%u: cannot arm timer %d", d->nodeid, (int)id);
}

/* ---- CPG sends ----------------------------------------------------------- */

/*
 * CPG sends.  The fsm's SEND actions queue here, in order, and go out
 * together once the loop has finished what it is doing (a 0 ms timer):
 * everything one loop iteration decided becomes one CPG message, a lone
 * message as itself (the 1.0 bytes), several in a peer_msg batch.  With
 * hundreds of VMs one event sends hundreds of messages (a node loss: a
 * PROPOSE and a STATE per VM; a confchg: a STATE per VM); one by one
 * they flooded corosync's queue and delayed the own LIVENESS behind them
 * past the liveness bound, which closed the gate.  A batch is delivered
 * whole in one view, so the agreed order of the messages is what it would
 * be had they gone out back to back (doc/peer-protocol.md).
 */

static struct fsm_msg *sendq_at(struct daemon *d, unsigned i)
{
	return &d->sendq[(d->sendq_head + i) % d->sendq_cap];
}

/* Encodes the queue from entry `from` into one CPG message in buf and sets
 * *taken to the entries it covers (entries that cannot be encoded are
 * logged and dropped: not retryable).  Returns the length, 0 if nothing
 * was encodable. */
static size_t send_build(struct daemon *d, unsigned from, uint8_t *buf, size_t cap,
			 unsigned *taken, bool *lossy)
{
	uint8_t one[PEER_MSG_MAX], first[PEER_MSG_MAX];
	size_t len = 0, first_len = 0;
	unsigned i, count = 0;

	for (i = from; i < d->sendq_n; i++) {
		const struct fsm_msg *m = sendq_at(d, i);
		int n = peer_msg_encode(m, count ? one : first, PEER_MSG_MAX);
		int r;

		if (n < 0) {
			qb_log(LOG_ERR, "node=%u vm=%s: cannot encode %s: %s", d->nodeid,
			       m->vm[0] ? m->vm : "-", fsm_msg_kind_to_str(m->kind),
			       strerror(-n));
			*lossy = true;
			continue;
		}
		if (count == 0) {
			first_len = (size_t)n; /* bare unless a second one follows */
			count = 1;
			continue;
		}
		if (count == 1) {
			r = peer_batch_init(buf, cap);
			if (r > 0)
				r = peer_batch_add(buf, cap, (size_t)r, first, first_len);
			if (r < 0)
				break;
			len = (size_t)r;
		}
		r = peer_batch_add(buf, cap, len, one, (size_t)n);
		if (r < 0)
			break; /* full: the next CPG message starts with this one */
		len = (size_t)r;
		count++;
	}
	*taken = i - from;
	if (count == 1) {
		memcpy(buf, first, first_len);
		len = first_len;
	}
	return count ? len : 0;
}

/* corosync's limit for one message (cpg_max_atomic_msgsize), at most a
 * full batch; a message it cannot take in a batch goes out alone */
static size_t send_cap(struct daemon *d)
{
	size_t cap = membership_max_msg_len(d->mem);

	return cap > PEER_BATCH_MAX ? PEER_BATCH_MAX : cap;
}

static void send_retry(void *data);

#define SEND_RETRY_MIN_MS 1
#define SEND_RETRY_MAX_MS 50

static void send_arm(struct daemon *d, unsigned ms)
{
	if (d->send_retry_armed)
		return;
	if (qb_loop_timer_add(d->loop, QB_LOOP_HIGH, (uint64_t)ms * QB_TIME_NS_IN_MSEC, d,
			      send_retry, &d->send_retry) == 0)
		d->send_retry_armed = true;
	else
		qb_log(LOG_CRIT, "node=%u: cannot arm the send timer", d->nodeid);
}

/* Posts the messages of one CPG delivery from `from`, in order, and steps
 * the fsm on all of them before anything else is dispatched. */
static void post_msgs(struct daemon *d, uint32_t from, const struct fsm_msg *msgs, unsigned n)
{
	struct fsm_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_PEER_MSG;
	ev.u.peer.from = from; /* the CPG sender, never a payload field */
	for (unsigned i = 0; i < n && d->fsm; i++) {
		ev.u.peer.msg = msgs[i];
		if (post_push(d, &ev))
			break;
	}
	if (d->fsm && !d->stepping)
		drain(d);
}

/*
 * The own messages sent and not yet delivered back, oldest first: the bytes
 * sent and the fsm's messages they carry.  CPG delivers a sender's messages
 * back to it in the order sent, so a delivery of our own whose bytes are
 * the oldest entry's is that entry: its messages go to the fsm as the fsm
 * gave them, without decoding (~20 us each, three per VM in a node loss:
 * the own STATE, PROPOSE and ACK).  The fsm harness and the simulator
 * deliver such structs themselves, and test_peer_fsm checks that the wire
 * carries every field the fsm sets.  Any other own delivery empties the
 * list and is decoded like a peer's; so is everything after a lost
 * connection.
 */
struct own_sent {
	struct own_sent *next;
	unsigned n;
	size_t len;
	struct fsm_msg *msgs; /* n, after bytes */
	uint8_t bytes[];
};

#define OWN_SENT_MAX 64 /* CPG messages; beyond, sends are decoded when back */

static void own_clear(struct daemon *d)
{
	while (d->own_head) {
		struct own_sent *e = d->own_head;

		d->own_head = e->next;
		free(e);
	}
	d->own_tail = NULL;
	d->own_n = 0;
}

static void own_push(struct daemon *d, const uint8_t *bytes, size_t len, unsigned from,
		     unsigned n)
{
	size_t off = (len + _Alignof(struct fsm_msg) - 1) / _Alignof(struct fsm_msg) *
		     _Alignof(struct fsm_msg);
	struct own_sent *e;

	if (d->own_n >= OWN_SENT_MAX)
		return;
	e = malloc(sizeof(*e) + off + sizeof(struct fsm_msg) * n);
	if (!e)
		return;
	e->next = NULL;
	e->n = n;
	e->len = len;
	e->msgs = (struct fsm_msg *)(void *)(e->bytes + off);
	memcpy(e->bytes, bytes, len);
	for (unsigned i = 0; i < n; i++)
		e->msgs[i] = *sendq_at(d, from + i);
	if (d->own_tail)
		d->own_tail->next = e;
	else
		d->own_head = e;
	d->own_tail = e;
	d->own_n++;
}

/* true if m was the oldest own message sent, now given to the fsm */
static bool own_take(struct daemon *d, const struct membership_deliver *m)
{
	struct own_sent *e = d->own_head;

	if (!e)
		return false;
	d->own_head = e->next;
	if (!d->own_head)
		d->own_tail = NULL;
	d->own_n--;
	if (e->len != m->len || memcmp(e->bytes, m->data, m->len)) {
		qb_log(LOG_DEBUG, "node=%u: an own message came back that is not the oldest "
		       "sent: decoding own messages until the next send", d->nodeid);
		free(e);
		own_clear(d);
		return false;
	}
	qb_log(LOG_TRACE, "node=%u: %u own messages (%zu bytes) back as sent", d->nodeid, e->n,
	       m->len);
	post_msgs(d, m->nodeid, e->msgs, e->n);
	free(e);
	return true;
}

/* Sends what corosync takes now, oldest first, and stops at the first
 * refusal: a later message must never overtake an earlier one (a lost
 * SYNC_DONE would close the barrier).  Returns how many queued messages
 * went out.  Also called on every corosync dispatch. */
static unsigned send_flush(struct daemon *d)
{
	/* more than a tick's worth queued: CPG messages of the largest size,
	 * as few as can carry them (each costs corosync a token turn) */
	size_t half = d->sendq_n > SENDQ_KEEP ? PEER_BATCH_MAX : SEND_HALF_KEEP;
	size_t cap = send_cap(d);
	unsigned done = 0, cpg = 0;
	uint8_t *buf, *zbuf;

	if (d->sendq_n && d->send_half < half) {
		send_buf_free(d);
		d->send_buf = malloc(2 * half);
		if (!d->send_buf) /* kept queued: send_retry() backs off as on EAGAIN */
			return 0;
		d->send_half = half;
	}
	if (cap > d->send_half)
		cap = d->send_half;
	buf = d->send_buf;
	zbuf = buf ? buf + d->send_half : NULL;

	while (done < d->sendq_n) {
		unsigned taken = 0;
		bool lossy = false;
		size_t len = send_build(d, done, buf, cap, &taken, &lossy), plain = len;
		const uint8_t *out = buf;
		int rc, zl;

		/* a batch goes compressed when that is smaller (doc/peer-protocol.md §4) */
		if (len && peer_batch_is(buf, len)) {
			zl = peer_batch_compress(buf, len, zbuf, cap);
			if (zl > 0) {
				out = zbuf;
				len = (size_t)zl;
			}
		}
		rc = len ? membership_send(d->mem, out, len) : 0;
		if (rc == -EAGAIN || rc == -ENOTCONN)
			break;
		if (rc)
			qb_log(LOG_WARNING, "node=%u: send of %u messages (%zu bytes) failed: %s",
			       d->nodeid, taken, len, strerror(-rc));
		else if (len && !lossy)
			own_push(d, out, len, done, taken);
		d->sent_bytes += len;
		d->sent_plain += plain;
		done += taken;
		cpg++;
	}
	if (done) {
		d->sendq_head = (d->sendq_head + done) % d->sendq_cap;
		d->sendq_n -= done;
		qb_log(LOG_TRACE, "node=%u: %u messages out in %u CPG messages, %u left "
		       "(%" PRIu64 " bytes sent so far, %" PRIu64 " uncompressed)",
		       d->nodeid, done, cpg, d->sendq_n, d->sent_bytes, d->sent_plain);
	}
	if (!d->sendq_n) {
		if (d->send_retry_armed)
			qb_loop_timer_del(d->loop, d->send_retry);
		d->send_retry_armed = false;
		d->send_retry_ms = 0;
		d->sendq_head = 0;
		d->sendq_dropping = false;
		if (d->send_half > SEND_HALF_KEEP || d->sendq_cap > SENDQ_KEEP)
			release_soon(d);
	}
	return done;
}

/* bounded (4.5 MiB): the fsm announces again anyway (M5) */
#define SENDQ_MAX 16384

static void send_queue(struct daemon *d, const struct fsm_msg *m)
{
	if (d->sendq_n == d->sendq_cap && d->sendq_cap < SENDQ_MAX) {
		unsigned cap = d->sendq_cap ? d->sendq_cap * 2 : 8;
		struct fsm_msg *n = malloc(sizeof(*n) * cap);

		if (n) {
			for (unsigned i = 0; i < d->sendq_n; i++)
				n[i] = *sendq_at(d, i);
			free(d->sendq);
			d->sendq = n;
			d->sendq_cap = cap;
			d->sendq_head = 0;
		}
	}
	if (!d->sendq_cap)
		return;
	if (d->sendq_n == d->sendq_cap) {
		if (!d->sendq_dropping)
			qb_log(LOG_ERR, "node=%u: %u CPG sends queued while corosync refuses them: "
			       "dropping the oldest", d->nodeid, d->sendq_n);
		d->sendq_dropping = true;
		d->sendq_head = (d->sendq_head + 1) % d->sendq_cap;
		d->sendq_n--;
	}
	*sendq_at(d, d->sendq_n) = *m;
	d->sendq_n++;
}

/* The 0 ms timer after a send was queued, or the backoff after corosync
 * refused: corosync refuses sends while it syncs and takes them again as
 * soon as the sync ends, a moment it does not announce: a short backoff
 * finds it (1 ms doubling to 50) and any membership dispatch tries at
 * once. */
static void send_retry(void *data)
{
	struct daemon *d = data;

	d->send_retry_armed = false;
	if (send_flush(d))
		d->send_retry_ms = SEND_RETRY_MIN_MS;
	else if (d->send_retry_ms < SEND_RETRY_MIN_MS)
		d->send_retry_ms = SEND_RETRY_MIN_MS;
	else if (d->send_retry_ms < SEND_RETRY_MAX_MS)
		d->send_retry_ms = d->send_retry_ms * 2 > SEND_RETRY_MAX_MS ?
			SEND_RETRY_MAX_MS : d->send_retry_ms * 2;
	if (d->sendq_n)
		send_arm(d, d->send_retry_ms);
}

static void do_send(struct daemon *d, const struct fsm_msg *m)
{
	send_queue(d, m);
	send_arm(d, 0); /* after the rest of this loop iteration */
}

/* ---- actions ------------------------------------------------------------- */

static void on_status(struct daemon *d, const struct fsm_action *a,
		      const struct fsm_event *ev)
{
	struct daemon_vm *v = daemon_vm_find(d, a->u.status.vm);
	enum fsm_vm_status old = v ? v->status : FSM_ST_UNKNOWN;

	if (v) {
		v->status = a->u.status.status;
		v->where = a->u.status.where;
		v->why = a->u.status.why;
	}
	if (old != a->u.status.status)
		qb_log(LOG_NOTICE, "node=%u vm=%s: %s -> %s (%s, %s)%s%.0u", d->nodeid,
		       a->u.status.vm, fsm_vm_status_to_str(old),
		       fsm_vm_status_to_str(a->u.status.status), fsm_event_kind_to_str(ev->kind),
		       a->u.status.why ? a->u.status.why : "-",
		       a->u.status.where ? " where=" : "", a->u.status.where);
	daemon_status_changed(d);
}

static void on_audit(struct daemon *d, const struct fsm_action *a)
{
	const char *vm = a->u.audit.vm;
	struct daemon_vm *v = vm[0] ? daemon_vm_find(d, vm) : NULL;

	qb_log(LOG_NOTICE, "node=%u vm=%s: decision %s (%s, %s)", d->nodeid, vm[0] ? vm : "-",
	       a->u.audit.decision ? a->u.audit.decision : "?",
	       a->u.audit.event ? a->u.audit.event : "?",
	       a->u.audit.rule ? a->u.audit.rule : "?");
	daemon_audit_write(d, a->u.audit.text);
	daemon_control_broadcast_text(d, "AUDIT", a->u.audit.text);
	/* status keeps the summary, rendered only when a snapshot is built;
	 * the whole record is in the audit log */
	if (v && a->u.audit.has_last) {
		v->has_last = true;
		v->last = a->u.audit.last;
	}
	daemon_status_changed(d);
}

static void run_actions(struct daemon *d, const struct fsm_event *ev)
{
	struct fsm_actions *acts = d->acts;

	if (acts->overflow)
		qb_log(LOG_CRIT, "node=%u: fsm action list overflowed", d->nodeid);
	for (unsigned i = 0; i < acts->n; i++) {
		const struct fsm_action *a = &acts->a[i];

		switch (a->kind) {
		case FSM_ACT_QMP:
			daemon_vm_exec(d, a);
			break;
		case FSM_ACT_SEND:
			do_send(d, &a->u.send);
			break;
		case FSM_ACT_PERSIST: {
			/* PERSIST_DONE comes back from the worker once durable */
			int prc = daemon_persist_submit(d, &a->u.persist.rec, a->u.persist.seq);

			if (prc)
				qb_log(LOG_CRIT, "node=%u vm=%s: epoch %" PRIu64 " cannot be "
				       "persisted (%s): nothing waiting for it will go on",
				       d->nodeid, a->u.persist.rec.vm, a->u.persist.rec.epoch.n,
				       strerror(-prc));
			break;
		}
		case FSM_ACT_FENCE:
			daemon_fence_start(d, a->u.fence.nodeid);
			break;
		case FSM_ACT_TIMER_START:
			timer_start(d, a->u.timer.id, a->u.timer.vm, a->u.timer.due_mono_ms);
			break;
		case FSM_ACT_TIMER_CANCEL: {
			struct daemon_timer *t = timer_slot(d, a->u.timer.id, a->u.timer.vm);

			if (t)
				timer_cancel(d, t);
			break;
		}
		case FSM_ACT_KILL:
			daemon_vm_kill(d, a);
			break;
		case FSM_ACT_STATUS:
			on_status(d, a, ev);
			break;
		case FSM_ACT_AUDIT:
			if (a->u.audit.text)
				on_audit(d, a);
			break;
		}
	}
}

/* ---- membership -> fsm --------------------------------------------------- */

static unsigned copy_nodes(uint32_t *dst, const uint32_t *src, size_t n)
{
	if (n > FSM_MAX_NODES)
		n = FSM_MAX_NODES; /* the fsm's limit; logged by the caller */
	memcpy(dst, src, n * sizeof(*src));
	return (unsigned)n;
}

static unsigned copy_members(struct fsm_cpg_member *dst,
			     const struct membership_member *src, size_t n)
{
	if (n > FSM_MAX_NODES)
		n = FSM_MAX_NODES;
	for (size_t i = 0; i < n; i++) {
		dst[i].nodeid = src[i].nodeid;
		dst[i].pid = src[i].pid;
		dst[i].reason = (enum fsm_cpg_reason)src[i].reason;
	}
	return (unsigned)n;
}

static void drop_log(struct daemon *d, const struct membership_deliver *m, int rc,
		     const struct peer_msg_error *err)
{
	/* state untouched; a flood of them must not flood the log */
	if (daemon_log_drop_ok(d, m->nodeid))
		qb_log(LOG_WARNING,
		       "node=%u: dropped a CPG message from node %u pid %u (%zu bytes): "
		       "%s: %s: %s", d->nodeid, m->nodeid, m->pid, m->len, strerror(-rc),
		       err->member, err->msg);
}

/* A batch: its messages step the fsm back to back, as PEER_MSG events in
 * their order, before anything else is dispatched. */
static void deliver_batch(struct daemon *d, const struct membership_deliver *m)
{
	struct peer_msg_error err;
	struct fsm_msg *msgs;
	unsigned cap = m->len >= PEER_MSG_HDR_LEN ? peer_batch_count(m->data) : 0, n = 0;
	int rc;

	memset(&err, 0, sizeof(err));
	if (cap == 0 || cap > PEER_BATCH_MAX_MSGS)
		cap = 1; /* the decoder names what is wrong */
	/* one decode buffer, grown as needed: post_msgs() copies every
	 * message into the event queue before the fsm steps on any */
	if (d->batch_msgs_cap < cap) {
		unsigned want = cap > BATCH_MSGS_KEEP ? cap : BATCH_MSGS_KEEP;

		batch_msgs_free(d);
		d->batch_msgs = malloc(sizeof(*d->batch_msgs) * want);
		if (!d->batch_msgs) {
			qb_log(LOG_CRIT, "node=%u: no memory for a batch of %u from node %u",
			       d->nodeid, cap, m->nodeid);
			return;
		}
		d->batch_msgs_cap = want;
		if (want > BATCH_MSGS_KEEP)
			release_soon(d);
	}
	msgs = d->batch_msgs;
	rc = peer_batch_decode(m->data, m->len, msgs, cap, &n, &err);
	if (rc) {
		drop_log(d, m, rc, &err);
		return;
	}
	qb_log(LOG_TRACE, "node=%u: batch of %u messages (%zu bytes) from node %u", d->nodeid,
	       n, m->len, m->nodeid);
	post_msgs(d, m->nodeid, msgs, n);
}

static void deliver(struct daemon *d, const struct membership_deliver *m)
{
	struct fsm_event ev;
	struct peer_msg_error err;
	int rc;

	if (m->self && own_take(d, m))
		return;
	if (peer_batch_is(m->data, m->len)) {
		deliver_batch(d, m);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	memset(&err, 0, sizeof(err));
	rc = peer_msg_decode(m->data, m->len, &ev.u.peer.msg, &err);
	if (rc) {
		drop_log(d, m, rc, &err);
		return;
	}
	ev.kind = FSM_EV_PEER_MSG;
	ev.u.peer.from = m->nodeid; /* the CPG sender, never a payload field */
	daemon_post(d, &ev);
}

void daemon_membership_event(struct membership *m, const struct membership_event *me,
			     void *opaque)
{
	struct daemon *d = opaque;
	struct fsm_event ev;
	char r1[MEMBERSHIP_RING_ID_STRLEN];

	(void)m;
	/* corosync spoke: it may take sends again (the end of a sync shows
	 * as a confchg or quorum notification, or a delivered message) */
	if (d->sendq_n && me->kind != MEMBERSHIP_EV_IPC_LOST &&
	    me->kind != MEMBERSHIP_EV_CONNECT_FAILED)
		send_flush(d);
	memset(&ev, 0, sizeof(ev));
	switch (me->kind) {
	case MEMBERSHIP_EV_IPC_UP:
		qb_log(LOG_NOTICE, "node=%u: corosync connected (pid %u, %u attempts)",
		       me->u.ipc_up.local_nodeid, me->u.ipc_up.local_pid, me->u.ipc_up.attempts);
		if (!d->fsm && daemon_fsm_create(d, me->u.ipc_up.local_nodeid)) {
			d->fsm_failed = true;
			qb_loop_stop(d->loop);
			return;
		}
		if (me->u.ipc_up.local_nodeid != d->nodeid) {
			qb_log(LOG_CRIT, "node=%u: corosync now says nodeid %u: exiting",
			       d->nodeid, me->u.ipc_up.local_nodeid);
			d->exit_code = 1;
			qb_loop_stop(d->loop);
			return;
		}
		d->ipc_cpg = d->ipc_quorum = true;
		ev.kind = FSM_EV_IPC;
		ev.u.ipc.cpg_ok = ev.u.ipc.quorum_ok = true;
		break;
	case MEMBERSHIP_EV_IPC_LOST:
		qb_log(LOG_WARNING, "node=%u: corosync connection lost: %s (retry in %u ms)",
		       d->nodeid, me->u.ipc_lost.reason, me->u.ipc_lost.next_retry_ms);
		d->ipc_cpg = d->ipc_quorum = false;
		d->quorate = false;
		own_clear(d); /* a new connection delivers none of them */
		ev.kind = FSM_EV_IPC;
		break;
	case MEMBERSHIP_EV_CONNECT_FAILED:
		qb_log(me->u.connect_failed.attempt == 1 ? LOG_WARNING : LOG_DEBUG,
		       "node=%u: corosync connect attempt %u failed: %s", d->nodeid,
		       me->u.connect_failed.attempt, me->u.connect_failed.reason);
		return;
	case MEMBERSHIP_EV_CPG_CONFCHG: {
		const struct membership_cpg_confchg *c = &me->u.cpg_confchg;

		qb_log(LOG_INFO, "node=%u: CPG confchg: %zu members, %zu left, %zu joined",
		       d->nodeid, c->n_members, c->n_left, c->n_joined);
		for (size_t i = 0; i < c->n_left; i++)
			qb_log(LOG_INFO, "node=%u: CPG left: node %u pid %u (%s)", d->nodeid,
			       c->left[i].nodeid, c->left[i].pid,
			       membership_reason_to_str(c->left[i].reason));
		if (c->n_members > FSM_MAX_NODES)
			qb_log(LOG_ERR, "node=%u: %zu CPG members, only %d kept", d->nodeid,
			       c->n_members, FSM_MAX_NODES);
		ev.kind = FSM_EV_CPG_CONFCHG;
		ev.u.cpg.n_members = copy_members(ev.u.cpg.members, c->members, c->n_members);
		ev.u.cpg.n_left = copy_members(ev.u.cpg.left, c->left, c->n_left);
		ev.u.cpg.n_joined = copy_members(ev.u.cpg.joined, c->joined, c->n_joined);
		break;
	}
	case MEMBERSHIP_EV_TOTEM_CONFCHG: {
		const struct membership_totem_confchg *t = &me->u.totem_confchg;

		qb_log(LOG_INFO, "node=%u: totem ring %s, %zu nodes", d->nodeid,
		       membership_ring_id_to_str(&t->ring, r1, sizeof(r1)), t->n_members);
		d->ring = t->ring;
		ev.kind = FSM_EV_TOTEM_CONFCHG;
		ev.u.totem.ring.nodeid = t->ring.nodeid;
		ev.u.totem.ring.seq = t->ring.seq;
		ev.u.totem.n_nodes = copy_nodes(ev.u.totem.nodes, t->members, t->n_members);
		d->n_members = copy_nodes(d->members, t->members, t->n_members);
		break;
	}
	case MEMBERSHIP_EV_QUORUM: {
		const struct membership_quorum *q = &me->u.quorum;

		qb_log(LOG_INFO, "node=%u: quorum %s, ring %s, %zu nodes", d->nodeid,
		       q->quorate ? "quorate" : "INQUORATE",
		       membership_ring_id_to_str(&q->ring, r1, sizeof(r1)), q->n_members);
		d->quorate = q->quorate;
		d->qring = q->ring;
		ev.kind = FSM_EV_QUORUM;
		ev.u.quorum.quorate = q->quorate;
		ev.u.quorum.ring.nodeid = q->ring.nodeid;
		ev.u.quorum.ring.seq = q->ring.seq;
		ev.u.quorum.n_nodes = copy_nodes(ev.u.quorum.nodes, q->members, q->n_members);
		break;
	}
	case MEMBERSHIP_EV_NODELIST:
		return;
	case MEMBERSHIP_EV_DELIVER:
		deliver(d, &me->u.deliver);
		return;
	default:
		return;
	}
	d->last_memb_us = daemon_mono_us();
	d->last_memb_kind = fsm_event_kind_to_str(ev.kind);
	daemon_post(d, &ev);
	daemon_status_changed(d);
}

int daemon_fsm_create(struct daemon *d, uint32_t nodeid)
{
	struct fsm_config fc;
	const char *why = NULL;
	struct fsm_persist *recs = NULL;
	unsigned n = 0;
	struct fsm_event ev;
	int rc;

	struct config_error err;

	/* expected votes and two_node from the file: no cmap here (see man) */
	memset(&err, 0, sizeof(err));
	if (config_check_cluster(&d->cfg, nodeid, 0, false, d->cfg.last_man_standing, &err)) {
		char buf[700];

		config_error_format(&err, buf, sizeof(buf));
		qb_log(LOG_CRIT, "node=%u: config refused: %s", nodeid, buf);
		return -EINVAL;
	}
	config_to_fsm(&d->cfg, nodeid, 0, false, &fc);
	if (fsm_config_check(&fc, &why)) {
		qb_log(LOG_CRIT, "node=%u: config refused: %s", nodeid, why ? why : "?");
		return -EINVAL;
	}
	if (fc.fence_policy == FSM_FENCE_NONE)
		qb_log(LOG_WARNING, "node=%u: fence_policy none: UNSAFE, for tests and demos only",
		       nodeid);
	d->acts = calloc(1, sizeof(*d->acts));
	d->fsm = d->acts ? fsm_new(&fc) : NULL;
	if (!d->fsm) {
		qb_log(LOG_CRIT, "node=%u: cannot create the decision core", nodeid);
		return -ENOMEM;
	}
	d->nodeid = nodeid;
	rc = daemon_persist_load(d, &recs, &n);
	if (rc) {
		/* rule 6: never start without the records we may have acked */
		qb_log(LOG_CRIT, "node=%u: cannot load persisted epochs from %s: %s", nodeid,
		       d->cfg.state_dir, strerror(-rc));
		return rc;
	}
	qb_log(LOG_NOTICE, "node=%u: decision core up, %u persisted records, policy %s",
	       nodeid, n, fsm_fence_policy_to_str(fc.fence_policy));
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_START;
	ev.u.start.n = n;
	ev.u.start.recs = recs;
	daemon_post(d, &ev);
	free(recs); /* START is consumed synchronously: the fsm copies */
	for (struct daemon_vm *v = d->vms; v; v = v->next)
		daemon_vm_activate(d, v, daemon_notify_take_fd(v->cfg.name));
	daemon_notify_close_unused();
	return 0;
}

void daemon_core_free(struct daemon *d)
{
	timer_cancel(d, &d->tick);
	timer_cancel(d, &d->deadline);
	for (unsigned i = 0; i < FSM_MAX_VMS; i++)
		timer_cancel(d, &d->wake[i]);
	if (d->send_retry_armed)
		qb_loop_timer_del(d->loop, d->send_retry);
	d->send_retry_armed = false;
	sendq_free(d);
	send_buf_free(d);
	own_clear(d);
	evq_free(d);
	batch_msgs_free(d);
	if (d->release_armed)
		qb_loop_timer_del(d->loop, d->release_timer);
	d->release_armed = false;
	fsm_actions_release(d->acts);
	free(d->acts);
	d->acts = NULL;
	fsm_free(d->fsm);
	d->fsm = NULL;
}
