/*
 * config_lex.c: the line splitter, value lexer, error reporting and value
 * checks shared by colo-arbiter.conf (config.c) and the VM files
 * (config_vm.c); see config_lex.h.
 *
 * Must not: do I/O, read a clock, log, or read past len bytes of the text;
 * every line is bounded by CONFIG_LINE_MAX.
 */
#include "config_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- errors */

void config_lex_err(struct config_lex *ps, const char *key, const char *fmt, ...)
{
	struct config_error *e = ps->err;
	va_list ap;

	if (!e)
		return;
	snprintf(e->file, sizeof(e->file), "%s", ps->file ? ps->file : "-");
	e->line = ps->line;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

int config_error_format(const struct config_error *e, char *buf, size_t len)
{
	char where[300];

	if (e->line > 0)
		snprintf(where, sizeof(where), "%s:%d", e->file, e->line);
	else
		snprintf(where, sizeof(where), "%s", e->file);
	if (e->key[0])
		return snprintf(buf, len, "%s: %s: %s", where, e->key, e->msg);
	return snprintf(buf, len, "%s: %s", where, e->msg);
}

/* ----------------------------------------------------- string builder */

void config_sbuf_printf(struct config_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

char *config_sbuf_finish(struct config_sbuf *b)
{
	if (b->oom || !b->p) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

/* A string value, always quoted: only \" and \\ need escaping because every
 * accepted string is printable ASCII. */
void config_sbuf_quoted(struct config_sbuf *b, const char *s)
{
	config_sbuf_printf(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			config_sbuf_printf(b, "\\%c", *s);
		else
			config_sbuf_printf(b, "%c", *s);
	}
	config_sbuf_printf(b, "\"");
}

/* ------------------------------------------------------- value checks */

bool config_lex_printable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	}
	return true;
}

int config_lex_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

const char *config_lex_ident(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return "must be 1 to 63 characters of A-Z a-z 0-9 _ . -";
	if (s[0] == '.')
		return "must not start with '.'";
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return "must be 1 to 63 characters of A-Z a-z 0-9 _ . -";
	}
	return NULL;
}

const char *config_lex_path(const char *s, size_t size)
{
	if (s[0] != '/')
		return "must be an absolute path";
	if (!config_lex_printable(s))
		return "must be printable ASCII";
	if (strlen(s) >= size)
		return size <= ARB_SOCKET_PATH_MAX ? "too long for a unix socket path (max 107 bytes)"
						   : "path too long (max 255 bytes)";
	return NULL;
}

/* Keys compare with '-' and '_' as the same character. */
bool config_lex_key_eq(const char *canon, const char *s)
{
	for (; *canon && *s; canon++, s++) {
		char a = *canon == '-' ? '_' : *canon;
		char b = *s == '-' ? '_' : *s;

		if (a != b)
			return false;
	}
	return *canon == *s;
}

/* ------------------------------------------------------------- lexing */

#define IS_WS(ch) ((ch) == ' ' || (ch) == '\t')

static bool is_key_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-';
}

/* What follows a value: nothing, or blanks and a comment. */
static bool rest_is_empty(const char *p, const char *end)
{
	while (p < end && IS_WS(*p))
		p++;
	return p == end || *p == '#';
}

/*
 * One scalar value: "quoted" (with \" and \\) or a bare word (up to a blank
 * or '#'). out has room for CONFIG_LINE_MAX + 1 bytes, more than a line.
 */
int config_lex_scalar(struct config_lex *ps, const char *key, const char *p, const char *end,
		      char *out)
{
	size_t n = 0;

	if (p == end || *p == '#') {
		config_lex_err(ps, key, "missing value");
		return -EINVAL;
	}
	if (*p == '"') {
		for (p++;; p++) {
			if (p == end) {
				config_lex_err(ps, key, "unterminated quoted string");
				return -EINVAL;
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				if (p + 1 == end || (p[1] != '"' && p[1] != '\\')) {
					config_lex_err(ps, key, "bad escape in quoted string (only \\\" and \\\\)");
					return -EINVAL;
				}
				p++;
			}
			out[n++] = *p;
		}
		p++;
	} else {
		for (; p < end && !IS_WS(*p) && *p != '#'; p++) {
			if (*p == '"') {
				config_lex_err(ps, key, "stray '\"' in value (quote the whole value)");
				return -EINVAL;
			}
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	if (!rest_is_empty(p, end)) {
		config_lex_err(ps, key, "unexpected text after the value");
		return -EINVAL;
	}
	return 0;
}

/* One JSON object value; `col` is its column on the line, for errors. */
int config_lex_json(struct config_lex *ps, const char *key, const char *p, const char *end, int col,
		    json_t **out)
{
	json_error_t je;
	json_t *j;

	if (p == end || *p == '#') {
		config_lex_err(ps, key, "missing value");
		return -EINVAL;
	}
	if (*p != '{') {
		config_lex_err(ps, key, "must be a JSON object {\"execute\": ...}");
		return -EINVAL;
	}
	j = json_loadb(p, (size_t)(end - p), JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		config_lex_err(ps, key, "bad JSON at column %d: %s", col + je.column - 1, je.text);
		return -EINVAL;
	}
	if ((size_t)je.position > (size_t)(end - p) || !rest_is_empty(p + je.position, end)) {
		json_decref(j);
		config_lex_err(ps, key, "unexpected text after the JSON object");
		return -EINVAL;
	}
	*out = j;
	return 0;
}

int config_lex_lines(struct config_lex *ps, const char *text, size_t len, config_lex_line_fn fn,
		     void *opaque)
{
	size_t pos = 0;

	ps->line = 0;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *p = line, *end;
		char key[64];
		size_t kn = 0;
		int rc;

		pos += n + (nl ? 1 : 0);
		ps->line++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		end = line + n;
		if (n > CONFIG_LINE_MAX) {
			config_lex_err(ps, "", "line too long (max %d bytes)", CONFIG_LINE_MAX);
			return -EINVAL;
		}
		if (memchr(line, '\0', n)) {
			config_lex_err(ps, "", "NUL byte in line");
			return -EINVAL;
		}
		while (p < end && IS_WS(*p))
			p++;
		if (p == end || *p == '#')
			continue;
		if (!is_key_char(*p)) {
			config_lex_err(ps, "", "expected 'key = value'");
			return -EINVAL;
		}
		for (; p < end && is_key_char(*p); p++) {
			if (kn < sizeof(key) - 1)
				key[kn++] = *p;
		}
		key[kn] = '\0';
		while (p < end && IS_WS(*p))
			p++;
		if (p == end || *p != '=') {
			config_lex_err(ps, key, "expected '=' after the key");
			return -EINVAL;
		}
		p++;
		while (p < end && IS_WS(*p))
			p++;
		rc = fn(ps, key, p, end, (int)(p - line) + 1, opaque);
		if (rc < 0)
			return rc;
	}
	return 0;
}
