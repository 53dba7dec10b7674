/*
 * timerhub.c: many one-shot timers behind one libqb loop timer (timerhub.h).
 */
#include "timerhub.h"

#include <errno.h>
#include <qb/qbutil.h>
#include <stdlib.h>

struct timerhub {
	qb_loop_t *loop;
	enum qb_loop_priority prio;
	struct timerhub_entry **heap;
	unsigned n, cap;
	uint64_t seq;
	qb_loop_timer_handle timer;
	bool armed;          /* the loop timer */
	uint64_t armed_due;  /* ... set for this time */
	bool firing;         /* in fire(): it re-arms when done */
};

static bool before(const struct timerhub_entry *a, const struct timerhub_entry *b)
{
	return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void place(struct timerhub *h, unsigned i, struct timerhub_entry *e)
{
	h->heap[i] = e;
	e->idx = i;
}

static void sift_up(struct timerhub *h, unsigned i)
{
	struct timerhub_entry *e = h->heap[i];

	while (i > 0) {
		unsigned p = (i - 1) / 2;

		if (!before(e, h->heap[p]))
			break;
		place(h, i, h->heap[p]);
		i = p;
	}
	place(h, i, e);
}

static void sift_down(struct timerhub *h, unsigned i)
{
	struct timerhub_entry *e = h->heap[i];

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && before(h->heap[c + 1], h->heap[c]))
			c++;
		if (!before(h->heap[c], e))
			break;
		place(h, i, h->heap[c]);
		i = c;
	}
	place(h, i, e);
}

static void heap_remove(struct timerhub *h, struct timerhub_entry *e)
{
	unsigned i = e->idx;
	struct timerhub_entry *last = h->heap[--h->n];

	e->armed = false;
	if (i == h->n)
		return;
	place(h, i, last);
	sift_down(h, i);
	sift_up(h, last->idx);
}

static void fire(void *data);

/* The loop timer for the earliest entry: re-armed only when that moved
 * earlier; one that fires with nothing due just re-arms.  -ENOMEM if it
 * cannot be armed (the timers wait for the next add that arms it). */
static int arm(struct timerhub *h)
{
	uint64_t now, due;

	if (h->firing || !h->n)
		return 0;
	due = h->heap[0]->due_ns;
	if (h->armed && h->armed_due <= due)
		return 0;
	if (h->armed)
		qb_loop_timer_del(h->loop, h->timer);
	now = qb_util_nano_current_get();
	h->armed = qb_loop_timer_add(h->loop, h->prio, due > now ? due - now : 0, h, fire,
				     &h->timer) == 0;
	h->armed_due = due;
	return h->armed ? 0 : -ENOMEM;
}

static void fire(void *data)
{
	struct timerhub *h = data;
	uint64_t now = qb_util_nano_current_get();

	h->armed = false;
	h->firing = true;
	while (h->n && h->heap[0]->due_ns <= now) {
		struct timerhub_entry *e = h->heap[0];

		heap_remove(h, e);
		e->fn(e->data); /* may add or delete timers */
	}
	h->firing = false;
	(void)arm(h);
}

struct timerhub *timerhub_new(qb_loop_t *loop, enum qb_loop_priority p)
{
	struct timerhub *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->loop = loop;
	h->prio = p;
	return h;
}

void timerhub_free(struct timerhub *h)
{
	if (!h)
		return;
	if (h->armed)
		qb_loop_timer_del(h->loop, h->timer);
	free(h->heap);
	free(h);
}

int timerhub_add(struct timerhub *h, struct timerhub_entry *e, uint64_t ms,
		 timerhub_fn fn, void *data)
{
	if (e->armed)
		heap_remove(h, e);
	if (h->n == h->cap) {
		unsigned cap = h->cap ? h->cap * 2 : 64;
		struct timerhub_entry **n = realloc(h->heap, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->heap = n;
		h->cap = cap;
	}
	e->due_ns = qb_util_nano_current_get() + ms * QB_TIME_NS_IN_MSEC;
	e->seq = h->seq++;
	e->fn = fn;
	e->data = data;
	e->armed = true;
	place(h, h->n++, e);
	sift_up(h, e->idx);
	if (arm(h)) {
		heap_remove(h, e);
		return -ENOMEM;
	}
	return 0;
}

void timerhub_del(struct timerhub *h, struct timerhub_entry *e)
{
	if (!e->armed)
		return;
	heap_remove(h, e);
	/* the loop timer may stay: it finds nothing due and re-arms */
}

unsigned timerhub_count(const struct timerhub *h)
{
	return h->n;
}
