#!/usr/bin/env bash
# Lab 03 — persistent connections: HTTP/1.0 without keep-alive, HTTP/1.0 with `Connection: keep-alive`,
# HTTP/1.1 (persistent by default), and the server's idle timeout.
#
#   sudo scripts/lab/03-persistent.sh [N]        (N requests per part, default 5, at most 20)
#
# tunstack runs with --max-requests 5 --idle-timeout 5000, so its `Keep-Alive: timeout=5, max=M` reply
# counts down to the request after which it closes. Each part counts the SYNs in the capture: one SYN
# is one TCP connection, one 3-way handshake.
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
n=${1:-5}
[[ "$n" =~ ^[0-9]+$ && $n -ge 2 && $n -le 20 ]] || die "N must be 2..20"
lab_init 03

# curl takes one -o per URL: "-o FILE URL" pairs, bodies to /dev/null (A, B) or one file each (C).
urls=() discard=() keep=()
for ((i = 1; i <= n; i++)); do
  urls+=("$LAB_URL/conn?r=$i")
  discard+=(-o /dev/null "$LAB_URL/conn?r=$i")
  keep+=(-o "$LAB_DIR/c-body-$i.json" "$LAB_URL/conn?r=$i")
done
conns=$(((n + 4) / 5)) # connections expected when the server allows 5 requests on each

# reply_lines FILE: one line per response of a `curl -D` dump: status, Connection, Keep-Alive.
reply_lines() {
  tr -d '\r' <"$1" | awk '
    /^HTTP\// { if (line != "") print "    " line; line = $0 }
    tolower($0) ~ /^(connection|keep-alive):/ { line = line "   " $0 }
    END { if (line != "") print "    " line }'
}

# syns_now: SYNs in the capture so far (after the periodic flush).
syns_now() {
  flush_wait
  syn_count
}

title "Lab 03: one connection per request, or one for many"
stack_start --max-requests 5 --idle-timeout 5000

# One curl invocation fetches all N URLs; curl reuses a connection whenever the server lets it.
# %{local_port} is the client's port (which connection), %{num_connects} the new connections it made.
fmt='    %{url_effective}  client port %{local_port}  new connections %{num_connects}\n'

step "Part A: HTTP/1.0, no keep-alive ($n requests)"
show "curl -0 -s -D - -w '...' ${urls[*]}"
before=$(syns_now)
ns timeout 20 curl -0 -s -D "$LAB_DIR/a-headers.txt" -w "$fmt" "${discard[@]}"
echo "    the replies:"
reply_lines "$LAB_DIR/a-headers.txt"
a_syn=$(($(syns_now) - before))
echo "    SYNs in the capture for part A: $a_syn"
check "HTTP/1.0 without keep-alive: $n requests, $n connections (the server closes after each response)" test "$a_syn" -eq "$n"

step "Part B: HTTP/1.0 with Connection: keep-alive ($n requests)"
show "curl -0 -s -H 'Connection: keep-alive' -D - -w '...' ${urls[*]}"
before=$(syns_now)
ns timeout 20 curl -0 -s -H 'Connection: keep-alive' -D "$LAB_DIR/b-headers.txt" -w "$fmt" "${discard[@]}"
echo "    the replies:"
reply_lines "$LAB_DIR/b-headers.txt"
b_syn=$(($(syns_now) - before))
echo "    SYNs in the capture for part B: $b_syn"
check "HTTP/1.0 + keep-alive: $conns connection(s) for $n requests (a new one after every 5: --max-requests 5)" \
  test "$b_syn" -eq "$conns"
check "the first reply says Keep-Alive: timeout=5, max=4" grep -qi "^Keep-Alive: timeout=5, max=4" "$LAB_DIR/b-headers.txt"
look "max= counts down: how many more requests this connection will take; the 5th reply says Connection: close"

step "Part C: HTTP/1.1, no special header ($n requests)"
show "curl -s -D - -w '...' ${urls[*]}"
before=$(syns_now)
ns timeout 20 curl -s -D "$LAB_DIR/c-headers.txt" -w "$fmt" "${keep[@]}"
echo "    what /conn said each time (the server's view of the connection):"
for ((i = 1; i <= n; i++)); do
  json '"client port %s: request #%s on this connection (HTTP/%s)" % (j["client"]["port"], j["requestOnConnection"], j["httpVersion"])' \
    "$LAB_DIR/c-body-$i.json" | indent
done
echo "    the replies:"
reply_lines "$LAB_DIR/c-headers.txt"
c_syn=$(($(syns_now) - before))
echo "    SYNs in the capture for part C: $c_syn"
check "HTTP/1.1: persistent by default, $conns connection(s) for $n requests" test "$c_syn" -eq "$conns"
last=$((n < 5 ? n : 5))
c_num=$(json 'j["requestOnConnection"]' "$LAB_DIR/c-body-$last.json")
check "request $last went over the same connection as request 1: /conn says request #$c_num" test "$c_num" -eq "$last"
look "the request number grows on one port; HTTP/1.1 needs no Connection header to stay open"

step "Part D: the idle timeout — one request, then wait without sending anything"
show "python3: connect, GET /conn HTTP/1.1, then wait for the server's FIN (recv() returns b'')"
cat >"$LAB_DIR/idle.py" <<'EOF'
import socket, time
s = socket.create_connection(("10.77.0.2", 80), timeout=15)
s.sendall(b"GET /conn HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n")
buf = b""
while b"\r\n\r\n" not in buf:
    buf += s.recv(65536)
t0 = time.monotonic()
print("    client port", s.getsockname()[1], "- response received; now idle")
while s.recv(65536):
    pass
print(f"    the server closed (FIN, recv() returned b'') after {time.monotonic() - t0:.2f} s idle")
s.close()
EOF
ns timeout 20 "$LAB_PY" "$LAB_DIR/idle.py" | tee "$LAB_DIR/d.txt"
sleep 0.3
stack_stop
d_port=$(sed -n 's/.*client port \([0-9]*\).*/\1/p' "$LAB_DIR/d.txt")
echo "    that connection's last segments in the capture:"
segments "tcp.port==$d_port && (tcp.len>0 || tcp.flags.fin==1)" | tail -n 4 | indent
d_first=$(tsh -Y "tcp.port==$d_port && tcp.flags.fin==1" -T fields -e ip.src | sed -n 1p)
check "after the idle timeout, the server sent the first FIN" test "$d_first" = 10.77.0.2
check "the idle close came about 5 s after the response (timeout=5)" grep -q "after [4-6]\.[0-9]* s idle" "$LAB_DIR/d.txt"

step "Summary: connections (SYNs) for $n requests"
printf '    %-34s %s\n' "HTTP/1.0" "$a_syn" "HTTP/1.0 + Connection: keep-alive" "$b_syn" "HTTP/1.1 (default)" "$c_syn"

step "Part W: the waterfall — the same page loaded serially and over one persistent connection"
# Simulated (virtual time, the same picture every run): a 50 ms round trip, the page and $n objects.
pageload w-sim "http://10.0.0.2/" --objects "$n" --object-size 2000 --compare serial,persistent --sim delay=25ms,rate=100mbit
w_serial=$(json 'j["loads"][0]["handshakes"]' "$LAB_DIR/w-sim.json")
w_persist=$(json 'j["loads"][1]["handshakes"]' "$LAB_DIR/w-sim.json")
check "simulated: serial needs $((n + 1)) handshakes for the page and $n objects, persistent 1" test "$w_serial $w_persist" = "$((n + 1)) 1"
w_ms=$(json '"%d %d" % (j["loads"][0]["pageMs"], j["loads"][1]["pageMs"])' "$LAB_DIR/w-sim.json")
check "simulated: persistent saves one round trip (50 ms) per object: $w_ms ms" \
  awk -v t="$w_ms" -v n="$n" 'BEGIN { split(t, a, " "); exit !(a[1] - a[2] >= 50 * n - 1) }'
# Live: the pageload client (a second tunstack) against the served one, over real TUN devices.
stack_start
before=$(syns_now)
pageload_live w-live "$LAB_URL/" --objects "$n" --object-size 2000 --mode persistent
w_live_syn=$(($(syns_now) - before))
stack_stop
check "live: a persistent page load is one handshake: $w_live_syn SYN in the capture" test "$w_live_syn" -eq 1
look "$LAB_DIR/w-sim.svg and w-live.svg: the grey handshake bar opens every row of serial, and only the one row of persistent"

step "Part E: what the handshakes cost — ApacheBench, 100 requests one after another, each packet +5 ms"
if ! command -v ab >/dev/null 2>&1; then
  echo "    skipped: 'ab' is not installed (Debian: apt-get install apache2-utils)"
  exit 0
fi
# A fresh stack with the default --max-requests 100, and a 10 ms round trip so that a round trip costs
# something visible. ab speaks HTTP/1.0; -k adds `Connection: Keep-Alive`, exactly the chapter's case.
stack_start --impair delay=5ms
ab_run() {
  local out=$1
  shift
  show "ab ${*:+$* }-n 100 -c 1 http://10.77.0.2/bytes/100"
  local before
  before=$(syns_now)
  ns timeout 60 ab "$@" -n 100 -c 1 "$LAB_URL/bytes/100" >"$out" 2>&1
  grep -E '^(Complete requests|Keep-Alive requests|Time taken for tests|Requests per second):' "$out" | indent
  ab_syn=$(($(syns_now) - before))
  ab_secs=$(sed -n 's/^Time taken for tests: *\([0-9.]*\).*/\1/p' "$out")
  echo "    SYNs in the capture: $ab_syn"
}
ab_run "$LAB_DIR/e-ab.txt"
e_close_syn=$ab_syn e_close_secs=$ab_secs
ab_run "$LAB_DIR/e-ab-k.txt" -k
e_keep_syn=$ab_syn e_keep_secs=$ab_secs
stack_stop
check "without keep-alive: 100 requests, 100 connections" test "$e_close_syn" -eq 100
check "with Connection: Keep-Alive: 100 requests, 1 connection" test "$e_keep_syn" -eq 1
check "keep-alive is faster: no handshake (one round trip) and no close per request" \
  awk -v a="$e_keep_secs" -v b="$e_close_secs" 'BEGIN { exit !(a < b) }'
printf '    %-34s %8s s  %4s connection(s)\n' "HTTP/1.0, new connection each" "$e_close_secs" "$e_close_syn" \
  "HTTP/1.0 + Connection: Keep-Alive" "$e_keep_secs" "$e_keep_syn"
look "each new connection costs a round trip for the handshake before the request can even be sent"
