/*
 * fuzz_peer.c: libFuzzer target for the CPG peer message decoder (peer_msg.c):
 * every byte string a peer (or a corrupted ring) could deliver.  Beyond crashes,
 * sanitizer reports and leaks, it checks the round trip: whatever decodes must
 * re-encode, decode again to the same struct, and that encoding is canonical
 * (a fixed point).  A broken round trip aborts, which libFuzzer reports.
 * Inputs that start with the batch magic go through the batch decoder, whose
 * messages must rebuild, message by message, into a batch that decodes to
 * the same sequence.
 */
#include "peer_msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fsm_msg batch_a[PEER_BATCH_MAX_MSGS], batch_b[PEER_BATCH_MAX_MSGS];
static uint8_t batch_buf[PEER_BATCH_MAX];

static void fuzz_batch(const uint8_t *data, size_t size)
{
	static uint8_t one[PEER_MSG_MAX];
	struct peer_msg_error err;
	unsigned n = 0, n2 = 0;
	int rc, len;

	rc = peer_batch_decode(data, size, batch_a, PEER_BATCH_MAX_MSGS, &n, &err);
	if (rc != 0) {
		if (n != 0 || err.member[0] == '\0' ||
		    !memchr(err.member, '\0', sizeof(err.member)))
			abort();
		return;
	}
	len = peer_batch_init(batch_buf, sizeof(batch_buf));
	if (len <= 0)
		abort();
	for (unsigned i = 0; i < n; i++) {
		int m = peer_msg_encode(&batch_a[i], one, sizeof(one));

		if (m <= 0)
			abort();
		len = peer_batch_add(batch_buf, sizeof(batch_buf), (size_t)len, one, (size_t)m);
		if (len == -EMSGSIZE)
			return; /* canonical re-encoding may be longer than the input */
		if (len <= 0)
			abort();
	}
	if (n == 0)
		return; /* only skipped newer kinds: nothing to rebuild */
	if (peer_batch_decode(batch_buf, (size_t)len, batch_b, PEER_BATCH_MAX_MSGS, &n2,
			      &err) != 0 || n2 != n ||
	    memcmp(batch_a, batch_b, sizeof(batch_a[0]) * n) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[PEER_MSG_MAX], b[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct peer_msg_header h;
	struct fsm_msg m, again;
	int rc, n, n2;

	if (peer_batch_is(data, size)) {
		fuzz_batch(data, size);
		return 0;
	}
	(void)peer_msg_peek(data, size, &h, &err);
	rc = peer_msg_decode(data, size, &m, &err);
	if (rc != 0) {
		if (rc != -EBADMSG && rc != -EPROTONOSUPPORT && rc != -EMSGSIZE &&
		    rc != -ENOMSG && rc != -ENOMEM)
			abort();
		if (err.member[0] == '\0' || err.msg[0] == '\0' ||
		    !memchr(err.member, '\0', sizeof(err.member)) ||
		    !memchr(err.msg, '\0', sizeof(err.msg)))
			abort();
		return 0;
	}
	n = peer_msg_encode(&m, a, sizeof(a));
	if (n <= 0)
		abort();
	if (peer_msg_decode(a, (size_t)n, &again, &err) != 0)
		abort();
	if (memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	n2 = peer_msg_encode(&again, b, sizeof(b));
	if (n2 != n || memcmp(a, b, (size_t)n) != 0)
		abort();
	return 0;
}
