/*
 * peer_msg.c: encode and decode struct fsm_msg for CPG (see peer_msg.h and
 * doc/peer-protocol.md).
 *
 * Must not: do I/O, read a clock, log, or accept a byte it has not checked.
 * Every refusal names the member and the reason.  Memory is bounded by
 * PEER_MSG_MAX: the length is checked before jansson sees the body (which
 * only a body not in our own canonical bytes does).
 */
#include "peer_msg.h"

#include "compiler.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ tables */

/* Which parts of struct fsm_msg a kind carries (ring: every kind). */
#define USE_VM (1u << 0)
#define USE_EPOCH (1u << 1)
#define USE_PROP (1u << 2)
#define USE_SIDE (1u << 3)
#define USE_LIVE (1u << 4)  /* seq, sent_mono_ms */
#define USE_FENCE (1u << 5) /* node, pending */

struct kind_desc {
	enum fsm_msg_kind kind;
	uint8_t wire;
	const char *name;
	unsigned use;
};

static const struct kind_desc kinds[] = {
	{ FSM_MSG_LIVENESS, PEER_WIRE_LIVENESS, "liveness", USE_LIVE },
	{ FSM_MSG_STATE, PEER_WIRE_STATE, "state", USE_VM | USE_EPOCH | USE_SIDE },
	{ FSM_MSG_SYNC_DONE, PEER_WIRE_SYNC_DONE, "sync_done", 0 },
	{ FSM_MSG_PROPOSE, PEER_WIRE_PROPOSE, "propose", USE_VM | USE_PROP },
	{ FSM_MSG_ACK, PEER_WIRE_ACK, "ack", USE_VM | USE_PROP | USE_EPOCH },
	{ FSM_MSG_NACK, PEER_WIRE_NACK, "nack", USE_VM | USE_PROP | USE_EPOCH },
	{ FSM_MSG_FENCING, PEER_WIRE_FENCING, "fencing", USE_FENCE },
};

/*
 * Enum values on the wire are these strings, not the C values nor the
 * fsm_*_to_str() log names: either may change without a format change.
 * Indexed by the C value.
 */
static const char *const epoch_kind_names[] = {
	[FSM_EPOCH_NONE] = "none",
	[FSM_EPOCH_COLO] = "colo",
	[FSM_EPOCH_SOLO] = "solo",
};
static const char *const mode_names[] = {
	[FSM_MODE_UNKNOWN] = "unknown",
	[FSM_MODE_NONE] = "none",
	[FSM_MODE_PRIMARY] = "primary",
	[FSM_MODE_SECONDARY] = "secondary",
};
static const char *const reason_names[] = {
	[FSM_REASON_NONE] = "none",
	[FSM_REASON_REQUEST] = "request",
	[FSM_REASON_ERROR] = "error",
	[FSM_REASON_PROCESSING] = "processing",
};
static const char *const run_names[] = {
	[FSM_RUN_UNKNOWN] = "unknown",
	[FSM_RUN_RUNNING] = "running",
	[FSM_RUN_PAUSED] = "paused",
};
static const char *const mig_names[] = {
	[FSM_MIG_UNKNOWN] = "unknown",
	[FSM_MIG_NONE] = "none",
	[FSM_MIG_ACTIVE] = "active",
	[FSM_MIG_COLO] = "colo",
	[FSM_MIG_COMPLETED] = "completed",
	[FSM_MIG_FAILED] = "failed",
};

/* Allowed members of each object, for the unknown-member check. */
static const char *const ring_members[] = { "nodeid", "seq" };
static const char *const inst_members[] = { "pid", "start" };
static const char *const epoch_members[] = { "n", "kind", "holder", "hinst",
					     "secondary", "sinst" };
static const char *const prop_members[] = { "from_n", "proposer", "to" };
static const char *const side_members[] = {
	"present", "connected", "alive", "inst", "mode", "last_mode",
	"reason", "run", "mig", "colo_exit_seen", "frozen", "failover_inflight",
};

static const struct kind_desc *kind_by_kind(enum fsm_msg_kind k)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i].kind == k)
			return &kinds[i];
	return NULL;
}

static const struct kind_desc *kind_by_wire(uint8_t w)
{
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (kinds[i].wire == w)
			return &kinds[i];
	return NULL;
}

uint8_t peer_msg_kind_to_wire(enum fsm_msg_kind k)
{
	const struct kind_desc *d = kind_by_kind(k);

	return d ? d->wire : 0;
}

int peer_msg_kind_from_wire(uint8_t code, enum fsm_msg_kind *k)
{
	const struct kind_desc *d = kind_by_wire(code);

	if (!d)
		return -1;
	*k = d->kind;
	return 0;
}

const char *peer_msg_kind_to_str(enum fsm_msg_kind k)
{
	const struct kind_desc *d = kind_by_kind(k);

	return d ? d->name : "?";
}

bool peer_msg_vm_name_valid(const char *name, size_t len)
{
	if (!name || len < 1 || len > PEER_MSG_VM_NAME_MAX)
		return false;
	/*
	 * The name becomes a file name under state_dir: no ".", "..", hidden
	 * files.  Same rule as config.c's check_ident(), so any name a config
	 * accepts travels and nothing else does.
	 */
	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------ errors */

static void ATTR_PRINTF(3, 4)
err_set(struct peer_msg_error *e, const char *member, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	snprintf(e->member, sizeof(e->member), "%s", member);
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* Attacker-chosen text for an error message: printable ASCII only. */
static void sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[o] = '\0';
}

/* ------------------------------------------------------------ encode */

/*
 * The body is written straight as the compact JSON that json_dumpb() with
 * JSON_SORT_KEYS made of a tree (the golden files hold those bytes): keys
 * in byte order, u64 as decimal strings.  Building and dumping a tree per
 * message was most of a message's cost, thousands of messages at once in
 * a mass failover.  Nothing here needs escaping: names are checked by
 * peer_msg_vm_name_valid(), the rest are the tables' words and numbers.
 */
struct wbuf {
	char *p;
	size_t n, cap;
	bool over;
};

static void w_raw(struct wbuf *b, const char *s, size_t len)
{
	if (len > b->cap - b->n) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
}

static void w_str(struct wbuf *b, const char *s)
{
	w_raw(b, s, strlen(s));
}

/* a member's key; *first says no comma before it */
static void w_key(struct wbuf *b, bool *first, const char *key)
{
	if (!*first)
		w_raw(b, ",", 1);
	*first = false;
	w_raw(b, "\"", 1);
	w_str(b, key);
	w_raw(b, "\":", 2);
}

static void w_u64(struct wbuf *b, uint64_t v, bool quoted)
{
	char d[24];
	size_t i = sizeof(d);

	if (quoted)
		d[--i] = '"';
	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (quoted)
		d[--i] = '"';
	w_raw(b, d + i, sizeof(d) - i);
}

static void w_i64(struct wbuf *b, int64_t v)
{
	if (v < 0) {
		w_raw(b, "-", 1);
		w_u64(b, 0 - (uint64_t)v, false);
	} else {
		w_u64(b, (uint64_t)v, false);
	}
}

static void w_bool(struct wbuf *b, bool *first, const char *key, bool v)
{
	w_key(b, first, key);
	w_str(b, v ? "true" : "false");
}

static void w_word(struct wbuf *b, bool *first, const char *key, const char *word)
{
	w_key(b, first, key);
	w_raw(b, "\"", 1);
	w_str(b, word);
	w_raw(b, "\"", 1);
}

static void w_inst(struct wbuf *b, bool *first, const char *key, const struct fsm_instance *in)
{
	w_key(b, first, key);
	w_str(b, "{\"pid\":");
	w_u64(b, in->pid, false);
	w_str(b, ",\"start\":");
	w_u64(b, in->start, true);
	w_raw(b, "}", 1);
}

static void w_epoch(struct wbuf *b, bool *first, const char *key, const struct fsm_epoch *e)
{
	bool f = true;

	w_key(b, first, key);
	w_raw(b, "{", 1);
	w_inst(b, &f, "hinst", &e->hinst);
	w_key(b, &f, "holder");
	w_u64(b, e->holder, false);
	w_word(b, &f, "kind", epoch_kind_names[e->kind]);
	w_key(b, &f, "n");
	w_u64(b, e->n, true);
	w_key(b, &f, "secondary");
	w_u64(b, e->secondary, false);
	w_inst(b, &f, "sinst", &e->sinst);
	w_raw(b, "}", 1);
}

static void w_side(struct wbuf *b, bool *first, const struct fsm_side_report *s)
{
	bool f = true;

	w_key(b, first, "side");
	w_raw(b, "{", 1);
	w_bool(b, &f, "alive", s->alive);
	w_bool(b, &f, "colo_exit_seen", s->colo_exit_seen);
	w_bool(b, &f, "connected", s->connected);
	w_bool(b, &f, "failover_inflight", s->failover_inflight);
	w_bool(b, &f, "frozen", s->frozen);
	w_inst(b, &f, "inst", &s->inst);
	w_word(b, &f, "last_mode", mode_names[s->last_mode]);
	w_word(b, &f, "mig", mig_names[s->mig]);
	w_word(b, &f, "mode", mode_names[s->mode]);
	w_bool(b, &f, "present", s->present);
	w_word(b, &f, "reason", reason_names[s->reason]);
	w_word(b, &f, "run", run_names[s->run]);
	w_raw(b, "}", 1);
}

static bool epoch_ok(const struct fsm_epoch *e)
{
	return (unsigned)e->kind < ARRAY_SIZE(epoch_kind_names) && epoch_kind_names[e->kind];
}

static bool side_ok(const struct fsm_side_report *s)
{
	return (unsigned)s->mode < ARRAY_SIZE(mode_names) &&
	       (unsigned)s->last_mode < ARRAY_SIZE(mode_names) &&
	       (unsigned)s->reason < ARRAY_SIZE(reason_names) &&
	       (unsigned)s->run < ARRAY_SIZE(run_names) &&
	       (unsigned)s->mig < ARRAY_SIZE(mig_names);
}

/* -EINVAL for a message the format cannot carry, -EMSGSIZE past cap. */
static int body_write(const struct fsm_msg *m, const struct kind_desc *d, char *out,
		      size_t cap, size_t *len)
{
	struct wbuf b = { .p = out, .cap = cap };
	bool first = true;

	if (((d->use & USE_VM) && !peer_msg_vm_name_valid(m->vm, strnlen(m->vm, sizeof(m->vm)))) ||
	    ((d->use & USE_EPOCH) && !epoch_ok(&m->epoch)) ||
	    ((d->use & USE_PROP) && (m->prop.proposer == 0 || !epoch_ok(&m->prop.to))) ||
	    ((d->use & USE_SIDE) && !side_ok(&m->side)) ||
	    ((d->use & USE_FENCE) && m->node == 0))
		return -EINVAL;
	/* the members present, in byte order: epoch node pending prop ring
	 * sent_mono_ms seq side vm */
	w_raw(&b, "{", 1);
	if (d->use & USE_EPOCH)
		w_epoch(&b, &first, "epoch", &m->epoch);
	if (d->use & USE_FENCE) {
		w_key(&b, &first, "node");
		w_u64(&b, m->node, false);
		w_bool(&b, &first, "pending", m->pending);
	}
	if (d->use & USE_PROP) {
		bool f = true;

		w_key(&b, &first, "prop");
		w_str(&b, "{");
		w_key(&b, &f, "from_n");
		w_u64(&b, m->prop.from_n, true);
		w_key(&b, &f, "proposer");
		w_u64(&b, m->prop.proposer, false);
		w_epoch(&b, &f, "to", &m->prop.to);
		w_raw(&b, "}", 1);
	}
	w_key(&b, &first, "ring");
	w_str(&b, "{\"nodeid\":");
	w_u64(&b, m->ring.nodeid, false);
	w_str(&b, ",\"seq\":");
	w_u64(&b, m->ring.seq, true);
	w_raw(&b, "}", 1);
	if (d->use & USE_LIVE) {
		w_key(&b, &first, "sent_mono_ms");
		w_i64(&b, m->sent_mono_ms);
		w_key(&b, &first, "seq");
		w_u64(&b, m->seq, true);
	}
	if (d->use & USE_SIDE)
		w_side(&b, &first, &m->side);
	if (d->use & USE_VM)
		w_word(&b, &first, "vm", m->vm);
	w_raw(&b, "}", 1);
	if (b.over)
		return -EMSGSIZE;
	*len = b.n;
	return 0;
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int peer_msg_encode(const struct fsm_msg *m, void *buf, size_t cap)
{
	const struct kind_desc *d;
	uint8_t *p = buf;
	size_t room, n;
	int rc;

	if (!m || !buf)
		return -EINVAL;
	d = kind_by_kind(m->kind);
	if (!d)
		return -EINVAL;
	if (cap < PEER_MSG_HDR_LEN)
		return -EMSGSIZE;
	room = cap - PEER_MSG_HDR_LEN;
	if (room > PEER_MSG_MAX - PEER_MSG_HDR_LEN)
		room = PEER_MSG_MAX - PEER_MSG_HDR_LEN;
	/* members sorted: one struct, one byte string (golden files) */
	rc = body_write(m, d, (char *)p + PEER_MSG_HDR_LEN, room, &n);
	if (rc < 0)
		return rc;
	memcpy(p, PEER_MSG_MAGIC, 4);
	p[4] = PEER_MSG_VERSION_MAJOR;
	p[5] = PEER_MSG_VERSION_MINOR;
	p[6] = d->wire;
	p[7] = 0;
	be32_put(p + 8, (uint32_t)n);
	return (int)(PEER_MSG_HDR_LEN + n);
}

/* ------------------------------------------------------------ decode */

struct dctx {
	struct peer_msg_error *err;
	bool strict; /* sender's minor not newer than ours: no unknowns */
};

/* "path.key" into the error's member field. */
static void ATTR_PRINTF(4, 5)
derr(struct dctx *c, const char *path, const char *key, const char *fmt, ...)
{
	char member[sizeof(((struct peer_msg_error *)0)->member)];
	va_list ap;

	if (!c->err)
		return;
	snprintf(member, sizeof(member), "%s%s%s", path, *path && *key ? "." : "",
		 key);
	snprintf(c->err->member, sizeof(c->err->member), "%s", member);
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* Required member of type t; NULL (error set) if missing or mistyped. */
static json_t *need(struct dctx *c, const json_t *obj, const char *path,
		    const char *key, json_type t, const char *want)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		derr(c, path, key, "missing (required: %s)", want);
		return NULL;
	}
	if (json_typeof(v) != t &&
	    !(t == JSON_TRUE && json_typeof(v) == JSON_FALSE)) {
		derr(c, path, key, "is %s, must be %s", type_name(v), want);
		return NULL;
	}
	return v;
}

static int only_known(struct dctx *c, const json_t *obj, const char *path,
		      const char *const *allowed, size_t n)
{
	void *it;

	for (it = json_object_iter((json_t *)obj); it;
	     it = json_object_iter_next((json_t *)obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);
		bool known = false;
		char shown[24];

		for (size_t i = 0; i < n && klen == strlen(key); i++)
			if (strcmp(allowed[i], key) == 0)
				known = true;
		if (known || !c->strict)
			continue;
		if (klen == 0)
			snprintf(shown, sizeof(shown), "\"\""); /* name it visibly */
		else
			sanitize(shown, sizeof(shown), key, klen);
		derr(c, path, shown, "unknown member (sender's minor version %d "
		     "is not newer than ours)", PEER_MSG_VERSION_MINOR);
		return -EBADMSG;
	}
	return 0;
}

static int get_u32(struct dctx *c, const json_t *obj, const char *path,
		   const char *key, uint32_t min, uint32_t *out)
{
	json_t *v = need(c, obj, path, key, JSON_INTEGER, "an integer");
	json_int_t i;

	if (!v)
		return -EBADMSG;
	i = json_integer_value(v);
	if (i < (json_int_t)min || i > (json_int_t)UINT32_MAX) {
		derr(c, path, key, "%" JSON_INTEGER_FORMAT " out of range [%" PRIu32
		     ", 4294967295]", i, min);
		return -EBADMSG;
	}
	*out = (uint32_t)i;
	return 0;
}

static int get_i64(struct dctx *c, const json_t *obj, const char *path,
		   const char *key, int64_t *out)
{
	json_t *v = need(c, obj, path, key, JSON_INTEGER, "an integer");

	if (!v)
		return -EBADMSG;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int get_bool(struct dctx *c, const json_t *obj, const char *path,
		    const char *key, bool *out)
{
	json_t *v = need(c, obj, path, key, JSON_TRUE, "a boolean");

	if (!v)
		return -EBADMSG;
	*out = json_is_true(v);
	return 0;
}

/* A string member without NUL; *len its length. */
static const char *get_str(struct dctx *c, const json_t *obj, const char *path,
			   const char *key, const char *want, size_t *len)
{
	json_t *v = need(c, obj, path, key, JSON_STRING, want);
	const char *s;

	if (!v)
		return NULL;
	s = json_string_value(v);
	*len = json_string_length(v);
	if (strlen(s) != *len) {
		derr(c, path, key, "contains a NUL character");
		return NULL;
	}
	return s;
}

/* Canonical decimal: "0" or [1-9][0-9]*, at most UINT64_MAX. */
static int get_u64(struct dctx *c, const json_t *obj, const char *path,
		   const char *key, uint64_t *out)
{
	const char *want = "a decimal string (unsigned 64-bit)";
	size_t len;
	const char *s = get_str(c, obj, path, key, want, &len);
	uint64_t v = 0;

	if (!s)
		return -EBADMSG;
	if (len == 0 || len > 20 || (len > 1 && s[0] == '0')) {
		derr(c, path, key, "must be %s without sign or leading zeros", want);
		return -EBADMSG;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9') {
			derr(c, path, key, "must be %s: only digits", want);
			return -EBADMSG;
		}
		if (v > (UINT64_MAX - d) / 10) {
			derr(c, path, key, "exceeds 18446744073709551615");
			return -EBADMSG;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int get_enum(struct dctx *c, const json_t *obj, const char *path,
		    const char *key, const char *const *tab, size_t n,
		    unsigned *out)
{
	size_t len;
	const char *s = get_str(c, obj, path, key, "a string", &len);
	char shown[24];

	if (!s)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (tab[i] && strcmp(tab[i], s) == 0) {
			*out = (unsigned)i;
			return 0;
		}
	}
	sanitize(shown, sizeof(shown), s, len);
	derr(c, path, key, "unknown value \"%s\" (one of %s..%s)", shown, tab[0],
	     tab[n - 1]);
	return -EBADMSG;
}

static const json_t *get_obj(struct dctx *c, const json_t *obj,
			     const char *path, const char *key,
			     const char *const *allowed, size_t n)
{
	json_t *v = need(c, obj, path, key, JSON_OBJECT, "an object");
	char sub[64];

	if (!v)
		return NULL;
	snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
	if (only_known(c, v, sub, allowed, n) < 0)
		return NULL;
	return v;
}

static void join(char *dst, size_t cap, const char *path, const char *key)
{
	snprintf(dst, cap, "%s%s%s", path, *path ? "." : "", key);
}

static int get_inst(struct dctx *c, const json_t *obj, const char *path,
		    const char *key, struct fsm_instance *in)
{
	const json_t *o = get_obj(c, obj, path, key, inst_members,
				  ARRAY_SIZE(inst_members));
	char sub[64];

	if (!o)
		return -EBADMSG;
	join(sub, sizeof(sub), path, key);
	if (get_u32(c, o, sub, "pid", 0, &in->pid) < 0 ||
	    get_u64(c, o, sub, "start", &in->start) < 0)
		return -EBADMSG;
	return 0;
}

static int get_epoch(struct dctx *c, const json_t *obj, const char *path,
		     const char *key, struct fsm_epoch *e)
{
	const json_t *o = get_obj(c, obj, path, key, epoch_members,
				  ARRAY_SIZE(epoch_members));
	unsigned k;
	char sub[64];

	if (!o)
		return -EBADMSG;
	join(sub, sizeof(sub), path, key);
	if (get_u64(c, o, sub, "n", &e->n) < 0 ||
	    get_enum(c, o, sub, "kind", epoch_kind_names,
		     ARRAY_SIZE(epoch_kind_names), &k) < 0 ||
	    get_u32(c, o, sub, "holder", 0, &e->holder) < 0 ||
	    get_inst(c, o, sub, "hinst", &e->hinst) < 0 ||
	    get_u32(c, o, sub, "secondary", 0, &e->secondary) < 0 ||
	    get_inst(c, o, sub, "sinst", &e->sinst) < 0)
		return -EBADMSG;
	e->kind = (enum fsm_epoch_kind)k;
	return 0;
}

static int get_side(struct dctx *c, const json_t *obj, struct fsm_side_report *s)
{
	const json_t *o = get_obj(c, obj, "", "side", side_members,
				  ARRAY_SIZE(side_members));
	unsigned mode, last, reason, run, mig;

	if (!o)
		return -EBADMSG;
	if (get_bool(c, o, "side", "present", &s->present) < 0 ||
	    get_bool(c, o, "side", "connected", &s->connected) < 0 ||
	    get_bool(c, o, "side", "alive", &s->alive) < 0 ||
	    get_inst(c, o, "side", "inst", &s->inst) < 0 ||
	    get_enum(c, o, "side", "mode", mode_names, ARRAY_SIZE(mode_names),
		     &mode) < 0 ||
	    get_enum(c, o, "side", "last_mode", mode_names,
		     ARRAY_SIZE(mode_names), &last) < 0 ||
	    get_enum(c, o, "side", "reason", reason_names,
		     ARRAY_SIZE(reason_names), &reason) < 0 ||
	    get_enum(c, o, "side", "run", run_names, ARRAY_SIZE(run_names),
		     &run) < 0 ||
	    get_enum(c, o, "side", "mig", mig_names, ARRAY_SIZE(mig_names),
		     &mig) < 0 ||
	    get_bool(c, o, "side", "colo_exit_seen", &s->colo_exit_seen) < 0 ||
	    get_bool(c, o, "side", "frozen", &s->frozen) < 0 ||
	    get_bool(c, o, "side", "failover_inflight", &s->failover_inflight) < 0)
		return -EBADMSG;
	s->mode = (enum fsm_colo_mode)mode;
	s->last_mode = (enum fsm_colo_mode)last;
	s->reason = (enum fsm_colo_reason)reason;
	s->run = (enum fsm_run_state)run;
	s->mig = (enum fsm_mig_state)mig;
	return 0;
}

static int get_prop(struct dctx *c, const json_t *obj, struct fsm_proposal *p)
{
	const json_t *o = get_obj(c, obj, "", "prop", prop_members,
				  ARRAY_SIZE(prop_members));

	if (!o)
		return -EBADMSG;
	if (get_u64(c, o, "prop", "from_n", &p->from_n) < 0 ||
	    get_u32(c, o, "prop", "proposer", 1, &p->proposer) < 0 ||
	    get_epoch(c, o, "prop", "to", &p->to) < 0)
		return -EBADMSG;
	return 0;
}

static int get_vm(struct dctx *c, const json_t *obj, char *vm)
{
	size_t len;
	const char *s = get_str(c, obj, "", "vm", "a string", &len);
	char shown[24];

	if (!s)
		return -EBADMSG;
	if (!peer_msg_vm_name_valid(s, len)) {
		sanitize(shown, sizeof(shown), s, len);
		derr(c, "", "vm", "\"%s%s\" (%zu bytes) is not a safe name "
		     "[A-Za-z0-9_.-]{1,63}, no leading '.'", shown, len >= sizeof(shown) ? "..." : "",
		     len);
		return -EBADMSG;
	}
	memcpy(vm, s, len + 1);
	return 0;
}

static int body_read(struct dctx *c, const json_t *b,
		     const struct kind_desc *d, struct fsm_msg *m)
{
	const char *allowed[8];
	size_t n = 0;
	const json_t *ring;

	allowed[n++] = "ring";
	if (d->use & USE_VM)
		allowed[n++] = "vm";
	if (d->use & USE_EPOCH)
		allowed[n++] = "epoch";
	if (d->use & USE_PROP)
		allowed[n++] = "prop";
	if (d->use & USE_SIDE)
		allowed[n++] = "side";
	if (d->use & USE_LIVE) {
		allowed[n++] = "seq";
		allowed[n++] = "sent_mono_ms";
	}
	if (d->use & USE_FENCE) {
		allowed[n++] = "node";
		allowed[n++] = "pending";
	}
	if (only_known(c, b, "", allowed, n) < 0)
		return -EBADMSG;
	m->kind = d->kind;
	ring = get_obj(c, b, "", "ring", ring_members, ARRAY_SIZE(ring_members));
	if (!ring || get_u32(c, ring, "ring", "nodeid", 0, &m->ring.nodeid) < 0 ||
	    get_u64(c, ring, "ring", "seq", &m->ring.seq) < 0)
		return -EBADMSG;
	if ((d->use & USE_VM) && get_vm(c, b, m->vm) < 0)
		return -EBADMSG;
	if ((d->use & USE_EPOCH) && get_epoch(c, b, "", "epoch", &m->epoch) < 0)
		return -EBADMSG;
	if ((d->use & USE_PROP) && get_prop(c, b, &m->prop) < 0)
		return -EBADMSG;
	if ((d->use & USE_SIDE) && get_side(c, b, &m->side) < 0)
		return -EBADMSG;
	if ((d->use & USE_LIVE) &&
	    (get_u64(c, b, "", "seq", &m->seq) < 0 ||
	     get_i64(c, b, "", "sent_mono_ms", &m->sent_mono_ms) < 0))
		return -EBADMSG;
	if ((d->use & USE_FENCE) &&
	    (get_u32(c, b, "", "node", 1, &m->node) < 0 ||
	     get_bool(c, b, "", "pending", &m->pending) < 0))
		return -EBADMSG;
	return 0;
}

/* ------------------------------------------------------------ decode: canonical bytes */

/*
 * What body_write() writes, read back without a tree: the same members in
 * the same order, no whitespace or escapes, numbers without sign (but
 * sent_mono_ms) or leading zeros, every value in range and known.  Any
 * other body (a newer minor's extra member, another encoder's spacing, a
 * bad value) goes to the tree decoder, which accepts the same JSON and
 * names what is wrong: this path only takes bodies the tree decoder takes,
 * with the same result (test_peer_msg: every kind, extremes, mutations).
 * A jansson tree per message was most of a witness's CPU in a mass
 * failover (16 % in jansson, more in malloc, against 6 % of its own).
 */
struct rbuf {
	const char *p, *end;
	bool bad;
};

static void r_lit(struct rbuf *r, const char *s)
{
	size_t n = strlen(s);

	if (r->bad || (size_t)(r->end - r->p) < n || memcmp(r->p, s, n) != 0) {
		r->bad = true;
		return;
	}
	r->p += n;
}

/* [1-9][0-9]* or 0, at most max (>= 9) */
static uint64_t r_digits(struct rbuf *r, uint64_t max)
{
	const char *s = r->p;
	uint64_t v = 0;

	if (r->bad)
		return 0;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		unsigned d = (unsigned)(*r->p - '0');

		if (v > (max - d) / 10) {
			r->bad = true;
			return 0;
		}
		v = v * 10 + d;
		r->p++;
	}
	if (r->p == s || (r->p - s > 1 && *s == '0'))
		r->bad = true;
	return v;
}

static uint32_t r_u32(struct rbuf *r, uint32_t min)
{
	uint64_t v = r_digits(r, UINT32_MAX);

	if (v < min)
		r->bad = true;
	return (uint32_t)v;
}

static uint64_t r_u64q(struct rbuf *r)
{
	uint64_t v;

	r_lit(r, "\"");
	v = r_digits(r, UINT64_MAX);
	r_lit(r, "\"");
	return v;
}

static int64_t r_i64(struct rbuf *r)
{
	uint64_t v;

	if (!r->bad && r->p < r->end && *r->p == '-') {
		r->p++;
		v = r_digits(r, (uint64_t)INT64_MAX + 1);
		if (v == 0)
			r->bad = true; /* "-0": the writer never writes it */
		return v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	}
	return (int64_t)r_digits(r, INT64_MAX);
}

static bool r_bool(struct rbuf *r)
{
	if (!r->bad && r->end - r->p >= 4 && memcmp(r->p, "true", 4) == 0) {
		r->p += 4;
		return true;
	}
	r_lit(r, "false");
	return false;
}

/* a quoted string without escapes; its bytes in *s, *len */
static void r_qstr(struct rbuf *r, const char **s, size_t *len)
{
	const char *q;

	r_lit(r, "\"");
	if (r->bad)
		return;
	for (q = r->p; q < r->end && *q != '"'; q++)
		if (*q == '\\' || (unsigned char)*q < 0x20) {
			r->bad = true;
			return;
		}
	if (q == r->end) {
		r->bad = true;
		return;
	}
	*s = r->p;
	*len = (size_t)(q - r->p);
	r->p = q + 1;
}

static unsigned r_word(struct rbuf *r, const char *const *tab, size_t n)
{
	const char *s = NULL;
	size_t len = 0;

	r_qstr(r, &s, &len);
	if (r->bad)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (tab[i] && strlen(tab[i]) == len && memcmp(tab[i], s, len) == 0)
			return (unsigned)i;
	r->bad = true;
	return 0;
}

/* a member's key: `,"key":` ("key": for the first) */
static void r_key(struct rbuf *r, bool *first, const char *key)
{
	r_lit(r, *first ? "\"" : ",\"");
	*first = false;
	r_lit(r, key);
	r_lit(r, "\":");
}

static void r_inst(struct rbuf *r, struct fsm_instance *in)
{
	r_lit(r, "{\"pid\":");
	in->pid = r_u32(r, 0);
	r_lit(r, ",\"start\":");
	in->start = r_u64q(r);
	r_lit(r, "}");
}

static void r_epoch(struct rbuf *r, struct fsm_epoch *e)
{
	r_lit(r, "{\"hinst\":");
	r_inst(r, &e->hinst);
	r_lit(r, ",\"holder\":");
	e->holder = r_u32(r, 0);
	r_lit(r, ",\"kind\":");
	e->kind = (enum fsm_epoch_kind)r_word(r, epoch_kind_names, ARRAY_SIZE(epoch_kind_names));
	r_lit(r, ",\"n\":");
	e->n = r_u64q(r);
	r_lit(r, ",\"secondary\":");
	e->secondary = r_u32(r, 0);
	r_lit(r, ",\"sinst\":");
	r_inst(r, &e->sinst);
	r_lit(r, "}");
}

static void r_side(struct rbuf *r, struct fsm_side_report *s)
{
	r_lit(r, "{\"alive\":");
	s->alive = r_bool(r);
	r_lit(r, ",\"colo_exit_seen\":");
	s->colo_exit_seen = r_bool(r);
	r_lit(r, ",\"connected\":");
	s->connected = r_bool(r);
	r_lit(r, ",\"failover_inflight\":");
	s->failover_inflight = r_bool(r);
	r_lit(r, ",\"frozen\":");
	s->frozen = r_bool(r);
	r_lit(r, ",\"inst\":");
	r_inst(r, &s->inst);
	r_lit(r, ",\"last_mode\":");
	s->last_mode = (enum fsm_colo_mode)r_word(r, mode_names, ARRAY_SIZE(mode_names));
	r_lit(r, ",\"mig\":");
	s->mig = (enum fsm_mig_state)r_word(r, mig_names, ARRAY_SIZE(mig_names));
	r_lit(r, ",\"mode\":");
	s->mode = (enum fsm_colo_mode)r_word(r, mode_names, ARRAY_SIZE(mode_names));
	r_lit(r, ",\"present\":");
	s->present = r_bool(r);
	r_lit(r, ",\"reason\":");
	s->reason = (enum fsm_colo_reason)r_word(r, reason_names, ARRAY_SIZE(reason_names));
	r_lit(r, ",\"run\":");
	s->run = (enum fsm_run_state)r_word(r, run_names, ARRAY_SIZE(run_names));
	r_lit(r, "}");
}

/* true: body was canonical and m holds it; false: m is garbage (the
 * caller clears it and asks the tree decoder) */
static bool canon_read(const char *body, size_t len, const struct kind_desc *d,
		       struct fsm_msg *m)
{
	struct rbuf r = { .p = body, .end = body + len };
	bool first = true;

	m->kind = d->kind;
	r_lit(&r, "{");
	if (d->use & USE_EPOCH) {
		r_key(&r, &first, "epoch");
		r_epoch(&r, &m->epoch);
	}
	if (d->use & USE_FENCE) {
		r_key(&r, &first, "node");
		m->node = r_u32(&r, 1);
		r_key(&r, &first, "pending");
		m->pending = r_bool(&r);
	}
	if (d->use & USE_PROP) {
		r_key(&r, &first, "prop");
		r_lit(&r, "{\"from_n\":");
		m->prop.from_n = r_u64q(&r);
		r_lit(&r, ",\"proposer\":");
		m->prop.proposer = r_u32(&r, 1);
		r_lit(&r, ",\"to\":");
		r_epoch(&r, &m->prop.to);
		r_lit(&r, "}");
	}
	r_key(&r, &first, "ring");
	r_lit(&r, "{\"nodeid\":");
	m->ring.nodeid = r_u32(&r, 0);
	r_lit(&r, ",\"seq\":");
	m->ring.seq = r_u64q(&r);
	r_lit(&r, "}");
	if (d->use & USE_LIVE) {
		r_key(&r, &first, "sent_mono_ms");
		m->sent_mono_ms = r_i64(&r);
		r_key(&r, &first, "seq");
		m->seq = r_u64q(&r);
	}
	if (d->use & USE_SIDE) {
		r_key(&r, &first, "side");
		r_side(&r, &m->side);
	}
	if (d->use & USE_VM) {
		const char *s = NULL;
		size_t n = 0;

		r_key(&r, &first, "vm");
		r_qstr(&r, &s, &n);
		if (!r.bad && peer_msg_vm_name_valid(s, n)) {
			memcpy(m->vm, s, n);
			m->vm[n] = '\0';
		} else {
			r.bad = true;
		}
	}
	r_lit(&r, "}");
	return !r.bad && r.p == r.end;
}

int peer_msg_peek(const void *buf, size_t len, struct peer_msg_header *h,
		  struct peer_msg_error *err)
{
	const uint8_t *p = buf;
	uint64_t total;

	memset(h, 0, sizeof(*h));
	if (!p || len < PEER_MSG_HDR_LEN) {
		err_set(err, "header", "%zu bytes, shorter than the %d-byte header",
			p ? len : 0, PEER_MSG_HDR_LEN);
		return -EBADMSG;
	}
	if (memcmp(p, PEER_MSG_MAGIC, 4) != 0) {
		err_set(err, "header.magic", "%02x %02x %02x %02x, not \"%s\"",
			p[0], p[1], p[2], p[3], PEER_MSG_MAGIC);
		return -EBADMSG;
	}
	h->major = p[4];
	h->minor = p[5];
	h->kind = p[6];
	h->flags = p[7];
	h->body_len = be32_get(p + 8);
	if (h->major != PEER_MSG_VERSION_MAJOR) {
		err_set(err, "header.major", "version %u.%u, this build speaks %d.x",
			h->major, h->minor, PEER_MSG_VERSION_MAJOR);
		return -EPROTONOSUPPORT;
	}
	total = (uint64_t)PEER_MSG_HDR_LEN + h->body_len;
	if (total > PEER_MSG_MAX || len > PEER_MSG_MAX) {
		err_set(err, "header.length", "%" PRIu64 " bytes declared, %zu "
			"delivered: more than PEER_MSG_MAX %d", total, len,
			PEER_MSG_MAX);
		return -EMSGSIZE;
	}
	if (total != len) {
		err_set(err, "header.length", "body_len %" PRIu32 " says %" PRIu64
			" bytes, %zu delivered", h->body_len, total, len);
		return -EBADMSG;
	}
	return 0;
}

static int decode(const void *buf, size_t len, struct fsm_msg *out,
		  struct peer_msg_error *err, bool fast)
{
	struct dctx c = { .err = err };
	const struct kind_desc *d;
	struct peer_msg_header h;
	json_error_t jerr;
	json_t *body;
	int rc;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	rc = peer_msg_peek(buf, len, &h, err);
	if (rc < 0)
		return rc;
	c.strict = h.minor <= PEER_MSG_VERSION_MINOR;
	d = kind_by_wire(h.kind);
	if (!d) {
		err_set(err, "header.kind", "unknown kind %u from version %u.%u",
			h.kind, h.major, h.minor);
		return c.strict ? -EBADMSG : -ENOMSG;
	}
	/* 1.0 defines no flag: a newer minor's flags are advisory only */
	if (h.flags && c.strict) {
		err_set(err, "header.flags", "0x%02x: no flag is defined in %u.%u",
			h.flags, h.major, h.minor);
		return -EBADMSG;
	}
	if (fast && canon_read((const char *)buf + PEER_MSG_HDR_LEN, h.body_len, d, out))
		return 0;
	memset(out, 0, sizeof(*out));
	/* NULs allowed by the parser so the check can name the member */
	body = json_loadb((const char *)buf + PEER_MSG_HDR_LEN, h.body_len,
			  JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!body) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return -ENOMEM;
		err_set(err, "body", "invalid JSON at body byte %d (line %d, "
			"column %d): %.100s", jerr.position, jerr.line,
			jerr.column, jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(body)) {
		err_set(err, "body", "is %s, must be an object", type_name(body));
		json_decref(body);
		return -EBADMSG;
	}
	rc = body_read(&c, body, d, out);
	json_decref(body);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int peer_msg_decode(const void *buf, size_t len, struct fsm_msg *out,
		    struct peer_msg_error *err)
{
	return decode(buf, len, out, err, true);
}

int peer_msg_decode_tree(const void *buf, size_t len, struct fsm_msg *out,
			 struct peer_msg_error *err)
{
	return decode(buf, len, out, err, false);
}

/* ------------------------------------------------------------ batch */

static void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t be16_get(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

bool peer_batch_is(const void *buf, size_t len)
{
	return buf && len >= 4 && memcmp(buf, PEER_BATCH_MAGIC, 4) == 0;
}

int peer_batch_init(void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (!p || cap < PEER_MSG_HDR_LEN)
		return -EMSGSIZE;
	memcpy(p, PEER_BATCH_MAGIC, 4);
	p[4] = PEER_BATCH_VERSION_MAJOR;
	p[5] = PEER_BATCH_VERSION_MINOR;
	be16_put(p + 6, 0);
	be32_put(p + 8, 0);
	return PEER_MSG_HDR_LEN;
}

unsigned peer_batch_count(const void *buf)
{
	return buf ? be16_get((const uint8_t *)buf + 6) : 0;
}

int peer_batch_add(void *buf, size_t cap, size_t len, const void *msg,
		   size_t msg_len)
{
	uint8_t *p = buf;
	const uint8_t *q = msg;
	unsigned count;

	if (!p || !q || len < PEER_MSG_HDR_LEN || len > cap ||
	    msg_len < PEER_MSG_HDR_LEN || msg_len > PEER_MSG_MAX ||
	    memcmp(q, PEER_MSG_MAGIC, 4) != 0 ||
	    (uint64_t)PEER_MSG_HDR_LEN + be32_get(q + 8) != msg_len)
		return -EINVAL;
	count = be16_get(p + 6);
	if (cap > PEER_BATCH_MAX)
		cap = PEER_BATCH_MAX;
	if (msg_len > cap - len || count >= PEER_BATCH_MAX_MSGS)
		return -EMSGSIZE;
	memcpy(p + len, q, msg_len);
	len += msg_len;
	be16_put(p + 6, (uint16_t)(count + 1));
	be32_put(p + 8, (uint32_t)(len - PEER_MSG_HDR_LEN));
	return (int)len;
}

int peer_batch_compress(const void *buf, size_t len, void *out, size_t cap)
{
	const uint8_t *p = buf;
	uint8_t *o = out;
	z_stream zs = { 0 };
	uLong zlen;
	int rc;

	if (!p || !o || len < PEER_MSG_HDR_LEN || len > PEER_BATCH_MAX ||
	    memcmp(p, PEER_BATCH_MAGIC, 4) != 0 || p[4] != PEER_BATCH_VERSION_MAJOR ||
	    (uint64_t)PEER_MSG_HDR_LEN + be32_get(p + 8) != len)
		return -EINVAL;
	if (cap > PEER_BATCH_MAX)
		cap = PEER_BATCH_MAX;
	if (cap <= PEER_BATCH_Z_HDR_LEN)
		return -EMSGSIZE;
	/* Level 1: the body is repetitive JSON and speed matters more.  An 8 KiB
	 * window (memLevel 7) still holds dozens of messages, so it compresses
	 * a STATE batch as well as zlib's defaults do, with ~100 KiB of working
	 * memory instead of ~270: at 500 VMs every liveness tick compresses a
	 * slice of the state round, and the defaults' 64 KiB blocks were
	 * mapped afresh for each batch. */
	rc = deflateInit2(&zs, 1, Z_DEFLATED, PEER_BATCH_Z_WBITS, 7, Z_DEFAULT_STRATEGY);
	if (rc == Z_MEM_ERROR)
		return -ENOMEM;
	if (rc != Z_OK)
		return -EINVAL;
	zs.next_in = (Bytef *)(uintptr_t)(p + PEER_MSG_HDR_LEN);
	zs.avail_in = (uInt)(len - PEER_MSG_HDR_LEN);
	zs.next_out = o + PEER_BATCH_Z_HDR_LEN;
	zs.avail_out = (uInt)(cap - PEER_BATCH_Z_HDR_LEN);
	rc = deflate(&zs, Z_FINISH);
	zlen = zs.total_out;
	deflateEnd(&zs);
	if (rc == Z_MEM_ERROR)
		return -ENOMEM;
	if (rc != Z_STREAM_END || PEER_BATCH_Z_HDR_LEN + (size_t)zlen >= len)
		return -EMSGSIZE;
	memcpy(o, PEER_BATCH_MAGIC, 4);
	o[4] = PEER_BATCH_Z_MAJOR;
	o[5] = 0;
	memcpy(o + 6, p + 6, 2); /* count */
	be32_put(o + 8, (uint32_t)zlen);
	be32_put(o + 12, (uint32_t)(len - PEER_MSG_HDR_LEN));
	return (int)(PEER_BATCH_Z_HDR_LEN + zlen);
}

/* A compressed batch inflated into a major-1 batch in *plain (malloc'd). */
static int batch_inflate(const uint8_t *p, size_t len, uint8_t **plain, size_t *plain_len,
			 struct peer_msg_error *err)
{
	uint32_t body = be32_get(p + 8), raw;
	z_stream z;
	uint8_t *b;
	int zrc;

	if (len < PEER_BATCH_Z_HDR_LEN) {
		err_set(err, "batch.header", "%zu bytes, a compressed batch header is %d", len,
			PEER_BATCH_Z_HDR_LEN);
		return -EBADMSG;
	}
	if ((uint64_t)PEER_BATCH_Z_HDR_LEN + body != len) {
		err_set(err, "batch.length", "body_len says %" PRIu64 " bytes, %zu delivered",
			(uint64_t)PEER_BATCH_Z_HDR_LEN + body, len);
		return -EBADMSG;
	}
	raw = be32_get(p + 12);
	if (raw < PEER_MSG_HDR_LEN || raw > PEER_BATCH_MAX - PEER_MSG_HDR_LEN) {
		err_set(err, "batch.length", "inflates to %" PRIu32 " bytes, must be %d..%d",
			raw, PEER_MSG_HDR_LEN, PEER_BATCH_MAX - PEER_MSG_HDR_LEN);
		return -EMSGSIZE;
	}
	b = malloc((size_t)PEER_MSG_HDR_LEN + raw);
	if (!b)
		return -ENOMEM;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK) {
		free(b);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)(p + PEER_BATCH_Z_HDR_LEN);
	z.avail_in = body;
	z.next_out = b + PEER_MSG_HDR_LEN;
	z.avail_out = raw;
	zrc = inflate(&z, Z_FINISH);
	/* exactly raw bytes, the whole stream, nothing after it */
	if (zrc != Z_STREAM_END || z.avail_out != 0 || z.avail_in != 0) {
		err_set(err, "batch.body", "zlib stream %s (%s), %u of %" PRIu32
			" bytes inflated, %u bytes left", zrc == Z_STREAM_END ? "short" :
			zrc == Z_BUF_ERROR ? "longer than raw_len or cut" : "corrupt",
			z.msg ? z.msg : "no detail", raw - z.avail_out, raw, z.avail_in);
		inflateEnd(&z);
		free(b);
		return zrc == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	}
	inflateEnd(&z);
	memcpy(b, PEER_BATCH_MAGIC, 4);
	b[4] = PEER_BATCH_VERSION_MAJOR;
	b[5] = PEER_BATCH_VERSION_MINOR;
	memcpy(b + 6, p + 6, 2);
	be32_put(b + 8, raw);
	*plain = b;
	*plain_len = (size_t)PEER_MSG_HDR_LEN + raw;
	return 0;
}

int peer_batch_decode(const void *buf, size_t len, struct fsm_msg *out,
		      unsigned cap, unsigned *n, struct peer_msg_error *err)
{
	const uint8_t *p = buf;
	struct peer_msg_error ierr;
	unsigned count, k = 0, i;
	uint64_t total;
	size_t off;
	int rc = 0;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!out || !n)
		return -EINVAL;
	*n = 0;
	if (!p || len < PEER_MSG_HDR_LEN || memcmp(p, PEER_BATCH_MAGIC, 4) != 0) {
		err_set(err, "batch.header", "%zu bytes, not a \"%s\" batch", p ? len : 0,
			PEER_BATCH_MAGIC);
		return -EBADMSG;
	}
	if (p[4] == PEER_BATCH_Z_MAJOR) {
		uint8_t *plain = NULL;
		size_t plain_len = 0;

		if (len > PEER_BATCH_MAX) {
			err_set(err, "batch.length", "%zu bytes delivered: more than "
				"PEER_BATCH_MAX %d", len, PEER_BATCH_MAX);
			return -EMSGSIZE;
		}
		rc = batch_inflate(p, len, &plain, &plain_len, err);
		if (rc)
			return rc;
		rc = peer_batch_decode(plain, plain_len, out, cap, n, err);
		free(plain);
		return rc;
	}
	if (p[4] != PEER_BATCH_VERSION_MAJOR) {
		err_set(err, "batch.header", "batch version %u.%u, this build speaks %d.x and %d.x",
			p[4], p[5], PEER_BATCH_VERSION_MAJOR, PEER_BATCH_Z_MAJOR);
		return -EPROTONOSUPPORT;
	}
	count = be16_get(p + 6);
	total = (uint64_t)PEER_MSG_HDR_LEN + be32_get(p + 8);
	if (total > PEER_BATCH_MAX || len > PEER_BATCH_MAX) {
		err_set(err, "batch.length", "%" PRIu64 " bytes declared, %zu delivered: "
			"more than PEER_BATCH_MAX %d", total, len, PEER_BATCH_MAX);
		return -EMSGSIZE;
	}
	if (total != len) {
		err_set(err, "batch.length", "body_len says %" PRIu64 " bytes, %zu delivered",
			total, len);
		return -EBADMSG;
	}
	if (count == 0 || count > PEER_BATCH_MAX_MSGS) {
		err_set(err, "batch.count", "%u messages, must be 1..%d", count,
			PEER_BATCH_MAX_MSGS);
		return -EBADMSG;
	}
	if (cap < count) {
		err_set(err, "batch.count", "%u messages, room for %u", count, cap);
		return -EINVAL;
	}
	off = PEER_MSG_HDR_LEN;
	for (i = 0; i < count; i++) {
		size_t ilen;

		if (len - off < PEER_MSG_HDR_LEN) {
			err_set(err, "batch.length", "message %u of %u starts %zu bytes "
				"before the end", i, count, len - off);
			rc = -EBADMSG;
			break;
		}
		/* the inner header says how long it is; peer_msg_decode then
		 * checks that length against PEER_MSG_MAX and the body */
		ilen = (size_t)PEER_MSG_HDR_LEN + be32_get(p + off + 8);
		if (ilen > len - off)
			ilen = len - off; /* decode reports the mismatch */
		rc = peer_msg_decode(p + off, ilen, &out[k], &ierr);
		if (rc == -ENOMSG) {
			rc = 0; /* a newer peer's kind: skipped, as alone */
		} else if (rc) {
			char member[sizeof(err->member)];

			snprintf(member, sizeof(member), "batch[%u].%.*s", i,
				 (int)(sizeof(member) - 13), ierr.member);
			err_set(err, member, "%s", ierr.msg);
			break;
		} else {
			k++;
		}
		off += ilen;
	}
	if (!rc && off != len) {
		err_set(err, "batch.count", "%zu bytes after message %u of %u", len - off,
			count, count);
		rc = -EBADMSG;
	}
	if (rc) {
		memset(out, 0, sizeof(*out) * count);
		return rc;
	}
	*n = k;
	return 0;
}
