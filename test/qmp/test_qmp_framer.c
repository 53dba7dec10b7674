/*
 * test_qmp_framer.c: table-driven tests of qmp_framer from the data files in
 * test/data/framer/ (format in that folder's README.md), plus a few direct
 * checks of the API contract. Pure: no sockets, no clock.
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

#include "compiler.h"
#include "qmp_framer.h"

/* ----------------------------------------------------- case model */

struct buf {
	char *p;
	size_t len, cap;
};

struct expect {
	bool is_error;
	struct buf line;   /* expected line */
	int err;           /* expected error */
	uint64_t offset;
};

struct segment {
	struct buf in;
	struct expect *exp;
	size_t n_exp;
	long pending;      /* -1: not checked */
};

#define MAX_MODES 8
#define MODE_ALL 0
#define MODE_SPLIT -1

struct fcase {
	char name[256];
	size_t max;
	int modes[MAX_MODES];
	size_t n_modes;
	struct segment *seg;
	size_t n_seg;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Parses a quoted string with C escapes starting at *pp into out. */
static void parse_quoted(const char *where, const char **pp, struct buf *out)
{
	const char *p = *pp;

	while (*p == ' ')
		p++;
	if (*p != '"')
		fail_msg("%s: expected a quoted string", where);
	p++;
	while (*p && *p != '"') {
		char ch = *p++;

		if (ch == '\\') {
			char e = *p++;

			switch (e) {
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case '0': ch = '\0'; break;
			case '\\': ch = '\\'; break;
			case '"': ch = '"'; break;
			case 'x': {
				int h = hexval(p[0]), l = h < 0 ? -1 : hexval(p[1]);

				if (h < 0 || l < 0)
					fail_msg("%s: bad \\x escape", where);
				ch = (char)(h * 16 + l);
				p += 2;
				break;
			}
			default:
				fail_msg("%s: unknown escape \\%c", where, e);
			}
		}
		buf_add(out, &ch, 1);
	}
	if (*p != '"')
		fail_msg("%s: unterminated string", where);
	*pp = p + 1;
}

static struct segment *cur_seg(struct fcase *fc)
{
	if (fc->n_seg == 0) {
		fc->seg = calloc(1, sizeof(*fc->seg));
		assert_non_null(fc->seg);
		fc->seg[0].pending = -1;
		fc->n_seg = 1;
	}
	return &fc->seg[fc->n_seg - 1];
}

static struct expect *add_exp(struct segment *s)
{
	s->exp = realloc(s->exp, (s->n_exp + 1) * sizeof(*s->exp));
	assert_non_null(s->exp);
	memset(&s->exp[s->n_exp], 0, sizeof(*s->exp));
	return &s->exp[s->n_exp++];
}

static void case_load(const char *path, struct fcase *fc)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0;

	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		char where[300];
		const char *p = line;
		struct segment *s;

		lineno++;
		snprintf(where, sizeof(where), "%s:%d", fc->name, lineno);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		s = cur_seg(fc);
		if (strncmp(p, "max ", 4) == 0) {
			fc->max = strtoul(p + 4, NULL, 10);
		} else if (strncmp(p, "chunk ", 6) == 0) {
			int mode;

			if (strcmp(p + 6, "all") == 0)
				mode = MODE_ALL;
			else if (strcmp(p + 6, "split") == 0)
				mode = MODE_SPLIT;
			else
				mode = atoi(p + 6);
			assert_true(fc->n_modes < MAX_MODES);
			fc->modes[fc->n_modes++] = mode;
		} else if (strncmp(p, "in-repeat ", 10) == 0) {
			char *end;
			unsigned long k = strtoul(p + 10, &end, 10);
			struct buf one = { 0 };

			p = end;
			parse_quoted(where, &p, &one);
			while (k--)
				buf_add(&s->in, one.p, one.len);
			free(one.p);
		} else if (strncmp(p, "in ", 3) == 0) {
			p += 3;
			parse_quoted(where, &p, &s->in);
		} else if (strncmp(p, "line-repeat ", 12) == 0) {
			char *end;
			unsigned long k = strtoul(p + 12, &end, 10);
			struct buf one = { 0 };
			struct expect *e = add_exp(s);

			p = end;
			parse_quoted(where, &p, &one);
			while (k--)
				buf_add(&e->line, one.p, one.len);
			free(one.p);
		} else if (strncmp(p, "line ", 5) == 0) {
			struct expect *e = add_exp(s);

			p += 5;
			parse_quoted(where, &p, &e->line);
		} else if (strncmp(p, "error ", 6) == 0) {
			struct expect *e = add_exp(s);
			char kind[32];
			unsigned long long off;

			if (sscanf(p + 6, "%31s %llu", kind, &off) != 2)
				fail_msg("%s: error KIND OFFSET", where);
			e->is_error = true;
			e->offset = off;
			if (strcmp(kind, "nul") == 0)
				e->err = QMP_FRAMER_E_NUL;
			else if (strcmp(kind, "oversize") == 0)
				e->err = QMP_FRAMER_E_OVERSIZE;
			else
				fail_msg("%s: unknown error kind %s", where, kind);
		} else if (strncmp(p, "pending ", 8) == 0) {
			s->pending = strtol(p + 8, NULL, 10);
		} else if (strcmp(p, "reset") == 0) {
			fc->seg = realloc(fc->seg, (fc->n_seg + 1) * sizeof(*fc->seg));
			assert_non_null(fc->seg);
			memset(&fc->seg[fc->n_seg], 0, sizeof(*fc->seg));
			fc->seg[fc->n_seg].pending = -1;
			fc->n_seg++;
		} else {
			fail_msg("%s: unknown directive: %s", where, p);
		}
	}
	free(line);
	fclose(f);
	if (fc->n_modes == 0)
		fc->modes[fc->n_modes++] = MODE_ALL;
	assert_true(fc->n_seg > 0);
}

static void case_free(struct fcase *fc)
{
	size_t i, j;

	for (i = 0; i < fc->n_seg; i++) {
		for (j = 0; j < fc->seg[i].n_exp; j++)
			free(fc->seg[i].exp[j].line.p);
		free(fc->seg[i].exp);
		free(fc->seg[i].in.p);
	}
	free(fc->seg);
	memset(fc, 0, sizeof(*fc));
}

/* -------------------------------------------------------- runner */

struct run {
	const struct fcase *fc;
	const struct segment *seg;
	const char *mode;
	size_t got;       /* lines delivered so far in this segment */
	int err;          /* first error seen */
	uint64_t err_off;
	size_t max_line;
};

static int on_line(const char *line, size_t len, void *opaque)
{
	struct run *r = opaque;
	const struct expect *e;

	if (r->got >= r->seg->n_exp || r->seg->exp[r->got].is_error)
		fail_msg("%s [%s]: unexpected line #%zu (%zu bytes)", r->fc->name,
			 r->mode, r->got + 1, len);
	e = &r->seg->exp[r->got];
	if (len != e->line.len || memcmp(line, e->line.p, len) != 0)
		fail_msg("%s [%s]: line #%zu differs (got %zu bytes, want %zu)",
			 r->fc->name, r->mode, r->got + 1, len, e->line.len);
	r->got++;
	return 0;
}

static void feed_piece(struct qmp_framer *f, struct run *r, const char *p,
		       size_t n)
{
	uint64_t off = 0;
	int rc = qmp_framer_feed(f, p, n, on_line, r, &off);

	/* Memory stays bounded whatever the input. */
	if (qmp_framer_capacity(f) > r->max_line)
		fail_msg("%s [%s]: capacity %zu > max %zu", r->fc->name, r->mode,
			 qmp_framer_capacity(f), r->max_line);
	if (r->err) {
		/* Sticky: same error, same offset, no more lines. */
		assert_int_equal(rc, r->err);
		assert_int_equal(off, r->err_off);
		return;
	}
	if (rc) {
		r->err = rc;
		r->err_off = off;
	}
}

static void check_segment_end(struct qmp_framer *f, struct run *r)
{
	const struct segment *s = r->seg;
	const struct expect *last = s->n_exp ? &s->exp[s->n_exp - 1] : NULL;
	size_t want_lines = s->n_exp - (last && last->is_error ? 1 : 0);

	if (r->got != want_lines)
		fail_msg("%s [%s]: %zu lines delivered, want %zu", r->fc->name,
			 r->mode, r->got, want_lines);
	if (last && last->is_error) {
		if (r->err != last->err || r->err_off != last->offset)
			fail_msg("%s [%s]: error %d at %llu, want %d at %llu",
				 r->fc->name, r->mode, r->err,
				 (unsigned long long)r->err_off, last->err,
				 (unsigned long long)last->offset);
		/* One more byte: still refused with the same error. */
		feed_piece(f, r, "{", 1);
	} else if (r->err) {
		fail_msg("%s [%s]: unexpected error %d (%s) at %llu", r->fc->name,
			 r->mode, r->err, qmp_framer_strerror(r->err),
			 (unsigned long long)r->err_off);
	}
	if (s->pending >= 0 && !r->err)
		assert_int_equal(qmp_framer_pending(f), (size_t)s->pending);
}

/* Runs every segment with pieces of `piece` bytes (0: one feed). */
static void run_pieces(const struct fcase *fc, size_t piece, const char *mode)
{
	struct qmp_framer f;
	size_t i;

	qmp_framer_init(&f, fc->max);
	for (i = 0; i < fc->n_seg; i++) {
		struct run r = { .fc = fc, .seg = &fc->seg[i], .mode = mode,
				 .max_line = f.max_line };
		const struct buf *in = &fc->seg[i].in;
		size_t off = 0;

		if (i > 0)
			qmp_framer_reset(&f);
		if (piece == 0) {
			feed_piece(&f, &r, in->p ? in->p : "", in->len);
		} else {
			while (off < in->len) {
				size_t n = in->len - off < piece ? in->len - off : piece;

				feed_piece(&f, &r, in->p + off, n);
				off += n;
			}
		}
		check_segment_end(&f, &r);
	}
	qmp_framer_free(&f);
}

/* Every split point: [0,k) then [k,end), for every segment at once. */
static void run_split(const struct fcase *fc)
{
	size_t longest = 0, k, i;
	char mode[64];

	for (i = 0; i < fc->n_seg; i++) {
		if (fc->seg[i].in.len > longest)
			longest = fc->seg[i].in.len;
	}
	for (k = 0; k <= longest; k++) {
		struct qmp_framer f;

		snprintf(mode, sizeof(mode), "split at %zu", k);
		qmp_framer_init(&f, fc->max);
		for (i = 0; i < fc->n_seg; i++) {
			struct run r = { .fc = fc, .seg = &fc->seg[i], .mode = mode,
					 .max_line = f.max_line };
			const struct buf *in = &fc->seg[i].in;
			size_t cut = k < in->len ? k : in->len;

			if (i > 0)
				qmp_framer_reset(&f);
			feed_piece(&f, &r, in->p ? in->p : "", cut);
			feed_piece(&f, &r, in->p ? in->p + cut : "", in->len - cut);
			check_segment_end(&f, &r);
		}
		qmp_framer_free(&f);
	}
	run_pieces(fc, 1, "1-byte pieces");
}

static void test_case_file(void **state)
{
	const char *path = *state;
	struct fcase fc = { 0 };
	const char *base = strrchr(path, '/');
	size_t m;

	snprintf(fc.name, sizeof(fc.name), "%s", base ? base + 1 : path);
	case_load(path, &fc);
	for (m = 0; m < fc.n_modes; m++) {
		char mode[32];

		if (fc.modes[m] == MODE_SPLIT) {
			run_split(&fc);
		} else {
			snprintf(mode, sizeof(mode), fc.modes[m] ? "%d-byte pieces" :
				 "one feed", fc.modes[m]);
			run_pieces(&fc, (size_t)fc.modes[m], mode);
		}
	}
	case_free(&fc);
}

/* ------------------------------------------- direct API checks */

struct count {
	size_t lines;
	int stop_at;
};

static int count_line(const char *line, size_t len, void *opaque)
{
	struct count *c = opaque;

	(void)line;
	(void)len;
	c->lines++;
	if (c->stop_at > 0 && (int)c->lines == c->stop_at)
		return -ECANCELED;
	return 0;
}

/* A callback's non-zero value stops the feed and becomes sticky. */
static void test_callback_abort(void **state)
{
	struct qmp_framer f;
	struct count c = { .stop_at = 2 };
	uint64_t off = 0;
	static const char in[] = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";

	(void)state;
	qmp_framer_init(&f, 0);
	assert_int_equal(qmp_framer_feed(&f, in, strlen(in), count_line, &c, &off),
			 -ECANCELED);
	assert_int_equal(c.lines, 2);
	assert_int_equal(off, 15); /* the "\n" of the second line */
	assert_int_equal(qmp_framer_feed(&f, "x\n", 2, count_line, &c, NULL),
			 -ECANCELED);
	assert_int_equal(c.lines, 2);
	qmp_framer_reset(&f);
	c.stop_at = 0;
	assert_int_equal(qmp_framer_feed(&f, "x\n", 2, count_line, &c, NULL), 0);
	assert_int_equal(c.lines, 3);
	qmp_framer_free(&f);
}

/* max_line is clamped; the buffer is only allocated when a line is split
 * across feeds, and grows by doubling up to the limit only. */
static void test_limits_and_growth(void **state)
{
	struct qmp_framer f;
	struct count c = { 0 };
	char big[100000];

	(void)state;
	qmp_framer_init(&f, 1);
	assert_int_equal(f.max_line, QMP_FRAMER_MIN_MAX_LINE);
	qmp_framer_free(&f);
	qmp_framer_init(&f, (size_t)1 << 40);
	assert_int_equal(f.max_line, QMP_FRAMER_MAX_MAX_LINE);
	qmp_framer_free(&f);

	qmp_framer_init(&f, 70000);
	assert_int_equal(qmp_framer_feed(&f, "{}\n", 3, count_line, &c, NULL), 0);
	assert_int_equal(qmp_framer_capacity(&f), 0); /* zero-copy line */
	memset(big, 'q', sizeof(big));
	assert_int_equal(qmp_framer_feed(&f, big, 5000, count_line, &c, NULL), 0);
	assert_true(qmp_framer_capacity(&f) >= 5000);
	assert_int_equal(qmp_framer_feed(&f, big, 65000, count_line, &c, NULL), 0);
	assert_int_equal(qmp_framer_capacity(&f), 70000);
	assert_int_equal(qmp_framer_feed(&f, big, 1, count_line, &c, NULL),
			 QMP_FRAMER_E_OVERSIZE);
	assert_int_equal(qmp_framer_capacity(&f), 70000);
	assert_int_equal(qmp_framer_lines(&f), 1);
	assert_string_equal(qmp_framer_strerror(QMP_FRAMER_E_OVERSIZE),
			    "line longer than the maximum");
	qmp_framer_free(&f);
}

/* Records the last line, to check what a released buffer delivered. */
struct last_line {
	size_t lines, len;
	char head, tail;
	int stop_at;
};

static int last_line_fn(const char *line, size_t len, void *opaque)
{
	struct last_line *l = opaque;

	l->lines++;
	l->len = len;
	l->head = line[0];
	l->tail = line[len - 1];
	if (l->stop_at > 0 && (size_t)l->stop_at == l->lines)
		return -ECANCELED;
	return 0;
}

/* A callback that resets its framer (a client closing on a bad line) and
 * reads its line afterwards: the line must still be there. */
struct reset_in_cb {
	struct qmp_framer *f;
	size_t len;
	char tail;
};

static int reset_line_fn(const char *line, size_t len, void *opaque)
{
	struct reset_in_cb *r = opaque;

	qmp_framer_reset(r->f);
	r->len = len;
	r->tail = line[len - 1];
	return -ECONNRESET;
}

/* One framer per VM: a long line (query-commands, query-qmp-schema) must not
 * leave its buffer behind. The buffer goes once the line is delivered, in
 * any feed split, small or large; offsets and the line itself are unchanged
 * by the release. */
static void test_shrink_after_large_line(void **state)
{
	static char big[300000];
	struct qmp_framer f;
	struct last_line l = { 0 };
	uint64_t off = 0;

	(void)state;
	memset(big, 'q', sizeof(big));
	big[0] = '{';
	big[199999] = '}';
	big[200000] = '\n';
	qmp_framer_init(&f, 0);

	/* 200000 bytes in three feeds, the "\n" in the last. */
	assert_int_equal(qmp_framer_feed(&f, big, 70000, last_line_fn, &l, NULL), 0);
	assert_int_equal(qmp_framer_feed(&f, big + 70000, 100000, last_line_fn, &l, NULL), 0);
	assert_true(qmp_framer_capacity(&f) >= 170000);
	assert_int_equal(qmp_framer_feed(&f, big + 170000, 30001, last_line_fn, &l, NULL), 0);
	assert_int_equal(l.lines, 1);
	assert_int_equal(l.len, 200000);
	assert_int_equal(l.head, '{');
	assert_int_equal(l.tail, '}');
	assert_int_equal(qmp_framer_capacity(&f), 0);
	assert_int_equal(qmp_framer_pending(&f), 0);

	/* A short split line: the small first allocation, released too. */
	assert_int_equal(qmp_framer_feed(&f, "{\"a\":", 5, last_line_fn, &l, NULL), 0);
	assert_int_equal(qmp_framer_capacity(&f), 4096);
	assert_int_equal(qmp_framer_feed(&f, "1}\r\n", 4, last_line_fn, &l, NULL), 0);
	assert_int_equal(l.lines, 2);
	assert_int_equal(l.len, 7);
	assert_int_equal(qmp_framer_capacity(&f), 0);

	/* A long line followed by the start of the next in the same feed: the
	 * partial rest lives in a fresh small buffer, the long one is gone. */
	memcpy(big + 200001, "{\"b\"", 4);
	assert_int_equal(qmp_framer_feed(&f, big, 100000, last_line_fn, &l, NULL), 0);
	assert_int_equal(qmp_framer_feed(&f, big + 100000, 100005, last_line_fn, &l, NULL), 0);
	assert_int_equal(l.lines, 3);
	assert_int_equal(l.len, 200000);
	assert_int_equal(qmp_framer_pending(&f), 4);
	assert_true(qmp_framer_capacity(&f) <= 4096);
	assert_int_equal(qmp_framer_feed(&f, "}\n", 2, last_line_fn, &l, NULL), 0);
	assert_int_equal(l.len, 5);
	assert_int_equal(qmp_framer_lines(&f), 4);

	/* A callback that stops at a long line: released too, error sticky
	 * at that line's terminator. */
	l.stop_at = 5;
	assert_int_equal(qmp_framer_feed(&f, big, 150000, last_line_fn, &l, NULL), 0);
	assert_int_equal(qmp_framer_feed(&f, big + 150000, 50001, last_line_fn, &l, &off),
			 -ECANCELED);
	assert_int_equal(off, 200001 + 9 + 200005 + 2 + 200000);
	assert_int_equal(qmp_framer_capacity(&f), 0);
	assert_int_equal(qmp_framer_feed(&f, "{}\n", 3, last_line_fn, &l, NULL), -ECANCELED);

	/* reset from the callback: the line outlives it, the buffer goes
	 * once the callback is back (ASan checks the order). */
	{
		struct reset_in_cb r = { .f = &f };

		qmp_framer_reset(&f);
		assert_int_equal(qmp_framer_feed(&f, big, 120000, reset_line_fn, &r, NULL), 0);
		assert_int_equal(qmp_framer_feed(&f, big + 120000, 80001, reset_line_fn, &r, NULL),
				 -ECONNRESET);
		assert_int_equal(r.len, 200000);
		assert_int_equal(r.tail, '}');
		assert_int_equal(qmp_framer_capacity(&f), 0);
	}

	/* reset drops a long partial line's buffer as well. */
	qmp_framer_reset(&f);
	l.stop_at = 0;
	assert_int_equal(qmp_framer_feed(&f, big, 90000, last_line_fn, &l, NULL), 0);
	assert_true(qmp_framer_capacity(&f) >= 90000);
	qmp_framer_reset(&f);
	assert_int_equal(qmp_framer_capacity(&f), 0);
	assert_int_equal(qmp_framer_pending(&f), 0);
	qmp_framer_free(&f);
}

static int select_case(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".case") == 0;
}

int main(void)
{
	const char *data = getenv("TEST_DATA");
	char dir[4096];
	struct dirent **names = NULL;
	struct CMUnitTest *tests;
	char **paths;
	int n, i, rc;
	size_t k = 0;

	if (!data) {
		fprintf(stderr, "TEST_DATA is not set\n");
		return 99;
	}
	snprintf(dir, sizeof(dir), "%s/framer", data);
	n = scandir(dir, &names, select_case, alphasort);
	if (n <= 0) {
		fprintf(stderr, "no *.case files in %s\n", dir);
		return 99;
	}
	tests = calloc((size_t)n + 3, sizeof(*tests));
	paths = calloc((size_t)n, sizeof(*paths));
	if (!tests || !paths)
		return 99;
	for (i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;

		paths[i] = malloc(len);
		if (!paths[i])
			return 99;
		snprintf(paths[i], len, "%s/%s", dir, names[i]->d_name);
		tests[k].name = names[i]->d_name;
		tests[k].test_func = test_case_file;
		tests[k].initial_state = paths[i];
		k++;
	}
	tests[k].name = "callback_abort";
	tests[k++].test_func = test_callback_abort;
	tests[k].name = "limits_and_growth";
	tests[k++].test_func = test_limits_and_growth;
	tests[k].name = "shrink_after_large_line";
	tests[k++].test_func = test_shrink_after_large_line;
	rc = _cmocka_run_group_tests("qmp_framer", tests, k, NULL, NULL);
	for (i = 0; i < n; i++) {
		free(paths[i]);
		free(names[i]);
	}
	free(names);
	free(paths);
	free(tests);
	return rc;
}
