#!/usr/bin/env bash
# bench-http.sh — the demo site served by tunstack (through the TUN) next to the same handler on
# Node's own node:http over the kernel's TCP (a veth pair between two namespaces), in one run.
#
#   sudo scripts/bench-http.sh [-d SECONDS] [-r RUNS] [--no-split] [--profile [ka|pipe|ab|curl]]   (npm run bench:http)
#     -d SECONDS   each wrk run (default 10; env BENCH_DURATION)
#     -r RUNS      run every measurement RUNS times (1..9, default 1; env BENCH_RUNS), the targets taking
#                  turns, and print the median with the range: on a shared 2-core machine single runs
#                  move by +-30%
#     env BENCH_TSO on|off: tunstack's --tso (default on)
#     env BENCH_MTU the TUN device's MTU (default 1500; the veth keeps 1500 but has GSO/TSO offload)
#     --no-split   skip the third column (our HTTP server on node:net, i.e. kernel TCP)
#     --profile M  instead of the table: run the stack under `node --cpu-prof` for one run of
#                  measurement M (default ka) and print the top 10 functions by self time
#
# Measurements (each against tunstack, node:http, and our HTTP on kernel TCP):
#   ka     wrk -t1 -c20 -dDs  GET /bytes/100 over keep-alive connections: requests/s
#   pipe   the same with 16 requests per write (scripts/bench/pipeline.lua): requests/s
#   ab     ab -n 5000 -c 10 /bytes/100, a new connection per request: connections/s, failed requests
#   curl   curl /bytes/100000000: MB/s (1 MB = 10^6 bytes)
# /bytes/N does the same work on every server (the pages at / differ: only tunstack has TCP details).
# Servers: log level warn / no logging, 5 s keep-alive, unlimited requests per connection.
#
# Layout (all inside namespaces this script creates and deletes):
#   tsk-bench-http-<pid>:   the clients, tunstack serve (TUN: 10.77.0.1/24 -> stack 10.77.0.2), veth bv0 10.88.0.1
#   tsk-bench-http-<pid>-k: veth bv1 10.88.0.2: node:http on :80, our HTTP on node:net on :8080
# The client and the servers share the machine's cores. Prints figures; asserts nothing. A tool that
# fails shows "error" in the table and the run goes on. Outputs: /tmp/tunstack-bench-http/.
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-1}
SPLIT=1
PROFILE=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    -d) DURATION="$2"; shift 2 ;;
    -r) RUNS="$2"; shift 2 ;;
    --no-split) SPLIT=0; shift ;;
    --profile)
      PROFILE=ka
      if [[ $# -ge 2 && "$2" =~ ^(ka|pipe|ab|curl)$ ]]; then PROFILE="$2"; shift; fi
      shift
      ;;
    -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-http.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 1 && "$DURATION" -le 120 ]] || { echo "bench-http.sh: bad duration $DURATION" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9]$ ]] || { echo "bench-http.sh: -r must be 1..9, got $RUNS" >&2; exit 2; }

bench_init http wrk ab curl
bench_node_http_build # the node:http baseline as compiled JavaScript (lib.sh)
NS="tsk-bench-http-$$"
NSK="$NS-k"
bench_netns_add "$NS"
bench_netns_add "$NSK"
bench_veth "$NS" "$NSK"

SMALL=/bytes/100
BIG=/bytes/100000000
BIG_BYTES=100000000
AB_N=5000
AB_C=10
PIPE_DEPTH=16

# Every client runs in the first namespace, bounded by timeout.
client() {
  local limit="$1"
  shift
  timeout "$limit" ip netns exec "$NS" "$@"
}

# Each measurement prints one line "VALUE EXTRA" (EXTRA: errors/failures, or "-"), VALUE "error" when
# the tool failed; the tool's own output is kept in $BENCH_DIR/<target>-<metric>.txt.

m_wrk() { # TARGET URL TAG [wrk options...] [-- script args...]  (wrk wants the URL before the `--`)
  local out="$BENCH_DIR/$1-$3.txt" url="$2"
  shift 3
  local opts=()
  while [[ $# -gt 0 && "$1" != '--' ]]; do opts+=("$1"); shift; done
  client $((DURATION + 20)) wrk -t1 -c20 -d"${DURATION}s" --timeout 5s "${opts[@]}" "$url" "$@" >"$out" 2>&1 || true
  local rps errs non2xx
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
  # "Socket errors: connect 0, read 0, write 0, timeout 0" (only printed when there were some)
  errs=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$out" |
    awk '{ print $1 + $2 + $3 + $4 }')
  non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
  [[ -n "$rps" ]] || rps=error
  echo "$rps $((${errs:-0} + ${non2xx:-0}))"
}

m_ka() { m_wrk "$1" "$2$SMALL" ka; }
m_pipe() { m_wrk "$1" "$2$SMALL" pipe -s scripts/bench/pipeline.lua -- "$PIPE_DEPTH"; }

m_ab() { # TARGET BASE
  local out="$BENCH_DIR/$1-ab.txt"
  client 120 ab -q -r -s 10 -n "$AB_N" -c "$AB_C" "$2$SMALL" >"$out" 2>&1 || true
  local rps failed complete
  rps=$(sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' "$out")
  failed=$(sed -n 's/^Failed requests: *\([0-9]*\).*/\1/p' "$out")
  complete=$(sed -n 's/^Complete requests: *\([0-9]*\).*/\1/p' "$out")
  if [[ -z "$rps" ]]; then
    echo "error ${failed:-?}"
  else
    # Requests that never completed (ab gave up) count as failed too.
    echo "$rps $((${failed:-0} + AB_N - ${complete:-0}))"
  fi
}

m_curl() { # TARGET BASE
  local out="$BENCH_DIR/$1-curl.txt" res speed size code
  res=$(client 70 curl -sS --max-time 60 -o /dev/null -w '%{speed_download} %{size_download} %{http_code}' "$2$BIG" 2>"$out") || true
  echo "$res" >>"$out"
  read -r speed size code <<<"$res"
  if [[ "${code:-}" != 200 || "${size:-0}" != "$BIG_BYTES" ]]; then
    echo "error ${size:-0}"
    return
  fi
  "$BENCH_PY" -c 'import sys; print("%.1f -" % (float(sys.argv[1]) / 1e6))' "$speed"
}

# warm TARGET BASE: let the JIT settle before measuring (not counted).
warm() {
  client 15 wrk -t1 -c10 -d2s "$2$SMALL" >"$BENCH_DIR/$1-warmup.txt" 2>&1 || true
  client 30 curl -s --max-time 20 -o /dev/null "$2/bytes/10000000" || true
}

start_kernel_servers() {
  bench_bg node-http "$NSK" "$BENCH_NODE" "$BENCH_NODE_HTTP_JS" --port 80 --http node
  NODE_HTTP_PID=$BENCH_LAST_PID
  bench_wait_ready "$BENCH_DIR/node-http.out" "$BENCH_LAST_PID" 'bench-server: ready' 'node:http server'
  if [[ $SPLIT -eq 1 ]]; then
    bench_bg our-http-kernel "$NSK" "$BENCH_NODE" "$BENCH_NODE_HTTP_JS" --port 8080 --http tunstack
    SPLIT_PID=$BENCH_LAST_PID
    bench_wait_ready "$BENCH_DIR/our-http-kernel.out" "$BENCH_LAST_PID" 'bench-server: ready' 'our HTTP on node:net'
  fi
}

SERVE_FLAGS=(--echo-port 0 --max-requests 1000000 --idle-timeout 5000 --mtu "${BENCH_MTU:-1500}" --tso "${BENCH_TSO:-on}")

if [[ -n "$PROFILE" ]]; then
  mkdir -p "$BENCH_DIR/prof"
  bench_stack_start "$NS" --cpu-prof --cpu-prof-dir "$BENCH_DIR/prof" -- "${SERVE_FLAGS[@]}"
  warm tunstack "$BENCH_STACK_URL"
  echo "profiling tunstack serve during one '$PROFILE' run..."
  r=$("m_$PROFILE" tunstack "$BENCH_STACK_URL")
  echo "$PROFILE: $r (value, errors); the profiler slows the stack, so this figure is not comparable"
  bench_stack_stop
  # CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (1 is tsx's loader).
  prof=$(ls "$BENCH_DIR"/prof/CPU.*.0.*.cpuprofile 2>/dev/null | head -n 1 || true)
  [[ -n "$prof" ]] || bench_die "no .cpuprofile written (did the stack exit cleanly? see $BENCH_DIR/stack.err)"
  timeout 60 "$BENCH_NODE" --import tsx scripts/bench/cpuprofile-top.ts "$prof" 10
  echo "(the whole profile opens in Chrome DevTools > Performance, or VS Code)"
  exit 0
fi

bench_stack_start "$NS" -- "${SERVE_FLAGS[@]}"
start_kernel_servers

TARGETS=(tunstack kernel)
declare -A BASE=([tunstack]="$BENCH_STACK_URL" [kernel]="http://$BENCH_KERNEL_PEER" [split]="http://$BENCH_KERNEL_PEER:8080")
[[ $SPLIT -eq 1 ]] && TARGETS+=(split)
declare -A SPID=([tunstack]="$BENCH_STACK_PID" [kernel]="$NODE_HTTP_PID" [split]="${SPLIT_PID:-0}")
# cpu_ticks PID: "utime stime" of a process in clock ticks (/proc/PID/stat fields 14, 15; the command
# name in field 2 may hold spaces, so cut after its closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12, $13 }' || echo '0 0'; }
HZ=$(getconf CLK_TCK)
# stack_retransmits: tunstack's TCP retransmission counter, from its /stats page (one small request).
stack_retransmits() {
  client 10 curl -s --max-time 5 "$BENCH_STACK_URL/stats" 2>/dev/null |
    "$BENCH_PY" -c 'import json, sys; print(json.load(sys.stdin)["stats"]["tcp"]["retransmits"])' 2>/dev/null || echo error
}
declare -A R C X V E U S G
# summarize VALUES...: "median min..max" of the numeric ones ("error" when none is).
summarize() {
  "$BENCH_PY" -c 'import statistics, sys
v = sorted(float(x) for x in sys.argv[1:] if x.replace(".", "", 1).isdigit())
if not v: print("error -")
else:
    f = (lambda x: "%.1f" % x) if max(v) < 10000 else (lambda x: "%.0f" % x)
    print(f(statistics.median(v)), "%s..%s" % (f(v[0]), f(v[-1])))' "$@"
}
for t in "${TARGETS[@]}"; do warm "$t" "${BASE[$t]}"; done
started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for m in ka pipe ab curl; do
  for ((run = 1; run <= RUNS; run++)); do
    for t in "${TARGETS[@]}"; do
      printf '%-6s %-9s ' "$m" "$t" >&2
      [[ $t == tunstack ]] && x0=$(stack_retransmits)
      read -r u0 s0 <<<"$(cpu_ticks "${SPID[$t]}")"
      res=$("m_$m" "$t" "${BASE[$t]}")
      read -r u1 s1 <<<"$(cpu_ticks "${SPID[$t]}")"
      if [[ $t == tunstack ]]; then
        x1=$(stack_retransmits)
        if [[ "$x0" =~ ^[0-9]+$ && "$x1" =~ ^[0-9]+$ && "${X[$m]:-0}" != error ]]; then X[$m]=$((${X[$m]:-0} + x1 - x0)); else X[$m]=error; fi
      fi
      V[$m:$t]+="${res%% *} "
      # errors/failures add up over the runs ("-" where the tool reports none)
      e=${res#* }
      if [[ "$e" =~ ^[0-9]+$ ]]; then E[$m:$t]=$((${E[$m:$t]:-0} + e)); else E[$m:$t]=${E[$m:$t]:--}; fi
      # The server process's CPU seconds (user/system) during the measurement. For tunstack, system
      # time includes the kernel's work on each packet written to the TUN (the client side's TCP).
      U[$m:$t]=$((${U[$m:$t]:-0} + ${u1:-0} - ${u0:-0}))
      S[$m:$t]=$((${S[$m:$t]:-0} + ${s1:-0} - ${s0:-0}))
      echo "$res cpu ticks $((${u1:-0} - ${u0:-0}))/$((${s1:-0} - ${s0:-0}))" >&2
    done
  done
  for t in "${TARGETS[@]}"; do
    read -r med range <<<"$(summarize ${V[$m:$t]})"
    R[$m:$t]="$med ${E[$m:$t]}"
    G[$m:$t]=$range
    C[$m:$t]=$("$BENCH_PY" -c 'import sys; u, s, hz, n = map(int, sys.argv[1:]); print("%.2f/%.2f" % (u / hz / n, s / hz / n))' "${U[$m:$t]}" "${S[$m:$t]}" "$HZ" "$RUNS")
  done
done
ended=$(date +%s)
# The kernel side of the TUN (rx = packets tunstack wrote), read before the stack closes the device.
tun_link=$(timeout 5 ip -n "$NS" -s link show tunstack0 2>/dev/null | sed -n '/RX:/,$p' | sed 's/^ */  /' || true)
bench_stack_stop

val() { cut -d' ' -f1 <<<"${R[$1:$2]:-error -}"; }
extra() { cut -d' ' -f2 <<<"${R[$1:$2]:-error -}"; }
row() { # LABEL KIND(v: value, x: errors, c: cpu, r: tunstack retransmits) METRIC
  local label="$1" k="$2" m="$3" a b c r
  if [[ $k == v ]]; then
    a=$(val "$m" tunstack); b=$(val "$m" kernel); c=$(val "$m" split); r=$(bench_ratio "$a" "$b")
  elif [[ $k == r ]]; then
    a=${X[$m]:--}; b='-'; c='-'; r='-'
  elif [[ $k == g ]]; then
    a=${G[$m:tunstack]:--}; b=${G[$m:kernel]:--}; c=${G[$m:split]:--}; r='-'
  elif [[ $k == c ]]; then
    a=${C[$m:tunstack]:--}; b=${C[$m:kernel]:--}; c=${C[$m:split]:--}; r='-'
  else
    a=$(extra "$m" tunstack); b=$(extra "$m" kernel); c=$(extra "$m" split); r='-'
  fi
  if [[ $SPLIT -eq 1 ]]; then
    printf '| %-44s | %15s | %15s | %6s | %14s |\n' "$label" "$a" "$b" "$r" "$c"
  else
    printf '| %-44s | %15s | %15s | %6s |\n' "$label" "$a" "$b" "$r"
  fi
}

echo
echo "tunstack = stack through the TUN; node:http = kernel TCP on a veth; ratio = tunstack / node:http"
[[ $RUNS -gt 1 ]] && echo "each figure: the median of $RUNS runs (targets taking turns); server CPU: the mean per run"
[[ $SPLIT -eq 1 ]] && echo "our HTTP/kTCP = our HTTP server (src/http) on node:net over the same veth: HTTP layer cost without our TCP/IP"
if [[ $SPLIT -eq 1 ]]; then
  printf '| %-44s | %15s | %15s | %6s | %14s |\n' metric tunstack 'node:http' ratio 'our HTTP/kTCP'
  printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..8})" "$(printf -- '-%.0s' {1..16})"
else
  printf '| %-44s | %15s | %15s | %6s |\n' metric tunstack 'node:http' ratio
  printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..17})" "$(printf -- '-%.0s' {1..8})"
fi
spread() { [[ $RUNS -gt 1 ]] && row "  min..max of $RUNS runs" g "$1"; return 0; }
row "keep-alive req/s (wrk -c20 ${DURATION}s $SMALL)" v ka
spread ka
row "  wrk socket errors + non-2xx" x ka
row "  server CPU s, user/sys" c ka
row "  tunstack TCP retransmits" r ka
row "pipelined req/s (depth $PIPE_DEPTH, wrk -c20 ${DURATION}s)" v pipe
spread pipe
row "  wrk socket errors + non-2xx" x pipe
row "  server CPU s, user/sys" c pipe
row "  tunstack TCP retransmits" r pipe
row "new connections/s (ab -n $AB_N -c $AB_C, no k-a)" v ab
spread ab
row "  ab failed requests" x ab
row "  server CPU s, user/sys" c ab
row "  tunstack TCP retransmits" r ab
row "download MB/s (curl $BIG)" v curl
spread curl
row "  server CPU s, user/sys" c curl
row "  tunstack TCP retransmits" r curl

stats=$(bench_stack_stats)
if [[ -n "$stats" ]]; then
  "$BENCH_PY" -c 'import json, sys
s = json.loads(sys.argv[1])
d, t = s.get("device", {}), s.get("tcp", {})
rx, b = d.get("rxPackets"), d.get("rxBatches")
print("\ntunstack counters (whole run incl. warm-up): TUN rx %s packets in %s batches (%s per batch), tx %s, tx queued on EAGAIN %s, tx dropped %s" % (
    rx, b, "%.2f" % (rx / b) if rx and b else "-", d.get("txPackets"), d.get("txQueued"), d.get("txDropped")))
keys = [k for k in ("segmentsIn", "segmentsOut", "passiveOpens", "retransmits", "fastRetransmits", "timeouts", "resetsSent", "resetsReceived", "synQueueDrops", "badSegments") if k in t]
if keys:
    print("  tcp: " + ", ".join("%s %s" % (k, t[k]) for k in keys) + (", dropped %s" % json.dumps(t["dropped"]) if t.get("dropped") else ""))' "$stats" || true
fi
echo "kernel's counters for tunstack0 (RX = packets tunstack wrote; dropped = the kernel dropped them):"
echo "${tun_link:-  (not available)}"
echo "server CPU: the server process only (for tunstack its system time includes the kernel's processing of"
echo "every packet it writes to the TUN); kernel softirq work for node:http is not all charged to it."
echo "measured in $((ended - started)) s on $(nproc) cores; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every column)"
echo "tool outputs in $BENCH_DIR"
