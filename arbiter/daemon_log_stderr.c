/*
 * daemon_log_stderr.c: the stderr log target, one write per loop iteration.
 *
 * libqb's own stderr target writes each line as it is logged.  A node loss
 * with hundreds of VMs logs thousands of lines within ~100 ms, one write(2)
 * each, on the loop that is failing the VMs over (BENCHMARKS.md).  Here the
 * lines of one loop iteration are gathered and written together at a 0 ms
 * timer; a line at WARNING or above is written at once with what precedes
 * it, and so is everything while no loop runs (start-up, shutdown, a forked
 * child).  A crash loses at most the current iteration's lower lines: the
 * blackbox has them (and every DEBUG line).
 * Loop thread only, as every qb_log call of the daemon (daemon_worker.c).
 */
#include "daemon.h"

#include <errno.h>
#include <qb/qblog.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define ERR_BUF_MAX (16 * 1024) /* resident once a burst filled it: kept small */

static struct {
	char buf[ERR_BUF_MAX];
	size_t len;
	qb_loop_t *loop;    /* NULL: every line at once */
	qb_loop_timer_handle timer;
	bool armed, arming;
} eb;

static void eb_write(void)
{
	size_t off = 0;

	while (off < eb.len) {
		ssize_t n = write(STDERR_FILENO, eb.buf + off, eb.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* stderr gone: nobody to tell */
		off += (size_t)n;
	}
	eb.len = 0;
}

static void eb_fire(void *data)
{
	(void)data;
	eb.armed = false;
	eb_write();
}

static void eb_logger(int32_t t, struct qb_log_callsite *cs, struct timespec *ts,
		      const char *msg)
{
	char line[QB_LOG_MAX_LEN + 1];
	size_t l;

	qb_log_target_format(t, cs, ts, msg, line);
	l = strnlen(line, QB_LOG_MAX_LEN);
	if (eb.len + l + 1 > sizeof(eb.buf))
		eb_write();
	memcpy(eb.buf + eb.len, line, l);
	eb.buf[eb.len + l] = '\n';
	eb.len += l + 1;
	if (!eb.loop || cs->priority <= LOG_WARNING) {
		eb_write();
		return;
	}
	if (eb.armed || eb.arming)
		return;
	/* arming may log (libqb's own messages): those lines just wait */
	eb.arming = true;
	eb.armed = qb_loop_timer_add(eb.loop, QB_LOOP_LOW, 0, NULL, eb_fire, &eb.timer) == 0;
	eb.arming = false;
	if (!eb.armed)
		eb_write();
}

int32_t daemon_log_stderr_open(qb_loop_t *loop)
{
	eb.loop = loop;
	return qb_log_custom_open(eb_logger, NULL, NULL, NULL);
}

void daemon_log_stderr_immediate(void)
{
	if (eb.armed && eb.loop)
		qb_loop_timer_del(eb.loop, eb.timer);
	eb.armed = false;
	eb.loop = NULL;
	eb_write();
}

void daemon_log_stderr_after_fork(void)
{
	/* the parent's pending lines are the parent's to write */
	eb.len = 0;
	eb.armed = false;
	eb.loop = NULL;
}
