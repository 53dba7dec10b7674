/*
 * qmp_msg.c: classify received QMP lines, build command lines, read the
 * replies the arbiter relies on (see qmp_msg.h).
 *
 * Must not: do I/O, read a clock, log, or trust a member's JSON type
 * without checking it. Every rejection says where and why.
 */
#include "qmp_msg.h"

#include "compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static void ATTR_PRINTF(2, 3)
msg_err_set(struct qmp_msg_error *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->line = -1;
	e->column = -1;
	e->position = 0;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}

/* Index of s in a NULL-free table, or -1. */
static int str_index(const char *const *tab, size_t n, const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < n; i++) {
		if (tab[i] && strcmp(tab[i], s) == 0)
			return (int)i;
	}
	return -1;
}

static const char *str_at(const char *const *tab, size_t n, int i)
{
	if (i < 0 || (size_t)i >= n || !tab[i])
		return "?";
	return tab[i];
}

/* An integer member that fits int, required. */
static int get_int(const json_t *obj, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t x;

	if (!json_is_integer(v))
		return -EINVAL;
	x = json_integer_value(v);
	if (x < INT32_MIN || x > INT32_MAX)
		return -EINVAL;
	*out = (int)x;
	return 0;
}

/* ---------------------------------------------------------------- ids */

int qmp_msg_id_format(char *buf, size_t size, uint64_t n)
{
	return snprintf(buf, size, QMP_MSG_ID_PREFIX "%" PRIu64, n);
}

int qmp_msg_id_parse(const json_t *id, uint64_t *n)
{
	const char *s, *p;
	uint64_t v = 0;
	size_t plen = strlen(QMP_MSG_ID_PREFIX);

	if (!json_is_string(id))
		return -EINVAL;
	s = json_string_value(id);
	if (json_string_length(id) != strlen(s))
		return -EINVAL; /* embedded NUL */
	if (strncmp(s, QMP_MSG_ID_PREFIX, plen) != 0)
		return -EINVAL;
	p = s + plen;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return -EINVAL;
	for (; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*n = v;
	return 0;
}

/* ----------------------------------------------------------- messages */

static const char *const kind_names[] = {
	[QMP_MSG_INVALID] = "invalid",   [QMP_MSG_GREETING] = "greeting",
	[QMP_MSG_RETURN] = "return",     [QMP_MSG_ERROR] = "error",
	[QMP_MSG_EVENT] = "event",
};

const char *qmp_msg_kind_to_str(enum qmp_msg_kind k)
{
	return str_at(kind_names, ARRAY_SIZE(kind_names), (int)k);
}

static const char *const error_class_names[] = {
	[QMP_ERROR_CLASS_UNKNOWN] = "unknown",
	[QMP_ERROR_CLASS_GENERIC] = "GenericError",
	[QMP_ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
	[QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
	[QMP_ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
	[QMP_ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *qmp_error_class_to_str(enum qmp_error_class c)
{
	return str_at(error_class_names, ARRAY_SIZE(error_class_names), (int)c);
}

enum qmp_error_class qmp_error_class_from_str(const char *s)
{
	int i = str_index(error_class_names, ARRAY_SIZE(error_class_names), s);

	return i <= 0 ? QMP_ERROR_CLASS_UNKNOWN : (enum qmp_error_class)i;
}

static enum qmp_msg_kind ATTR_PRINTF(2, 3)
msg_invalid(struct qmp_msg *m, const char *fmt, ...)
{
	va_list ap;

	json_decref(m->root);
	memset(m, 0, sizeof(*m));
	m->kind = QMP_MSG_INVALID;
	m->error.line = -1;
	m->error.column = -1;
	va_start(ap, fmt);
	vsnprintf(m->error.text, sizeof(m->error.text), fmt, ap);
	va_end(ap);
	return m->kind;
}

static enum qmp_msg_kind parse_greeting(struct qmp_msg *m, json_t *qmp)
{
	json_t *ver, *qemu, *pkg, *caps, *c;
	size_t i;

	if (!json_is_object(qmp))
		return msg_invalid(m, "greeting: %s is not an object", "\"QMP\"");
	ver = json_object_get(qmp, "version");
	if (!json_is_object(ver))
		return msg_invalid(m, "greeting: %s missing or not an object",
				   "\"version\"");
	qemu = json_object_get(ver, "qemu");
	if (!json_is_object(qemu) || get_int(qemu, "major", &m->version.major) ||
	    get_int(qemu, "minor", &m->version.minor) ||
	    get_int(qemu, "micro", &m->version.micro))
		return msg_invalid(m, "greeting: %s needs integer major/minor/micro",
				   "\"version.qemu\"");
	pkg = json_object_get(ver, "package");
	if (!json_is_string(pkg))
		return msg_invalid(m, "greeting: %s missing or not a string",
				   "\"version.package\"");
	snprintf(m->version.package, sizeof(m->version.package), "%s",
		 json_string_value(pkg));
	caps = json_object_get(qmp, "capabilities");
	if (!json_is_array(caps))
		return msg_invalid(m, "greeting: %s missing or not an array",
				   "\"capabilities\"");
	json_array_foreach(caps, i, c) {
		if (!json_is_string(c))
			return msg_invalid(m, "greeting: %s has a non-string",
					   "\"capabilities\"");
		if (strcmp(json_string_value(c), "oob") == 0)
			m->cap_oob = true;
	}
	m->capabilities = caps;
	m->kind = QMP_MSG_GREETING;
	return m->kind;
}

static enum qmp_msg_kind parse_error(struct qmp_msg *m, json_t *err)
{
	json_t *cls, *desc;

	if (!json_is_object(err))
		return msg_invalid(m, "error: %s is not an object", "\"error\"");
	cls = json_object_get(err, "class");
	desc = json_object_get(err, "desc");
	if (!json_is_string(cls))
		return msg_invalid(m, "error: %s missing or not a string",
				   "\"class\"");
	if (!json_is_string(desc))
		return msg_invalid(m, "error: %s missing or not a string",
				   "\"desc\"");
	m->err_class_str = json_string_value(cls);
	m->err_class = qmp_error_class_from_str(m->err_class_str);
	m->err_desc = json_string_value(desc);
	m->kind = QMP_MSG_ERROR;
	return m->kind;
}

static enum qmp_msg_kind parse_event(struct qmp_msg *m, json_t *ev)
{
	json_t *ts, *data, *sec, *usec;

	if (!json_is_string(ev) || json_string_length(ev) == 0)
		return msg_invalid(m, "event: %s is not a non-empty string",
				   "\"event\"");
	ts = json_object_get(m->root, "timestamp");
	if (!json_is_object(ts))
		return msg_invalid(m, "event: %s missing or not an object",
				   "\"timestamp\"");
	sec = json_object_get(ts, "seconds");
	usec = json_object_get(ts, "microseconds");
	if (!json_is_integer(sec) || !json_is_integer(usec))
		return msg_invalid(m, "event: %s needs integer seconds/microseconds",
				   "\"timestamp\"");
	data = json_object_get(m->root, "data");
	if (data && !json_is_object(data))
		return msg_invalid(m, "event: %s is not an object", "\"data\"");
	m->event = json_string_value(ev);
	m->data = data;
	m->ts_sec = json_integer_value(sec);
	m->ts_usec = json_integer_value(usec);
	m->kind = QMP_MSG_EVENT;
	return m->kind;
}

enum qmp_msg_kind qmp_msg_parse(const char *line, size_t len, struct qmp_msg *m)
{
	json_error_t jerr;
	json_t *qmp, *ret, *err, *ev;
	int keys;

	memset(m, 0, sizeof(*m));
	m->root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			     &jerr);
	if (!m->root) {
		m->kind = QMP_MSG_INVALID;
		m->error.line = jerr.line;
		m->error.column = jerr.column;
		m->error.position = jerr.position < 0 ? 0 : (size_t)jerr.position;
		snprintf(m->error.text, sizeof(m->error.text), "invalid JSON: %.140s",
			 jerr.text);
		return m->kind;
	}
	if (!json_is_object(m->root))
		return msg_invalid(m, "not a JSON object");

	qmp = json_object_get(m->root, "QMP");
	ret = json_object_get(m->root, "return");
	err = json_object_get(m->root, "error");
	ev = json_object_get(m->root, "event");
	keys = !!qmp + !!ret + !!err + !!ev;
	if (keys == 0)
		return msg_invalid(m, "unknown shape: %s",
				   "none of QMP/return/error/event");
	if (keys > 1)
		return msg_invalid(m, "ambiguous shape: %s",
				   "more than one of QMP/return/error/event");
	m->id = json_object_get(m->root, "id");
	if (qmp)
		return parse_greeting(m, qmp);
	if (err)
		return parse_error(m, err);
	if (ev)
		return parse_event(m, ev);
	m->ret = ret;
	m->kind = QMP_MSG_RETURN;
	return m->kind;
}

void qmp_msg_clear(struct qmp_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

int qmp_msg_build_command(const char *name, const json_t *args, uint64_t id,
			  bool oob, char **out, size_t *out_len)
{
	char idbuf[QMP_MSG_ID_MAX];
	json_t *cmd;
	char *s;
	int rc = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	if (!name || !*name || (args && !json_is_object(args)))
		return -EINVAL;
	qmp_msg_id_format(idbuf, sizeof(idbuf), id);
	cmd = json_object();
	if (!cmd)
		return -ENOMEM;
	/* jansson keeps insertion order: the verb comes first, as QEMU's docs
	 * write it, which keeps transcripts readable. */
	if (json_object_set_new(cmd, oob ? "exec-oob" : "execute",
				json_string(name)))
		goto out;
	/* json_object_set() takes its own reference; args stays the caller's. */
	if (args && json_object_set(cmd, "arguments", (json_t *)args))
		goto out;
	if (json_object_set_new(cmd, "id", json_string(idbuf)))
		goto out;
	s = json_dumps(cmd, JSON_COMPACT);
	if (!s)
		goto out;
	{
		size_t n = strlen(s);
		char *line = realloc(s, n + 2);

		if (!line) {
			free(s);
			goto out;
		}
		line[n] = '\n';
		line[n + 1] = '\0';
		*out = line;
		*out_len = n + 1;
	}
	rc = 0;
out:
	json_decref(cmd);
	return rc;
}

/* --------------------------------------------------- query-colo-status */

static const char *const colo_mode_names[] = {
	[QMP_COLO_MODE_NONE] = "none",
	[QMP_COLO_MODE_PRIMARY] = "primary",
	[QMP_COLO_MODE_SECONDARY] = "secondary",
};

static const char *const colo_reason_names[] = {
	[QMP_COLO_REASON_NONE] = "none",
	[QMP_COLO_REASON_REQUEST] = "request",
	[QMP_COLO_REASON_ERROR] = "error",
	[QMP_COLO_REASON_PROCESSING] = "processing",
};

const char *qmp_colo_mode_to_str(enum qmp_colo_mode m)
{
	return str_at(colo_mode_names, ARRAY_SIZE(colo_mode_names), (int)m);
}

const char *qmp_colo_reason_to_str(enum qmp_colo_reason r)
{
	return str_at(colo_reason_names, ARRAY_SIZE(colo_reason_names), (int)r);
}

int qmp_colo_mode_from_str(const char *s, enum qmp_colo_mode *out)
{
	int i = str_index(colo_mode_names, ARRAY_SIZE(colo_mode_names), s);

	if (i < 0)
		return -EINVAL;
	*out = (enum qmp_colo_mode)i;
	return 0;
}

int qmp_colo_reason_from_str(const char *s, enum qmp_colo_reason *out)
{
	int i = str_index(colo_reason_names, ARRAY_SIZE(colo_reason_names), s);

	if (i < 0)
		return -EINVAL;
	*out = (enum qmp_colo_reason)i;
	return 0;
}

static int get_colo_mode(const json_t *obj, const char *key,
			 enum qmp_colo_mode *out, struct qmp_msg_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v)) {
		msg_err_set(err, "\"%s\" missing or not a string", key);
		return -EINVAL;
	}
	if (qmp_colo_mode_from_str(json_string_value(v), out)) {
		msg_err_set(err, "\"%s\": unknown COLO mode \"%.40s\"", key,
			    json_string_value(v));
		return -EINVAL;
	}
	return 0;
}

static int get_colo_reason(const json_t *obj, enum qmp_colo_reason *out,
			   struct qmp_msg_error *err)
{
	json_t *v = json_object_get(obj, "reason");

	if (!json_is_string(v)) {
		msg_err_set(err, "\"%s\" missing or not a string", "reason");
		return -EINVAL;
	}
	if (qmp_colo_reason_from_str(json_string_value(v), out)) {
		msg_err_set(err, "\"reason\": unknown COLO exit reason \"%.40s\"",
			    json_string_value(v));
		return -EINVAL;
	}
	return 0;
}

int qmp_colo_status_parse(const json_t *ret, struct qmp_colo_status *out,
			  struct qmp_msg_error *err)
{
	struct qmp_colo_status s;

	if (!json_is_object(ret)) {
		msg_err_set(err, "query-colo-status: %s", "return is not an object");
		return -EINVAL;
	}
	if (get_colo_mode(ret, "mode", &s.mode, err) ||
	    get_colo_mode(ret, "last-mode", &s.last_mode, err) ||
	    get_colo_reason(ret, &s.reason, err))
		return -EINVAL;
	*out = s;
	return 0;
}

int qmp_colo_exit_parse(const json_t *data, enum qmp_colo_mode *mode,
			enum qmp_colo_reason *reason, struct qmp_msg_error *err)
{
	enum qmp_colo_mode m;
	enum qmp_colo_reason r;

	if (!json_is_object(data)) {
		msg_err_set(err, "COLO_EXIT: %s", "data is not an object");
		return -EINVAL;
	}
	if (get_colo_mode(data, "mode", &m, err) ||
	    get_colo_reason(data, &r, err))
		return -EINVAL;
	*mode = m;
	*reason = r;
	return 0;
}

/* -------------------------------------------------------- query-status */

static const char *const run_state_names[] = {
	[QMP_RUN_STATE_UNKNOWN] = NULL,
	[QMP_RUN_STATE_DEBUG] = "debug",
	[QMP_RUN_STATE_INMIGRATE] = "inmigrate",
	[QMP_RUN_STATE_INTERNAL_ERROR] = "internal-error",
	[QMP_RUN_STATE_IO_ERROR] = "io-error",
	[QMP_RUN_STATE_PAUSED] = "paused",
	[QMP_RUN_STATE_POSTMIGRATE] = "postmigrate",
	[QMP_RUN_STATE_PRELAUNCH] = "prelaunch",
	[QMP_RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
	[QMP_RUN_STATE_RESTORE_VM] = "restore-vm",
	[QMP_RUN_STATE_RUNNING] = "running",
	[QMP_RUN_STATE_SAVE_VM] = "save-vm",
	[QMP_RUN_STATE_SHUTDOWN] = "shutdown",
	[QMP_RUN_STATE_SUSPENDED] = "suspended",
	[QMP_RUN_STATE_WATCHDOG] = "watchdog",
	[QMP_RUN_STATE_GUEST_PANICKED] = "guest-panicked",
	[QMP_RUN_STATE_COLO] = "colo",
};

const char *qmp_run_state_to_str(enum qmp_run_state s)
{
	if (s == QMP_RUN_STATE_UNKNOWN)
		return "unknown";
	return str_at(run_state_names, ARRAY_SIZE(run_state_names), (int)s);
}

enum qmp_run_state qmp_run_state_from_str(const char *s)
{
	int i = str_index(run_state_names, ARRAY_SIZE(run_state_names), s);

	return i < 0 ? QMP_RUN_STATE_UNKNOWN : (enum qmp_run_state)i;
}

int qmp_vm_status_parse(const json_t *ret, struct qmp_vm_status *out,
			struct qmp_msg_error *err)
{
	json_t *st, *run;

	if (!json_is_object(ret)) {
		msg_err_set(err, "query-status: %s", "return is not an object");
		return -EINVAL;
	}
	st = json_object_get(ret, "status");
	run = json_object_get(ret, "running");
	if (!json_is_string(st)) {
		msg_err_set(err, "query-status: %s", "\"status\" missing or not a string");
		return -EINVAL;
	}
	if (!json_is_boolean(run)) {
		msg_err_set(err, "query-status: %s", "\"running\" missing or not a bool");
		return -EINVAL;
	}
	out->status = qmp_run_state_from_str(json_string_value(st));
	out->running = json_is_true(run);
	return 0;
}

/* ------------------------------------------------------- query-migrate */

static const char *const migration_status_names[] = {
	[QMP_MIGRATION_STATUS_UNKNOWN] = NULL,
	[QMP_MIGRATION_STATUS_NONE] = "none",
	[QMP_MIGRATION_STATUS_SETUP] = "setup",
	[QMP_MIGRATION_STATUS_CANCELLING] = "cancelling",
	[QMP_MIGRATION_STATUS_CANCELLED] = "cancelled",
	[QMP_MIGRATION_STATUS_ACTIVE] = "active",
	[QMP_MIGRATION_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
	[QMP_MIGRATION_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
	[QMP_MIGRATION_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
	[QMP_MIGRATION_STATUS_COMPLETED] = "completed",
	[QMP_MIGRATION_STATUS_FAILED] = "failed",
	[QMP_MIGRATION_STATUS_COLO] = "colo",
	[QMP_MIGRATION_STATUS_PRE_SWITCHOVER] = "pre-switchover",
	[QMP_MIGRATION_STATUS_DEVICE] = "device",
	[QMP_MIGRATION_STATUS_WAIT_UNPLUG] = "wait-unplug",
};

const char *qmp_migration_status_to_str(enum qmp_migration_status s)
{
	if (s == QMP_MIGRATION_STATUS_UNKNOWN)
		return "unknown";
	return str_at(migration_status_names,
		      ARRAY_SIZE(migration_status_names), (int)s);
}

enum qmp_migration_status qmp_migration_status_from_str(const char *s)
{
	int i = str_index(migration_status_names,
			  ARRAY_SIZE(migration_status_names), s);

	return i < 0 ? QMP_MIGRATION_STATUS_UNKNOWN
		     : (enum qmp_migration_status)i;
}

int qmp_migrate_status_parse(const json_t *ret,
			     enum qmp_migration_status *out,
			     struct qmp_msg_error *err)
{
	json_t *st;

	if (!json_is_object(ret)) {
		msg_err_set(err, "query-migrate: %s", "return is not an object");
		return -EINVAL;
	}
	st = json_object_get(ret, "status");
	if (!st) {
		*out = QMP_MIGRATION_STATUS_NONE;
		return 0;
	}
	if (!json_is_string(st)) {
		msg_err_set(err, "query-migrate: %s", "\"status\" is not a string");
		return -EINVAL;
	}
	*out = qmp_migration_status_from_str(json_string_value(st));
	return 0;
}

/* ------------------------------------------------------ query-commands */

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void qmp_cmdset_free(struct qmp_cmdset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	s->names = NULL;
	s->n = 0;
}

int qmp_cmdset_parse(const json_t *ret, struct qmp_cmdset *out,
		     struct qmp_msg_error *err)
{
	struct qmp_cmdset s = { 0 };
	size_t i, j, n;
	json_t *e;

	out->names = NULL;
	out->n = 0;
	if (!json_is_array(ret)) {
		msg_err_set(err, "query-commands: %s", "return is not an array");
		return -EINVAL;
	}
	n = json_array_size(ret);
	if (n == 0)
		return 0;
	s.names = calloc(n, sizeof(*s.names));
	if (!s.names)
		return -ENOMEM;
	json_array_foreach(ret, i, e) {
		json_t *name = json_object_get(e, "name");

		if (!json_is_object(e) || !json_is_string(name)) {
			msg_err_set(err, "query-commands: element %zu has no "
				    "string \"name\"", i);
			qmp_cmdset_free(&s);
			return -EINVAL;
		}
		s.names[s.n] = strdup(json_string_value(name));
		if (!s.names[s.n]) {
			qmp_cmdset_free(&s);
			return -ENOMEM;
		}
		s.n++;
	}
	qsort(s.names, s.n, sizeof(*s.names), cmp_strp);
	for (i = 0, j = 0; i < s.n; i++) {
		if (j > 0 && strcmp(s.names[j - 1], s.names[i]) == 0) {
			free(s.names[i]);
			continue;
		}
		s.names[j++] = s.names[i];
	}
	s.n = j;
	*out = s;
	return 0;
}

bool qmp_cmdset_has(const struct qmp_cmdset *s, const char *name)
{
	if (!s->n || !name)
		return false;
	return bsearch(&name, s->names, s->n, sizeof(*s->names), cmp_strp) != NULL;
}

/* ---------------------------------------------------------- query-yank */

static const char *const yank_type_names[] = {
	[QMP_YANK_UNKNOWN] = "unknown",
	[QMP_YANK_BLOCK_NODE] = "block-node",
	[QMP_YANK_CHARDEV] = "chardev",
	[QMP_YANK_MIGRATION] = "migration",
};

const char *qmp_yank_type_to_str(enum qmp_yank_type t)
{
	return str_at(yank_type_names, ARRAY_SIZE(yank_type_names), (int)t);
}

void qmp_yank_list_free(struct qmp_yank_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int qmp_yank_list_parse(const json_t *ret, struct qmp_yank_list *out,
			struct qmp_msg_error *err)
{
	struct qmp_yank_list l = { 0 };
	size_t i, n;
	json_t *e;

	out->v = NULL;
	out->n = 0;
	if (!json_is_array(ret)) {
		msg_err_set(err, "query-yank: %s", "return is not an array");
		return -EINVAL;
	}
	n = json_array_size(ret);
	if (n == 0)
		return 0;
	l.v = calloc(n, sizeof(*l.v));
	if (!l.v)
		return -ENOMEM;
	json_array_foreach(ret, i, e) {
		struct qmp_yank_instance *y = &l.v[l.n];
		json_t *type = json_object_get(e, "type");
		const char *key = NULL;
		int t;

		if (!json_is_object(e) || !json_is_string(type)) {
			msg_err_set(err, "query-yank: element %zu has no string "
				    "\"type\"", i);
			goto invalid;
		}
		t = str_index(yank_type_names, ARRAY_SIZE(yank_type_names),
			      json_string_value(type));
		y->type = t <= 0 ? QMP_YANK_UNKNOWN : (enum qmp_yank_type)t;
		if (y->type == QMP_YANK_BLOCK_NODE)
			key = "node-name";
		else if (y->type == QMP_YANK_CHARDEV)
			key = "id";
		if (key) {
			json_t *name = json_object_get(e, key);

			if (!json_is_string(name) || json_string_length(name) == 0) {
				msg_err_set(err, "query-yank: element %zu (%s) has "
					    "no string \"%s\"", i,
					    yank_type_names[y->type], key);
				goto invalid;
			}
			y->name = strdup(json_string_value(name));
			if (!y->name) {
				qmp_yank_list_free(&l);
				return -ENOMEM;
			}
		}
		l.n++;
	}
	*out = l;
	return 0;
invalid:
	qmp_yank_list_free(&l);
	return -EINVAL;
}

int qmp_yank_list_copy(const struct qmp_yank_list *src,
		       struct qmp_yank_list *dst)
{
	struct qmp_yank_list l = { 0 };
	size_t i;

	dst->v = NULL;
	dst->n = 0;
	if (src->n == 0)
		return 0;
	l.v = calloc(src->n, sizeof(*l.v));
	if (!l.v)
		return -ENOMEM;
	for (i = 0; i < src->n; i++) {
		l.v[i].type = src->v[i].type;
		if (src->v[i].name) {
			l.v[i].name = strdup(src->v[i].name);
			if (!l.v[i].name) {
				qmp_yank_list_free(&l);
				return -ENOMEM;
			}
		}
		l.n++;
	}
	*dst = l;
	return 0;
}

bool qmp_yank_is_monitor_chardev(const char *id)
{
	return id && strncmp(id, QMP_YANK_MONITOR_PREFIX,
			     strlen(QMP_YANK_MONITOR_PREFIX)) == 0;
}

static bool yank_selected(const struct qmp_yank_instance *y,
			  const char *const *exclude, size_t n_exclude)
{
	size_t i;

	switch (y->type) {
	case QMP_YANK_BLOCK_NODE:
	case QMP_YANK_MIGRATION:
		return true;
	case QMP_YANK_CHARDEV:
		if (qmp_yank_is_monitor_chardev(y->name))
			return false;
		for (i = 0; i < n_exclude; i++) {
			if (exclude[i] && strcmp(exclude[i], y->name) == 0)
				return false;
		}
		return true;
	case QMP_YANK_UNKNOWN:
	default:
		return false;
	}
}

int qmp_yank_select_peer(const struct qmp_yank_list *all,
			 const char *const *exclude, size_t n_exclude,
			 struct qmp_yank_list *out)
{
	struct qmp_yank_list l = { 0 };
	size_t i;

	out->v = NULL;
	out->n = 0;
	if (all->n == 0)
		return 0;
	l.v = calloc(all->n, sizeof(*l.v));
	if (!l.v)
		return -ENOMEM;
	for (i = 0; i < all->n; i++) {
		const struct qmp_yank_instance *y = &all->v[i];

		if (!yank_selected(y, exclude, n_exclude))
			continue;
		l.v[l.n].type = y->type;
		if (y->name) {
			l.v[l.n].name = strdup(y->name);
			if (!l.v[l.n].name) {
				qmp_yank_list_free(&l);
				return -ENOMEM;
			}
		}
		l.n++;
	}
	*out = l;
	return 0;
}

json_t *qmp_yank_list_to_args(const struct qmp_yank_list *l)
{
	json_t *args = json_object(), *arr = json_array();
	size_t i;

	if (!args || !arr)
		goto fail;
	for (i = 0; i < l->n; i++) {
		const struct qmp_yank_instance *y = &l->v[i];
		json_t *o;

		switch (y->type) {
		case QMP_YANK_BLOCK_NODE:
			o = json_pack("{s:s,s:s}", "type", "block-node",
				      "node-name", y->name);
			break;
		case QMP_YANK_CHARDEV:
			o = json_pack("{s:s,s:s}", "type", "chardev", "id", y->name);
			break;
		case QMP_YANK_MIGRATION:
			o = json_pack("{s:s}", "type", "migration");
			break;
		case QMP_YANK_UNKNOWN:
		default:
			continue;
		}
		if (!o || json_array_append_new(arr, o))
			goto fail;
	}
	if (json_object_set_new(args, "instances", arr)) {
		arr = NULL; /* set_new consumed it even on failure */
		goto fail;
	}
	return args;
fail:
	json_decref(arr);
	json_decref(args);
	return NULL;
}
