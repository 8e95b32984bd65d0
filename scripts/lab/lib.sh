# shellcheck shell=bash
# lib.sh — shared plumbing for the lab exercises in scripts/lab/ (sourced, not run).
#
# Every lab:  creates its own network namespace tsk-lab-<NN>-<pid>, starts tunstack inside it
# (`src/cli.ts serve`, which opens the TUN device tunstack0 with 10.77.0.1/24 on the kernel side and
# answers as 10.77.0.2), runs real Linux clients from the same namespace, prints the evidence, and on
# exit (normal, error or Ctrl-C) stops the stack and deletes exactly the namespaces it created.
# Files (capture, stack output) stay in /tmp/tunstack-lab-<NN>/ for Wireshark or a second look.
#
# Nothing here touches the host's network: every packet stays inside the lab's namespaces.

set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_PY=/usr/bin/python3
LAB_NODE=${NODE:-node}
# shellcheck disable=SC2034 # used by the lab scripts that source this file
LAB_URL=http://10.77.0.2
LAB_NAMESPACES=()
LAB_STACK_PID=0
LAB_STACK_RUN=0

# Colours only on a terminal.
if [[ -t 1 ]]; then
  LAB_B=$'\e[1m' LAB_D=$'\e[2m' LAB_G=$'\e[32m' LAB_Y=$'\e[33m' LAB_R=$'\e[31m' LAB_0=$'\e[0m'
else
  LAB_B='' LAB_D='' LAB_G='' LAB_Y='' LAB_R='' LAB_0=''
fi

title() { printf '\n%s== %s ==%s\n' "$LAB_B" "$*" "$LAB_0"; }
step() { printf '\n%s-- %s%s\n' "$LAB_B" "$*" "$LAB_0"; }
look() { printf '%s>> look: %s%s\n' "$LAB_Y" "$*" "$LAB_0"; }
ok() { printf '%sOK%s  %s\n' "$LAB_G" "$LAB_0" "$*"; }
bad() { printf '%sUNEXPECTED%s  %s\n' "$LAB_R" "$LAB_0" "$*"; LAB_SURPRISES=$((${LAB_SURPRISES:-0} + 1)); }
die() { printf '%s: %s\n' "${LAB_NAME:-lab}" "$*" >&2; exit 1; }
# Show a command before running it, the way a student would type it (inside the namespace).
show() { printf '%s$ %s%s\n' "$LAB_D" "$*" "$LAB_0"; }
indent() { sed 's/^/    /'; }

# check MESSAGE COMMAND...: run COMMAND (usually test or grep -q) and print OK or UNEXPECTED with
# MESSAGE; never aborts: a lab reports what happened, it does not crash on a surprise.
check() {
  local msg=$1
  shift
  if "$@"; then ok "$msg"; else bad "$msg"; fi
}

# not COMMAND...: succeed when COMMAND fails (for check).
not() { ! "$@"; }

# lab_init NN: root, tools, work dir, namespace, cleanup trap.
lab_init() {
  LAB_NAME="lab-$1"
  LAB_DIR="/tmp/tunstack-lab-$1"
  [[ $(id -u) -eq 0 ]] || die "run as root: sudo $0 (a network namespace and a TUN device need CAP_NET_ADMIN)"
  local t
  for t in ip tc tshark curl timeout "$LAB_PY" "$LAB_NODE"; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' is not installed (see scripts/lab/README.md, 'Before you start')"
  done
  [[ -e "$LAB_ROOT/node_modules/tsx" ]] || die "run 'npm install' in $LAB_ROOT first"
  [[ -c /dev/net/tun ]] || die "/dev/net/tun is missing (modprobe tun)"
  rm -rf -- "$LAB_DIR"
  mkdir -p -- "$LAB_DIR"
  LAB_PCAP="$LAB_DIR/capture.pcap"
  trap lab_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  lab_netns_add "$1"
  LAB_NS=$LAB_NEW_NS
  cd "$LAB_ROOT"
}

# lab_netns_add SUFFIX: create tsk-lab-SUFFIX-<pid> with loopback up; its name is left in LAB_NEW_NS.
lab_netns_add() {
  local name="tsk-lab-$1-$$"
  if ip netns list | awk '{print $1}' | grep -qx -- "$name"; then die "namespace $name already exists"; fi
  ip netns add "$name"
  LAB_NAMESPACES+=("$name")
  ip -n "$name" link set lo up
  LAB_NEW_NS=$name
}

lab_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stack_stop >/dev/null 2>&1 || true
  local n
  for n in "${LAB_NAMESPACES[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
  if [[ $status -eq 0 ]]; then
    printf '\n%sfiles: %s (capture.pcap opens in Wireshark)%s\n' "$LAB_D" "$LAB_DIR" "$LAB_0"
    if [[ ${LAB_SURPRISES:-0} -gt 0 ]]; then
      printf '%s%d check(s) did not come out as the chapter predicts: see UNEXPECTED above.%s\n' "$LAB_R" "$LAB_SURPRISES" "$LAB_0"
    fi
  else
    printf '%s%s stopped (status %d); stack output: %s/stack.out, %s/stack.err%s\n' \
      "$LAB_R" "$LAB_NAME" "$status" "$LAB_DIR" "$LAB_DIR" "$LAB_0" >&2
  fi
  exit "$status"
}

# ns CMD...: run CMD inside the lab's namespace.
ns() { ip netns exec "$LAB_NS" "$@"; }

# stack_start [serve flags...]: start `tunstack serve` in the namespace (capture to $LAB_PCAP, or
# $LAB_DIR/capture-N.pcap for the Nth start), wait (bounded) for "tunstack: ready".
stack_start() {
  LAB_STACK_RUN=$((LAB_STACK_RUN + 1))
  local suffix=''
  [[ $LAB_STACK_RUN -eq 1 ]] || suffix="-$LAB_STACK_RUN"
  LAB_PCAP="$LAB_DIR/capture$suffix.pcap"
  LAB_STACK_OUT="$LAB_DIR/stack$suffix.out"
  local err="$LAB_DIR/stack$suffix.err"
  show "node --import tsx src/cli.ts serve --pcap $LAB_PCAP --log-level warn $*"
  ip netns exec "$LAB_NS" "$LAB_NODE" --import tsx src/cli.ts serve --pcap "$LAB_PCAP" --log-level warn "$@" \
    >"$LAB_STACK_OUT" 2>"$err" </dev/null &
  LAB_STACK_PID=$!
  local i
  for ((i = 0; i < 150; i++)); do # 30 s at most (tsx compiles on first start)
    if grep -q '^tunstack: ready' "$LAB_STACK_OUT" 2>/dev/null; then
      grep '^tunstack: ready' "$LAB_STACK_OUT" | indent
      return 0
    fi
    if ! kill -0 "$LAB_STACK_PID" 2>/dev/null; then
      LAB_STACK_PID=0
      cat "$err" >&2
      die "the stack exited before it was ready (output above, also in $err)"
    fi
    sleep 0.2
  done
  die "the stack did not print 'tunstack: ready' within 30 s (see $LAB_STACK_OUT, $err)"
}

# stack_stop: SIGTERM (the stack prints its counters and flushes the capture), bounded wait, then KILL.
stack_stop() {
  [[ $LAB_STACK_PID -ne 0 ]] || return 0
  local pid=$LAB_STACK_PID i
  LAB_STACK_PID=0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do # 5 s
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$LAB_NAME: the stack did not stop on SIGTERM within 5 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# stack_exit_stats: the JSON counters the stack printed at exit (after stack_stop).
stack_exit_stats() { sed -n 's/^tunstack: stats //p' "$LAB_STACK_OUT" | tail -n 1; }

# json EXPR [FILE]: evaluate a python expression on JSON read from FILE or stdin (bound to `j`).
json() {
  local expr="$1"
  shift
  "$LAB_PY" -c 'import json,sys
src = open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin
j = json.load(src)
v = eval(sys.argv[1], {"j": j})
print(v if isinstance(v, str) else json.dumps(v))' "$expr" "$@"
}

# pageload NAME ARGS...: `tunstack pageload ARGS` (src/pageload/), simulated (ARGS has --sim: no
# namespace or device needed). Prints the waterfall, keeps it in $LAB_DIR/NAME.txt, draws it in
# $LAB_DIR/NAME.svg and leaves the raw timings in $LAB_DIR/NAME.json (read them with `json`).
pageload() {
  local name=$1
  shift
  show "node --import tsx src/cli.ts pageload $* --svg $LAB_DIR/$name.svg"
  "$LAB_NODE" --import tsx src/cli.ts pageload "$@" --svg "$LAB_DIR/$name.svg" --json "$LAB_DIR/$name.json" >"$LAB_DIR/$name.txt"
  indent <"$LAB_DIR/$name.txt"
}

# pageload_live NAME ARGS...: the same, live: the pageload client is a second tunstack on its own
# TUN device (tsk-pl1, 10.79.0.2) in the lab's namespace, whose kernel forwards between it and the
# served stack (10.77.0.2) on tunstack0. The stack must be running (stack_start).
pageload_live() {
  local name=$1
  shift
  ip netns exec "$LAB_NS" sysctl -q -w net.ipv4.ip_forward=1
  show "node --import tsx src/cli.ts pageload $* --tun tsk-pl1 --host-addr 10.79.0.1/24 --addr 10.79.0.2 --svg $LAB_DIR/$name.svg"
  ns timeout 60 "$LAB_NODE" --import tsx src/cli.ts pageload "$@" --tun tsk-pl1 --host-addr 10.79.0.1/24 --addr 10.79.0.2 \
    --log-level warn --timeout 30000 --svg "$LAB_DIR/$name.svg" --json "$LAB_DIR/$name.json" >"$LAB_DIR/$name.txt"
  indent <"$LAB_DIR/$name.txt"
}

# tsh ARGS...: tshark on the capture, quiet about running as root.
tsh() { tshark -r "$LAB_PCAP" "$@" 2>/dev/null; }

# count_pkts FILTER: packets in the capture matching a display filter.
count_pkts() { tsh -Y "$1" | wc -l | tr -d ' '; }

# syn_count: connection attempts (SYN without ACK) in the capture.
syn_count() { count_pkts 'tcp.flags.syn==1 && tcp.flags.ack==0'; }

# client_ports: the client (kernel) ports of every connection, in the order they were opened.
client_ports() { tsh -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.srcport; }

# pcap_for_port PORT OUT: the packets of one connection (client port PORT) as a separate pcap.
pcap_for_port() { tshark -r "$LAB_PCAP" -Y "tcp.port==$1" -F pcap -w "$2" 2>/dev/null; }

# ladder PCAP [WIDTH]: the capture's first TCP connection as an ASCII ladder diagram.
ladder() { "$LAB_NODE" --import tsx src/cli.ts ladder "$1" --width "${2:-72}"; }

# flush_wait: the capture is flushed every second while the stack runs.
flush_wait() { sleep 1.3; }

# now_ms: a monotonic-enough wall clock in ms for side-by-side timings.
now_ms() { date +%s%3N; }

# segments FILTER: one line per matching packet: time since capture start, sender, TCP flags
# (Wireshark letters: S SYN, A ACK, P PSH, F FIN, R RST), relative seq/ack, payload length.
segments() {
  tsh -Y "$1" -T fields -e frame.time_relative -e ip.src -e tcp.srcport -e tcp.flags.str -e tcp.seq -e tcp.ack -e tcp.len |
    sed 's/·//g' |
    awk -F'\t' '{ printf "%9.3f s  %s:%-5s  %-3s  seq=%s ack=%s len=%s\n", $1, $2, $3, $4, $5, $6, $7 }'
}
