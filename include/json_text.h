/*
 * json_text.h: compact JSON written straight as text into a growing buffer,
 * for the records written once per VM in a failover (audit lines, epoch
 * records), where building a jansson tree and dumping it cost more than the
 * decision.  The caller writes keys and punctuation itself, in the order
 * the tree had; values go through these writers.  Pure.
 */
#ifndef COLO_ARBITER_JSON_TEXT_H
#define COLO_ARBITER_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A growing, NUL-terminated buffer; after a failed allocation it drops
 * everything and jtext_done() returns NULL. */
struct jtext {
	char *p;
	size_t n, cap;
	bool oom;
};

void jtext_put(struct jtext *b, const char *s, size_t len);
void jtext_raw(struct jtext *b, const char *s);
/* as jansson's "I": the value as a signed 64-bit integer */
void jtext_int(struct jtext *b, long long v);
void jtext_bool(struct jtext *b, bool v);
/* a JSON string (NULL: null); control characters, '"' and '\' escaped */
void jtext_str(struct jtext *b, const char *s);
/* key: the literal text before the value, e.g. ",\"seq\":" */
void jtext_kint(struct jtext *b, const char *key, long long v);
void jtext_kbool(struct jtext *b, const char *key, bool v);
void jtext_kstr(struct jtext *b, const char *key, const char *v);
/* The text (the caller frees it), or NULL after a failed allocation. */
char *jtext_done(struct jtext *b);

#endif
