#!/bin/sh
# Replays the peer message corpus through fuzz_peer's standalone driver (TAP from the driver).
exec "$TOP_BUILDDIR/test/fuzz/replay_peer" "$TOP_SRCDIR/test/fuzz/corpus/peer"
