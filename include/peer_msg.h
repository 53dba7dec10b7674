/*
 * peer_msg.h: the CPG wire format of the decision core's peer messages
 * (struct fsm_msg of fsm.h).  See doc/peer-protocol.md.
 *
 * Pure: jansson only; no I/O, no clock, no logging.  The decoder validates
 * every byte it is given and says which member was wrong and why; it never
 * trusts the sender: the sender is the nodeid CPG delivers with the message,
 * and the format has no field that claims one.
 *
 * Layout: a 12-byte header in network byte order (big-endian), then a
 * compact JSON object of exactly `body_len` bytes:
 *
 *   offset 0  u8[4]  magic     "CAPM" (0x43 0x41 0x50 0x4d)
 *   offset 4  u8     major     PEER_MSG_VERSION_MAJOR
 *   offset 5  u8     minor     PEER_MSG_VERSION_MINOR
 *   offset 6  u8     kind      enum peer_msg_wire_kind
 *   offset 7  u8     flags     none defined in 1.0
 *   offset 8  u32be  body_len  bytes of JSON after the header
 *
 * 64-bit unsigned counters (epochs, ring seq, instance start times, liveness
 * seq) travel as canonical decimal JSON strings ("0".."18446744073709551615")
 * because a JSON integer (jansson: signed 64-bit; many peers: a double)
 * cannot carry all of them exactly.  nodeids and pids are JSON integers in
 * [0, 2^32-1]; sent_mono_ms is a JSON integer (signed 64-bit).
 *
 * Versioning: a different major is refused (-EPROTONOSUPPORT).  Any minor of
 * our major is accepted; a minor newer than ours may carry members, flags and
 * kinds this build does not know: unknown members and flags are ignored, an
 * unknown kind is -ENOMSG (skip it).  From a minor not newer than ours they
 * are -EBADMSG: that sender knows the same format and must not send them.
 */
#ifndef COLO_ARBITER_PEER_MSG_H
#define COLO_ARBITER_PEER_MSG_H

#include "fsm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_MSG_MAX 4096 /* whole message, header included */
#define PEER_MSG_HDR_LEN 12
#define PEER_MSG_MAGIC "CAPM" /* Colo-Arbiter Peer Message, 4 bytes, no NUL */
#define PEER_MSG_VERSION_MAJOR 1
#define PEER_MSG_VERSION_MINOR 0
#define PEER_MSG_VM_NAME_MAX 63 /* [A-Za-z0-9_.-]{1,63}, no leading "." */

/*
 * Kind codes on the wire.  Fixed numbers, independent of the order of
 * enum fsm_msg_kind: reordering that enum must not change the format.
 */
enum peer_msg_wire_kind {
	PEER_WIRE_LIVENESS = 1,
	PEER_WIRE_STATE = 2,
	PEER_WIRE_SYNC_DONE = 3,
	PEER_WIRE_PROPOSE = 4,
	PEER_WIRE_ACK = 5,
	PEER_WIRE_NACK = 6,
	PEER_WIRE_FENCING = 7,
};

/*
 * Where a message was refused.  member: "header.magic", "header.major",
 * "header.kind", "header.flags", "header.length", "body" (JSON syntax: msg
 * has the byte offset), or the member path, e.g. "prop.to.hinst.start".
 */
struct peer_msg_error {
	char member[32];
	char msg[160];
};

/* The header, as peer_msg_peek() reads it (for logging a peer's version). */
struct peer_msg_header {
	uint8_t major;
	uint8_t minor;
	uint8_t kind;  /* wire code, maybe one this build does not know */
	uint8_t flags;
	uint32_t body_len;
};

/*
 * Encodes *m into buf.  Returns the message length (<= PEER_MSG_MAX), or
 * -EINVAL (unknown kind or enum value, unsafe VM name, nodeid 0 where a node
 * is required), -EMSGSIZE (cap too small; cap >= PEER_MSG_MAX always fits),
 * -ENOMEM.  The encoding is canonical: members sorted by name, no spaces,
 * so one struct has exactly one encoding.  Fields the kind does not use are
 * not sent (and are zero after decoding).
 */
int peer_msg_encode(const struct fsm_msg *m, void *buf, size_t cap);

/*
 * Decodes one whole CPG message (len = the delivered msg_len).  *out is
 * zeroed first, then filled; on error it stays zeroed.  Returns 0,
 *   -EBADMSG          malformed: bad magic, length, JSON, member, name...
 *   -EPROTONOSUPPORT  another major version
 *   -EMSGSIZE         longer than PEER_MSG_MAX (declared or delivered)
 *   -ENOMSG           a kind this build does not know, from a newer minor:
 *                     expected during a rolling upgrade, skip it quietly
 *   -ENOMEM, or -EINVAL if out is NULL
 * err (may be NULL) says which member and why.
 */
int peer_msg_decode(const void *buf, size_t len, struct fsm_msg *out,
		    struct peer_msg_error *err);

/* peer_msg_decode() without its fast path for the canonical bytes
 * peer_msg_encode() writes: every body through a jansson tree.  The
 * reference that path is tested against; same results and codes. */
int peer_msg_decode_tree(const void *buf, size_t len, struct fsm_msg *out,
			 struct peer_msg_error *err);

/* Reads and checks the header only (magic, major, length); same codes. */
int peer_msg_peek(const void *buf, size_t len, struct peer_msg_header *h,
		  struct peer_msg_error *err);

/* Wire code of a kind, 0 if none; and back (-1 if unknown). */
uint8_t peer_msg_kind_to_wire(enum fsm_msg_kind k);
int peer_msg_kind_from_wire(uint8_t code, enum fsm_msg_kind *k);

/* Lower-case wire name of a kind ("liveness", "state", ...), "?" if none. */
const char *peer_msg_kind_to_str(enum fsm_msg_kind k);

/*
 * [A-Za-z0-9_.-]{1,63} not starting with '.' (config.c's rule for VM names):
 * safe as a file name and in logs.  len excludes the NUL.
 */
bool peer_msg_vm_name_valid(const char *name, size_t len);

/*
 * Batch container: several whole peer messages in one CPG message, so that
 * the hundreds of sends one event can cause (a node loss with 500 VMs, a
 * state round) cost corosync one message, not hundreds.  A batch is
 * delivered whole in one view, so its messages keep their order and stay
 * contiguous in the agreed order: what the fsm sees is the same sequence
 * of PEER_MSG events as if they had been sent one by one back to back.
 * Layout (big-endian), a container of its own, not a peer message kind:
 *   offset 0  u8[4]  magic     "CAPB" (a 1.0 peer refuses it by its magic)
 *   offset 4  u8     major     PEER_BATCH_VERSION_MAJOR
 *   offset 5  u8     minor     PEER_BATCH_VERSION_MINOR
 *   offset 6  u16be  count     messages inside, 1..PEER_BATCH_MAX_MSGS
 *   offset 8  u32be  body_len  bytes after this header
 *   then `count` whole "CAPM" peer messages (header and body each),
 *   tiling the body exactly; a batch never holds a batch.
 * A compressed batch (major 2) carries the same body through zlib: at 500
 * VMs a node loss put ~1 MB of JSON through totem (a STATE is ~430 bytes),
 * ~45 token rotations of 17 packets, and the epoch commit waited behind
 * it; compressed it is about a tenth.
 *   offset 0  u8[4]  magic     "CAPB"
 *   offset 4  u8     major     PEER_BATCH_Z_MAJOR (2)
 *   offset 5  u8     minor     0
 *   offset 6  u16be  count     as above
 *   offset 8  u32be  body_len  bytes of zlib stream after this header
 *   offset 12 u32be  raw_len   bytes it inflates to: the major-1 body
 *   then one zlib stream (RFC 1950), ending exactly at the end.
 */
#define PEER_BATCH_MAGIC "CAPB"
#define PEER_BATCH_VERSION_MAJOR 1
#define PEER_BATCH_VERSION_MINOR 0
#define PEER_BATCH_Z_MAJOR 2
#define PEER_BATCH_Z_HDR_LEN 16
#define PEER_BATCH_Z_WBITS 13 /* the compressor's window: 8 KiB */
#define PEER_BATCH_MAX (64 * 1024) /* whole batch, header included */
#define PEER_BATCH_MAX_MSGS 1024

/* True if buf starts with the batch magic (then use peer_batch_decode). */
bool peer_batch_is(const void *buf, size_t len);

/* Starts an empty batch in buf; returns its length (the header) or
 * -EMSGSIZE if cap cannot hold a header. */
int peer_batch_init(void *buf, size_t cap);

/*
 * Appends one encoded peer message (from peer_msg_encode) to the batch of
 * length len in buf.  Returns the new length, -EMSGSIZE if it would pass
 * cap, PEER_BATCH_MAX or PEER_BATCH_MAX_MSGS (the batch is unchanged), or
 * -EINVAL if msg is not one whole peer message.
 */
int peer_batch_add(void *buf, size_t cap, size_t len, const void *msg,
		   size_t msg_len);

/* Number of messages in a batch built by peer_batch_init/add. */
unsigned peer_batch_count(const void *buf);

/*
 * The compressed form (major 2) of a batch built by peer_batch_init/add,
 * into out.  Returns its length, -EMSGSIZE if it would not be smaller than
 * the batch or not fit in cap (send the batch as it is then), -EINVAL for
 * a buf that is not such a batch, -ENOMEM.
 */
int peer_batch_compress(const void *buf, size_t len, void *out, size_t cap);

/*
 * Decodes a whole batch into out[0..*n).  All or nothing: any malformed
 * header, length, count or inner message refuses the whole batch (*n = 0,
 * out zeroed), with err->member "batch.header", "batch.length",
 * "batch.count" or "batch[i].<member of message i>".  Inner messages of a
 * kind from a newer minor (-ENOMSG) are skipped, as alone.  A compressed
 * batch is inflated (at most PEER_BATCH_MAX - 12 bytes, exactly raw_len,
 * the stream ending exactly at the end: else "batch.body") and read the
 * same way.  Returns 0, -EBADMSG, -EPROTONOSUPPORT (another batch or
 * message major), -EMSGSIZE, -ENOMEM, or -EINVAL (NULL out, or cap < the
 * batch's count).
 */
int peer_batch_decode(const void *buf, size_t len, struct fsm_msg *out,
		      unsigned cap, unsigned *n, struct peer_msg_error *err);

#endif
