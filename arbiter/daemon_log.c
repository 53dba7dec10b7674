/*
 * daemon_log.c: qb_log set-up for colo-arbiterd: syslog and stderr
 * (daemon_log_stderr.c) at the configured level, and the blackbox (everything down to DEBUG, in memory)
 * for post-mortems: dumped on SIGUSR2 and on a fatal signal.
 * The other daemon files log with qb_log() directly, each line naming the
 * node and the VM where there is one.
 * Also the rate limit of log lines about dropped (malformed, hostile) CPG
 * messages: per sender node the first few in full, then one summary line
 * per 10 s with the count.  It only decides what is logged, never what is
 * done with a message.
 */
#include "daemon.h"

#include <inttypes.h>
#include <qb/qblog.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define DROP_BURST 8         /* logged in full per sender before summing up */
#define DROP_WINDOW_MS 10000
#define DROP_SLOTS 64        /* senders tracked; more share one slot */

struct drop_sender {
	uint32_t node;       /* 0: free slot (corosync nodeids are never 0) */
	unsigned logged;     /* full lines since the sender was last quiet */
	unsigned suppressed; /* in the current window */
};

struct daemon_ratelimit {
	struct daemon *d;
	struct drop_sender s[DROP_SLOTS];
	struct drop_sender other; /* senders beyond DROP_SLOTS */
	bool armed;
	qb_loop_timer_handle timer;
};

static void target_level(int target, bool on, int prio)
{
	qb_log_filter_ctl(target, QB_LOG_FILTER_CLEAR_ALL, QB_LOG_FILTER_FILE, "*", LOG_TRACE);
	qb_log_ctl(target, QB_LOG_CONF_ENABLED, on ? QB_TRUE : QB_FALSE);
	if (on)
		qb_log_filter_ctl(target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", prio);
}

/* stderr through daemon_log_stderr.c (a write per loop iteration), or
 * libqb's own target if that cannot be opened */
static int32_t stderr_target = QB_LOG_STDERR;

void daemon_log_init(struct daemon *d)
{
	int32_t t, bb;

	qb_log_init("colo-arbiterd", LOG_DAEMON, LOG_INFO);
	t = daemon_log_stderr_open(d->loop);
	if (t >= 0)
		stderr_target = t;
	qb_log_format_set(QB_LOG_SYSLOG, "%b");
	qb_log_format_set(stderr_target, "%T %N [%p] %b");
	qb_log_format_set(QB_LOG_BLACKBOX, "%T %N [%p] %b");
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, (int32_t)d->cfg.blackbox_size);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_THREADED, QB_FALSE);
	bb = qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	daemon_log_set_level(d);
	/* a ring in /dev/shm, so up to 256M of blackbox_size can exceed it:
	 * the daemon runs on, but must not lose its flight recorder unsaid */
	if (bb < 0)
		qb_log(LOG_WARNING, "node=%u: no blackbox: a ring of %" PRIu32 " bytes cannot be "
		       "made in /dev/shm (%s); set blackbox_size lower", d->nodeid,
		       d->cfg.blackbox_size, strerror(-bb));
}

void daemon_log_set_level(struct daemon *d)
{
	d->log_prio = config_log_priority(&d->cfg);
	target_level(QB_LOG_SYSLOG, d->cfg.log_syslog, d->log_prio);
	target_level(stderr_target, d->cfg.log_stderr || d->foreground, d->log_prio);
}

void daemon_log_fini(void)
{
	daemon_log_stderr_immediate();
	qb_log_fini();
}

/* ---- dropped CPG messages ------------------------------------------------ */

static void drop_window(void *data);

static void drop_arm(struct daemon_ratelimit *rl)
{
	if (!rl->armed &&
	    qb_loop_timer_add(rl->d->loop, QB_LOOP_LOW,
			      (uint64_t)DROP_WINDOW_MS * QB_TIME_NS_IN_MSEC, rl, drop_window,
			      &rl->timer) == 0)
		rl->armed = true;
}

static bool drop_close(struct daemon_ratelimit *rl, struct drop_sender *s, bool other)
{
	if (!s->node && !other)
		return false;
	if (s->suppressed) {
		if (other)
			qb_log(LOG_WARNING, "node=%u: %u more dropped CPG messages from other "
			       "nodes in the last %d s (not logged one by one)", rl->d->nodeid,
			       s->suppressed, DROP_WINDOW_MS / 1000);
		else
			qb_log(LOG_WARNING, "node=%u: %u more dropped CPG messages from node %u "
			       "in the last %d s (not logged one by one)", rl->d->nodeid,
			       s->suppressed, s->node, DROP_WINDOW_MS / 1000);
		s->suppressed = 0;
		return true;
	}
	/* a quiet window: the next message is worth a full line again */
	s->logged = 0;
	if (!other)
		s->node = 0;
	return false;
}

static void drop_window(void *data)
{
	struct daemon_ratelimit *rl = data;
	bool busy = false;

	rl->armed = false;
	for (unsigned i = 0; i < DROP_SLOTS; i++)
		busy |= drop_close(rl, &rl->s[i], false);
	busy |= drop_close(rl, &rl->other, true);
	if (busy)
		drop_arm(rl);
}

bool daemon_log_drop_ok(struct daemon *d, uint32_t from)
{
	struct daemon_ratelimit *rl = d->drop_rl;
	struct drop_sender *s = NULL, *free_slot = NULL;

	if (!rl) {
		rl = d->drop_rl = calloc(1, sizeof(*rl));
		if (!rl)
			return false;
		rl->d = d;
	}
	for (unsigned i = 0; i < DROP_SLOTS && !s; i++) {
		if (rl->s[i].node == from && from)
			s = &rl->s[i];
		else if (!rl->s[i].node && !free_slot)
			free_slot = &rl->s[i];
	}
	if (!s && free_slot && from) {
		s = free_slot;
		s->node = from;
	}
	if (!s)
		s = &rl->other;
	drop_arm(rl);
	if (s->logged < DROP_BURST) {
		s->logged++;
		return true;
	}
	s->suppressed++;
	return false;
}

void daemon_log_drop_free(struct daemon *d)
{
	if (!d->drop_rl)
		return;
	if (d->drop_rl->armed)
		qb_loop_timer_del(d->loop, d->drop_rl->timer);
	free(d->drop_rl);
	d->drop_rl = NULL;
}
