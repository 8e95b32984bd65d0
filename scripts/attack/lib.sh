# shellcheck shell=bash
# lib.sh — shared plumbing for the attack scripts in scripts/attack/ (sourced, not run).
#
# Every attack: creates its own network namespace tsattack-<name>-<pid>, starts `tunstack serve` in it
# (TUN tunstack0, kernel side 10.77.0.1/24, stack 10.77.0.2), attacks it from the kernel side of the
# same namespace, prints a small table of figures, stops the stack by its pid and deletes exactly that
# namespace — also on error, Ctrl-C or kill (trap). Nothing leaves the namespace.
#
# Environment:
#   TUNSTACK_TREE        the tree whose `src/cli.ts serve` is attacked (default: this script's repository)
#   TUNSTACK_SERVE_ARGS  extra flags for `tunstack serve` (word-split), e.g. "--tso off"
#   NODE                 node binary (default: node on PATH)
#   PYTHON               python3 binary (default: /usr/bin/python3, else python3); stdlib only

set -euo pipefail

ATK_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ATK_TREE=${TUNSTACK_TREE:-$(cd "$ATK_HERE/../.." && pwd)}
ATK_NODE=${NODE:-node}
if [[ -n "${PYTHON:-}" ]]; then ATK_PY=$PYTHON; elif [[ -x /usr/bin/python3 ]]; then ATK_PY=/usr/bin/python3; else ATK_PY=python3; fi
ATK_HOST=10.77.0.1
ATK_ADDR=10.77.0.2
ATK_TUN=tunstack0
ATK_URL=http://$ATK_ADDR
ATK_NS=''
ATK_NAME="attack-$(basename "$0" .sh)"
ATK_STACK_PID=0
ATK_BG_PIDS=()

atk_die() { printf '%s: %s\n' "${ATK_NAME:-attack}" "$*" >&2; exit 1; }
atk_usage_error() { printf '%s: %s\n' "${ATK_NAME:-attack}" "$*" >&2; atk_usage; exit 2; }
atk_step() { printf '\n-- %s\n' "$*"; }
atk_now_ms() { date +%s%3N; }

# atk_uint NAME VALUE: VALUE must be a non-negative integer (else usage error, exit 2).
atk_uint() { [[ "$2" =~ ^[0-9]+$ ]] || atk_usage_error "$1 must be a non-negative integer, got '$2'"; }

# atk_init NAME [TOOL...]: root, tools, work dir /tmp/tunstack-attack-NAME, namespace, cleanup trap.
atk_init() {
  local id=$1
  shift
  ATK_NAME="attack-$id"
  ATK_DIR="/tmp/tunstack-attack-$id"
  [[ $(id -u) -eq 0 ]] || atk_die "run as root: sudo $0 (a network namespace and a TUN device need CAP_NET_ADMIN)"
  local t
  for t in ip timeout curl "$ATK_PY" "$ATK_NODE" "$@"; do
    command -v "$t" >/dev/null 2>&1 || atk_die "'$t' is not installed (see scripts/attack/README.md)"
  done
  [[ -f "$ATK_TREE/src/cli.ts" ]] || atk_die "no src/cli.ts in TUNSTACK_TREE=$ATK_TREE"
  [[ -e "$ATK_TREE/node_modules/tsx" ]] || atk_die "run 'npm install' in $ATK_TREE first"
  [[ -c /dev/net/tun ]] || atk_die "/dev/net/tun is missing (modprobe tun)"
  rm -rf -- "$ATK_DIR"
  mkdir -p -- "$ATK_DIR"
  trap atk_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local name="tsattack-$id-$$"
  if ip netns list | awk '{print $1}' | grep -qx -- "$name"; then atk_die "namespace $name already exists"; fi
  ip netns add "$name"
  ATK_NS=$name
  ip -n "$ATK_NS" link set lo up
}

atk_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local p
  for p in "${ATK_BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  atk_stack_stop >/dev/null 2>&1 || true
  # Anything still inside our namespace was started by this script (the stack's children, clients).
  if [[ -n "$ATK_NS" ]]; then
    local pids
    pids=$(ip netns pids "$ATK_NS" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [[ -n "$pids" ]] && kill -KILL $pids 2>/dev/null || true
    ip netns delete "$ATK_NS" 2>/dev/null || true
  fi
  if [[ $status -ne 0 ]]; then
    printf '%s stopped (status %d); files in %s\n' "${ATK_NAME:-attack}" "$status" "${ATK_DIR:-?}" >&2
  fi
  exit "$status"
}

# ns CMD...: run CMD inside the attack's namespace.
ns() { ip netns exec "$ATK_NS" "$@"; }

# ns_bg CMD...: start CMD in the namespace in the background; its pid (ip netns exec execs CMD, so
# the pid is CMD's own) is left in ATK_BG_PID and killed (TERM) at cleanup if still running.
ns_bg() {
  ip netns exec "$ATK_NS" "$@" &
  ATK_BG_PID=$!
  ATK_BG_PIDS+=("$ATK_BG_PID")
}

# atk_bg_wait PID: wait for a background helper and forget it (no stale pid is signalled at cleanup).
atk_bg_wait() {
  local pid=$1 p kept=()
  wait "$pid" 2>/dev/null || true
  for p in "${ATK_BG_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  ATK_BG_PIDS=("${kept[@]}")
}

# atk_stack_start TAG: start `tunstack serve` (+ TUNSTACK_SERVE_ARGS) in the namespace, wait (30 s at
# most) for its "ready" line. Output in $ATK_DIR/stack-TAG.out/.err. Routes the spoofed client ranges
# 10.77.1.0/24 and 10.78.0.0/16 through the TUN, so crafted packets from them reach the stack (its
# replies to them come back up the TUN, where the kernel, not forwarding, drops them quietly).
atk_stack_start() {
  local tag=$1
  ATK_STACK_OUT="$ATK_DIR/stack-$tag.out"
  ATK_STACK_ERR="$ATK_DIR/stack-$tag.err"
  # shellcheck disable=SC2086 # TUNSTACK_SERVE_ARGS is a list of flags
  (cd "$ATK_TREE" && exec ip netns exec "$ATK_NS" "$ATK_NODE" --import tsx src/cli.ts serve --log-level warn \
    ${TUNSTACK_SERVE_ARGS:-}) >"$ATK_STACK_OUT" 2>"$ATK_STACK_ERR" </dev/null &
  ATK_STACK_PID=$!
  local i
  for ((i = 0; i < 150; i++)); do
    if grep -q '^tunstack: ready' "$ATK_STACK_OUT" 2>/dev/null; then
      # `ip netns exec` execs node (no fork): the pid we hold is the stack's own, for /proc/PID.
      [[ "$(cat "/proc/$ATK_STACK_PID/comm" 2>/dev/null)" == node* ]] ||
        atk_die "pid $ATK_STACK_PID is not node ($(cat "/proc/$ATK_STACK_PID/comm" 2>/dev/null)): cannot measure it"
      return 0
    fi
    if ! kill -0 "$ATK_STACK_PID" 2>/dev/null; then
      ATK_STACK_PID=0
      cat "$ATK_STACK_ERR" >&2
      atk_die "the stack exited before it was ready (see $ATK_STACK_ERR)"
    fi
    sleep 0.2
  done
  atk_die "the stack did not print 'tunstack: ready' within 30 s (see $ATK_STACK_OUT)"
}

# atk_stack_stop: SIGTERM (the stack prints its counters), 5 s bounded wait, then KILL.
atk_stack_stop() {
  [[ $ATK_STACK_PID -ne 0 ]] || return 0
  local pid=$ATK_STACK_PID i
  ATK_STACK_PID=0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "${ATK_NAME}: the stack did not stop on SIGTERM within 5 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# atk_routes: the spoofed source ranges are reached through the TUN.
atk_routes() {
  ns ip route replace 10.77.1.0/24 dev "$ATK_TUN"
  ns ip route replace 10.78.0.0/16 dev "$ATK_TUN"
}

# atk_rss_kb: the stack's resident set (VmRSS, kB).
atk_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$ATK_STACK_PID/status" 2>/dev/null || echo 0; }

# atk_cpu_ticks: the stack's utime+stime in clock ticks (/proc/PID/stat fields 14 and 15).
atk_cpu_ticks() {
  # The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  sed 's/^.*) //' "/proc/$ATK_STACK_PID/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0
}
ATK_HZ=$(getconf CLK_TCK)

# atk_cpu_secs TICKS_FROM TICKS_TO: seconds, 2 decimals.
atk_cpu_secs() { awk -v a="$1" -v b="$2" -v hz="$ATK_HZ" 'BEGIN { printf "%.2f", (b - a) / hz }'; }

# atk_mb KB: kB as MB, 1 decimal.
atk_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# atk_stats FILE [MAX_SECONDS]: /stats JSON into FILE (empty file if the stack does not answer).
atk_stats() {
  ns curl -s -m "${2:-5}" -o "$1" "$ATK_URL/stats" || : >"$1"
}

# atk_exit_stats: the counters the stack printed at exit (after atk_stack_stop).
atk_exit_stats() { sed -n 's/^tunstack: stats //p' "$ATK_STACK_OUT" | tail -n 1; }

# atk_json EXPR [FILE]: a python expression on JSON from FILE or stdin, bound to `j`; '-' if the JSON
# is missing or the expression fails (a stack that did not answer /stats).
atk_json() {
  local expr="$1"
  shift
  "$ATK_PY" -c 'import json,sys
try:
    src = open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin
    j = json.load(src)
    v = eval(sys.argv[1], {"j": j})
    print(v if isinstance(v, str) else json.dumps(v))
except Exception:
    print("-")' "$expr" "$@"
}

# atk_row LABEL VALUE [BEFORE]: one line of a figures table.
atk_row() { printf '  %-44s %16s   %s\n' "$1" "$2" "${3:-}"; }
atk_table_head() { printf '\n  %-44s %16s   %s\n' "figure" "measured" "before the fixes (issue 10)"; printf '  %s\n' "$(printf '%.0s-' {1..92})"; }

# atk_summary KEY=VALUE...: the line run-all.sh collects.
atk_summary() { printf 'ATTACK-SUMMARY %s %s\n' "$ATK_NAME" "$*"; }
