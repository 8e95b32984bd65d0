#!/usr/bin/env bash
# bench-tx.sh — TUN writes per second, plain writev(2) against io_uring, 1 to 64 packets per tick.
#
#   sudo scripts/bench-tx.sh [PACKETS_PER_RUN=200000] [RUNS=3] [SIZE=1400]
#
# Runs scripts/bench-tx.ts inside a throwaway network namespace (scripts/netns-run.sh makes it and
# deletes it); the datagrams go to an address on the TUN link that nobody has, so the kernel drops
# them and nothing leaves the namespace. Prints figures; asserts nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ $(id -u) -eq 0 ]] || { echo "bench-tx.sh: run as root (a namespace and a TUN device need CAP_NET_ADMIN)" >&2; exit 1; }
cd "$ROOT"
exec timeout 600 scripts/netns-run.sh node --import tsx scripts/bench-tx.ts "$@"
