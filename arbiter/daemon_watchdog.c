/*
 * daemon_watchdog.c: the node's watchdog device (watchdog_device), petted
 * only while fsm_watchdog_may_pet() allows.
 *
 * `fence_policy = self` lets the other side run a VM once this node's
 * arbiter had time to freeze it (SAFETY A4).  That holds only while the
 * arbiter runs: one that dies, or hangs, on a node cut off from the cluster
 * freezes nothing.  The device covers it, as sbd's does: it resets the node
 * watchdog_timeout after the last pet, and the last pet comes early enough
 * for that reset to fall within the own liveness deadline + SFT + kill_time.
 * Pets come from the loop's timer only, so a stuck loop stops them too.
 * A regular file (tests) is written like a device and resets nothing.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <qb/qblog.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void schedule(struct daemon *d);

static void pet_timer(void *data)
{
	struct daemon *d = data;
	bool may = d->fsm && fsm_watchdog_may_pet(d->fsm, daemon_mono_ms(), d->wdog_timeout_ms);
	bool ok;
	int err = 0;

	d->wdog_armed = false;
	if (may && write(d->wdog_fd, "p", 1) != 1)
		err = errno ? errno : EIO;
	/* once per failure, not once per pet: a device that keeps refusing
	 * would flood the log every pet period */
	if (err && err != d->wdog_errno)
		qb_log(LOG_ERR, "node=%u: watchdog %s: write: %s: the node resets unless a "
		       "later pet gets through", d->nodeid, d->cfg.watchdog_device, strerror(err));
	d->wdog_errno = err;
	ok = may && !err;
	if (ok != d->wdog_petting) {
		daemon_status_changed(d);
		if (ok)
			qb_log(LOG_NOTICE, "node=%u: watchdog %s: petted again", d->nodeid,
			       d->cfg.watchdog_device);
		else if (!err)
			qb_log(LOG_WARNING, "node=%u: watchdog %s: no longer petted (gate closed or "
			       "its liveness deadline near, and a local side not yet stopped): the "
			       "node resets unless that changes", d->nodeid, d->cfg.watchdog_device);
	}
	d->wdog_petting = ok;
	schedule(d);
}

static void schedule(struct daemon *d)
{
	int64_t ms = d->wdog_timeout_ms / 5;

	if (ms > d->cfg.liveness_period_ms)
		ms = d->cfg.liveness_period_ms;
	if (qb_loop_timer_add(d->loop, QB_LOOP_HIGH, (uint64_t)ms * QB_TIME_NS_IN_MSEC, d,
			      pet_timer, &d->wdog_timer) == 0)
		d->wdog_armed = true;
	else
		qb_log(LOG_CRIT, "node=%u: watchdog %s: cannot arm its timer: the node will "
		       "reset", d->nodeid, d->cfg.watchdog_device);
}

int daemon_watchdog_open(struct daemon *d)
{
	int secs, got = 0;

	if (!d->cfg.watchdog_device[0]) {
		if (d->cfg.fence_policy == FSM_FENCE_SELF)
			qb_log(LOG_WARNING, "node=%u: fence_policy self without watchdog_device: "
			       "if this arbiter dies or hangs while the node is cut off, nothing "
			       "stops its VMs before the other side takes them over", d->nodeid);
		return 0;
	}
	d->wdog_fd = open(d->cfg.watchdog_device, O_WRONLY | O_CLOEXEC);
	if (d->wdog_fd < 0) {
		qb_log(LOG_CRIT, "node=%u: watchdog_device %s: %s", d->nodeid,
		       d->cfg.watchdog_device, strerror(errno));
		return -errno;
	}
	d->wdog_timeout_ms = d->cfg.watchdog_timeout_ms;
	secs = (int)((d->wdog_timeout_ms + 999) / 1000);
	if (ioctl(d->wdog_fd, WDIOC_SETTIMEOUT, &secs) == 0 &&
	    ioctl(d->wdog_fd, WDIOC_GETTIMEOUT, &got) == 0) {
		/* a device that rounds up resets later: pets must stop earlier */
		if ((int64_t)got * 1000 > d->wdog_timeout_ms)
			d->wdog_timeout_ms = (int64_t)got * 1000;
		qb_log(LOG_NOTICE, "node=%u: watchdog %s armed: reset %d s after the last pet",
		       d->nodeid, d->cfg.watchdog_device, got);
	} else {
		qb_log(LOG_WARNING, "node=%u: watchdog_device %s is not a watchdog (%s): it is "
		       "written to, and nothing resets this node", d->nodeid,
		       d->cfg.watchdog_device, strerror(errno));
	}
	d->wdog_petting = true; /* logs the first stop */
	schedule(d);
	return 0;
}

void daemon_watchdog_close(struct daemon *d, bool disarm)
{
	if (d->wdog_fd < 0)
		return;
	if (d->wdog_armed)
		qb_loop_timer_del(d->loop, d->wdog_timer);
	d->wdog_armed = false;
	/* 'V' is the magic close: a clean stop disarms; a failed start
	 * or a crash leaves the device counting */
	if (disarm && write(d->wdog_fd, "V", 1) != 1)
		qb_log(LOG_WARNING, "node=%u: watchdog %s: disarm: %s", d->nodeid,
		       d->cfg.watchdog_device, strerror(errno));
	close(d->wdog_fd);
	d->wdog_fd = -1;
}
