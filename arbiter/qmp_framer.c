/*
 * qmp_framer.c: bytes in, whole QMP lines out (see qmp_framer.h).
 *
 * Must not: parse JSON, do I/O, read a clock, log, or hold more than
 * max_line bytes whatever the input.
 */
#include "qmp_framer.h"

#include <stdlib.h>
#include <string.h>

/* First allocation; small because nearly every QMP line is short. */
#define QMP_FRAMER_INITIAL_CAP ((size_t)4096)

/* The buffer only holds a line split across feeds, which is rare (a line
 * longer than the reader's chunk, or a peer writing in pieces): it is
 * released once that line is out, so hundreds of idle framers (one per VM)
 * hold nothing, never the high-water mark of a query-commands or
 * query-qmp-schema reply. */
static void framer_shrink(struct qmp_framer *f)
{
	if (f->len == 0 && f->buf) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
}

void qmp_framer_init(struct qmp_framer *f, size_t max_line)
{
	memset(f, 0, sizeof(*f));
	if (max_line == 0)
		max_line = QMP_FRAMER_DEFAULT_MAX_LINE;
	if (max_line < QMP_FRAMER_MIN_MAX_LINE)
		max_line = QMP_FRAMER_MIN_MAX_LINE;
	if (max_line > QMP_FRAMER_MAX_MAX_LINE)
		max_line = QMP_FRAMER_MAX_MAX_LINE;
	f->max_line = max_line;
}

void qmp_framer_reset(struct qmp_framer *f)
{
	f->len = 0;
	f->offset = 0;
	f->lines = 0;
	f->pending_cr = 0;
	f->err = 0;
	f->err_offset = 0;
	/* Inside a callback the line it was given may live in buf: the feed
	 * releases it once the callback has returned. */
	if (!f->in_callback)
		framer_shrink(f);
}

void qmp_framer_free(struct qmp_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	qmp_framer_reset(f);
}

static int framer_fail(struct qmp_framer *f, int err, uint64_t at,
		       uint64_t *err_offset)
{
	f->err = err;
	f->err_offset = at;
	if (err_offset)
		*err_offset = at;
	return err;
}

/* Makes room for `need` bytes in total; need <= max_line is the caller's
 * promise, so the buffer never outgrows the limit. */
static int framer_reserve(struct qmp_framer *f, size_t need)
{
	size_t cap;
	char *nb;

	if (need <= f->cap)
		return 0;
	cap = f->cap ? f->cap : QMP_FRAMER_INITIAL_CAP;
	while (cap < need)
		cap = cap > f->max_line / 2 ? f->max_line : cap * 2;
	if (cap > f->max_line)
		cap = f->max_line;
	nb = realloc(f->buf, cap);
	if (!nb)
		return QMP_FRAMER_E_NOMEM;
	f->buf = nb;
	f->cap = cap;
	return 0;
}

/* Appends content bytes to the partial line; `at` is the stream offset of
 * src[0], used to name the first byte beyond the limit. */
static int framer_append(struct qmp_framer *f, const char *src, size_t n,
			 uint64_t at, uint64_t *err_offset)
{
	int rc;

	if (n == 0)
		return 0;
	if (n > f->max_line - f->len)
		return framer_fail(f, QMP_FRAMER_E_OVERSIZE,
				   at + (f->max_line - f->len), err_offset);
	rc = framer_reserve(f, f->len + n);
	if (rc)
		return framer_fail(f, rc, at, err_offset);
	memcpy(f->buf + f->len, src, n);
	f->len += n;
	return 0;
}

/* A "\r" held back from the previous byte turned out to be content. */
static int framer_flush_cr(struct qmp_framer *f, uint64_t *err_offset)
{
	if (!f->pending_cr)
		return 0;
	f->pending_cr = 0;
	return framer_append(f, "\r", 1, f->offset - 1, err_offset);
}

int qmp_framer_feed(struct qmp_framer *f, const void *data, size_t len,
		    qmp_framer_line_fn on_line, void *opaque,
		    uint64_t *err_offset)
{
	const char *p = data;
	int rc;

	if (f->err) {
		if (err_offset)
			*err_offset = f->err_offset;
		return f->err;
	}
	while (len > 0) {
		/* Scan for the next byte that needs a decision. */
		size_t i, seg;
		const char *line;
		size_t line_len;
		uint64_t seg_start = f->offset;

		for (i = 0; i < len; i++) {
			if (p[i] == '\n' || p[i] == '\0' || p[i] == '\r')
				break;
		}
		seg = i;
		if (seg > 0) {
			rc = framer_flush_cr(f, err_offset);
			if (rc)
				return rc;
		}
		if (i == len) {
			/* No terminator in the rest: keep it as partial line. */
			rc = framer_append(f, p, seg, seg_start, err_offset);
			if (rc)
				return rc;
			f->offset += seg;
			return 0;
		}
		if (p[i] == '\0') {
			rc = framer_append(f, p, seg, seg_start, err_offset);
			if (rc)
				return rc;
			return framer_fail(f, QMP_FRAMER_E_NUL, seg_start + i,
					   err_offset);
		}
		if (p[i] == '\r') {
			/* Only content if something other than "\n" follows. */
			rc = framer_append(f, p, seg, seg_start, err_offset);
			if (rc)
				return rc;
			if (seg == 0) {
				rc = framer_flush_cr(f, err_offset);
				if (rc)
					return rc;
			}
			f->offset += seg + 1;
			f->pending_cr = 1;
			p += seg + 1;
			len -= seg + 1;
			continue;
		}
		/* p[i] == '\n': a line ends; a pending "\r" was its CRLF. */
		f->pending_cr = 0;
		if (f->len == 0) {
			/* Whole line inside the caller's data: no copy. */
			if (seg > f->max_line)
				return framer_fail(f, QMP_FRAMER_E_OVERSIZE,
						   seg_start + f->max_line,
						   err_offset);
			line = p;
			line_len = seg;
		} else {
			rc = framer_append(f, p, seg, seg_start, err_offset);
			if (rc)
				return rc;
			line = f->buf;
			line_len = f->len;
		}
		f->offset += seg + 1;
		f->lines++;
		p += seg + 1;
		len -= seg + 1;
		f->len = 0;
		if (line_len == 0)
			continue;
		f->in_callback = 1;
		rc = on_line(line, line_len, opaque);
		f->in_callback = 0;
		framer_shrink(f); /* only now: line may point into buf */
		if (rc)
			return framer_fail(f, rc, f->offset - 1, err_offset);
	}
	return 0;
}

size_t qmp_framer_pending(const struct qmp_framer *f)
{
	return f->len;
}

size_t qmp_framer_capacity(const struct qmp_framer *f)
{
	return f->cap;
}

uint64_t qmp_framer_lines(const struct qmp_framer *f)
{
	return f->lines;
}

int qmp_framer_error(const struct qmp_framer *f, uint64_t *err_offset)
{
	if (err_offset)
		*err_offset = f->err_offset;
	return f->err;
}

const char *qmp_framer_strerror(int err)
{
	switch (err) {
	case 0:
		return "no error";
	case QMP_FRAMER_E_OVERSIZE:
		return "line longer than the maximum";
	case QMP_FRAMER_E_NUL:
		return "NUL byte in the stream";
	case QMP_FRAMER_E_NOMEM:
		return "out of memory";
	default:
		return err < 0 ? strerror(-err) : "unknown error";
	}
}
