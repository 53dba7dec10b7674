/*
 * test_epoch_log_file.c: the epoch log on a real filesystem
 * (epoch_log_file.c), in a temp directory of its own.
 *
 * Appends read back after a reopen; an unfinished batch (a crash mid
 * write) is dropped, saved to epochs.log.tail and cut off, and later
 * appends follow the last whole batch; a corrupt log refuses to open;
 * compaction keeps each VM's last record, continues the batch numbers and
 * later appends go to the new file; bad records and a broken log are
 * refused.  Must not: leave files behind, depend on the cwd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "epoch_log_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX - 64];

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/colo-elog.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/state/%s", dir, name);
}

static void state_dir(char *out, size_t cap)
{
	snprintf(out, cap, "%s/state", dir);
}

/* appends one batch of records "VM=VALUE" */
static int append(struct epoch_log_file *lf, const char *const *kv, unsigned n)
{
	char lines[16][128];
	const char *recs[16];
	size_t lens[16];

	assert_true(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		const char *eq = strchr(kv[i], '=');

		lens[i] = (size_t)snprintf(lines[i], sizeof(lines[i]), "{\"vm\":\"%.*s\",\"v\":\"%s\"}",
					   (int)(eq - kv[i]), kv[i], eq + 1);
		recs[i] = lines[i];
	}
	return epoch_log_append(lf, recs, lens, n);
}

/* "VM=VALUE,..." of a reopened log */
static int reopen_latest(struct epoch_log_file *lf, char *out, size_t cap)
{
	struct epoch_log_scan s;
	char sd[PATH_MAX], *buf;
	size_t o = 0;
	int rc;

	state_dir(sd, sizeof(sd));
	rc = epoch_log_open(lf, sd, 100, &buf, &s, NULL, 0);
	if (rc)
		return rc;
	out[0] = '\0';
	for (unsigned i = 0; i < s.n_latest; i++) {
		const char *line = buf + s.latest[i].off, *v = strstr(line, "\"v\":\"") + 5;
		char vm[EPOCH_LOG_NAME_MAX];

		assert_true(epoch_log_line_vm(line, s.latest[i].len, vm));
		o += (size_t)snprintf(out + o, cap - o, "%s%s=%.*s", i ? "," : "", vm,
				      (int)strcspn(v, "\""), v);
	}
	epoch_log_scan_free(&s);
	free(buf);
	return 0;
}

static off_t file_size(const char *name)
{
	char p[PATH_MAX + 32];
	struct stat st;

	path_of(name, p, sizeof(p));
	return stat(p, &st) ? -1 : st.st_size;
}

static void test_append_reopen(void **state)
{
	static const char *b1[] = { "a=1", "b=1" }, *b2[] = { "a=2" };
	struct epoch_log_file lf;
	char got[256];

	(void)state;
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_true(lf.created);
	assert_string_equal(got, "");
	assert_int_equal(append(&lf, b1, 2), 0);
	assert_int_equal(append(&lf, b2, 1), 0);
	assert_int_equal(lf.batch, 2);
	assert_int_equal((off_t)lf.size, file_size(EPOCH_LOG_NAME));
	epoch_log_close(&lf);

	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_false(lf.created);
	assert_int_equal(lf.torn_bytes, 0);
	assert_int_equal(lf.batch, 2);
	assert_string_equal(got, "a=2,b=1");
	epoch_log_close(&lf);
}

static void test_torn_tail(void **state)
{
	static const char *b1[] = { "c=1" }, *b2[] = { "c=3" };
	const char *half = "{\"vm\":\"c\",\"v\":\"2\"}\n{\"commit\":9";
	struct epoch_log_file lf;
	char got[256], p[PATH_MAX + 32], tail[128];
	off_t good;
	int fd;

	(void)state;
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_int_equal(append(&lf, b1, 1), 0);
	good = (off_t)lf.size;
	epoch_log_close(&lf);
	/* a crash in the middle of the next batch's write */
	path_of(EPOCH_LOG_NAME, p, sizeof(p));
	fd = open(p, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, half, strlen(half)), (ssize_t)strlen(half));
	close(fd);

	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_int_equal(lf.torn_bytes, strlen(half));
	assert_string_equal(got, "a=2,b=1,c=1");
	assert_int_equal(file_size(EPOCH_LOG_NAME), good);
	path_of(EPOCH_LOG_NAME ".tail", p, sizeof(p));
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, tail, sizeof(tail)), (ssize_t)strlen(half));
	close(fd);
	assert_memory_equal(tail, half, strlen(half));
	/* the next batch follows the last whole one */
	assert_int_equal(append(&lf, b2, 1), 0);
	epoch_log_close(&lf);
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_int_equal(lf.torn_bytes, 0);
	assert_string_equal(got, "a=2,b=1,c=3");
	epoch_log_close(&lf);
}

static void test_corrupt_refused(void **state)
{
	struct epoch_log_file lf;
	struct epoch_log_scan s;
	char p[PATH_MAX + 32], sd[PATH_MAX], *buf, err[200] = "", c;
	int fd;

	(void)state;
	/* one byte of the first batch changed: the later batches verify */
	path_of(EPOCH_LOG_NAME, p, sizeof(p));
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 8), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, 8), 1);
	state_dir(sd, sizeof(sd));
	assert_int_equal(epoch_log_open(&lf, sd, 100, &buf, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));
	assert_null(buf);
	assert_int_equal(lf.fd, -1);
	/* the file is left as it was, for the operator */
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, 8), 1);
	close(fd);
	assert_int_equal(epoch_log_open(&lf, sd, 100, &buf, &s, err, sizeof(err)), 0);
	epoch_log_scan_free(&s);
	free(buf);
	epoch_log_close(&lf);
}

static void test_compaction(void **state)
{
	static const char *x[] = { "d=0" };
	struct epoch_log_file lf;
	char got[256], v[16];
	uint64_t batch;
	off_t before;

	(void)state;
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	lf.compact_min = 2048;
	assert_int_equal(epoch_log_compact(&lf, false), 0); /* not due yet */
	for (int i = 1; i <= 60; i++) {
		const char *kv[] = { v };

		snprintf(v, sizeof(v), "d=%d", i);
		assert_int_equal(append(&lf, kv, 1), 0);
	}
	before = file_size(EPOCH_LOG_NAME);
	batch = lf.batch;
	assert_int_equal(epoch_log_compact(&lf, false), 1);
	assert_true(file_size(EPOCH_LOG_NAME) < before / 4);
	assert_int_equal(lf.batch, batch + 1);
	assert_int_equal((off_t)lf.size, file_size(EPOCH_LOG_NAME));
	assert_int_equal(epoch_log_compact(&lf, false), 0); /* 4x since: not due */
	/* appends go to the new file */
	assert_int_equal(append(&lf, x, 1), 0);
	epoch_log_close(&lf);
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_string_equal(got, "a=2,b=1,c=3,d=0");
	assert_int_equal(lf.batch, batch + 2);
	assert_int_equal(epoch_log_compact(&lf, true), 1);
	epoch_log_close(&lf);
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	assert_string_equal(got, "a=2,b=1,c=3,d=0");
	epoch_log_close(&lf);
}

static void test_refusals(void **state)
{
	static const char *ok[] = { "e=1" };
	const char *bad[] = { "{\"v\":1}", "{\"vm\":\"e\"}\n{\"vm\":\"f\"}" };
	struct epoch_log_file lf;
	char got[256];
	off_t size;

	(void)state;
	assert_int_equal(reopen_latest(&lf, got, sizeof(got)), 0);
	size = file_size(EPOCH_LOG_NAME);
	for (int i = 0; i < 2; i++) {
		size_t len = strlen(bad[i]);

		assert_int_equal(epoch_log_append(&lf, &bad[i], &len, 1), -EINVAL);
	}
	assert_int_equal(file_size(EPOCH_LOG_NAME), size);
	lf.broken = true;
	assert_int_equal(append(&lf, ok, 1), -EIO);
	assert_int_equal(epoch_log_compact(&lf, true), -EIO);
	assert_int_equal(file_size(EPOCH_LOG_NAME), size);
	epoch_log_close(&lf);
}

int main(void)
{
	/* in order: each test starts from the log the one before left */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_reopen),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_corrupt_refused),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
