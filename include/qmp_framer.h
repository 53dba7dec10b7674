/*
 * qmp_framer.h: split a QMP byte stream into lines.
 *
 * QEMU's QMP server writes one JSON object per line, terminated by "\n"
 * ("\r\n" is accepted too). The framer only finds line boundaries: it knows
 * nothing about JSON or UTF-8 (qmp_msg.h validates those). Pure: no I/O, no
 * clock, no logging. Memory is bounded by max_line whatever the input.
 *
 * Rules:
 *  - a line's content is everything before its "\n"; a "\r" directly before
 *    the "\n" is dropped, any other "\r" is content;
 *  - empty lines ("\n" or "\r\n") are skipped, never delivered;
 *  - a line whose content is longer than max_line bytes is an error
 *    (QMP_FRAMER_E_OVERSIZE), reported at the first byte beyond the limit,
 *    before the rest of that line is buffered;
 *  - a NUL byte anywhere is an error (QMP_FRAMER_E_NUL): QMP never sends one;
 *  - errors are sticky: after one, every feed returns the same error until
 *    qmp_framer_reset(). The stream cannot be resynchronised safely.
 */
#ifndef COLO_ARBITER_QMP_FRAMER_H
#define COLO_ARBITER_QMP_FRAMER_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* Default and hard limits for the content length of one line. */
#define QMP_FRAMER_DEFAULT_MAX_LINE ((size_t)1024 * 1024)
#define QMP_FRAMER_MIN_MAX_LINE ((size_t)64)
#define QMP_FRAMER_MAX_MAX_LINE ((size_t)64 * 1024 * 1024)

/* Errors returned by qmp_framer_feed() (negative errno values). */
#define QMP_FRAMER_E_OVERSIZE (-EMSGSIZE) /* a line exceeds max_line */
#define QMP_FRAMER_E_NUL (-EILSEQ)        /* a NUL byte in the stream */
#define QMP_FRAMER_E_NOMEM (-ENOMEM)      /* buffer allocation failed */

/*
 * Called once per complete, non-empty line. `line` is NOT NUL-terminated and
 * points either into the caller's input or into the framer's buffer: it is
 * valid only during the call. Return 0 to go on; any other value stops the
 * feed at once, becomes the framer's sticky error and is returned by
 * qmp_framer_feed() (use a negative errno). Bytes after that line are not
 * consumed. The callback must not call qmp_framer_feed() on the same framer.
 */
typedef int (*qmp_framer_line_fn)(const char *line, size_t len, void *opaque);

/* Caller-allocated; treat the fields as private, use the accessors. */
struct qmp_framer {
	char *buf;          /* partial line, never more than max_line bytes */
	size_t len;         /* bytes in buf */
	size_t cap;         /* allocated bytes of buf, <= max_line */
	size_t max_line;    /* limit on a line's content */
	uint64_t offset;    /* absolute stream offset of the next byte fed */
	uint64_t lines;     /* complete lines delivered (and empty ones skipped) */
	int pending_cr;     /* last byte fed was a "\r" not yet known as CRLF */
	int in_callback;    /* on_line is running: buf must stay */
	int err;            /* sticky error, 0 when usable */
	uint64_t err_offset;/* stream offset of the byte that caused err */
};

/*
 * Prepares f. max_line is clamped to [QMP_FRAMER_MIN_MAX_LINE,
 * QMP_FRAMER_MAX_MAX_LINE]; 0 selects QMP_FRAMER_DEFAULT_MAX_LINE. Allocates
 * nothing: the buffer grows on demand, doubling, never beyond max_line.
 * The buffer is released as soon as the line it held has been delivered
 * (or on reset): an idle framer holds no memory, whatever came before.
 */
void qmp_framer_init(struct qmp_framer *f, size_t max_line);

/* Forgets any partial line and the sticky error; offsets restart at 0.
 * Releases the buffer (called from the line callback: once the callback
 * has returned, as the line may be in it). */
void qmp_framer_reset(struct qmp_framer *f);

/* Releases the buffer; f may be initialised again afterwards. */
void qmp_framer_free(struct qmp_framer *f);

/*
 * Feeds len bytes. Calls on_line for each complete line, in order. Returns 0
 * when every byte was consumed, or a negative error: QMP_FRAMER_E_OVERSIZE,
 * QMP_FRAMER_E_NUL, QMP_FRAMER_E_NOMEM, or the callback's non-zero value.
 * On error, *err_offset (if not NULL) receives the absolute stream offset
 * (counted from init/reset) of the offending byte; for a callback abort, the
 * offset of the terminator of the line it was given.
 */
int qmp_framer_feed(struct qmp_framer *f, const void *data, size_t len,
		    qmp_framer_line_fn on_line, void *opaque,
		    uint64_t *err_offset);

/* Bytes of an incomplete line currently held (a pending "\r" not counted). */
size_t qmp_framer_pending(const struct qmp_framer *f);

/* Allocated buffer size; always <= max_line (tests assert it). */
size_t qmp_framer_capacity(const struct qmp_framer *f);

/* Number of line terminators seen so far (1-based line number of the line
 * being assembled is this plus one). */
uint64_t qmp_framer_lines(const struct qmp_framer *f);

/* The sticky error (0 if none) and, if err_offset is not NULL, its offset. */
int qmp_framer_error(const struct qmp_framer *f, uint64_t *err_offset);

/* "oversize line", "NUL byte", ... for the framer's own errors;
 * strerror-like text otherwise. Never NULL. */
const char *qmp_framer_strerror(int err);

#endif
