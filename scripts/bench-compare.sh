#!/usr/bin/env bash
# bench-compare.sh — what a change did: `tunstack serve` from two trees (a checkout before the change
# and one after), the same clients, the runs alternating between them, in one session.
#
#   sudo scripts/bench-compare.sh BEFORE_TREE AFTER_TREE     (each tree a clone with `npm install` done)
#     env BENCH_RUNS=N     runs of each measurement per tree, 1..9 (default 3), alternating
#     env BENCH_DURATION=S each wrk run (default 5 s)
#     env BENCH_NS_PREFIX  the namespace's name (default tsk-bench-cmp)
#     env BENCH_MEASURE    which measurements (default "ka abk ab1"; also dl)
#
# Measurements (clients in the namespace, each bounded by count and `timeout`):
#   ka   wrk -t2 -c50 -dDs /bytes/13 (keep-alive)   req/s
#   abk  ab -k -c50 -n 50000 /bytes/13               req/s
#   ab   ab -c20 -n 5000 /bytes/13, a connection per request: connections/s
#   dl   curl /bytes/100000000 (a new connection each run)   MB/s (10^6 bytes)
# Both servers run at once, idle while the other is measured (after a 2 s wrk warm-up each): BEFORE on tunstack0 (10.77.0.1/24 ->
# 10.77.0.2), AFTER on tunstack1 (10.79.0.1/24 -> 10.79.0.2); 5 s keep-alive idle timeout, unlimited
# requests per connection, no logging. The namespace is created here and deleted by name on every
# way out; every process is stopped by its pid. Prints each run and the medians; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-5}
[[ $# -eq 2 ]] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ "$RUNS" =~ ^[1-9]$ ]] || { echo "bench-compare.sh: BENCH_RUNS must be 1..9, got $RUNS" >&2; exit 2; }
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 1 && "$DURATION" -le 60 ]] || { echo "bench-compare.sh: bad duration $DURATION" >&2; exit 2; }
TREES=()
for t in "$1" "$2"; do
  [[ -f "$t/src/cli.ts" && -e "$t/node_modules/tsx" ]] || { echo "bench-compare.sh: $t is not a tunstack tree with npm install done" >&2; exit 2; }
  TREES+=("$(cd "$t" && pwd)")
done

read -r -a MEASURE <<<"${BENCH_MEASURE:-ka abk ab1}"
for m in "${MEASURE[@]}"; do
  [[ $m =~ ^(ka|abk|ab1|dl)$ ]] || bench_die "unknown measurement $m (ka, abk, ab1, dl)"
done
bench_init compare wrk ab curl
NS="${BENCH_NS_PREFIX:-tsk-bench-cmp}-$$"
bench_netns_add "$NS"

NAMES=(before after)
URLS=(http://10.77.0.2 http://10.79.0.2)
DEVS=("--tun tunstack0 --host-addr 10.77.0.1/24 --addr 10.77.0.2" "--tun tunstack1 --host-addr 10.79.0.1/24 --addr 10.79.0.2")
for i in 0 1; do
  # shellcheck disable=SC2086 # DEVS[i] is a list of flags
  bench_bg "${NAMES[$i]}" "$NS" env -C "${TREES[$i]}" "$BENCH_NODE" --import tsx src/cli.ts serve --log-level warn \
    --echo-port 0 --max-requests 1000000 --idle-timeout 5000 ${DEVS[$i]}
  bench_wait_ready "$BENCH_DIR/${NAMES[$i]}.out" "$BENCH_LAST_PID" 'tunstack: ready' "tunstack serve (${NAMES[$i]})"
done

client() { # LIMIT_SECONDS CMD...
  local limit="$1"
  shift
  timeout "$limit" ip netns exec "$NS" "$@"
}
ka() { client $((DURATION + 20)) wrk -t2 -c50 -d"${DURATION}s" --timeout 5s "$1/bytes/13" 2>&1 | sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p'; }
abk() { client 120 ab -q -k -r -s 10 -n 50000 -c 50 "$1/bytes/13" 2>&1 | sed -n 's/^Requests per second:[[:space:]]*\([0-9.]*\).*/\1/p'; }
dl() { client 60 curl -s -o /dev/null --max-time 50 -w '%{speed_download}' "$1/bytes/100000000" | awk '{printf "%.0f", $1 / 1e6}'; }
ab1() { client 120 ab -q -r -s 10 -n 5000 -c 20 "$1/bytes/13" 2>&1 | sed -n 's/^Requests per second:[[:space:]]*\([0-9.]*\).*/\1/p'; }

# Warm-up, not counted: the JIT compiles the hot paths of both servers before the first measurement.
for i in 0 1; do client 20 wrk -t2 -c50 -d2s "${URLS[$i]}/bytes/13" >/dev/null 2>&1 || true; done

declare -A R
for m in "${MEASURE[@]}"; do
  for ((r = 1; r <= RUNS; r++)); do
    for i in 0 1; do
      v=$("$m" "${URLS[$i]}")
      v=${v:-error}
      R[$m,$i]+="$v "
      printf '%-4s run %d %-6s %s %s\n' "$m" "$r" "${NAMES[$i]}" "$v" "$([[ $m == dl ]] && echo MB/s || echo req/s)"
    done
  done
done

median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else printf "%.0f (%.0f-%.0f)\n", v[int((NR+1)/2)], v[1], v[NR]}'; }
echo
echo "median (range) of $RUNS runs, alternating; before: ${TREES[0]}, after: ${TREES[1]}"
printf '%-32s %-26s %-26s\n' metric before after
declare -A LABEL=([ka]="wrk -t2 -c50 ${DURATION}s keep-alive" [abk]="ab -k -c50 -n 50000" [ab1]="ab -c20 -n 5000 (new conn/s)" [dl]="curl 100 MB download (MB/s)")
for m in "${MEASURE[@]}"; do
  printf '%-32s %-26s %-26s\n' "${LABEL[$m]}" "$(median <<<"${R[$m,0]}")" "$(median <<<"${R[$m,1]}")"
done
