/*
 * test_timerhub.c: many one-shot timers behind one libqb loop timer
 * (arbiter/timerhub.c), on a real qb_loop.  Timers fire in the order of
 * their deadlines (ties in the order added), each once, never before its
 * deadline; deleted ones never; a re-armed one at its new deadline; a
 * callback may add timers and delete others (or re-arm itself); the hub
 * ends empty.  Deadlines are generous: the machine is noisy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <qb/qbutil.h>

#include "common/loop_wait.h"
#include "timerhub.h"

#define N 300

struct tmr {
	struct timerhub_entry e;
	struct fx *fx;
	uint64_t added_ns, delay_ms;
	int fired, order;
	struct tmr *del_other, *add_other; /* done by this one's callback */
	uint64_t add_ms;
};

struct fx {
	qb_loop_t *loop;
	struct timerhub *hub;
	struct tmr t[N];
	int total, early;
};

static void on_fire(void *data)
{
	struct tmr *t = data;
	uint64_t now = qb_util_nano_current_get();

	if (now < t->added_ns + t->delay_ms * QB_TIME_NS_IN_MSEC)
		t->fx->early++;
	t->fired++;
	t->order = t->fx->total++;
	if (t->del_other)
		timerhub_del(t->fx->hub, &t->del_other->e);
	if (t->add_other) {
		t->add_other->added_ns = qb_util_nano_current_get();
		t->add_other->delay_ms = t->add_ms;
		assert_int_equal(timerhub_add(t->fx->hub, &t->add_other->e, t->add_ms, on_fire,
					      t->add_other), 0);
	}
}

static void arm(struct fx *fx, struct tmr *t, uint64_t ms)
{
	t->fx = fx;
	t->added_ns = qb_util_nano_current_get();
	t->delay_ms = ms;
	assert_int_equal(timerhub_add(fx->hub, &t->e, ms, on_fire, t), 0);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->loop = qb_loop_create();
	assert_non_null(fx->loop);
	fx->hub = timerhub_new(fx->loop, QB_LOOP_MED);
	assert_non_null(fx->hub);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	timerhub_free(fx->hub);
	qb_loop_destroy(fx->loop);
	free(fx);
	return 0;
}

static bool all_fired(void *arg)
{
	struct fx *fx = arg;

	return timerhub_count(fx->hub) == 0;
}

static void test_order_and_deletes(void **state)
{
	struct fx *fx = *state;
	int deleted = 0;

	/* deadlines 0..149 ms, each twice: ties keep the order added */
	for (int i = 0; i < N; i++)
		arm(fx, &fx->t[i], (uint64_t)((i * 37) % 150));
	assert_int_equal(timerhub_count(fx->hub), N);
	for (int i = 0; i < N; i += 7) {
		timerhub_del(fx->hub, &fx->t[i].e);
		deleted++;
	}
	timerhub_del(fx->hub, &fx->t[0].e); /* twice: nothing */
	assert_int_equal(timerhub_count(fx->hub), N - deleted);
	assert_true(loop_wait(fx->loop, all_fired, fx, 10));
	loop_wait(fx->loop, NULL, NULL, 0.2); /* nothing more fires */
	assert_int_equal(fx->total, N - deleted);
	assert_int_equal(fx->early, 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(fx->t[i].fired, i % 7 ? 1 : 0);
		for (int j = 0; j < N; j++) {
			if (!fx->t[i].fired || !fx->t[j].fired)
				continue;
			if (fx->t[i].delay_ms < fx->t[j].delay_ms ||
			    (fx->t[i].delay_ms == fx->t[j].delay_ms && i < j))
				assert_true(fx->t[i].order < fx->t[j].order);
		}
	}
}

static void test_rearm_moves_deadline(void **state)
{
	struct fx *fx = *state;

	arm(fx, &fx->t[0], 5000);
	arm(fx, &fx->t[1], 50);
	arm(fx, &fx->t[0], 20); /* re-armed earlier: fires first, once */
	assert_int_equal(timerhub_count(fx->hub), 2);
	assert_true(loop_wait(fx->loop, all_fired, fx, 10));
	assert_int_equal(fx->t[0].fired, 1);
	assert_int_equal(fx->t[1].fired, 1);
	assert_true(fx->t[0].order < fx->t[1].order);
	arm(fx, &fx->t[2], 10);
	arm(fx, &fx->t[2], 300); /* re-armed later: not before it */
	loop_wait(fx->loop, NULL, NULL, 0.1);
	assert_int_equal(fx->t[2].fired, 0);
	assert_true(loop_wait(fx->loop, all_fired, fx, 10));
	assert_int_equal(fx->t[2].fired, 1);
	assert_int_equal(fx->early, 0);
}

static void test_callback_adds_and_deletes(void **state)
{
	struct fx *fx = *state;

	/* t0 (10 ms) deletes t1 (60 ms) and adds t2 (+20 ms); t2 re-arms t3 */
	fx->t[0].del_other = &fx->t[1];
	fx->t[0].add_other = &fx->t[2];
	fx->t[0].add_ms = 20;
	fx->t[2].fx = fx;
	fx->t[2].add_other = &fx->t[3];
	fx->t[2].add_ms = 0;
	fx->t[3].fx = fx;
	arm(fx, &fx->t[0], 10);
	arm(fx, &fx->t[1], 60);
	assert_true(loop_wait(fx->loop, all_fired, fx, 10));
	loop_wait(fx->loop, NULL, NULL, 0.15);
	assert_int_equal(fx->t[0].fired, 1);
	assert_int_equal(fx->t[1].fired, 0);
	assert_int_equal(fx->t[2].fired, 1);
	assert_int_equal(fx->t[3].fired, 1);
	assert_true(fx->t[2].order < fx->t[3].order);
	assert_int_equal(timerhub_count(fx->hub), 0);
	assert_int_equal(fx->early, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_deletes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rearm_moves_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_adds_and_deletes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
