#!/usr/bin/env bash
# Lab 06 — loss: IP may drop packets; TCP notices and sends the bytes again, so the application still
# gets every byte, in order (the "reliable" in the chapter's "safely delivered, not damaged or reordered").
#
#   sudo scripts/lab/06-loss.sh [BYTES]          (download size, default 300000)
#
# tunstack runs with --impair loss=5%,seed=7: 5% of the packets in each direction are dropped (a seeded
# pattern). curl downloads /bytes/BYTES (byte i = i % 251) and the lab checks the bytes, then shows the
# retransmissions in the trace, the ladder diagram, tshark's analysis and the stack's counters.
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
size=${1:-300000}
[[ "$size" =~ ^[0-9]+$ && $size -ge 10000 && $size -le 50000000 ]] || die "BYTES must be 10000..50000000"
lab_init 06

expected=$("$LAB_PY" -c 'import hashlib,sys
n = int(sys.argv[1]); b = bytes(range(251)) * (n // 251 + 1)
print(hashlib.sha256(b[:n]).hexdigest())' "$size")

title "Lab 06: 5% packet loss, and TCP delivers every byte anyway"
# --tso off: the stack builds every segment itself, so the capture and the trace show each one as it
# goes on the wire (with TSO it hands the link 64 KiB super-segments that the link cuts afterwards).
stack_start --impair loss=5%,seed=7 --trace --tso off

step "Download $size bytes through the lossy link"
show "curl -s -o body.bin -w '...' http://10.77.0.2/bytes/$size"
ns timeout 60 curl -s -o "$LAB_DIR/body.bin" \
  -w '    %{size_download} bytes in %{time_total} s, client port %{local_port}\n' "$LAB_URL/bytes/$size" |
  tee "$LAB_DIR/curl.txt"
got=$(sha256sum "$LAB_DIR/body.bin" | cut -d' ' -f1)
check "the body is exactly the $size expected bytes (sha256 ${got:0:16}...)" test "$got" = "$expected"
port=$(sed -n 's/.*client port \([0-9]*\)/\1/p' "$LAB_DIR/curl.txt")

show "curl -s http://10.77.0.2/stats        # tunstack's TCP counters (this request may lose packets too)"
ns timeout 30 curl -s "$LAB_URL/stats" >"$LAB_DIR/stats.json" || true
if [[ -s "$LAB_DIR/stats.json" ]]; then
  json '{k: j["stats"]["tcp"][k] for k in ("segmentsIn", "segmentsOut", "retransmits", "fastRetransmits", "timeouts")}' \
    "$LAB_DIR/stats.json" | indent
fi
sleep 0.5
stack_stop

step "What the stack counted (printed at exit)"
stack_exit_stats >"$LAB_DIR/exit-stats.json"
json '{k: j["tcp"][k] for k in ("segmentsIn", "segmentsOut", "retransmits", "fastRetransmits", "timeouts")}' \
  "$LAB_DIR/exit-stats.json" | indent
rtx=$(json 'j["tcp"]["retransmits"]' "$LAB_DIR/exit-stats.json")
check "tunstack retransmitted $rtx segment(s)" test "$rtx" -gt 0

step "tshark's view of the download (the capture sits between the loss and the stack: a segment tunstack"
echo "   sent and the link then dropped is in the capture; a segment the link dropped on its way in is not)"
pcap_for_port "$port" "$LAB_DIR/download.pcap"
srv_rtx=$(count_pkts "tcp.port==$port && ip.src==10.77.0.2 && tcp.analysis.retransmission")
srv_fast=$(count_pkts "tcp.port==$port && ip.src==10.77.0.2 && tcp.analysis.fast_retransmission")
dupacks=$(count_pkts "tcp.port==$port && ip.src==10.77.0.1 && tcp.analysis.duplicate_ack")
sacks=$(count_pkts "tcp.port==$port && ip.src==10.77.0.1 && tcp.options.sack_le")
data=$(count_pkts "tcp.port==$port && ip.src==10.77.0.2 && tcp.len>0")
printf '    data segments from tunstack %s, of them retransmissions %s (fast retransmissions %s)\n' "$data" "$srv_rtx" "$srv_fast"
printf '    duplicate ACKs from the client %s, ACKs carrying SACK blocks %s (SACK needs sackOK in both SYNs)\n' "$dupacks" "$sacks"
check "retransmissions are visible in the capture" test "$srv_rtx" -gt 0

step "Retransmissions in the trace (--trace: one line per packet, relative seq numbers)"
trace="$LAB_DIR/trace-$port.txt"
grep -E "\.${port}[ :>]" "$LAB_STACK_OUT" | grep -v '^tunstack:' >"$trace" || true
synack=$(grep -c -- '-> IP 10.77.0.2.80 > .*Flags \[S\.\]' "$trace" || true)
if [[ $synack -gt 1 ]]; then
  echo "    the SYN-ACK went out $synack times: a lost handshake segment waits for the initial RTO (1 s, RFC 6298 §2.1):"
  grep -- 'Flags \[S' "$trace" | cut -c1-100 | indent
fi
read -r seq nxt < <(tsh -Y "tcp.port==$port && ip.src==10.77.0.2 && tcp.len>0 && tcp.analysis.retransmission" \
  -T fields -e tcp.seq -e tcp.nxtseq | sed -n 1p) || true
if [[ -n "${seq:-}" ]]; then
  dup=$(grep -c -- "<- IP 10.77.0.1.$port > .*ack $seq," "$trace" || true)
  echo "    the first data retransmission carries bytes $seq:$nxt; the client ACKed up to $seq in $dup segments (duplicate ACKs) meanwhile:"
  grep -n -E -- "-> IP 10.77.0.2.80 > .*seq $seq:$nxt,|<- IP 10.77.0.1.$port > .*ack $seq," "$trace" | cut -c1-110 |
    awk '/10.77.0.2.80 >/ { print; next } c < 3 { print; c++ }' | sed -n 1,8p | indent || true
fi

step "The ladder around the first retransmission (tunstack's data segments marked [retransmission])"
ladder "$LAB_DIR/download.pcap" 78 >"$LAB_DIR/ladder.txt"
line=$(grep -n 'retransmission' "$LAB_DIR/ladder.txt" | sed -n 1p | cut -d: -f1 || true)
if [[ -n "$line" ]]; then
  sed -n "1,4p" "$LAB_DIR/ladder.txt"
  echo "    ..."
  sed -n "$((line > 8 ? line - 8 : 1)),$((line + 3))p" "$LAB_DIR/ladder.txt"
  echo "    ... ($(wc -l <"$LAB_DIR/ladder.txt") lines in $LAB_DIR/ladder.txt, $(grep -c retransmission "$LAB_DIR/ladder.txt") marked)"
else
  bad "no [retransmission] in the ladder"
fi
if [[ $sacks -gt 0 ]]; then
  look "a hole in the data: the client acknowledges the same byte again and again (duplicate ACKs), and its SACK blocks <sack a:b> list what arrived beyond the hole (RFC 2018)"
else
  look "a hole in the data: the client acknowledges the same byte again and again (duplicate ACKs); without SACK the ACK number is all the sender learns"
fi
look "then the missing segments again, marked [retransmission]: after 3 duplicate ACKs (fast retransmit, RFC 5681 §3.2) or when the retransmission timer expires"

step "The whole download as a sequence-number-versus-time graph (Stevens / tcptrace style)"
show "node --import tsx src/cli.ts ladder download.pcap --seqgraph $LAB_DIR/seqgraph.svg"
"$LAB_NODE" --import tsx src/cli.ts ladder "$LAB_DIR/download.pcap" --seqgraph "$LAB_DIR/seqgraph.svg" | indent
check "the graph was written ($LAB_DIR/seqgraph.svg, open it in a browser)" test -s "$LAB_DIR/seqgraph.svg"
look "blue bars climbing: data sent; the green step line under them: the client's cumulative ACK. Where the line stays flat while bars climb, a hole waits; the red bar (R) that fills it is the retransmission, and the line jumps up at once: everything beyond the hole had arrived (SACK)"
