#!/usr/bin/env bash
# Lab 01 — the life of one TCP connection: the 3-way handshake, one HTTP exchange, the 4-way teardown,
# and the 4-tuple that names the connection.
#
#   sudo scripts/lab/01-handshake.sh
#
# One `curl http://10.77.0.2/conn` against tunstack in a private network namespace. The page /conn
# answers with the connection's 4-tuple as the server sees it; the capture shows the same 4 numbers
# in every packet, and the ladder diagram shows SYN, SYN-ACK, ACK, request, response, FIN/ACK both ways.
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_init 01

title "Lab 01: one connection, from SYN to the last ACK"
step "Start tunstack with --trace (one line per packet, relative seq/ack, state changes)"
stack_start --trace

step "One HTTP request with curl (HTTP/1.1), from the Linux kernel's TCP in the same namespace"
show "curl -s http://10.77.0.2/conn"
ns timeout 10 curl -s "$LAB_URL/conn" >"$LAB_DIR/conn.json"
cli_addr=$(json 'j["client"]["address"]' "$LAB_DIR/conn.json")
cli_port=$(json 'j["client"]["port"]' "$LAB_DIR/conn.json")
srv_addr=$(json 'j["server"]["address"]' "$LAB_DIR/conn.json")
srv_port=$(json 'j["server"]["port"]' "$LAB_DIR/conn.json")
printf '    the server says this connection is  <%s, %s, %s, %s>\n' "$cli_addr" "$cli_port" "$srv_addr" "$srv_port"
printf '    request number on it: %s, TCP state then: %s, handshake RTT: %s ms\n' \
  "$(json 'j["requestOnConnection"]' "$LAB_DIR/conn.json")" "$(json 'j["tcp"]["state"]' "$LAB_DIR/conn.json")" \
  "$(json '"%.1f" % j["tcp"]["handshakeRttMs"]' "$LAB_DIR/conn.json")"

# curl has exited (and closed); give the FIN exchange a moment, then stop the stack (flushes the capture).
sleep 0.5
stack_stop

step "The ladder diagram of the capture (left: the client that sent the SYN; right: tunstack)"
show "node --import tsx src/cli.ts ladder $LAB_PCAP"
ladder "$LAB_PCAP" | tee "$LAB_DIR/ladder.txt"
look "3 segments before any data (SYN / SYN,ACK / ACK), the request and the response, then FIN and ACK in each direction"

step "The same conversation as the stack traced it (--trace), with its TCP state changes"
grep -v '^tunstack:' "$LAB_STACK_OUT" | sed -n 1,40p | indent

step "Evidence from the capture (tshark)"
syn=$(count_pkts 'tcp.flags.syn==1 && tcp.flags.ack==0')
synack=$(count_pkts 'tcp.flags.syn==1 && tcp.flags.ack==1')
fin=$(count_pkts 'tcp.flags.fin==1')
rst=$(count_pkts 'tcp.flags.reset==1')
total=$(tsh | wc -l | tr -d ' ')
printf '    packets %s: SYN %s, SYN-ACK %s, FIN %s, RST %s\n' "$total" "$syn" "$synack" "$fin" "$rst"
check "exactly one SYN and one SYN-ACK: one handshake" test "$syn $synack" = "1 1"
check "one FIN from each side and no RST: an orderly 4-way close" test "$fin $rst" = "2 0"
read -r p_src p_sport p_dst p_dport < <(tsh -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields \
  -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport | sed -n 1p)
printf '    the SYN in the capture carries       <%s, %s, %s, %s>\n' "$p_src" "$p_sport" "$p_dst" "$p_dport"
check "the 4-tuple in the capture is the one /conn reported" \
  test "$p_src $p_sport $p_dst $p_dport" = "$cli_addr $cli_port $srv_addr $srv_port"
others=$(count_pkts "!(ip.addr==$cli_addr && tcp.port==$cli_port && ip.addr==$srv_addr && tcp.port==$srv_port)")
check "every packet of the capture belongs to that one 4-tuple ($others others)" test "$others" -eq 0
printf '    who sent the first FIN: '
tsh -Y 'tcp.flags.fin==1' -T fields -e ip.src -e tcp.srcport | sed -n 1p | tr '\t' ':'

step "One packet opened up: the request, a TCP segment inside an IP packet"
read -r frame ihl iplen proto ttl tcphl tseq tack tlen < <(tsh -Y 'tcp.len>0' -T fields -e frame.number \
  -e ip.hdr_len -e ip.len -e ip.proto -e ip.ttl -e tcp.hdr_len -e tcp.seq -e tcp.ack -e tcp.len | sed -n 1p)
first_line=$(tsh -Y "frame.number==$frame" -T fields -e tcp.payload |
  "$LAB_PY" -c 'import sys; print(bytes.fromhex(sys.stdin.read().replace(":", "").strip()).decode("latin1").splitlines()[0])')
printf '    IP packet   %4s bytes: header %s bytes (addresses %s -> %s, protocol %s = TCP, ttl %s), then:\n' \
  "$iplen" "$ihl" "$cli_addr" "$srv_addr" "$proto" "$ttl"
printf '      TCP segment %4s bytes: header %s bytes (ports %s -> %s, seq %s, ack %s), then:\n' \
  "$((iplen - ihl))" "$tcphl" "$cli_port" "$srv_port" "$tseq" "$tack"
printf '        data      %4s bytes: %s ...\n' "$tlen" "$first_line"
check "$ihl + $tcphl + $tlen = $iplen: the IP packet is its header plus the TCP segment, which is its header plus the data" \
  test $((ihl + tcphl + tlen)) -eq "$iplen"
look "every field, layer by layer: tshark -r $LAB_PCAP -V -Y frame.number==$frame"
