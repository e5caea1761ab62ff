#!/usr/bin/env bash
# The same host set-up as up.sh (without starting the agent), then the whole suite:
# unit tests, then integration tests against real containerd, netns and packets.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh must run as root" >&2; exit 1; }
setup_host
ensure_test_tools
cd "$KNA_SRC"
log "running tests"
node scripts/run-tests.mjs all "$@"
