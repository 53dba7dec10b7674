#!/bin/sh
# Replays the control request corpus through fuzz_control's standalone driver (TAP from the driver).
exec "$TOP_BUILDDIR/test/fuzz/replay_control" "$TOP_SRCDIR/test/fuzz/corpus/control"
