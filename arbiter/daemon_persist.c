/*
 * daemon_persist.c: durable per-VM epoch records and the audit log.
 *
 * A record (struct fsm_persist) is one JSON file per VM under state_dir,
 * replaced atomically: write a temp file, fsync it, rename it, fsync the
 * directory; only then does the fsm get PERSIST_DONE (acks and commits
 * wait for it).  At start every record is loaded for FSM_EV_START.  A
 * record that cannot be read stops the start-up: an arbiter that forgot an
 * ack could ack twice.  The audit log is JSON lines, fdatasync'd lazily.
 * Must not block the loop: writes and syncs run on the worker thread
 * (daemon_worker.c) in the order issued, records queued together in one
 * batch with one syncfs and one directory fsync; the JSON is built here on
 * the loop, the worker only makes the system calls.  Only the start-up load
 * reads in the loop, before anything else runs.
 */
#include "daemon.h"
#include "daemon_worker.h"

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

/* VM names come from peers too: never let one pick a path. */
static void rec_name(const char *vm, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, REC_PREFIX);

	for (const unsigned char *p = (const unsigned char *)vm; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02x", *p);
	}
	snprintf(out + o, cap - o, REC_SUFFIX);
}

static json_t *inst_json(const struct fsm_instance *i)
{
	return json_pack("{s:I,s:I}", "pid", (json_int_t)i->pid, "start", (json_int_t)i->start);
}

static json_t *epoch_json(const struct fsm_epoch *e)
{
	return json_pack("{s:I,s:i,s:I,s:o,s:I,s:o}", "n", (json_int_t)e->n, "kind", (int)e->kind,
			 "holder", (json_int_t)e->holder, "hinst", inst_json(&e->hinst),
			 "secondary", (json_int_t)e->secondary, "sinst", inst_json(&e->sinst));
}

static json_t *rec_json(const struct fsm_persist *r)
{
	return json_pack("{s:i,s:s,s:o,s:b,s:{s:I,s:I,s:o},s:I,s:b,s:o,s:b,s:o,s:I}",
			 "version", 1, "vm", r->vm, "epoch", epoch_json(&r->epoch),
			 "acked", r->acked, "acked_prop", "from_n", (json_int_t)r->acked_prop.from_n,
			 "proposer", (json_int_t)r->acked_prop.proposer, "to",
			 epoch_json(&r->acked_prop.to), "frozen_n", (json_int_t)r->frozen_n,
			 "frozen", r->frozen, "frozen_inst", inst_json(&r->frozen_inst), "named",
			 r->named, "named_inst", inst_json(&r->named_inst), "named_n",
			 (json_int_t)r->named_n);
}

static int get_u64(json_t *o, const char *k, uint64_t *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_u32(json_t *o, const char *k, uint32_t *out)
{
	uint64_t x;

	if (get_u64(o, k, &x) || x > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)x;
	return 0;
}

static int get_bool(json_t *o, const char *k, bool *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_boolean(v))
		return -EINVAL;
	*out = json_is_true(v);
	return 0;
}

static int inst_from(json_t *o, struct fsm_instance *i)
{
	return get_u32(o, "pid", &i->pid) || get_u64(o, "start", &i->start) ? -EINVAL : 0;
}

static int epoch_from(json_t *o, struct fsm_epoch *e)
{
	uint32_t kind;

	if (get_u64(o, "n", &e->n) || get_u32(o, "kind", &kind) || kind > FSM_EPOCH_SOLO ||
	    get_u32(o, "holder", &e->holder) || get_u32(o, "secondary", &e->secondary) ||
	    inst_from(json_object_get(o, "hinst"), &e->hinst) ||
	    inst_from(json_object_get(o, "sinst"), &e->sinst))
		return -EINVAL;
	e->kind = (enum fsm_epoch_kind)kind;
	return 0;
}

static int rec_from(json_t *o, struct fsm_persist *r)
{
	const char *vm = json_string_value(json_object_get(o, "vm"));
	json_t *ap = json_object_get(o, "acked_prop");

	memset(r, 0, sizeof(*r));
	if (!vm || strlen(vm) >= sizeof(r->vm) || !ap)
		return -EINVAL;
	memcpy(r->vm, vm, strlen(vm) + 1);
	if (epoch_from(json_object_get(o, "epoch"), &r->epoch) ||
	    get_bool(o, "acked", &r->acked) || get_u64(ap, "from_n", &r->acked_prop.from_n) ||
	    get_u32(ap, "proposer", &r->acked_prop.proposer) ||
	    epoch_from(json_object_get(ap, "to"), &r->acked_prop.to) ||
	    get_u64(o, "frozen_n", &r->frozen_n) || get_bool(o, "frozen", &r->frozen) ||
	    inst_from(json_object_get(o, "frozen_inst"), &r->frozen_inst) ||
	    get_bool(o, "named", &r->named) ||
	    inst_from(json_object_get(o, "named_inst"), &r->named_inst) ||
	    get_u64(o, "named_n", &r->named_n))
		return -EINVAL;
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[ARB_PATH_MAX];

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One record write, prepared on the loop (JSON, paths) and made durable on
 * the worker: nothing in it points into struct daemon but `d`, which only
 * done() (loop thread) reads. */
struct persist_job {
	struct daemon *d;
	char vm[FSM_NAME_MAX];
	uint64_t seq, epoch_n;
	char *text;
	char dir[ARB_PATH_MAX];
	char path[ARB_PATH_MAX + 256], tmp[ARB_PATH_MAX + 270];
	bool superseded; /* worker thread only */
};

/* Worker thread, one record: system calls only. */
static int persist_one(struct persist_job *j)
{
	int fd, dfd, rc;

	rc = mkdir_p(j->dir);
	if (rc)
		return rc;
	fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, j->text, strlen(j->text));
	if (!rc)
		rc = write_all(fd, "\n", 1);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(j->tmp, j->path))
		rc = -errno;
	if (rc) {
		unlink(j->tmp);
		return rc;
	}
	/* the rename is durable only once the directory is */
	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	rc = fsync(dfd) ? -errno : 0;
	close(dfd);
	return rc;
}

static int write_tmp(struct persist_job *j)
{
	int fd = open(j->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -errno;
	rc = write_all(fd, j->text, strlen(j->text));
	if (!rc)
		rc = write_all(fd, "\n", 1);
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

/* Worker thread, n records in issue order (a node loss: hundreds at once).
 * Same durability as persist_one() with two flushes for the whole batch:
 * every temp file written, syncfs (their data durable), every rename,
 * fsync of the directory (the renames durable).  A record superseded by a
 * later one for the same VM in the batch is not written: each record is
 * the VM's whole state, so the later one carries it, and it shares the
 * later one's result. */
static void persist_batch(void **args, int *rcs, unsigned n)
{
	struct persist_job **jobs = (struct persist_job **)args;
	int dfd, rc;

	if (n == 1) {
		rcs[0] = persist_one(jobs[0]);
		return;
	}
	/* state_dir is fixed for the daemon's life: one directory */
	rc = mkdir_p(jobs[0]->dir);
	dfd = rc ? -1 : open(jobs[0]->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!rc && dfd < 0)
		rc = -errno;
	for (unsigned i = 0; i < n; i++) {
		jobs[i]->superseded = false;
		for (unsigned k = i + 1; k < n && !jobs[i]->superseded; k++)
			jobs[i]->superseded = !strcmp(jobs[i]->path, jobs[k]->path);
		if (strcmp(jobs[i]->dir, jobs[0]->dir))
			rcs[i] = -EXDEV; /* never: state_dir does not change */
		else if (rc)
			rcs[i] = rc;
		else
			rcs[i] = jobs[i]->superseded ? 0 : write_tmp(jobs[i]);
	}
	if (!rc && syncfs(dfd))
		rc = -errno;
	for (unsigned i = 0; i < n; i++) {
		if (jobs[i]->superseded || rcs[i] == -EXDEV)
			continue;
		if (!rc && !rcs[i] && rename(jobs[i]->tmp, jobs[i]->path))
			rcs[i] = -errno;
		if (rc || rcs[i])
			unlink(jobs[i]->tmp);
	}
	if (!rc && fsync(dfd))
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	/* from the last record back, so that a superseded one takes the result
	 * of the one that carries it */
	for (unsigned i = n; i-- > 0;) {
		if (rc && !rcs[i])
			rcs[i] = rc;
		if (jobs[i]->superseded) {
			for (unsigned k = i + 1; k < n; k++) {
				if (!strcmp(jobs[i]->path, jobs[k]->path)) {
					rcs[i] = rcs[k];
					break;
				}
			}
		}
	}
}

/* Loop thread: PERSIST_DONE only for a durable record. */
static void persist_done(void *arg, int rc, bool cancelled)
{
	struct persist_job *j = arg;
	struct daemon *d = j->d;
	struct fsm_event ev;

	if (rc) {
		/* no PERSIST_DONE: nothing gets acked or committed */
		qb_log(LOG_CRIT, "node=%u vm=%s: persisting epoch %" PRIu64 " failed: %s",
		       d->nodeid, j->vm, j->epoch_n, strerror(-rc));
	} else {
		qb_log(LOG_DEBUG, "node=%u vm=%s: epoch %" PRIu64 " persisted (seq %" PRIu64 ")%s",
		       d->nodeid, j->vm, j->epoch_n, j->seq, cancelled ? " at shutdown" : "");
	}
	if (!rc && !cancelled && d->fsm) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = FSM_EV_PERSIST_DONE;
		memcpy(ev.u.persisted.vm, j->vm, sizeof(ev.u.persisted.vm));
		ev.u.persisted.seq = j->seq;
		daemon_post(d, &ev);
	}
	free(j->text);
	free(j);
}

int daemon_persist_submit(struct daemon *d, const struct fsm_persist *rec, uint64_t seq)
{
	char name[FSM_NAME_MAX * 3 + 32];
	struct persist_job *j = calloc(1, sizeof(*j));
	json_t *o;
	int rc;

	if (!j)
		return -ENOMEM;
	if (strlen(d->cfg.state_dir) >= sizeof(j->dir)) {
		free(j);
		return -ENAMETOOLONG;
	}
	o = rec_json(rec);
	j->text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!j->text) {
		free(j);
		return -ENOMEM;
	}
	j->d = d;
	memcpy(j->vm, rec->vm, sizeof(j->vm));
	j->vm[sizeof(j->vm) - 1] = '\0';
	j->seq = seq;
	j->epoch_n = rec->epoch.n;
	memcpy(j->dir, d->cfg.state_dir, strlen(d->cfg.state_dir) + 1);
	rec_name(rec->vm, name, sizeof(name));
	snprintf(j->path, sizeof(j->path), "%s/%s", j->dir, name);
	snprintf(j->tmp, sizeof(j->tmp), "%s/.%s.tmp", j->dir, name);
	rc = daemon_worker_submit_batch(d->worker, persist_batch, persist_done, j);
	if (rc) {
		/* no worker (it could not start): durability first, the loop waits */
		if (rc != -ESHUTDOWN)
			qb_log(LOG_WARNING, "node=%u vm=%s: worker queue refused a record (%s): "
			       "writing it in the loop", d->nodeid, j->vm, strerror(-rc));
		persist_done(j, persist_one(j), false);
	}
	return 0;
}

int daemon_persist_load(struct daemon *d, struct fsm_persist **recs, unsigned *n)
{
	DIR *dir;
	struct dirent *de;
	unsigned cap = 0;
	int rc = 0;

	*recs = NULL;
	*n = 0;
	dir = opendir(d->cfg.state_dir);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		char path[ARB_PATH_MAX + 256];
		json_error_t je;
		json_t *o;

		if (strncmp(de->d_name, REC_PREFIX, strlen(REC_PREFIX)) || l < strlen(REC_SUFFIX) ||
		    strcmp(de->d_name + l - strlen(REC_SUFFIX), REC_SUFFIX))
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, de->d_name);
		o = json_load_file(path, 0, &je);
		if (*n == FSM_MAX_VMS) {
			json_decref(o);
			qb_log(LOG_CRIT, "%s: more than %d records", d->cfg.state_dir, FSM_MAX_VMS);
			rc = -ENOSPC;
			break;
		}
		if (*n == cap) {
			struct fsm_persist *nr;

			cap = cap ? cap * 2 : 8;
			nr = realloc(*recs, sizeof(**recs) * cap);
			if (!nr) {
				json_decref(o);
				rc = -ENOMEM;
				break;
			}
			*recs = nr;
		}
		if (!o || rec_from(o, &(*recs)[*n])) {
			qb_log(LOG_CRIT, "%s: unreadable epoch record: %s", path,
			       o ? "bad fields" : je.text);
			json_decref(o);
			rc = -EINVAL;
			break;
		}
		json_decref(o);
		(*n)++;
	}
	closedir(dir);
	if (rc) {
		free(*recs);
		*recs = NULL;
		*n = 0;
	}
	return rc;
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
	/* one write per line, O_APPEND: lines never interleave */
	return write_all(j->fd, j->line, j->len);
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

static void audit_sync(void *data)
{
	struct daemon *d = data;

	d->audit_sync_armed = false;
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
		mkdir_p(dir);
	}
	d->audit_fd = open(d->cfg.audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (d->audit_fd < 0) {
		qb_log(LOG_ERR, "cannot open the audit log %s: %s", d->cfg.audit_log,
		       strerror(errno));
		return -errno;
	}
	return 0;
}

void daemon_audit_write(struct daemon *d, json_t *rec)
{
	char *s, *line;
	size_t l;

	if (d->audit_fd < 0)
		return;
	s = json_dumps(rec, JSON_COMPACT);
	if (!s)
		return;
	l = strlen(s);
	line = realloc(s, l + 2);
	if (!line) {
		free(s);
		return;
	}
	line[l] = '\n';
	line[l + 1] = '\0';
	audit_submit(d, line, l + 1);
	d->audit_dirty = true;
	if (!d->audit_sync_armed &&
	    qb_loop_timer_add(d->loop, QB_LOOP_LOW, 1000 * QB_TIME_NS_IN_MSEC, d, audit_sync,
			      &d->audit_sync) == 0)
		d->audit_sync_armed = true;
}

/* After daemon_worker_stop(): every queued line is written by then. */
void daemon_audit_close(struct daemon *d)
{
	if (d->audit_sync_armed)
		qb_loop_timer_del(d->loop, d->audit_sync);
	d->audit_sync_armed = false;
	if (d->audit_fd >= 0) {
		if (d->audit_dirty)
			fdatasync(d->audit_fd);
		close(d->audit_fd);
	}
	d->audit_fd = -1;
}
