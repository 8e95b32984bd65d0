#!/usr/bin/env bash
# Attack 2 — memory: 1-byte segments the stack must keep; how much memory does each one cost?
#
#   sudo scripts/attack/02-memory.sh [--conns N] [--ooo N] [--inorder N] [--inorder-port P]
#
#   --conns N         connections of the out-of-order part (default 4)
#   --ooo N           out-of-order 1-byte segments per connection, at ISN+2, +4, ... (default 512; 0 skips)
#   --inorder N       in-order 1-byte segments into a receiver that cannot get rid of them (default 2048; 0 skips)
#   --inorder-port P  their port (default 7, the echo service: the client advertises a zero window, so
#                     every byte echoed waits in the stack's send buffer; 80: an HTTP request line that
#                     never ends)
#
# Each part runs against a fresh stack: RSS (VmRSS) before, right after, and 3 s later; /stats.
# The connections are hand-made (raw socket + AF_PACKET) from spoofed 10.77.1.x addresses.
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '4,12p' "$0" | sed 's/^# \{0,1\}//' >&2; }
conns=4 ooo=512 inorder=2048 inport=7
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns | --ooo | --inorder | --inorder-port)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      case "$1" in --conns) conns=$2 ;; --ooo) ooo=$2 ;; --inorder) inorder=$2 ;; --inorder-port) inport=$2 ;; esac
      shift 2
      ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((conns >= 1 && conns <= 200)) || atk_usage_error "--conns must be 1..200"
((ooo <= 100000 && inorder <= 100000)) || atk_usage_error "--ooo and --inorder must be 0..100000"
[[ $inport == 7 || $inport == 80 ]] || atk_usage_error "--inorder-port must be 7 or 80"

atk_init 02-memory
PY="$ATK_PY $ATK_HERE/memory.py"

# part TAG MODE ARGS...: fresh stack, RSS before/after/settled, /stats; figures left in P_* variables.
part() {
  local tag=$1
  shift
  atk_stack_start "$tag"
  atk_routes
  sleep 1 # let the freshly started process settle before the baseline
  P_RSS0=$(atk_rss_kb)
  local t0
  t0=$(atk_now_ms)
  # shellcheck disable=SC2086
  ns timeout 120 $PY "$@" >"$ATK_DIR/$tag.json" || true
  P_MS=$(($(atk_now_ms) - t0))
  P_RSS1=$(atk_rss_kb)
  sleep 3
  P_RSS2=$(atk_rss_kb)
  P_STATS="$ATK_DIR/stats-$tag.json"
  atk_stats "$P_STATS" 5
  P_RESULT=$(cat "$ATK_DIR/$tag.json")
  atk_stack_stop
}

# conn_rows FILE ADDR_PREFIX: the attacked connections' rows of /stats, one line each.
conn_rows() {
  "$ATK_PY" -c 'import json,sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("    (no /stats answer)"); sys.exit(0)
for c in j.get("connections") or []:
    if c.get("remoteAddress", "").startswith(sys.argv[2]):
        print("    %s:%s %s bytesIn=%s rcvWnd=%s sendQueued=%s rcvNxt-irs=%s" % (c["remoteAddress"], c["remotePort"],
              c["state"], c.get("bytesIn"), c.get("rcvWnd"), c.get("sendQueued"), (c["rcvNxt"] - c["irs"]) % 2**32))' "$1" "$2"
}

summary=()
if ((ooo > 0)); then
  atk_step "Part A: $conns connections x $ooo out-of-order 1-byte segments to :80"
  part ooo ooo --conns "$conns" --segments "$ooo" --dport 80
  echo "  client: $P_RESULT"
  conn_rows "$P_STATS" 10.77.1.
  growth=$((P_RSS1 - P_RSS0))
  atk_table_head
  atk_row "A: RSS before -> after -> 3 s later (MB)" "$(atk_mb "$P_RSS0") -> $(atk_mb "$P_RSS1") -> $(atk_mb "$P_RSS2")"
  atk_row "A: RSS growth (MB)" "+$(atk_mb "$growth")" "+380 MB"
  atk_row "A: per out-of-order byte held (kB)" "$(awk -v g="$growth" -v n=$((conns * ooo)) 'BEGIN { printf "%.1f", g / n }')"
  atk_row "A: segments sent / SACKed by the stack" "$(atk_json 'str(j["sent"]) + " / " + str(j["confirmed"])' "$ATK_DIR/ooo.json")"
  atk_row "A: tcp.connections / currentEstablished" "$(atk_json 'str(j["stats"]["tcp"]["connections"]) + " / " + str(j["stats"]["tcp"]["currentEstablished"])' "$P_STATS")"
  atk_row "A: tcp.segmentsIn" "$(atk_json 'j["stats"]["tcp"]["segmentsIn"]' "$P_STATS")"
  atk_row "A: tcp.dropped" "" "$(atk_json 'j["stats"]["tcp"]["dropped"]' "$P_STATS")"
  summary+=("ooo_rss_growth_mb=$(atk_mb "$growth")")
fi
if ((inorder > 0)); then
  atk_step "Part B: $inorder in-order 1-byte segments to :$inport, client window 0"
  part inorder inorder --segments "$inorder" --dport "$inport" --window 0
  echo "  client: $P_RESULT"
  conn_rows "$P_STATS" 10.77.1.
  growth=$((P_RSS1 - P_RSS0))
  atk_table_head
  atk_row "B: RSS before -> after -> 3 s later (MB)" "$(atk_mb "$P_RSS0") -> $(atk_mb "$P_RSS1") -> $(atk_mb "$P_RSS2")"
  atk_row "B: RSS growth (MB)" "+$(atk_mb "$growth")"
  atk_row "B: per byte held (kB)" "$(awk -v g="$growth" -v n="$inorder" 'BEGIN { printf "%.1f", g / n }')"
  atk_row "B: bytes acknowledged by the stack" "$(atk_json 'j["acked"]' "$ATK_DIR/inorder.json")" "of $inorder sent"
  atk_row "B: tcp.segmentsIn" "$(atk_json 'j["stats"]["tcp"]["segmentsIn"]' "$P_STATS")"
  atk_row "B: tcp.dropped" "" "$(atk_json 'j["stats"]["tcp"]["dropped"]' "$P_STATS")"
  summary+=("inorder_rss_growth_mb=$(atk_mb "$growth")")
fi
atk_summary "${summary[@]}"
