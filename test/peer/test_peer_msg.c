/*
 * test_peer_msg.c: the CPG wire format of struct fsm_msg (peer_msg.c).
 *
 * Round trips with extreme values, every truncation, every header byte
 * corrupted, length and size limits, versioning (newer minor accepted with
 * extra members, other major refused), every member missing or of every
 * wrong JSON type, hostile VM names, golden bytes (test/data/peer/) and a
 * seeded mutation loop.  Must not: depend on the cwd (data via TEST_DATA).
 *
 * PEER_MSG_GOLDEN_UPDATE=1 rewrites the golden files (review the diff!).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "peer_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_KINDS 7

static const enum fsm_msg_kind all_kinds[N_KINDS] = {
	FSM_MSG_LIVENESS, FSM_MSG_STATE, FSM_MSG_SYNC_DONE, FSM_MSG_PROPOSE,
	FSM_MSG_ACK, FSM_MSG_NACK, FSM_MSG_FENCING,
};

static const char name63[] =
	"Az09_.-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123";

/* ------------------------------------------------------------ helpers */

static void inst_fill(struct fsm_instance *in, bool max)
{
	in->pid = max ? UINT32_MAX : 0;
	in->start = max ? UINT64_MAX : 0;
}

static void epoch_fill(struct fsm_epoch *e, bool max)
{
	e->n = max ? UINT64_MAX : 0;
	e->kind = max ? FSM_EPOCH_SOLO : FSM_EPOCH_NONE;
	e->holder = max ? UINT32_MAX : 0;
	inst_fill(&e->hinst, max);
	e->secondary = max ? UINT32_MAX : 0;
	inst_fill(&e->sinst, max);
}

/* Every field the kind uses at its minimum or its maximum. */
static void msg_fill(struct fsm_msg *m, enum fsm_msg_kind k, bool max)
{
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->ring.nodeid = max ? UINT32_MAX : 0;
	m->ring.seq = max ? UINT64_MAX : 0;
	switch (k) {
	case FSM_MSG_LIVENESS:
		m->seq = max ? UINT64_MAX : 0;
		m->sent_mono_ms = max ? INT64_MAX : INT64_MIN;
		break;
	case FSM_MSG_SYNC_DONE:
		break;
	case FSM_MSG_FENCING:
		m->node = max ? UINT32_MAX : 1;
		m->pending = max;
		break;
	case FSM_MSG_STATE:
		strcpy(m->vm, max ? name63 : "a");
		epoch_fill(&m->epoch, max);
		m->side.present = m->side.connected = m->side.alive = max;
		inst_fill(&m->side.inst, max);
		m->side.mode = max ? FSM_MODE_SECONDARY : FSM_MODE_UNKNOWN;
		m->side.last_mode = max ? FSM_MODE_SECONDARY : FSM_MODE_UNKNOWN;
		m->side.reason = max ? FSM_REASON_PROCESSING : FSM_REASON_NONE;
		m->side.run = max ? FSM_RUN_PAUSED : FSM_RUN_UNKNOWN;
		m->side.mig = max ? FSM_MIG_FAILED : FSM_MIG_UNKNOWN;
		m->side.colo_exit_seen = m->side.frozen = max;
		m->side.failover_inflight = max;
		break;
	case FSM_MSG_PROPOSE:
	case FSM_MSG_ACK:
	case FSM_MSG_NACK:
		strcpy(m->vm, max ? name63 : "a");
		m->prop.from_n = max ? UINT64_MAX : 0;
		m->prop.proposer = max ? UINT32_MAX : 1;
		epoch_fill(&m->prop.to, max);
		if (k != FSM_MSG_PROPOSE)
			epoch_fill(&m->epoch, !max); /* differs from prop.to */
		break;
	}
}

/* A realistic message of each kind, for the golden files. */
static void msg_typical(struct fsm_msg *m, enum fsm_msg_kind k)
{
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->ring.nodeid = 1;
	m->ring.seq = 28;
	switch (k) {
	case FSM_MSG_LIVENESS:
		m->seq = 4711;
		m->sent_mono_ms = 123456789;
		break;
	case FSM_MSG_SYNC_DONE:
		break;
	case FSM_MSG_FENCING:
		m->node = 2;
		m->pending = true;
		break;
	case FSM_MSG_STATE:
		strcpy(m->vm, "web1");
		m->epoch = (struct fsm_epoch){ .n = 3, .kind = FSM_EPOCH_COLO,
			.holder = 1, .hinst = { 1234, 987654321 },
			.secondary = 2, .sinst = { 5678, 987654999 } };
		m->side = (struct fsm_side_report){ .present = true,
			.connected = true, .alive = true,
			.inst = { 1234, 987654321 }, .mode = FSM_MODE_PRIMARY,
			.last_mode = FSM_MODE_NONE, .reason = FSM_REASON_NONE,
			.run = FSM_RUN_RUNNING, .mig = FSM_MIG_COLO };
		break;
	case FSM_MSG_PROPOSE:
	case FSM_MSG_ACK:
	case FSM_MSG_NACK:
		strcpy(m->vm, "web1");
		m->prop.from_n = 3;
		m->prop.proposer = 1;
		m->prop.to = (struct fsm_epoch){ .n = 4, .kind = FSM_EPOCH_SOLO,
			.holder = 1, .hinst = { 1234, 987654321 } };
		if (k != FSM_MSG_PROPOSE)
			m->epoch = (struct fsm_epoch){ .n = 3,
				.kind = FSM_EPOCH_COLO, .holder = 1,
				.hinst = { 1234, 987654321 }, .secondary = 2,
				.sinst = { 5678, 987654999 } };
		break;
	}
}

static int enc(const struct fsm_msg *m, uint8_t *buf)
{
	int n = peer_msg_encode(m, buf, PEER_MSG_MAX);

	assert_true(n > PEER_MSG_HDR_LEN);
	assert_true(n <= PEER_MSG_MAX);
	return n;
}

/* Decodes from an exact-size heap copy, so ASan sees any over-read. */
static int dec(const uint8_t *buf, size_t len, struct fsm_msg *m,
	       struct peer_msg_error *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (!buf) { /* NULL stays NULL: the decoder must refuse it */
		free(copy);
		return peer_msg_decode(NULL, len, m, err);
	}
	memcpy(copy, buf, len);
	rc = peer_msg_decode(copy, len, m, err);
	free(copy);
	return rc;
}

/* A raw message: header fields and body text as given. */
static size_t raw(uint8_t *buf, uint8_t major, uint8_t minor, uint8_t kind,
		  uint8_t flags, const char *body)
{
	size_t blen = strlen(body);

	assert_true(PEER_MSG_HDR_LEN + blen <= PEER_MSG_MAX + 64);
	memcpy(buf, PEER_MSG_MAGIC, 4);
	buf[4] = major;
	buf[5] = minor;
	buf[6] = kind;
	buf[7] = flags;
	buf[8] = (uint8_t)(blen >> 24);
	buf[9] = (uint8_t)(blen >> 16);
	buf[10] = (uint8_t)(blen >> 8);
	buf[11] = (uint8_t)blen;
	memcpy(buf + PEER_MSG_HDR_LEN, body, blen);
	return PEER_MSG_HDR_LEN + blen;
}

static void expect_fail(const uint8_t *buf, size_t len, int code,
			const char *member)
{
	struct peer_msg_error err;
	struct fsm_msg m, zero;
	int rc;

	memset(&zero, 0, sizeof(zero));
	rc = dec(buf, len, &m, &err);
	if (rc != code || (member && strcmp(err.member, member) != 0))
		print_message("# got %d member '%s' msg '%s', want %d '%s'\n", rc,
			      err.member, err.msg, code, member ? member : "*");
	assert_int_equal(rc, code);
	if (member)
		assert_string_equal(err.member, member);
	assert_true(err.member[0] != '\0');
	assert_true(err.msg[0] != '\0');
	assert_memory_equal(&m, &zero, sizeof(m)); /* nothing half-filled */
}

/* Body text of the encoding of m. */
static char *body_text(const struct fsm_msg *m)
{
	uint8_t buf[PEER_MSG_MAX];
	int n = enc(m, buf);
	char *s = malloc((size_t)n - PEER_MSG_HDR_LEN + 1);

	assert_non_null(s);
	memcpy(s, buf + PEER_MSG_HDR_LEN, (size_t)n - PEER_MSG_HDR_LEN);
	s[n - PEER_MSG_HDR_LEN] = '\0';
	return s;
}

static size_t raw_json(uint8_t *buf, uint8_t minor, uint8_t kind,
		       const json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	size_t n;

	assert_non_null(s);
	n = raw(buf, PEER_MSG_VERSION_MAJOR, minor, kind, 0, s);
	free(s);
	return n;
}

/* ------------------------------------------------------------ tests */

static void test_kind_names(void **state)
{
	(void)state;
	for (unsigned i = 0; i < N_KINDS; i++) {
		enum fsm_msg_kind k = all_kinds[i], back;
		uint8_t w = peer_msg_kind_to_wire(k);

		assert_int_equal(w, i + 1); /* codes are fixed: 1..7 */
		assert_int_equal(peer_msg_kind_from_wire(w, &back), 0);
		assert_int_equal(back, k);
		assert_string_not_equal(peer_msg_kind_to_str(k), "?");
	}
	assert_string_equal(peer_msg_kind_to_str(FSM_MSG_SYNC_DONE), "sync_done");
	assert_string_equal(peer_msg_kind_to_str((enum fsm_msg_kind)99), "?");
	assert_int_equal(peer_msg_kind_to_wire((enum fsm_msg_kind)99), 0);
	assert_int_equal(peer_msg_kind_from_wire(0, &(enum fsm_msg_kind){0}), -1);
	assert_int_equal(peer_msg_kind_from_wire(8, &(enum fsm_msg_kind){0}), -1);
}

static void roundtrip(const struct fsm_msg *m)
{
	uint8_t a[PEER_MSG_MAX], b[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct fsm_msg out;
	int n, n2, rc;

	n = enc(m, a);
	rc = dec(a, (size_t)n, &out, &err);
	if (rc)
		print_message("# %s: %s: %s\n", peer_msg_kind_to_str(m->kind),
			      err.member, err.msg);
	assert_int_equal(rc, 0);
	assert_memory_equal(&out, m, sizeof(out));
	/* canonical: the decoded struct encodes to the same bytes */
	n2 = enc(&out, b);
	assert_int_equal(n, n2);
	assert_memory_equal(a, b, (size_t)n);
}

static void test_roundtrip_extremes(void **state)
{
	struct fsm_msg m;

	(void)state;
	for (unsigned i = 0; i < N_KINDS; i++) {
		for (int max = 0; max <= 1; max++) {
			msg_fill(&m, all_kinds[i], max);
			roundtrip(&m);
		}
		msg_typical(&m, all_kinds[i]);
		roundtrip(&m);
	}
	/* mixed extremes in one message */
	msg_fill(&m, FSM_MSG_LIVENESS, true);
	m.ring.nodeid = 0;
	m.seq = 0;
	m.sent_mono_ms = -1;
	roundtrip(&m);
}

/* Every value of every enum travels. */
static void test_roundtrip_enums(void **state)
{
	struct fsm_msg m;

	(void)state;
	msg_typical(&m, FSM_MSG_STATE);
	for (int k = FSM_EPOCH_NONE; k <= FSM_EPOCH_SOLO; k++) {
		m.epoch.kind = (enum fsm_epoch_kind)k;
		roundtrip(&m);
	}
	for (int v = FSM_MODE_UNKNOWN; v <= FSM_MODE_SECONDARY; v++) {
		m.side.mode = (enum fsm_colo_mode)v;
		m.side.last_mode = (enum fsm_colo_mode)(FSM_MODE_SECONDARY - v);
		roundtrip(&m);
	}
	for (int v = FSM_REASON_NONE; v <= FSM_REASON_PROCESSING; v++) {
		m.side.reason = (enum fsm_colo_reason)v;
		roundtrip(&m);
	}
	for (int v = FSM_RUN_UNKNOWN; v <= FSM_RUN_PAUSED; v++) {
		m.side.run = (enum fsm_run_state)v;
		roundtrip(&m);
	}
	for (int v = FSM_MIG_UNKNOWN; v <= FSM_MIG_FAILED; v++) {
		m.side.mig = (enum fsm_mig_state)v;
		roundtrip(&m);
	}
	/* each boolean alone */
	bool *bools[] = { &m.side.present, &m.side.connected, &m.side.alive,
			  &m.side.colo_exit_seen, &m.side.frozen,
			  &m.side.failover_inflight };
	for (unsigned i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		msg_fill(&m, FSM_MSG_STATE, false);
		*bools[i] = true;
		roundtrip(&m);
	}
}

/* Fields a kind does not use are not sent: they decode as zero. */
static void test_unused_fields_dropped(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct fsm_msg m, out, want;

	(void)state;
	msg_fill(&m, FSM_MSG_STATE, true);
	m.kind = FSM_MSG_LIVENESS;
	m.seq = 7;
	m.node = 9;
	assert_int_equal(dec(buf, (size_t)enc(&m, buf), &out, &err), 0);
	memset(&want, 0, sizeof(want));
	want.kind = FSM_MSG_LIVENESS;
	want.ring = m.ring;
	want.seq = 7;
	assert_memory_equal(&out, &want, sizeof(out));
}

static void test_encode_refuses(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct fsm_msg m;
	int n;

	(void)state;
	msg_typical(&m, FSM_MSG_STATE);
	n = peer_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	/* exact capacity fits, one byte less does not */
	assert_int_equal(peer_msg_encode(&m, buf, (size_t)n), n);
	assert_int_equal(peer_msg_encode(&m, buf, (size_t)n - 1), -EMSGSIZE);
	assert_int_equal(peer_msg_encode(&m, buf, 3), -EMSGSIZE);
	assert_int_equal(peer_msg_encode(NULL, buf, sizeof(buf)), -EINVAL);

	m.kind = (enum fsm_msg_kind)99;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_STATE);
	m.side.mig = (enum fsm_mig_state)6;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_STATE);
	m.side.mode = (enum fsm_colo_mode)-1;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_STATE);
	m.epoch.kind = (enum fsm_epoch_kind)3;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_PROPOSE);
	m.prop.to.kind = (enum fsm_epoch_kind)3;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_ACK);
	m.prop.proposer = 0;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	msg_typical(&m, FSM_MSG_FENCING);
	m.node = 0;
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* names: unsafe, empty, not NUL-terminated */
	msg_typical(&m, FSM_MSG_NACK);
	strcpy(m.vm, "../x");
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.vm[0] = '\0';
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	memset(m.vm, 'a', sizeof(m.vm));
	assert_int_equal(peer_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* but LIVENESS ignores the name */
	m.kind = FSM_MSG_LIVENESS;
	n = peer_msg_encode(&m, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(peer_msg_decode(buf, (size_t)n, NULL, NULL), -EINVAL);
}

static void test_truncated_every_length(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct fsm_msg m;

	(void)state;
	for (unsigned i = 0; i < N_KINDS; i++) {
		msg_fill(&m, all_kinds[i], true);
		int n = enc(&m, buf);

		for (int len = 0; len < n; len++)
			expect_fail(buf, (size_t)len, -EBADMSG,
				    len < PEER_MSG_HDR_LEN ? "header" :
				    "header.length");
		/*
		 * The same truncations with body_len fixed up, so each one is
		 * a complete message whose JSON is cut: refused by the parser.
		 */
		for (int len = PEER_MSG_HDR_LEN; len < n; len++) {
			uint32_t bl = (uint32_t)(len - PEER_MSG_HDR_LEN);

			buf[8] = (uint8_t)(bl >> 24);
			buf[9] = (uint8_t)(bl >> 16);
			buf[10] = (uint8_t)(bl >> 8);
			buf[11] = (uint8_t)bl;
			expect_fail(buf, (size_t)len, -EBADMSG, "body");
		}
	}
	expect_fail(NULL, 0, -EBADMSG, "header");
}

static void test_header_corrupt(void **state)
{
	uint8_t buf[PEER_MSG_MAX], bad[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct fsm_msg m, out;

	(void)state;
	for (unsigned k = 0; k < N_KINDS; k++) {
		msg_typical(&m, all_kinds[k]);
		int n = enc(&m, buf);

		for (int byte = 0; byte < PEER_MSG_HDR_LEN; byte++) {
			for (int v = 0; v < 256; v++) {
				int rc;

				if (v == buf[byte])
					continue;
				memcpy(bad, buf, (size_t)n);
				bad[byte] = (uint8_t)v;
				rc = dec(bad, (size_t)n, &out, &err);
				switch (byte) {
				case 0: case 1: case 2: case 3:
					assert_int_equal(rc, -EBADMSG);
					assert_string_equal(err.member, "header.magic");
					break;
				case 4:
					assert_int_equal(rc, -EPROTONOSUPPORT);
					assert_string_equal(err.member, "header.major");
					break;
				case 5: /* any minor of major 1 is accepted */
					assert_int_equal(rc, 0);
					assert_memory_equal(&out, &m, sizeof(m));
					break;
				case 6:
					/* ACK and NACK carry the same members */
					if ((buf[6] == PEER_WIRE_ACK && v == PEER_WIRE_NACK) ||
					    (buf[6] == PEER_WIRE_NACK && v == PEER_WIRE_ACK)) {
						assert_int_equal(rc, 0);
						assert_int_equal(out.kind, v == PEER_WIRE_ACK ?
								 FSM_MSG_ACK : FSM_MSG_NACK);
					} else if (v >= 1 && v <= N_KINDS) {
						/* another kind: its members do not fit */
						assert_int_equal(rc, -EBADMSG);
						assert_string_not_equal(err.member, "header.kind");
					} else {
						assert_int_equal(rc, -EBADMSG);
						assert_string_equal(err.member, "header.kind");
					}
					break;
				case 7:
					assert_int_equal(rc, -EBADMSG);
					assert_string_equal(err.member, "header.flags");
					break;
				default:
					assert_true(rc == -EBADMSG || rc == -EMSGSIZE);
					assert_string_equal(err.member, "header.length");
					break;
				}
			}
		}
	}
}

static void test_body_length(void **state)
{
	uint8_t buf[PEER_MSG_MAX + 64];
	struct fsm_msg m;
	int n;

	(void)state;
	msg_typical(&m, FSM_MSG_PROPOSE);
	n = enc(&m, buf);
	/* declared one more / one less than delivered */
	buf[11]++;
	expect_fail(buf, (size_t)n, -EBADMSG, "header.length");
	buf[11] -= 2;
	expect_fail(buf, (size_t)n, -EBADMSG, "header.length");
	buf[11]++;
	/* trailing bytes after the declared body */
	buf[n] = ' ';
	expect_fail(buf, (size_t)n + 1, -EBADMSG, "header.length");
	/* zero body */
	memset(buf + 8, 0, 4);
	expect_fail(buf, PEER_MSG_HDR_LEN, -EBADMSG, "body");
	/* huge declared length */
	memset(buf + 8, 0xff, 4);
	expect_fail(buf, (size_t)n, -EMSGSIZE, "header.length");
}

static void test_oversized(void **state)
{
	static uint8_t buf[PEER_MSG_MAX + 64];
	static char body[PEER_MSG_MAX + 64];
	struct peer_msg_error err;
	struct fsm_msg m, out;
	size_t len, pad;
	int rc;

	(void)state;
	/* exactly PEER_MSG_MAX (padded with JSON whitespace) decodes */
	strcpy(body, "{\"ring\":{\"nodeid\":1,\"seq\":\"2\"}");
	pad = PEER_MSG_MAX - PEER_MSG_HDR_LEN - strlen(body) - 1;
	memset(body + strlen(body), ' ', pad);
	strcpy(body + strlen(body), "}");
	len = raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0, body);
	assert_int_equal(len, PEER_MSG_MAX);
	rc = dec(buf, len, &out, &err);
	assert_int_equal(rc, 0);
	memset(&m, 0, sizeof(m));
	m.kind = FSM_MSG_SYNC_DONE;
	m.ring.nodeid = 1;
	m.ring.seq = 2;
	assert_memory_equal(&out, &m, sizeof(m));
	/* one byte more is refused by size, before any parsing */
	strcpy(body + strlen(body) - 1, " }");
	len = raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0, body);
	assert_int_equal(len, PEER_MSG_MAX + 1);
	expect_fail(buf, len, -EMSGSIZE, "header.length");
	/* delivered longer than the max, even with a small declared body */
	len = raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0, "{}");
	expect_fail(buf, PEER_MSG_MAX + 1, -EMSGSIZE, "header.length");
	(void)len;
}

static void test_unknown_kind(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	const char *body = "{\"ring\":{\"nodeid\":1,\"seq\":\"2\"}}";
	const uint8_t bad[] = { 0, 8, 9, 127, 128, 255 };
	size_t len;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad); i++) {
		len = raw(buf, 1, 0, bad[i], 0, body);
		expect_fail(buf, len, -EBADMSG, "header.kind");
		/* from a newer minor: a kind we do not know yet, skip it */
		len = raw(buf, 1, 1, bad[i], 0, body);
		expect_fail(buf, len, -ENOMSG, "header.kind");
	}
	len = raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0, body);
	assert_int_equal(dec(buf, len, &(struct fsm_msg){0}, NULL), 0);
}

static void test_newer_minor(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct peer_msg_header h;
	struct fsm_msg m, out;
	json_t *b;
	size_t len;

	(void)state;
	msg_fill(&m, FSM_MSG_ACK, true);
	{
		char *txt = body_text(&m);

		b = json_loads(txt, 0, NULL);
		free(txt);
	}
	assert_non_null(b);
	/* members a later minor might add, at every level */
	json_object_set_new(b, "zz_new", json_pack("{s:[i,s]}", "x", 1, "y"));
	json_object_set_new(b, "a_new", json_null());
	json_object_set_new(json_object_get(b, "ring"), "epoch", json_integer(5));
	json_object_set_new(json_object_get(json_object_get(b, "prop"), "to"),
			    "witness", json_true());
	json_object_set_new(json_object_get(json_object_get(b, "epoch"), "hinst"),
			    "boot_id", json_string("abc"));
	for (int minor = 1; minor <= 255; minor += 127) {
		len = raw_json(buf, (uint8_t)minor, PEER_WIRE_ACK, b);
		buf[7] = 0x81; /* and flags we do not know */
		assert_int_equal(dec(buf, len, &out, &err), 0);
		assert_memory_equal(&out, &m, sizeof(m));
		assert_int_equal(peer_msg_peek(buf, len, &h, NULL), 0);
		assert_int_equal(h.major, 1);
		assert_int_equal(h.minor, minor);
		assert_int_equal(h.kind, PEER_WIRE_ACK);
		assert_int_equal(h.flags, 0x81);
		assert_int_equal(h.body_len, len - PEER_MSG_HDR_LEN);
	}
	/* the same from our own minor: refused, naming the member */
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "a_new");
	json_object_del(b, "a_new");
	json_object_del(b, "zz_new");
	/* in reading order: ring, epoch, prop */
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "ring.epoch");
	json_object_del(json_object_get(b, "ring"), "epoch");
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "epoch.hinst.boot_id");
	json_object_del(json_object_get(json_object_get(b, "epoch"), "hinst"),
			"boot_id");
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "prop.to.witness");
	json_object_del(json_object_get(json_object_get(b, "prop"), "to"), "witness");
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	assert_int_equal(dec(buf, len, &out, &err), 0);
	assert_memory_equal(&out, &m, sizeof(m));
	/* a member of another kind is unknown to this one */
	json_object_set_new(b, "pending", json_true());
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "pending");
	json_object_del(b, "pending");
	/* an empty member name is named visibly (found by fuzz_peer) */
	json_object_set_new(json_object_get(b, "ring"), "", json_string("x"));
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "ring.\"\"");
	json_object_del(json_object_get(b, "ring"), "");
	json_object_set_new(b, "", json_string("x"));
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	expect_fail(buf, len, -EBADMSG, "\"\"");
	json_object_del(b, "");
	/* and a flag from our own minor */
	len = raw_json(buf, PEER_MSG_VERSION_MINOR, PEER_WIRE_ACK, b);
	buf[7] = 1;
	expect_fail(buf, len, -EBADMSG, "header.flags");
	json_decref(b);
}

static void test_other_major(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	const uint8_t majors[] = { 0, 2, 3, 255 };
	struct peer_msg_header h;
	struct fsm_msg m;
	int n;

	(void)state;
	msg_typical(&m, FSM_MSG_STATE);
	n = enc(&m, buf);
	assert_int_equal(buf[4], PEER_MSG_VERSION_MAJOR);
	for (unsigned i = 0; i < sizeof(majors); i++) {
		buf[4] = majors[i];
		expect_fail(buf, (size_t)n, -EPROTONOSUPPORT, "header.major");
		/* even with a body this build could not read */
		expect_fail(buf, PEER_MSG_HDR_LEN, -EPROTONOSUPPORT, "header.major");
		assert_int_equal(peer_msg_peek(buf, (size_t)n, &h, NULL),
				 -EPROTONOSUPPORT);
		assert_int_equal(h.major, majors[i]);
	}
}

/* ---- every member missing, every member of every wrong type -------- */

struct leaf {
	char path[64];
	json_type type;
};

static void leaves(const json_t *o, const char *prefix, struct leaf *out,
		   unsigned *n, bool objects_too)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		char p[64];

		snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (json_is_object(v)) {
			if (objects_too) {
				assert_true(*n < 64);
				snprintf(out[*n].path, sizeof(out[*n].path), "%s", p);
				out[(*n)++].type = JSON_OBJECT;
			}
			leaves(v, p, out, n, objects_too);
			continue;
		}
		assert_true(*n < 64);
		snprintf(out[*n].path, sizeof(out[*n].path), "%s", p);
		out[(*n)++].type = json_typeof(v);
	}
}

/* Parent object of path and the last key. */
static json_t *parent_of(json_t *root, const char *path, const char **key)
{
	static char buf[64];
	char *dot, *seg = buf;
	json_t *o = root;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((dot = strchr(seg, '.'))) {
		*dot = '\0';
		o = json_object_get(o, seg);
		assert_non_null(o);
		seg = dot + 1;
	}
	*key = seg;
	return o;
}

static void test_each_member_missing(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct fsm_msg m;

	(void)state;
	for (unsigned k = 0; k < N_KINDS; k++) {
		struct leaf lv[64];
		unsigned n = 0;
		char *txt;
		json_t *orig;

		msg_fill(&m, all_kinds[k], true);
		txt = body_text(&m);
		orig = json_loads(txt, 0, NULL);
		free(txt);
		assert_non_null(orig);
		leaves(orig, "", lv, &n, true);
		assert_true(n >= 2);
		for (unsigned i = 0; i < n; i++) {
			json_t *b = json_deep_copy(orig);
			const char *key;
			json_t *par = parent_of(b, lv[i].path, &key);

			assert_int_equal(json_object_del(par, key), 0);
			expect_fail(buf, raw_json(buf, 0,
					 peer_msg_kind_to_wire(all_kinds[k]), b),
				    -EBADMSG, lv[i].path);
			json_decref(b);
		}
		json_decref(orig);
	}
}

static void test_each_member_wrong_type(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	struct fsm_msg m;
	unsigned checked = 0;

	(void)state;
	for (unsigned k = 0; k < N_KINDS; k++) {
		struct leaf lv[64];
		unsigned n = 0;
		char *txt;
		json_t *orig;

		msg_fill(&m, all_kinds[k], true);
		txt = body_text(&m);
		orig = json_loads(txt, 0, NULL);
		free(txt);
		leaves(orig, "", lv, &n, true);
		for (unsigned i = 0; i < n; i++) {
			json_t *cands[] = { json_null(), json_true(),
					    json_integer(1), json_real(1.5),
					    json_string("1"), json_array(),
					    json_object() };

			for (unsigned c = 0; c < 7; c++) {
				json_type t = json_typeof(cands[c]);
				bool same = t == lv[i].type ||
					(lv[i].type == JSON_TRUE && t == JSON_FALSE) ||
					(lv[i].type == JSON_FALSE && t == JSON_TRUE);

				if (!same) {
					json_t *b = json_deep_copy(orig);
					const char *key;
					json_t *par = parent_of(b, lv[i].path, &key);

					json_object_set(par, key, cands[c]);
					expect_fail(buf, raw_json(buf, 0,
						peer_msg_kind_to_wire(all_kinds[k]), b),
						-EBADMSG, lv[i].path);
					json_decref(b);
					checked++;
				}
				json_decref(cands[c]);
			}
		}
		json_decref(orig);
	}
	assert_true(checked > 300);
}

struct bad_value {
	const char *member;  /* in a STATE message unless kind says else */
	const char *json;
};

/* Right JSON type, wrong value. */
static void test_bad_values(void **state)
{
	static const struct bad_value cases[] = {
		{ "ring.seq", "\"-1\"" },
		{ "ring.seq", "\"+1\"" },
		{ "ring.seq", "\"01\"" },
		{ "ring.seq", "\"\"" },
		{ "ring.seq", "\" 1\"" },
		{ "ring.seq", "\"1 \"" },
		{ "ring.seq", "\"0x10\"" },
		{ "ring.seq", "\"1e3\"" },
		{ "ring.seq", "\"18446744073709551616\"" },
		{ "ring.seq", "\"99999999999999999999\"" },
		{ "ring.seq", "\"000000000000000000001\"" },
		{ "ring.seq", "\"1\\u00002\"" },
		{ "ring.nodeid", "-1" },
		{ "ring.nodeid", "4294967296" },
		{ "ring.nodeid", "-9223372036854775808" },
		{ "epoch.holder", "4294967296" },
		{ "epoch.hinst.pid", "-5" },
		{ "epoch.n", "\"18446744073709551616\"" },
		{ "epoch.kind", "\"COLO\"" },
		{ "epoch.kind", "\"colo \"" },
		{ "epoch.kind", "\"\"" },
		{ "epoch.kind", "\"colo\\u0000\"" },
		{ "side.mode", "\"Primary\"" },
		{ "side.mode", "\"primary\\u0000x\"" },
		{ "side.last_mode", "\"colo\"" },
		{ "side.reason", "\"unknown\"" },
		{ "side.run", "\"stopped\"" },
		{ "side.mig", "\"setup\"" },
	};
	uint8_t buf[PEER_MSG_MAX];
	struct fsm_msg m;
	char *txt;
	json_t *orig;

	(void)state;
	msg_typical(&m, FSM_MSG_STATE);
	txt = body_text(&m);
	orig = json_loads(txt, 0, NULL);
	free(txt);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *b = json_deep_copy(orig);
		const char *key;
		json_t *par = parent_of(b, cases[i].member, &key);
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL,
				       NULL);

		assert_non_null(v);
		json_object_set_new(par, key, v);
		expect_fail(buf, raw_json(buf, 0, PEER_WIRE_STATE, b), -EBADMSG,
			    cases[i].member);
		json_decref(b);
	}
	json_decref(orig);

	/* node 0 means "no node": refused where a node is required */
	expect_fail(buf, raw(buf, 1, 0, PEER_WIRE_FENCING, 0,
			     "{\"node\":0,\"pending\":true,"
			     "\"ring\":{\"nodeid\":1,\"seq\":\"1\"}}"),
		    -EBADMSG, "node");
	msg_typical(&m, FSM_MSG_PROPOSE);
	txt = body_text(&m);
	orig = json_loads(txt, 0, NULL);
	free(txt);
	json_object_set_new(json_object_get(orig, "prop"), "proposer",
			    json_integer(0));
	expect_fail(buf, raw_json(buf, 0, PEER_WIRE_PROPOSE, orig), -EBADMSG,
		    "prop.proposer");
	json_decref(orig);
	/* u64 boundary values accepted: "0" and UINT64_MAX */
	{
		struct fsm_msg out;

		assert_int_equal(dec(buf, raw(buf, 1, 0, PEER_WIRE_LIVENESS, 0,
			"{\"ring\":{\"nodeid\":4294967295,\"seq\":\"0\"},"
			"\"sent_mono_ms\":-9223372036854775808,"
			"\"seq\":\"18446744073709551615\"}"), &out, NULL), 0);
		assert_int_equal(out.ring.nodeid, UINT32_MAX);
		assert_true(out.seq == UINT64_MAX);
		assert_true(out.sent_mono_ms == INT64_MIN);
	}
}

static void test_invalid_json(void **state)
{
	static const char *const bodies[] = {
		"",
		"{",
		"}",
		"null",
		"[]",
		"\"x\"",
		"1",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"1\"}} x",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"1\"}}{}",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"1\"},\"ring\":{\"nodeid\":1,\"seq\":\"1\"}}",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"1\",\"seq\":\"2\"}}",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"\xff\"}}",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"\xc3\"}}",
		"{\"ring\":{\"nodeid\":1,\"seq\":\"1\"},}",
		"{'ring':{}}",
		"{\"ring\":{\"nodeid\":99999999999999999999,\"seq\":\"1\"}}",
	};
	uint8_t buf[PEER_MSG_MAX];
	struct peer_msg_error err;

	(void)state;
	for (unsigned i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		expect_fail(buf, raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0, bodies[i]),
			    -EBADMSG, "body");
	/* the error says where */
	assert_int_equal(dec(buf, raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0,
				      "{\"ring\":{\"nodeid\":1,\"seq\":\"1\"}} x"),
			     &(struct fsm_msg){0}, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "byte"));
	/* NUL byte inside the body */
	memcpy(buf, "CAPM\1\0\3\0\0\0\0\3{\0}", 15);
	expect_fail(buf, 15, -EBADMSG, "body");
	/* a member name with an embedded NUL never passes for "ring" */
	expect_fail(buf, raw(buf, 1, 0, PEER_WIRE_SYNC_DONE, 0,
			     "{\"ring\\u0000x\":{\"nodeid\":1,\"seq\":\"1\"}}"),
		    -EBADMSG, NULL);
	expect_fail(buf, raw(buf, 1, 1, PEER_WIRE_SYNC_DONE, 0,
			     "{\"ring\\u0000x\":{\"nodeid\":1,\"seq\":\"1\"}}"),
		    -EBADMSG, NULL);
}

static void test_hostile_names(void **state)
{
	static const char *const bad[] = {
		"\"../x\"", "\"\"", "\"..\"", "\".\"", "\"a/b\"", "\"/etc\"",
		"\"a b\"", "\"a\\nb\"", "\"a\\\\b\"", "\"web\\u0000\"",
		"\"web\\u0000../x\"", "\"\\u0000\"", "\"caf\\u00e9\"",
		"\"a;rm -rf\"", "\"$(x)\"", "\"a\\tb\"", "\"x\\u007f\"",
		"\".a\"", "\"...\"", "\".\\u0000\"",
		/* 64 characters */
		"\"0123456789012345678901234567890123456789012345678901234567890123\"",
	};
	static const char *const good[] = {
		"a", "a..b", "a.", "-", "_", "web-1.prod_A", "-x",
		"012345678901234567890123456789012345678901234567890123456789012",
	};
	uint8_t buf[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct fsm_msg m, out;
	char *txt;
	json_t *orig;

	(void)state;
	msg_typical(&m, FSM_MSG_PROPOSE);
	txt = body_text(&m);
	orig = json_loads(txt, 0, NULL);
	free(txt);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *v = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

		assert_non_null(v);
		json_object_set_new(orig, "vm", v);
		expect_fail(buf, raw_json(buf, 0, PEER_WIRE_PROPOSE, orig),
			    -EBADMSG, "vm");
	}
	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_object_set_new(orig, "vm", json_string(good[i]));
		assert_int_equal(dec(buf, raw_json(buf, 0, PEER_WIRE_PROPOSE, orig),
				     &out, &err), 0);
		assert_string_equal(out.vm, good[i]);
		assert_true(peer_msg_vm_name_valid(good[i], strlen(good[i])));
	}
	json_decref(orig);
	assert_false(peer_msg_vm_name_valid(NULL, 0));
	assert_false(peer_msg_vm_name_valid("ab", 0));
	assert_false(peer_msg_vm_name_valid("a\0b", 3));
	/* the error text never carries raw control bytes */
	msg_typical(&m, FSM_MSG_STATE);
	txt = body_text(&m);
	orig = json_loads(txt, 0, NULL);
	free(txt);
	json_object_set_new(orig, "vm", json_string("a\x1b[31m\nb"));
	assert_int_equal(dec(buf, raw_json(buf, 0, PEER_WIRE_STATE, orig), &out,
			     &err), -EBADMSG);
	for (const char *p = err.msg; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	json_decref(orig);
}

/* ---- golden bytes -------------------------------------------------- */

static const char *golden_name(enum fsm_msg_kind k)
{
	return peer_msg_kind_to_str(k);
}

static int read_all(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f)
		return -errno;
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return 0;
}

static void test_golden(void **state)
{
	const char *data = getenv("TEST_DATA");
	bool update = getenv("PEER_MSG_GOLDEN_UPDATE") != NULL;

	(void)state;
	if (!data) {
		fail_msg("TEST_DATA is not set");
		return;
	}
	for (unsigned k = 0; k < N_KINDS; k++) {
		uint8_t want[PEER_MSG_MAX + 1], got[PEER_MSG_MAX];
		char path[4096];
		struct peer_msg_error err;
		struct fsm_msg m, out;
		size_t wlen = 0;
		int n;

		msg_typical(&m, all_kinds[k]);
		n = enc(&m, got);
		snprintf(path, sizeof(path), "%s/peer/%s.bin", data,
			 golden_name(all_kinds[k]));
		if (update) {
			FILE *f = fopen(path, "wb");

			assert_non_null(f);
			assert_int_equal(fwrite(got, 1, (size_t)n, f), n);
			assert_int_equal(fclose(f), 0);
			print_message("# wrote %s\n", path);
		}
		if (read_all(path, want, sizeof(want), &wlen) < 0)
			fail_msg("cannot read %s", path);
		/* a changed encoding must fail here: bump the version instead */
		if (wlen != (size_t)n || memcmp(want, got, (size_t)n) != 0)
			fail_msg("%s: encoding differs from the golden file "
				 "(%zu vs %d bytes): got %.*s", path, wlen, n,
				 n - PEER_MSG_HDR_LEN,
				 (const char *)got + PEER_MSG_HDR_LEN);
		assert_int_equal(dec(want, wlen, &out, &err), 0);
		assert_memory_equal(&out, &m, sizeof(m));
	}
}

/* ---- seeded mutations: never crash; what decodes re-encodes -------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* nm bytes of the body changed (JSON's own characters, mostly), and now
 * and then the minor version */
static void mutate(uint8_t *buf, int n, unsigned nm)
{
	static const char alpha[] = "0123456789\"{}[],:.-+eE \\u"
				    "truefalsenull";

	for (unsigned j = 0; j < nm; j++) {
		unsigned pos = PEER_MSG_HDR_LEN + rnd() % (unsigned)(n - PEER_MSG_HDR_LEN);

		if (rnd() & 4)
			buf[pos] = (uint8_t)alpha[rnd() % (sizeof(alpha) - 1)];
		else
			buf[pos] = (uint8_t)rnd();
	}
	if (rnd() % 8 == 0)
		buf[5] = (uint8_t)rnd(); /* other minors too */
}

static void test_mutations(void **state)
{
	uint8_t base[PEER_MSG_MAX], buf[PEER_MSG_MAX], re[PEER_MSG_MAX];
	unsigned decoded = 0, total = 0;

	(void)state;
	for (unsigned iter = 0; iter < 30000; iter++) {
		struct fsm_msg m, out, again;
		int n, rc;

		msg_fill(&m, all_kinds[rnd() % N_KINDS], rnd() & 1);
		n = enc(&m, base);
		memcpy(buf, base, (size_t)n);
		mutate(buf, n, 1 + rnd() % 3);
		rc = dec(buf, (size_t)n, &out, NULL);
		total++;
		assert_true(rc == 0 || rc == -EBADMSG || rc == -ENOMSG);
		if (rc)
			continue;
		decoded++;
		n = enc(&out, re);
		assert_int_equal(dec(re, (size_t)n, &again, NULL), 0);
		assert_memory_equal(&out, &again, sizeof(out));
	}
	print_message("# %u of %u mutations decoded\n", decoded, total);
	assert_true(decoded > 0);
	assert_true(decoded < total);
}

/* A value of every decimal length, 0 and the maximum included. */
static uint64_t rnd_u64(void)
{
	uint64_t v = ((uint64_t)rnd() << 32) ^ ((uint64_t)rnd() << 11) ^ rnd();

	switch (rnd() % 4) {
	case 0: return v >> (rnd() % 64);
	case 1: return rnd() % 3 ? rnd() % 10 : 0;
	case 2: return UINT64_MAX - rnd() % 3;
	default: return v;
	}
}

static void inst_random(struct fsm_instance *in)
{
	in->pid = (uint32_t)rnd_u64();
	in->start = rnd_u64();
}

static void epoch_random(struct fsm_epoch *e)
{
	e->n = rnd_u64();
	e->kind = (enum fsm_epoch_kind)(rnd() % 3);
	e->holder = (uint32_t)rnd_u64();
	inst_random(&e->hinst);
	e->secondary = (uint32_t)rnd_u64();
	inst_random(&e->sinst);
}

static void msg_random(struct fsm_msg *m)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
	size_t len = 1 + rnd() % 63;

	msg_fill(m, all_kinds[rnd() % N_KINDS], false);
	m->ring.nodeid = (uint32_t)rnd_u64();
	m->ring.seq = rnd_u64();
	for (size_t i = 0; i < len; i++) {
		size_t k = rnd() % (sizeof(chars) - 1);

		m->vm[i] = i == 0 && chars[k] == '.' ? 'x' : chars[k]; /* no leading '.' */
	}
	if (m->kind != FSM_MSG_STATE && m->kind != FSM_MSG_PROPOSE &&
	    m->kind != FSM_MSG_ACK && m->kind != FSM_MSG_NACK)
		memset(m->vm, 0, sizeof(m->vm));
	switch (m->kind) {
	case FSM_MSG_LIVENESS:
		m->seq = rnd_u64();
		m->sent_mono_ms = (int64_t)rnd_u64();
		break;
	case FSM_MSG_FENCING:
		m->node = (uint32_t)rnd_u64() | 1;
		m->pending = rnd() & 1;
		break;
	case FSM_MSG_STATE:
		epoch_random(&m->epoch);
		m->side.present = rnd() & 1;
		m->side.connected = rnd() & 1;
		m->side.alive = rnd() & 1;
		inst_random(&m->side.inst);
		m->side.mode = (enum fsm_colo_mode)(rnd() % 4);
		m->side.last_mode = (enum fsm_colo_mode)(rnd() % 4);
		m->side.reason = (enum fsm_colo_reason)(rnd() % 4);
		m->side.run = (enum fsm_run_state)(rnd() % 3);
		m->side.mig = (enum fsm_mig_state)(rnd() % 6);
		m->side.colo_exit_seen = rnd() & 1;
		m->side.frozen = rnd() & 1;
		m->side.failover_inflight = rnd() & 1;
		break;
	case FSM_MSG_PROPOSE:
	case FSM_MSG_ACK:
	case FSM_MSG_NACK:
		m->prop.from_n = rnd_u64();
		m->prop.proposer = (uint32_t)rnd_u64() | 1;
		epoch_random(&m->prop.to);
		if (m->kind != FSM_MSG_PROPOSE)
			epoch_random(&m->epoch);
		break;
	default:
		break;
	}
}

/* peer_msg_decode() reads the canonical bytes without a tree: for every
 * body, canonical or mutated, it must give what the tree decoder gives
 * (code, message, error member and text). */
static void test_fast_matches_tree(void **state)
{
	uint8_t buf[PEER_MSG_MAX];
	unsigned decoded = 0, total = 0;

	(void)state;
	for (unsigned iter = 0; iter < 60000; iter++) {
		struct fsm_msg m, a, b;
		struct peer_msg_error ea, eb;
		int n, ra, rb;

		msg_random(&m);
		n = enc(&m, buf);
		mutate(buf, n, rnd() % 3);
		ra = peer_msg_decode(buf, (size_t)n, &a, &ea);
		rb = peer_msg_decode_tree(buf, (size_t)n, &b, &eb);
		total++;
		assert_int_equal(ra, rb);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_string_equal(ea.member, eb.member);
		assert_string_equal(ea.msg, eb.msg);
		if (ra == 0)
			decoded++;
		if (ra == 0 && iter % 3 == 0) {
			/* unmutated bodies come back as they went */
			n = enc(&m, buf);
			assert_int_equal(peer_msg_decode(buf, (size_t)n, &a, NULL), 0);
			assert_memory_equal(&a, &m, sizeof(a));
		}
	}
	print_message("# %u of %u bodies decoded, by both alike\n", decoded, total);
	assert_true(decoded > total / 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_roundtrip_extremes),
		cmocka_unit_test(test_roundtrip_enums),
		cmocka_unit_test(test_unused_fields_dropped),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_header_corrupt),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_unknown_kind),
		cmocka_unit_test(test_newer_minor),
		cmocka_unit_test(test_other_major),
		cmocka_unit_test(test_each_member_missing),
		cmocka_unit_test(test_each_member_wrong_type),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_fast_matches_tree),
	};

	return cmocka_run_group_tests_name("peer_msg", tests, NULL, NULL);
}
