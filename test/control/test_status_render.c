/*
 * test_status_render.c: the human text of colo-arbiterctl against golden
 * files in test/data/status/ (NAME.json -> NAME.txt, events.jsonl ->
 * events.txt), plus the corner cases a golden file would hide: dates,
 * ages, escaping, refusal of non-objects.
 *
 * To regenerate the golden files after an intended change, run with
 * STATUS_RENDER_UPDATE=1 and review the diff before committing.
 */
#include "status_render.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The "now" of every golden rendering: 12 s after protected.json's
 * last decision. */
#define NOW_MS INT64_C(1764102674123)

static const char *const status_cases[] = {
	"protected", "mixed", "gate-closed", "empty", "garbage", "refused",
};

static char *data_path(const char *name, const char *ext)
{
	const char *dir = getenv("TEST_DATA");
	char *p = NULL;

	assert_non_null(dir);
	assert_true(asprintf(&p, "%s/status/%s%s", dir, name, ext) > 0);
	return p;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Compares with the golden file, or writes it in update mode. */
static void check_golden(const char *name, const char *got)
{
	char *path = data_path(name, ".txt");
	char *want;

	if (getenv("STATUS_RENDER_UPDATE")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	want = read_file(path);
	if (strcmp(want, got)) {
		fprintf(stderr, "# %s differs from the rendering:\n%s", path, got);
		fail_msg("%s: rendering differs from the golden file", name);
	}
	free(want);
	free(path);
}

static void test_golden_status(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		char *path = data_path(status_cases[i], ".json");
		json_error_t jerr;
		json_t *st = json_load_file(path, 0, &jerr);
		char *out = NULL;

		if (!st)
			fail_msg("%s: %s", path, jerr.text);
		assert_int_equal(status_render(st, NOW_MS, &out), 0);
		check_golden(status_cases[i], out);
		free(out);
		json_decref(st);
		free(path);
	}
}

static void test_golden_events(void **state)
{
	char *path = data_path("events", ".jsonl");
	char *text = read_file(path);
	char *all = NULL;
	size_t all_len = 0;
	FILE *mem = open_memstream(&all, &all_len);
	unsigned n = 0;

	(void)state;
	assert_non_null(mem);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *m = json_loads(line, 0, NULL);
		char *out = NULL;

		assert_non_null(m);
		assert_int_equal(status_render_event(m, &out), 0);
		/* one line per event, always */
		assert_non_null(strchr(out, '\n'));
		assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
		fputs(out, mem);
		free(out);
		json_decref(m);
		n++;
	}
	fclose(mem);
	assert_true(n >= 5);
	check_golden("events", all);
	free(all);
	free(text);
	free(path);
}

static void test_refuses_non_objects(void **state)
{
	json_t *arr = json_array();
	json_t *noev = json_pack("{s:{}}", "data");
	json_t *badev = json_pack("{s:i}", "event", 3);
	char *out = NULL;

	(void)state;
	assert_int_equal(status_render(NULL, NOW_MS, &out), -EINVAL);
	assert_int_equal(status_render(arr, NOW_MS, &out), -EINVAL);
	assert_int_equal(status_render_event(arr, &out), -EINVAL);
	assert_int_equal(status_render_event(noev, &out), -EINVAL);
	assert_int_equal(status_render_event(badev, &out), -EINVAL);
	assert_null(out);
	json_decref(arr);
	json_decref(noev);
	json_decref(badev);
}

/* Renders one VM whose last decision was at wall_ms; returns the text. */
static char *render_decision_at(int64_t wall_ms, int64_t now_ms)
{
	json_t *st = json_pack("{s:{},s:[{s:s,s:{s:s,s:I}}]}", "cluster", "vms",
			       "name", "v", "last_decision", "rule", "r",
			       "wall_ms", (json_int_t)wall_ms);
	char *out = NULL;

	assert_non_null(st);
	assert_int_equal(status_render(st, now_ms, &out), 0);
	json_decref(st);
	return out;
}

static void expect_in(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("expected '%s' in:\n%s", want, text);
}

static void test_dates_and_ages(void **state)
{
	static const struct {
		int64_t wall, now;
		const char *want;
	} cases[] = {
		{ 0, 0, "at 1970-01-01 00:00:00.000 UTC\n" },
		{ INT64_C(951782400000), 0, "2000-02-29 00:00:00.000 UTC\n" },
		{ INT64_C(4107542399999), 0, "2100-02-28 23:59:59.999 UTC\n" },
		{ INT64_C(4107542400000), 0, "2100-03-01 00:00:00.000 UTC\n" },
		{ INT64_C(1764102662123), INT64_C(1764102662123), "UTC, 0s ago" },
		{ 1000, 60999, "59s ago" },
		{ 1000, 1000 + 185000, "3m05s ago" },
		{ 1000, 1000 + 7200000 + 59000, "2h00m ago" },
		{ 1000, 1000 + 90000000, "1d01h ago" },
		{ 5000, 1000, "in the future" },
		{ INT64_C(-1), 0, "at ?\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = render_decision_at(cases[i].wall, cases[i].now);

		expect_in(out, cases[i].want);
		if (!cases[i].now)
			assert_null(strstr(out, "ago"));
		free(out);
	}
}

static void test_escapes_control_bytes(void **state)
{
	json_t *st = json_pack("{s:[{s:s,s:s}]}", "vms", "name", "a\033]0;x\007b",
			       "why", "tab\there");
	char *out = NULL;

	(void)state;
	assert_int_equal(status_render(st, 0, &out), 0);
	expect_in(out, "VM a\\x1b]0;x\\x07b:");
	expect_in(out, "tab\\x09here");
	assert_null(strchr(out, '\033'));
	free(out);
	json_decref(st);
}

static void test_protected_says_why_not(void **state)
{
	json_t *st = json_pack("{s:[{s:s,s:s,s:s,s:b}]}", "vms", "name", "v",
			       "status", "degraded", "why", "peer not in COLO",
			       "protected", 0);
	char *out = NULL;

	(void)state;
	assert_int_equal(status_render(st, 0, &out), 0);
	expect_in(out, "VM v: DEGRADED\n");
	expect_in(out, "protected: NO: degraded, peer not in COLO\n");
	free(out);
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_status),
		cmocka_unit_test(test_golden_events),
		cmocka_unit_test(test_refuses_non_objects),
		cmocka_unit_test(test_dates_and_ages),
		cmocka_unit_test(test_escapes_control_bytes),
		cmocka_unit_test(test_protected_says_why_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
