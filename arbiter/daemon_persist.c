/*
 * daemon_persist.c: durable per-VM epoch records and the audit log.
 *
 * A record (struct fsm_persist) is one JSON file per VM under state_dir,
 * replaced atomically: write a temp file, fsync it, rename it, fsync the
 * directory; only then does the fsm get PERSIST_DONE (acks and commits
 * wait for it).  At start every record is loaded for FSM_EV_START.  A
 * record that cannot be read stops the start-up: an arbiter that forgot an
 * ack could ack twice.  The audit log is JSON lines, fsync'd lazily.
 */
#include "daemon.h"

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

int daemon_persist_write(struct daemon *d, const struct fsm_persist *rec)
{
	char name[FSM_NAME_MAX * 3 + 32], path[ARB_PATH_MAX + 256], tmp[ARB_PATH_MAX + 270];
	json_t *o = rec_json(rec);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int fd = -1, dfd = -1, rc;

	json_decref(o);
	if (!text)
		return -ENOMEM;
	rc = mkdir_p(d->cfg.state_dir);
	if (rc)
		goto out;
	rec_name(rec->vm, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", d->cfg.state_dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", d->cfg.state_dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	rc = write_all(fd, text, strlen(text));
	if (!rc)
		rc = write_all(fd, "\n", 1);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	fd = -1;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	dfd = open(d->cfg.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd))
		rc = -errno;
	if (dfd >= 0)
		close(dfd);
	if (!rc)
		qb_log(LOG_DEBUG, "node=%u vm=%s: epoch %" PRIu64 " persisted", d->nodeid, rec->vm,
		       rec->epoch.n);
out:
	free(text);
	return rc;
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

static void audit_sync(void *data)
{
	struct daemon *d = data;

	d->audit_sync_armed = false;
	if (d->audit_fd >= 0 && d->audit_dirty)
		fdatasync(d->audit_fd);
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
	char *s;

	if (d->audit_fd < 0)
		return;
	s = json_dumps(rec, JSON_COMPACT);
	if (!s)
		return;
	/* one write per line, O_APPEND: lines never interleave */
	{
		size_t l = strlen(s);
		char *line = malloc(l + 2);

		if (line) {
			memcpy(line, s, l);
			line[l] = '\n';
			if (write_all(d->audit_fd, line, l + 1))
				qb_log(LOG_WARNING, "audit log write failed: %s", strerror(errno));
			free(line);
		}
	}
	free(s);
	d->audit_dirty = true;
	if (!d->audit_sync_armed &&
	    qb_loop_timer_add(d->loop, QB_LOOP_LOW, 1000 * QB_TIME_NS_IN_MSEC, d, audit_sync,
			      &d->audit_sync) == 0)
		d->audit_sync_armed = true;
}

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
