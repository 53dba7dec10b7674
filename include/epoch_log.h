/*
 * epoch_log.h: the on-disk format of the epoch log, state_dir/epochs.log
 * (pure: bytes in, bytes out; the file I/O is in daemon_persist.c).
 *
 * The log is append-only: batches of record lines, each record one compact
 * JSON object starting {"vm":"NAME", (a whole struct fsm_persist: the last
 * line of a VM is its state), each batch closed by a commit line
 *
 *   {"commit":B,"records":K,"bytes":N,"fnv1a":"16 hex digits"}
 *
 * where N is the length of the batch's K record lines (newlines included)
 * right before it and fnv1a their FNV-1a 64 hash.  A batch is one write()
 * and one fdatasync(), and the daemon acts on none of its records before the
 * fdatasync returns, so a crash can only leave the last batch unfinished:
 * that tail was never acted on and is dropped (and truncated) at start.  A
 * batch that does not verify with a verified batch after it is not a crash
 * but corruption: the start-up stops, as for any unreadable record (an
 * arbiter that forgot an ack could ack twice).
 */
#ifndef COLO_ARBITER_EPOCH_LOG_H
#define COLO_ARBITER_EPOCH_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EPOCH_LOG_NAME "epochs.log"
/* a VM name in a record line: the config's rule, [A-Za-z0-9_.-]{1,63} */
#define EPOCH_LOG_NAME_MAX 64

/* The commit line for a batch whose record lines (newlines included) are
 * recs[0..len): written into out (cap >= EPOCH_LOG_COMMIT_MAX, NUL-ended,
 * with its newline). Returns its length. */
#define EPOCH_LOG_COMMIT_MAX 128
size_t epoch_log_commit_line(uint64_t batch, unsigned records, const char *recs, size_t len,
			     char *out, size_t cap);

struct epoch_log_span {
	size_t off, len; /* a record line, without its newline */
};

struct epoch_log_scan {
	size_t good_len;      /* up to the end of the last verified batch */
	uint64_t last_batch;  /* its number; 0: none */
	unsigned batches;     /* verified */
	unsigned records;     /* record lines in them */
	bool torn;            /* bytes after good_len: an unfinished last batch */
	/* the last record line of each VM, in the order their VMs first
	 * appear; malloc'd, the caller frees it */
	struct epoch_log_span *latest;
	unsigned n_latest;
};

/* Scans a whole log. 0 with *out filled, or -EBADMSG (corruption: a batch
 * that does not verify before one that does, or a verified record line
 * without a VM name) / -ENOMEM / -E2BIG (more than max_vms VMs), with a
 * reason in err. */
int epoch_log_scan(const char *buf, size_t len, unsigned max_vms, struct epoch_log_scan *out,
		   char *err, size_t errcap);
void epoch_log_scan_free(struct epoch_log_scan *s);

/* The VM name of a record line, copied into name; false if the line does
 * not start {"vm":"NAME", with a valid name. */
bool epoch_log_line_vm(const char *line, size_t len, char name[EPOCH_LOG_NAME_MAX]);

#endif
