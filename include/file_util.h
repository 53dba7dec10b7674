/*
 * file_util.h: the two file helpers the daemon's writers share (the epoch
 * log, the audit log, status.json): system calls only, usable on the worker
 * thread.
 */
#ifndef COLO_ARBITER_FILE_UTIL_H
#define COLO_ARBITER_FILE_UTIL_H

#include <stddef.h>

/* mkdir -p with mode 0750: 0 or -errno. */
int file_mkdir_p(const char *path);
/* The whole buffer, across short writes and EINTR: 0 or -errno. */
int file_write_all(int fd, const char *s, size_t len);

#endif
