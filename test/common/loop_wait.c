/*
 * loop_wait.c: see loop_wait.h. Test code only: reads the monotonic clock.
 */
#include "loop_wait.h"

#include <time.h>

struct waiter {
	qb_loop_t *loop;
	bool (*cond)(void *arg);
	void *arg;
	double deadline;
	bool met;
	qb_loop_timer_handle tick;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tick(void *data)
{
	struct waiter *w = data;

	if (w->cond && w->cond(w->arg))
		w->met = true;
	if (w->met || now_s() >= w->deadline) {
		qb_loop_stop(w->loop);
		return;
	}
	qb_loop_timer_add(w->loop, QB_LOOP_LOW, 2 * 1000000ULL, w, tick, &w->tick);
}

bool loop_wait(qb_loop_t *loop, bool (*cond)(void *arg), void *arg, double secs)
{
	struct waiter w = {loop, cond, arg, now_s() + secs, false, 0};

	if (cond && cond(arg))
		return true;
	qb_loop_timer_add(loop, QB_LOOP_LOW, 2 * 1000000ULL, &w, tick, &w.tick);
	qb_loop_run(loop);
	/* The loop may have been stopped by a callback before the tick fired. */
	if (qb_loop_timer_is_running(loop, w.tick))
		qb_loop_timer_del(loop, w.tick);
	/* A condition may consume what it tests (waitpid): once true, never ask again. */
	if (!cond || w.met)
		return true;
	return cond(arg);
}
