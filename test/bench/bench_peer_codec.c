/*
 * bench_peer_codec.c: what the peer wire format (peer_msg.c) costs per
 * message, the CPU a mass failover spends on it in every arbiter.  Prints
 * figures; not a test (make -C test bench_peer_codec; BENCHMARKS.md).
 *
 * For each kind a node loss sends per VM (STATE, PROPOSE, ACK), N messages
 * for N distinct VMs (default 500) as the fsm fills them: encode one by one,
 * add to batches as send_flush() does, compress each batch, decode each
 * batch plain and compressed.  Best of R rounds (default 20), µs per
 * message.
 *
 *   bench_peer_codec [N [R]]
 */
#include "fsm.h"
#include "peer_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void fill(struct fsm_msg *m, enum fsm_msg_kind k, unsigned i)
{
	memset(m, 0, sizeof(*m));
	m->kind = k;
	m->ring.nodeid = 1;
	m->ring.seq = 13;
	snprintf(m->vm, sizeof(m->vm), "m%u", i + 1);
	m->epoch.n = 2 + i % 5;
	m->epoch.kind = FSM_EPOCH_COLO;
	m->epoch.holder = 1;
	m->epoch.hinst.pid = 20000 + i;
	m->epoch.hinst.start = 7786399 + 17 * i;
	m->epoch.secondary = 2;
	m->epoch.sinst.pid = 40000 + i;
	m->epoch.sinst.start = 7786521 + 13 * i;
	if (k == FSM_MSG_STATE) {
		m->side.present = m->side.connected = m->side.alive = true;
		m->side.inst = m->epoch.sinst;
		m->side.mode = m->side.last_mode = FSM_MODE_SECONDARY;
		m->side.run = FSM_RUN_RUNNING;
		m->side.mig = FSM_MIG_COLO;
	} else {
		m->prop.from_n = m->epoch.n;
		m->prop.proposer = 2;
		m->prop.to.n = m->epoch.n + 1;
		m->prop.to.kind = FSM_EPOCH_SOLO;
		m->prop.to.holder = 2;
		m->prop.to.hinst = m->epoch.sinst;
		memset(&m->epoch, 0, sizeof(m->epoch));
	}
}

struct batch {
	uint8_t plain[PEER_BATCH_MAX], z[PEER_BATCH_MAX];
	size_t plain_len, z_len;
	unsigned n;
};

int main(int argc, char **argv)
{
	static const struct { enum fsm_msg_kind k; const char *name; } kinds[] = {
		{ FSM_MSG_STATE, "STATE" }, { FSM_MSG_PROPOSE, "PROPOSE" }, { FSM_MSG_ACK, "ACK" },
	};
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 500;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 20;
	uint8_t (*enc)[PEER_MSG_MAX];
	int *len;
	struct fsm_msg *msgs, *out;
	struct batch *b;
	double total = 0;

	if (n < 1 || n > PEER_BATCH_MAX_MSGS * 8 || rounds < 1) {
		fprintf(stderr, "usage: bench_peer_codec [N (1..%u) [ROUNDS]]\n",
			PEER_BATCH_MAX_MSGS * 8);
		return 2;
	}
	enc = calloc(n, sizeof(*enc));
	len = calloc(n, sizeof(*len));
	msgs = calloc(n, sizeof(*msgs));
	out = calloc(PEER_BATCH_MAX_MSGS, sizeof(*out));
	b = calloc(n, sizeof(*b)); /* at most one batch per message */
	if (!enc || !len || !msgs || !out || !b)
		return 1;
	printf("# peer wire format, %u messages of each kind, best of %u rounds, us per message\n",
	       n, rounds);
	printf("%-8s %6s %8s %8s %9s %9s %11s %8s\n", "kind", "bytes", "encode", "batch",
	       "compress", "decode", "decode(z)", "batches");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		double best[5] = { 1e18, 1e18, 1e18, 1e18, 1e18 };
		unsigned nb = 0;
		size_t bytes = 0, zbytes = 0;

		for (unsigned i = 0; i < n; i++)
			fill(&msgs[i], kinds[k].k, i);
		for (unsigned r = 0; r < rounds; r++) {
			double t[6];

			t[0] = now_us();
			for (unsigned i = 0; i < n; i++) {
				len[i] = peer_msg_encode(&msgs[i], enc[i], PEER_MSG_MAX);
				if (len[i] < 0) {
					fprintf(stderr, "%s: encode: %d\n", kinds[k].name, len[i]);
					return 1;
				}
			}
			t[1] = now_us();
			nb = 0;
			for (unsigned i = 0; i < n;) {
				struct batch *x = &b[nb++];
				int l = peer_batch_init(x->plain, sizeof(x->plain));

				x->n = 0;
				while (i < n) {
					int r2 = peer_batch_add(x->plain, sizeof(x->plain), (size_t)l,
								enc[i], (size_t)len[i]);
					if (r2 < 0)
						break;
					l = r2;
					x->n++;
					i++;
				}
				x->plain_len = (size_t)l;
			}
			t[2] = now_us();
			for (unsigned j = 0; j < nb; j++) {
				int zl = peer_batch_compress(b[j].plain, b[j].plain_len, b[j].z,
							     sizeof(b[j].z));

				b[j].z_len = zl > 0 ? (size_t)zl : 0;
			}
			t[3] = now_us();
			for (int z = 0; z < 2; z++) {
				for (unsigned j = 0; j < nb; j++) {
					struct peer_msg_error err;
					unsigned got = 0;
					int rc = z && b[j].z_len ?
						peer_batch_decode(b[j].z, b[j].z_len, out,
								  PEER_BATCH_MAX_MSGS, &got, &err) :
						peer_batch_decode(b[j].plain, b[j].plain_len, out,
								  PEER_BATCH_MAX_MSGS, &got, &err);

					if (rc || got != b[j].n) {
						fprintf(stderr, "%s: decode: %d (%s: %s)\n",
							kinds[k].name, rc, err.member, err.msg);
						return 1;
					}
				}
				t[4 + z] = now_us();
			}
			for (int s = 0; s < 5; s++)
				if (t[s + 1] - t[s] < best[s])
					best[s] = t[s + 1] - t[s];
		}
		for (unsigned j = 0; j < nb; j++) {
			bytes += b[j].plain_len;
			zbytes += b[j].z_len ? b[j].z_len : b[j].plain_len;
		}
		printf("%-8s %6d %8.2f %8.2f %9.2f %9.2f %11.2f %8u  (%zu bytes in batches, %zu sent)\n",
		       kinds[k].name, len[0], best[0] / n, best[1] / n, best[2] / n, best[3] / n,
		       best[4] / n, nb, bytes, zbytes);
		/* what one message costs its sender (encode, batch, compress) and one
		 * receiver (decode of the compressed batch) */
		total += (best[0] + best[1] + best[2] + best[4]) / n;
	}
	printf("# one STATE, PROPOSE and ACK each, sent and received once: %.1f us\n", total);
	free(enc);
	free(len);
	free(msgs);
	free(out);
	free(b);
	return 0;
}
