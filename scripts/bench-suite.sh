#!/usr/bin/env bash
# bench-suite.sh — one client suite against three servers of the same bodies, in one run (issue 14):
#   lwIP      lwip-httpd (scripts/bench/lwip/: lwIP 2.1.3's raw TCP API, Debian's liblwip-dev) on a TUN
#   node:http Node's own HTTP server on the kernel's TCP, over a veth pair (compiled with tsc, plain node)
#   tunstack  `tunstack serve` on a TUN, with the tunstack command's node flags (scripts/bench/lib.sh)
#
#   sudo scripts/bench-suite.sh        (npm run bench)
#     env BENCH_RUNS=N     runs of every measurement, 1..9 (default 3), the servers taking turns;
#                          each figure is the median with the range (min–max)
#     env BENCH_QUICK=1    1 run, 1 s wrk runs, small counts and transfers: checks the plumbing only
#     env BENCH_DURATION=S each wrk run (default 10 s; 1 in quick mode)
#     env BENCH_SERVERS    which servers (default "lwip kernel tunstack")
#     env BENCH_TSO on|off tunstack's --tso (default on)
#     env BENCH_NS_PREFIX  namespace names (default tsk-bench-suite)
#     env BENCH_STACK_ENTRY src|dist  the sources through tsx as `npm start` (default), or dist/cli.js
#     env BENCH_NO_STACK_FLAGS=1      the stack with node's default flags
# When liblwip-dev is not installed the lwIP column says "-" and a note says why.
#
# Measurements (client tools run in the first namespace, each bounded by count and `timeout`):
#   ka     wrk -t2 -c50 -dDs /bytes/13 (keep-alive)           req/s, socket errors
#   abk    ab -k -c50 -n 50000 /bytes/13                        req/s
#   ab     ab -c20 -n 5000 /bytes/13, a connection per request  connections/s, failed requests
#   dl16   curl /bytes/16777216                                  MB/s (1 MB = 10^6 bytes)
#   dl100  curl /bytes/100000000                                 MB/s
#   up     curl -X POST -T (200 MB) /echo                        MB/s, the reply's length checked
#   pipe   wrk -t1 -c20 with 16 requests per write (scripts/bench/pipeline.lua)   req/s
#   c1k    wrk -t2 -c1000 -dDs --latency /bytes/13               req/s, p50/p99/max, errors, server RSS
#   ping   ping -f -c 100000 -w 30                               replies/s (node:http: the kernel's veth)
#
# Layout (namespaces created and deleted by this script, by exact name):
#   tsk-bench-suite-<pid>:   clients; tunstack0 10.77.0.1/24 -> tunstack 10.77.0.2;
#                            lwip0 10.78.0.1/24 -> lwIP 10.78.0.2; veth bv0 10.88.0.1
#   tsk-bench-suite-<pid>-k: veth bv1 10.88.0.2, node:http on :80
# Every server: 5 s keep-alive idle timeout, unlimited requests per connection, no logging.
# Prints figures and the issue's targets; asserts nothing. Outputs: /tmp/tunstack-bench-suite/.
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  RUNS=1 DURATION=${BENCH_DURATION:-1} ABK_N=2000 AB_N=300 DL100=10000000 UP=20000000 PING_N=2000 PING_W=5
else
  RUNS=${BENCH_RUNS:-3} DURATION=${BENCH_DURATION:-10} ABK_N=50000 AB_N=5000 DL100=100000000 UP=200000000 PING_N=100000 PING_W=30
fi
DL16=16777216
SMALL=/bytes/13
read -r -a SERVERS <<<"${BENCH_SERVERS:-lwip kernel tunstack}"
[[ "$RUNS" =~ ^[1-9]$ ]] || { echo "bench-suite.sh: BENCH_RUNS must be 1..9, got $RUNS" >&2; exit 2; }
[[ "$DURATION" =~ ^[0-9]+$ && "$DURATION" -ge 1 && "$DURATION" -le 120 ]] || { echo "bench-suite.sh: bad duration $DURATION" >&2; exit 2; }
for s in "${SERVERS[@]}"; do
  [[ $s =~ ^(lwip|kernel|tunstack)$ ]] || { echo "bench-suite.sh: unknown server '$s' (lwip, kernel, tunstack)" >&2; exit 2; }
done
[[ $# -eq 0 ]] || { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

bench_init suite wrk ab curl ping
# wrk -c1000 and the servers need more than 1024 file descriptors: take the hard limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) == unlimited || $(ulimit -n) -ge 2100 ]] || bench_die "wrk -c1000 needs 2100 open files, the limit is $(ulimit -n)"
RUN_DIR="$BENCH_DIR/runs"
bench_node_http_build # the node:http baseline as compiled JavaScript (lib.sh)
mkdir -p "$RUN_DIR"

# lwIP is optional: build it first, drop the column with a note when the library is missing.
LWIP_BIN=''
if [[ " ${SERVERS[*]} " == *" lwip "* ]]; then
  set +e
  LWIP_BIN=$(bash scripts/bench/lwip/build.sh "$BENCH_DIR/lwip-build" 2>"$BENCH_DIR/lwip-build.err")
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    if [[ $rc -eq 3 ]]; then
      bench_note "note: liblwip-dev is not installed (apt-get install liblwip-dev): the lwIP column is skipped"
    else
      cat "$BENCH_DIR/lwip-build.err" >&2
      bench_note "note: lwip-httpd did not build (see above): the lwIP column is skipped"
    fi
    LWIP_BIN=''
    SERVERS=("${SERVERS[@]/lwip/}")
    read -r -a SERVERS <<<"${SERVERS[*]}"
  fi
fi

NS="${BENCH_NS_PREFIX:-tsk-bench-suite}-$$"
NSK="$NS-k"
bench_netns_add "$NS"
bench_netns_add "$NSK"
bench_veth "$NS" "$NSK"

declare -A BASE=([lwip]=http://10.78.0.2 [kernel]="http://$BENCH_KERNEL_PEER" [tunstack]="$BENCH_STACK_URL")
declare -A HOST=([lwip]=10.78.0.2 [kernel]="$BENCH_KERNEL_PEER" [tunstack]=10.77.0.2)
declare -A SPID

for s in "${SERVERS[@]}"; do
  case $s in
    lwip)
      bench_bg lwip "$NS" "$LWIP_BIN" --tun lwip0 --host-addr 10.78.0.1/24 --addr 10.78.0.2 --idle-timeout 5000
      SPID[lwip]=$BENCH_LAST_PID
      bench_wait_ready "$BENCH_DIR/lwip.out" "$BENCH_LAST_PID" 'lwip-httpd: ready' 'lwip-httpd'
      ;;
    kernel)
      bench_bg node-http "$NSK" "$BENCH_NODE" "$BENCH_NODE_HTTP_JS" --port 80 --http node
      SPID[kernel]=$BENCH_LAST_PID
      bench_wait_ready "$BENCH_DIR/node-http.out" "$BENCH_LAST_PID" 'bench-server: ready' 'node:http server'
      ;;
    tunstack)
      bench_stack_start "$NS" -- --echo-port 0 --max-requests 1000000 --idle-timeout 5000 --tso "${BENCH_TSO:-on}"
      SPID[tunstack]=$BENCH_STACK_PID
      ;;
  esac
done

client() { # LIMIT_SECONDS CMD...: a client tool in the first namespace, killed after LIMIT seconds
  local limit="$1"
  shift
  timeout "$limit" ip netns exec "$NS" "$@"
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || true; }

# m_METRIC SERVER OUT: one measurement, the tool's output (and checks) into OUT.
m_ka() { client $((DURATION + 20)) wrk -t2 -c50 -d"${DURATION}s" --timeout 5s "${BASE[$1]}$SMALL" >"$2" 2>&1 || true; }
m_abk() { client 120 ab -q -k -r -s 10 -n "$ABK_N" -c 50 "${BASE[$1]}$SMALL" >"$2" 2>&1 || true; echo "EXPECT $ABK_N" >>"$2"; }
m_ab() { client 120 ab -q -r -s 10 -n "$AB_N" -c 20 "${BASE[$1]}$SMALL" >"$2" 2>&1 || true; echo "EXPECT $AB_N" >>"$2"; }
download() { # SERVER OUT BYTES
  local w
  w=$(client 70 curl -sS --max-time 60 -o /dev/null -w '%{speed_download} %{size_download} %{http_code}' "${BASE[$1]}/bytes/$3" 2>>"$2") || true
  printf 'CURL %s\nEXPECT %s\n' "$w" "$3" >>"$2"
}
m_dl16() { download "$1" "$2" "$DL16"; }
m_dl100() { download "$1" "$2" "$DL100"; }
m_up() {
  local w reply="$BENCH_DIR/up-reply.txt"
  # -H 'Expect:': no 100-continue round trip; the body is streamed from a sparse file.
  w=$(client 70 curl -sS --max-time 60 -X POST -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    -T "$BENCH_DIR/upload.bin" -o "$reply" -w '%{speed_upload} %{size_upload} %{http_code}' "${BASE[$1]}/echo" 2>>"$2") || true
  printf 'CURL %s\nEXPECT %s\n' "$w" "$UP" >>"$2"
  # every server's /echo reply says "body length: N"
  grep -aq "body length: $UP" "$reply" 2>/dev/null || echo 'CHECK failed: the reply does not report the whole body' >>"$2"
  rm -f -- "$reply"
}
m_pipe() { client $((DURATION + 20)) wrk -t1 -c20 -d"${DURATION}s" --timeout 5s -s scripts/bench/pipeline.lua "${BASE[$1]}$SMALL" -- 16 >"$2" 2>&1 || true; }
m_c1k() {
  client $((DURATION + 30)) wrk -t2 -c1000 -d"${DURATION}s" --timeout 5s --latency "${BASE[$1]}$SMALL" >"$2" 2>&1 || true
  echo "RSS $(rss_kb "${SPID[$1]}")" >>"$2"
}
m_ping() { client $((PING_W + 10)) ping -q -n -f -c "$PING_N" -w "$PING_W" "${HOST[$1]}" >"$2" 2>&1 || true; }

truncate -s "$UP" "$BENCH_DIR/upload.bin"
# Warm-up, not counted: the JIT of the Node servers, lwIP's and the kernel's first allocations.
# Three uploads too: a fresh stack's first few 200 MB uploads are its slow ones (scripts/bench-upload.sh
# prints each run: 630-860 MB/s for the first four, 850-1150 after, on the development machine).
for s in "${SERVERS[@]}"; do
  client 15 wrk -t1 -c10 -d2s "${BASE[$s]}$SMALL" >"$BENCH_DIR/warmup-$s.txt" 2>&1 || true
  client 30 curl -s --max-time 20 -o /dev/null "${BASE[$s]}/bytes/10000000" || true
  for i in 1 2 3; do m_up "$s" "$BENCH_DIR/warmup-up-$s.txt"; done
done

started=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for m in ka abk ab dl16 dl100 up pipe c1k ping; do
  for ((run = 1; run <= RUNS; run++)); do
    for s in "${SERVERS[@]}"; do
      printf '%-6s %-9s run %d\n' "$m" "$s" "$run" >&2
      "m_$m" "$s" "$RUN_DIR/$m.$s.$run.txt"
      # wrk -c1000 and ab leave many connections closing: let every server settle before the next
      [[ $m == c1k || $m == ab ]] && sleep 2
    done
  done
done
ended=$(date +%s)

echo
echo "Each figure: the median of $RUNS run(s) (range min–max), the servers taking turns; ratios of the medians."
[[ -z "$LWIP_BIN" ]] && echo "lwIP: skipped (liblwip-dev not installed, or lwip-httpd did not build)"
"$BENCH_PY" scripts/bench/suite-report.py "$RUN_DIR" "$RUNS" "${SERVERS[@]}"
echo
for s in "${SERVERS[@]}"; do
  case $s in
    lwip) bench_stop_pid "${SPID[lwip]}"; grep '^lwip-httpd: stats' "$BENCH_DIR/lwip.out" || true ;;
    tunstack) bench_stack_stop ;;
  esac
done
echo "measured in $((ended - started)) s on $(nproc) cores; load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(clients and servers share the cores; other work on the machine skews every column)"
echo "tool outputs in $RUN_DIR"
