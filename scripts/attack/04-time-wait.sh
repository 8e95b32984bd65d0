#!/usr/bin/env bash
# Attack 4 — TIME-WAIT: many short connections that the server closes first; what does each one
# cost while it waits out 2 MSL, and is the memory given back afterwards?
#
#   sudo scripts/attack/04-time-wait.sh [--requests N] [--big-requests N] [--concurrency N]
#                                       [--expire-wait S] [--rss-cap-mb MB]
#
#   --requests N      ab requests (HTTP/1.0, no keep-alive: one connection each) to /bytes/100 (default 20000)
#   --big-requests N  then as many to /bytes/200000 (default 20000; 0 skips)
#   --concurrency N   ab -c (default 50)
#   --expire-wait S   how long to wait for TIME-WAIT to empty afterwards (default 75: 2 MSL is 60 s
#                     at tunstack's default MSL of 30 s; `serve` has no MSL flag; pass one through
#                     TUNSTACK_SERVE_ARGS if a later build has it, and shorten this wait)
#   --rss-cap-mb MB   stop ab if the stack's RSS passes this (default 4096), to stay bounded
#
# The server closes first (HTTP/1.0 without keep-alive), so it holds every connection in TIME-WAIT
# (RFC 9293 §3.6). Figures: RSS before, after each ab, after the wait; TIME-WAIT entries in /stats.
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//' >&2; }
requests=20000 big=20000 conc=50 expire=75 cap=4096
while [[ $# -gt 0 ]]; do
  case "$1" in
    --requests | --big-requests | --concurrency | --expire-wait | --rss-cap-mb)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      case "$1" in
        --requests) requests=$2 ;; --big-requests) big=$2 ;; --concurrency) conc=$2 ;;
        --expire-wait) expire=$2 ;; --rss-cap-mb) cap=$2 ;;
      esac
      shift 2
      ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((requests >= 1 && requests <= 200000 && big <= 200000)) || atk_usage_error "--requests 1..200000, --big-requests 0..200000"
((conc >= 1 && conc <= 1000 && conc <= requests)) || atk_usage_error "--concurrency must be 1..1000 and at most --requests"
((expire <= 600)) || atk_usage_error "--expire-wait must be 0..600"
((cap >= 256)) || atk_usage_error "--rss-cap-mb must be at least 256"

atk_init 04-time-wait ab

# snapshot TAG: RSS and the connection table's states now; figures in S_<TAG>_* variables.
snapshot() {
  local f="$ATK_DIR/stats-$1.json" rss
  rss=$(atk_rss_kb)
  atk_stats "$f" 20
  local tw all heap
  tw=$(atk_json 'sum(1 for c in j["connections"] if c["state"] == "TIME-WAIT")' "$f")
  all=$(atk_json 'j["stats"]["tcp"]["connections"]' "$f")
  # The live V8 heap (a stack that reports it): RSS that stays up while this falls back is the
  # allocator keeping freed pages, not objects kept alive.
  heap=$(atk_json 'j.get("memory", {}).get("heapUsed", 0)' "$f")
  printf -v "S_${1}_HEAP" '%s' "$((heap / 1024))"
  printf -v "S_${1}_RSS" '%s' "$rss"
  printf -v "S_${1}_TW" '%s' "$tw"
  printf -v "S_${1}_ALL" '%s' "$all"
}

# bench TAG PATH N: ab against PATH, stopped if the stack's RSS passes the cap (checked every 0.5 s).
bench() {
  local tag=$1 path=$2 n=$3 c=$conc
  ((c <= n)) || c=$n
  atk_step "ab -n $n -c $c (no keep-alive) $ATK_URL$path"
  ns_bg timeout 300 ab -r -s 10 -n "$n" -c "$c" "$ATK_URL$path" >"$ATK_DIR/ab-$tag.txt" 2>&1
  local ab=$ATK_BG_PID capped=0
  while kill -0 "$ab" 2>/dev/null; do
    if (($(atk_rss_kb) > cap * 1024)); then
      capped=1
      kill -TERM "$ab" 2>/dev/null || true
      echo "  the stack's RSS passed ${cap} MB: ab stopped"
    fi
    sleep 0.5
  done
  atk_bg_wait "$ab"
  printf -v "B_${tag}_CAPPED" '%s' "$capped"
  printf -v "B_${tag}_DONE" '%s' "$(awk '/^Complete requests:/ {print $3}' "$ATK_DIR/ab-$tag.txt")"
  printf -v "B_${tag}_FAILED" '%s' "$(awk '/^Failed requests:/ {print $3}' "$ATK_DIR/ab-$tag.txt")"
  printf -v "B_${tag}_SECS" '%s' "$(awk '/^Time taken for tests:/ {print $5}' "$ATK_DIR/ab-$tag.txt")"
  grep -E '^(Complete|Failed) requests|^Time taken|^Requests per second' "$ATK_DIR/ab-$tag.txt" | sed 's/^/  /' || true
}

atk_stack_start tw
sleep 1
snapshot before
bench small /bytes/100 "$requests"
snapshot small
if ((big > 0)); then
  bench big /bytes/200000 "$big"
  snapshot big
fi

atk_step "Waiting up to $expire s for TIME-WAIT to empty (2 MSL)"
t0=$(atk_now_ms)
expired_after='-'
while (($(atk_now_ms) - t0 < expire * 1000)); do
  sleep 5
  snapshot wait
  echo "  $((($(atk_now_ms) - t0) / 1000)) s: TIME-WAIT $S_wait_TW, connections $S_wait_ALL, RSS $(atk_mb "$S_wait_RSS") MB"
  if [[ "$S_wait_TW" == 0 ]]; then
    expired_after="$((($(atk_now_ms) - t0) / 1000)) s"
    break
  fi
done
snapshot after
atk_stack_stop

atk_table_head
atk_row "RSS before (MB)" "$(atk_mb "$S_before_RSS")"
atk_row "/bytes/100: requests done / failed (s)" "${B_small_DONE:--} / ${B_small_FAILED:--}" "${B_small_SECS:--} s"
atk_row "/bytes/100: RSS right after (MB)" "$(atk_mb "$S_small_RSS")"
atk_row "/bytes/100: TIME-WAIT / all connections" "$S_small_TW / $S_small_ALL"
if ((big > 0)); then
  atk_row "/bytes/200000: requests done / failed (s)" "${B_big_DONE:--} / ${B_big_FAILED:--}" \
    "${B_big_SECS:--} s$( ((B_big_CAPPED)) && echo ", stopped at the RSS cap")"
  atk_row "/bytes/200000: RSS right after (MB)" "$(atk_mb "$S_big_RSS")"
  atk_row "/bytes/200000: TIME-WAIT / all connections" "$S_big_TW / $S_big_ALL"
fi
atk_row "TIME-WAIT emptied after" "$expired_after" "(waited at most $expire s; default MSL 30 s)"
atk_row "after the wait: RSS (MB)" "$(atk_mb "$S_after_RSS")"
atk_row "live V8 heap before / after ab / after the wait (MB)" "$(atk_mb "$S_before_HEAP") / $(atk_mb "${S_big_HEAP:-$S_small_HEAP}") / $(atk_mb "$S_after_HEAP")"
atk_row "after the wait: TIME-WAIT / all connections" "$S_after_TW / $S_after_ALL"
last=$S_small_RSS
((big > 0)) && last=$S_big_RSS
atk_summary "rss_mb=$(atk_mb "$S_before_RSS")/$(atk_mb "$last")/$(atk_mb "$S_after_RSS") time_wait_peak=${S_big_TW:-$S_small_TW} expired=${expired_after// /}"
