#!/usr/bin/env bash
# bench-upload.sh — upload speed into tunstack: the kernel's curl POSTs a file to /echo (the demo
# site counts the body and keeps only its first MiB, so it is a sink), several times; prints each
# run and the median. Receive offload (README "Segmentation offload") is what this measures.
#
#   sudo scripts/bench-upload.sh [-n RUNS] [-s MB] [--dist] [--profile] [-- SERVE-FLAGS...]
#     -n RUNS     uploads (default 5; env BENCH_RUNS), after one unmeasured warm-up upload
#     -s MB       size of each upload in MB of 10^6 bytes (default 200; env BENCH_UPLOAD_MB)
#     --dist      run the compiled dist/cli.js (what an installed package runs; built first when
#                 missing or older than src/) instead of src/ through tsx, as `npm start` runs it
#     --profile   run the stack under `node --cpu-prof` and print the top 15 functions by self time
#                 (the profiler slows the stack: those runs' figures are not comparable)
#     SERVE-FLAGS passed to `tunstack serve`, e.g. `-- --tso off` (no offload either way)
#     env BENCH_NODE_FLAGS: extra flags for node running the stack (e.g. --trace-gc), after the
#                 tunstack command's own (scripts/tunstack.js's first line; a later flag wins)
#     env BENCH_NO_STACK_FLAGS=1: leave the tunstack command's node flags out (node's defaults)
#     env BENCH_NS_PREFIX: the namespace's name before -<pid> (default tsk-bench-upload; letters,
#                 digits, '-'), as bench-suite.sh; a prefix also names the output directory
#
# Layout: one namespace tsk-bench-upload-<pid> (BENCH_NS_PREFIX-<pid>; created and deleted here) holding the TUN device
# (kernel side 10.77.0.1/24, the stack 10.77.0.2), the stack and curl. Every curl is bounded
# (--max-time). Prints figures; asserts nothing. Outputs: /tmp/tunstack-bench-upload/ (with
# BENCH_NS_PREFIX=P: /tmp/tunstack-bench-upload-P/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/scripts/bench/lib.sh" # the stack's node flags and entry (BENCH_STACK_NODE_FLAGS, bench_stack_entry)
RUNS=${BENCH_RUNS:-5}
MB=${BENCH_UPLOAD_MB:-200}
PROFILE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) RUNS="$2"; shift 2 ;;
    -s) MB="$2"; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --dist) BENCH_STACK_ENTRY=dist; shift ;;
    --) shift; break ;;
    -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-upload.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -ge 1 && "$RUNS" -le 25 ]] || { echo "bench-upload.sh: -n must be 1..25" >&2; exit 2; }
[[ "$MB" =~ ^[0-9]+$ && "$MB" -ge 1 && "$MB" -le 4000 ]] || { echo "bench-upload.sh: -s must be 1..4000" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "bench-upload.sh: run as root (a namespace and a TUN device need CAP_NET_ADMIN)" >&2; exit 1; }
for t in ip curl timeout node; do command -v "$t" >/dev/null || { echo "bench-upload.sh: '$t' is missing" >&2; exit 1; }; done

NS_PREFIX=${BENCH_NS_PREFIX:-tsk-bench-upload}
[[ "$NS_PREFIX" =~ ^[A-Za-z0-9-]{1,30}$ ]] || { echo "bench-upload.sh: bad BENCH_NS_PREFIX $NS_PREFIX" >&2; exit 2; }
DIR=/tmp/tunstack-bench-upload${BENCH_NS_PREFIX:+-$BENCH_NS_PREFIX}
rm -rf -- "$DIR"
mkdir -p -- "$DIR"
NS="$NS_PREFIX-$$"
STACK_PID=0
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_stack
  ip netns delete "$NS" 2>/dev/null || true
  rm -f -- "$DIR/body"
  exit "$status"
}
stop_stack() {
  [[ $STACK_PID -ne 0 ]] || return 0
  local pid=$STACK_PID
  STACK_PID=0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$NS"
ip -n "$NS" link set lo up
head -c "$((MB * 1000000))" /dev/zero | tr '\0' 'u' >"$DIR/body"

cd "$ROOT"
BENCH_NAME=bench-upload BENCH_DIR="$DIR" bench_stack_entry # dist/ built first if it is older than src/
read -r -a nodeflags <<<"${BENCH_NODE_FLAGS:-}"
nodeflags=("${BENCH_STACK_NODE_FLAGS[@]}" ${nodeflags[@]+"${nodeflags[@]}"})
[[ $PROFILE -eq 1 ]] && nodeflags+=(--cpu-prof "--cpu-prof-dir=$DIR/prof")
ip netns exec "$NS" node ${nodeflags[@]+"${nodeflags[@]}"} "${BENCH_STACK_ARGS[@]}" serve --log-level warn --echo-port 0 "$@" \
  >"$DIR/stack.out" 2>"$DIR/stack.err" </dev/null &
STACK_PID=$!
for _ in $(seq 150); do
  grep -q '^tunstack: ready' "$DIR/stack.out" && break
  kill -0 "$STACK_PID" 2>/dev/null || { cat "$DIR/stack.err" >&2; exit 1; }
  sleep 0.2
done
grep -q '^tunstack: ready' "$DIR/stack.out" || { echo "bench-upload.sh: the stack did not start" >&2; exit 1; }

# upload: one POST of the file; prints "bytes_uploaded seconds" (curl's own clock), or "error".
upload() {
  local out
  out=$(timeout 130 ip netns exec "$NS" curl -sS -o "$DIR/response" --max-time 120 -H 'Expect:' \
    -X POST -T "$DIR/body" -w '%{size_upload} %{time_total}\n' http://10.77.0.2/echo 2>>"$DIR/curl.err") || { echo error; return; }
  grep -q "^body length: $((MB * 1000000))\$" "$DIR/response" || { echo error; return; }
  echo "$out"
}

echo "curl -X POST -T <${MB} MB file> http://10.77.0.2/echo, $RUNS runs after a warm-up (stack: node ${nodeflags[*]+${nodeflags[*]} }${BENCH_STACK_ARGS[*]} serve ${*:-})"
upload >/dev/null
rates=()
for i in $(seq "$RUNS"); do
  r=$(upload)
  if [[ "$r" == error ]]; then echo "run $i: error (see $DIR/curl.err, $DIR/response)"; continue; fi
  read -r bytes secs <<<"$r"
  rate=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / s / 1e6 }')
  rates+=("$rate")
  echo "run $i: $bytes bytes in $secs s = $rate MB/s"
done
stop_stack
if [[ ${#rates[@]} -gt 0 ]]; then
  median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  echo "median: $median MB/s (1 MB = 10^6 bytes; min $(printf '%s\n' "${rates[@]}" | sort -n | head -1), max $(printf '%s\n' "${rates[@]}" | sort -n | tail -1))"
fi
sed -n 's/^tunstack: stats //p' "$DIR/stack.out" | tail -n 1 >"$DIR/stats.json"
if [[ -s "$DIR/stats.json" ]]; then
  /usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["device"]
print("TUN device: rx %s packets (%s bytes, %s batches), rx offloaded %s, rx bad offload %s; tx %s" % (
    d.get("rxPackets"), d.get("rxBytes"), d.get("rxBatches"), d.get("rxGso", "-"), d.get("rxBadVnetHdr", "-"), d.get("txPackets")))' "$DIR/stats.json" || true
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (a shared machine: other work skews the figures)"
if [[ $PROFILE -eq 1 ]]; then
  prof=$(ls "$DIR"/prof/CPU.*.0.*.cpuprofile 2>/dev/null | head -n 1 || true)
  [[ -n "$prof" ]] || { echo "no .cpuprofile written (see $DIR/stack.err)" >&2; exit 1; }
  timeout 60 node --import tsx scripts/bench/cpuprofile-top.ts "$prof" 15
fi
