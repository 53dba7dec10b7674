#!/bin/sh
# Replays every fuzz corpus through its target's standalone driver (TAP from the driver).
exec "$TOP_BUILDDIR/test/fuzz/replay_qmp" "$TOP_SRCDIR/test/fuzz/corpus/qmp"
