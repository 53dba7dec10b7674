/*
 * test_qmp_msg.c: classification, command building and reply readers of
 * qmp_msg, on real lines from the QEMU 7.2/10.0 transcripts in
 * test/data/qemu-colo/ (quoted verbatim below, and swept in full from the
 * files). Pure: no sockets, no clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compiler.h"
#include "qmp_msg.h"

static enum qmp_msg_kind parse_str(const char *s, struct qmp_msg *m)
{
	return qmp_msg_parse(s, strlen(s), m);
}

/* ---------------------------------------------------- classification */

/* Verbatim from d-reconnect-primary.txt. */
static const char greeting_72[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
	"\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}";
/* Verbatim from qemu10/setup-broken-10.0.2/setup-broken.txt. */
static const char greeting_10[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}, "
	"\"package\": \"Debian 1:10.0.2+ds-2+deb13u1~bpo12+1\"}, \"capabilities\": [\"oob\"]}}";

static void test_greeting(void **state)
{
	struct qmp_msg m;

	(void)state;
	assert_int_equal(parse_str(greeting_72, &m), QMP_MSG_GREETING);
	assert_int_equal(m.version.major, 7);
	assert_int_equal(m.version.minor, 2);
	assert_int_equal(m.version.micro, 22);
	assert_string_equal(m.version.package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
	assert_true(m.cap_oob);
	assert_int_equal(json_array_size(m.capabilities), 1);
	qmp_msg_clear(&m);

	assert_int_equal(parse_str(greeting_10, &m), QMP_MSG_GREETING);
	assert_int_equal(m.version.major, 10);
	assert_int_equal(m.version.micro, 2);
	qmp_msg_clear(&m);

	/* A QEMU without oob (or a monitor with it disabled). */
	assert_int_equal(parse_str("{\"QMP\":{\"version\":{\"qemu\":{\"major\":2,"
				   "\"minor\":12,\"micro\":0},\"package\":\"\"},"
				   "\"capabilities\":[]}}", &m),
			 QMP_MSG_GREETING);
	assert_false(m.cap_oob);
	qmp_msg_clear(&m);

	/* A longer package string is cut, never overrun. */
	assert_int_equal(parse_str("{\"QMP\":{\"version\":{\"qemu\":{\"major\":7,"
				   "\"minor\":2,\"micro\":0},\"package\":\"0123456789abcdef"
				   "0123456789abcdef0123456789abcdef0123456789abcdefXYZ\"},"
				   "\"capabilities\":[]}}", &m),
			 QMP_MSG_GREETING);
	assert_int_equal(strlen(m.version.package), sizeof(m.version.package) - 1);
	assert_memory_equal(m.version.package, "0123456789abcdef", 16);
	qmp_msg_clear(&m);
}

static void test_return_and_error(void **state)
{
	struct qmp_msg m;
	uint64_t id = 0;

	(void)state;
	/* d-reconnect-primary.txt: a reply to someone else's id. */
	assert_int_equal(parse_str("{\"return\": {}, \"id\": \"primary-1\"}", &m),
			 QMP_MSG_RETURN);
	assert_true(json_is_object(m.ret));
	assert_string_equal(json_string_value(m.id), "primary-1");
	assert_int_equal(qmp_msg_id_parse(m.id, &id), -EINVAL);
	qmp_msg_clear(&m);

	assert_int_equal(parse_str("{\"return\": [1, 2], \"id\": \"cab-42\"}", &m),
			 QMP_MSG_RETURN);
	assert_int_equal(qmp_msg_id_parse(m.id, &id), 0);
	assert_int_equal(id, 42);
	assert_true(json_is_array(m.ret));
	qmp_msg_clear(&m);

	/* No id: QEMU's answer to a request it could not parse. */
	assert_int_equal(parse_str("{\"error\": {\"class\": \"GenericError\", "
				   "\"desc\": \"JSON parse error, expecting value\"}}",
				   &m),
			 QMP_MSG_ERROR);
	assert_null(m.id);
	qmp_msg_clear(&m);

	/* c1-not-in-colo.txt (7.2) and qemu10/: same class, other text. */
	assert_int_equal(parse_str("{\"id\": \"incoming-waiting-3\", \"error\": "
				   "{\"class\": \"GenericError\", \"desc\": "
				   "\"The feature 'colo' is not enabled\"}}", &m),
			 QMP_MSG_ERROR);
	assert_int_equal(m.err_class, QMP_ERROR_CLASS_GENERIC);
	assert_string_equal(m.err_desc, "The feature 'colo' is not enabled");
	qmp_msg_clear(&m);
	assert_int_equal(parse_str("{\"id\": \"primary-31\", \"error\": {\"class\": "
				   "\"GenericError\", \"desc\": \"VM is not in COLO mode\"}}",
				   &m),
			 QMP_MSG_ERROR);
	assert_int_equal(m.err_class, QMP_ERROR_CLASS_GENERIC);
	qmp_msg_clear(&m);

	assert_int_equal(parse_str("{\"error\": {\"class\": \"CommandNotFound\", "
				   "\"desc\": \"The command x-colo-lost-heartbeat has "
				   "not been found\"}, \"id\": \"cab-1\"}", &m),
			 QMP_MSG_ERROR);
	assert_int_equal(m.err_class, QMP_ERROR_CLASS_COMMAND_NOT_FOUND);
	qmp_msg_clear(&m);
	assert_int_equal(parse_str("{\"error\": {\"class\": \"FutureError\", "
				   "\"desc\": \"x\"}}", &m),
			 QMP_MSG_ERROR);
	assert_int_equal(m.err_class, QMP_ERROR_CLASS_UNKNOWN);
	assert_string_equal(m.err_class_str, "FutureError");
	qmp_msg_clear(&m);
}

static void test_event(void **state)
{
	struct qmp_msg m;
	enum qmp_colo_mode mode;
	enum qmp_colo_reason reason;

	(void)state;
	/* a-primary-dies.txt */
	assert_int_equal(parse_str("{\"timestamp\": {\"seconds\": 1795630691, "
				   "\"microseconds\": 653654}, \"event\": \"COLO_EXIT\", "
				   "\"data\": {\"mode\": \"secondary\", \"reason\": "
				   "\"error\"}}", &m),
			 QMP_MSG_EVENT);
	assert_string_equal(m.event, "COLO_EXIT");
	assert_int_equal(m.ts_sec, 1795630691);
	assert_int_equal(m.ts_usec, 653654);
	assert_int_equal(qmp_colo_exit_parse(m.data, &mode, &reason, NULL), 0);
	assert_int_equal(mode, QMP_COLO_MODE_SECONDARY);
	assert_int_equal(reason, QMP_COLO_REASON_ERROR);
	qmp_msg_clear(&m);

	/* a-primary-dies.txt: RESUME has no data. */
	assert_int_equal(parse_str("{\"timestamp\": {\"seconds\": 1795630691, "
				   "\"microseconds\": 405925}, \"event\": \"RESUME\"}", &m),
			 QMP_MSG_EVENT);
	assert_null(m.data);
	qmp_msg_clear(&m);
}

struct invalid_case {
	const char *name;
	const char *line;
	size_t len;      /* 0: strlen */
	int line_no;     /* expected jansson line, or -1 for shape errors */
	int column;      /* expected column (0: not checked) */
	const char *text;/* substring expected in the error text */
};

static const struct invalid_case invalid_cases[] = {
	{ "garbage", "this is not json", 0, 1, 4, "invalid JSON" },
	{ "truncated", "{\"return\": {}, \"id\": \"cab-1\"", 0, 1, 28, "invalid JSON" },
	{ "trailing-garbage", "{\"return\": {}} x", 0, 1, 16, "invalid JSON" },
	{ "invalid-utf8", "{\"return\": \"\xff\xfe\"}", 0, 1, 12, "decode byte 0xff" },
	{ "overlong-utf8", "{\"return\": \"\xc0\xaf\"}", 0, 1, 12, "decode byte 0xc0" },
	{ "escaped-nul", "{\"return\": \"a\\u0000b\"}", 0, 1, 21, "u0000" },
	{ "duplicate-key", "{\"return\": {}, \"return\": 1}", 0, 1, 23, "duplicate" },
	{ "empty", "", 0, 1, 0, "invalid JSON" },
	{ "array", "[1, 2, 3]", 0, -1, -1, "not a JSON object" },
	{ "number", "42", 0, -1, -1, "not a JSON object" },
	{ "string", "\"QMP\"", 0, -1, -1, "not a JSON object" },
	{ "empty-object", "{}", 0, -1, -1, "unknown shape" },
	{ "command-not-reply", "{\"execute\": \"query-status\", \"id\": \"x\"}", 0, -1, -1,
	  "unknown shape" },
	{ "return-and-error", "{\"return\": {}, \"error\": {\"class\": \"a\", \"desc\": \"b\"}}",
	  0, -1, -1, "ambiguous" },
	{ "greeting-no-version", "{\"QMP\": {\"capabilities\": []}}", 0, -1, -1, "version" },
	{ "greeting-string-major", "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\", "
	  "\"minor\": 2, \"micro\": 0}, \"package\": \"\"}, \"capabilities\": []}}", 0, -1, -1,
	  "major" },
	{ "greeting-no-package", "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, "
	  "\"minor\": 2, \"micro\": 0}}, \"capabilities\": []}}", 0, -1, -1, "package" },
	{ "greeting-bad-caps", "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, "
	  "\"minor\": 2, \"micro\": 0}, \"package\": \"\"}, \"capabilities\": [1]}}", 0, -1, -1,
	  "capabilities" },
	{ "error-not-object", "{\"error\": \"boom\"}", 0, -1, -1, "error" },
	{ "error-no-class", "{\"error\": {\"desc\": \"x\"}}", 0, -1, -1, "class" },
	{ "error-int-desc", "{\"error\": {\"class\": \"GenericError\", \"desc\": 3}}", 0, -1, -1,
	  "desc" },
	{ "event-no-timestamp", "{\"event\": \"STOP\"}", 0, -1, -1, "timestamp" },
	{ "event-float-seconds", "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1.5, "
	  "\"microseconds\": 0}}", 0, -1, -1, "timestamp" },
	{ "event-data-array", "{\"event\": \"STOP\", \"data\": [], \"timestamp\": "
	  "{\"seconds\": 1, \"microseconds\": 0}}", 0, -1, -1, "data" },
	{ "event-name-int", "{\"event\": 5, \"timestamp\": {\"seconds\": 1, "
	  "\"microseconds\": 0}}", 0, -1, -1, "event" },
};

static void test_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		size_t len = c->len ? c->len : strlen(c->line);
		struct qmp_msg m;

		if (qmp_msg_parse(c->line, len, &m) != QMP_MSG_INVALID)
			fail_msg("%s: classified as %s", c->name,
				 qmp_msg_kind_to_str(m.kind));
		assert_null(m.root);
		if (!strstr(m.error.text, c->text))
			fail_msg("%s: error text \"%s\" lacks \"%s\"", c->name,
				 m.error.text, c->text);
		if (m.error.line != c->line_no)
			fail_msg("%s: line %d, want %d (%s)", c->name, m.error.line,
				 c->line_no, m.error.text);
		if (c->column && m.error.column != c->column)
			fail_msg("%s: column %d, want %d (%s)", c->name,
				 m.error.column, c->column, m.error.text);
		if (c->line_no > 0 && m.error.position > len)
			fail_msg("%s: position %zu beyond the line", c->name,
				 m.error.position);
		qmp_msg_clear(&m);
	}
}

/* A NUL inside the buffer (the framer stops those, but the message layer
 * must not read past len or trust a C string either). */
static void test_embedded_nul_and_length(void **state)
{
	static const char line[] = "{\"return\": {}}\0{\"return\": 1}";
	struct qmp_msg m;

	(void)state;
	assert_int_equal(qmp_msg_parse(line, sizeof(line) - 1, &m), QMP_MSG_INVALID);
	qmp_msg_clear(&m);
	/* Only the first 14 bytes: valid. */
	assert_int_equal(qmp_msg_parse(line, 14, &m), QMP_MSG_RETURN);
	qmp_msg_clear(&m);
}

/* Nesting depth is bounded by jansson (2048): no stack exhaustion on a
 * 1 MiB line of brackets inside an object. */
static void test_deep_nesting(void **state)
{
	size_t n = 1024 * 1024;
	char *line = malloc(n);
	struct qmp_msg m;

	(void)state;
	assert_non_null(line);
	memcpy(line, "{\"return\": ", 11);
	memset(line + 11, '[', n - 11);
	assert_int_equal(qmp_msg_parse(line, n, &m), QMP_MSG_INVALID);
	assert_non_null(strstr(m.error.text, "depth"));
	assert_true(m.error.position < 4096);
	qmp_msg_clear(&m);
	free(line);
}

/* ------------------------------------------------- whole transcripts */

struct sweep {
	unsigned replies, events, commands, files;
};

static void sweep_file(const char *path, struct sweep *sw)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;

	assert_non_null(f);
	sw->files++;
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *arrow;
		struct qmp_msg m;
		enum qmp_msg_kind k;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		arrow = strstr(line, "] ");
		if (!arrow)
			continue;
		arrow += 2;
		if (strncmp(arrow, "<- ", 3) && strncmp(arrow, "<~ ", 3) &&
		    strncmp(arrow, "-> ", 3))
			continue;
		k = parse_str(arrow + 3, &m);
		if (arrow[1] == '-' && arrow[0] == '<') {
			/* Every reply QEMU sent is a greeting, return or error;
			 * none carries an id we could mistake for ours. */
			if (k != QMP_MSG_GREETING && k != QMP_MSG_RETURN &&
			    k != QMP_MSG_ERROR)
				fail_msg("%s:%d: reply classified %s (%s)", path,
					 lineno, qmp_msg_kind_to_str(k), m.error.text);
			if (m.id) {
				uint64_t id;

				assert_int_equal(qmp_msg_id_parse(m.id, &id), -EINVAL);
			}
			sw->replies++;
		} else if (arrow[0] == '<') {
			if (k != QMP_MSG_EVENT)
				fail_msg("%s:%d: event classified %s (%s)", path,
					 lineno, qmp_msg_kind_to_str(k), m.error.text);
			assert_true(m.ts_sec > 1700000000);
			assert_true(m.ts_usec >= 0 && m.ts_usec < 1000000);
			sw->events++;
		} else {
			/* A command is not a message QEMU sends; rebuilding it
			 * gives the same execute/arguments. */
			json_t *cmd, *args;
			const char *name;
			bool oob;
			char *out;
			size_t out_len;
			struct qmp_msg back;

			if (k != QMP_MSG_INVALID)
				fail_msg("%s:%d: command classified %s", path, lineno,
					 qmp_msg_kind_to_str(k));
			cmd = json_loads(arrow + 3, 0, NULL);
			assert_non_null(cmd);
			oob = json_object_get(cmd, "exec-oob") != NULL;
			name = json_string_value(json_object_get(cmd, oob ? "exec-oob"
									     : "execute"));
			assert_non_null(name);
			args = json_object_get(cmd, "arguments");
			assert_int_equal(qmp_msg_build_command(name, args, 7, oob, &out,
							       &out_len), 0);
			assert_int_equal(out[out_len - 1], '\n');
			assert_null(memchr(out, '\n', out_len - 1));
			{
				json_t *rebuilt = json_loadb(out, out_len, 0, NULL);

				assert_non_null(rebuilt);
				assert_true(json_equal(json_object_get(rebuilt, "arguments"),
						       args) || (!args &&
						!json_object_get(rebuilt, "arguments")));
				assert_string_equal(json_string_value(json_object_get(
					rebuilt, oob ? "exec-oob" : "execute")), name);
				assert_string_equal(json_string_value(json_object_get(
					rebuilt, "id")), "cab-7");
				json_decref(rebuilt);
			}
			assert_int_equal(qmp_msg_parse(out, out_len - 1, &back),
					 QMP_MSG_INVALID);
			qmp_msg_clear(&back);
			free(out);
			json_decref(cmd);
			sw->commands++;
		}
		qmp_msg_clear(&m);
	}
	free(line);
	fclose(f);
}

static void sweep_dir(const char *dir, struct sweep *sw)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			sweep_dir(path, sw);
		else if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0)
			sweep_file(path, sw);
	}
	closedir(d);
}

static void test_transcripts(void **state)
{
	const char *data = getenv("TEST_DATA");
	char dir[4096];
	struct sweep sw = { 0 };

	(void)state;
	assert_non_null(data);
	snprintf(dir, sizeof(dir), "%s/qemu-colo", data);
	sweep_dir(dir, &sw);
	/* The recorded set has ~25 transcripts with hundreds of each. */
	assert_true(sw.files >= 20);
	assert_true(sw.replies >= 500);
	assert_true(sw.events >= 300);
	assert_true(sw.commands >= 500);
}

/* ----------------------------------------------------------- builders */

static void test_build_command(void **state)
{
	char *out;
	size_t len;
	json_t *args;

	(void)state;
	assert_int_equal(qmp_msg_build_command("query-status", NULL, 1, false, &out,
					       &len), 0);
	assert_string_equal(out, "{\"execute\":\"query-status\",\"id\":\"cab-1\"}\n");
	assert_int_equal(len, strlen(out));
	free(out);

	args = json_pack("{s:[s]}", "enable", "oob");
	assert_int_equal(qmp_msg_build_command("qmp_capabilities", args,
					       18446744073709551615ULL, false,
					       &out, &len), 0);
	assert_string_equal(out, "{\"execute\":\"qmp_capabilities\",\"arguments\":"
			    "{\"enable\":[\"oob\"]},\"id\":\"cab-18446744073709551615\"}\n");
	free(out);
	/* Borrowed, not stolen. */
	assert_int_equal(args->refcount, 1);
	json_decref(args);

	args = json_pack("{s:[]}", "instances");
	assert_int_equal(qmp_msg_build_command("yank", args, 9, true, &out, &len), 0);
	assert_string_equal(out, "{\"exec-oob\":\"yank\",\"arguments\":"
			    "{\"instances\":[]},\"id\":\"cab-9\"}\n");
	free(out);
	json_decref(args);

	/* A name needing escapes stays on one line. */
	assert_int_equal(qmp_msg_build_command("a\nb\"c", NULL, 2, false, &out, &len),
			 0);
	assert_null(memchr(out, '\n', len - 1));
	free(out);

	args = json_array();
	assert_int_equal(qmp_msg_build_command("stop", args, 1, false, &out, &len),
			 -EINVAL);
	assert_null(out);
	json_decref(args);
	assert_int_equal(qmp_msg_build_command("", NULL, 1, false, &out, &len),
			 -EINVAL);
	assert_int_equal(qmp_msg_build_command(NULL, NULL, 1, false, &out, &len),
			 -EINVAL);
}

static void test_ids(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "cab-0", 0, 0 },
		{ "cab-1", 0, 1 },
		{ "cab-18446744073709551615", 0, UINT64_MAX },
		{ "cab-18446744073709551616", -EINVAL, 0 },
		{ "cab-01", -EINVAL, 0 },
		{ "cab-", -EINVAL, 0 },
		{ "cab-1x", -EINVAL, 0 },
		{ "cab--1", -EINVAL, 0 },
		{ "CAB-1", -EINVAL, 0 },
		{ "primary-1", -EINVAL, 0 },
		{ " cab-1", -EINVAL, 0 },
	};
	char buf[QMP_MSG_ID_MAX];
	size_t i;
	uint64_t v;
	json_t *j;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		j = json_string(cases[i].s);
		v = 12345;
		if (qmp_msg_id_parse(j, &v) != cases[i].rc)
			fail_msg("id \"%s\": rc != %d", cases[i].s, cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(v, cases[i].v);
		json_decref(j);
	}
	j = json_integer(1);
	assert_int_equal(qmp_msg_id_parse(j, &v), -EINVAL);
	json_decref(j);
	assert_int_equal(qmp_msg_id_parse(NULL, &v), -EINVAL);
	j = json_stringn("cab-1\0" "2", 7);
	assert_int_equal(qmp_msg_id_parse(j, &v), -EINVAL);
	json_decref(j);
	assert_int_equal(qmp_msg_id_format(buf, sizeof(buf), UINT64_MAX), 24);
	assert_string_equal(buf, "cab-18446744073709551615");
}

/* ------------------------------------------------------ reply readers */

static json_t *ret_of(const char *line, struct qmp_msg *m)
{
	assert_int_equal(parse_str(line, m), QMP_MSG_RETURN);
	return m->ret;
}

static void test_colo_status(void **state)
{
	static const struct {
		const char *line; /* verbatim from the transcripts */
		enum qmp_colo_mode mode, last;
		enum qmp_colo_reason reason;
	} ok[] = {
		{ "{\"return\": {\"last-mode\": \"none\", \"mode\": \"primary\", \"reason\": "
		  "\"none\"}, \"id\": \"primary-9\"}",
		  QMP_COLO_MODE_PRIMARY, QMP_COLO_MODE_NONE, QMP_COLO_REASON_NONE },
		{ "{\"return\": {\"last-mode\": \"none\", \"mode\": \"secondary\", "
		  "\"reason\": \"none\"}, \"id\": \"secondary-6\"}",
		  QMP_COLO_MODE_SECONDARY, QMP_COLO_MODE_NONE, QMP_COLO_REASON_NONE },
		{ "{\"return\": {\"last-mode\": \"secondary\", \"mode\": \"none\", "
		  "\"reason\": \"request\"}, \"id\": \"secondary-12\"}",
		  QMP_COLO_MODE_NONE, QMP_COLO_MODE_SECONDARY, QMP_COLO_REASON_REQUEST },
		{ "{\"return\": {\"last-mode\": \"primary\", \"mode\": \"none\", "
		  "\"reason\": \"processing\"}}",
		  QMP_COLO_MODE_NONE, QMP_COLO_MODE_PRIMARY, QMP_COLO_REASON_PROCESSING },
	};
	static const char *const bad[] = {
		"{\"return\": {\"last-mode\": \"none\", \"mode\": \"tertiary\", \"reason\": \"none\"}}",
		"{\"return\": {\"last-mode\": \"none\", \"mode\": \"primary\"}}",
		"{\"return\": {\"last-mode\": 0, \"mode\": \"primary\", \"reason\": \"none\"}}",
		"{\"return\": {\"last-mode\": \"none\", \"mode\": \"primary\", \"reason\": \"why\"}}",
		"{\"return\": []}",
	};
	struct qmp_colo_status st;
	struct qmp_msg_error err;
	struct qmp_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(qmp_colo_status_parse(ret_of(ok[i].line, &m), &st,
						       &err), 0);
		assert_int_equal(st.mode, ok[i].mode);
		assert_int_equal(st.last_mode, ok[i].last);
		assert_int_equal(st.reason, ok[i].reason);
		qmp_msg_clear(&m);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(qmp_colo_status_parse(ret_of(bad[i], &m), &st, &err),
				 -EINVAL);
		assert_true(strlen(err.text) > 0);
		qmp_msg_clear(&m);
	}
	assert_string_equal(qmp_colo_mode_to_str(QMP_COLO_MODE_SECONDARY), "secondary");
	assert_string_equal(qmp_colo_reason_to_str(QMP_COLO_REASON_PROCESSING),
			    "processing");
}

static void test_vm_and_migrate_status(void **state)
{
	struct qmp_vm_status vs;
	enum qmp_migration_status ms;
	struct qmp_msg m;
	struct qmp_msg_error err;

	(void)state;
	/* a-primary-dies.txt */
	assert_int_equal(qmp_vm_status_parse(ret_of(
		"{\"return\": {\"status\": \"running\", \"singlestep\": false, "
		"\"running\": true}, \"id\": \"secondary-8\"}", &m), &vs, &err), 0);
	assert_int_equal(vs.status, QMP_RUN_STATE_RUNNING);
	assert_true(vs.running);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_vm_status_parse(ret_of(
		"{\"return\": {\"status\": \"paused\", \"singlestep\": false, "
		"\"running\": false}}", &m), &vs, &err), 0);
	assert_int_equal(vs.status, QMP_RUN_STATE_PAUSED);
	assert_false(vs.running);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_vm_status_parse(ret_of(
		"{\"return\": {\"status\": \"brand-new\", \"running\": false}}", &m),
		&vs, &err), 0);
	assert_int_equal(vs.status, QMP_RUN_STATE_UNKNOWN);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_vm_status_parse(ret_of(
		"{\"return\": {\"status\": \"running\", \"running\": 1}}", &m),
		&vs, &err), -EINVAL);
	qmp_msg_clear(&m);
	assert_string_equal(qmp_run_state_to_str(QMP_RUN_STATE_INMIGRATE), "inmigrate");

	assert_int_equal(qmp_migrate_status_parse(ret_of(
		"{\"return\": {\"status\": \"colo\", \"socket-address\": [{\"port\": "
		"\"36891\", \"ipv4\": true, \"host\": \"127.0.0.1\", \"type\": "
		"\"inet\"}]}, \"id\": \"secondary-11\"}", &m), &ms, &err), 0);
	assert_int_equal(ms, QMP_MIGRATION_STATUS_COLO);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_migrate_status_parse(ret_of("{\"return\": {}}", &m),
						  &ms, &err), 0);
	assert_int_equal(ms, QMP_MIGRATION_STATUS_NONE);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_migrate_status_parse(ret_of(
		"{\"return\": {\"status\": \"completed\"}}", &m), &ms, &err), 0);
	assert_int_equal(ms, QMP_MIGRATION_STATUS_COMPLETED);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_migrate_status_parse(ret_of(
		"{\"return\": {\"status\": 3}}", &m), &ms, &err), -EINVAL);
	qmp_msg_clear(&m);
	assert_string_equal(qmp_migration_status_to_str(QMP_MIGRATION_STATUS_COLO),
			    "colo");
}

static void test_cmdset(void **state)
{
	const char *data = getenv("TEST_DATA");
	char path[4096];
	json_t *check, *cmds, *v, *ret;
	const char *name;
	struct qmp_cmdset s;
	struct qmp_msg_error err;
	size_t present = 0;

	(void)state;
	/* check.json lists which COLO commands QEMU 7.2 had. */
	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/qemu-colo/check.json", data);
	check = json_load_file(path, 0, NULL);
	assert_non_null(check);
	cmds = json_object_get(check, "commands");
	assert_true(json_is_object(cmds));
	ret = json_array();
	json_object_foreach(cmds, name, v) {
		if (json_is_true(v)) {
			json_array_append_new(ret, json_pack("{s:s}", "name", name));
			present++;
		}
	}
	json_array_append_new(ret, json_pack("{s:s}", "name", "query-status"));
	json_array_append_new(ret, json_pack("{s:s}", "name", "query-status"));
	assert_int_equal(qmp_cmdset_parse(ret, &s, &err), 0);
	assert_int_equal(s.n, present + 1);
	assert_true(qmp_cmdset_has(&s, "x-colo-lost-heartbeat"));
	assert_true(qmp_cmdset_has(&s, "query-colo-status"));
	assert_true(qmp_cmdset_has(&s, "query-status"));
	assert_false(qmp_cmdset_has(&s, "x-colo-lost-heartbeaT"));
	assert_false(qmp_cmdset_has(&s, ""));
	qmp_cmdset_free(&s);
	assert_false(qmp_cmdset_has(&s, "query-status"));
	json_array_append_new(ret, json_pack("{s:i}", "name", 3));
	assert_int_equal(qmp_cmdset_parse(ret, &s, &err), -EINVAL);
	assert_non_null(strstr(err.text, "element"));
	assert_int_equal(s.n, 0);
	json_decref(ret);
	json_decref(check);

	ret = json_object();
	assert_int_equal(qmp_cmdset_parse(ret, &s, &err), -EINVAL);
	json_decref(ret);
}

/* silent-loss/p-loss-yank-run1.txt, primary and secondary (qmp3). */
static const char yank_primary[] =
	"{\"return\": [{\"type\": \"chardev\", \"id\": \"compat_monitor0\"}, {\"type\": "
	"\"chardev\", \"id\": \"compat_monitor1\"}, {\"type\": \"chardev\", \"id\": "
	"\"compat_monitor2\"}, {\"type\": \"chardev\", \"id\": \"mirror0\"}, {\"type\": "
	"\"chardev\", \"id\": \"compare1\"}, {\"type\": \"chardev\", \"id\": \"compare0\"}, "
	"{\"type\": \"chardev\", \"id\": \"compare0-0\"}, {\"type\": \"chardev\", \"id\": "
	"\"compare_out\"}, {\"type\": \"chardev\", \"id\": \"compare_out0\"}, "
	"{\"node-name\": \"#block310\", \"type\": \"block-node\"}, {\"type\": "
	"\"migration\"}], \"id\": \"primary/qmp3-2\"}";
static const char yank_secondary[] =
	"{\"return\": [{\"type\": \"chardev\", \"id\": \"compat_monitor0\"}, {\"type\": "
	"\"chardev\", \"id\": \"compat_monitor1\"}, {\"type\": \"chardev\", \"id\": "
	"\"compat_monitor2\"}, {\"type\": \"chardev\", \"id\": \"red0\"}, {\"type\": "
	"\"chardev\", \"id\": \"red1\"}, {\"type\": \"migration\"}], \"id\": "
	"\"secondary/qmp3-2\"}";

static char *yank_args_str(const struct qmp_yank_list *l)
{
	json_t *args = qmp_yank_list_to_args(l);
	char *s;

	assert_non_null(args);
	s = json_dumps(args, JSON_COMPACT);
	json_decref(args);
	return s;
}

static void test_yank(void **state)
{
	struct qmp_yank_list all, sel, copy;
	struct qmp_msg_error err;
	struct qmp_msg m;
	char *s;
	static const char *const mon[] = { "mon-arbiter" };

	(void)state;
	assert_int_equal(qmp_yank_list_parse(ret_of(yank_primary, &m), &all, &err), 0);
	qmp_msg_clear(&m);
	assert_int_equal(all.n, 11);
	assert_int_equal(all.v[9].type, QMP_YANK_BLOCK_NODE);
	assert_string_equal(all.v[9].name, "#block310");
	assert_int_equal(qmp_yank_select_peer(&all, NULL, 0, &sel), 0);
	s = yank_args_str(&sel);
	/* Every peer-facing instance; no monitor chardev. */
	assert_string_equal(s, "{\"instances\":["
		"{\"type\":\"chardev\",\"id\":\"mirror0\"},"
		"{\"type\":\"chardev\",\"id\":\"compare1\"},"
		"{\"type\":\"chardev\",\"id\":\"compare0\"},"
		"{\"type\":\"chardev\",\"id\":\"compare0-0\"},"
		"{\"type\":\"chardev\",\"id\":\"compare_out\"},"
		"{\"type\":\"chardev\",\"id\":\"compare_out0\"},"
		"{\"type\":\"block-node\",\"node-name\":\"#block310\"},"
		"{\"type\":\"migration\"}]}");
	free(s);
	qmp_yank_list_free(&sel);
	assert_int_equal(qmp_yank_list_copy(&all, &copy), 0);
	assert_int_equal(copy.n, all.n);
	assert_string_equal(copy.v[3].name, "mirror0");
	qmp_yank_list_free(&copy);
	qmp_yank_list_free(&all);

	assert_int_equal(qmp_yank_list_parse(ret_of(yank_secondary, &m), &all, &err),
			 0);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_yank_select_peer(&all, NULL, 0, &sel), 0);
	s = yank_args_str(&sel);
	assert_string_equal(s, "{\"instances\":[{\"type\":\"chardev\",\"id\":\"red0\"},"
			    "{\"type\":\"chardev\",\"id\":\"red1\"},"
			    "{\"type\":\"migration\"}]}");
	free(s);
	qmp_yank_list_free(&sel);
	qmp_yank_list_free(&all);

	/* A monitor declared with -chardev id=mon-arbiter -mon ...: only the
	 * deployment can name it; unknown types are never selected. */
	assert_int_equal(qmp_yank_list_parse(ret_of(
		"{\"return\": [{\"type\": \"chardev\", \"id\": \"mon-arbiter\"}, "
		"{\"type\": \"chardev\", \"id\": \"red0\"}, {\"type\": \"vfio\", "
		"\"id\": \"x\"}]}", &m), &all, &err), 0);
	qmp_msg_clear(&m);
	assert_int_equal(all.v[2].type, QMP_YANK_UNKNOWN);
	assert_int_equal(qmp_yank_select_peer(&all, mon, 1, &sel), 0);
	assert_int_equal(sel.n, 1);
	assert_string_equal(sel.v[0].name, "red0");
	qmp_yank_list_free(&sel);
	qmp_yank_list_free(&all);

	/* Empty list: the OOB liveness ping's arguments. */
	memset(&all, 0, sizeof(all));
	s = yank_args_str(&all);
	assert_string_equal(s, "{\"instances\":[]}");
	free(s);

	assert_true(qmp_yank_is_monitor_chardev("compat_monitor12"));
	assert_false(qmp_yank_is_monitor_chardev("mirror0"));
	assert_false(qmp_yank_is_monitor_chardev(NULL));

	/* Ill-typed elements are rejected with their index. */
	assert_int_equal(qmp_yank_list_parse(ret_of(
		"{\"return\": [{\"type\": \"migration\"}, {\"type\": \"block-node\"}]}",
		&m), &all, &err), -EINVAL);
	assert_non_null(strstr(err.text, "element 1"));
	assert_int_equal(all.n, 0);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_yank_list_parse(ret_of("{\"return\": [3]}", &m), &all,
					     &err), -EINVAL);
	qmp_msg_clear(&m);
	assert_int_equal(qmp_yank_list_parse(ret_of("{\"return\": {}}", &m), &all,
					     &err), -EINVAL);
	qmp_msg_clear(&m);
}

static void test_to_str(void **state)
{
	(void)state;
	assert_string_equal(qmp_msg_kind_to_str(QMP_MSG_EVENT), "event");
	assert_string_equal(qmp_msg_kind_to_str((enum qmp_msg_kind)99), "?");
	assert_string_equal(qmp_error_class_to_str(QMP_ERROR_CLASS_GENERIC),
			    "GenericError");
	assert_int_equal(qmp_error_class_from_str("unknown"), QMP_ERROR_CLASS_UNKNOWN);
	assert_int_equal(qmp_error_class_from_str(NULL), QMP_ERROR_CLASS_UNKNOWN);
	assert_string_equal(qmp_yank_type_to_str(QMP_YANK_BLOCK_NODE), "block-node");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_return_and_error),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_embedded_nul_and_length),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_build_command),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_colo_status),
		cmocka_unit_test(test_vm_and_migrate_status),
		cmocka_unit_test(test_cmdset),
		cmocka_unit_test(test_yank),
		cmocka_unit_test(test_to_str),
	};

	return cmocka_run_group_tests_name("qmp_msg", tests, NULL, NULL);
}
