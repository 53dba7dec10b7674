#!/bin/sh
# Replays the config corpus through fuzz_config's standalone driver (TAP from the driver).
exec "$TOP_BUILDDIR/test/fuzz/replay_config" "$TOP_SRCDIR/test/fuzz/corpus/config"
