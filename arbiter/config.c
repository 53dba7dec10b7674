/*
 * config.c: parse colo-arbiter.conf, print it back in canonical form, map it
 * to struct fsm_config and check it against the cluster's facts (see
 * config.h and colo-arbiter.conf(5)). VM files are config_vm.c's.
 *
 * Must not: do I/O, read a clock, log, keep state between calls, or let any
 * input crash it or grow memory without bound. Every rejection names file,
 * line and key; a failed parse leaves the caller's struct untouched.
 */
#include "config_lex.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* Durations print in whole seconds when exact, else in ms. */
static void fmt_ms(char *buf, size_t len, int64_t ms)
{
	if (ms != 0 && ms % 1000 == 0)
		snprintf(buf, len, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRId64 "ms", ms);
}

/* 1M, 256K or a plain number of bytes: the shortest exact spelling */
static void fmt_size(char *buf, size_t len, uint64_t bytes)
{
	if (bytes != 0 && bytes % (1024 * 1024) == 0)
		snprintf(buf, len, "%" PRIu64 "M", bytes / (1024 * 1024));
	else if (bytes != 0 && bytes % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 "K", bytes / 1024);
	else
		snprintf(buf, len, "%" PRIu64, bytes);
}

/* -------------------------------------------------------------- values */

/* Checkers return NULL when the value is acceptable, else a message. */

/* "<digits>ms" or "<digits>s" into milliseconds. */
static const char *parse_duration(const char *s, int64_t *ms)
{
	const char *p = s;
	uint64_t v = 0;
	bool overflow = false;

	if (*p < '0' || *p > '9')
		return "not a duration: expected a whole number with unit ms or s (e.g. 500ms)";
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_C(1) << 50))
			overflow = true;
		else
			v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.' || *p == ',')
		return "not a duration: use a whole number of ms (e.g. 1500ms)";
	if (!*p)
		return "missing unit: write ms or s (e.g. 500ms)";
	if (strcmp(p, "ms") != 0 && strcmp(p, "s") != 0)
		return "unknown unit: use ms or s";
	if (overflow)
		return "duration out of range";
	if (strcmp(p, "s") == 0) {
		if (v > (UINT64_C(1) << 50) / 1000)
			return "duration out of range";
		v *= 1000;
	}
	*ms = (int64_t)v;
	return NULL;
}

/* "<digits>", "<digits>K" or "<digits>M" (1024-based) into bytes. */
static const char *parse_size(const char *s, uint64_t *bytes)
{
	const char *p = s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return "not a size: expected a whole number of bytes, K or M (e.g. 512K)";
	/* saturated at 2^40: far out of any range, and no overflow below */
	for (; *p >= '0' && *p <= '9'; p++)
		v = v > (UINT64_C(1) << 40) ? v : v * 10 + (uint64_t)(*p - '0');
	if (*p == 'K' && !p[1])
		v *= 1024;
	else if (*p == 'M' && !p[1])
		v *= 1024 * 1024;
	else if (*p)
		return "unknown unit: use K or M (1024-based), or none for bytes";
	*bytes = v;
	return NULL;
}

static const char *check_group(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL; /* root only, see control.h */
	if (n > 32 || s[0] == '-')
		return "must be a group name (1 to 32 characters, not starting with '-') or \"\"";
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return "must be a group name (A-Z a-z 0-9 _ . -) or \"\"";
	}
	return NULL;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on"};
	static const char *const no[] = {"no", "false", "off"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static const char *const fence_names[] = {
	[FSM_FENCE_PACEMAKER] = "pacemaker",
	[FSM_FENCE_SELF] = "self",
	[FSM_FENCE_NONE] = "none",
};
static const char *const noquorum_names[] = {
	[FSM_NOQUORUM_FREEZE] = "freeze",
	[FSM_NOQUORUM_KILL] = "kill",
};
static const struct {
	const char *name;
	int prio;
} log_levels[] = {
	{"err", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
	{"info", LOG_INFO}, {"debug", LOG_DEBUG},
	{"trace", LOG_DEBUG + 1}, /* libqb's LOG_TRACE */
};

static int name_index(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (tab[i] && strcmp(tab[i], s) == 0)
			return (int)i;
	}
	return -1;
}

/* ------------------------------------------------- colo-arbiter.conf keys */

enum vtype {
	VT_FENCE,
	VT_NOQUORUM,
	VT_BOOL,
	VT_UINT,
	VT_MS,
	VT_MS_AUTO, /* "auto" is 0 */
	VT_SEC,     /* stored in seconds, written as a duration */
	VT_IDENT,
	VT_PATH,
	VT_PATH_OPT,     /* a path or "" (none) */
	VT_GROUP,
	VT_MODE,
	VT_LOGLEVEL,
	VT_SIZE,    /* bytes, written with a K or M suffix when whole */
};

struct key_def {
	const char *name;
	enum vtype t;
	size_t off, size;
	int64_t min, max; /* ms for durations, s for VT_SEC, bytes for VT_SIZE */
};

#define FIELD(f) offsetof(struct arb_config, f), sizeof(((struct arb_config *)0)->f)
#define KEY(id, n, t, f, mn, mx) [id] = {n, t, FIELD(f), mn, mx}

static const struct key_def main_keys[CONFIG_KEY_COUNT] = {
	KEY(CONFIG_KEY_FENCE_POLICY, "fence_policy", VT_FENCE, fence_policy, 0, 0),
	KEY(CONFIG_KEY_NO_QUORUM, "no_quorum", VT_NOQUORUM, no_quorum, 0, 0),
	KEY(CONFIG_KEY_ALLOW_UNSAFE, "allow_unsafe", VT_BOOL, allow_unsafe, 0, 0),
	KEY(CONFIG_KEY_EXPECTED_VOTES, "expected_votes", VT_UINT, expected_votes, 1,
	    FSM_MAX_NODES),
	KEY(CONFIG_KEY_TWO_NODE, "two_node", VT_BOOL, two_node, 0, 0),
	KEY(CONFIG_KEY_LAST_MAN_STANDING, "last_man_standing", VT_BOOL, last_man_standing, 0, 0),
	KEY(CONFIG_KEY_LIVENESS_PERIOD, "liveness_period", VT_MS, liveness_period_ms, 10, 10000),
	KEY(CONFIG_KEY_LIVENESS_BOUND, "liveness_bound", VT_MS, liveness_bound_ms, 100, 120000),
	KEY(CONFIG_KEY_SELF_FENCE_TIMEOUT, "self_fence_timeout", VT_MS, self_fence_timeout_ms,
	    100, 60000),
	KEY(CONFIG_KEY_SELF_WAIT, "self_wait", VT_MS_AUTO, self_wait_ms, 1000, 600000),
	KEY(CONFIG_KEY_KILL_TIME, "kill_time", VT_MS, kill_time_ms, 10, 10000),
	KEY(CONFIG_KEY_WATCHDOG_DEVICE, "watchdog_device", VT_PATH_OPT, watchdog_device, 0, 0),
	KEY(CONFIG_KEY_WATCHDOG_TIMEOUT, "watchdog_timeout", VT_MS, watchdog_timeout_ms, 1000,
	    60000),
	KEY(CONFIG_KEY_T_ARB, "t_arb", VT_MS, t_arb_ms, 1000, 3600000),
	KEY(CONFIG_KEY_SKEW_MAX, "skew_max", VT_SEC, skew_max_s, 0, 60),
	KEY(CONFIG_KEY_STATE_PERIOD, "state_period", VT_MS, state_period_ms, 100, 600000),
	KEY(CONFIG_KEY_COMMIT_TIMEOUT, "commit_timeout", VT_MS, commit_timeout_ms, 100, 600000),
	KEY(CONFIG_KEY_QMP_TIMEOUT, "qmp_timeout", VT_MS, qmp_timeout_ms, 100, 600000),
	KEY(CONFIG_KEY_FENCE_TIMEOUT, "fence_timeout", VT_SEC, fence_timeout_s, 1, 3600),
	KEY(CONFIG_KEY_FREEZE_COLO_PRIMARIES, "freeze_colo_primaries", VT_BOOL,
	    freeze_colo_primaries, 0, 0),
	KEY(CONFIG_KEY_CPG_GROUP, "cpg_group", VT_IDENT, cpg_group, 0, 0),
	KEY(CONFIG_KEY_CONTROL_SOCKET, "control_socket", VT_PATH, control_socket, 0, 0),
	KEY(CONFIG_KEY_CONTROL_GROUP, "control_group", VT_GROUP, control_group, 0, 0),
	KEY(CONFIG_KEY_CONTROL_MODE, "control_mode", VT_MODE, control_mode, 0, 0),
	KEY(CONFIG_KEY_STATE_DIR, "state_dir", VT_PATH, state_dir, 0, 0),
	KEY(CONFIG_KEY_RUN_DIR, "run_dir", VT_PATH, run_dir, 0, 0),
	KEY(CONFIG_KEY_VM_DIR, "vm_dir", VT_PATH, vm_dir, 0, 0),
	KEY(CONFIG_KEY_AUDIT_LOG, "audit_log", VT_PATH, audit_log, 0, 0),
	KEY(CONFIG_KEY_LOG_LEVEL, "log_level", VT_LOGLEVEL, log_level, 0, 0),
	KEY(CONFIG_KEY_LOG_STDERR, "log_stderr", VT_BOOL, log_stderr, 0, 0),
	KEY(CONFIG_KEY_LOG_SYSLOG, "log_syslog", VT_BOOL, log_syslog, 0, 0),
	KEY(CONFIG_KEY_BLACKBOX_SIZE, "blackbox_size", VT_SIZE, blackbox_size, 64 * 1024,
	    256 * 1024 * 1024),
	KEY(CONFIG_KEY_REALTIME_PRIORITY, "realtime_priority", VT_UINT, realtime_priority, 0, 99),
};

const char *config_key_to_str(enum config_key k)
{
	if ((unsigned)k >= CONFIG_KEY_COUNT)
		return NULL;
	return main_keys[k].name;
}

void config_defaults(struct arb_config *c)
{
	struct fsm_config f;

	/* The timing defaults are the decision core's own (token 1000 lab). */
	fsm_config_defaults(&f);
	memset(c, 0, sizeof(*c));
	c->fence_policy = f.fence_policy;
	c->no_quorum = f.no_quorum;
	c->expected_votes = f.expected_votes;
	c->liveness_period_ms = f.liveness_period_ms;
	c->liveness_bound_ms = f.liveness_bound_ms;
	c->self_fence_timeout_ms = f.self_fence_timeout_ms;
	c->self_wait_ms = f.self_wait_ms;
	c->kill_time_ms = f.kill_time_ms;
	c->watchdog_timeout_ms = CONFIG_WATCHDOG_TIMEOUT_DEFAULT_MS;
	c->t_arb_ms = f.t_arb_ms;
	c->skew_max_s = f.skew_max_s;
	c->state_period_ms = f.state_period_ms;
	c->commit_timeout_ms = f.commit_timeout_ms;
	c->qmp_timeout_ms = f.cmd_timeout_ms;
	c->fence_timeout_s = 60; /* Pacemaker's stonith-timeout default */
	c->freeze_colo_primaries = f.freeze_colo_primaries;
	snprintf(c->cpg_group, sizeof(c->cpg_group), "%s", CONFIG_CPG_GROUP_DEFAULT);
	snprintf(c->control_socket, sizeof(c->control_socket), "%s",
		 CONFIG_CONTROL_SOCKET_DEFAULT);
	snprintf(c->control_group, sizeof(c->control_group), "%s", CONFIG_CONTROL_GROUP_DEFAULT);
	c->control_mode = CONFIG_CONTROL_MODE_DEFAULT;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", CONFIG_STATE_DIR_DEFAULT);
	snprintf(c->run_dir, sizeof(c->run_dir), "%s", CONFIG_RUN_DIR_DEFAULT);
	snprintf(c->vm_dir, sizeof(c->vm_dir), "%s", CONFIG_VM_DIR_DEFAULT);
	snprintf(c->audit_log, sizeof(c->audit_log), "%s", CONFIG_AUDIT_LOG_DEFAULT);
	snprintf(c->log_level, sizeof(c->log_level), "%s", CONFIG_LOG_LEVEL_DEFAULT);
	c->log_stderr = false;
	c->log_syslog = true;
	c->blackbox_size = CONFIG_BLACKBOX_SIZE_DEFAULT;
	c->realtime_priority = CONFIG_REALTIME_PRIORITY_DEFAULT;
}

static int range_err(struct config_lex *ps, const struct key_def *d, bool seconds)
{
	char lo[32], hi[32];

	if (seconds) {
		snprintf(lo, sizeof(lo), "%" PRId64 "s", d->min);
		snprintf(hi, sizeof(hi), "%" PRId64 "s", d->max);
	} else if (d->t == VT_UINT) {
		snprintf(lo, sizeof(lo), "%" PRId64, d->min);
		snprintf(hi, sizeof(hi), "%" PRId64, d->max);
	} else if (d->t == VT_SIZE) {
		fmt_size(lo, sizeof(lo), (uint64_t)d->min);
		fmt_size(hi, sizeof(hi), (uint64_t)d->max);
	} else {
		fmt_ms(lo, sizeof(lo), d->min);
		fmt_ms(hi, sizeof(hi), d->max);
	}
	config_lex_err(ps, d->name, "out of range (%s to %s)", lo, hi);
	return -EINVAL;
}

static int main_set(struct config_lex *ps, struct arb_config *c, enum config_key k, const char *v)
{
	const struct key_def *d = &main_keys[k];
	char *field = (char *)c + d->off;
	const char *why = NULL;
	int64_t ms;
	uint64_t u = 0;
	int i;

	switch (d->t) {
	case VT_FENCE:
		i = name_index(fence_names, ARRAY_SIZE(fence_names), v);
		if (i < 0)
			why = "must be pacemaker, self or none";
		else
			*(enum fsm_fence_policy *)(void *)field = (enum fsm_fence_policy)i;
		break;
	case VT_NOQUORUM:
		i = name_index(noquorum_names, ARRAY_SIZE(noquorum_names), v);
		if (i < 0)
			why = "must be freeze or kill";
		else
			*(enum fsm_noquorum_policy *)(void *)field = (enum fsm_noquorum_policy)i;
		break;
	case VT_BOOL:
		if (parse_bool(v, (bool *)(void *)field) < 0)
			why = "must be yes or no";
		break;
	case VT_UINT:
		i = config_lex_uint(v, UINT32_MAX, &u);
		if (i == -EINVAL) {
			why = "not a number";
		} else if (i < 0 || (int64_t)u < d->min || (int64_t)u > d->max) {
			return range_err(ps, d, false);
		} else {
			*(uint32_t *)(void *)field = (uint32_t)u;
		}
		break;
	case VT_MS_AUTO:
		if (strcmp(v, "auto") == 0) {
			*(int64_t *)(void *)field = 0;
			break;
		}
		if (v[0] < '0' || v[0] > '9') {
			why = "must be auto or a duration (e.g. 20s)";
			break;
		}
		/* fall through */
	case VT_MS:
		why = parse_duration(v, &ms);
		if (why)
			break;
		if (ms < d->min || ms > d->max)
			return range_err(ps, d, false);
		*(int64_t *)(void *)field = ms;
		break;
	case VT_SEC:
		why = parse_duration(v, &ms);
		if (why)
			break;
		if (ms % 1000 != 0) {
			why = "must be whole seconds";
			break;
		}
		if (ms / 1000 < d->min || ms / 1000 > d->max)
			return range_err(ps, d, true);
		*(int64_t *)(void *)field = ms / 1000;
		break;
	case VT_IDENT:
		why = config_lex_ident(v);
		if (!why)
			snprintf(field, d->size, "%s", v);
		break;
	case VT_PATH:
		why = config_lex_path(v, d->size);
		if (!why)
			snprintf(field, d->size, "%s", v);
		break;
	case VT_PATH_OPT:
		why = v[0] ? config_lex_path(v, d->size) : NULL;
		if (!why)
			snprintf(field, d->size, "%s", v);
		break;
	case VT_GROUP:
		why = check_group(v);
		if (!why)
			snprintf(field, d->size, "%s", v);
		break;
	case VT_MODE: {
		unsigned m = 0;
		size_t n = strlen(v);

		if (n == 0 || n > 4) {
			why = "must be an octal mode such as 0660";
			break;
		}
		for (size_t j = 0; j < n; j++) {
			if (v[j] < '0' || v[j] > '7') {
				why = "must be an octal mode such as 0660";
				break;
			}
			m = m * 8 + (unsigned)(v[j] - '0');
		}
		if (why)
			break;
		if (m > 0777)
			why = "only permission bits (at most 0770)";
		else if (m & 0007)
			why = "must grant nothing to others: the socket can order a failover";
		else if ((m & 0600) != 0600)
			why = "must give the owner read and write";
		else
			*(unsigned *)(void *)field = m;
		break;
	}
	case VT_SIZE:
		why = parse_size(v, &u);
		if (why)
			break;
		if ((int64_t)u < d->min || (int64_t)u > d->max)
			return range_err(ps, d, false);
		*(uint32_t *)(void *)field = (uint32_t)u;
		break;
	case VT_LOGLEVEL:
		why = "must be err, warning, notice, info, debug or trace";
		for (size_t j = 0; j < ARRAY_SIZE(log_levels); j++) {
			if (strcmp(v, log_levels[j].name) == 0) {
				snprintf(field, d->size, "%s", v);
				why = NULL;
			}
		}
		break;
	}
	if (why) {
		config_lex_err(ps, d->name, "%s", why);
		return -EINVAL;
	}
	return 0;
}

static void main_print_value(struct config_sbuf *b, const struct arb_config *c, enum config_key k)
{
	const struct key_def *d = &main_keys[k];
	const char *field = (const char *)c + d->off;
	char buf[64];
	int64_t v;

	switch (d->t) {
	case VT_FENCE: {
		unsigned i = (unsigned)*(const enum fsm_fence_policy *)(const void *)field;

		config_sbuf_printf(b, "%s", i < ARRAY_SIZE(fence_names) ? fence_names[i] : "?");
		break;
	}
	case VT_NOQUORUM: {
		unsigned i = (unsigned)*(const enum fsm_noquorum_policy *)(const void *)field;

		config_sbuf_printf(b, "%s", i < ARRAY_SIZE(noquorum_names) ? noquorum_names[i] : "?");
		break;
	}
	case VT_BOOL:
		config_sbuf_printf(b, "%s", *(const bool *)(const void *)field ? "yes" : "no");
		break;
	case VT_UINT:
		config_sbuf_printf(b, "%" PRIu32, *(const uint32_t *)(const void *)field);
		break;
	case VT_MS_AUTO:
	case VT_MS:
		v = *(const int64_t *)(const void *)field;
		if (d->t == VT_MS_AUTO && v == 0) {
			config_sbuf_printf(b, "auto");
			break;
		}
		fmt_ms(buf, sizeof(buf), v);
		config_sbuf_printf(b, "%s", buf);
		break;
	case VT_SEC:
		config_sbuf_printf(b, "%" PRId64 "s", *(const int64_t *)(const void *)field);
		break;
	case VT_IDENT:
	case VT_PATH:
	case VT_PATH_OPT:
	case VT_GROUP:
		config_sbuf_quoted(b, field);
		break;
	case VT_MODE:
		config_sbuf_printf(b, "%04o", *(const unsigned *)(const void *)field);
		break;
	case VT_LOGLEVEL:
		config_sbuf_printf(b, "%s", field);
		break;
	case VT_SIZE:
		fmt_size(buf, sizeof(buf), *(const uint32_t *)(const void *)field);
		config_sbuf_printf(b, "%s", buf);
		break;
	}
}

char *config_print(const struct arb_config *c)
{
	struct config_sbuf b = {0};

	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		config_sbuf_printf(&b, "%s = ", main_keys[k].name);
		main_print_value(&b, c, (enum config_key)k);
		config_sbuf_printf(&b, "\n");
	}
	return config_sbuf_finish(&b);
}

/* --------------------------------------------- colo-arbiter.conf parse */

static int main_line(struct config_lex *ps, const char *key, const char *v, const char *end,
		     int col, void *opaque)
{
	struct arb_config *c = opaque;
	char val[CONFIG_LINE_MAX + 1];
	int k, rc;

	(void)col;
	for (k = 0; k < CONFIG_KEY_COUNT; k++) {
		if (config_lex_key_eq(main_keys[k].name, key))
			break;
	}
	if (k == CONFIG_KEY_COUNT) {
		static const char *const vm_keys[] = {"name", "qmp", "role", "peer_node",
						      "pre_failover", "post_failover",
						      "yank_exclude"};
		for (size_t i = 0; i < ARRAY_SIZE(vm_keys); i++) {
			if (config_lex_key_eq(vm_keys[i], key)) {
				config_lex_err(ps, key, "unknown key (VM keys belong in a file of vm_dir)");
				return -EINVAL;
			}
		}
		config_lex_err(ps, key, "unknown key");
		return -EINVAL;
	}
	if (c->line_of[k]) {
		config_lex_err(ps, main_keys[k].name, "duplicate key (first set on line %d)",
			 c->line_of[k]);
		return -EINVAL;
	}
	rc = config_lex_scalar(ps, main_keys[k].name, v, end, val);
	if (rc < 0)
		return rc;
	rc = main_set(ps, c, (enum config_key)k, val);
	if (rc < 0)
		return rc;
	c->line_of[k] = ps->line;
	return 0;
}

/* The line of whichever of two keys was set last (0: neither was). */
static int line_of2(const struct arb_config *c, enum config_key a, enum config_key b)
{
	return c->line_of[a] > c->line_of[b] ? c->line_of[a] : c->line_of[b];
}

/* a duration set against a bound the others give: "KEY: V REL EXPR = B: WHY" */
static int bound_err(struct config_lex *ps, const struct arb_config *c, enum config_key k,
		     int64_t v, const char *rel, const char *expr, int64_t bound, const char *why)
{
	char a[32], b[32];

	fmt_ms(a, sizeof(a), v);
	fmt_ms(b, sizeof(b), bound);
	ps->line = c->line_of[k];
	config_lex_err(ps, main_keys[k].name, "%s %s %s = %s: %s", a, rel, expr, b, why);
	return -EINVAL;
}

/* Cross-key rules that need nothing but the file. */
static int main_check(struct config_lex *ps, const struct arb_config *c)
{
	const char *fence = main_keys[CONFIG_KEY_FENCE_POLICY].name;

	if (c->fence_policy == FSM_FENCE_NONE && !c->allow_unsafe) {
		ps->line = c->line_of[CONFIG_KEY_FENCE_POLICY];
		config_lex_err(ps, fence,
			 "'none' never waits for fencing (split brain on a partition): "
			 "tests and demos only, needs allow_unsafe = yes");
		return -EINVAL;
	}
	if (c->liveness_bound_ms <= c->liveness_period_ms) {
		bool bound = c->line_of[CONFIG_KEY_LIVENESS_BOUND] >=
			     c->line_of[CONFIG_KEY_LIVENESS_PERIOD];

		ps->line = line_of2(c, CONFIG_KEY_LIVENESS_BOUND, CONFIG_KEY_LIVENESS_PERIOD);
		if (bound)
			config_lex_err(ps, "liveness_bound", "must exceed liveness_period (SAFETY H1)");
		else
			config_lex_err(ps, "liveness_period", "must be below liveness_bound (SAFETY H1)");
		return -EINVAL;
	}
	if (c->fence_policy == FSM_FENCE_SELF && (c->two_node || c->last_man_standing)) {
		ps->line = c->line_of[CONFIG_KEY_FENCE_POLICY];
		config_lex_err(ps, fence,
			 "'self' is refused with %s = yes: two partitions can both be "
			 "quorate (SAFETY C3)",
			 c->two_node ? "two_node" : "last_man_standing");
		return -EINVAL;
	}
	if (c->watchdog_device[0]) {
		/* held only while a reset two ticks late would still come
		 * before the own liveness deadline + SFT + kill_time
		 * (fsm_watchdog_tick), with the liveness message up to two
		 * periods old; the device counts whole seconds */
		int64_t t = config_watchdog_secs(c) * 1000LL;
		int64_t room = c->liveness_bound_ms + c->self_fence_timeout_ms + c->kill_time_ms -
			       2 * c->liveness_period_ms -
			       2 * fsm_watchdog_period_ms(t, c->liveness_period_ms);

		if (t > room)
			return bound_err(ps, c, CONFIG_KEY_WATCHDOG_TIMEOUT, t,
					 "exceeds", "liveness_bound + self_fence_timeout + "
					 "kill_time - 2 x liveness_period - 2 x its pet period",
					 room, "the watchdog could not be held even on a healthy node");
	}
	if (c->self_wait_ms != 0 && !c->allow_unsafe) {
		int64_t w = c->liveness_period_ms + c->liveness_bound_ms + c->self_fence_timeout_ms +
			    c->kill_time_ms;

		if (c->self_wait_ms < w)
			return bound_err(ps, c, CONFIG_KEY_SELF_WAIT, c->self_wait_ms,
					 "is shorter than", "liveness_period + liveness_bound + "
					 "self_fence_timeout + kill_time", w,
					 "the lost side may still run (SAFETY A4); needs "
					 "allow_unsafe = yes");
	}
	return 0;
}

int config_parse(const char *text, size_t len, const char *filename, struct arb_config *c,
		 struct config_error *err)
{
	struct config_lex ps = {.file = filename ? filename : "-", .err = err};
	struct arb_config *tmp;
	int rc;

	if (!text && len)
		return -EINVAL;
	tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	config_defaults(tmp);
	snprintf(tmp->file, sizeof(tmp->file), "%s", ps.file);
	rc = config_lex_lines(&ps, text ? text : "", len, main_line, tmp);
	if (rc == 0)
		rc = main_check(&ps, tmp);
	if (rc == 0)
		*c = *tmp;
	free(tmp);
	return rc;
}

/* --------------------------------------------------------- fsm mapping */

void config_to_fsm(const struct arb_config *c, uint32_t local_nodeid, uint32_t expected_votes,
		   bool two_node, struct fsm_config *out)
{
	fsm_config_defaults(out);
	out->local_nodeid = local_nodeid;
	out->fence_policy = c->fence_policy;
	out->no_quorum = c->no_quorum;
	out->two_node = c->two_node || two_node;
	out->last_man_standing = c->last_man_standing;
	out->expected_votes = expected_votes ? expected_votes : c->expected_votes;
	out->liveness_period_ms = c->liveness_period_ms;
	out->liveness_bound_ms = c->liveness_bound_ms;
	out->self_fence_timeout_ms = c->self_fence_timeout_ms;
	out->self_wait_ms = c->self_wait_ms;
	out->kill_time_ms = c->kill_time_ms;
	out->t_arb_ms = c->t_arb_ms;
	out->skew_max_s = c->skew_max_s;
	out->state_period_ms = c->state_period_ms;
	out->commit_timeout_ms = c->commit_timeout_ms;
	out->cmd_timeout_ms = c->qmp_timeout_ms;
	out->freeze_colo_primaries = c->freeze_colo_primaries;
	out->audit = true;
	out->test_disable = 0; /* never from a file */
}

int config_check_cluster(const struct arb_config *c, uint32_t local_nodeid,
			 uint32_t expected_votes, bool two_node, bool last_man_standing,
			 struct config_error *err)
{
	struct config_lex ps = {.file = c->file[0] ? c->file : "-", .err = err};
	struct fsm_config f;
	const char *why = NULL;

	if (c->fence_policy == FSM_FENCE_SELF &&
	    (two_node || last_man_standing || c->two_node || c->last_man_standing)) {
		ps.line = c->line_of[CONFIG_KEY_FENCE_POLICY];
		config_lex_err(&ps, "fence_policy",
			 "'self' is refused: corosync has %s, so two partitions can both be "
			 "quorate (SAFETY C3); use pacemaker",
			 (two_node || c->two_node) ? "two_node" : "last_man_standing");
		return -EINVAL;
	}
	if (expected_votes && c->line_of[CONFIG_KEY_EXPECTED_VOTES] &&
	    expected_votes != c->expected_votes) {
		ps.line = c->line_of[CONFIG_KEY_EXPECTED_VOTES];
		config_lex_err(&ps, "expected_votes",
			 "%" PRIu32 " but corosync expects %" PRIu32
			 " votes: majorities of different counts need not intersect",
			 c->expected_votes, expected_votes);
		return -EINVAL;
	}
	config_to_fsm(c, local_nodeid, expected_votes, two_node, &f);
	f.last_man_standing = f.last_man_standing || last_man_standing;
	if (fsm_config_check(&f, &why) < 0) {
		ps.line = 0;
		config_lex_err(&ps, "", "%s", why ? why : "refused by the decision core");
		return -EINVAL;
	}
	return 0;
}

int config_log_priority(const struct arb_config *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++) {
		if (strcmp(c->log_level, log_levels[i].name) == 0)
			return log_levels[i].prio;
	}
	return LOG_INFO;
}
