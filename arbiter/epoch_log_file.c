/*
 * epoch_log_file.c: the epoch log's file (see epoch_log_file.h).
 *
 * One append and one fdatasync per batch replaced a file per record (temp
 * file, rename, syncfs, directory fsync): at 500 VMs the renames and a
 * syncfs of the whole shared filesystem took ~1 s per node loss, the epoch
 * commit waited for it twice (the acker's record, then the proposer's),
 * and the commands followed by seconds.  A record is the VM's whole state,
 * so the last line of a VM wins and compaction keeps only those.
 * Must not: log, or leave a partial batch followed by a later one (the scan
 * would then call the file corrupt).
 */
#include "epoch_log_file.h"
#include "file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_all(int fd, size_t size, char **out)
{
	char *buf = malloc(size + 1);
	size_t got = 0;

	if (!buf)
		return -ENOMEM;
	while (got < size) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = n < 0 ? -errno : -EIO; /* shrank under us */

			free(buf);
			return rc;
		}
		got += (size_t)n;
	}
	buf[size] = '\0';
	*out = buf;
	return 0;
}

/* The dropped tail, kept for the operator; best effort. */
static void save_tail(const struct epoch_log_file *lf, const char *tail, size_t len)
{
	char path[PATH_MAX + 8];
	int fd;

	snprintf(path, sizeof(path), "%s.tail", lf->path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (!file_write_all(fd, tail, len))
		fdatasync(fd);
	close(fd);
}

int epoch_log_open(struct epoch_log_file *lf, const char *dir, unsigned max_vms, char **buf,
		   struct epoch_log_scan *scan, char *err, size_t errcap)
{
	struct stat st;
	int rc;

	memset(lf, 0, sizeof(*lf));
	memset(scan, 0, sizeof(*scan));
	lf->fd = lf->dfd = -1;
	lf->max_vms = max_vms;
	lf->compact_min = EPOCH_LOG_COMPACT_MIN;
	*buf = NULL;
	if ((size_t)snprintf(lf->path, sizeof(lf->path), "%s/" EPOCH_LOG_NAME, dir) >=
	    sizeof(lf->path))
		return -ENAMETOOLONG;
	rc = file_mkdir_p(dir);
	if (rc)
		return rc;
	lf->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lf->dfd < 0)
		return -errno;
	lf->fd = open(lf->path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (lf->fd < 0 && errno == ENOENT) {
		lf->fd = open(lf->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		lf->created = lf->fd >= 0;
	}
	if (lf->fd < 0 || fstat(lf->fd, &st)) {
		rc = -errno;
		goto fail;
	}
	/* the new name is durable only once the directory is */
	if (lf->created && fsync(lf->dfd)) {
		rc = -errno;
		goto fail;
	}
	rc = read_all(lf->fd, (size_t)st.st_size, buf);
	if (rc)
		goto fail;
	rc = epoch_log_scan(*buf, (size_t)st.st_size, max_vms, scan, err, errcap);
	if (rc)
		goto fail;
	if (scan->torn) {
		lf->torn_bytes = (size_t)st.st_size - scan->good_len;
		save_tail(lf, *buf + scan->good_len, lf->torn_bytes);
		/* appends must follow the last whole batch */
		if (ftruncate(lf->fd, (off_t)scan->good_len) || fdatasync(lf->fd)) {
			rc = -errno;
			goto fail;
		}
	}
	lf->size = lf->compacted = scan->good_len;
	lf->batch = scan->last_batch;
	return 0;
fail:
	epoch_log_scan_free(scan);
	free(*buf);
	*buf = NULL;
	epoch_log_close(lf);
	return rc;
}

/* recs, each with its newline, then the commit line: one buffer */
static char *batch_build(uint64_t batch, const char *const *recs, const size_t *lens,
			 unsigned n, size_t *len)
{
	size_t total = EPOCH_LOG_COMMIT_MAX, o = 0;
	char *buf;

	for (unsigned i = 0; i < n; i++)
		total += lens[i] + 1;
	buf = malloc(total);
	if (!buf)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		memcpy(buf + o, recs[i], lens[i]);
		o += lens[i];
		buf[o++] = '\n';
	}
	*len = o + epoch_log_commit_line(batch, n, buf, o, buf + o, EPOCH_LOG_COMMIT_MAX);
	return buf;
}

int epoch_log_append(struct epoch_log_file *lf, const char *const *recs, const size_t *lens,
		     unsigned n)
{
	char name[EPOCH_LOG_NAME_MAX];
	size_t len;
	char *buf;
	int rc;

	if (lf->fd < 0 || lf->broken)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		if (memchr(recs[i], '\n', lens[i]) || !epoch_log_line_vm(recs[i], lens[i], name))
			return -EINVAL; /* never ours to write */
	buf = batch_build(lf->batch + 1, recs, lens, n, &len);
	if (!buf)
		return -ENOMEM;
	rc = file_write_all(lf->fd, buf, len);
	free(buf);
	if (!rc && fdatasync(lf->fd)) {
		/* fsyncgate: a retry may report success for pages already
		 * dropped; nothing is known to be durable any more */
		rc = -errno;
		lf->broken = true;
	}
	if (rc) {
		if (ftruncate(lf->fd, (off_t)lf->size) || fdatasync(lf->fd))
			lf->broken = true;
		return rc;
	}
	lf->size += len;
	lf->batch++;
	return 0;
}

int epoch_log_compact(struct epoch_log_file *lf, bool force)
{
	char tmp[PATH_MAX + 8], *old = NULL, *buf = NULL, err[8];
	struct epoch_log_scan s;
	size_t o = 0, len;
	int fd = -1, rc;

	if (lf->fd < 0 || lf->broken)
		return -EIO;
	if (!force && (lf->size < lf->compact_min || lf->size < 4 * lf->compacted))
		return 0;
	rc = read_all(lf->fd, (size_t)lf->size, &old);
	if (rc)
		return rc;
	rc = epoch_log_scan(old, (size_t)lf->size, lf->max_vms, &s, err, sizeof(err));
	if (rc)
		goto out;
	buf = malloc((size_t)lf->size + EPOCH_LOG_COMMIT_MAX);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < s.n_latest; i++) {
		memcpy(buf + o, old + s.latest[i].off, s.latest[i].len);
		o += s.latest[i].len;
		buf[o++] = '\n';
	}
	len = o + epoch_log_commit_line(lf->batch + 1, s.n_latest, buf, o, buf + o,
					EPOCH_LOG_COMMIT_MAX);
	snprintf(tmp, sizeof(tmp), "%s.new", lf->path);
	fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = file_write_all(fd, buf, len);
	if (!rc && fdatasync(fd))
		rc = -errno;
	if (!rc && rename(tmp, lf->path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		close(fd);
		goto out;
	}
	/* appends go to the new file from now on: if its name could fall back
	 * to the old file after a crash, they would be lost */
	if (fsync(lf->dfd)) {
		rc = -errno;
		lf->broken = true;
	}
	close(lf->fd);
	lf->fd = fd;
	lf->size = lf->compacted = len;
	lf->batch++;
	rc = rc ? rc : 1;
out:
	epoch_log_scan_free(&s);
	free(old);
	free(buf);
	return rc;
}

void epoch_log_close(struct epoch_log_file *lf)
{
	if (lf->fd >= 0)
		close(lf->fd);
	if (lf->dfd >= 0)
		close(lf->dfd);
	lf->fd = lf->dfd = -1;
}
