/*
 * daemon_sched.c: the arbiter's CPU scheduling.
 *
 * The node's busiest processes are the VMs the arbiter protects: with 40
 * TCG QEMUs on two cores, a normal-priority arbiter waited up to 28 ms for
 * a core between the reply that decided a failover and the write of
 * x-colo-lost-heartbeat.  Like corosync and sbd, the arbiter therefore
 * runs SCHED_RR by default, at a priority below corosync's (99) so that
 * totem, on which its own liveness depends, still comes first.  Its loop
 * sleeps in epoll between events, and the kernel's RT throttling caps a
 * runaway at 95% of a core.  Forked helpers (the fencing child) start
 * with normal scheduling (SCHED_RESET_ON_FORK); that flag resets new
 * threads too, so the I/O worker, whose fdatasync an ack waits for, gets
 * the policy explicitly.
 */
#include "daemon.h"
#include "daemon_worker.h"

#include <errno.h>
#include <qb/qblog.h>
#include <sched.h>
#include <string.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

void daemon_sched_apply(struct daemon *d)
{
	struct sched_param sp = { .sched_priority = (int)d->cfg.realtime_priority };
	int rc;

	if (!d->cfg.realtime_priority) {
		qb_log(LOG_INFO, "realtime_priority 0: normal scheduling");
		return;
	}
	if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp)) {
		qb_log(LOG_WARNING, "cannot run SCHED_RR at priority %u (%s): normal "
		       "scheduling, reactions may wait for a core behind the VMs",
		       d->cfg.realtime_priority, strerror(errno));
		return;
	}
	rc = d->worker ? daemon_worker_set_sched(d->worker, SCHED_RR, sp.sched_priority) : 0;
	if (rc)
		qb_log(LOG_WARNING, "the I/O worker stays at normal scheduling: %s", strerror(rc));
	qb_log(LOG_INFO, "SCHED_RR at priority %u", d->cfg.realtime_priority);
}
