/*
 * test_epoch_log.c: the epoch log's format (epoch_log.c).
 *
 * Batches built as the daemon builds them scan back whole, each VM's last
 * record wins; the log cut at every byte of its last batch (a crash mid
 * write) keeps exactly the batches before it; every byte of an earlier
 * batch corrupted, with a good batch after it, is refused as corruption;
 * a batch out of order, a record without a VM name, too many VMs and
 * hand-made commit lines are refused; a seeded mutation loop never crashes
 * and never reports more than it was given.  Must not depend on the cwd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "epoch_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct log {
	char buf[65536];
	size_t len;
	uint64_t batch;
};

/* One batch of the records "VM:VALUE" given, as daemon_persist.c writes it. */
static void add_batch(struct log *l, const char *const *recs, unsigned n)
{
	size_t start = l->len;

	for (unsigned i = 0; i < n; i++) {
		char vm[64];
		const char *colon = strchr(recs[i], ':');

		assert_non_null(colon);
		snprintf(vm, sizeof(vm), "%.*s", (int)(colon - recs[i]), recs[i]);
		l->len += (size_t)snprintf(l->buf + l->len, sizeof(l->buf) - l->len,
					   "{\"vm\":\"%s\",\"v\":\"%s\"}\n", vm, colon + 1);
	}
	l->len += epoch_log_commit_line(++l->batch, n, l->buf + start, l->len - start,
					 l->buf + l->len, sizeof(l->buf) - l->len);
	assert_true(l->len < sizeof(l->buf));
}

/* "VM=VALUE,..." of the latest records, in the scan's order */
static void latest_str(const char *buf, const struct epoch_log_scan *s, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < s->n_latest; i++) {
		const char *line = buf + s->latest[i].off;
		char vm[EPOCH_LOG_NAME_MAX];
		const char *v;

		assert_true(epoch_log_line_vm(line, s->latest[i].len, vm));
		v = strstr(line, "\"v\":\"");
		assert_non_null(v);
		v += 5;
		o += (size_t)snprintf(out + o, cap - o, "%s%s=%.*s", i ? "," : "", vm,
				      (int)strcspn(v, "\""), v);
	}
}

static void test_empty(void **state)
{
	struct epoch_log_scan s;

	(void)state;
	assert_int_equal(epoch_log_scan("", 0, 10, &s, NULL, 0), 0);
	assert_int_equal(s.batches, 0);
	assert_int_equal(s.good_len, 0);
	assert_false(s.torn);
	assert_int_equal(s.n_latest, 0);
	epoch_log_scan_free(&s);
}

static void test_round_trip(void **state)
{
	static struct log l;
	static const char *b1[] = { "vm1:a", "vm2:a", "vm1:b" };
	static const char *b2[] = { "vm3:a", "vm2:c" };
	static const char *b3[] = { "vm1:d" };
	struct epoch_log_scan s;
	char got[256];

	(void)state;
	memset(&l, 0, sizeof(l));
	add_batch(&l, b1, 3);
	add_batch(&l, b2, 2);
	add_batch(&l, b3, 1);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, NULL, 0), 0);
	assert_int_equal(s.batches, 3);
	assert_int_equal(s.records, 6);
	assert_int_equal(s.last_batch, 3);
	assert_int_equal(s.good_len, l.len);
	assert_false(s.torn);
	latest_str(l.buf, &s, got, sizeof(got));
	assert_string_equal(got, "vm1=d,vm2=c,vm3=a");
	epoch_log_scan_free(&s);
}

/* A crash during the last batch's write: any prefix of it, even one
 * ending inside the commit line, is dropped and nothing before it. */
static void test_torn_every_byte(void **state)
{
	static struct log l;
	static const char *b1[] = { "vm1:a", "vm2:a" };
	static const char *b2[] = { "vm1:b", "vm3:b" };
	struct epoch_log_scan s;
	size_t end1;
	char got[256];

	(void)state;
	memset(&l, 0, sizeof(l));
	add_batch(&l, b1, 2);
	end1 = l.len;
	add_batch(&l, b2, 2);
	for (size_t cut = end1; cut < l.len; cut++) {
		assert_int_equal(epoch_log_scan(l.buf, cut, 10, &s, NULL, 0), 0);
		assert_int_equal(s.batches, 1);
		assert_int_equal(s.good_len, end1);
		assert_int_equal(s.torn, cut > end1);
		latest_str(l.buf, &s, got, sizeof(got));
		assert_string_equal(got, "vm1=a,vm2=a");
		epoch_log_scan_free(&s);
	}
	/* and a torn batch that got garbage (zeros) instead of its bytes */
	memset(l.buf + end1 + 3, 0, 20);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, NULL, 0), 0);
	assert_int_equal(s.good_len, end1);
	assert_true(s.torn);
	epoch_log_scan_free(&s);
}

/* A byte of an older batch changed while a later batch verifies: not a
 * crash (only the last batch can be unfinished), so the scan refuses. */
static void test_corrupt_every_byte(void **state)
{
	static struct log l, bad;
	static const char *b1[] = { "vm1:a", "vm2:a" };
	static const char *b2[] = { "vm1:b" };
	static const char *b3[] = { "vm2:c" };
	struct epoch_log_scan s;
	size_t end2;
	char err[200];

	(void)state;
	memset(&l, 0, sizeof(l));
	add_batch(&l, b1, 2);
	add_batch(&l, b2, 1);
	end2 = l.len;
	add_batch(&l, b3, 1);
	for (size_t at = 0; at < end2; at++) {
		bad = l;
		bad.buf[at] ^= 0x20;
		err[0] = '\0';
		assert_int_equal(epoch_log_scan(bad.buf, bad.len, 10, &s, err, sizeof(err)),
				 -EBADMSG);
		assert_non_null(strstr(err, "corrupt"));
		assert_null(s.latest);
	}
}

static void test_refusals(void **state)
{
	static struct log l;
	static const char *b1[] = { "vm1:a" };
	static const char *many[] = { "a:1", "b:1", "c:1" };
	struct epoch_log_scan s;
	char err[200], line[EPOCH_LOG_COMMIT_MAX];
	size_t start;

	(void)state;
	/* a verified batch whose record has no VM name */
	memset(&l, 0, sizeof(l));
	l.len = (size_t)sprintf(l.buf, "{\"v\":1}\n");
	l.len += epoch_log_commit_line(1, 1, l.buf, l.len, l.buf + l.len, sizeof(l.buf) - l.len);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no VM name"));

	/* batch numbers must grow: a whole batch 1 again is no crash's tail */
	memset(&l, 0, sizeof(l));
	add_batch(&l, b1, 1);
	start = l.len;
	l.batch = 0;
	add_batch(&l, b1, 1);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));
	assert_int_equal(epoch_log_scan(l.buf, start, 10, &s, NULL, 0), 0);
	assert_int_equal(s.batches, 1);
	epoch_log_scan_free(&s);

	/* more VMs than allowed */
	memset(&l, 0, sizeof(l));
	add_batch(&l, many, 3);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 2, &s, err, sizeof(err)), -E2BIG);
	assert_int_equal(epoch_log_scan(l.buf, l.len, 3, &s, NULL, 0), 0);
	epoch_log_scan_free(&s);

	/* a commit line with a sign, a space, upper-case hex or a trailing
	 * field is not ours */
	static const char *forged[] = {
		"{\"commit\":+1,\"records\":0,\"bytes\":0,\"fnv1a\":\"cbf29ce484222325\"}",
		"{\"commit\": 1,\"records\":0,\"bytes\":0,\"fnv1a\":\"cbf29ce484222325\"}",
		"{\"commit\":1,\"records\":0,\"bytes\":0,\"fnv1a\":\"CBF29CE484222325\"}",
		"{\"commit\":1,\"records\":0,\"bytes\":0,\"fnv1a\":\"cbf29ce484222325\",\"x\":1}",
		"{\"commit\":1,\"records\":0,\"bytes\":0,\"fnv1a\":\"cbf29ce484222325\"} ",
	};
	assert_int_equal(epoch_log_commit_line(1, 0, "", 0, line, sizeof(line)),
			 strlen(forged[0]) - 1 /* the + */ + 1 /* the newline */);
	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		l.len = (size_t)sprintf(l.buf, "%s\n", forged[i]);
		assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, NULL, 0), 0);
		assert_int_equal(s.batches, 0);
		assert_true(s.torn);
		epoch_log_scan_free(&s);
	}
	/* the canonical empty batch is one */
	l.len = epoch_log_commit_line(1, 0, "", 0, l.buf, sizeof(l.buf));
	assert_int_equal(epoch_log_scan(l.buf, l.len, 10, &s, NULL, 0), 0);
	assert_int_equal(s.batches, 1);
	epoch_log_scan_free(&s);
}

static void test_vm_names(void **state)
{
	char n[EPOCH_LOG_NAME_MAX];
	char long_name[100];

	(void)state;
	assert_true(epoch_log_line_vm("{\"vm\":\"a-b_c.9\",", 16, n));
	assert_string_equal(n, "a-b_c.9");
	assert_false(epoch_log_line_vm("{\"vm\":\".x\",", 11, n));
	assert_false(epoch_log_line_vm("{\"vm\":\"\",", 9, n));
	assert_false(epoch_log_line_vm("{\"vm\":\"a/b\",", 12, n));
	assert_false(epoch_log_line_vm("{\"vm\":\"ab", 9, n));
	assert_false(epoch_log_line_vm("{\"vn\":\"ab\"", 10, n));
	snprintf(long_name, sizeof(long_name), "{\"vm\":\"%064d\"", 0);
	assert_false(epoch_log_line_vm(long_name, strlen(long_name), n));
	snprintf(long_name, sizeof(long_name), "{\"vm\":\"%063d\"", 0);
	assert_true(epoch_log_line_vm(long_name, strlen(long_name), n));
}

/* Mutations of a good log: never a crash (ASan), never a span outside
 * the buffer, never more VMs than were written. */
static void test_mutations(void **state)
{
	static struct log l, m;
	static const char *b1[] = { "vm1:a", "vm2:a", "vm3:a" };
	static const char *b2[] = { "vm2:b" };
	uint32_t seed = 12345;

	(void)state;
	memset(&l, 0, sizeof(l));
	add_batch(&l, b1, 3);
	add_batch(&l, b2, 1);
	for (int it = 0; it < 20000; it++) {
		struct epoch_log_scan s;
		size_t len;

		m = l;
		for (int k = 0; k < 3; k++) {
			seed = seed * 1103515245u + 12345u;
			m.buf[(seed >> 8) % l.len] = (char)(seed >> 24);
		}
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % (l.len + 1);
		if (epoch_log_scan(m.buf, len, 10, &s, NULL, 0) == 0) {
			assert_true(s.n_latest <= 3);
			assert_true(s.good_len <= len);
			for (unsigned i = 0; i < s.n_latest; i++)
				assert_true(s.latest[i].off + s.latest[i].len < s.good_len);
			epoch_log_scan_free(&s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn_every_byte),
		cmocka_unit_test(test_corrupt_every_byte),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_vm_names),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
