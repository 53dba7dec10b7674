/*
 * test_peer_batch.c: the batch container of peer_msg.c (several whole peer
 * messages in one CPG message).
 *
 * Round trip of every kind in order, the size and count limits (what does
 * not fit leaves the batch unchanged), every truncation, every header byte
 * corrupted, a bad inner message refusing the whole batch and naming it,
 * nesting refused, a newer peer's unknown inner kind skipped, and a seeded
 * mutation loop.  Must not: depend on the cwd or on timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "peer_msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define N_KINDS 7

static const enum fsm_msg_kind all_kinds[N_KINDS] = {
	FSM_MSG_LIVENESS, FSM_MSG_STATE, FSM_MSG_SYNC_DONE, FSM_MSG_PROPOSE,
	FSM_MSG_ACK, FSM_MSG_NACK, FSM_MSG_FENCING,
};

/* A message of kind k whose fields depend on i (distinct per i). */
static void msg_make(struct fsm_msg *m, enum fsm_msg_kind k, unsigned i)
{
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->ring.nodeid = 1;
	m->ring.seq = 28 + i;
	switch (k) {
	case FSM_MSG_LIVENESS:
		m->seq = i + 1;
		m->sent_mono_ms = 1000 + i;
		break;
	case FSM_MSG_SYNC_DONE:
		break;
	case FSM_MSG_FENCING:
		m->node = 2;
		m->pending = i & 1;
		break;
	case FSM_MSG_STATE:
		snprintf(m->vm, sizeof(m->vm), "vm%u", i);
		m->epoch = (struct fsm_epoch){ .n = i, .kind = FSM_EPOCH_COLO,
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
		snprintf(m->vm, sizeof(m->vm), "vm%u", i);
		m->prop.from_n = i;
		m->prop.proposer = 1;
		m->prop.to = (struct fsm_epoch){ .n = i + 1, .kind = FSM_EPOCH_SOLO,
			.holder = 1, .hinst = { 1234, 987654321 } };
		if (k != FSM_MSG_PROPOSE)
			m->epoch = (struct fsm_epoch){ .n = i, .kind = FSM_EPOCH_COLO,
				.holder = 1, .hinst = { 1234, 987654321 },
				.secondary = 2, .sinst = { 5678, 987654999 } };
		break;
	}
}

/* Builds a batch of n messages (kinds in turn) into buf; returns its length. */
static size_t build(uint8_t *buf, size_t cap, struct fsm_msg *msgs, unsigned n)
{
	uint8_t one[PEER_MSG_MAX];
	int len = peer_batch_init(buf, cap);

	assert_int_equal(len, PEER_MSG_HDR_LEN);
	for (unsigned i = 0; i < n; i++) {
		int k;

		msg_make(&msgs[i], all_kinds[i % N_KINDS], i);
		k = peer_msg_encode(&msgs[i], one, sizeof(one));
		assert_true(k > PEER_MSG_HDR_LEN);
		len = peer_batch_add(buf, cap, (size_t)len, one, (size_t)k);
		assert_true(len > 0);
	}
	assert_int_equal(peer_batch_count(buf), n);
	return (size_t)len;
}

/* Decodes from an exact-size heap copy, so ASan sees any over-read. */
static int dec(const uint8_t *buf, size_t len, struct fsm_msg *out, unsigned cap,
	       unsigned *n, struct peer_msg_error *err)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	rc = peer_batch_decode(copy, len, out, cap, n, err);
	free(copy);
	return rc;
}

static void test_roundtrip(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX];
	static struct fsm_msg in[64], out[64];
	unsigned n = 99;
	size_t len;

	(void)state;
	for (unsigned count = 1; count <= 64; count = count * 2 + 1) {
		len = build(buf, sizeof(buf), in, count);
		assert_true(peer_batch_is(buf, len));
		assert_int_equal(dec(buf, len, out, 64, &n, NULL), 0);
		assert_int_equal(n, count);
		/* the same messages in the same order */
		assert_memory_equal(out, in, sizeof(in[0]) * count);
	}
	/* a plain message is not a batch */
	{
		uint8_t one[PEER_MSG_MAX];
		int k = peer_msg_encode(&in[0], one, sizeof(one));

		assert_false(peer_batch_is(one, (size_t)k));
		assert_int_equal(dec(one, (size_t)k, out, 64, &n, NULL), -EBADMSG);
		assert_int_equal(n, 0);
	}
}

static void test_limits(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX + 64], copy[PEER_BATCH_MAX + 64];
	static struct fsm_msg out[PEER_BATCH_MAX_MSGS];
	struct peer_msg_error err;
	uint8_t one[PEER_MSG_MAX];
	struct fsm_msg m;
	unsigned count = 0, n;
	int len, k, r;

	(void)state;
	/* by bytes: STATE messages until PEER_BATCH_MAX is reached */
	len = peer_batch_init(buf, sizeof(buf));
	for (;;) {
		msg_make(&m, FSM_MSG_STATE, count);
		k = peer_msg_encode(&m, one, sizeof(one));
		memcpy(copy, buf, (size_t)len);
		r = peer_batch_add(buf, sizeof(buf), (size_t)len, one, (size_t)k);
		if (r == -EMSGSIZE) {
			/* refused whole, batch unchanged, and it really did not fit */
			assert_memory_equal(copy, buf, (size_t)len);
			assert_true(len + k > PEER_BATCH_MAX);
			break;
		}
		assert_int_equal(r, len + k);
		len = r;
		count++;
	}
	assert_int_equal(dec(buf, (size_t)len, out, PEER_BATCH_MAX_MSGS, &n, &err), 0);
	assert_int_equal(n, count);
	/* a smaller cap is honoured, exactly */
	len = peer_batch_init(buf, 4096);
	msg_make(&m, FSM_MSG_STATE, 1);
	k = peer_msg_encode(&m, one, sizeof(one));
	while ((r = peer_batch_add(buf, 4096, (size_t)len, one, (size_t)k)) > 0)
		len = r;
	assert_int_equal(r, -EMSGSIZE);
	assert_true(len <= 4096 && len + k > 4096);
	/* by count: SYNC_DONE messages (small) up to PEER_BATCH_MAX_MSGS */
	len = peer_batch_init(buf, sizeof(buf));
	msg_make(&m, FSM_MSG_SYNC_DONE, 0);
	k = peer_msg_encode(&m, one, sizeof(one));
	for (count = 0; count < PEER_BATCH_MAX_MSGS; count++) {
		len = peer_batch_add(buf, sizeof(buf), (size_t)len, one, (size_t)k);
		assert_true(len > 0);
	}
	assert_int_equal(peer_batch_add(buf, sizeof(buf), (size_t)len, one, (size_t)k),
			 -EMSGSIZE);
	assert_int_equal(dec(buf, (size_t)len, out, PEER_BATCH_MAX_MSGS, &n, &err), 0);
	assert_int_equal(n, PEER_BATCH_MAX_MSGS);
	/* too little room in out: refused, not overrun */
	assert_int_equal(dec(buf, (size_t)len, out, PEER_BATCH_MAX_MSGS - 1, &n, &err),
			 -EINVAL);
	assert_string_equal(err.member, "batch.count");
	/* add refuses what is not one whole peer message */
	assert_int_equal(peer_batch_add(buf, sizeof(buf), (size_t)len, one, (size_t)k - 1),
			 -EINVAL);
	assert_int_equal(peer_batch_add(buf, sizeof(buf), (size_t)len, buf, 40), -EINVAL);
	assert_int_equal(peer_batch_init(buf, PEER_MSG_HDR_LEN - 1), -EMSGSIZE);
	/* declared or delivered beyond PEER_BATCH_MAX */
	len = (int)build(buf, sizeof(buf), out, 3);
	buf[8] = 0x00, buf[9] = 0x01, buf[10] = 0x00, buf[11] = 0x00;
	assert_int_equal(dec(buf, (size_t)len, out, 8, &n, &err), -EMSGSIZE);
	assert_string_equal(err.member, "batch.length");
	assert_int_equal(dec(buf, PEER_BATCH_MAX + 1, out, 8, &n, &err), -EMSGSIZE);
}

static void test_truncated(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX];
	static struct fsm_msg in[14], out[14];
	struct peer_msg_error err;
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 14);

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		n = 77;
		assert_int_not_equal(dec(buf, cut, out, 14, &n, &err), 0);
		assert_int_equal(n, 0);
		assert_true(strncmp(err.member, "batch", 5) == 0);
	}
	/* the same with body_len fixed up: a message cut inside */
	for (size_t cut = PEER_MSG_HDR_LEN; cut < len; cut += 7) {
		uint8_t *b = malloc(cut);
		uint32_t bl = (uint32_t)(cut - PEER_MSG_HDR_LEN);

		memcpy(b, buf, cut);
		b[8] = (uint8_t)(bl >> 24), b[9] = (uint8_t)(bl >> 16);
		b[10] = (uint8_t)(bl >> 8), b[11] = (uint8_t)bl;
		assert_int_not_equal(dec(b, cut, out, 14, &n, &err), 0);
		assert_int_equal(n, 0);
		free(b);
	}
}

static void test_header_corrupt(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], bad[PEER_BATCH_MAX];
	static struct fsm_msg in[5], out[PEER_BATCH_MAX_MSGS];
	struct peer_msg_error err;
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 5);

	(void)state;
	for (int byte = 0; byte < PEER_MSG_HDR_LEN; byte++) {
		for (int v = 0; v < 256; v++) {
			int rc;

			if (v == buf[byte])
				continue;
			memcpy(bad, buf, len);
			bad[byte] = (uint8_t)v;
			rc = dec(bad, len, out, PEER_BATCH_MAX_MSGS, &n, &err);
			switch (byte) {
			case 0: case 1: case 2: case 3:
				assert_int_equal(rc, -EBADMSG);
				assert_string_equal(err.member, "batch.header");
				break;
			case 4:
				/* 2 reads the rest as a compressed batch's header */
				assert_int_equal(rc, v == PEER_BATCH_Z_MAJOR ? -EBADMSG :
						 -EPROTONOSUPPORT);
				assert_string_equal(err.member, v == PEER_BATCH_Z_MAJOR ?
						    "batch.length" : "batch.header");
				break;
			case 5: /* any minor of major 1 */
				assert_int_equal(rc, 0);
				assert_int_equal(n, 5);
				assert_memory_equal(out, in, sizeof(in));
				break;
			case 6: case 7: /* count: 0, too many, or not what the body holds */
				assert_int_equal(rc, -EBADMSG);
				assert_true(!strcmp(err.member, "batch.count") ||
					    !strcmp(err.member, "batch.length"));
				break;
			default:
				assert_true(rc == -EBADMSG || rc == -EMSGSIZE);
				assert_string_equal(err.member, "batch.length");
				break;
			}
			if (rc)
				assert_int_equal(n, 0);
		}
	}
}

static void test_inner_refused(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], inner[PEER_BATCH_MAX];
	static struct fsm_msg in[6], out[8];
	struct peer_msg_error err;
	uint8_t one[PEER_MSG_MAX];
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 6);
	size_t off = PEER_MSG_HDR_LEN;
	int k;

	(void)state;
	/* find message 3 and break its magic: the whole batch goes, naming it */
	for (int i = 0; i < 3; i++)
		off += PEER_MSG_HDR_LEN + ((size_t)buf[off + 8] << 24 | (size_t)buf[off + 9] << 16 |
					   (size_t)buf[off + 10] << 8 | buf[off + 11]);
	buf[off] = 'X';
	n = 9;
	assert_int_equal(dec(buf, len, out, 8, &n, &err), -EBADMSG);
	assert_int_equal(n, 0);
	assert_string_equal(err.member, "batch[3].header.magic");
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(out[i].kind, 0);
	buf[off] = 'C';
	/* an inner message of another major */
	buf[off + 4] = 2;
	assert_int_equal(dec(buf, len, out, 8, &n, &err), -EPROTONOSUPPORT);
	assert_string_equal(err.member, "batch[3].header.major");
	buf[off + 4] = 1;
	/* a batch never holds a batch */
	{
		int l = peer_batch_init(inner, sizeof(inner));

		l = peer_batch_add(inner, sizeof(inner), (size_t)l, buf, 40);
		assert_int_equal(l, -EINVAL);
		l = (int)build(inner, sizeof(inner), out, 1);
		memcpy(buf + PEER_MSG_HDR_LEN, inner, (size_t)l); /* nested as message 0 */
		assert_int_not_equal(dec(buf, len, out, 8, &n, &err), 0);
		assert_string_equal(err.member, "batch[0].header.magic");
	}
	/* a newer peer's unknown kind inside is skipped, the rest kept */
	len = build(buf, sizeof(buf), in, 3);
	k = snprintf((char *)one + PEER_MSG_HDR_LEN, sizeof(one) - PEER_MSG_HDR_LEN,
		     "{\"ring\":{\"nodeid\":1,\"seq\":\"2\"}}");
	memcpy(one, PEER_MSG_MAGIC, 4);
	one[4] = 1, one[5] = 1, one[6] = 99, one[7] = 0;
	one[8] = 0, one[9] = 0, one[10] = 0, one[11] = (uint8_t)k;
	{
		int l = peer_batch_add(buf, sizeof(buf), len, one, (size_t)(PEER_MSG_HDR_LEN + k));

		assert_true(l > 0);
		assert_int_equal(dec(buf, (size_t)l, out, 8, &n, &err), 0);
		assert_int_equal(n, 3);
		assert_memory_equal(out, in, sizeof(in[0]) * 3);
		/* the same kind from minor 0 is an error */
		buf[len + 5] = 0;
		assert_int_equal(dec(buf, (size_t)l, out, 8, &n, &err), -EBADMSG);
		assert_string_equal(err.member, "batch[3].header.kind");
	}
	/* a trailing byte beyond the count */
	len = build(buf, sizeof(buf), in, 2);
	buf[len] = '{';
	buf[11]++;
	assert_int_equal(dec(buf, len + 1, out, 8, &n, &err), -EBADMSG);
	assert_int_equal(n, 0);
}

/* Compressed batches (major 2): the same messages back in the same order,
 * much smaller; refused when not smaller or too big for cap. */
static void test_compressed_roundtrip(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], z[PEER_BATCH_MAX];
	static struct fsm_msg in[PEER_BATCH_MAX_MSGS], out[PEER_BATCH_MAX_MSGS];
	unsigned n;
	size_t len;
	int zl;

	(void)state;
	for (unsigned count = 2; count <= 150; count = count * 2 + 1) {
		len = build(buf, sizeof(buf), in, count);
		zl = peer_batch_compress(buf, len, z, sizeof(z));
		assert_true(zl > PEER_BATCH_Z_HDR_LEN);
		assert_true((size_t)zl < len);
		assert_true(peer_batch_is(z, (size_t)zl));
		assert_int_equal(peer_batch_count(z), count);
		assert_int_equal(dec(z, (size_t)zl, out, PEER_BATCH_MAX_MSGS, &n, NULL), 0);
		assert_int_equal(n, count);
		assert_memory_equal(out, in, sizeof(in[0]) * count);
		if (count > 20) /* STATE-heavy JSON shrinks to well under a quarter */
			assert_true((size_t)zl * 4 < len);
		/* an 8 KiB window (CINFO 5), ~100 KiB of working memory, and no
		 * worse than zlib's defaults (a 32 KiB window, ~270 KiB) by more than 5 % */
		assert_int_equal(z[PEER_BATCH_Z_HDR_LEN], 0x58);
		if (count > 20) {
			static uint8_t d[PEER_BATCH_MAX];
			uLongf dl = sizeof(d);

			assert_int_equal(compress2(d, &dl, buf + PEER_MSG_HDR_LEN,
						   len - PEER_MSG_HDR_LEN, 1), Z_OK);
			assert_true((size_t)(zl - PEER_BATCH_Z_HDR_LEN) * 100 <= (size_t)dl * 105);
		}
		/* exactly enough room, then one byte less */
		assert_int_equal(peer_batch_compress(buf, len, z, (size_t)zl), zl);
		assert_int_equal(peer_batch_compress(buf, len, z, (size_t)zl - 1), -EMSGSIZE);
	}
	/* a batch of one short message does not shrink: sent as it is */
	len = build(buf, sizeof(buf), in, 1);
	assert_int_equal(peer_batch_compress(buf, len, z, sizeof(z)), -EMSGSIZE);
	/* only a major-1 batch is compressed */
	len = build(buf, sizeof(buf), in, 9);
	zl = peer_batch_compress(buf, len, z, sizeof(z));
	assert_true(zl > 0);
	assert_int_equal(peer_batch_compress(z, (size_t)zl, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(peer_batch_compress(buf, len - 1, z, sizeof(z)), -EINVAL);
	assert_int_equal(peer_batch_compress(NULL, len, z, sizeof(z)), -EINVAL);
}

/* A compressed batch cut, with each header field wrong, inflating to more
 * or less than raw_len, to more than PEER_BATCH_MAX (a zip bomb), with
 * bytes after the stream, or carrying a bad inner message: refused whole,
 * naming the part, never a crash or an over-read. */
static void test_compressed_refused(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], z[PEER_BATCH_MAX + 64], bad[PEER_BATCH_MAX + 64];
	static uint8_t big[PEER_BATCH_MAX * 2];
	static struct fsm_msg in[40], out[PEER_BATCH_MAX_MSGS];
	struct peer_msg_error err;
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 40), zl;
	uLongf bl;
	int rc;

	(void)state;
	rc = peer_batch_compress(buf, len, z, sizeof(z));
	assert_true(rc > 0);
	zl = (size_t)rc;
	for (size_t cut = 0; cut < zl; cut++) {
		rc = dec(z, cut, out, PEER_BATCH_MAX_MSGS, &n, &err);
		assert_true(rc == -EBADMSG);
		assert_int_equal(n, 0);
		/* and with body_len fixed up: the stream itself is cut */
		if (cut >= PEER_BATCH_Z_HDR_LEN) {
			memcpy(bad, z, cut);
			bad[8] = (uint8_t)((cut - 16) >> 24);
			bad[9] = (uint8_t)((cut - 16) >> 16);
			bad[10] = (uint8_t)((cut - 16) >> 8);
			bad[11] = (uint8_t)(cut - 16);
			rc = dec(bad, cut, out, PEER_BATCH_MAX_MSGS, &n, &err);
			assert_int_equal(rc, -EBADMSG);
			assert_string_equal(err.member, "batch.body");
		}
	}
	/* raw_len one more, one less, and beyond PEER_BATCH_MAX */
	memcpy(bad, z, zl);
	bad[15]++;
	assert_int_equal(dec(bad, zl, out, PEER_BATCH_MAX_MSGS, &n, &err), -EBADMSG);
	assert_string_equal(err.member, "batch.body");
	memcpy(bad, z, zl);
	bad[15]--;
	assert_int_equal(dec(bad, zl, out, PEER_BATCH_MAX_MSGS, &n, &err), -EBADMSG);
	assert_string_equal(err.member, "batch.body");
	memcpy(bad, z, zl);
	bad[12] = 0x7f;
	assert_int_equal(dec(bad, zl, out, PEER_BATCH_MAX_MSGS, &n, &err), -EMSGSIZE);
	assert_string_equal(err.member, "batch.length");
	/* a bomb: 128 KiB of zeros declared as 64 KiB - 12: refused at raw_len */
	bl = sizeof(bad) - 16;
	assert_int_equal(compress2(bad + 16, &bl, big, sizeof(big), 9), Z_OK);
	memcpy(bad, z, 8);
	bad[8] = (uint8_t)(bl >> 24);
	bad[9] = (uint8_t)(bl >> 16);
	bad[10] = (uint8_t)(bl >> 8);
	bad[11] = (uint8_t)bl;
	bad[12] = 0;
	bad[13] = 0;
	bad[14] = (uint8_t)((PEER_BATCH_MAX - 12) >> 8);
	bad[15] = (uint8_t)(PEER_BATCH_MAX - 12);
	assert_int_equal(dec(bad, 16 + bl, out, PEER_BATCH_MAX_MSGS, &n, &err), -EBADMSG);
	assert_string_equal(err.member, "batch.body");
	/* a byte after the stream */
	memcpy(bad, z, zl);
	bad[zl] = 0;
	bad[11]++;
	assert_int_equal(dec(bad, zl + 1, out, PEER_BATCH_MAX_MSGS, &n, &err), -EBADMSG);
	assert_string_equal(err.member, "batch.body");
	/* a bad inner message inside a good stream: named as in a plain batch */
	memcpy(bad, buf, len);
	bad[PEER_MSG_HDR_LEN + 4] = 9; /* message 0's major */
	rc = peer_batch_compress(bad, len, z, sizeof(z));
	assert_true(rc > 0);
	assert_int_equal(dec(z, (size_t)rc, out, PEER_BATCH_MAX_MSGS, &n, &err),
			 -EPROTONOSUPPORT);
	assert_string_equal(err.member, "batch[0].header.major");
	/* every header byte to every other value: documented codes only */
	rc = peer_batch_compress(buf, len, z, sizeof(z));
	for (int byte = 0; byte < PEER_BATCH_Z_HDR_LEN; byte++) {
		for (int v = 0; v < 256; v++) {
			if (v == z[byte])
				continue;
			memcpy(bad, z, (size_t)rc);
			bad[byte] = (uint8_t)v;
			n = 7;
			int r = dec(bad, (size_t)rc, out, PEER_BATCH_MAX_MSGS, &n, &err);

			assert_true(r == 0 || r == -EBADMSG || r == -EMSGSIZE ||
				    r == -EPROTONOSUPPORT);
			if (byte == 5) /* minor: any */
				assert_int_equal(r, 0);
			if (r)
				assert_int_equal(n, 0);
		}
	}
}

/* Random bytes flipped: never a crash, only documented codes, and whatever
 * decodes is the right number of well-formed messages. */
static void test_mutations(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], bad[PEER_BATCH_MAX];
	static struct fsm_msg in[9], out[PEER_BATCH_MAX_MSGS];
	uint32_t seed = 12345;
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 9);

	(void)state;
	for (int it = 0; it < 20000; it++) {
		size_t l = len;
		int flips = 1 + it % 4, rc;

		memcpy(bad, buf, len);
		for (int f = 0; f < flips; f++) {
			seed = seed * 1103515245u + 12345u;
			bad[(seed >> 8) % len] = (uint8_t)(seed >> 20);
		}
		if (it % 5 == 0) {
			seed = seed * 1103515245u + 12345u;
			l = (seed >> 8) % (len + 1);
		}
		rc = dec(bad, l, out, PEER_BATCH_MAX_MSGS, &n, NULL);
		assert_true(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE ||
			    rc == -EPROTONOSUPPORT);
		if (rc == 0) {
			uint8_t one[PEER_MSG_MAX];

			assert_true(n <= 9);
			for (unsigned i = 0; i < n; i++)
				assert_true(peer_msg_encode(&out[i], one, sizeof(one)) > 0);
		} else {
			assert_int_equal(n, 0);
		}
	}
}

/* The same over compressed batches: flips in the header and the stream. */
static void test_compressed_mutations(void **state)
{
	static uint8_t buf[PEER_BATCH_MAX], z[PEER_BATCH_MAX], bad[PEER_BATCH_MAX];
	static struct fsm_msg in[30], out[PEER_BATCH_MAX_MSGS];
	uint32_t seed = 777;
	unsigned n;
	size_t len = build(buf, sizeof(buf), in, 30), zl;
	int rc = peer_batch_compress(buf, len, z, sizeof(z));

	(void)state;
	assert_true(rc > 0);
	zl = (size_t)rc;
	for (int it = 0; it < 20000; it++) {
		size_t l = zl;

		memcpy(bad, z, zl);
		for (int f = 0; f < 1 + it % 3; f++) {
			seed = seed * 1103515245u + 12345u;
			bad[(seed >> 8) % zl] = (uint8_t)(seed >> 20);
		}
		if (it % 7 == 0) {
			seed = seed * 1103515245u + 12345u;
			l = (seed >> 8) % (zl + 1);
		}
		rc = dec(bad, l, out, PEER_BATCH_MAX_MSGS, &n, NULL);
		assert_true(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE ||
			    rc == -EPROTONOSUPPORT);
		if (rc == 0) {
			uint8_t one[PEER_MSG_MAX];

			for (unsigned i = 0; i < n; i++)
				assert_true(peer_msg_encode(&out[i], one, sizeof(one)) > 0);
		} else {
			assert_int_equal(n, 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_header_corrupt),
		cmocka_unit_test(test_inner_refused),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_compressed_roundtrip),
		cmocka_unit_test(test_compressed_refused),
		cmocka_unit_test(test_compressed_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
