/*
 * fuzz_peer.c: libFuzzer target for the CPG peer message decoder (peer_msg.c):
 * every byte string a peer (or a corrupted ring) could deliver.  Beyond crashes,
 * sanitizer reports and leaks, it checks the round trip: whatever decodes must
 * re-encode, decode again to the same struct, and that encoding is canonical
 * (a fixed point).  A broken round trip aborts, which libFuzzer reports.
 */
#include "peer_msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[PEER_MSG_MAX], b[PEER_MSG_MAX];
	struct peer_msg_error err;
	struct peer_msg_header h;
	struct fsm_msg m, again;
	int rc, n, n2;

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
