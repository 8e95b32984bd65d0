#!/usr/bin/env bash
# Attack 5 — burst: thousands of legitimate clients connect at the same moment.
#
#   sudo scripts/attack/05-burst.sh [--clients N] [--max-seconds S] [--path P]
#
#   --clients N      kernel TCP clients, all connect() calls back to back (default 10000)
#   --max-seconds S  the whole burst's time limit (default 60)
#   --path P         what each client GETs once connected (default /bytes/100)
#
# The kernel retries a dropped SYN after 1, 3, 7, 15, 31 s: a stack whose SYN queue overflows makes
# clients wait seconds. Figures: time until all got in (connect done), the 90th percentile, the same for
# their responses, SYN drops (/stats tcp.synQueueDrops) and SYNs the kernel could not queue to the TUN.
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2; }
clients=10000 maxs=60 path=/bytes/100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients | --max-seconds)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      case "$1" in --clients) clients=$2 ;; --max-seconds) maxs=$2 ;; esac
      shift 2
      ;;
    --path)
      [[ $# -ge 2 && "$2" =~ ^/[A-Za-z0-9/._-]*$ ]] || atk_usage_error "--path needs an absolute path (letters, digits, / . _ -)"
      path=$2
      shift 2
      ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((clients >= 1 && clients <= 25000)) || atk_usage_error "--clients must be 1..25000"
((maxs >= 1 && maxs <= 300)) || atk_usage_error "--max-seconds must be 1..300"

atk_init 05-burst
atk_stack_start burst
sleep 1
rss0=$(atk_rss_kb) cpu0=$(atk_cpu_ticks)
drop0=$(ns cat "/sys/class/net/$ATK_TUN/statistics/tx_dropped")
atk_step "$clients clients connect at once, each GETs $path (at most $maxs s)"
ns timeout $((maxs + 30)) "$ATK_PY" "$ATK_HERE/burst.py" --clients "$clients" --dst "$ATK_ADDR" --path "$path" \
  --max-seconds "$maxs" >"$ATK_DIR/burst.json" || true
drop1=$(ns cat "/sys/class/net/$ATK_TUN/statistics/tx_dropped")
rss1=$(atk_rss_kb) cpu1=$(atk_cpu_ticks)
echo "  clients: $(cat "$ATK_DIR/burst.json")"
atk_stats "$ATK_DIR/stats.json" 10
atk_stack_stop

R="$ATK_DIR/burst.json"
S="$ATK_DIR/stats.json"
tcp() { local v; v=$(atk_json "j['stats']['tcp']$1" "$S"); [[ "$v" != "-" ]] || v="$(atk_exit_stats | atk_json "j['tcp']$1") (at exit)"; echo "$v"; }
atk_table_head
atk_row "clients connected / got HTTP 200" "$(atk_json '"%d / %d" % (j["connected"], j["responses"])' "$R")" "of $clients"
atk_row "time until all got in (s)" \
  "$(atk_json 'j["connect_last_s"] if j["connected"] == j["clients"] else "not all: %d out at %ds" % (j["clients"] - j["connected"], round(j["seconds"]))' "$R")" "35.8 s"
atk_row "last client in at (s)" "$(atk_json 'j["connect_last_s"]' "$R")"
atk_row "connect p50 / p90 (s)" "$(atk_json '"%s / %s" % (j["connect_p50_s"], j["connect_p90_s"])' "$R")" "9,000 in by 7.3 s"
atk_row "response p50 / p90 / last (s)" "$(atk_json '"%s / %s / %s" % (j["response_p50_s"], j["response_p90_s"], j["response_last_s"])' "$R")"
atk_row "still waiting at the time limit" "$(atk_json 'j["still_open_at_the_limit"]' "$R")"
atk_row "client errors" "" "$(atk_json 'j["errors"]' "$R")"
atk_row "tcp.synQueueDrops" "$(tcp "['synQueueDrops']")"
atk_row "tcp.passiveOpens" "$(tcp "['passiveOpens']")"
atk_row "tcp.dropped" "" "$(tcp "['dropped']")"
atk_row "SYNs etc. dropped by the TUN queue" "$((drop1 - drop0))"
atk_row "stack CPU (s) / RSS before -> after (MB)" "$(atk_cpu_secs "$cpu0" "$cpu1")" "$(atk_mb "$rss0") -> $(atk_mb "$rss1")"
atk_summary "all_in_s=$(atk_json 'j["connect_last_s"] if j["connected"] == j["clients"] else "never"' "$R") p90_s=$(atk_json 'j["connect_p90_s"]' "$R") connected=$(atk_json 'j["connected"]' "$R")/$clients syn_drops=$(tcp "['synQueueDrops']" | tr -d ' ')"
