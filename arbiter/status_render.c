/*
 * status_render.c: turns the daemon's status JSON and watch events into the
 * text an operator reads (shapes in status_render.h).
 *
 * Pure: no I/O, no clock reads (now is an argument), no logging. Anything
 * the daemon sends is untrusted: absent or mistyped fields print as "?",
 * control characters are escaped so a VM name cannot drive the terminal.
 */
#include "status_render.h"

#include "compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_MAX_ACTIONS 8 /* shown per audit line; then "..." */

struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_grow(struct sb *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->oom || b->len + extra + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sb_printf(struct sb *b, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	sb_grow(b, (size_t)n);
	if (b->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A daemon-supplied string, with control bytes escaped. */
static void sb_str(struct sb *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch == 0x7f)
			sb_printf(b, "\\x%02x", ch);
		else
			sb_printf(b, "%c", ch);
	}
}

static int sb_finish(struct sb *b, char **out)
{
	sb_grow(b, 0);
	if (b->oom) {
		free(b->p);
		return -ENOMEM;
	}
	b->p[b->len] = '\0';
	*out = b->p;
	return 0;
}

/* ------------------------------------------------------------ fields */

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "?";
}

static bool jhas_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && s[0];
}

/* "yes"/"no" for a boolean, else "?" */
static const char *jyesno(const json_t *o, const char *key, const char *yes,
			  const char *no)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_boolean(v))
		return "?";
	return json_is_true(v) ? yes : no;
}

static void sb_int(struct sb *b, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_string(v))
		sb_str(b, json_string_value(v));
	else
		sb_printf(b, "?");
}

static void sb_field(struct sb *b, const json_t *o, const char *key)
{
	sb_str(b, jstr(o, key));
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days): no <time.h>, no locale, no time zone database. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Wall time in ms since the epoch as "YYYY-MM-DD HH:MM:SS.mmm UTC". */
static void sb_wall_ms(struct sb *b, int64_t ms)
{
	int64_t days, y, secs;
	unsigned m, d;

	if (ms < 0 || ms > INT64_C(253402300799999)) { /* year 9999 */
		sb_printf(b, "?");
		return;
	}
	days = ms / 86400000;
	secs = (ms % 86400000) / 1000;
	civil_from_days(days, &y, &m, &d);
	sb_printf(b, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%03d UTC", y, m, d,
		  (int)(secs / 3600), (int)(secs % 3600 / 60), (int)(secs % 60),
		  (int)(ms % 1000));
}

static void sb_age(struct sb *b, int64_t ms)
{
	int64_t s;

	if (ms < 0) {
		sb_printf(b, "in the future (clock skew?)");
		return;
	}
	s = ms / 1000;
	if (s < 60)
		sb_printf(b, "%" PRId64 "s ago", s);
	else if (s < 3600)
		sb_printf(b, "%" PRId64 "m%02" PRId64 "s ago", s / 60, s % 60);
	else if (s < 86400)
		sb_printf(b, "%" PRId64 "h%02" PRId64 "m ago", s / 3600,
			  (s % 3600) / 60);
	else
		sb_printf(b, "%" PRId64 "d%02" PRId64 "h ago", s / 86400,
			  (s % 86400) / 3600);
}

/* ------------------------------------------------------------ status */

static void render_cluster(struct sb *b, const json_t *st)
{
	const json_t *node = json_object_get(st, "node");
	const json_t *cl = json_object_get(st, "cluster");
	const json_t *ipc = json_object_get(cl, "ipc");
	const json_t *members = json_object_get(cl, "members");
	const json_t *q = json_object_get(cl, "quorate");
	const char *gate = jstr(cl, "gate");
	size_t i;
	const json_t *m;

	sb_printf(b, "Node ");
	sb_int(b, node, "id");
	if (jhas_str(node, "name")) {
		sb_printf(b, " (");
		sb_field(b, node, "name");
		sb_printf(b, ")");
	}
	sb_printf(b, ": cluster %s, ring ",
		  !json_is_boolean(q) ? "quorum ?" :
		  json_is_true(q) ? "quorate" : "NOT QUORATE");
	sb_field(b, cl, "ring_id");
	if (strcmp(jstr(cl, "quorum_ring_id"), jstr(cl, "ring_id"))) {
		sb_printf(b, " (quorum ring ");
		sb_field(b, cl, "quorum_ring_id");
		sb_printf(b, ")");
	}
	sb_printf(b, ", members");
	if (json_is_array(members) && json_array_size(members) > 0) {
		json_array_foreach(members, i, m) {
			if (json_is_integer(m))
				sb_printf(b, " %" JSON_INTEGER_FORMAT,
					  json_integer_value(m));
			else
				sb_printf(b, " ?");
		}
	} else {
		sb_printf(b, " none");
	}
	sb_printf(b, "\n");

	if (!strcmp(gate, "open")) {
		sb_printf(b, "Gate: open - decisions allowed");
	} else {
		sb_printf(b, "Gate: ");
		sb_str(b, !strcmp(gate, "?") ? "?" : gate);
		sb_printf(b, " - no failover will be made");
		if (jhas_str(cl, "gate_reason")) {
			sb_printf(b, ": ");
			sb_field(b, cl, "gate_reason");
		}
	}
	sb_printf(b, "\nPolicy: fencing ");
	sb_field(b, cl, "fence_policy");
	sb_printf(b, ", no-quorum ");
	sb_field(b, cl, "no_quorum");
	if (jhas_str(cl, "watchdog")) {
		sb_printf(b, ", watchdog ");
		sb_field(b, cl, "watchdog");
	}
	sb_printf(b, "; corosync IPC: cpg %s, quorum %s\n",
		  jyesno(ipc, "cpg", "up", "DOWN"),
		  jyesno(ipc, "quorum", "up", "DOWN"));
}

static void render_local(struct sb *b, const json_t *l)
{
	sb_printf(b, "  local:     ");
	if (!json_is_object(l)) {
		sb_printf(b, "?\n");
		return;
	}
	if (json_is_false(json_object_get(l, "connected"))) {
		sb_printf(b, "QMP NOT CONNECTED (last known: mode ");
		sb_field(b, l, "mode");
		sb_printf(b, ")\n");
		return;
	}
	sb_printf(b, "mode ");
	sb_field(b, l, "mode");
	sb_printf(b, ", ");
	sb_field(b, l, "run");
	sb_printf(b, ", migration ");
	sb_field(b, l, "migration");
	sb_printf(b, " (last-mode ");
	sb_field(b, l, "last_mode");
	sb_printf(b, ", reason ");
	sb_field(b, l, "reason");
	sb_printf(b, "), QEMU pid ");
	sb_int(b, l, "pid");
	sb_printf(b, "\n");
}

static void render_peer(struct sb *b, const json_t *p, const json_t *vm)
{
	sb_printf(b, "  peer:      ");
	if (!json_is_object(p)) {
		sb_printf(b, "?\n");
		return;
	}
	if (json_is_false(json_object_get(p, "reported"))) {
		sb_printf(b, "no report from the arbiter on node ");
		sb_int(b, vm, "peer_node");
		sb_printf(b, "\n");
		return;
	}
	if (json_is_false(json_object_get(p, "current"))) {
		sb_printf(b, "(last report, before node ");
		sb_int(b, vm, "peer_node");
		sb_printf(b, " left the ring) ");
	}
	if (json_is_false(json_object_get(p, "alive"))) {
		sb_printf(b, "QEMU GONE (exited)\n");
		return;
	}
	if (json_is_false(json_object_get(p, "connected"))) {
		sb_printf(b, "its arbiter has no QMP connection (last known: mode ");
		sb_field(b, p, "mode");
		sb_printf(b, ")\n");
		return;
	}
	sb_printf(b, "mode ");
	sb_field(b, p, "mode");
	sb_printf(b, ", ");
	sb_field(b, p, "run");
	sb_printf(b, ", migration ");
	sb_field(b, p, "migration");
	sb_printf(b, "\n");
}

static void render_decision(struct sb *b, const json_t *d, int64_t now_ms)
{
	const json_t *wall = json_object_get(d, "wall_ms");

	sb_printf(b, "  decision:  ");
	if (!json_is_object(d) || json_object_size(d) == 0) {
		sb_printf(b, "none yet\n");
		return;
	}
	sb_field(b, d, "rule");
	if (jhas_str(d, "decision")) {
		sb_printf(b, ": ");
		sb_field(b, d, "decision");
	}
	if (jhas_str(d, "event")) {
		sb_printf(b, " (on ");
		sb_field(b, d, "event");
		sb_printf(b, ")");
	}
	if (json_is_integer(wall)) {
		int64_t ms = (int64_t)json_integer_value(wall);

		sb_printf(b, " at ");
		sb_wall_ms(b, ms);
		if (now_ms > 0 && ms >= 0) {
			sb_printf(b, ", ");
			sb_age(b, now_ms - ms);
		}
	}
	sb_printf(b, "\n");
}

static void render_epoch(struct sb *b, const json_t *e)
{
	const char *kind = jstr(e, "kind");

	sb_printf(b, "  epoch:     ");
	if (!json_is_object(e)) {
		sb_printf(b, "?\n");
		return;
	}
	sb_int(b, e, "n");
	sb_printf(b, " ");
	sb_str(b, kind);
	if (!strcmp(kind, "NONE") || !strcmp(kind, "none")) {
		sb_printf(b, " (never established)\n");
		return;
	}
	sb_printf(b, ", holder node ");
	sb_int(b, e, "holder");
	if (json_object_get(e, "secondary") &&
	    strcmp(kind, "SOLO") && strcmp(kind, "solo")) {
		sb_printf(b, ", secondary node ");
		sb_int(b, e, "secondary");
	}
	sb_printf(b, "\n");
}

static void render_vm(struct sb *b, const json_t *vm, int64_t now_ms)
{
	const char *status = jstr(vm, "status");
	const json_t *prot = json_object_get(vm, "protected");
	const json_t *where = json_object_get(vm, "where");
	char up[32];
	size_t i;

	for (i = 0; i + 1 < sizeof(up) && status[i]; i++)
		up[i] = (char)(status[i] >= 'a' && status[i] <= 'z' ?
			       status[i] - 'a' + 'A' : status[i]);
	up[i] = '\0';

	sb_printf(b, "\nVM ");
	sb_field(b, vm, "name");
	sb_printf(b, ": ");
	sb_str(b, up);
	sb_printf(b, "\n  role:      ");
	sb_field(b, vm, "role");
	sb_printf(b, " here, peer on node ");
	sb_int(b, vm, "peer_node");
	sb_printf(b, "\n");
	render_epoch(b, json_object_get(vm, "epoch"));
	render_local(b, json_object_get(vm, "local"));
	render_peer(b, json_object_get(vm, "peer"), vm);

	sb_printf(b, "  protected: ");
	if (json_is_true(prot)) {
		sb_printf(b, "yes");
	} else {
		sb_printf(b, "%s: ", json_is_false(prot) ? "NO" : "?");
		sb_str(b, status);
		if (jhas_str(vm, "why")) {
			sb_printf(b, ", ");
			sb_field(b, vm, "why");
		}
	}
	sb_printf(b, "\n");
	if (json_is_true(prot) && jhas_str(vm, "why")) {
		sb_printf(b, "  why:       ");
		sb_field(b, vm, "why");
		sb_printf(b, "\n");
	}
	if ((!strcmp(status, "stalled") || !strcmp(status, "stale")) &&
	    json_is_integer(where) && json_integer_value(where) > 0)
		sb_printf(b, "  current:   the only current copy is on node %"
			  JSON_INTEGER_FORMAT "\n", json_integer_value(where));
	render_decision(b, json_object_get(vm, "last_decision"), now_ms);
}

int status_render(const json_t *status, int64_t now_wall_ms, char **out)
{
	struct sb b = { 0 };
	const json_t *vms, *vm;
	size_t i;

	if (!json_is_object(status) || !out)
		return -EINVAL;
	render_cluster(&b, status);
	vms = json_object_get(status, "vms");
	if (!json_is_array(vms) || json_array_size(vms) == 0) {
		sb_printf(&b, "\nNo VMs configured on this node.\n");
	} else {
		json_array_foreach(vms, i, vm)
			render_vm(&b, vm, now_wall_ms);
	}
	return sb_finish(&b, out);
}

/* ------------------------------------------------------------ events */

static void render_actions(struct sb *b, const json_t *acts)
{
	const json_t *a;
	size_t i, shown = 0;

	if (!json_is_array(acts) || json_array_size(acts) == 0)
		return;
	sb_printf(b, " [");
	json_array_foreach(acts, i, a) {
		const json_t *node = json_object_get(a, "node");

		if (shown == RENDER_MAX_ACTIONS) {
			sb_printf(b, " +%zu more", json_array_size(acts) - shown);
			break;
		}
		sb_printf(b, "%s", shown ? " " : "");
		sb_field(b, a, "kind");
		if (jhas_str(a, "cmd")) {
			sb_printf(b, ":");
			sb_field(b, a, "cmd");
		} else if (jhas_str(a, "msg")) {
			sb_printf(b, ":");
			sb_field(b, a, "msg");
		} else if (jhas_str(a, "status")) {
			sb_printf(b, ":");
			sb_field(b, a, "status");
		} else if (json_is_integer(node)) {
			sb_printf(b, ":node%" JSON_INTEGER_FORMAT,
				  json_integer_value(node));
		}
		shown++;
	}
	sb_printf(b, "]");
}

/* A whole status snapshot as one line: gate, then each VM's status. */
static void render_status_line(struct sb *b, const json_t *st)
{
	const json_t *cl = json_object_get(st, "cluster");
	const json_t *q = json_object_get(cl, "quorate");
	const json_t *vms = json_object_get(st, "vms");
	const json_t *vm;
	size_t i;

	sb_printf(b, " gate ");
	sb_field(b, cl, "gate");
	if (jhas_str(cl, "gate_reason")) {
		sb_printf(b, " (");
		sb_field(b, cl, "gate_reason");
		sb_printf(b, ")");
	}
	sb_printf(b, ", %s", !json_is_boolean(q) ? "quorum ?" :
		  json_is_true(q) ? "quorate" : "NOT QUORATE");
	if (json_array_size(vms) == 0)
		sb_printf(b, "; no VMs");
	json_array_foreach(vms, i, vm) {
		sb_printf(b, "; ");
		sb_field(b, vm, "name");
		sb_printf(b, " ");
		sb_field(b, vm, "status");
		if (!json_is_true(json_object_get(vm, "protected")) &&
		    jhas_str(vm, "why")) {
			sb_printf(b, " (");
			sb_field(b, vm, "why");
			sb_printf(b, ")");
		}
	}
}

int status_render_event(const json_t *msg, char **out)
{
	struct sb b = { 0 };
	const json_t *ts = json_object_get(msg, "timestamp");
	const json_t *sec = json_object_get(ts, "seconds");
	const json_t *usec = json_object_get(ts, "microseconds");
	const json_t *data = json_object_get(msg, "data");
	const char *ev;

	if (!json_is_object(msg) || !out ||
	    !json_is_string(json_object_get(msg, "event")))
		return -EINVAL;
	ev = json_string_value(json_object_get(msg, "event"));
	if (json_is_integer(sec) && json_is_integer(usec)) {
		int64_t ms = (int64_t)json_integer_value(sec) * 1000;

		sb_wall_ms(&b, ms + (int64_t)json_integer_value(usec) / 1000);
	} else {
		sb_printf(&b, "?");
	}
	sb_printf(&b, " ");
	sb_str(&b, ev);
	if (!strcmp(ev, "STATUS") && json_is_array(json_object_get(data, "vms"))) {
		render_status_line(&b, data);
	} else if (!strcmp(ev, "STATUS") && json_is_object(data)) {
		const char *st = jstr(data, "status");
		const json_t *where = json_object_get(data, "where");

		sb_printf(&b, " ");
		sb_field(&b, data, "vm");
		sb_printf(&b, ": ");
		sb_str(&b, st);
		if (jhas_str(data, "why")) {
			sb_printf(&b, " (");
			sb_field(&b, data, "why");
			sb_printf(&b, ")");
		}
		if ((!strcmp(st, "stalled") || !strcmp(st, "stale")) &&
		    json_is_integer(where) && json_integer_value(where) > 0)
			sb_printf(&b, ", only current copy on node %"
				  JSON_INTEGER_FORMAT, json_integer_value(where));
	} else if (!strcmp(ev, "AUDIT") && json_is_object(data)) {
		sb_printf(&b, " ");
		sb_str(&b, jhas_str(data, "vm") ? jstr(data, "vm") : "-");
		sb_printf(&b, ": ");
		sb_field(&b, data, "rule");
		if (jhas_str(data, "decision")) {
			sb_printf(&b, ": ");
			sb_field(&b, data, "decision");
		}
		if (jhas_str(data, "event")) {
			sb_printf(&b, " (on ");
			sb_field(&b, data, "event");
			sb_printf(&b, ")");
		}
		render_actions(&b, json_object_get(data, "actions"));
	} else if (data) {
		char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS |
					JSON_ENCODE_ANY);

		if (!text) {
			free(b.p);
			return -ENOMEM;
		}
		sb_printf(&b, " ");
		sb_str(&b, text);
		free(text);
	}
	sb_printf(&b, "\n");
	return sb_finish(&b, out);
}
