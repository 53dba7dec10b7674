/*
 * daemon_persist.c: durable per-VM epoch records and the audit log.
 *
 * A record (struct fsm_persist) is the VM's whole persisted state, one line
 * of the epoch log state_dir/epochs.log (epoch_log.h); the fsm gets
 * PERSIST_DONE only once the line is durable (acks and commits wait for
 * it).  The records one loop iteration asks for go out as one batch (one
 * write, one fdatasync) at a 0 ms timer, as the CPG sends do: a node loss
 * with hundreds of VMs costs one flush, not one per record.  At start the
 * log is read for FSM_EV_START; a log that cannot be read stops the
 * start-up: an arbiter that forgot an ack could ack twice.  The audit log
 * is JSON lines, fdatasync'd lazily.
 * Must not block the loop: appends run on the worker thread
 * (daemon_worker.c) in the order issued; the JSON is built here on the
 * loop, the worker only makes the system calls (epoch_log_file.c).  Only
 * the start-up load (and a move of the older one-file-per-VM records into
 * the log) does file I/O in the loop, before anything else runs.
 */
#include "daemon.h"
#include "daemon_worker.h"
#include "epoch_log_file.h"
#include "epoch_record.h"
#include "file_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <qb/qblog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_PREFIX "epoch-"
#define REC_SUFFIX ".json"

/* ---- records: the epoch log ---------------------------------------------- */

/* The records of one loop iteration, made durable together: one append and
 * one fdatasync (several groups queued behind a slow disk share one). */
struct persist_rec {
	char vm[FSM_NAME_MAX];
	uint64_t seq, epoch_n;
	char *text;
	size_t len;
};

struct persist_group {
	struct daemon *d;
	struct epoch_log_file *lf;
	struct persist_rec *recs;
	unsigned n, cap;
	int compact_rc; /* worker: compaction after this group's batch */
	uint64_t size;  /* worker: the log's size after it */
};

static void group_free(struct persist_group *g)
{
	for (unsigned i = 0; i < g->n; i++)
		free(g->recs[i].text);
	free(g->recs);
	free(g);
}

/* Worker thread: the queued groups in order, one batch. */
static void group_batch(void **args, int *rcs, unsigned n)
{
	struct persist_group **gs = (struct persist_group **)args;
	struct epoch_log_file *lf = gs[0]->lf;
	unsigned total = 0, k = 0;
	const char **texts;
	size_t *lens;
	int rc;

	for (unsigned i = 0; i < n; i++)
		total += gs[i]->n;
	texts = calloc(total ? total : 1, sizeof(*texts));
	lens = calloc(total ? total : 1, sizeof(*lens));
	if (!texts || !lens) {
		rc = -ENOMEM;
	} else {
		for (unsigned i = 0; i < n; i++) {
			for (unsigned j = 0; j < gs[i]->n; j++, k++) {
				texts[k] = gs[i]->recs[j].text;
				lens[k] = gs[i]->recs[j].len;
			}
		}
		rc = epoch_log_append(lf, texts, lens, total);
	}
	free(texts);
	free(lens);
	for (unsigned i = 0; i < n; i++) {
		rcs[i] = rc;
		gs[i]->compact_rc = 0;
	}
	if (!rc)
		gs[n - 1]->compact_rc = epoch_log_compact(lf, false);
	gs[n - 1]->size = lf->size;
}

static void group_run_one(struct persist_group *g, int *rc)
{
	void *arg = g;

	group_batch(&arg, rc, 1);
}

/* Loop thread: PERSIST_DONE only for durable records, in their order. */
static void group_done(void *arg, int rc, bool cancelled)
{
	struct persist_group *g = arg;
	struct daemon *d = g->d;

	if (rc) {
		/* no PERSIST_DONE: nothing gets acked or committed */
		qb_log(LOG_CRIT, "node=%u vm=%s: persisting %u epoch record(s) in %s failed: %s%s",
		       d->nodeid, g->recs[0].vm, g->n, g->lf->path, strerror(-rc),
		       g->lf->broken ? "; the epoch log is unusable until a restart" : "");
	}
	if (g->compact_rc < 0)
		qb_log(LOG_ERR, "node=%u: compacting %s failed: %s%s", d->nodeid, g->lf->path,
		       strerror(-g->compact_rc),
		       g->lf->broken ? "; the epoch log is unusable until a restart" : "");
	else if (g->compact_rc > 0)
		qb_log(LOG_INFO, "node=%u: %s compacted to %" PRIu64 " bytes", d->nodeid,
		       g->lf->path, g->size);
	for (unsigned i = 0; i < g->n; i++) {
		const struct persist_rec *r = &g->recs[i];
		struct fsm_event ev;

		if (rc)
			continue;
		qb_log(LOG_DEBUG, "node=%u vm=%s: epoch %" PRIu64 " persisted (seq %" PRIu64 ")%s",
		       d->nodeid, r->vm, r->epoch_n, r->seq, cancelled ? " at shutdown" : "");
		if (cancelled || !d->fsm)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.kind = FSM_EV_PERSIST_DONE;
		memcpy(ev.u.persisted.vm, r->vm, sizeof(ev.u.persisted.vm));
		ev.u.persisted.seq = r->seq;
		daemon_post(d, &ev);
	}
	group_free(g);
}

void daemon_persist_flush(struct daemon *d)
{
	struct persist_group *g = d->persist_pending;
	int rc;

	if (d->persist_timer_armed)
		qb_loop_timer_del(d->loop, d->persist_timer);
	d->persist_timer_armed = false;
	d->persist_pending = NULL;
	if (!g || !g->n) {
		if (g)
			group_free(g);
		return;
	}
	rc = daemon_worker_submit_batch(d->worker, group_batch, group_done, g);
	if (rc) {
		/* no worker (it could not start): durability first, the loop waits */
		if (rc != -ESHUTDOWN)
			qb_log(LOG_WARNING, "node=%u: worker queue refused %u records (%s): "
			       "writing them in the loop", d->nodeid, g->n, strerror(-rc));
		group_run_one(g, &rc);
		group_done(g, rc, false);
	}
}

static void persist_timer_fire(void *data)
{
	struct daemon *d = data;

	d->persist_timer_armed = false;
	daemon_persist_flush(d);
}

int daemon_persist_submit(struct daemon *d, const struct fsm_persist *rec, uint64_t seq)
{
	struct persist_group *g = d->persist_pending;
	struct persist_rec *r;

	if (!d->elog)
		return -EBADF;
	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->d = d;
		g->lf = d->elog;
		d->persist_pending = g;
	}
	if (g->n == g->cap) {
		unsigned cap = g->cap ? g->cap * 2 : 8;
		struct persist_rec *nr = realloc(g->recs, sizeof(*nr) * cap);

		if (!nr)
			return -ENOMEM;
		g->recs = nr;
		g->cap = cap;
	}
	r = &g->recs[g->n];
	memset(r, 0, sizeof(*r));
	r->text = epoch_record_text(rec, &r->len);
	if (!r->text)
		return -ENOMEM;
	memcpy(r->vm, rec->vm, sizeof(r->vm));
	r->vm[sizeof(r->vm) - 1] = '\0';
	r->seq = seq;
	r->epoch_n = rec->epoch.n;
	g->n++;
	/* what this loop iteration decides goes out as one batch */
	if (!d->persist_timer_armed &&
	    qb_loop_timer_add(d->loop, QB_LOOP_HIGH, 0, d, persist_timer_fire,
			      &d->persist_timer) == 0)
		d->persist_timer_armed = true;
	if (!d->persist_timer_armed)
		daemon_persist_flush(d);
	return 0;
}

/* ---- loading ---------------------------------------------------------------- */

struct loaded {
	struct fsm_persist *recs;
	unsigned n, cap;
};

static int loaded_add(struct loaded *l, const struct fsm_persist *rec)
{
	if (l->n == FSM_MAX_VMS)
		return -ENOSPC;
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 8;
		struct fsm_persist *nr = realloc(l->recs, sizeof(*nr) * cap);

		if (!nr)
			return -ENOMEM;
		l->recs = nr;
		l->cap = cap;
	}
	l->recs[l->n++] = *rec;
	return 0;
}

static bool loaded_has(const struct loaded *l, unsigned n, const char *vm)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(l->recs[i].vm, vm))
			return true;
	return false;
}

/* epoch-NAME.json: a record of the format before the epoch log */
static bool legacy_name(const char *name)
{
	size_t len = strlen(name);

	return !strncmp(name, REC_PREFIX, strlen(REC_PREFIX)) && len >= strlen(REC_SUFFIX) &&
	       !strcmp(name + len - strlen(REC_SUFFIX), REC_SUFFIX);
}

/* Records of the format before the epoch log, one file per VM, for the VMs
 * the log has no record of (the log's are newer): added to l after its
 * first n_log entries.  *found counts the files. */
static int load_legacy(struct daemon *d, struct loaded *l, unsigned n_log, unsigned *found)
{
	DIR *dir = opendir(d->cfg.state_dir);
	struct dirent *de;
	int rc = 0;

	*found = 0;
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		char path[ARB_PATH_MAX + 256];
		struct fsm_persist rec;
		json_error_t je;
		json_t *o;

		if (!legacy_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, de->d_name);
		o = json_load_file(path, 0, &je);
		if (!o || epoch_record_from_json(o, &rec)) {
			qb_log(LOG_CRIT, "%s: unreadable epoch record: %s", path,
			       o ? "bad fields" : je.text);
			json_decref(o);
			rc = -EINVAL;
			break;
		}
		json_decref(o);
		(*found)++;
		if (!loaded_has(l, n_log, rec.vm)) {
			rc = loaded_add(l, &rec);
			if (rc)
				break;
		}
	}
	closedir(dir);
	return rc;
}

static void remove_legacy(struct daemon *d)
{
	DIR *dir = opendir(d->cfg.state_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (legacy_name(de->d_name) && unlinkat(dirfd(dir), de->d_name, 0))
			qb_log(LOG_WARNING, "node=%u: cannot remove %s/%s: %s", d->nodeid,
			       d->cfg.state_dir, de->d_name, strerror(errno));
	}
	if (fsync(dirfd(dir)))
		qb_log(LOG_WARNING, "node=%u: fsync of %s: %s", d->nodeid, d->cfg.state_dir,
		       strerror(errno));
	closedir(dir);
}

/* recs[0..n) as one batch: moves the legacy files' records into the log. */
static int migrate(struct daemon *d, const struct fsm_persist *recs, unsigned n)
{
	const char **texts = calloc(n ? n : 1, sizeof(*texts));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	int rc = texts && lens ? 0 : -ENOMEM;

	for (unsigned i = 0; i < n && !rc; i++) {
		texts[i] = epoch_record_text(&recs[i], &lens[i]);
		if (!texts[i])
			rc = -ENOMEM;
	}
	if (!rc)
		rc = epoch_log_append(d->elog, texts, lens, n);
	for (unsigned i = 0; texts && i < n; i++)
		free((char *)texts[i]);
	free(texts);
	free(lens);
	return rc;
}

int daemon_persist_load(struct daemon *d, struct fsm_persist **recs, unsigned *n)
{
	struct loaded l = { 0 };
	struct epoch_log_scan scan;
	char *buf = NULL, err[256] = "";
	unsigned legacy = 0, n_log;
	int rc;

	*recs = NULL;
	*n = 0;
	d->elog = calloc(1, sizeof(*d->elog));
	if (!d->elog)
		return -ENOMEM;
	rc = epoch_log_open(d->elog, d->cfg.state_dir, FSM_MAX_VMS, &buf, &scan, err,
			    sizeof(err));
	if (rc) {
		qb_log(LOG_CRIT, "node=%u: %s/" EPOCH_LOG_NAME ": %s", d->nodeid,
		       d->cfg.state_dir, err[0] ? err : strerror(-rc));
		free(d->elog);
		d->elog = NULL;
		return rc;
	}
	if (d->elog->torn_bytes)
		qb_log(LOG_WARNING, "node=%u: %s: dropped an unfinished last batch of %zu bytes "
		       "(a crash while writing it; nothing was acted on; kept in %s.tail)",
		       d->nodeid, d->elog->path, d->elog->torn_bytes, d->elog->path);
	/* the scan's records are one per VM already */
	for (unsigned i = 0; i < scan.n_latest && !rc; i++) {
		const struct epoch_log_span *sp = &scan.latest[i];
		struct fsm_persist rec;
		json_error_t je;
		json_t *o = json_loadb(buf + sp->off, sp->len, 0, &je);

		if (!o || epoch_record_from_json(o, &rec)) {
			qb_log(LOG_CRIT, "node=%u: %s: unreadable epoch record at byte %zu: %s",
			       d->nodeid, d->elog->path, sp->off, o ? "bad fields" : je.text);
			rc = -EINVAL;
		} else {
			rc = loaded_add(&l, &rec);
		}
		json_decref(o);
	}
	epoch_log_scan_free(&scan);
	free(buf);
	n_log = l.n;
	if (!rc)
		rc = load_legacy(d, &l, n_log, &legacy);
	if (!rc && legacy) {
		rc = l.n > n_log ? migrate(d, l.recs + n_log, l.n - n_log) : 0;
		if (rc)
			qb_log(LOG_CRIT, "node=%u: cannot move %u records into %s: %s", d->nodeid,
			       legacy, d->elog->path, strerror(-rc));
		else {
			remove_legacy(d);
			qb_log(LOG_NOTICE, "node=%u: %u records of one file per VM moved into %s",
			       d->nodeid, legacy, d->elog->path);
		}
	}
	if (rc) {
		free(l.recs);
		epoch_log_close(d->elog);
		free(d->elog);
		d->elog = NULL;
		return rc;
	}
	*recs = l.recs;
	*n = l.n;
	return 0;
}

/* After daemon_worker_stop(): nothing of the log is queued any more. */
void daemon_persist_close(struct daemon *d)
{
	if (d->persist_timer_armed)
		qb_loop_timer_del(d->loop, d->persist_timer);
	d->persist_timer_armed = false;
	if (d->persist_pending)
		group_free(d->persist_pending);
	d->persist_pending = NULL;
	if (d->elog) {
		epoch_log_close(d->elog);
		free(d->elog);
	}
	d->elog = NULL;
}

/* ---- audit log ----------------------------------------------------------- */

/* An audit line or an fdatasync of the audit file, on the worker. */
struct audit_job {
	int fd;
	char *line;     /* NULL: fdatasync */
	size_t len;
};

static int audit_run(void *arg)
{
	struct audit_job *j = arg;

	if (!j->line)
		return fdatasync(j->fd) ? -errno : 0;
	/* whole lines in one write, O_APPEND: lines never interleave */
	return file_write_all(j->fd, j->line, j->len);
}

static void audit_done(void *arg, int rc, bool cancelled)
{
	struct audit_job *j = arg;

	(void)cancelled;
	if (rc)
		qb_log(LOG_WARNING, "audit log %s failed: %s", j->line ? "write" : "fdatasync",
		       strerror(-rc));
	free(j->line);
	free(j);
}

static void audit_submit(struct daemon *d, char *line, size_t len)
{
	struct audit_job *j = calloc(1, sizeof(*j));

	if (!j) {
		free(line);
		return;
	}
	j->fd = d->audit_fd;
	j->line = line;
	j->len = len;
	if (daemon_worker_submit(d->worker, audit_run, audit_done, j))
		audit_done(j, audit_run(j), false); /* no worker: inline */
}

static void audit_flush(struct daemon *d);

static void audit_sync(void *data)
{
	struct daemon *d = data;

	d->audit_sync_armed = false;
	audit_flush(d);
	if (d->audit_fd >= 0 && d->audit_dirty)
		audit_submit(d, NULL, 0);
	d->audit_dirty = false;
}

int daemon_audit_open(struct daemon *d)
{
	char dir[ARB_PATH_MAX], *slash;

	if (!d->cfg.audit_log[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s", d->cfg.audit_log);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		file_mkdir_p(dir);
	}
	d->audit_fd = open(d->cfg.audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (d->audit_fd < 0) {
		qb_log(LOG_ERR, "cannot open the audit log %s: %s", d->cfg.audit_log,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

/* The lines gathered so far go to the worker as one write. */
static void audit_flush(struct daemon *d)
{
	if (d->audit_flush_armed)
		qb_loop_timer_del(d->loop, d->audit_flush);
	d->audit_flush_armed = false;
	if (!d->audit_buf.n)
		return;
	audit_submit(d, jtext_done(&d->audit_buf), d->audit_buf.n);
	memset(&d->audit_buf, 0, sizeof(d->audit_buf));
}

static void audit_flush_fire(void *data)
{
	struct daemon *d = data;

	d->audit_flush_armed = false;
	audit_flush(d);
}

/* a node loss with hundreds of VMs: a full buffer goes at once */
#define AUDIT_BUF_MAX (256 * 1024)

/*
 * The lines of one loop iteration are gathered and written together at a
 * 0 ms timer, as the epoch records are: a node loss with hundreds of VMs
 * writes a few thousand audit lines, and a worker job each (a wake-up of
 * the worker, a write, an eventfd round trip back to the loop) was a
 * sizeable part of the failover's time (BENCHMARKS.md).
 */
void daemon_audit_write(struct daemon *d, const char *text)
{
	if (d->audit_fd < 0 || !text)
		return;
	jtext_raw(&d->audit_buf, text);
	jtext_put(&d->audit_buf, "\n", 1);
	if (d->audit_buf.oom) {
		qb_log(LOG_ERR, "node=%u: audit lines dropped: out of memory", d->nodeid);
		free(jtext_done(&d->audit_buf));
		memset(&d->audit_buf, 0, sizeof(d->audit_buf));
		return;
	}
	d->audit_dirty = true;
	if (d->audit_buf.n < AUDIT_BUF_MAX && !d->audit_flush_armed)
		d->audit_flush_armed = qb_loop_timer_add(d->loop, QB_LOOP_LOW, 0, d,
							 audit_flush_fire, &d->audit_flush) == 0;
	if (d->audit_buf.n >= AUDIT_BUF_MAX || !d->audit_flush_armed)
		audit_flush(d); /* full, or no timer: at once rather than never */
	if (!d->audit_sync_armed &&
	    qb_loop_timer_add(d->loop, QB_LOOP_LOW, 1000 * QB_TIME_NS_IN_MSEC, d, audit_sync,
			      &d->audit_sync) == 0)
		d->audit_sync_armed = true;
}

/* After daemon_worker_stop(): every queued line is written by then, and
 * the lines not handed to it yet are written here. */
void daemon_audit_close(struct daemon *d)
{
	if (d->audit_flush_armed)
		qb_loop_timer_del(d->loop, d->audit_flush);
	d->audit_flush_armed = false;
	if (d->audit_sync_armed)
		qb_loop_timer_del(d->loop, d->audit_sync);
	d->audit_sync_armed = false;
	if (d->audit_fd >= 0 && d->audit_buf.n) {
		int rc = file_write_all(d->audit_fd, d->audit_buf.p, d->audit_buf.n);

		if (rc)
			qb_log(LOG_WARNING, "audit log write failed at exit: %s", strerror(-rc));
	}
	free(jtext_done(&d->audit_buf));
	memset(&d->audit_buf, 0, sizeof(d->audit_buf));
	if (d->audit_fd >= 0) {
		if (d->audit_dirty)
			fdatasync(d->audit_fd);
		close(d->audit_fd);
	}
	d->audit_fd = -1;
}
