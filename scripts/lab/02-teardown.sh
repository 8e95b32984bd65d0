#!/usr/bin/env bash
# Lab 02 — the 4-way teardown: who sends the first FIN, and which side is left in TIME-WAIT.
#
#   sudo scripts/lab/02-teardown.sh
#
# Case A: the client closes first (curl, HTTP/1.1 keep-alive, exits after its response): the Linux
#         kernel sends the first FIN and keeps the TIME-WAIT (`ss -tan` shows it).
# Case B: the server closes first (curl sends `Connection: close`): tunstack sends the first FIN and
#         keeps the TIME-WAIT (its connection table at /stats shows it; `ss` shows nothing).
# Case C: a half-close: the client sends a request and its FIN at once; the server's direction stays
#         open, so the response (300 ms later) still arrives, and then the server's FIN.
# The side that closes first is the one that waits: TIME-WAIT lasts 2*MSL (RFC 9293 §3.10.7.4) so that
# a lost last ACK can be resent and old duplicates of this 4-tuple die out before it is used again.
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_init 02

# stack_conns: tunstack's connection table, one "STATE peer:port" line each (asked over a separate
# connection, which appears in the table itself as ESTABLISHED: that is the /stats request).
stack_conns() {
  ns timeout 10 curl -s "$LAB_URL/stats" |
    json '"\n".join("%-12s %s:%s" % (c["state"], c["remoteAddress"], c["remotePort"]) for c in j["connections"])'
}
kernel_conns() { ns timeout 5 ss -tan | grep -v LISTEN; }

title "Lab 02: who closes first, and who waits in TIME-WAIT"
stack_start

step "Case A: the client closes first (HTTP/1.1 keep-alive; curl closes when it exits)"
show "curl -s http://10.77.0.2/conn"
a_port=$(ns timeout 10 curl -s "$LAB_URL/conn" | json 'j["client"]["port"]')
echo "    client port: $a_port"
sleep 0.5
show "ss -tan            # the kernel's side (the client)"
kernel_conns | tee "$LAB_DIR/a-ss.txt" | indent
show "curl -s http://10.77.0.2/stats   # tunstack's connection table (the server)"
stack_conns | tee "$LAB_DIR/a-stack.txt" | indent
check "the kernel (client, closed first) holds 10.77.0.1:$a_port in TIME-WAIT" grep -q "TIME-WAIT.*:$a_port\b" "$LAB_DIR/a-ss.txt"
check "tunstack (server, closed second) has forgotten the connection: CLOSE-WAIT -> LAST-ACK -> CLOSED" \
  not grep -q ":$a_port\$" "$LAB_DIR/a-stack.txt"

step "Case B: the server closes first (the request says Connection: close)"
show "curl -s -H 'Connection: close' http://10.77.0.2/conn"
b_port=$(ns timeout 10 curl -s -H 'Connection: close' "$LAB_URL/conn" | json 'j["client"]["port"]')
echo "    client port: $b_port"
sleep 0.5
show "ss -tan"
kernel_conns | tee "$LAB_DIR/b-ss.txt" | indent
show "curl -s http://10.77.0.2/stats"
stack_conns | tee "$LAB_DIR/b-stack.txt" | indent
check "tunstack (server, closed first) holds 10.77.0.1:$b_port in TIME-WAIT" grep -q "^TIME-WAIT .*:$b_port\$" "$LAB_DIR/b-stack.txt"
check "the kernel (client, closed second) has no TIME-WAIT for port $b_port" not grep -q "TIME-WAIT.*:$b_port\b" "$LAB_DIR/b-ss.txt"

step "Case C: a half-close — the client sends its request and at once its FIN (shutdown(SHUT_WR))"
cat >"$LAB_DIR/half-close.py" <<'EOF'
import socket, time
s = socket.create_connection(("10.77.0.2", 80), timeout=10)
print("    client port", s.getsockname()[1])
s.sendall(b"GET /delay/300 HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n")
s.shutdown(socket.SHUT_WR)  # FIN: "I will send nothing more" -- but still listening
t0 = time.monotonic()
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
first = data.split(b"\r\n", 1)[0].decode("latin1")
body = data.split(b"\r\n\r\n", 1)[-1].decode("latin1").strip()
print(f"    after our FIN we still received {len(data)} bytes ({first} ... {body!r}),")
print(f"    then the server's FIN, {time.monotonic() - t0:.3f} s after ours")
s.close()
EOF
show "python3: send GET /delay/300, shutdown(SHUT_WR), then read until the server's FIN"
ns timeout 15 "$LAB_PY" "$LAB_DIR/half-close.py" | tee "$LAB_DIR/c.txt"
c_port=$(sed -n 's/.*client port \([0-9]*\).*/\1/p' "$LAB_DIR/c.txt")
check "the response arrived although the client had already sent its FIN" grep -q "HTTP/1.1 200 OK ... 'delayed 300 ms'" "$LAB_DIR/c.txt"

sleep 0.3
stack_stop

step "The FINs in the capture, in order (time since the capture started)"
for p in "$a_port" "$b_port"; do
  echo "    connection from port $p:"
  segments "tcp.port==$p && (tcp.flags.fin==1 || tcp.flags.reset==1)" | indent | indent
done
echo "    connection from port $c_port (case C; with the data segments):"
segments "tcp.port==$c_port && (tcp.flags.fin==1 || tcp.flags.reset==1 || tcp.len>0)" | indent | indent
a_first=$(tsh -Y "tcp.port==$a_port && tcp.flags.fin==1" -T fields -e ip.src | sed -n 1p)
b_first=$(tsh -Y "tcp.port==$b_port && tcp.flags.fin==1" -T fields -e ip.src | sed -n 1p)
check "case A: the first FIN came from the client (10.77.0.1)" test "$a_first" = 10.77.0.1
check "case B: the first FIN came from the server (10.77.0.2)" test "$b_first" = 10.77.0.2
read -r c_fin_frame c_fin_src < <(tsh -Y "tcp.port==$c_port && tcp.flags.fin==1" -T fields -e frame.number -e ip.src | sed -n 1p)
c_data_frame=$(tsh -Y "tcp.port==$c_port && ip.src==10.77.0.2 && tcp.len>0" -T fields -e frame.number | sed -n 1p)
check "case C: the first FIN came from the client (10.77.0.1)" test "$c_fin_src" = 10.77.0.1
check "case C: the server's data came after that FIN (frame $c_data_frame after frame $c_fin_frame)" \
  test "${c_data_frame:-0}" -gt "$c_fin_frame"

for p in "$a_port" "$b_port" "$c_port"; do
  step "Ladder of the connection from port $p (its last lines: the teardown)"
  pcap_for_port "$p" "$LAB_DIR/conn-$p.pcap"
  ladder "$LAB_DIR/conn-$p.pcap" | tail -n 6
done
look "FIN, ACK, FIN, ACK: each direction is closed separately; a FIN may ride on the last data segment or on an ACK"
look "case C: after the client's FIN the server's direction is still open (CLOSE-WAIT): the response flows, then the server's FIN"
look "TIME-WAIT is on the side that sent the first FIN; it lasts 2*MSL (tunstack: 2 x 30 s; Linux: 60 s)"
