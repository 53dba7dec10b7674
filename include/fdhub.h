/*
 * fdhub.h: many descriptors behind one libqb poll entry.
 *
 * libqb's loop walks every poll entry on every turn (qb_poll_fds_usage_check_
 * counts them for its descriptor-limit warning), so with a QMP socket and a
 * pidfd per VM a 500-VM arbiter spent ~10 % of its failover CPU there, and
 * ~200 KiB on the entries.  A hub keeps such descriptors in its own epoll
 * set, registered in the loop as one descriptor at one priority; callbacks
 * get poll(2) event bits, as from qb_loop_poll_add(), and a callback that
 * returns < 0 removes its watch, as there.  Level-triggered, like libqb.
 */
#ifndef COLO_FDHUB_H
#define COLO_FDHUB_H

#include <qb/qbloop.h>
#include <stdint.h>

struct fdhub;
struct fdhub_watch;

/* as qb_loop_poll_dispatch_fn */
typedef int32_t (*fdhub_fn)(int32_t fd, int32_t revents, void *data);

/* NULL with errno set */
struct fdhub *fdhub_new(qb_loop_t *loop, enum qb_loop_priority p);
/* the watches must have been removed */
void fdhub_free(struct fdhub *h);

/* events: POLLIN/POLLOUT; NULL with errno set.  Remove before close(fd). */
struct fdhub_watch *fdhub_add(struct fdhub *h, int fd, int32_t events,
			      fdhub_fn fn, void *data);
int fdhub_mod(struct fdhub *h, struct fdhub_watch *w, int32_t events);
/* safe from any callback, also for a watch of the batch being dispatched */
void fdhub_del(struct fdhub *h, struct fdhub_watch *w);
unsigned fdhub_count(const struct fdhub *h);

#endif
