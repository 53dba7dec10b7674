/*
 * test_daemon_worker.c: the daemon's I/O worker thread (arbiter/daemon_worker.c)
 * on a real qb_loop.  Jobs of one batch function queued while another runs go
 * in one call, in their order, ahead of a plain job queued between them (a
 * burst of epoch records shares one fdatasync even with an audit line among
 * them); done() comes back on the loop thread in submission order of each
 * kind, never cancelled while the daemon runs.  Deadlines are generous: the
 * machine is noisy.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "common/loop_wait.h"
#include "daemon_worker.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, release;
	unsigned calls, sizes[8];
} g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, 0, { 0 } };

static unsigned done_n;
static int done_rc[8];
static bool done_cancelled;

/* Worker thread: holds the first call until the test releases it. */
static void held_batch(void **args, int *rcs, unsigned n)
{
	pthread_mutex_lock(&g.mu);
	g.entered = true;
	pthread_cond_broadcast(&g.cv);
	while (!g.release)
		pthread_cond_wait(&g.cv, &g.mu);
	if (g.calls < 8)
		g.sizes[g.calls] = n;
	g.calls++;
	pthread_mutex_unlock(&g.mu);
	for (unsigned i = 0; i < n; i++)
		rcs[i] = (int)(intptr_t)args[i];
}

static int plain_job(void *arg)
{
	return (int)(intptr_t)arg;
}

static void on_done(void *arg, int rc, bool cancelled)
{
	(void)arg;
	if (done_n < 8)
		done_rc[done_n] = rc;
	done_n++;
	done_cancelled |= cancelled;
}

static bool all_done(void *arg)
{
	return done_n == *(unsigned *)arg;
}

static bool wait_entered(double secs)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	pthread_mutex_lock(&g.mu);
	while (!g.entered &&
	       pthread_cond_timedwait(&g.cv, &g.mu, &ts) != ETIMEDOUT)
		;
	ok = g.entered;
	pthread_mutex_unlock(&g.mu);
	return ok;
}

static void test_batch_behind_running(void **state)
{
	qb_loop_t *loop = qb_loop_create();
	struct daemon_worker *w;
	unsigned four = 4;

	(void)state;
	assert_non_null(loop);
	w = daemon_worker_start(loop);
	assert_non_null(w);

	assert_int_equal(daemon_worker_submit_batch(w, held_batch, on_done, (void *)(intptr_t)1), 0);
	assert_true(wait_entered(20));
	/* queued while the first is held: two records with a plain job between */
	assert_int_equal(daemon_worker_submit_batch(w, held_batch, on_done, (void *)(intptr_t)2), 0);
	assert_int_equal(daemon_worker_submit(w, plain_job, on_done, (void *)(intptr_t)9), 0);
	assert_int_equal(daemon_worker_submit_batch(w, held_batch, on_done, (void *)(intptr_t)3), 0);

	pthread_mutex_lock(&g.mu);
	g.release = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	assert_true(loop_wait(loop, all_done, &four, 20));

	/* one call for the first, one for the two records queued behind it */
	pthread_mutex_lock(&g.mu);
	assert_int_equal(g.calls, 2);
	assert_int_equal(g.sizes[0], 1);
	assert_int_equal(g.sizes[1], 2);
	pthread_mutex_unlock(&g.mu);
	/* the records in their order, the plain job after the batch it let by */
	assert_int_equal(done_rc[0], 1);
	assert_int_equal(done_rc[1], 2);
	assert_int_equal(done_rc[2], 3);
	assert_int_equal(done_rc[3], 9);
	assert_false(done_cancelled);

	daemon_worker_stop(w);
	qb_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_behind_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
