/*
 * epoch_log.c: the epoch log's format (see epoch_log.h): commit lines and
 * the scan that verifies batches, finds the unfinished tail a crash may
 * leave, tells it from corruption, and picks each VM's last record.
 *
 * Must not: do I/O, log, or trust a length it has not checked against the
 * buffer (the file may be anything after a crash or an operator's edit).
 */
#include "epoch_log.h"

#include "compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMIT_PREFIX "{\"commit\":"
#define VM_PREFIX "{\"vm\":\""

static uint64_t fnv1a(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

size_t epoch_log_commit_line(uint64_t batch, unsigned records, const char *recs, size_t len,
			     char *out, size_t cap)
{
	int n = snprintf(out, cap,
			 COMMIT_PREFIX "%" PRIu64 ",\"records\":%u,\"bytes\":%zu,\"fnv1a\":\"%016" PRIx64
				       "\"}\n",
			 batch, records, len, fnv1a(recs, len));

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

struct commit {
	uint64_t batch, records, bytes, hash;
};

/* Exactly the format epoch_log_commit_line() writes, nothing else. */
static bool parse_commit(const char *line, size_t len, struct commit *c)
{
	char buf[EPOCH_LOG_COMMIT_MAX], tail;
	int used = 0;

	if (len >= sizeof(buf) || len < strlen(COMMIT_PREFIX) ||
	    memcmp(line, COMMIT_PREFIX, strlen(COMMIT_PREFIX)))
		return false;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (sscanf(buf,
		   COMMIT_PREFIX "%20" SCNu64 ",\"records\":%20" SCNu64 ",\"bytes\":%20" SCNu64
				 ",\"fnv1a\":\"%16" SCNx64 "\"%c%n",
		   &c->batch, &c->records, &c->bytes, &c->hash, &tail, &used) != 5)
		return false;
	/* %u accepts signs and spaces: the canonical line round-trips */
	char again[EPOCH_LOG_COMMIT_MAX];
	int n = snprintf(again, sizeof(again),
			 COMMIT_PREFIX "%" PRIu64 ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
				       ",\"fnv1a\":\"%016" PRIx64 "\"}",
			 c->batch, c->records, c->bytes, c->hash);
	return tail == '}' && (size_t)used == len && n > 0 && (size_t)n == len &&
	       !memcmp(again, buf, len);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

bool epoch_log_line_vm(const char *line, size_t len, char name[EPOCH_LOG_NAME_MAX])
{
	size_t p = strlen(VM_PREFIX), n = 0;

	if (len < p || memcmp(line, VM_PREFIX, p))
		return false;
	while (p + n < len && n < EPOCH_LOG_NAME_MAX - 1 && name_char(line[p + n]))
		n++;
	if (n == 0 || p + n >= len || line[p + n] != '"' || line[p] == '.')
		return false;
	memcpy(name, line + p, n);
	name[n] = '\0';
	return true;
}

static void say(char *err, size_t cap, const char *fmt, ...) ATTR_PRINTF(3, 4);

static void say(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || !cap)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* ---- the last record of each VM ------------------------------------------ */

struct latest_map {
	const char *buf;
	unsigned *slot;        /* index into s->latest + 1; 0: empty */
	unsigned cap;          /* power of two */
	struct epoch_log_scan *s;
	unsigned max_vms, latest_cap;
};

static uint64_t name_hash(const char *n)
{
	return fnv1a(n, strlen(n));
}

static bool same_vm(const struct latest_map *m, const struct epoch_log_span *sp, const char *name)
{
	char other[EPOCH_LOG_NAME_MAX];

	return epoch_log_line_vm(m->buf + sp->off, sp->len, other) && !strcmp(other, name);
}

static int map_grow(struct latest_map *m)
{
	unsigned ncap = m->cap ? m->cap * 2 : 64;
	unsigned *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (unsigned i = 0; i < m->s->n_latest; i++) {
		char name[EPOCH_LOG_NAME_MAX];
		unsigned h;

		epoch_log_line_vm(m->buf + m->s->latest[i].off, m->s->latest[i].len, name);
		h = (unsigned)name_hash(name) & (ncap - 1);
		while (ns[h])
			h = (h + 1) & (ncap - 1);
		ns[h] = i + 1;
	}
	free(m->slot);
	m->slot = ns;
	m->cap = ncap;
	return 0;
}

static int map_put(struct latest_map *m, const struct epoch_log_span *sp, const char *name)
{
	unsigned h;

	if ((m->s->n_latest + 1) * 2 > m->cap && map_grow(m))
		return -ENOMEM;
	h = (unsigned)name_hash(name) & (m->cap - 1);
	while (m->slot[h]) {
		struct epoch_log_span *old = &m->s->latest[m->slot[h] - 1];

		if (same_vm(m, old, name)) {
			*old = *sp;
			return 0;
		}
		h = (h + 1) & (m->cap - 1);
	}
	if (m->s->n_latest == m->max_vms)
		return -E2BIG;
	if (m->s->n_latest == m->latest_cap) {
		unsigned ncap = m->latest_cap ? m->latest_cap * 2 : 16;
		struct epoch_log_span *nl = realloc(m->s->latest, ncap * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		m->s->latest = nl;
		m->latest_cap = ncap;
	}
	m->s->latest[m->s->n_latest++] = *sp;
	m->slot[h] = m->s->n_latest;
	return 0;
}

/* ---- scan ----------------------------------------------------------------- */

/* The verified batch [from, to): its record lines into the map. */
static int take_batch(struct latest_map *m, size_t from, size_t to, char *err, size_t errcap)
{
	const char *buf = m->buf;

	for (size_t p = from; p < to;) {
		const char *nl = memchr(buf + p, '\n', to - p);
		struct epoch_log_span sp = { p, (size_t)(nl - (buf + p)) };
		char name[EPOCH_LOG_NAME_MAX];
		int rc;

		if (!epoch_log_line_vm(buf + p, sp.len, name)) {
			say(err, errcap, "record at byte %zu has no VM name", p);
			return -EBADMSG;
		}
		rc = map_put(m, &sp, name);
		if (rc) {
			say(err, errcap, rc == -E2BIG ? "more than %u VMs" : "no memory (%u VMs)",
			    m->max_vms);
			return rc;
		}
		p += sp.len + 1;
	}
	return 0;
}

/* The line at p: its length without the newline; false if it has none. */
static bool line_at(const char *buf, size_t len, size_t p, size_t *l)
{
	const char *nl = memchr(buf + p, '\n', len - p);

	if (!nl)
		return false;
	*l = (size_t)(nl - (buf + p));
	return true;
}

/* After the unfinished tail starting at `good`: a batch that verifies on
 * its own means the failure before it was not a crash's. */
static bool verified_after(const char *buf, size_t len, size_t good, size_t *at)
{
	size_t l;

	for (size_t p = good; p < len && line_at(buf, len, p, &l); p += l + 1) {
		struct commit c;

		if (parse_commit(buf + p, l, &c) && c.bytes <= p - good &&
		    fnv1a(buf + p - c.bytes, c.bytes) == c.hash) {
			*at = p;
			return true;
		}
	}
	return false;
}

int epoch_log_scan(const char *buf, size_t len, unsigned max_vms, struct epoch_log_scan *out,
		   char *err, size_t errcap)
{
	struct latest_map m = { .buf = buf, .s = out, .max_vms = max_vms };
	size_t p = 0, start = 0, at;
	uint64_t nrec = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (size_t l; p < len && line_at(buf, len, p, &l); p += l + 1) {
		struct commit c;

		if (l >= strlen(COMMIT_PREFIX) && !memcmp(buf + p, COMMIT_PREFIX, strlen(COMMIT_PREFIX))) {
			if (!parse_commit(buf + p, l, &c) || c.records != nrec ||
			    c.bytes != p - start || c.batch <= out->last_batch ||
			    fnv1a(buf + start, p - start) != c.hash)
				break;
			rc = take_batch(&m, start, p, err, errcap);
			if (rc)
				goto fail;
			out->last_batch = c.batch;
			out->batches++;
			out->records += (unsigned)nrec;
			out->good_len = p + l + 1;
			start = out->good_len;
			nrec = 0;
		} else {
			nrec++;
		}
	}
	if (out->good_len < len) {
		if (verified_after(buf, len, out->good_len, &at)) {
			say(err, errcap,
			    "batch at byte %zu does not verify, but the one ending at byte %zu does: "
			    "corrupt, not an unfinished write",
			    out->good_len, at);
			rc = -EBADMSG;
			goto fail;
		}
		out->torn = true;
	}
	free(m.slot);
	return 0;
fail:
	free(m.slot);
	epoch_log_scan_free(out);
	return rc;
}

void epoch_log_scan_free(struct epoch_log_scan *s)
{
	free(s->latest);
	s->latest = NULL;
	s->n_latest = 0;
}
