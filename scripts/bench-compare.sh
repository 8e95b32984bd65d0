#!/usr/bin/env bash
# bench-compare.sh — what a change did: `tunstack serve` from two trees (a checkout before the change
# and one after), the same clients, the runs alternating between them, in one session.
#
#   sudo scripts/bench-compare.sh BEFORE_TREE AFTER_TREE     (each tree a clone with `npm install` done)
#     env BENCH_RUNS=N     runs of each measurement per tree, 1..9 (default 3), alternating
#     env BENCH_DURATION=S each wrk run (default 5 s)
#     env BENCH_NS_PREFIX  the namespace's name (default tsk-bench-cmp)
#
# Measurements (clients in the namespace, each bounded by count and `timeout`):
#   ka   wrk -t2 -c50 -dDs /bytes/13 (keep-alive)   req/s
#   abk  ab -k -c50 -n 50000 /bytes/13               req/s
#   ab   ab -c20 -n 5000 /bytes/13, a connection per request: connections/s, and the server's CPU
#        time (user + system, /proc/PID/stat) per connection, less noisy on a shared machine
#   c1k  wrk -t2 -c1000 -dDs --latency /bytes/13   req/s, p99 and max latency (ms), server RSS (MB)
#   dl   curl /bytes/100000000 (a new connection each run)   MB/s (10^6 bytes)
#     env BENCH_MEASURES   which of them, in order (default "ka abk ab"; "c1k" alone for the tail)
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
MEASURES=${BENCH_MEASURES:-ka abk ab}
for m in $MEASURES; do
  [[ $m =~ ^(ka|abk|ab|c1k|dl)$ ]] || { echo "bench-compare.sh: unknown measurement '$m' (ka, abk, ab, c1k, dl)" >&2; exit 2; }
done
TREES=()
for t in "$1" "$2"; do
  [[ -f "$t/src/cli.ts" && -e "$t/node_modules/tsx" ]] || { echo "bench-compare.sh: $t is not a tunstack tree with npm install done" >&2; exit 2; }
  TREES+=("$(cd "$t" && pwd)")
done

bench_init compare wrk ab curl
# wrk -c1000 and the servers need more than 1024 file descriptors: take the hard limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NS="${BENCH_NS_PREFIX:-tsk-bench-cmp}-$$"
bench_netns_add "$NS"

NAMES=(before after)
SPID=(0 0)
URLS=(http://10.77.0.2 http://10.79.0.2)
DEVS=("--tun tunstack0 --host-addr 10.77.0.1/24 --addr 10.77.0.2" "--tun tunstack1 --host-addr 10.79.0.1/24 --addr 10.79.0.2")
for i in 0 1; do
  # shellcheck disable=SC2086 # DEVS[i] is a list of flags
  bench_bg "${NAMES[$i]}" "$NS" env -C "${TREES[$i]}" "$BENCH_NODE" --import tsx src/cli.ts serve --log-level warn \
    --echo-port 0 --max-requests 1000000 --idle-timeout 5000 ${DEVS[$i]}
  bench_wait_ready "$BENCH_DIR/${NAMES[$i]}.out" "$BENCH_LAST_PID" 'tunstack: ready' "tunstack serve (${NAMES[$i]})"
  SPID[$i]=$BENCH_LAST_PID
done

client() { # LIMIT_SECONDS CMD...
  local limit="$1"
  shift
  timeout "$limit" ip netns exec "$NS" "$@"
}
m_ka() { client $((DURATION + 20)) wrk -t2 -c50 -d"${DURATION}s" --timeout 5s "$1/bytes/13" 2>&1 | sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p'; }
m_abk() { client 120 ab -q -k -r -s 10 -n 50000 -c 50 "$1/bytes/13" 2>&1 | sed -n 's/^Requests per second:[[:space:]]*\([0-9.]*\).*/\1/p'; }
m_dl() { client 60 curl -s -o /dev/null --max-time 50 -w '%{speed_download}' "$1/bytes/100000000" | awk '{printf "%.0f", $1 / 1e6}'; }
m_ab() { client 120 ab -q -r -s 10 -n 5000 -c 20 "$1/bytes/13" 2>&1 | sed -n 's/^Requests per second:[[:space:]]*\([0-9.]*\).*/\1/p'; }
# CPU time of process $1 so far (utime + stime, fields 14 and 15 of /proc/PID/stat), in clock ticks
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
# "REQ_PER_S P99_MS MAX_MS RSS_MB" of one wrk -c1000 run against URL $1 served by pid $2; wrk's
# latencies come as 812.00us, 23.70ms or 1.02s.
m_c1k() {
  client $((DURATION + 30)) wrk -t2 -c1000 -d"${DURATION}s" --timeout 5s --latency "$1/bytes/13" 2>&1 | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v * 60000 }
    /^ *Latency  / { max = ms($4) }
    /^ *99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    END { if (rps != "") printf "%s %.1f %.1f", rps, p99, max }'
  awk '/^VmRSS:/ { printf " %.0f", $2 / 1024 }' "/proc/$2/status" 2>/dev/null || true
  echo
  # 1,000 connections are closing: let the server settle before the next run
  sleep 2
}

# Warm-up, not counted: the JIT compiles the hot paths of both servers before the first measurement.
for i in 0 1; do client 20 wrk -t2 -c50 -d2s "${URLS[$i]}/bytes/13" >/dev/null 2>&1 || true; done

declare -A R
for m in $MEASURES; do
  for ((r = 1; r <= RUNS; r++)); do
    for i in 0 1; do
      if [[ $m == c1k ]]; then
        read -r rps p99 max rss <<<"$(m_c1k "${URLS[$i]}" "${SPID[$i]}")"
        R[c1k,$i]+="${rps:-error} "; R[p99,$i]+="${p99:-error} "; R[max,$i]+="${max:-error} "; R[rss,$i]+="${rss:-error} "
        printf '%-4s run %d %-6s %s req/s, p99 %s ms, max %s ms, RSS %s MB\n' "$m" "$r" "${NAMES[$i]}" "${rps:-error}" "$p99" "$max" "$rss"
        continue
      fi
      t0=$(cpu_ticks "${SPID[$i]}")
      v=$("m_$m" "${URLS[$i]}")
      v=${v:-error}
      R[$m,$i]+="$v "
      if [[ $m == ab ]]; then
        us=$(( ($(cpu_ticks "${SPID[$i]}") - t0) * TICK_US / 5000 ))
        R[abcpu,$i]+="$us "
        printf '%-4s run %d %-6s %s req/s, server CPU %s us per connection\n' "$m" "$r" "${NAMES[$i]}" "$v" "$us"
        continue
      fi
      printf '%-4s run %d %-6s %s %s\n' "$m" "$r" "${NAMES[$i]}" "$v" "$([[ $m == dl ]] && echo MB/s || echo req/s)"
    done
  done
done

median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk -v f="${1:-%.0f}" '{v[NR]=$1} END {if (NR == 0) print "-"; else printf f " (" f "-" f ")\n", v[int((NR+1)/2)], v[1], v[NR]}'; }
row() { [[ " $MEASURES " == *" $1 "* ]] && printf '%-32s %-26s %-26s\n' "$2" "$(median "${4:-}" <<<"${R[$3,0]}")" "$(median "${4:-}" <<<"${R[$3,1]}")"; return 0; }
echo
echo "median (range) of $RUNS runs, alternating; before: ${TREES[0]}, after: ${TREES[1]}"
printf '%-32s %-26s %-26s\n' metric before after
row ka "wrk -t2 -c50 ${DURATION}s keep-alive" ka
row abk "ab -k -c50 -n 50000" abk
row ab "ab -c20 -n 5000 (new conn/s)" ab
row ab "  server CPU us per connection" abcpu
row c1k "wrk -t2 -c1000 ${DURATION}s req/s" c1k
row c1k "  latency p99 ms" p99 %.1f
row c1k "  latency max ms" max %.1f
row c1k "  server RSS MB after a run" rss
row dl "curl 100 MB download (MB/s)" dl
