/*
 * daemon_watchdog.c: the node's watchdog device (watchdog_device), held
 * and petted only as fsm_watchdog_tick() allows.
 *
 * `fence_policy = self` lets the other side run a VM once this node's
 * arbiter had time to freeze it (SAFETY A4).  That holds only while the
 * arbiter runs: one that dies, or hangs, on a node cut off from the cluster
 * freezes nothing.  The device covers it, as sbd's does: it resets the node
 * watchdog_timeout after the last pet, and the last pet comes early enough
 * for that reset to fall within the own liveness deadline + SFT + kill_time.
 *
 * The kernel pets too: an active watchdog whose file is released without
 * the magic close (a crash releases it) is pinged once, and so is one given
 * WDIOC_SETTIMEOUT.  An arbiter that kept the device open while withholding
 * pets would have its crash pet the node past that deadline, and one that
 * opened it at start would pet it on every restart.  So the device is opened
 * only when a pet is allowed, and let go while letting go (a last ping)
 * still falls in time; at start it is only checked to be there.
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
#include <sys/stat.h>
#include <unistd.h>

static void schedule(struct daemon *d);

/* once per errno, not once per tick: a device that keeps refusing would
 * flood the log every pet period */
static void fail(struct daemon *d, const char *what, int err)
{
	if (err != d->wdog_errno)
		qb_log(LOG_ERR, "node=%u: watchdog %s: %s: %s: the node resets unless a later "
		       "pet gets through", d->nodeid, d->cfg.watchdog_device, what, strerror(err));
	d->wdog_errno = err;
}

static int open_dev(const struct daemon *d)
{
	struct stat st;
	int flags = O_WRONLY | O_CLOEXEC;

	/* a test's regular file grows by a byte per pet across reopens */
	if (stat(d->cfg.watchdog_device, &st) == 0 && S_ISREG(st.st_mode))
		flags |= O_APPEND;
	return open(d->cfg.watchdog_device, flags);
}

/* Only called when a pet is allowed: WDIOC_SETTIMEOUT pings. */
static bool hold(struct daemon *d)
{
	int want = config_watchdog_secs(&d->cfg), got = 0;

	d->wdog_fd = open_dev(d);
	if (d->wdog_fd < 0) {
		fail(d, "open", errno ? errno : EIO);
		return false;
	}
	if (d->wdog_checked)
		return true;
	d->wdog_checked = true;
	if (ioctl(d->wdog_fd, WDIOC_GETTIMEOUT, &got) != 0) {
		qb_log(LOG_WARNING, "node=%u: watchdog_device %s is not a watchdog (%s): it is "
		       "written to, and nothing resets this node", d->nodeid,
		       d->cfg.watchdog_device, strerror(errno));
		return true;
	}
	if (got != want && (ioctl(d->wdog_fd, WDIOC_SETTIMEOUT, &want) != 0 ||
			    ioctl(d->wdog_fd, WDIOC_GETTIMEOUT, &got) != 0))
		qb_log(LOG_WARNING, "node=%u: watchdog %s: cannot set its timeout to %d s (%s)",
		       d->nodeid, d->cfg.watchdog_device, want, strerror(errno));
	/* a device that rounds up resets later: pets must stop earlier */
	if ((int64_t)got * 1000 > d->wdog_timeout_ms) {
		d->wdog_timeout_ms = (int64_t)got * 1000;
		d->wdog_period_ms = fsm_watchdog_period_ms(d->wdog_timeout_ms,
							   d->cfg.liveness_period_ms);
	}
	qb_log(LOG_NOTICE, "node=%u: watchdog %s armed: reset %d s after the last pet",
	       d->nodeid, d->cfg.watchdog_device, got);
	return true;
}

static void release(struct daemon *d)
{
	close(d->wdog_fd);
	d->wdog_fd = -1;
	qb_log(LOG_WARNING, "node=%u: watchdog %s let go (its release is the last pet): the "
	       "node resets in %lld ms unless a pet is allowed again", d->nodeid,
	       d->cfg.watchdog_device, (long long)d->wdog_timeout_ms);
}

static void pet_timer(void *data)
{
	struct daemon *d = data;
	bool held = d->wdog_fd >= 0, keep = held;
	bool pet = d->fsm && fsm_watchdog_tick(d->fsm, daemon_mono_ms(), d->wdog_timeout_ms,
					       d->wdog_period_ms, held, &keep);
	bool ok = false;

	d->wdog_armed = false;
	/* a VM not yet looked at is unknown to the fsm, not one with nothing
	 * to stop: a restarted arbiter must not pet a node whose QEMU runs
	 * alone before it knows */
	if (keep && !held && (!daemon_vm_all_probed(d) || !hold(d)))
		keep = pet = false;
	if (pet && d->wdog_fd >= 0) {
		if (write(d->wdog_fd, "p", 1) == 1) {
			ok = true;
			d->wdog_errno = 0;
		} else {
			fail(d, "write", errno ? errno : EIO);
		}
	}
	if (held && !keep)
		release(d);
	if (keep && !pet && !d->wdog_late)
		qb_log(LOG_ERR, "node=%u: watchdog %s: held unpetted, too late to let go in "
		       "time (a crash now would pet it past the liveness deadline + SFT + "
		       "kill_time)", d->nodeid, d->cfg.watchdog_device);
	d->wdog_late = keep && !pet;
	if (ok != d->wdog_petting) {
		daemon_status_changed(d);
		if (ok)
			qb_log(LOG_NOTICE, "node=%u: watchdog %s: petted again", d->nodeid,
			       d->cfg.watchdog_device);
		else if (!d->wdog_errno)
			qb_log(LOG_WARNING, "node=%u: watchdog %s: no longer petted (gate closed or "
			       "its liveness deadline near, and a local side not yet stopped): the "
			       "node resets unless that changes", d->nodeid, d->cfg.watchdog_device);
	}
	d->wdog_petting = ok;
	schedule(d);
}

static void schedule(struct daemon *d)
{
	if (qb_loop_timer_add(d->loop, QB_LOOP_HIGH,
			      (uint64_t)d->wdog_period_ms * QB_TIME_NS_IN_MSEC, d, pet_timer,
			      &d->wdog_timer) == 0)
		d->wdog_armed = true;
	else
		qb_log(LOG_CRIT, "node=%u: watchdog %s: cannot arm its timer: the node will "
		       "reset", d->nodeid, d->cfg.watchdog_device);
}

int daemon_watchdog_open(struct daemon *d)
{
	struct stat st;

	if (!d->cfg.watchdog_device[0]) {
		if (d->cfg.fence_policy == FSM_FENCE_SELF)
			qb_log(LOG_WARNING, "node=%u: fence_policy self without watchdog_device: "
			       "if this arbiter dies or hangs while the node is cut off, nothing "
			       "stops its VMs before the other side takes them over", d->nodeid);
		return 0;
	}
	/* opening it here would make every restart a pet (the kernel pings on
	 * WDIOC_SETTIMEOUT and on a release without the magic close) */
	if (stat(d->cfg.watchdog_device, &st) != 0 || access(d->cfg.watchdog_device, W_OK) != 0) {
		int err = errno;

		qb_log(LOG_CRIT, "node=%u: watchdog_device %s: %s", d->nodeid,
		       d->cfg.watchdog_device, strerror(err));
		return -err;
	}
	if (!S_ISCHR(st.st_mode) && !S_ISREG(st.st_mode)) {
		qb_log(LOG_CRIT, "node=%u: watchdog_device %s: neither a character device nor "
		       "a file", d->nodeid, d->cfg.watchdog_device);
		return -ENODEV;
	}
	d->wdog_on = true;
	d->wdog_timeout_ms = config_watchdog_secs(&d->cfg) * 1000LL;
	d->wdog_period_ms = fsm_watchdog_period_ms(d->wdog_timeout_ms, d->cfg.liveness_period_ms);
	d->wdog_petting = true; /* logs the first stop */
	schedule(d);
	return 0;
}

void daemon_watchdog_close(struct daemon *d, bool disarm)
{
	if (!d->wdog_on)
		return;
	if (d->wdog_armed)
		qb_loop_timer_del(d->loop, d->wdog_timer);
	d->wdog_armed = false;
	/* 'V' is the magic close: a clean stop disarms, also a device let go
	 * (opening an active one does not ping); a failed start or a crash
	 * leaves the device counting */
	if (disarm && d->wdog_fd < 0)
		d->wdog_fd = open_dev(d);
	if (disarm && (d->wdog_fd < 0 || write(d->wdog_fd, "V", 1) != 1))
		qb_log(LOG_WARNING, "node=%u: watchdog %s: disarm: %s", d->nodeid,
		       d->cfg.watchdog_device, strerror(errno));
	if (d->wdog_fd >= 0)
		close(d->wdog_fd);
	d->wdog_fd = -1;
	d->wdog_on = false;
}
