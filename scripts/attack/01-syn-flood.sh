#!/usr/bin/env bash
# Attack 1 — SYN flood: spoofed SYNs fill the stack's SYN queue; can a legitimate client still get in?
#
#   sudo scripts/attack/01-syn-flood.sh [--syns N] [--curls N] [--burst N] [--seed N]
#
#   --syns N    SYNs of the flood, from random addresses of 10.78.0.0/16 (default 100000)
#   --curls N   legitimate `curl -m 5` during the flood, one every 0.1 s (default 20)
#   --burst N   SYNs of the small burst sent just before one curl (default 300; 0 skips that part)
#   --seed N    seed of the spoofed addresses and ports (default 1)
#
# Part A (burst): fresh stack; N spoofed SYNs, then at once one `curl -m 5 /`: its time and result.
# Part B (flood): fresh stack; the flood at the full rate the kernel takes, and the curls during it:
# how many succeed and their times. Both parts count the SYN-ACKs the stack sends (AF_PACKET on the
# TUN) and read /stats (or, if the stack does not answer HTTP, the counters it prints at exit).
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2; }
syns=100000 curls=20 burst=300 seed=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --syns | --curls | --burst | --seed)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      case "$1" in --syns) syns=$2 ;; --curls) curls=$2 ;; --burst) burst=$2 ;; --seed) seed=$2 ;; esac
      shift 2
      ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((syns >= 1 && syns <= 1000000)) || atk_usage_error "--syns must be 1..1000000"
((curls <= 100)) || atk_usage_error "--curls must be 0..100"
((burst <= 100000)) || atk_usage_error "--burst must be 0..100000"

atk_init 01-syn-flood
PY="$ATK_PY $ATK_HERE/synflood.py"

# counter_start TAG / counter_stop: the SYN-ACK counter on the TUN, in the background.
counter_start() {
  COUNT_OUT="$ATK_DIR/synacks-$1.json"
  # shellcheck disable=SC2086
  ns_bg $PY count --ifname "$ATK_TUN" --stack "$ATK_ADDR" --host "$ATK_HOST" --out "$COUNT_OUT" --max-seconds 150
  COUNT_PID=$ATK_BG_PID
  sleep 0.3
}
counter_stop() {
  kill -TERM "$COUNT_PID" 2>/dev/null || true
  atk_bg_wait "$COUNT_PID"
}
tun_tx_dropped() { ns cat "/sys/class/net/$ATK_TUN/statistics/tx_dropped"; }

# stack_counters FILE: /stats of the live stack if it answers within 3 s, else {} (exit counters later).
stack_counters() { atk_stats "$1" 3; }
# tcp_figure NAME: a TCP counter from /stats, or from the exit line when /stats did not answer.
tcp_figure() {
  local v
  v=$(atk_json "j['stats']['tcp']$1" "$STATS_FILE")
  [[ "$v" != "-" ]] || v="$(atk_exit_stats | atk_json "j['tcp']$1") (at exit)"
  echo "$v"
}

burst_curl='-' burst_code='-' burst_synacks='-' burst_drops='-' burst_passive='-'
if ((burst > 0)); then
  atk_step "Part A: $burst spoofed SYNs, then one legitimate curl -m 5 at once"
  atk_stack_start burst
  atk_routes
  counter_start burst
  # shellcheck disable=SC2086
  ns $PY flood --dst "$ATK_ADDR" --dport 80 --count "$burst" --seed "$seed" >"$ATK_DIR/burst.json"
  read -r burst_code burst_curl < <(ns curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "$ATK_URL/" || true)
  burst_code=${burst_code:-000} burst_curl=${burst_curl:-5.0}
  STATS_FILE="$ATK_DIR/stats-burst.json"
  stack_counters "$STATS_FILE"
  counter_stop
  atk_stack_stop
  burst_synacks=$(atk_json 'j["synack"]' "$COUNT_OUT")
  burst_drops=$(tcp_figure "['synQueueDrops']")
  burst_passive=$(tcp_figure "['passiveOpens']")
  echo "  sent $(atk_json 'j["sent"]' "$ATK_DIR/burst.json") SYNs; curl: HTTP $burst_code after ${burst_curl} s"
fi

atk_step "Part B: $syns spoofed SYNs at the full rate, $curls legitimate curls (-m 5) during it"
atk_stack_start flood
atk_routes
counter_start flood
rss0=$(atk_rss_kb) cpu0=$(atk_cpu_ticks) drop0=$(tun_tx_dropped)
# shellcheck disable=SC2086
ns_bg $PY flood --dst "$ATK_ADDR" --dport 80 --count "$syns" --seed "$seed" --max-seconds 60 \
  --started "$ATK_DIR/flood.started" >"$ATK_DIR/flood.json"
flood_pid=$ATK_BG_PID
# The first curl goes once the flood is on the wire (Python builds its packets first: 10 s at most).
for ((i = 0; i < 100; i++)); do
  [[ -e "$ATK_DIR/flood.started" ]] && break
  sleep 0.1
done
sleep 0.05
for ((i = 0; i < curls; i++)); do
  ns curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "$ATK_URL/" >"$ATK_DIR/curl-$i.txt" 2>/dev/null &
  sleep 0.1
done
atk_bg_wait "$flood_pid"
# Wait for the curls (each ends within its -m 5).
for ((i = 0; i < 70; i++)); do
  [[ $(jobs -rp | grep -vx "$COUNT_PID" | wc -l) -eq 0 ]] && break
  sleep 0.1
done
sleep 0.5
STATS_FILE="$ATK_DIR/stats-flood.json"
stack_counters "$STATS_FILE"
rss1=$(atk_rss_kb) cpu1=$(atk_cpu_ticks) drop1=$(tun_tx_dropped)
counter_stop
atk_stack_stop

ok=0 times=()
for ((i = 0; i < curls; i++)); do
  read -r code t <"$ATK_DIR/curl-$i.txt" || { code=000 t=5.0; }
  [[ "$code" == 200 ]] && ok=$((ok + 1))
  times+=("$t")
done
curl_times=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END { if (NR == 0) { print "-"; exit }
  printf "min %.2f / median %.2f / max %.2f s", a[1], a[int((NR + 1) / 2)], a[NR] }')
flood_sent=$(atk_json 'j["sent"]' "$ATK_DIR/flood.json")
flood_pps=$(atk_json 'j["pps"]' "$ATK_DIR/flood.json")
flood_secs=$(atk_json 'j["seconds"]' "$ATK_DIR/flood.json")

atk_table_head
if ((burst > 0)); then
  atk_row "A: curl right after $burst SYNs" "HTTP $burst_code, ${burst_curl} s" "unreachable > 60 s (curl -m bounds)"
  atk_row "A: SYN-ACKs sent to spoofed addresses" "$burst_synacks"
  atk_row "A: tcp.synQueueDrops / passiveOpens" "$burst_drops / $burst_passive"
fi
atk_row "B: SYNs sent (seconds, packets/s)" "$flood_sent" "${flood_secs} s, ${flood_pps}/s"
atk_row "B: SYNs dropped by the TUN queue (tx_dropped)" "$((drop1 - drop0))"
atk_row "B: legitimate curls that got HTTP 200" "$ok / $curls"
atk_row "B: their times" "" "$curl_times"
atk_row "B: SYN-ACKs to spoofed addresses" "$(atk_json 'j["synack"]' "$COUNT_OUT")"
atk_row "B: SYN-ACKs to the legitimate client" "$(atk_json 'j["synack_to_host"]' "$COUNT_OUT")"
atk_row "B: tcp.segmentsIn" "$(tcp_figure "['segmentsIn']")"
atk_row "B: tcp.passiveOpens" "$(tcp_figure "['passiveOpens']")"
atk_row "B: tcp.synQueueDrops" "$(tcp_figure "['synQueueDrops']")"
atk_row "B: tcp.dropped" "" "$(tcp_figure "['dropped']")"
atk_row "B: stack CPU during the flood (s)" "$(atk_cpu_secs "$cpu0" "$cpu1")"
atk_row "B: stack RSS before -> after (MB)" "$(atk_mb "$rss0") -> $(atk_mb "$rss1")"
burst_sum=skipped
((burst == 0)) || burst_sum="${burst_code}/${burst_curl}s"
atk_summary "burst_curl=$burst_sum flood_curls_ok=$ok/$curls synqueue_drops=$(tcp_figure "['synQueueDrops']" | tr -d ' ')"
