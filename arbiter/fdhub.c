/*
 * fdhub.c: many descriptors behind one libqb poll entry (see fdhub.h).
 */
#include "fdhub.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* events taken per turn of the loop; more stay ready for the next turn,
 * so that one busy hub does not starve the loop's other sources */
#define FDHUB_BATCH 64

/* Watches come from slabs of this many, not one malloc each: a watch is
 * made when a QEMU's pid or monitor is known, amid the burst of replies
 * of hundreds of monitors, and 40-byte blocks made then stay scattered
 * over heap pages that are otherwise free (~250 KiB of the idle RSS with
 * 500 VMs). */
#define FDHUB_SLAB 64

/* a watch on the free list is poisoned under AddressSanitizer, which
 * would otherwise no longer see a stale pointer to a removed watch */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define WATCH_POISON(w) ASAN_POISON_MEMORY_REGION((w), sizeof(*(w)))
#define WATCH_UNPOISON(w) ASAN_UNPOISON_MEMORY_REGION((w), sizeof(*(w)))
#else
#define WATCH_POISON(w) ((void)(w))
#define WATCH_UNPOISON(w) ((void)(w))
#endif

struct fdhub_watch {
	int fd;
	fdhub_fn fn;
	void *data;
	bool dead;
	struct fdhub_watch *next; /* on the dead list, or the free list */
};

struct fdhub_slab {
	struct fdhub_slab *next;
	struct fdhub_watch w[FDHUB_SLAB];
};

struct fdhub {
	qb_loop_t *loop;
	int epfd;
	unsigned n;
	int depth;                  /* dispatches on the stack */
	struct fdhub_watch *dead;   /* removed during a dispatch: freed after it */
	struct fdhub_watch *free;   /* unused watches of the slabs */
	struct fdhub_slab *slabs;
};

static void watch_free(struct fdhub *h, struct fdhub_watch *w)
{
	w->next = h->free;
	h->free = w;
	WATCH_POISON(w);
}

static struct fdhub_watch *watch_alloc(struct fdhub *h)
{
	struct fdhub_watch *w;

	if (!h->free) {
		struct fdhub_slab *s = calloc(1, sizeof(*s));

		if (!s)
			return NULL;
		s->next = h->slabs;
		h->slabs = s;
		for (unsigned i = FDHUB_SLAB; i-- > 0;)
			watch_free(h, &s->w[i]);
	}
	w = h->free;
	WATCH_UNPOISON(w);
	h->free = w->next;
	memset(w, 0, sizeof(*w));
	return w;
}

static uint32_t to_epoll(int32_t ev)
{
	return ((ev & POLLIN) ? EPOLLIN : 0) | ((ev & POLLOUT) ? EPOLLOUT : 0);
}

static int32_t to_poll(uint32_t ev)
{
	return ((ev & EPOLLIN) ? POLLIN : 0) | ((ev & EPOLLOUT) ? POLLOUT : 0) |
	       ((ev & EPOLLERR) ? POLLERR : 0) | ((ev & EPOLLHUP) ? POLLHUP : 0);
}

static int32_t hub_ready(int32_t fd, int32_t revents, void *data)
{
	struct fdhub *h = data;
	struct epoll_event ev[FDHUB_BATCH];
	int n;

	(void)fd;
	(void)revents;
	n = epoll_wait(h->epfd, ev, FDHUB_BATCH, 0);
	h->depth++;
	for (int i = 0; i < n; i++) {
		struct fdhub_watch *w = ev[i].data.ptr;

		if (!w->dead && w->fn(w->fd, to_poll(ev[i].events), w->data) < 0 && !w->dead)
			fdhub_del(h, w);
	}
	if (--h->depth == 0) {
		while (h->dead) {
			struct fdhub_watch *w = h->dead;

			h->dead = w->next;
			watch_free(h, w);
		}
	}
	return 0;
}

struct fdhub *fdhub_new(qb_loop_t *loop, enum qb_loop_priority p)
{
	struct fdhub *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->loop = loop;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0 || qb_loop_poll_add(loop, p, h->epfd, POLLIN, h, hub_ready) != 0) {
		int err = h->epfd < 0 ? errno : EIO;

		if (h->epfd >= 0)
			close(h->epfd);
		free(h);
		errno = err;
		return NULL;
	}
	return h;
}

void fdhub_free(struct fdhub *h)
{
	if (!h)
		return;
	qb_loop_poll_del(h->loop, h->epfd);
	close(h->epfd);
	while (h->slabs) {
		struct fdhub_slab *s = h->slabs;

		h->slabs = s->next;
		for (unsigned i = 0; i < FDHUB_SLAB; i++)
			WATCH_UNPOISON(&s->w[i]);
		free(s);
	}
	free(h);
}

struct fdhub_watch *fdhub_add(struct fdhub *h, int fd, int32_t events,
			      fdhub_fn fn, void *data)
{
	struct fdhub_watch *w = watch_alloc(h);
	struct epoll_event ev = { .events = to_epoll(events) };

	if (!w)
		return NULL;
	w->fd = fd;
	w->fn = fn;
	w->data = data;
	ev.data.ptr = w;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		watch_free(h, w);
		errno = err;
		return NULL;
	}
	h->n++;
	return w;
}

int fdhub_mod(struct fdhub *h, struct fdhub_watch *w, int32_t events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.ptr = w };

	return epoll_ctl(h->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void fdhub_del(struct fdhub *h, struct fdhub_watch *w)
{
	if (!w || w->dead)
		return;
	/* fails harmlessly if the callback closed fd: that removed it */
	(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	h->n--;
	if (h->depth) {
		w->next = h->dead;
		h->dead = w;
	} else {
		watch_free(h, w);
	}
}

unsigned fdhub_count(const struct fdhub *h)
{
	return h->n;
}
