/*
 * test_config.c: the configuration module against golden files and its own
 * round trips. data/config/{main,vm}/NAME.conf must parse and print exactly
 * NAME.out (then print -> parse -> print is identical), or fail with exactly
 * NAME.err ("file:line: key: message"); data/config/vm-json/NAME.json is a
 * vm-add argument object, with NAME.out or NAME.err likewise. Then: every
 * key set to a non-default value, random spellings of one full file, units
 * and ranges, bounds, the cluster check (C3, votes), the fsm mapping, and
 * the shipped conf/ files and man page agreeing with the code.
 *
 * CONFIG_GOLDEN_UPDATE=1 writes missing or different .out/.err files into
 * the source tree (review them with git diff); the test then still fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "compiler.h"
#include "config.h"
#include "control.h"
#include "fsm.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ helpers */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void write_all(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static const char *src_path(const char *rel, char *buf, size_t len)
{
	const char *top = getenv("TOP_SRCDIR");

	assert_non_null(top);
	snprintf(buf, len, "%s/%s", top, rel);
	return buf;
}

static int parse_str(const char *text, struct arb_config *c, struct config_error *e)
{
	return config_parse(text, strlen(text), "t.conf", c, e);
}

static char *fmt_err(const struct config_error *e)
{
	char buf[1024];

	config_error_format(e, buf, sizeof(buf));
	return strdup(buf);
}

/* Parse must fail with exactly `want` ("file:line: key: message"). */
static void expect_err(const char *text, const char *want)
{
	struct arb_config c;
	struct config_error e;
	char *got;

	memset(&e, 0, sizeof(e));
	assert_int_equal(parse_str(text, &c, &e), -EINVAL);
	got = fmt_err(&e);
	if (strcmp(got, want) != 0)
		print_message("# input: %s# got:  %s\n# want: %s\n", text, got, want);
	assert_string_equal(got, want);
	free(got);
}

/* Parse must fail with the message containing `part` at key `key`. */
static void expect_err_part(const char *text, const char *key, const char *part)
{
	struct arb_config c;
	struct config_error e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(parse_str(text, &c, &e), -EINVAL);
	if (strcmp(e.key, key) != 0 || !strstr(e.msg, part))
		print_message("# input: %s# got key %s msg %s\n", text, e.key, e.msg);
	assert_string_equal(e.key, key);
	assert_non_null(strstr(e.msg, part));
}

/* The canonical print of a config parsed from text (asserts success). */
static char *print_of(const char *text)
{
	struct arb_config c;
	struct config_error e;
	char buf[1024];

	memset(&e, 0, sizeof(e));
	if (parse_str(text, &c, &e) != 0) {
		config_error_format(&e, buf, sizeof(buf));
		print_message("# unexpected error: %s\n# input: %s\n", buf, text);
		fail();
	}
	char *p = config_print(&c);
	assert_non_null(p);
	return p;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++) {
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* ------------------------------------------------------ golden files */

enum golden_kind { G_MAIN, G_VM, G_VM_JSON };

struct golden_case {
	enum golden_kind kind;
	char dir[1024];
	char base[256]; /* without extension */
	char input[1300];
};

static bool golden_update(void)
{
	const char *u = getenv("CONFIG_GOLDEN_UPDATE");

	return u && strcmp(u, "1") == 0;
}

/* Parses one golden input: 0 and the canonical print, or -EINVAL and the
 * formatted error. The round trip is checked here for every success. */
static int golden_run(const struct golden_case *gc, char **out)
{
	struct config_error e;
	char file[300], buf[1024];
	size_t len;
	char *text = read_all(gc->input, &len);
	int rc;

	assert_non_null(text);
	memset(&e, 0, sizeof(e));
	snprintf(file, sizeof(file), "%s.%s", gc->base, gc->kind == G_VM_JSON ? "json" : "conf");
	if (gc->kind == G_MAIN) {
		struct arb_config c, c2;

		rc = config_parse(text, len, file, &c, &e);
		if (rc == 0) {
			*out = config_print(&c);
			assert_non_null(*out);
			assert_int_equal(config_parse(*out, strlen(*out), file, &c2, &e), 0);
			char *again = config_print(&c2);
			assert_string_equal(again, *out);
			free(again);
		}
	} else {
		struct arb_vm_config vm, vm2;

		if (gc->kind == G_VM) {
			rc = config_vm_parse(text, len, file, &vm, &e);
		} else {
			json_error_t je;
			json_t *j = json_loadb(text, len, 0, &je);

			if (!j) {
				print_message("# %s: bad JSON: %s\n", gc->input, je.text);
				fail();
			}
			rc = config_vm_from_json(j, &vm, &e);
			json_decref(j);
		}
		if (rc == 0) {
			*out = config_vm_print(&vm);
			assert_non_null(*out);
			assert_int_equal(config_vm_parse(*out, strlen(*out), file, &vm2, &e), 0);
			char *again = config_vm_print(&vm2);
			assert_string_equal(again, *out);
			assert_true(config_vm_equal(&vm, &vm2));
			free(again);
			/* and through the vm-add JSON */
			json_t *j = config_vm_to_json(&vm);
			struct arb_vm_config vm3;
			assert_non_null(j);
			assert_int_equal(config_vm_from_json(j, &vm3, &e), 0);
			assert_true(config_vm_equal(&vm, &vm3));
			json_decref(j);
			config_vm_free(&vm3);
			config_vm_free(&vm2);
			config_vm_free(&vm);
		}
	}
	if (rc != 0) {
		assert_int_equal(rc, -EINVAL);
		config_error_format(&e, buf, sizeof(buf));
		size_t n = strlen(buf);
		*out = malloc(n + 2);
		assert_non_null(*out);
		memcpy(*out, buf, n);
		memcpy(*out + n, "\n", 2);
	}
	free(text);
	return rc;
}

static void test_golden(void **state)
{
	const struct golden_case *gc = *state;
	char out_path[1400], err_path[1400];
	char *got = NULL, *want_out, *want_err;
	int rc;

	snprintf(out_path, sizeof(out_path), "%s/%s.out", gc->dir, gc->base);
	snprintf(err_path, sizeof(err_path), "%s/%s.err", gc->dir, gc->base);
	want_out = read_all(out_path, NULL);
	want_err = read_all(err_path, NULL);
	rc = golden_run(gc, &got);
	if (want_out && want_err) {
		print_message("# %s: both .out and .err exist\n", gc->base);
		fail();
	}
	const char *want = want_out ? want_out : want_err;
	bool ok = want && strcmp(want, got) == 0 && (rc == 0) == (want_out != NULL);

	if (!ok) {
		print_message("# %s: %s\n# got:\n%s# want (%s):\n%s", gc->input,
			      rc == 0 ? "parsed" : "refused", got, want_out ? ".out" : ".err",
			      want ? want : "(missing)\n");
		if (golden_update()) {
			write_all(rc == 0 ? out_path : err_path, got);
			if (rc == 0 && want_err)
				remove(err_path);
			if (rc != 0 && want_out)
				remove(out_path);
			print_message("# updated\n");
		}
	}
	/* the expectation is in the file name: ok-* parse, bad-* do not */
	if (strncmp(gc->base, "ok-", 3) == 0)
		assert_int_equal(rc, 0);
	else if (strncmp(gc->base, "bad-", 4) == 0)
		assert_int_equal(rc, -EINVAL);
	else
		fail_msg("golden file %s must be named ok-* or bad-*", gc->base);
	assert_true(ok);
	free(got);
	free(want_out);
	free(want_err);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds one test per input file of dir (sorted); returns how many. */
static size_t golden_collect(const char *data, const char *sub, enum golden_kind kind,
			     const char *ext, struct CMUnitTest *tests, size_t max)
{
	char dir[1024];
	char *names[512];
	size_t n = 0, k = 0;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/config/%s", data, sub);
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) && n < ARRAY_SIZE(names)) {
		size_t l = strlen(de->d_name), el = strlen(ext);

		if (l > el && strcmp(de->d_name + l - el, ext) == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k < max) {
			struct golden_case *gc = calloc(1, sizeof(*gc));
			char *tname = malloc(300);

			gc->kind = kind;
			snprintf(gc->dir, sizeof(gc->dir), "%s", dir);
			snprintf(gc->base, sizeof(gc->base), "%.*s",
				 (int)(strlen(names[i]) - strlen(ext)), names[i]);
			snprintf(gc->input, sizeof(gc->input), "%s/%s", dir, names[i]);
			snprintf(tname, 300, "golden %s/%s", sub, names[i]);
			tests[k].name = tname;
			tests[k].test_func = test_golden;
			tests[k].setup_func = NULL;
			tests[k].teardown_func = NULL;
			tests[k].initial_state = gc;
			k++;
		}
		free(names[i]);
	}
	return k;
}

/* --------------------------------------------------------------- keys */

/* One row per key: an input line and the canonical line it must print as.
 * Every value differs from the default, and the rows together form one
 * valid file (test_random_spellings joins them). */
static const struct key_row {
	const char *key;
	const char *in;
	const char *canon;
} key_rows[] = {
	{"fence_policy", "fence_policy = none", "fence_policy = none"},
	{"no_quorum", "no_quorum = kill", "no_quorum = kill"},
	{"allow_unsafe", "allow_unsafe = true", "allow_unsafe = yes"},
	{"expected_votes", "expected_votes = 05", "expected_votes = 5"},
	{"two_node", "two_node = on", "two_node = yes"},
	{"last_man_standing", "last_man_standing = yes", "last_man_standing = yes"},
	{"liveness_period", "liveness_period = 250ms", "liveness_period = 250ms"},
	{"liveness_bound", "liveness_bound = 7000ms", "liveness_bound = 7s"},
	{"self_fence_timeout", "self_fence_timeout = 3s", "self_fence_timeout = 3s"},
	{"self_wait", "self_wait = 20000ms", "self_wait = 20s"},
	{"kill_time", "kill_time = 800ms", "kill_time = 800ms"},
	{"watchdog_device", "watchdog_device = /dev/watchdog1",
	 "watchdog_device = \"/dev/watchdog1\""},
	{"watchdog_timeout", "watchdog_timeout = 8000ms", "watchdog_timeout = 8s"},
	{"t_arb", "t_arb = 2500ms", "t_arb = 2500ms"},
	{"skew_max", "skew_max = 2000ms", "skew_max = 2s"},
	{"state_period", "state_period = 1s", "state_period = 1s"},
	{"commit_timeout", "commit_timeout = 4s", "commit_timeout = 4s"},
	{"qmp_timeout", "qmp_timeout = 1500ms", "qmp_timeout = 1500ms"},
	{"fence_timeout", "fence_timeout = 300s", "fence_timeout = 300s"},
	{"freeze_colo_primaries", "freeze_colo_primaries = yes", "freeze_colo_primaries = yes"},
	{"cpg_group", "cpg_group = lab-1.arb", "cpg_group = \"lab-1.arb\""},
	{"control_socket", "control_socket = \"/tmp/my ctl.sock\"",
	 "control_socket = \"/tmp/my ctl.sock\""},
	{"control_group", "control_group = \"\"", "control_group = \"\""},
	{"control_mode", "control_mode = 600", "control_mode = 0600"},
	{"state_dir", "state_dir = \"/srv/state\\\\x\"", "state_dir = \"/srv/state\\\\x\""},
	{"run_dir", "run_dir = /run/arb", "run_dir = \"/run/arb\""},
	{"vm_dir", "vm_dir = \"/etc/arb/v#m.d\"", "vm_dir = \"/etc/arb/v#m.d\""},
	{"audit_log", "audit_log = \"/var/log/a \\\"b\\\".jsonl\"",
	 "audit_log = \"/var/log/a \\\"b\\\".jsonl\""},
	{"log_level", "log_level = debug", "log_level = debug"},
	{"log_stderr", "log_stderr = yes", "log_stderr = yes"},
	{"log_syslog", "log_syslog = off", "log_syslog = no"},
	{"blackbox_size", "blackbox_size = 2097152", "blackbox_size = 2M"},
	{"realtime_priority", "realtime_priority = 007", "realtime_priority = 7"},
};

static void test_every_key(void **state)
{
	char *defaults;
	struct arb_config d;

	(void)state;
	config_defaults(&d);
	defaults = config_print(&d);
	assert_non_null(defaults);
	/* every key has a row, and the rows name only keys */
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		bool found = false;

		for (size_t i = 0; i < ARRAY_SIZE(key_rows); i++)
			found = found || strcmp(key_rows[i].key, config_key_to_str(k)) == 0;
		if (!found)
			print_message("# key %s has no row\n", config_key_to_str(k));
		assert_true(found);
	}
	assert_int_equal(ARRAY_SIZE(key_rows), CONFIG_KEY_COUNT);
	assert_null(config_key_to_str(CONFIG_KEY_COUNT));
	for (size_t i = 0; i < ARRAY_SIZE(key_rows); i++) {
		char text[512];
		char *p;

		/* fence_policy = none needs allow_unsafe */
		snprintf(text, sizeof(text), "%s\n%s\n", key_rows[i].in,
			 strcmp(key_rows[i].key, "allow_unsafe") ? "allow_unsafe = yes" : "");
		p = print_of(text);
		if (!has_line(p, key_rows[i].canon))
			print_message("# %s: printed\n%s", key_rows[i].in, p);
		assert_true(has_line(p, key_rows[i].canon));
		assert_false(has_line(defaults, key_rows[i].canon));
		free(p);
	}
	free(defaults);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) & 0x7fff;
}

/* All rows in random order, with random spellings of keys ('-' for '_'),
 * blanks, comments, blank lines and CRLF: one canonical print. */
static void test_random_spellings(void **state)
{
	size_t order[ARRAY_SIZE(key_rows)];
	char *first = NULL;

	(void)state;
	for (int iter = 0; iter < 300; iter++) {
		char text[16384];
		size_t n = 0;
		bool crlf = rnd() % 4 == 0;

		for (size_t i = 0; i < ARRAY_SIZE(order); i++)
			order[i] = i;
		for (size_t i = ARRAY_SIZE(order) - 1; i > 0; i--) {
			size_t j = rnd() % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
			const struct key_row *r = &key_rows[order[i]];
			const char *eq = strchr(r->in, '=');
			size_t klen = strlen(r->key);
			static const char *const blanks[] = {"", " ", "\t", "  \t"};

			if (rnd() % 5 == 0)
				n += (size_t)snprintf(text + n, sizeof(text) - n, "# comment = x\"\\%s",
						      crlf ? "\r\n" : "\n");
			if (rnd() % 5 == 0)
				n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s",
						      blanks[rnd() % 4], crlf ? "\r\n" : "\n");
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", blanks[rnd() % 4]);
			for (size_t j = 0; j < klen; j++)
				text[n++] = (r->key[j] == '_' && rnd() % 2) ? '-' : r->key[j];
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s=%s%s%s%s%s",
					      blanks[rnd() % 4], blanks[rnd() % 4],
					      eq + 1 + strspn(eq + 1, " "), blanks[rnd() % 4],
					      rnd() % 3 == 0 ? " # trailing \"comment\"" : "",
					      crlf ? "\r\n" : "\n");
		}
		text[n] = '\0';
		char *p = print_of(text);

		for (size_t i = 0; i < ARRAY_SIZE(key_rows); i++)
			assert_true(has_line(p, key_rows[i].canon));
		if (!first) {
			first = p;
			char *again = print_of(first);
			assert_string_equal(again, first);
			free(again);
		} else {
			assert_string_equal(p, first);
			free(p);
		}
	}
	free(first);
}

static void test_defaults_agree(void **state)
{
	struct arb_config c;
	struct fsm_config f, g;

	(void)state;
	config_defaults(&c);
	config_to_fsm(&c, 7, 0, false, &f);
	fsm_config_defaults(&g);
	g.local_nodeid = 7;
	/* field by field: the struct has padding */
	assert_int_equal(f.local_nodeid, g.local_nodeid);
	assert_int_equal(f.fence_policy, g.fence_policy);
	assert_int_equal(f.no_quorum, g.no_quorum);
	assert_int_equal(f.two_node, g.two_node);
	assert_int_equal(f.last_man_standing, g.last_man_standing);
	assert_int_equal(f.expected_votes, g.expected_votes);
	assert_int_equal(f.liveness_period_ms, g.liveness_period_ms);
	assert_int_equal(f.liveness_bound_ms, g.liveness_bound_ms);
	assert_int_equal(f.self_fence_timeout_ms, g.self_fence_timeout_ms);
	assert_int_equal(f.self_wait_ms, g.self_wait_ms);
	assert_int_equal(f.kill_time_ms, g.kill_time_ms);
	assert_int_equal(f.t_arb_ms, g.t_arb_ms);
	assert_int_equal(f.skew_max_s, g.skew_max_s);
	assert_int_equal(f.state_period_ms, g.state_period_ms);
	assert_int_equal(f.commit_timeout_ms, g.commit_timeout_ms);
	assert_int_equal(f.cmd_timeout_ms, g.cmd_timeout_ms);
	assert_int_equal(f.freeze_colo_primaries, g.freeze_colo_primaries);
	assert_int_equal(f.audit, g.audit);
	assert_int_equal(f.test_disable, 0);
	assert_int_equal(fsm_config_check(&f, NULL), 0);
	/* the control socket's defaults are control.h's */
	assert_string_equal(c.control_socket, CONTROL_SOCKET_DEFAULT);
	assert_string_equal(c.control_group, CONTROL_GROUP_DEFAULT);
	assert_int_equal(c.control_mode, CONTROL_MODE_DEFAULT);
	/* an empty file, NULL text and a comment-only file are the defaults */
	char *d = config_print(&c);
	char *p = print_of("");
	assert_string_equal(p, d);
	free(p);
	p = print_of("# nothing\n\n   \t\n#x = y");
	assert_string_equal(p, d);
	free(p);
	struct arb_config c2;
	assert_int_equal(config_parse(NULL, 0, "x", &c2, NULL), 0);
	p = config_print(&c2);
	assert_string_equal(p, d);
	free(p);
	free(d);
}

static void test_to_fsm_mapping(void **state)
{
	struct arb_config c;
	struct config_error e;
	struct fsm_config f;
	const char *text = "fence_policy = self\nno_quorum = kill\nexpected_votes = 5\n"
			   "liveness_period = 300ms\nliveness_bound = 6s\n"
			   "self_fence_timeout = 2500ms\nself_wait = 30s\nkill_time = 700ms\n"
			   "t_arb = 12s\nskew_max = 3s\nstate_period = 4s\ncommit_timeout = 3500ms\n"
			   "qmp_timeout = 1200ms\nfreeze_colo_primaries = yes\n";

	(void)state;
	assert_int_equal(parse_str(text, &c, &e), 0);
	config_to_fsm(&c, 3, 0, false, &f);
	assert_int_equal(f.local_nodeid, 3);
	assert_int_equal(f.fence_policy, FSM_FENCE_SELF);
	assert_int_equal(f.no_quorum, FSM_NOQUORUM_KILL);
	assert_int_equal(f.expected_votes, 5);
	assert_false(f.two_node);
	assert_int_equal(f.liveness_period_ms, 300);
	assert_int_equal(f.liveness_bound_ms, 6000);
	assert_int_equal(f.self_fence_timeout_ms, 2500);
	assert_int_equal(f.self_wait_ms, 30000);
	assert_int_equal(f.kill_time_ms, 700);
	assert_int_equal(f.t_arb_ms, 12000);
	assert_int_equal(f.skew_max_s, 3);
	assert_int_equal(f.state_period_ms, 4000);
	assert_int_equal(f.commit_timeout_ms, 3500);
	assert_int_equal(f.cmd_timeout_ms, 1200);
	assert_true(f.freeze_colo_primaries);
	assert_true(f.audit);
	assert_int_equal(f.test_disable, 0);
	/* corosync's figures win in the mapping; the check refuses a conflict */
	config_to_fsm(&c, 3, 4, true, &f);
	assert_int_equal(f.expected_votes, 4);
	assert_true(f.two_node);
	struct fsm *fsm;
	config_to_fsm(&c, 3, 0, false, &f);
	fsm = fsm_new(&f);
	assert_non_null(fsm);
	fsm_free(fsm);
	/* fence_timeout and the paths are the daemon's, not the fsm's */
	assert_int_equal(c.fence_timeout_s, 60);
}

/* `self` with two_node is refused where two_node becomes known. */
static void test_cluster_check(void **state)
{
	struct arb_config c;
	struct config_error e;
	char *s;

	(void)state;
	assert_int_equal(parse_str("# self fencing\n\nfence_policy = self\n", &c, &e), 0);
	assert_int_equal(config_check_cluster(&c, 1, 3, false, false, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(config_check_cluster(&c, 1, 2, true, false, &e), -EINVAL);
	s = fmt_err(&e);
	assert_string_equal(s, "t.conf:3: fence_policy: 'self' is refused: corosync has two_node, "
			       "so two partitions can both be quorate (SAFETY C3); use pacemaker");
	free(s);
	assert_int_equal(config_check_cluster(&c, 1, 3, false, true, &e), -EINVAL);
	assert_string_equal(e.key, "fence_policy");
	assert_non_null(strstr(e.msg, "last_man_standing"));
	/* the mapping alone would hand fsm_new a config it refuses too */
	struct fsm_config f;
	config_to_fsm(&c, 1, 2, true, &f);
	assert_int_not_equal(fsm_config_check(&f, NULL), 0);
	assert_null(fsm_new(&f));
	/* in the file itself, the parser refuses it at once */
	expect_err("fence_policy = self\ntwo_node = yes\n",
		   "t.conf:1: fence_policy: 'self' is refused with two_node = yes: two "
		   "partitions can both be quorate (SAFETY C3)");
	expect_err_part("last_man_standing = yes\nfence_policy = self\n", "fence_policy",
			"last_man_standing = yes");
	/* pacemaker is fine with two_node */
	assert_int_equal(parse_str("two_node = yes\nexpected_votes = 2\n", &c, &e), 0);
	assert_int_equal(config_check_cluster(&c, 1, 2, true, false, &e), 0);
	/* expected_votes set in the file must match corosync's */
	memset(&e, 0, sizeof(e));
	assert_int_equal(config_check_cluster(&c, 1, 3, true, false, &e), -EINVAL);
	s = fmt_err(&e);
	assert_string_equal(s, "t.conf:2: expected_votes: 2 but corosync expects 3 votes: "
			       "majorities of different counts need not intersect");
	free(s);
	/* unset in the file: corosync's number is taken */
	assert_int_equal(parse_str("", &c, &e), 0);
	assert_int_equal(config_check_cluster(&c, 1, 5, false, false, &e), 0);
	/* what fsm_config_check refuses comes back too */
	assert_int_equal(config_check_cluster(&c, 0, 3, false, false, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "nodeid"));
}

static void test_unsafe_combinations(void **state)
{
	struct arb_config c;
	struct config_error e;

	(void)state;
	expect_err("fence_policy = none\n",
		   "t.conf:1: fence_policy: 'none' never waits for fencing (split brain on a "
		   "partition): tests and demos only, needs allow_unsafe = yes");
	/* order does not matter */
	assert_int_equal(parse_str("fence_policy = none\nallow_unsafe = yes\n", &c, &e), 0);
	assert_int_equal(c.fence_policy, FSM_FENCE_NONE);
	assert_int_equal(parse_str("allow_unsafe = yes\nfence_policy = none\n", &c, &e), 0);
	expect_err("fence_policy = none\nallow_unsafe = no\n",
		   "t.conf:1: fence_policy: 'none' never waits for fencing (split brain on a "
		   "partition): tests and demos only, needs allow_unsafe = yes");
	/* H1: B must exceed P, whichever was set */
	expect_err_part("liveness_bound = 500ms\n", "liveness_bound", "SAFETY H1");
	expect_err_part("\nliveness_period = 6s\n", "liveness_period", "SAFETY H1");
	expect_err_part("liveness_period = 6s\nliveness_bound = 6s\n", "liveness_bound",
			"SAFETY H1");
	assert_int_equal(parse_str("liveness_period = 6s\nliveness_bound = 6001ms\n", &c, &e), 0);
	/* A4: an explicit self wait must cover P + B + SFT + kill */
	expect_err("self_wait = 8s\n",
		   "t.conf:1: self_wait: 8s is shorter than liveness_period + liveness_bound + "
		   "self_fence_timeout + kill_time = 8400ms: the lost side may still run "
		   "(SAFETY A4); needs allow_unsafe = yes");
	assert_int_equal(parse_str("self_wait = 8400ms\n", &c, &e), 0);
	assert_int_equal(parse_str("self_wait = 8s\nallow_unsafe = yes\n", &c, &e), 0);
	assert_int_equal(c.self_wait_ms, 8000);
	expect_err_part("self_wait = 9s\nliveness_bound = 7s\n", "self_wait", "= 10s");
}

static void test_values(void **state)
{
	static const struct {
		const char *text, *key, *part;
	} bad[] = {
		{"liveness_period = 500\n", "liveness_period", "missing unit"},
		{"liveness_period = 500us\n", "liveness_period", "unknown unit"},
		{"liveness_period = 500 ms\n", "liveness_period", "unexpected text"},
		{"liveness_period = 0.5s\n", "liveness_period", "whole number"},
		{"liveness_period = -1s\n", "liveness_period", "not a duration"},
		{"liveness_period = +1s\n", "liveness_period", "not a duration"},
		{"liveness_period = ms\n", "liveness_period", "not a duration"},
		{"liveness_period = 99999999999999999999999s\n", "liveness_period", "out of range"},
		{"liveness_period = 1125899906842624s\n", "liveness_period", "out of range"},
		{"liveness_period = 9ms\n", "liveness_period", "out of range (10ms to 10s)"},
		{"liveness_period = 10001ms\n", "liveness_period", "out of range (10ms to 10s)"},
		{"liveness_bound = 121s\n", "liveness_bound", "out of range (100ms to 120s)"},
		{"self_wait = never\n", "self_wait", "must be auto or a duration"},
		{"self_wait = 0s\n", "self_wait", "out of range (1s to 600s)"},
		{"skew_max = 1500ms\n", "skew_max", "whole seconds"},
		{"skew_max = 61s\n", "skew_max", "out of range (0s to 60s)"},
		{"fence_timeout = 0s\n", "fence_timeout", "out of range (1s to 3600s)"},
		{"expected_votes = 0\n", "expected_votes", "out of range (1 to 16)"},
		{"expected_votes = 17\n", "expected_votes", "out of range (1 to 16)"},
		{"expected_votes = 4294967296\n", "expected_votes", "out of range"},
		{"expected_votes = three\n", "expected_votes", "not a number"},
		{"expected_votes = -3\n", "expected_votes", "not a number"},
		{"fence_policy = stonith\n", "fence_policy", "pacemaker, self or none"},
		{"fence_policy = Pacemaker\n", "fence_policy", "pacemaker, self or none"},
		{"no_quorum = stop\n", "no_quorum", "freeze or kill"},
		{"log_stderr = maybe\n", "log_stderr", "yes or no"},
		{"log_level = error\n", "log_level", "err, warning"},
		{"control_mode = 0666\n", "control_mode", "nothing to others"},
		{"control_mode = 0400\n", "control_mode", "owner read and write"},
		{"control_mode = 0680\n", "control_mode", "octal"},
		{"control_mode = 1660\n", "control_mode", "only permission bits"},
		{"control_mode = 06600\n", "control_mode", "octal"},
		{"control_group = -x\n", "control_group", "group name"},
		{"control_group = \"a b\"\n", "control_group", "group name"},
		{"state_dir = var/lib\n", "state_dir", "absolute"},
		{"state_dir = \"\"\n", "state_dir", "absolute"},
		{"state_dir = \"/a\tb\"\n", "state_dir", "printable"},
		{"cpg_group = .hidden\n", "cpg_group", "start with '.'"},
		{"cpg_group = a/b\n", "cpg_group", "A-Z a-z"},
		{"cpg_group = \"\"\n", "cpg_group", "1 to 63"},
		{"control_socket = "
		 "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaa\n",
		 "control_socket", "unix socket"},
		{"log_level =\n", "log_level", "missing value"},
		{"log_level = # nothing\n", "log_level", "missing value"},
		{"log_level = \"info\n", "log_level", "unterminated"},
		{"log_level = \"in\\fo\"\n", "log_level", "bad escape"},
		{"log_level = in\"fo\"\n", "log_level", "stray"},
		{"log_level = \"info\"x\n", "log_level", "unexpected text"},
		{"log_level info\n", "log_level", "expected '='"},
		{"log_level\n", "log_level", "expected '='"},
		{"= info\n", "", "expected 'key = value'"},
		{"[section]\n", "", "expected 'key = value'"},
		{"log.level = info\n", "log", "expected '='"},
		{"name = web1\n", "name", "vm_dir"},
		{"LOG_LEVEL = info\n", "LOG_LEVEL", "unknown key"}, /* keys are lower case */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_err_part(bad[i].text, bad[i].key, bad[i].part);

	/* the boundaries themselves are accepted */
	static const char *const good[] = {
		"liveness_period = 10ms\nliveness_bound = 100ms\n",
		"liveness_period = 10s\nliveness_bound = 120s\n",
		"skew_max = 0s\n", "skew_max = 60000ms\n", "expected_votes = 16\n",
		"expected_votes = 1\n", "control_mode = 0770\n", "control_mode = 0600\n",
		"self_wait = auto\n", "log_level = \"info\"\n", "fence_policy = \"self\"\n",
		"control_socket = "
		"/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaa\n",
		"log_level=info#comment\n", "log_level = info\t# c\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct arb_config c;
		struct config_error e;
		int rc = parse_str(good[i], &c, &e);

		if (rc != 0)
			print_message("# %s -> %s: %s\n", good[i], e.key, e.msg);
		assert_int_equal(rc, 0);
	}
}

/* blackbox_size: bytes, K or M; printed in the shortest exact spelling */
static void test_sizes(void **state)
{
	static const struct {
		const char *in, *out;
		uint32_t bytes;
	} good[] = {
		{"65536", "64K", 64 * 1024},
		{"64K", "64K", 64 * 1024},
		{"65537", "65537", 65537},
		{"1024K", "1M", 1024 * 1024},
		{"1536K", "1536K", 1536 * 1024},
		{"256M", "256M", 256u * 1024 * 1024},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char text[64], *printed, want[64];
		struct arb_config c;
		struct config_error e;

		snprintf(text, sizeof(text), "blackbox_size = %s\n", good[i].in);
		assert_int_equal(parse_str(text, &c, &e), 0);
		assert_int_equal(c.blackbox_size, good[i].bytes);
		printed = config_print(&c);
		assert_non_null(printed);
		snprintf(want, sizeof(want), "\nblackbox_size = %s\n", good[i].out);
		assert_non_null(strstr(printed, want));
		free(printed);
	}
	expect_err("blackbox_size = 65535\n",
		   "t.conf:1: blackbox_size: out of range (64K to 256M)");
	expect_err("blackbox_size = 257M\n",
		   "t.conf:1: blackbox_size: out of range (64K to 256M)");
	/* saturates instead of wrapping round into the range */
	expect_err("blackbox_size = 18446744073709551616K\n",
		   "t.conf:1: blackbox_size: out of range (64K to 256M)");
	expect_err("blackbox_size = 1m\n", "t.conf:1: blackbox_size: unknown unit: use K or M "
		   "(1024-based), or none for bytes");
	expect_err("blackbox_size = 1.5M\n", "t.conf:1: blackbox_size: unknown unit: use K or "
		   "M (1024-based), or none for bytes");
	expect_err("blackbox_size = 1MB\n", "t.conf:1: blackbox_size: unknown unit: use K or M "
		   "(1024-based), or none for bytes");
	expect_err("blackbox_size = big\n", "t.conf:1: blackbox_size: not a size: expected a "
		   "whole number of bytes, K or M (e.g. 512K)");
}

static void test_duplicates_and_lines(void **state)
{
	(void)state;
	expect_err("# a\nlog_level = info\n\nlog-level = debug\n",
		   "t.conf:4: log_level: duplicate key (first set on line 2)");
	expect_err("log_level = info\r\nfoo = 1\r\n", "t.conf:2: foo: unknown key");
	expect_err("\n\n\nfence_policy = self\ntwo_node = yes",
		   "t.conf:4: fence_policy: 'self' is refused with two_node = yes: two "
		   "partitions can both be quorate (SAFETY C3)");
	/* an over-long key is cut in the error, not overflowed */
	char text[300];
	memset(text, 'k', 200);
	memcpy(text + 200, " = 1\n", 6);
	struct arb_config c;
	struct config_error e;
	assert_int_equal(parse_str(text, &c, &e), -EINVAL);
	assert_int_equal(strlen(e.key), 63);
	assert_string_equal(e.msg, "unknown key");
}

static void test_bounds(void **state)
{
	struct arb_config c, before;
	struct config_error e;
	char *text;

	(void)state;
	/* a comment line of exactly CONFIG_LINE_MAX bytes is fine, one more not */
	text = malloc(CONFIG_LINE_MAX + 64);
	assert_non_null(text);
	text[0] = '#';
	memset(text + 1, 'x', CONFIG_LINE_MAX - 1);
	strcpy(text + CONFIG_LINE_MAX, "\nlog_level = debug\n");
	assert_int_equal(config_parse(text, strlen(text), "t", &c, &e), 0);
	assert_string_equal(c.log_level, "debug");
	/* CRLF: the \r is not part of the line */
	strcpy(text + CONFIG_LINE_MAX, "\r\nlog_level = debug\r\n");
	assert_int_equal(config_parse(text, strlen(text), "t", &c, &e), 0);
	memset(text + 1, 'x', CONFIG_LINE_MAX);
	strcpy(text + CONFIG_LINE_MAX + 1, "\nlog_level = debug\n");
	assert_int_equal(config_parse(text, strlen(text), "t", &c, &e), -EINVAL);
	assert_int_equal(e.line, 1);
	assert_non_null(strstr(e.msg, "line too long"));
	free(text);
	/* a NUL byte, reported on its line; the text need not end in NUL */
	static const char nul[] = "log_level = info\nlog_stderr = y\0es\n";
	assert_int_equal(config_parse(nul, sizeof(nul) - 1, "t", &c, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_string_equal(e.msg, "NUL byte in line");
	/* only len bytes are read */
	assert_int_equal(config_parse("log_level = debugXXXX", 17, "t", &c, &e), 0);
	assert_string_equal(c.log_level, "debug");
	assert_int_equal(config_parse(NULL, 5, "t", &c, &e), -EINVAL);
	/* a refused file leaves the running configuration as it was */
	config_defaults(&before);
	before.liveness_period_ms = 123;
	c = before;
	assert_int_equal(parse_str("log_level = debug\nbogus = 1\n", &c, &e), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	assert_int_equal(parse_str("log_level = debug\nfence_policy = none\n", &c, &e), -EINVAL);
	assert_memory_equal(&c, &before, sizeof(c));
	/* a NULL err is allowed */
	assert_int_equal(parse_str("bogus = 1\n", &c, NULL), -EINVAL);
	assert_int_equal(config_log_priority(&before), 6 /* LOG_INFO */);
	/* libqb's LOG_TRACE, below what the blackbox keeps */
	c = before;
	assert_int_equal(parse_str("log_level = trace\n", &c, &e), 0);
	assert_int_equal(config_log_priority(&c), 8);
}

/* ------------------------------------------------------------- VMs */

static const char vm_text[] =
	"name = web1\nqmp = /run/colo-arbiter/web1.qmp\nrole = primary\npeer-node = 2\n"
	"pre-failover = {\"execute\": \"object-del\", \"arguments\": {\"id\": \"a#b\"}} # c\n"
	"post_failover={\"arguments\":{\"z\":1,\"a\":[true,null,1.5,\"\\u00e9\"]},"
	"\"execute\":\"chardev-remove\"}\n"
	"yank-exclude = arb0\n";

static void test_vm_round_trip(void **state)
{
	struct arb_vm_config vm, vm2, vm3;
	struct config_error e;
	char *p, *t;
	json_t *j;

	(void)state;
	assert_int_equal(config_vm_parse(vm_text, strlen(vm_text), "web1.conf", &vm, &e), 0);
	assert_string_equal(vm.name, "web1");
	assert_string_equal(vm.role, "primary");
	assert_int_equal(vm.peer_node, 2);
	assert_int_equal(vm.n_pre, 1);
	assert_int_equal(vm.n_post, 1);
	assert_int_equal(vm.n_yank_exclude, 1);
	p = config_vm_print(&vm);
	assert_non_null(p);
	assert_true(has_line(p, "pre-failover = {\"execute\": \"object-del\", \"arguments\": "
				"{\"id\": \"a#b\"}}"));
	/* execute first, argument keys sorted, UTF-8 kept */
	assert_true(has_line(p, "post-failover = {\"execute\": \"chardev-remove\", \"arguments\": "
				"{\"a\": [true, null, 1.5, \"\xc3\xa9\"], \"z\": 1}}"));
	t = config_vm_cmd_text(&vm.post[0]);
	assert_string_equal(t, "{\"execute\": \"chardev-remove\", \"arguments\": {\"a\": [true, "
			       "null, 1.5, \"\xc3\xa9\"], \"z\": 1}}");
	free(t);
	assert_int_equal(config_vm_parse(p, strlen(p), "web1.conf", &vm2, &e), 0);
	assert_true(config_vm_equal(&vm, &vm2));
	j = config_vm_to_json(&vm);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "peer-node")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "pre-failover")), 1);
	assert_int_equal(config_vm_from_json(j, &vm3, &e), 0);
	assert_true(config_vm_equal(&vm, &vm3));
	json_decref(j);
	config_vm_free(&vm3);
	assert_int_equal(config_vm_copy(&vm, &vm3), 0);
	assert_true(config_vm_equal(&vm, &vm3));
	assert_ptr_not_equal(vm3.pre[0].args, vm.pre[0].args);
	/* a different list item makes them differ */
	json_object_set_new(vm3.pre[0].args, "id", json_string("c"));
	assert_false(config_vm_equal(&vm, &vm3));
	config_vm_free(&vm3);
	assert_int_equal(vm3.n_pre, 0);
	config_vm_free(&vm2);
	config_vm_free(&vm);
	config_vm_free(NULL);
	free(p);
}

/* jansson's allocator, failing once `jansson_allocs_left` allocations are used */
static int jansson_allocs_left = -1; /* < 0: never fails */

static void *failing_malloc(size_t n)
{
	if (jansson_allocs_left == 0)
		return NULL;
	if (jansson_allocs_left > 0)
		jansson_allocs_left--;
	return malloc(n);
}

/* A copy that runs out of memory part-way through the command lists
 * (their arguments, as jansson copies them) fails with -ENOMEM, leaves the
 * destination as it was and the source whole, and leaks nothing (ASan). */
static void test_vm_copy_oom(void **state)
{
	static const char text[] =
		"name = \"db1\"\nqmp = \"/run/db1.qmp\"\nrole = secondary\npeer-node = 1\n"
		"pre-failover = {\"execute\": \"object-del\", \"arguments\": {\"id\": \"c0\"}}\n"
		"pre-failover = {\"execute\": \"nbd-server-stop\"}\n"
		"pre-failover = {\"execute\": \"object-del\", \"arguments\": {\"id\": \"c1\"}}\n"
		"post-failover = {\"execute\": \"chardev-remove\", \"arguments\": {\"id\": \"m\"}}\n";
	struct arb_vm_config vm, dst, before;
	struct config_error e;
	char *printed, *again;
	int failures = 0, rc;

	(void)state;
	assert_int_equal(config_vm_parse(text, strlen(text), "db1.conf", &vm, &e), 0);
	printed = config_vm_print(&vm);
	assert_non_null(printed);
	json_set_alloc_funcs(failing_malloc, free);
	for (int k = 0;; k++) {
		memset(&dst, 0x5a, sizeof(dst));
		before = dst;
		jansson_allocs_left = k;
		rc = config_vm_copy(&vm, &dst);
		jansson_allocs_left = -1;
		if (rc == 0)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_memory_equal(&dst, &before, sizeof(dst));
		failures++;
	}
	json_set_alloc_funcs(malloc, free);
	/* every argument object was a place to fail, and then it went through */
	assert_true(failures >= 3);
	assert_true(config_vm_equal(&vm, &dst));
	again = config_vm_print(&vm);
	assert_non_null(again);
	assert_string_equal(again, printed);
	config_vm_free(&dst);
	config_vm_free(&vm);
	free(again);
	free(printed);
}

static void expect_vm_err(const char *text, const char *want)
{
	struct arb_vm_config vm;
	struct config_error e;
	char *got;

	memset(&e, 0, sizeof(e));
	assert_int_equal(config_vm_parse(text, strlen(text), "v.conf", &vm, &e), -EINVAL);
	got = fmt_err(&e);
	if (strcmp(got, want) != 0)
		print_message("# input: %s# got:  %s\n# want: %s\n", text, got, want);
	assert_string_equal(got, want);
	free(got);
}

#define VM_HEAD "name = v\nqmp = /q\nrole = primary\npeer-node = 2\n"

static void test_vm_limits(void **state)
{
	char *text;
	size_t n = 0, cap = 64 * 1024;
	struct arb_vm_config vm;
	struct config_error e;

	(void)state;
	text = malloc(cap);
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, VM_HEAD);
	for (int i = 0; i < ARB_CMDS_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "pre-failover = {\"execute\": \"object-del\", "
				      "\"arguments\": {\"id\": \"o%d\"}}\n",
				      i);
	assert_int_equal(config_vm_parse(text, n, "v.conf", &vm, &e), 0);
	assert_int_equal(vm.n_pre, ARB_CMDS_MAX);
	config_vm_free(&vm);
	n += (size_t)snprintf(text + n, cap - n, "pre-failover = {\"execute\": \"x\"}\n");
	assert_int_equal(config_vm_parse(text, n, "v.conf", &vm, &e), -EINVAL);
	assert_int_equal(e.line, 4 + ARB_CMDS_MAX + 1);
	assert_string_equal(e.msg, "too many commands (max 32)");
	/* yank-exclude */
	n = (size_t)snprintf(text, cap, VM_HEAD);
	for (int i = 0; i <= ARB_YANK_EXCLUDE_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n, "yank-exclude = m%d\n", i);
	assert_int_equal(config_vm_parse(text, n, "v.conf", &vm, &e), -EINVAL);
	assert_string_equal(e.msg, "too many ids (max 8)");
	/* nesting */
	n = (size_t)snprintf(text, cap, VM_HEAD "pre-failover = {\"execute\": \"x\", \"arguments\": ");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, cap - n, "{\"a\": ");
	n += (size_t)snprintf(text + n, cap - n, "1");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, cap - n, "}");
	n += (size_t)snprintf(text + n, cap - n, "}\n");
	assert_int_equal(config_vm_parse(text, n, "v.conf", &vm, &e), -EINVAL);
	assert_string_equal(e.msg, "arguments nested too deeply");
	/* a command longer than ARB_CMD_TEXT_MAX as canonical text */
	n = (size_t)snprintf(text, cap, VM_HEAD "pre-failover = {\"execute\": \"x\", \"arguments\": "
						"{\"id\": \"");
	memset(text + n, 'a', 3990);
	n += 3990;
	n += (size_t)snprintf(text + n, cap - n, "\"}}\n");
	assert_int_equal(config_vm_parse(text, n, "v.conf", &vm, &e), -EINVAL);
	assert_string_equal(e.msg, "command too long (max 4000 bytes as JSON)");
	free(text);
}

static void test_vm_errors(void **state)
{
	(void)state;
	expect_vm_err("", "v.conf: name: required key missing");
	expect_vm_err("name = v\nqmp = /q\nrole = primary\n", "v.conf: peer-node: required key missing");
	expect_vm_err("name = v\nname = w\n", "v.conf:2: name: duplicate key (first set on line 1)");
	expect_vm_err("name = .v\n", "v.conf:1: name: must not start with '.'");
	expect_vm_err("name = \"a b\"\n", "v.conf:1: name: must be 1 to 63 characters of A-Z a-z "
				      "0-9 _ . -");
	expect_vm_err("name = ../etc\n", "v.conf:1: name: must not start with '.'");
	expect_vm_err("name = a/b\n", "v.conf:1: name: must be 1 to 63 characters of A-Z a-z "
				      "0-9 _ . -");
	expect_vm_err("role = master\n", "v.conf:1: role: must be primary or secondary");
	expect_vm_err("peer-node = 0\n", "v.conf:1: peer-node: out of range (1 to 4294967295)");
	expect_vm_err("peer-node = 4294967296\n",
		      "v.conf:1: peer-node: out of range (1 to 4294967295)");
	expect_vm_err("peer-node = n2\n", "v.conf:1: peer-node: must be a corosync nodeid (a number)");
	expect_vm_err("qmp = q.sock\n", "v.conf:1: qmp: must be an absolute path");
	expect_vm_err("fence_policy = self\n",
		      "v.conf:1: fence_policy: unknown key (it belongs in colo-arbiter.conf)");
	expect_vm_err("pre-failover = nbd-server-stop\n",
		      "v.conf:1: pre-failover: must be a JSON object {\"execute\": ...}");
	expect_vm_err("pre-failover = {\"execute\": \"nbd-server-stop\"\n",
		      "v.conf:1: pre-failover: bad JSON at column 44: '}' expected near end of file");
	expect_vm_err("pre-failover = {\"execute\": \"a\"} x\n",
		      "v.conf:1: pre-failover: unexpected text after the JSON object");
	expect_vm_err("pre-failover = {\"execute\": \"a\", \"execute\": \"b\"}\n",
		      "v.conf:1: pre-failover: bad JSON at column 41: duplicate object key near "
		      "'\"execute\"'");
	expect_vm_err("pre-failover = {\"execute\": \"a\", \"id\": 1}\n",
		      "v.conf:1: pre-failover: only \"execute\" and \"arguments\" are allowed "
		      "(colo-arbiterd sets the id)");
	expect_vm_err("pre-failover = {\"arguments\": {}}\n",
		      "v.conf:1: pre-failover: \"execute\" must be a command name");
	expect_vm_err("pre-failover = {\"execute\": \"a b\"}\n",
		      "v.conf:1: pre-failover: \"execute\" must be a command name");
	expect_vm_err("pre-failover = {\"execute\": 1}\n",
		      "v.conf:1: pre-failover: \"execute\" must be a command name");
	expect_vm_err("pre-failover = {\"execute\": \"a\", \"arguments\": [1]}\n",
		      "v.conf:1: pre-failover: \"arguments\" must be a JSON object");
	expect_vm_err("pre-failover = {\"execute\": \"a\", \"arguments\": {\"s\": \"\\u0000\"}}\n",
		      "v.conf:1: pre-failover: bad JSON at column 59: \\u0000 is not allowed "
		      "without JSON_ALLOW_NUL near '\"\\u0000\"'");
	static const char *const refused[] = {"qmp_capabilities", "x-colo-lost-heartbeat", "cont",
					      "stop", "quit"};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		char text[200];
		struct arb_vm_config vm;
		struct config_error e;

		snprintf(text, sizeof(text), "post-failover = {\"execute\": \"%s\"}\n", refused[i]);
		assert_int_equal(config_vm_parse(text, strlen(text), "v", &vm, &e), -EINVAL);
		assert_string_equal(e.key, "post-failover");
		assert_non_null(strstr(e.msg, "sent by colo-arbiterd itself"));
	}
	expect_vm_err("yank-exclude = 0mon\n", "v.conf:1: yank-exclude: a QEMU id starts with a letter");
	expect_vm_err("yank-exclude = m\nyank-exclude = m\n", "v.conf:2: yank-exclude: listed twice");
	expect_vm_err("yank-exclude = "
		      "m1234567890123456789012345678901234567890\n",
		      "v.conf:1: yank-exclude: must be a QEMU id of 1 to 39 characters");
}

static void test_vm_from_json_errors(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"[]", "vm-add: arguments must be a JSON object"},
		{"{}", "vm-add: name: required key missing"},
		{"{\"name\": \"v\", \"nme\": 1}", "vm-add: nme: unknown member"},
		{"{\"name\": 1}", "vm-add: name: must be a string"},
		{"{\"name\": \"v\", \"peer-node\": \"2\"}",
		 "vm-add: peer-node: must be a corosync nodeid (a number)"},
		{"{\"name\": \"v\", \"peer-node\": -2}",
		 "vm-add: peer-node: must be a corosync nodeid (a number)"},
		{"{\"name\": \"v\", \"peer-node\": 4294967296}",
		 "vm-add: peer-node: out of range (1 to 4294967295)"},
		{"{\"name\": \"v\", \"peer-node\": 2, \"peer_node\": 3}",
		 "vm-add: peer-node: duplicate key"},
		{"{\"name\": \"v\", \"pre-failover\": {}}", "vm-add: pre-failover: must be an array"},
		{"{\"name\": \"v\", \"pre-failover\": [\"stop\"]}",
		 "vm-add: pre-failover: must be a JSON object {\"execute\": ...}"},
		{"{\"name\": \"v\", \"yank-exclude\": [1]}", "vm-add: yank-exclude: items must be strings"},
		{"{\"name\": \"v\", \"yank-exclude\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
		 "vm-add: yank-exclude: too many items (max 8)"},
		{"{\"name\": \"v\", \"qmp\": \"/q\", \"role\": \"primary\"}",
		 "vm-add: peer-node: required key missing"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j = json_loads(cases[i].json, 0, NULL);
		struct arb_vm_config vm;
		struct config_error e;
		char *got;

		assert_non_null(j);
		memset(&e, 0, sizeof(e));
		assert_int_equal(config_vm_from_json(j, &vm, &e), -EINVAL);
		got = fmt_err(&e);
		if (strcmp(got, cases[i].want) != 0)
			print_message("# %s\n# got  %s\n# want %s\n", cases[i].json, got, cases[i].want);
		assert_string_equal(got, cases[i].want);
		free(got);
		json_decref(j);
	}
	/* strings with NUL (possible in a json_t built in memory) are refused */
	json_t *j = json_pack("{s:s#,s:s,s:s,s:i}", "name", "v\0w", (size_t)3, "qmp", "/q", "role",
			      "primary", "peer-node", 2);
	struct arb_vm_config vm;
	struct config_error e;
	assert_non_null(j);
	assert_int_equal(config_vm_from_json(j, &vm, &e), -EINVAL);
	assert_string_equal(e.key, "name");
	json_decref(j);
	j = json_pack("{s:s,s:s,s:s,s:i,s:[{s:s,s:{s:s#}}]}", "name", "v", "qmp", "/q", "role",
		      "primary", "peer-node", 2, "post-failover", "execute", "a", "arguments", "x",
		      "a\0b", (size_t)3);
	assert_non_null(j);
	assert_int_equal(config_vm_from_json(j, &vm, &e), -EINVAL);
	assert_string_equal(e.msg, "NUL in a string");
	json_decref(j);
}

/* ----------------------------------------------------- shipped files */

/* Lines "#key = value" uncommented (explanations start with "# "). */
static char *uncomment_keys(const char *text, const char *after)
{
	char *out = strdup(text), *w = out;
	const char *p = text;
	bool active = after == NULL;

	assert_non_null(out);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (after && strncmp(p, after, strlen(after)) == 0)
			active = true;
		if (active && p[0] == '#' && ((p[1] >= 'a' && p[1] <= 'z') || p[1] == '_')) {
			memcpy(w, p + 1, n - 1);
			w += n - 1;
		} else if (!after || active) {
			memcpy(w, p, n);
			w += n;
		}
		p += n;
	}
	*w = '\0';
	return out;
}

static void test_shipped_conf(void **state)
{
	char path[1024];
	struct arb_config d;
	char *text, *defaults, *p, *un;

	(void)state;
	text = read_all(src_path("conf/colo-arbiter.conf", path, sizeof(path)), NULL);
	assert_non_null(text);
	config_defaults(&d);
	defaults = config_print(&d);
	p = print_of(text);
	assert_string_equal(p, defaults);
	free(p);
	/* uncommented, every shown value is the default ... */
	un = uncomment_keys(text, NULL);
	p = print_of(un);
	assert_string_equal(p, defaults);
	free(p);
	/* ... and every key is shown */
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		char needle[80];

		snprintf(needle, sizeof(needle), "\n#%s = ", config_key_to_str(k));
		if (!strstr(text, needle))
			print_message("# conf/colo-arbiter.conf lacks %s\n", needle + 1);
		assert_non_null(strstr(text, needle));
	}
	free(un);
	free(defaults);
	free(text);
}

static void test_shipped_vm_sample(void **state)
{
	char path[1024];
	struct arb_vm_config vm;
	struct config_error e;
	char *text, *sec, *t;
	size_t len;

	(void)state;
	text = read_all(src_path("conf/vm.d/example.conf.sample", path, sizeof(path)), &len);
	assert_non_null(text);
	assert_int_equal(config_vm_parse(text, len, "example.conf", &vm, &e), 0);
	assert_string_equal(vm.role, "primary");
	/* the clean-up follows x-colo-lost-heartbeat; the yank spares the
	 * monitor and the loopback chardevs */
	assert_int_equal(vm.n_pre, 0);
	assert_true(vm.n_post >= 3);
	t = config_vm_cmd_text(&vm.post[0]);
	assert_non_null(strstr(t, "\"x-blockdev-change\""));
	free(t);
	t = config_vm_cmd_text(&vm.post[1]);
	assert_non_null(strstr(t, "\"blockdev-del\""));
	free(t);
	t = config_vm_cmd_text(&vm.post[2]);
	assert_non_null(strstr(t, "\"object-del\""));
	free(t);
	assert_int_equal(vm.n_yank_exclude, 5);
	assert_string_equal(vm.yank_exclude[0], "arb0");
	assert_string_equal(vm.yank_exclude[4], "compare_out0");
	config_vm_free(&vm);
	/* the secondary's file shown in the comments parses too */
	sec = uncomment_keys(text, "# On node 2");
	assert_int_equal(config_vm_parse(sec, strlen(sec), "example.conf", &vm, &e), 0);
	assert_string_equal(vm.role, "secondary");
	assert_int_equal(vm.peer_node, 1);
	t = config_vm_cmd_text(&vm.pre[0]);
	assert_string_equal(t, "{\"execute\": \"nbd-server-stop\"}");
	free(t);
	assert_true(vm.n_post >= 2);
	config_vm_free(&vm);
	free(sec);
	free(text);
}

/* colo-arbiter.conf(5) lists every key with its default. */
static void test_man_page(void **state)
{
	static const char *const vm_keys[] = {"name", "qmp", "role", "peer-node",
					      "pre-failover", "post-failover", "yank-exclude"};
	char path[1024];
	struct arb_config d;
	char *man, *defaults;

	(void)state;
	man = read_all(src_path("man/colo-arbiter.conf.5", path, sizeof(path)), NULL);
	assert_non_null(man);
	config_defaults(&d);
	char *printed = config_print(&d);
	assert_non_null(printed);
	/* a leading newline so that every key line starts with one */
	assert_true(asprintf(&defaults, "\n%s", printed) > 0);
	free(printed);
	for (int k = 0; k < CONFIG_KEY_COUNT; k++) {
		char needle[80], line[400], value[300];
		const char *item, *next, *def;

		snprintf(needle, sizeof(needle), "\n.It Ic %s", config_key_to_str(k));
		item = strstr(man, needle);
		if (!item)
			print_message("# man page lacks %s\n", needle + 1);
		assert_non_null(item);
		if (!item)
			continue; /* not reached: tells the compiler item is set */
		next = strstr(item + 1, "\n.It ");
		if (!next)
			next = item + strlen(item);
		/* the default as printed, without quotes */
		snprintf(line, sizeof(line), "\n%s = ", config_key_to_str(k));
		def = strstr(defaults, line);
		assert_non_null(def);
		def += strlen(line);
		size_t n = strcspn(def, "\n");
		snprintf(value, sizeof(value), "%.*s", (int)n, def);
		if (value[0] == '"') {
			memmove(value, value + 1, strlen(value));
			value[strlen(value) - 1] = '\0';
		}
		const char *hit = strstr(item, value);
		if (!hit || hit > next)
			print_message("# man page: %s does not show its default %s\n",
				      config_key_to_str(k), value);
		assert_true(hit && hit < next);
	}
	for (size_t i = 0; i < ARRAY_SIZE(vm_keys); i++) {
		char needle[80];

		snprintf(needle, sizeof(needle), "\n.It Ic %s", vm_keys[i]);
		assert_non_null(strstr(man, needle));
	}
	assert_non_null(strstr(man, "\n.Sh FILES"));
	assert_non_null(strstr(man, "\n.Sh EXAMPLES"));
	/* the example files of EXAMPLES parse (VM files and the main file) */
	int examples = 0;
	for (const char *b = strstr(man, "\n.Sh EXAMPLES"); (b = strstr(b, "\n.Bd -literal"));) {
		const char *body = strchr(b + 1, '\n') + 1, *e = strstr(body, "\n.Ed");
		struct config_error err;
		struct arb_config c;
		struct arb_vm_config vm;
		char buf[800];

		assert_non_null(e);
		if (strncmp(body, "name = ", 7) == 0) {
			assert_int_equal(config_vm_parse(body, (size_t)(e - body) + 1, "man", &vm, &err), 0);
			config_vm_free(&vm);
			examples++;
		} else if (strncmp(body, "fence_policy = ", 15) == 0) {
			if (config_parse(body, (size_t)(e - body) + 1, "man", &c, &err) != 0) {
				config_error_format(&err, buf, sizeof(buf));
				fail_msg("%s", buf);
			}
			examples++;
		}
		b = e;
	}
	assert_int_equal(examples, 3);
	free(defaults);
	free(man);
}

/* ------------------------------------------------------------------ */

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_defaults_agree),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_random_spellings),
		cmocka_unit_test(test_to_fsm_mapping),
		cmocka_unit_test(test_cluster_check),
		cmocka_unit_test(test_unsafe_combinations),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_duplicates_and_lines),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_vm_round_trip),
		cmocka_unit_test(test_vm_limits),
		cmocka_unit_test(test_vm_copy_oom),
		cmocka_unit_test(test_vm_errors),
		cmocka_unit_test(test_vm_from_json_errors),
		cmocka_unit_test(test_shipped_conf),
		cmocka_unit_test(test_shipped_vm_sample),
		cmocka_unit_test(test_man_page),
	};
	struct CMUnitTest tests[ARRAY_SIZE(fixed) + 600];
	const char *data = getenv("TEST_DATA");
	size_t k = 0, g;
	int rc;

	if (!data || !getenv("TOP_SRCDIR")) {
		fprintf(stderr, "TEST_DATA and TOP_SRCDIR must be set (make check sets them)\n");
		return 1;
	}
	memcpy(tests, fixed, sizeof(fixed));
	k = ARRAY_SIZE(fixed);
	g = golden_collect(data, "main", G_MAIN, ".conf", tests + k, 200);
	g += golden_collect(data, "vm", G_VM, ".conf", tests + k + g, 200);
	g += golden_collect(data, "vm-json", G_VM_JSON, ".json", tests + k + g, 200);
	/* an empty or missing data folder must not pass silently */
	if (g < 20) {
		fprintf(stderr, "only %zu golden files under %s/config\n", g, data);
		return 1;
	}
	rc = _cmocka_run_group_tests("config", tests, k + g, NULL, NULL);
	for (size_t i = k; i < k + g; i++) {
		free((void *)tests[i].name);
		free(tests[i].initial_state);
	}
	return rc;
}
