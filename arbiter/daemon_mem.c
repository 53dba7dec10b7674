/*
 * daemon_mem.c: gives memory back after a burst.
 *
 * A node loss with hundreds of VMs, or a status snapshot of them, allocates
 * megabytes for a moment (jansson trees, action and send lists); glibc keeps
 * the freed pages, interleaved with long-lived allocations, so the daemon's
 * RSS stayed at its peak.  After such a burst, once the loop has been quiet
 * for TRIM_DELAY_MS, malloc_trim() returns every free page to the kernel
 * (the burst's own buffers are freed before, daemon_core.c release_fire).
 * Decides nothing; costs about a millisecond per call, at most one call per
 * TRIM_DELAY_MS.
 */
#include "daemon.h"

#include <malloc.h>
#include <qb/qbutil.h>

#define TRIM_DELAY_MS 2000

static void trim_fire(void *data)
{
	struct daemon *d = data;

	d->trim_armed = false;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/*
 * glibc raises its mmap threshold (up to 32 MiB) each time a large block is
 * freed, after which status snapshots and bursts of jansson trees come from
 * the heap, between long-lived per-VM allocations, and stay resident.  A
 * fixed threshold keeps blocks of 64 KiB and more in their own mappings,
 * returned to the kernel when freed.
 */
void daemon_mem_init(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	/* the I/O worker allocates a few blocks per job: its own arena
	 * (64 MiB reserved) kept 132 KiB resident for them */
	mallopt(M_ARENA_MAX, 1);
#endif
}

void daemon_mem_trim_soon(struct daemon *d)
{
	if (d->trim_armed || d->stopping || !d->loop)
		return;
	if (qb_loop_timer_add(d->loop, QB_LOOP_LOW, (uint64_t)TRIM_DELAY_MS * QB_TIME_NS_IN_MSEC,
			      d, trim_fire, &d->trim_timer) == 0)
		d->trim_armed = true;
}

void daemon_mem_stop(struct daemon *d)
{
	if (d->trim_armed)
		qb_loop_timer_del(d->loop, d->trim_timer);
	d->trim_armed = false;
}
