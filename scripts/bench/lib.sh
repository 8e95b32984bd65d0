# lib.sh — shared plumbing for scripts/bench-*.sh (sourced, not run).
#
# The benchmarks create their own network namespaces (tsk-bench-<what>-<pid>[-k]), run `tunstack
# serve` in one (TUN device tunstack0: kernel side 10.77.0.1/24, the stack answers as 10.77.0.2),
# connect it to a second namespace with a veth pair (10.88.0.1 <-> 10.88.0.2) for the kernel-to-kernel
# baseline, and on exit (normal, error, Ctrl-C) stop what they started, by PID, and delete exactly
# the namespaces they created. Every command is bounded by `timeout`. Nothing touches the host's network.
#
# The scripts print figures; they assert nothing.

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NODE=${NODE:-node}
BENCH_PY=/usr/bin/python3
BENCH_NAMESPACES=()
BENCH_PIDS=()
BENCH_STACK_PID=0
BENCH_STACK_URL=http://10.77.0.2
BENCH_KERNEL_LOCAL=10.88.0.1
BENCH_KERNEL_PEER=10.88.0.2

bench_die() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; exit 1; }
bench_note() { printf '%s\n' "$*" >&2; }

# bench_init NAME TOOL...: root, tools, work dir /tmp/tunstack-bench-NAME, cleanup trap.
bench_init() {
  BENCH_NAME="bench-$1"
  shift
  [[ $(id -u) -eq 0 ]] || bench_die "run as root: sudo $0 (network namespaces and a TUN device need CAP_NET_ADMIN)"
  local t
  for t in ip timeout "$BENCH_PY" "$BENCH_NODE" "$@"; do
    command -v "$t" >/dev/null 2>&1 || bench_die "'$t' is not installed"
  done
  [[ -e "$BENCH_ROOT/node_modules/tsx" ]] || bench_die "run 'npm install' in $BENCH_ROOT first"
  [[ -c /dev/net/tun ]] || bench_die "/dev/net/tun is missing (modprobe tun)"
  BENCH_DIR="/tmp/tunstack-$BENCH_NAME"
  rm -rf -- "$BENCH_DIR"
  mkdir -p -- "$BENCH_DIR"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cd "$BENCH_ROOT"
}

# bench_netns_add NAME: create namespace NAME (loopback up) and remember it for cleanup.
bench_netns_add() {
  local name="$1"
  if ip netns list | awk '{print $1}' | grep -qx -- "$name"; then bench_die "namespace $name already exists"; fi
  timeout 10 ip netns add "$name"
  BENCH_NAMESPACES+=("$name")
  timeout 10 ip -n "$name" link set lo up
}

# bench_veth NS_A NS_B: a veth pair created inside NS_A (bv0, 10.88.0.1/24) with its peer moved
# straight into NS_B (bv1, 10.88.0.2/24). Both ends live and die with their namespaces.
bench_veth() {
  local a="$1" b="$2"
  timeout 10 ip -n "$a" link add bv0 type veth peer name bv1 netns "$b"
  timeout 10 ip -n "$a" addr add "$BENCH_KERNEL_LOCAL/24" dev bv0
  timeout 10 ip -n "$b" addr add "$BENCH_KERNEL_PEER/24" dev bv1
  timeout 10 ip -n "$a" link set bv0 up
  timeout 10 ip -n "$b" link set bv1 up
}

bench_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  bench_stack_stop >/dev/null 2>&1 || true
  local p n
  for p in "${BENCH_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      timeout 3 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    fi
  done
  for n in "${BENCH_NAMESPACES[@]}"; do timeout 10 ip netns delete "$n" 2>/dev/null || true; done
  if [[ $status -ne 0 ]]; then
    printf '%s stopped (status %d); outputs in %s\n' "$BENCH_NAME" "$status" "$BENCH_DIR" >&2
  fi
  exit "$status"
}

# bench_wait_ready FILE PID PATTERN WHAT: wait (30 s at most) for a line starting with PATTERN.
bench_wait_ready() {
  local file="$1" pid="$2" pattern="$3" what="$4" i
  for ((i = 0; i < 150; i++)); do
    if grep -q "^$pattern" "$file" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "${file%.out}.err" >&2 2>/dev/null || true
      bench_die "$what exited before it was ready (see ${file%.out}.err)"
    fi
    sleep 0.2
  done
  bench_die "$what did not print '$pattern' within 30 s (see $file)"
}

# The node flags of the `tunstack` command (the first line of scripts/tunstack.js and `npm start`;
# test/scripts/node-flags.test.ts keeps them equal): the benchmarks run the stack as people run it.
BENCH_STACK_NODE_FLAGS=(--max-semi-space-size=2 --initial-old-space-size=64)
# BENCH_NO_STACK_FLAGS=1: run the stack with node's defaults instead (to measure what the flags do).
if [[ ${BENCH_NO_STACK_FLAGS:-0} == 1 ]]; then BENCH_STACK_NODE_FLAGS=(); fi

# bench_stack_entry: the node arguments after the flags that run the CLI (BENCH_STACK_ARGS).
# BENCH_STACK_ENTRY=src (the default) runs the sources through tsx, as `npm start` in a clone does;
# BENCH_STACK_ENTRY=dist runs dist/cli.js, what the installed package runs, built first (`npm run
# build`, log in $BENCH_DIR) when it is missing or older than a file in src/. Run from $BENCH_ROOT.
bench_stack_entry() {
  case "${BENCH_STACK_ENTRY:-src}" in
    src) BENCH_STACK_ARGS=(--import tsx src/cli.ts) ;;
    dist)
      if [[ ! -f dist/cli.js || -n $(find src -newer dist/cli.js -print -quit) ]]; then
        timeout 300 npm run build >"$BENCH_DIR/build.log" 2>&1 || bench_die "npm run build failed (see $BENCH_DIR/build.log)"
      fi
      BENCH_STACK_ARGS=(dist/cli.js)
      ;;
    *) bench_die "BENCH_STACK_ENTRY must be src or dist, got ${BENCH_STACK_ENTRY}" ;;
  esac
}

# bench_node_http_build: compile scripts/bench/node-http-server.ts (and the src/ modules it imports)
# to JavaScript in $BENCH_DIR/node-http/ with the repository's tsc, so that the node:http baseline
# runs as a Node server is usually run: compiled code, plain node, Node's default flags. Under tsx
# the loader's own heap made its full garbage collections more frequent, a handicap the baseline
# should not carry. Sets BENCH_NODE_HTTP_JS.
bench_node_http_build() {
  local out="$BENCH_DIR/node-http"
  mkdir -p -- "$out"
  cat >"$out/tsconfig.json" <<EOT
{
  "extends": "$BENCH_ROOT/tsconfig.json",
  "files": ["$BENCH_ROOT/scripts/bench/node-http-server.ts"],
  "include": [],
  "compilerOptions": {
    "noEmit": false, "outDir": "$out/js", "rootDir": "$BENCH_ROOT", "rewriteRelativeImportExtensions": true,
    "sourceMap": false, "declaration": false, "typeRoots": ["$BENCH_ROOT/node_modules/@types"]
  }
}
EOT
  timeout 300 "$BENCH_ROOT/node_modules/.bin/tsc" -p "$out/tsconfig.json" >"$out/tsc.log" 2>&1 ||
    bench_die "compiling scripts/bench/node-http-server.ts failed (see $out/tsc.log)"
  BENCH_NODE_HTTP_JS="$out/js/scripts/bench/node-http-server.js"
}

# bench_stack_start NS [node flags...] -- [serve flags...]: `tunstack serve` in NS, log level warn;
# waits for "tunstack: ready". Output in $BENCH_DIR/stack.out / stack.err.
bench_stack_start() {
  local ns="$1"
  shift
  local nodeflags=()
  while [[ $# -gt 0 && "$1" != '--' ]]; do nodeflags+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  bench_stack_entry
  BENCH_STACK_OUT="$BENCH_DIR/stack.out"
  # The command's flags first, so that a caller's (a profiler's, say) come after them and win.
  ip netns exec "$ns" "$BENCH_NODE" "${BENCH_STACK_NODE_FLAGS[@]}" "${nodeflags[@]}" "${BENCH_STACK_ARGS[@]}" serve --log-level warn "$@" \
    >"$BENCH_STACK_OUT" 2>"$BENCH_DIR/stack.err" </dev/null &
  BENCH_STACK_PID=$!
  bench_wait_ready "$BENCH_STACK_OUT" "$BENCH_STACK_PID" 'tunstack: ready' 'tunstack serve'
}

# bench_stack_stop: SIGTERM (the stack prints its counters as `tunstack: stats {json}` and exits),
# 10 s bounded wait (a CPU profile is written at exit), then KILL.
bench_stack_stop() {
  [[ $BENCH_STACK_PID -ne 0 ]] || return 0
  local pid=$BENCH_STACK_PID i
  BENCH_STACK_PID=0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    bench_note "$BENCH_NAME: the stack did not exit within 10 s of SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# bench_stack_stats: the JSON counters the stack printed at exit (after bench_stack_stop).
bench_stack_stats() { sed -n 's/^tunstack: stats //p' "$BENCH_STACK_OUT" | tail -n 1; }

# bench_bg NAME NS CMD...: start CMD in NS in the background (output $BENCH_DIR/NAME.out/.err),
# remember its PID for cleanup; the PID is left in BENCH_LAST_PID.
bench_bg() {
  local name="$1" ns="$2"
  shift 2
  ip netns exec "$ns" "$@" >"$BENCH_DIR/$name.out" 2>"$BENCH_DIR/$name.err" </dev/null &
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_stop_pid PID: SIGTERM, 5 s bounded wait, then KILL.
bench_stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# bench_ratio A B: A / B with two decimals, or "-" when either is not a number or B is 0.
bench_ratio() {
  "$BENCH_PY" -c 'import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2])
    print("%.2f" % (a / b) if b != 0 else "-")
except ValueError:
    print("-")' "$1" "$2"
}
