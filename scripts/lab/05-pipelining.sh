#!/usr/bin/env bash
# Lab 05 — HTTP/1.1 pipelining: many requests in one write, responses strictly in request order, and
# the head-of-line blocking that order causes.
#
#   sudo scripts/lab/05-pipelining.sh
#
# A python3 client (plain sockets: no HTTP library pipelines) sends 10 GET requests on one
# connection, the first being /delay/500, and notes when each response arrives. Every packet is
# delayed 20 ms by tunstack (--impair delay=20ms: a 40 ms round trip), so waiting for each response
# before sending the next request has a visible cost.
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_init 05

# The client: MODE pipelined (all requests in one sendall) or serial (one request, its response, the
# next). Prints each response's arrival time and first body line, then the total.
cat >"$LAB_DIR/client.py" <<'EOF'
import socket, sys, time

mode, first = sys.argv[1], sys.argv[2]
paths = [first] + [f"/echo?n={i}" for i in range(2, 11)]
reqs = [f"GET {p} HTTP/1.1\r\nHost: 10.77.0.2\r\n\r\n".encode() for p in paths]

s = socket.create_connection(("10.77.0.2", 80), timeout=15)
buf = b""

def read_response():
    """One response (Content-Length or chunked framing): (status line, body)."""
    global buf
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536) or sys.exit("connection closed early")
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    h = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    if "content-length" in h:
        n = int(h["content-length"])
        while len(buf) < n:
            buf += s.recv(65536) or sys.exit("connection closed early")
        body, buf = buf[:n], buf[n:]
    else:  # chunked (RFC 9112 §7.1)
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536) or sys.exit("connection closed early")
            size_line, buf = buf.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            while len(buf) < n + 2:
                buf += s.recv(65536) or sys.exit("connection closed early")
            body, buf = body + buf[:n], buf[n + 2:]
            if n == 0:
                break
    return lines[0], body

t0 = time.monotonic()
print(f"    client port {s.getsockname()[1]}, {mode}: {len(reqs)} requests, the first is {first}")
if mode == "pipelined":
    s.sendall(b"".join(reqs))
    print(f"    {(time.monotonic() - t0) * 1000:7.0f} ms  sent all {len(reqs)} requests in one write")
for i, req in enumerate(reqs, 1):
    if mode == "serial":
        s.sendall(req)
    status, body = read_response()
    what = body.decode("utf8", "replace").splitlines()[0] if body else ""
    print(f"    {(time.monotonic() - t0) * 1000:7.0f} ms  response {i:2}: {status}  | {what}")
print(f"    total {(time.monotonic() - t0) * 1000:.0f} ms")
s.close()
EOF

# run MODE FIRST: one client run, leaves its output in $LAB_DIR/MODE-FIRSTNAME.txt and total in $total
run() {
  local f="$LAB_DIR/$1-${2//\//_}.txt"
  show "python3 client.py $1 $2"
  ns timeout 30 "$LAB_PY" "$LAB_DIR/client.py" "$1" "$2" | tee "$f"
  total=$(sed -n 's/^ *total \([0-9]*\) ms/\1/p' "$f")
  last_file=$f
}

title "Lab 05: pipelining, in order, and the head of the line"
stack_start --impair delay=20ms

step "A: 10 requests in ONE write (pipelined); the first one takes 500 ms to answer"
run pipelined /delay/500
pipe_total=$total pipe_file=$last_file
order=$(sed -n 's/.*response *\([0-9]*\):.*/\1/p' "$pipe_file" | tr '\n' ' ')
check "responses came back in request order: $order" test "$order" = "1 2 3 4 5 6 7 8 9 10 "
check "response 1 is /delay/500's: the answer to the first request comes first" grep -qF "response  1: HTTP/1.1 200 OK  | delayed 500 ms" "$pipe_file"
check "response 10 is /echo?n=10's: answers match requests by position only" grep -qF "response 10: HTTP/1.1 200 OK  | GET /echo?n=10 HTTP/1.1" "$pipe_file"
r2=$(sed -n 's/^ *\([0-9]*\) ms  response  2:.*/\1/p' "$pipe_file")
check "head-of-line blocking: response 2 (instant to compute) arrived at ${r2} ms, after the slow first one" test "$r2" -ge 500

step "B: the same 10 requests, one at a time (send, wait for the response, send the next)"
run serial /delay/500
serial_total=$total

step "C: pipelined again, but the slow request is not first (/echo?n=1 instead of /delay/500)"
run pipelined /echo?n=1
fast_total=$total

stack_stop
step "Side by side"
printf '    %-52s %6s ms\n' "pipelined, slow request first (A)" "$pipe_total" \
  "serial, one request per round trip (B)" "$serial_total" "pipelined, no slow request (C)" "$fast_total"
check "pipelining saves the 9 round trips spent waiting in B" test "$pipe_total" -lt "$serial_total"
look "in A every response waits for the first: HTTP/1.1 has no request ids, so order is the only way to match answers to questions"
port=$(sed -n 's/.*client port \([0-9]*\),.*/\1/p' "$pipe_file")
echo "    A in the capture: every segment carrying data (P = PSH; time since the capture started)"
segments "tcp.port==$port && tcp.len>0" | indent
look "one segment carries all 10 requests; the server sends nothing for 500 ms, then all 10 responses together"

step "Waterfalls: /delay/500 then /delay/300 pipelined, simulated (RTT 40 ms) and live"
pageload w-hol-sim "http://10.0.0.2/echo" --paths /delay/500,/delay/300 --mode pipelined --sim delay=20ms
hol=$(json '" ".join("%d" % q["lastByteAt"] for q in j["connections"][0]["requests"][1:])' "$LAB_DIR/w-hol-sim.json")
check "simulated: both responses complete together ($hol ms): the 300 ms one waits for the 500 ms one" \
  awk -v t="$hol" 'BEGIN { split(t, a, " "); exit !(a[1] == a[2] && a[1] >= 500) }'
stack_start --impair delay=20ms
pageload_live w-hol-live "$LAB_URL/echo" --paths /delay/500,/delay/300 --mode pipelined
stack_stop
hol=$(json '" ".join("%d" % q["lastByteAt"] for q in j["connections"][0]["requests"][1:])' "$LAB_DIR/w-hol-live.json")
check "live: both complete at about the same time ($hol ms), after 500 ms" \
  awk -v t="$hol" 'BEGIN { split(t, a, " "); exit !(a[2] - a[1] < 20 && a[1] >= 500) }'

step "A client does not pipeline a POST (RFC 9112 §9.3.2: not after a non-idempotent method)"
pageload w-post "http://10.0.0.2/echo" --paths /echo?n=1,POST:/echo,/echo?n=3,/echo?n=4 --mode pipelined --sim delay=20ms
post=$(json '"%s %s" % (j["notPipelined"], str([q["pipelined"] for q in j["connections"][0]["requests"][1:]]).lower())' "$LAB_DIR/w-post.json")
check "the POST (#2) waited for an idle connection, and #3 for the POST's answer: $post" test "$post" = "[2] [false, false, false, true]"
look "$LAB_DIR/w-post.svg: #1 alone, the POST alone, then #3 and #4 pipelined together"
