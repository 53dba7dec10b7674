/*
 * json_text.c: compact JSON written as text (see json_text.h).
 */
#include "json_text.h"

#include <stdlib.h>
#include <string.h>

void jtext_put(struct jtext *b, const char *s, size_t len)
{
	if (b->oom)
		return;
	if (b->n + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;

		while (cap < b->n + len + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

void jtext_raw(struct jtext *b, const char *s)
{
	jtext_put(b, s, strlen(s));
}

void jtext_int(struct jtext *b, long long v)
{
	char d[24], *e = d + sizeof(d), *q = e;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		*--q = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--q = '-';
	jtext_put(b, q, (size_t)(e - q));
}

void jtext_bool(struct jtext *b, bool v)
{
	jtext_raw(b, v ? "true" : "false");
}

void jtext_str(struct jtext *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run;

	if (!s) {
		jtext_raw(b, "null");
		return;
	}
	jtext_put(b, "\"", 1);
	for (run = s; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jtext_put(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			jtext_put(b, esc, 2);
		} else {
			jtext_put(b, esc, 6);
		}
		run = s + 1;
	}
	jtext_put(b, run, (size_t)(s - run));
	jtext_put(b, "\"", 1);
}

void jtext_kint(struct jtext *b, const char *key, long long v)
{
	jtext_raw(b, key);
	jtext_int(b, v);
}

void jtext_kbool(struct jtext *b, const char *key, bool v)
{
	jtext_raw(b, key);
	jtext_bool(b, v);
}

void jtext_kstr(struct jtext *b, const char *key, const char *v)
{
	jtext_raw(b, key);
	jtext_str(b, v);
}

char *jtext_done(struct jtext *b)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	return b->p;
}
