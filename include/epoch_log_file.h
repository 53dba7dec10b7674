/*
 * epoch_log_file.h: the epoch log on disk (format: epoch_log.h): open with
 * recovery, append a batch durably, compact.
 *
 * Only system calls: no logging, no jansson, no struct daemon, so that the
 * daemon's worker thread can run every call here; results and what was
 * repaired come back in return values and in struct epoch_log_file.
 */
#ifndef COLO_ARBITER_EPOCH_LOG_FILE_H
#define COLO_ARBITER_EPOCH_LOG_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "epoch_log.h"

/* Compaction is due once the log is this large and four times its size
 * after the last compaction: a 500-VM failover appends ~0.7 MB. */
#define EPOCH_LOG_COMPACT_MIN (1u << 20)

struct epoch_log_file {
	int fd;             /* O_APPEND */
	int dfd;            /* the state directory */
	char path[PATH_MAX];
	uint64_t size;      /* every byte of it verified or written by us */
	uint64_t compacted; /* size after the last compaction (or the open) */
	uint64_t batch;     /* the last batch number */
	uint64_t compact_min;
	unsigned max_vms;
	/* an fdatasync (or a cut-back after a failed write) failed: what is on
	 * disk is unknown, so no batch is durable any more (until a restart
	 * reads the file again) */
	bool broken;
	/* from the open */
	bool created;
	size_t torn_bytes;  /* unfinished tail dropped, saved in PATH.tail */
};

/* Opens dir/epochs.log (creating dir and the file), drops an unfinished
 * last batch (saved to epochs.log.tail for the operator) and scans it:
 * *buf gets the file's bytes (free it) and *scan each VM's last record.
 * 0 or -errno; -EBADMSG / -E2BIG with the reason in err. */
int epoch_log_open(struct epoch_log_file *lf, const char *dir, unsigned max_vms, char **buf,
		   struct epoch_log_scan *scan, char *err, size_t errcap);
/* One batch of n records (each one JSON object starting {"vm":"NAME",
 * without a newline): one write, one fdatasync.  0: durable.  On failure
 * the file is cut back to its size before; if that cannot be ensured (or
 * fdatasync failed) the log is broken and refuses every later batch. */
int epoch_log_append(struct epoch_log_file *lf, const char *const *recs, const size_t *lens,
		     unsigned n);
/* Rewrites the log as one batch of each VM's last record: temp file,
 * fdatasync, rename, fsync of the directory.  1: compacted; 0: not due
 * (unless force); -errno: the old log is kept (broken only if the rename
 * may not be durable). */
int epoch_log_compact(struct epoch_log_file *lf, bool force);
void epoch_log_close(struct epoch_log_file *lf);

#endif
