/*
 * timerhub.h: many one-shot timers behind one libqb loop timer.
 *
 * libqb keeps its timers in an array and looks for a free slot by walking
 * it under a spin lock on every qb_loop_timer_add (loop_timerlist.c), so
 * with a timeout per QMP command a 500-VM failover, ~1000 commands within
 * ~100 ms, spent ~7 % of the survivor's CPU in that walk (BENCHMARKS.md).
 * A hub keeps its timers in a binary min-heap and arms one loop timer for
 * the earliest.  The entry lives in the caller's struct (no allocation per
 * timer).  A callback may add and delete timers, its own included.
 */
#ifndef COLO_TIMERHUB_H
#define COLO_TIMERHUB_H

#include <qb/qbloop.h>
#include <stdbool.h>
#include <stdint.h>

struct timerhub;

typedef void (*timerhub_fn)(void *data);

struct timerhub_entry {
	uint64_t due_ns;  /* qb_util_nano_current_get() clock */
	uint64_t seq;     /* ties fire in the order added */
	unsigned idx;     /* position in the heap while armed */
	bool armed;
	timerhub_fn fn;
	void *data;
};

/* NULL with errno set */
struct timerhub *timerhub_new(qb_loop_t *loop, enum qb_loop_priority p);
/* the timers must have been deleted */
void timerhub_free(struct timerhub *h);

/* Arms e to call fn(data) in ms (re-arms it if armed): 0 or -ENOMEM. */
int timerhub_add(struct timerhub *h, struct timerhub_entry *e, uint64_t ms,
		 timerhub_fn fn, void *data);
/* Disarms e; nothing if it is not armed. */
void timerhub_del(struct timerhub *h, struct timerhub_entry *e);
unsigned timerhub_count(const struct timerhub *h);

#endif
