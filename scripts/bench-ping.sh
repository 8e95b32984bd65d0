#!/usr/bin/env bash
# bench-ping.sh — ICMP echo round trips per second: tunstack (through the TUN) next to the kernel
# (a veth pair between two namespaces), in one run. A flood ping (`ping -f`) sends the next request
# as soon as the reply arrives, so replies/s is 1 / (round-trip time incl. both ends' processing).
# tunstack is measured twice: as it runs by default, and with --busy-poll (it polls the TUN for the
# next request instead of sleeping in epoll, so a request does not wait for an idle core to wake).
#
#   sudo scripts/bench-ping.sh [-c COUNT] [-w SECONDS]       (npm run bench:ping)
#     -c COUNT    echo requests per target (default 100000; env BENCH_PING_COUNT)
#     -w SECONDS  deadline per target (default 60; env BENCH_PING_DEADLINE)
#   env BENCH_BUSY_POLL: the --busy-poll of the second tunstack run, in us (default 50)
#   env BENCH_NS_PREFIX: namespace names (default tsk-bench-ping; letters, digits, '-'), as bench-suite.sh
#
# Layout (all inside namespaces this script creates and deletes):
#   PREFIX-<pid>:   ping, tunstack serve (TUN tunstack0, 10.77.0.1/24 -> stack 10.77.0.2),
#                           veth bv0 10.88.0.1/24
#   PREFIX-<pid>-k: veth bv1 10.88.0.2/24 (the kernel answers)
# Prints figures; asserts nothing. Outputs stay in /tmp/tunstack-bench-ping/.
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

COUNT=${BENCH_PING_COUNT:-100000}
BUSY_US=${BENCH_BUSY_POLL:-50}
DEADLINE=${BENCH_PING_DEADLINE:-60}
while [[ $# -gt 0 ]]; do
  case "$1" in
    -c) COUNT="$2"; shift 2 ;;
    -w) DEADLINE="$2"; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-ping.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -ge 1 && "$COUNT" -le 10000000 ]] || { echo "bench-ping.sh: bad count $COUNT" >&2; exit 2; }
[[ "$BUSY_US" =~ ^[0-9]+$ && "$BUSY_US" -le 1000 ]] || { echo "bench-ping.sh: BENCH_BUSY_POLL must be 0..1000 us, got $BUSY_US" >&2; exit 2; }
[[ "$DEADLINE" =~ ^[0-9]+$ && "$DEADLINE" -ge 1 && "$DEADLINE" -le 600 ]] || { echo "bench-ping.sh: bad deadline $DEADLINE" >&2; exit 2; }

bench_init ping ping
NS_PREFIX=${BENCH_NS_PREFIX:-tsk-bench-ping}
[[ "$NS_PREFIX" =~ ^[A-Za-z0-9-]{1,30}$ ]] || { echo "bench-ping.sh: bad BENCH_NS_PREFIX $NS_PREFIX" >&2; exit 2; }
NS="$NS_PREFIX-$$"
NSK="$NS-k"
bench_netns_add "$NS"
bench_netns_add "$NSK"
bench_veth "$NS" "$NSK"

# flood NAME ADDR: ping -f, summary saved to $BENCH_DIR/NAME.txt; prints "received seconds" or "error".
flood() {
  local name="$1" addr="$2" out="$BENCH_DIR/$1.txt"
  timeout $((DEADLINE + 10)) ip netns exec "$NS" ping -q -n -f -c "$COUNT" -w "$DEADLINE" "$addr" >"$out" 2>&1 || true
  # "100000 packets transmitted, 100000 received, 0% packet loss, time 4321ms"
  sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.* time \([0-9]*\)ms.*/\1 \2 \3/p' "$out" | tail -n 1
}

# rate "SENT RECEIVED MS": replies per second.
rate() {
  local sent recv ms
  read -r sent recv ms <<<"$1"
  if [[ -z "${ms:-}" || "$ms" -eq 0 ]]; then echo error; return; fi
  echo $((recv * 1000 / ms))
}
rtt() { sed -n 's/^rtt min\/avg\/max\/mdev = [0-9.]*\/\([0-9.]*\)\/.*/\1/p' "$BENCH_DIR/$1.txt"; }

# stack_flood NAME [serve flags...]: start the stack, warm its JIT with a short flood (not counted),
# measure, stop; the result in FLOOD (no subshell: the cleanup trap must know the stack's pid), the
# counters it printed at exit in $BENCH_DIR/NAME.stats.
stack_flood() {
  local name="$1"
  shift
  bench_stack_start "$NS" -- --echo-port 0 "$@"
  timeout 20 ip netns exec "$NS" ping -q -n -f -c 2000 -w 10 10.77.0.2 >/dev/null 2>&1 || true
  FLOOD=$(flood "$name" 10.77.0.2)
  bench_stack_stop
  bench_stack_stats >"$BENCH_DIR/$name.stats"
}

echo "ping -f -c $COUNT -w $DEADLINE from the same namespace (ping, tunstack and the veth end share 2 cores)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
stack_flood stack
stack=$FLOOD
stack_flood busy --busy-poll "$BUSY_US"
busy=$FLOOD
kernel=$(flood kernel "$BENCH_KERNEL_PEER")

stack_rate=$(rate "$stack")
busy_rate=$(rate "$busy")
kernel_rate=$(rate "$kernel")
printf '\n%-34s %10s %10s %10s %10s\n' target sent received 'replies/s' 'avg rtt ms'
row() { printf '%-34s %10s %10s %10s %10s\n' "$1" "$(cut -d' ' -f1 <<<"$2")" "$(cut -d' ' -f2 <<<"$2")" "$3" "$(rtt "$4")"; }
row 'tunstack 10.77.0.2 (TUN)' "$stack" "$stack_rate" stack
row "tunstack --busy-poll $BUSY_US (TUN)" "$busy" "$busy_rate" busy
row 'kernel 10.88.0.2 (veth)' "$kernel" "$kernel_rate" kernel
printf 'ratio tunstack / kernel: %s, with --busy-poll %s: %s\n' "$(bench_ratio "$stack_rate" "$kernel_rate")" "$BUSY_US" "$(bench_ratio "$busy_rate" "$kernel_rate")"

# The TUN device's counters as each stack printed them at exit (they include the warm-up flood).
for name in stack busy; do
  stats=$(cat "$BENCH_DIR/$name.stats")
  if [[ -z "$stats" ]]; then
    echo "(no stats line from the stack: see $BENCH_DIR/stack.out)"
    continue
  fi
  "$BENCH_PY" -c 'import json, sys
s = json.loads(sys.argv[1])
d = s.get("device", {})
icmp = s.get("icmp", {})
rx, b = d.get("rxPackets"), d.get("rxBatches")
print("\nTUN device, %s (whole run, incl. 2000-packet warm-up):" % sys.argv[2])
print("  rx packets %s, rx batches %s, avg packets per batch %s" % (rx, b, "%.2f" % (rx / b) if rx and b else "-"))
print("  busy polls %s, ended by a packet %s" % (d.get("busyPolls"), d.get("busyPollHits")))
print("  tx packets %s, tx dropped %s, tx queued on EAGAIN %s, rx dropped %s, rx errors %s" % (
    d.get("txPackets"), d.get("txDropped"), d.get("txQueued"), d.get("rxDropped"), d.get("rxErrors")))
if icmp:
    print("  icmp: " + ", ".join("%s %s" % (k, v) for k, v in icmp.items() if not isinstance(v, (dict, list))))' "$stats" "$name"
done
echo "load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work on the machine skews both rows)"
echo "raw ping output: $BENCH_DIR/stack.txt, $BENCH_DIR/kernel.txt"
