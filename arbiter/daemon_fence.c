/*
 * daemon_fence.c: fencing requests (FSM_ACT_FENCE), run in a forked child.
 *
 * Pacemaker's helpers block (stonith_api_kick waits up to its timeout,
 * SAFETY H3), so, as dlm_controld forks dlm_stonith, a child calls
 * stonith_api_kick_helper() then stonith_api_time_helper() and writes both
 * results to a pipe; the loop reads them as FSM_EV_FENCE_RESULT.  The loop
 * never waits: a child that outlives fence_timeout_s + a margin is killed
 * and counts as a failure (a timeout never counts as success).
 * The fsm asks again at once after a failure; the children are started with
 * a per-node backoff (1 s doubling to 30 s, reset by a success) so that a
 * missing fencer does not turn into a fork storm.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <qb/qblog.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<pacemaker/crm/stonith-ng.h>)
#include <pacemaker/crm/stonith-ng.h>
#define HAVE_STONITH_HELPERS 1
#endif
#endif

struct daemon_fence {
	struct daemon *d;
	struct daemon_fence *next;
	uint32_t nodeid;
	pid_t pid;
	int rfd;
	bool timer_armed;
	qb_loop_timer_handle timer;
};

#define FENCE_BACKOFF_MIN_MS 1000
#define FENCE_BACKOFF_MAX_MS 30000

/* Per node: when the next child may start. */
struct daemon_fence_backoff {
	struct daemon *d;
	uint32_t nodeid;          /* 0: free slot */
	unsigned delay_ms;
	int64_t next_ms;          /* CLOCK_MONOTONIC */
	bool timer_armed;
	qb_loop_timer_handle timer;
};

static struct daemon_fence_backoff *backoff_get(struct daemon *d, uint32_t nodeid)
{
	struct daemon_fence_backoff *free_slot = NULL, *backoff;

	if (!d->fence_backoff)
		d->fence_backoff = calloc(FSM_MAX_NODES, sizeof(*d->fence_backoff));
	backoff = d->fence_backoff;
	if (!backoff)
		return NULL;
	for (unsigned i = 0; i < FSM_MAX_NODES; i++) {
		if (backoff[i].nodeid == nodeid)
			return &backoff[i];
		if (!backoff[i].nodeid && !free_slot)
			free_slot = &backoff[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		free_slot->d = d;
		free_slot->nodeid = nodeid;
	}
	return free_slot;
}

struct fence_report {
	int rc;
	int64_t when;
};

static void fence_child(uint32_t nodeid, int timeout_s, int wfd)
{
	struct fence_report r = { -ENOSYS, 0 };

#ifdef HAVE_STONITH_HELPERS
	r.rc = stonith_api_kick_helper(nodeid, timeout_s, false);
	if (r.rc == 0)
		r.when = (int64_t)stonith_api_time_helper(nodeid, false);
#else
	(void)nodeid;
	(void)timeout_s;
#endif
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	_exit(0);
}

static void fence_finish(struct daemon_fence *f, bool ok, int64_t when, const char *why)
{
	struct daemon *d = f->d;
	struct daemon_fence **pp;
	struct fsm_event ev;

	if (f->timer_armed)
		qb_loop_timer_del(d->loop, f->timer);
	qb_loop_poll_del(d->loop, f->rfd);
	close(f->rfd);
	if (f->pid > 0) {
		kill(f->pid, SIGKILL); /* no-op when it already exited */
		waitpid(f->pid, NULL, 0);
	}
	for (pp = &d->fences; *pp && *pp != f; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = f->next;
	{
		struct daemon_fence_backoff *b = backoff_get(d, f->nodeid);

		if (b) {
			b->delay_ms = ok ? 0 : !b->delay_ms ? FENCE_BACKOFF_MIN_MS :
				      b->delay_ms * 2 > FENCE_BACKOFF_MAX_MS ?
				      FENCE_BACKOFF_MAX_MS : b->delay_ms * 2;
			b->next_ms = daemon_mono_ms() + b->delay_ms;
		}
		qb_log(ok ? LOG_NOTICE : LOG_ERR, "node=%u: fence of node %u %s%s%s%s", d->nodeid,
		       f->nodeid, ok ? "succeeded" : "FAILED", why ? ": " : "", why ? why : "",
		       !ok && b ? " (next attempt in no less than the backoff)" : "");
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = FSM_EV_FENCE_RESULT;
	ev.u.fence.nodeid = f->nodeid;
	ev.u.fence.success = ok;
	ev.u.fence.fence_wall_s = when;
	free(f);
	daemon_post(d, &ev);
}

static int32_t fence_readable(int32_t fd, int32_t revents, void *data)
{
	struct daemon_fence *f = data;
	struct fence_report r;
	ssize_t n = read(fd, &r, sizeof(r));
	char why[64];

	(void)revents;
	if (n != (ssize_t)sizeof(r)) {
		fence_finish(f, false, 0, "the fence child died without a result");
		return 0;
	}
	snprintf(why, sizeof(why), "rc %d, fenced at %lld", r.rc, (long long)r.when);
	fence_finish(f, r.rc == 0 && r.when > 0, r.when, why);
	return 0;
}

static void fence_timeout(void *data)
{
	struct daemon_fence *f = data;

	f->timer_armed = false;
	fence_finish(f, false, 0, "timed out");
}

static void fence_spawn(struct daemon *d, uint32_t nodeid);

static void backoff_fire(void *data)
{
	struct daemon_fence_backoff *b = data;

	b->timer_armed = false;
	fence_spawn(b->d, b->nodeid);
}

void daemon_fence_start(struct daemon *d, uint32_t nodeid)
{
	struct daemon_fence_backoff *b = backoff_get(d, nodeid);
	int64_t now = daemon_mono_ms();

	if (b && now < b->next_ms) {
		/* the request stands: it runs when the backoff ends */
		if (!b->timer_armed &&
		    qb_loop_timer_add(d->loop, QB_LOOP_MED,
				      (uint64_t)(b->next_ms - now) * QB_TIME_NS_IN_MSEC, b,
				      backoff_fire, &b->timer) == 0) {
			b->timer_armed = true;
			qb_log(LOG_INFO, "node=%u: fence of node %u deferred %lld ms (backoff)",
			       d->nodeid, nodeid, (long long)(b->next_ms - now));
		}
		return;
	}
	fence_spawn(d, nodeid);
}

static void fence_spawn(struct daemon *d, uint32_t nodeid)
{
	struct daemon_fence *f;
	int p[2];

	for (f = d->fences; f; f = f->next)
		if (f->nodeid == nodeid)
			return; /* one request per node at a time */
	if (d->cfg.fence_policy != FSM_FENCE_PACEMAKER) {
		/* the fsm asks only under pacemaker; anything else is a bug */
		qb_log(LOG_ERR, "node=%u: fence of node %u asked under policy %s", d->nodeid,
		       nodeid, fsm_fence_policy_to_str(d->cfg.fence_policy));
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || pipe2(p, O_CLOEXEC)) {
		free(f);
		qb_log(LOG_CRIT, "node=%u: cannot start fencing node %u: %s", d->nodeid, nodeid,
		       strerror(errno));
		return;
	}
	f->d = d;
	f->nodeid = nodeid;
	f->rfd = p[0];
	f->pid = fork();
	if (f->pid == 0) {
		daemon_log_stderr_after_fork();
		close(p[0]);
		fence_child(nodeid, (int)d->cfg.fence_timeout_s, p[1]);
	}
	close(p[1]);
	if (f->pid < 0) {
		close(p[0]);
		free(f);
		qb_log(LOG_CRIT, "node=%u: fork for fencing node %u: %s", d->nodeid, nodeid,
		       strerror(errno));
		return;
	}
	qb_loop_poll_add(d->loop, QB_LOOP_HIGH, f->rfd, POLLIN, f, fence_readable);
	if (qb_loop_timer_add(d->loop, QB_LOOP_MED,
			      (uint64_t)(d->cfg.fence_timeout_s + 10) * QB_TIME_NS_IN_SEC, f,
			      fence_timeout, &f->timer) == 0)
		f->timer_armed = true;
	f->next = d->fences;
	d->fences = f;
	qb_log(LOG_NOTICE, "node=%u: fencing node %u (child pid %d, timeout %lld s)", d->nodeid,
	       nodeid, (int)f->pid, (long long)d->cfg.fence_timeout_s);
}

void daemon_fence_free_all(struct daemon *d)
{
	for (unsigned i = 0; d->fence_backoff && i < FSM_MAX_NODES; i++)
		if (d->fence_backoff[i].timer_armed)
			qb_loop_timer_del(d->loop, d->fence_backoff[i].timer);
	free(d->fence_backoff);
	d->fence_backoff = NULL;
	while (d->fences) {
		struct daemon_fence *f = d->fences;

		d->fences = f->next;
		if (f->timer_armed)
			qb_loop_timer_del(d->loop, f->timer);
		qb_loop_poll_del(d->loop, f->rfd);
		close(f->rfd);
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		free(f);
	}
}
