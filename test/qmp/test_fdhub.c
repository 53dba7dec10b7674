/*
 * test_fdhub.c: many descriptors behind one libqb poll entry (arbiter/fdhub.c),
 * on a real qb_loop with socketpairs.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/loop_wait.h"
#include "fdhub.h"

#define N_MANY 150

struct end {
	int fd[2];                /* fd[0] watched, fd[1] written */
	struct fdhub_watch *w;
	int calls;
	int32_t last_revents;
	int ret;                  /* what the callback returns */
	struct end *del_other;    /* deleted by this end's callback */
	struct fx *fx;
};

struct fx {
	qb_loop_t *loop;
	struct fdhub *hub;
	struct end e[N_MANY];
	int total;
};

static int32_t on_ready(int32_t fd, int32_t revents, void *data)
{
	struct end *e = data;
	char buf[8];

	assert_int_equal(fd, e->fd[0]);
	e->calls++;
	e->fx->total++;
	e->last_revents = revents;
	if (revents & POLLIN)
		assert_int_equal(read(fd, buf, 1), 1);
	if (e->del_other) {
		fdhub_del(e->fx->hub, e->del_other->w);
		e->del_other->w = NULL;
	}
	return e->ret;
}

static void end_open(struct fx *fx, struct end *e, int32_t events)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, e->fd), 0);
	e->fx = fx;
	e->w = fdhub_add(fx->hub, e->fd[0], events, on_ready, e);
	assert_non_null(e->w);
}

static void poke(struct end *e, int n)
{
	while (n--)
		assert_int_equal(write(e->fd[1], "x", 1), 1);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->loop = qb_loop_create();
	assert_non_null(fx->loop);
	fx->hub = fdhub_new(fx->loop, QB_LOOP_MED);
	assert_non_null(fx->hub);
	for (int i = 0; i < N_MANY; i++)
		fx->e[i].fd[0] = fx->e[i].fd[1] = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	for (int i = 0; i < N_MANY; i++) {
		if (fx->e[i].w)
			fdhub_del(fx->hub, fx->e[i].w);
		for (int k = 0; k < 2; k++)
			if (fx->e[i].fd[k] >= 0)
				close(fx->e[i].fd[k]);
	}
	assert_int_equal(fdhub_count(fx->hub), 0);
	fdhub_free(fx->hub);
	qb_loop_destroy(fx->loop);
	free(fx);
	return 0;
}

static bool calls_at_least(void *arg)
{
	struct end *e = arg;

	return e->calls >= 1;
}

static bool total_at_least(void *arg)
{
	struct fx *fx = arg;

	return fx->total >= N_MANY;
}

/* Readiness reaches the watch's callback with poll(2) bits; a callback that
 * returns -1 is removed, though its descriptor stays readable. */
static void test_dispatch_and_remove(void **state)
{
	struct fx *fx = *state;
	struct end *a = &fx->e[0], *b = &fx->e[1];

	end_open(fx, a, POLLIN);
	end_open(fx, b, POLLIN);
	assert_int_equal(fdhub_count(fx->hub), 2);
	poke(a, 1);
	assert_true(loop_wait(fx->loop, calls_at_least, a, 5));
	assert_int_equal(a->last_revents & POLLIN, POLLIN);
	assert_int_equal(b->calls, 0);
	b->ret = -1;
	poke(b, 3);
	assert_true(loop_wait(fx->loop, calls_at_least, b, 5));
	loop_wait(fx->loop, NULL, NULL, 0.1);
	assert_int_equal(b->calls, 1);
	b->w = NULL; /* removed by the hub */
	assert_int_equal(fdhub_count(fx->hub), 1);
	assert_int_equal(a->calls, 1);
}

/* Two watches ready in one turn, each deleting the other from its callback:
 * exactly one is called (the other's event, already taken, is dropped). */
static void test_delete_other_in_batch(void **state)
{
	struct fx *fx = *state;
	struct end *a = &fx->e[0], *b = &fx->e[1];

	end_open(fx, a, POLLIN);
	end_open(fx, b, POLLIN);
	a->del_other = b;
	b->del_other = a;
	poke(a, 1);
	poke(b, 1);
	loop_wait(fx->loop, NULL, NULL, 0.2);
	assert_int_equal(a->calls + b->calls, 1);
	assert_int_equal(fdhub_count(fx->hub), 1);
	if (a->calls)
		a->del_other = NULL;
	else
		b->del_other = NULL;
}

/* More ready descriptors than one turn takes: all are served, once each. */
static void test_many_ready(void **state)
{
	struct fx *fx = *state;

	for (int i = 0; i < N_MANY; i++)
		end_open(fx, &fx->e[i], POLLIN);
	for (int i = 0; i < N_MANY; i++)
		poke(&fx->e[i], 1);
	assert_true(loop_wait(fx->loop, total_at_least, fx, 5));
	loop_wait(fx->loop, NULL, NULL, 0.1);
	for (int i = 0; i < N_MANY; i++)
		assert_int_equal(fx->e[i].calls, 1);
	assert_int_equal(fdhub_count(fx->hub), N_MANY);
}

/* Watches come from slabs and are reused once removed: after every other
 * watch of several slabs is removed and added again (and one removed from
 * its own callback), each callback still gets its own descriptor and data,
 * once per readiness. */
static void test_reuse_after_delete(void **state)
{
	struct fx *fx = *state;

	for (int i = 0; i < N_MANY; i++)
		end_open(fx, &fx->e[i], POLLIN);
	for (int i = 0; i < N_MANY; i += 2) {
		fdhub_del(fx->hub, fx->e[i].w);
		fx->e[i].w = NULL;
	}
	assert_int_equal(fdhub_count(fx->hub), N_MANY / 2);
	fx->e[1].ret = -1; /* removed by the hub in the batch */
	poke(&fx->e[1], 1);
	assert_true(loop_wait(fx->loop, calls_at_least, &fx->e[1], 5));
	fx->e[1].w = NULL;
	fx->e[1].ret = 0;
	for (int i = 0; i < N_MANY; i++) {
		if (i % 2 == 0 || i == 1) {
			fx->e[i].w = fdhub_add(fx->hub, fx->e[i].fd[0], POLLIN, on_ready,
					       &fx->e[i]);
			assert_non_null(fx->e[i].w);
		}
		fx->e[i].calls = 0;
	}
	assert_int_equal(fdhub_count(fx->hub), N_MANY);
	fx->total = 0;
	for (int i = 0; i < N_MANY; i++)
		poke(&fx->e[i], 1);
	assert_true(loop_wait(fx->loop, total_at_least, fx, 5));
	loop_wait(fx->loop, NULL, NULL, 0.1);
	for (int i = 0; i < N_MANY; i++)
		assert_int_equal(fx->e[i].calls, 1); /* on_ready checks fd and data */
}

/* fdhub_mod changes what is asked for: POLLOUT on a writable socket. */
static void test_mod_pollout(void **state)
{
	struct fx *fx = *state;
	struct end *a = &fx->e[0];

	end_open(fx, a, POLLIN);
	loop_wait(fx->loop, NULL, NULL, 0.1);
	assert_int_equal(a->calls, 0);
	assert_int_equal(fdhub_mod(fx->hub, a->w, POLLIN | POLLOUT), 0);
	assert_true(loop_wait(fx->loop, calls_at_least, a, 5));
	assert_int_equal(a->last_revents & POLLOUT, POLLOUT);
	assert_int_equal(fdhub_mod(fx->hub, a->w, POLLIN), 0);
	a->calls = 0;
	loop_wait(fx->loop, NULL, NULL, 0.1);
	assert_int_equal(a->calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dispatch_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_other_in_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mod_pollout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_after_delete, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
