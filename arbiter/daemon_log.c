/*
 * daemon_log.c: qb_log set-up for colo-arbiterd: syslog and stderr at the
 * configured level, and the blackbox (everything down to DEBUG, in memory)
 * for post-mortems: dumped on SIGUSR2 and on a fatal signal.
 * The other daemon files log with qb_log() directly, each line naming the
 * node and the VM where there is one.
 */
#include "daemon.h"

#include <qb/qblog.h>
#include <string.h>
#include <syslog.h>

static void target_level(int target, bool on, int prio)
{
	qb_log_filter_ctl(target, QB_LOG_FILTER_CLEAR_ALL, QB_LOG_FILTER_FILE, "*", LOG_TRACE);
	qb_log_ctl(target, QB_LOG_CONF_ENABLED, on ? QB_TRUE : QB_FALSE);
	if (on)
		qb_log_filter_ctl(target, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", prio);
}

void daemon_log_init(struct daemon *d)
{
	qb_log_init("colo-arbiterd", LOG_DAEMON, LOG_INFO);
	qb_log_format_set(QB_LOG_SYSLOG, "%b");
	qb_log_format_set(QB_LOG_STDERR, "%t %N [%p] %b");
	qb_log_format_set(QB_LOG_BLACKBOX, "%t %N [%p] %b");
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_SIZE, 1024 * 1024);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_THREADED, QB_FALSE);
	qb_log_ctl(QB_LOG_BLACKBOX, QB_LOG_CONF_ENABLED, QB_TRUE);
	qb_log_filter_ctl(QB_LOG_BLACKBOX, QB_LOG_FILTER_ADD, QB_LOG_FILTER_FILE, "*", LOG_DEBUG);
	daemon_log_set_level(d);
}

void daemon_log_set_level(struct daemon *d)
{
	d->log_prio = config_log_priority(&d->cfg);
	target_level(QB_LOG_SYSLOG, d->cfg.log_syslog, d->log_prio);
	target_level(QB_LOG_STDERR, d->cfg.log_stderr || d->foreground, d->log_prio);
}

void daemon_log_fini(void)
{
	qb_log_fini();
}
