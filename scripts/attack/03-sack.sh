#!/usr/bin/env bash
# Attack 3 — SACK: a receiver fragments the sender's scoreboard with 1-byte SACK blocks.
#
#   sudo scripts/attack/03-sack.sh [--acks N] [--skip-plain]
#
#   --acks N       ACKs of the measured phase (default 25000; each with 4 SACK blocks in the attack)
#   --skip-plain   only the attack, not the plain download it is compared with
#
# A hand-made receiver (raw socket + AF_PACKET, from 10.77.1.60) downloads /bytes/1GiB; after a 2 MiB
# ramp it either (plain) goes on and ACKs ordinarily, N ACKs, or (attack) holds the cumulative ACK so
# that the stack's 1 MiB send buffer is all in flight, and sends N duplicate ACKs with 4 one-byte SACK
# blocks each. Each on a fresh stack: the stack's CPU seconds for those N ACKs (until it is idle, or
# 5 s after the last), and the time a concurrent `curl -m 60 /` from the kernel, started when half of
# the ACKs have reached the stack, waits for its answer.
# shellcheck source=scripts/attack/lib.sh
source "$(dirname "$0")/lib.sh"

atk_usage() { sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2; }
acks=25000 plain=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --acks)
      [[ $# -ge 2 ]] || atk_usage_error "$1 needs a value"
      atk_uint "$1" "$2"
      acks=$2
      shift 2
      ;;
    --skip-plain) plain=0; shift ;;
    -h | --help) atk_usage; exit 0 ;;
    *) atk_usage_error "unknown argument '$1'" ;;
  esac
done
((acks >= 1 && acks <= 200000)) || atk_usage_error "--acks must be 1..200000"

atk_init 03-sack
PY="$ATK_PY $ATK_HERE/sack.py"

# run MODE: fresh stack, the receiver, a concurrent curl once the measured phase starts.
run() {
  local mode=$1
  atk_stack_start "$mode"
  atk_routes
  rm -f "$ATK_DIR/$mode.started" "$ATK_DIR/$mode.midway"
  # shellcheck disable=SC2086
  ns_bg timeout 200 $PY "$mode" --stack-pid "$ATK_STACK_PID" --acks "$acks" --started "$ATK_DIR/$mode.started" \
    --midway "$ATK_DIR/$mode.midway" --max-seconds 170 --settle 5 >"$ATK_DIR/$mode.json"
  local rx=$ATK_BG_PID i
  for ((i = 0; i < 1700; i++)); do # 170 s at most, as the receiver
    [[ -e "$ATK_DIR/$mode.midway" ]] && break
    kill -0 "$rx" 2>/dev/null || break
    sleep 0.1
  done
  ns curl -sS -o /dev/null -m 60 -w '%{http_code} %{time_total}\n' "$ATK_URL/" >"$ATK_DIR/$mode-curl.txt" 2>"$ATK_DIR/$mode-curl.err" &
  local curl_pid=$!
  atk_bg_wait "$rx"
  wait "$curl_pid" || true
  atk_stats "$ATK_DIR/stats-$mode.json" 10
  atk_stack_stop
}

figures() {
  local mode=$1 code t
  read -r code t <"$ATK_DIR/$mode-curl.txt" || { code=000 t=-; }
  atk_row "$mode: stack CPU for the ACKs (s)" "$(atk_json 'j["stack_cpu_s"]' "$ATK_DIR/$mode.json")" "${2:-}"
  atk_row "$mode: ... of it while they were sent (s)" "$(atk_json 'j["stack_cpu_while_sending_s"]' "$ATK_DIR/$mode.json")" \
    "$(atk_json '"idle at the end" if j["stack_idle_at_end"] else "still busy 5 s after the last ACK"' "$ATK_DIR/$mode.json")"
  atk_row "$mode: ACKs that reached the stack" "$(atk_json 'j["acks_delivered"]' "$ATK_DIR/$mode.json")" \
    "$(atk_json '"sent %d, dropped %d" % (j["acks_sent"], j["tun_tx_dropped"])' "$ATK_DIR/$mode.json")"
  atk_row "$mode: wall s sending / until the stack idled" \
    "$(atk_json '"%s / %s" % (j["send_s"], j["until_idle_s"])' "$ATK_DIR/$mode.json")"
  atk_row "$mode: curl / started midway (HTTP code, s)" "$code, $t" "${3:-}"
  atk_row "$mode: tcp.retransmits / fastRetransmits" \
    "$(atk_json '"%s / %s" % (j["stats"]["tcp"]["retransmits"], j["stats"]["tcp"]["fastRetransmits"])' "$ATK_DIR/stats-$mode.json")"
}

if ((plain)); then
  atk_step "Plain: 2 MiB ramp, then $acks ordinary cumulative ACKs"
  run plain
  echo "  receiver: $(cat "$ATK_DIR/plain.json")"
fi
atk_step "Attack: 2 MiB ramp, 1 MiB held in flight, then $acks ACKs x 4 one-byte SACK blocks"
run attack
echo "  receiver: $(cat "$ATK_DIR/attack.json")"

atk_table_head
if ((plain)); then figures plain "0.6 s"; fi
figures attack "41.5 s" "12 s"
atk_row "attack: bytes in flight while SACKing" "$(atk_json 'j["in_flight_bytes"]' "$ATK_DIR/attack.json")"
atk_row "attack: 1-byte SACK blocks delivered" "$(atk_json 'j["sack_blocks_delivered"]' "$ATK_DIR/attack.json")" \
  "over $(atk_json 'j["sack_slots"]' "$ATK_DIR/attack.json") one-byte slots"
cpu_a=$(atk_json 'j["stack_cpu_s"]' "$ATK_DIR/attack.json")
if ((plain)); then
  cpu_p=$(atk_json 'j["stack_cpu_s"]' "$ATK_DIR/plain.json")
  ratio=$(awk -v a="$cpu_a" -v p="$cpu_p" 'BEGIN { if (p + 0 > 0) printf "%.1fx", a / p; else print "-" }')
  atk_row "attack / plain CPU" "$ratio" "68x"
fi
atk_summary "attack_cpu_s=$cpu_a plain_cpu_s=${cpu_p:--} curl=$(cut -d' ' -f2 "$ATK_DIR/attack-curl.txt" 2>/dev/null || echo -)s"
