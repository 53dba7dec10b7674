/*
 * slowdisk.c: LD_PRELOAD shim for test_daemon_persist.sh: a slow disk and
 * a trace of what the daemon made durable and sent, in the manner of
 * nokill.c (and sbd's testbed).
 *   fsync(2), fdatasync(2), syncfs(2) sleep COLO_TEST_FSYNC_DELAY_MS first
 *                       (0: none)
 *   fsync, fdatasync, syncfs, rename(2), cpg_mcast_joined()
 *                       each append one line to COLO_TEST_IO_LOG:
 *     fsync-begin T PATH / fsync-end T PATH / fdatasync-begin T PATH /
 *     fdatasync-end T PATH / syncfs-begin T PATH / syncfs-end T PATH /
 *     rename T NEWPATH / send T KIND / send-again T - (corosync said TRY_AGAIN)
 *   cpg_dispatch(), quorum_dispatch(): dispatch-begin / dispatch-end T -,
 *   quorum-begin / quorum-end T -
 *   write(2) of a buffer holding the record of VM COLO_TEST_WRITE_VM (if set;
 *   a line starting {"vm":"NAME",) to a file named epochs.log:
 *   append-mark T PATH
 *   T: CLOCK_MONOTONIC in µs; PATH from /proc/self/fd; KIND: the peer
 *   message kind byte (5 = ACK), logged only for a send corosync took.
 * Fault injection: while the file COLO_TEST_SYNC_FAIL_FLAG exists, fsync
 * and fdatasync of a file named epochs.log fail with EIO without syncing
 * (logged: fdatasync-fail T PATH), as a dying disk does.
 * Must not change any other result: every other call goes to the real
 * function.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <corosync/cpg.h>
#include <corosync/quorum.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);
ssize_t write(int fd, const void *buf, size_t len);

static ssize_t real_write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	return real(fd, buf, len);
}
int rename(const char *oldpath, const char *newpath);

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* one write per line, O_APPEND: the loop and the worker thread both log */
static void note(const char *what, const char *arg)
{
	const char *path = getenv("COLO_TEST_IO_LOG");
	char line[600];
	int fd, n;

	if (!path)
		return;
	n = snprintf(line, sizeof(line), "%s %" PRIu64 " %s\n", what, mono_us(), arg);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (real_write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the test then misses a line and fails */
	}
	close(fd);
}

static void fd_path(int fd, char *out, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
}

static bool is_epoch_log(const char *path)
{
	size_t l = strlen(path), k = strlen("/epochs.log");

	return l >= k && !strcmp(path + l - k, "/epochs.log");
}

static int slow_sync(int fd, const char *name, const char *begin, const char *end)
{
	const char *s = getenv("COLO_TEST_FSYNC_DELAY_MS");
	const char *flag = getenv("COLO_TEST_SYNC_FAIL_FLAG");
	long ms = s ? atol(s) : 0;
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
	char path[512];
	int rc;

	fd_path(fd, path, sizeof(path));
	if (flag && strcmp(name, "syncfs") && is_epoch_log(path) && access(flag, F_OK) == 0) {
		note("fdatasync-fail", path);
		errno = EIO;
		return -1;
	}
	note(begin, path);
	if (ms > 0) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts))
			;
	}
	rc = real(fd);
	note(end, path);
	return rc;
}

int fsync(int fd)
{
	return slow_sync(fd, "fsync", "fsync-begin", "fsync-end");
}

int fdatasync(int fd)
{
	return slow_sync(fd, "fdatasync", "fdatasync-begin", "fdatasync-end");
}

ssize_t write(int fd, const void *buf, size_t len)
{
	const char *vm = getenv("COLO_TEST_WRITE_VM");
	char mark[128];

	if (vm && *vm && len &&
	    snprintf(mark, sizeof(mark), "{\"vm\":\"%s\",", vm) < (int)sizeof(mark) &&
	    memmem(buf, len, mark, strlen(mark))) {
		char path[512];

		fd_path(fd, path, sizeof(path));
		if (is_epoch_log(path))
			note("append-mark", path);
	}
	return real_write(fd, buf, len);
}

int syncfs(int fd)
{
	return slow_sync(fd, "syncfs", "syncfs-begin", "syncfs-end");
}

int rename(const char *oldpath, const char *newpath)
{
	static int (*real)(const char *, const char *);
	int rc;

	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	rc = real(oldpath, newpath);
	if (rc == 0)
		note("rename", newpath);
	return rc;
}

cs_error_t cpg_mcast_joined(cpg_handle_t handle, cpg_guarantee_t guarantee,
			    const struct iovec *iovec, unsigned int iov_len)
{
	static cs_error_t (*real)(cpg_handle_t, cpg_guarantee_t, const struct iovec *,
				  unsigned int);
	cs_error_t rc;

	if (!real)
		real = (cs_error_t (*)(cpg_handle_t, cpg_guarantee_t, const struct iovec *,
				       unsigned int))dlsym(RTLD_NEXT, "cpg_mcast_joined");
	rc = real(handle, guarantee, iovec, iov_len);
	if (rc == CS_ERR_TRY_AGAIN)
		note("send-again", "-");
	if (rc == CS_OK && iov_len && iovec[0].iov_len > 6) {
		char kind[8];

		snprintf(kind, sizeof(kind), "%u", ((const unsigned char *)iovec[0].iov_base)[6]);
		note("send", kind);
	}
	return rc;
}

/* the loop turns that deliver CPG messages (bench_daemon.sh BENCH_TRACE):
 * when each node took the proposals, the acks, the commits */
cs_error_t cpg_dispatch(cpg_handle_t handle, cs_dispatch_flags_t flags)
{
	static cs_error_t (*real)(cpg_handle_t, cs_dispatch_flags_t);
	cs_error_t rc;

	if (!real)
		real = (cs_error_t (*)(cpg_handle_t, cs_dispatch_flags_t))dlsym(RTLD_NEXT,
										 "cpg_dispatch");
	note("dispatch-begin", "-");
	rc = real(handle, flags);
	note("dispatch-end", "-");
	return rc;
}

cs_error_t quorum_dispatch(quorum_handle_t handle, cs_dispatch_flags_t flags)
{
	static cs_error_t (*real)(quorum_handle_t, cs_dispatch_flags_t);
	cs_error_t rc;

	if (!real)
		real = (cs_error_t (*)(quorum_handle_t, cs_dispatch_flags_t))dlsym(
			RTLD_NEXT, "quorum_dispatch");
	note("quorum-begin", "-");
	rc = real(handle, flags);
	note("quorum-end", "-");
	return rc;
}
