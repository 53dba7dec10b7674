/*
 * config_lex.h: what the two file formats of config.h share (internal to
 * config.c and config_vm.c): the line splitter and value lexer, error
 * reporting with file/line/key, a growing print buffer, and the checks of
 * values both formats use.
 *
 * Pure, like config.h: no I/O, no clock, no logging, no globals.
 */
#ifndef COLO_ARBITER_CONFIG_LEX_H
#define COLO_ARBITER_CONFIG_LEX_H

/* Found beside this file, before autoconf's config.h of the build dir. */
#include "config.h"

#include "compiler.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the parse is, and where its error goes. */
struct config_lex {
	const char *file;
	int line; /* 0: not from a file, or a whole-file error */
	struct config_error *err;
};

/* Fills ps->err (if any) with file, ps->line, key and the message. */
void ATTR_PRINTF(3, 4) config_lex_err(struct config_lex *ps, const char *key, const char *fmt, ...);

/*
 * Calls fn for every "key = ..." line of text (len bytes), with the key as
 * written (cut to 63 bytes), the value up to the end of the line and its
 * 1-based column. Comments, blank lines, CR before LF are skipped; lines
 * over CONFIG_LINE_MAX, NUL bytes and lines without "key =" are errors.
 */
typedef int (*config_lex_line_fn)(struct config_lex *ps, const char *key, const char *v,
				  const char *end, int col, void *opaque);
int config_lex_lines(struct config_lex *ps, const char *text, size_t len, config_lex_line_fn fn,
		     void *opaque);

/* A bare word or a "quoted" string (\" and \\), then only a comment. out
 * has room for CONFIG_LINE_MAX + 1 bytes. 0 or -EINVAL. */
int config_lex_scalar(struct config_lex *ps, const char *key, const char *p, const char *end,
		      char *out);

/* A JSON object, then only a comment. 0 with *out a new reference, or
 * -EINVAL. col: the value's column, for jansson's error position. */
int config_lex_json(struct config_lex *ps, const char *key, const char *p, const char *end, int col,
		    json_t **out);

/* Keys compare with '-' and '_' as the same character. */
bool config_lex_key_eq(const char *canon, const char *s);

/* Value checks: NULL when acceptable, else the message. */
const char *config_lex_ident(const char *s);             /* [A-Za-z0-9_.-]{1,63}, no '.' first */
const char *config_lex_path(const char *s, size_t size); /* absolute, printable, < size */
bool config_lex_printable(const char *s);
/* Decimal digits only, at most max: 0, -EINVAL (not a number), -ERANGE. */
int config_lex_uint(const char *s, uint64_t max, uint64_t *out);

/* A growing text buffer; on ENOMEM it remembers and finish returns NULL. */
struct config_sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void ATTR_PRINTF(2, 3) config_sbuf_printf(struct config_sbuf *b, const char *fmt, ...);
/* Always quoted; only " and \ need escaping in printable ASCII. */
void config_sbuf_quoted(struct config_sbuf *b, const char *s);
char *config_sbuf_finish(struct config_sbuf *b);

#endif
