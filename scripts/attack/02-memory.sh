#!/usr/bin/env bash
# Attack 2 — memory: 1-byte segments the stack must keep; how much memory does each one cost?
#
#   sudo scripts/attack/02-memory.sh [--conns N] [--ooo N] [--filler-kb K] [--inorder N] [--inorder-port P]
#
#   --conns N         connections of the out-of-order part (default 4)
#   --ooo N           out-of-order 1-byte segments per connection, at ISN+2, +4, ... (default 512; 0 skips)
#   --filler-kb K     each part runs twice: alone, then with K KiB of other traffic (datagrams the stack
#                     reads and drops) after each segment, as on a busy server (default 192; 0: alone only)
#   --inorder N       in-order 1-byte segments into a receiver that cannot get rid of them (default 2048; 0 skips)
#   --inorder-port P  their port (default 7, the echo service: the client advertises a zero window, so
#                     every byte echoed waits in the stack's send buffer; 80: an HTTP request line that
#                     never ends)
#
# Each part runs against a fresh stack: RSS (VmRSS) before, right after, and 3 s later; /stats.
# With other traffic between them, the held bytes lie far apart in the stack's 256 KiB read chunks,
# which is what makes a stack that keeps views into those chunks pay a chunk per byte.
# The connections are hand-made (raw socket + AF_PACKET) from spoofed 10.77.1.x addresses.
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '4,14p' "$0" | sed 's/^# \{0,1\}//' >&2; }
conns=4 ooo=512 inorder=2048 inport=7 filler=192
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns | --ooo | --inorder | --inorder-port | --filler-kb)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      case "$1" in
        --conns) conns=$2 ;; --ooo) ooo=$2 ;; --inorder) inorder=$2 ;; --inorder-port) inport=$2 ;;
        --filler-kb) filler=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((conns >= 1 && conns <= 200)) || atk_usage_error "--conns must be 1..200"
((ooo <= 100000 && inorder <= 100000)) || atk_usage_error "--ooo and --inorder must be 0..100000"
[[ $inport == 7 || $inport == 80 ]] || atk_usage_error "--inorder-port must be 7 or 80"
((filler <= 1024)) || atk_usage_error "--filler-kb must be 0..1024"

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
# ooo_part TAG FILLER_BYTES LABEL: the out-of-order part and its figures.
ooo_part() {
  local tag=$1 fill=$2 label=$3
  atk_step "Part $tag: $conns connections x $ooo out-of-order 1-byte segments to :80, $label"
  part "ooo-$tag" ooo --conns "$conns" --segments "$ooo" --dport 80 --filler "$fill"
  echo "  client: $P_RESULT"
  conn_rows "$P_STATS" 10.77.1.
  growth=$((P_RSS1 - P_RSS0))
  atk_table_head
  atk_row "$tag: RSS before -> after -> 3 s later (MB)" "$(atk_mb "$P_RSS0") -> $(atk_mb "$P_RSS1") -> $(atk_mb "$P_RSS2")"
  atk_row "$tag: RSS growth (MB)" "+$(atk_mb "$growth")" "+380 MB"
  atk_row "$tag: per out-of-order byte held (kB)" "$(awk -v g="$growth" -v n=$((conns * ooo)) 'BEGIN { printf "%.1f", g / n }')" "186 KiB"
  atk_row "$tag: segments sent / SACKed by the stack" "$(atk_json 'str(j["sent"]) + " / " + str(j["confirmed"])' "$ATK_DIR/ooo-$tag.json")"
  atk_row "$tag: tcp.connections / currentEstablished" "$(atk_json 'str(j["stats"]["tcp"]["connections"]) + " / " + str(j["stats"]["tcp"]["currentEstablished"])' "$P_STATS")"
  atk_row "$tag: tcp.segmentsIn" "$(atk_json 'j["stats"]["tcp"]["segmentsIn"]' "$P_STATS")"
  atk_row "$tag: tcp.dropped" "" "$(atk_json 'j["stats"]["tcp"]["dropped"]' "$P_STATS")"
  summary+=("ooo_${tag}_rss_growth_mb=$(atk_mb "$growth")")
}
if ((ooo > 0)); then
  ooo_part A1 0 "alone"
  ((filler == 0)) || ooo_part A2 $((filler * 1024)) "with $filler KiB of other traffic after each"
fi
# inorder_part TAG FILLER_BYTES LABEL: the in-order part and its figures.
inorder_part() {
  local tag=$1 fill=$2 label=$3
  atk_step "Part $tag: $inorder in-order 1-byte segments to :$inport, client window 0, $label"
  part "inorder-$tag" inorder --segments "$inorder" --dport "$inport" --window 0 --filler "$fill"
  echo "  client: $P_RESULT"
  conn_rows "$P_STATS" 10.77.1.
  growth=$((P_RSS1 - P_RSS0))
  atk_table_head
  atk_row "$tag: RSS before -> after -> 3 s later (MB)" "$(atk_mb "$P_RSS0") -> $(atk_mb "$P_RSS1") -> $(atk_mb "$P_RSS2")"
  atk_row "$tag: RSS growth (MB)" "+$(atk_mb "$growth")"
  atk_row "$tag: per byte held (kB)" "$(awk -v g="$growth" -v n="$inorder" 'BEGIN { printf "%.1f", g / n }')"
  atk_row "$tag: bytes acknowledged by the stack" "$(atk_json 'j["acked"]' "$ATK_DIR/inorder-$tag.json")" "of $inorder sent"
  atk_row "$tag: tcp.segmentsIn" "$(atk_json 'j["stats"]["tcp"]["segmentsIn"]' "$P_STATS")"
  atk_row "$tag: tcp.dropped" "" "$(atk_json 'j["stats"]["tcp"]["dropped"]' "$P_STATS")"
  summary+=("inorder_${tag}_rss_growth_mb=$(atk_mb "$growth")")
}
if ((inorder > 0)); then
  inorder_part B1 0 "alone"
  ((filler == 0)) || inorder_part B2 $((filler * 1024)) "with $filler KiB of other traffic after each"
fi
atk_summary "${summary[@]}"
