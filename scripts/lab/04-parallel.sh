#!/usr/bin/env bash
# Lab 04 — parallel connections: faster when latency is the bottleneck, not when bandwidth is.
#
#   sudo scripts/lab/04-parallel.sh [K]          (K resources, default 6, 2..16)
#
# The client lives in its own namespace and reaches tunstack through a second namespace that routes
# (client --veth--> router/stack namespace --TUN--> tunstack), like a browser behind an access link:
#
#   tsk-lab-04c-PID: 10.78.0.2 ===veth=== 10.78.0.1 tsk-lab-04-PID (ip_forward) 10.77.0.1 ==TUN== 10.77.0.2 tunstack
#
# Part 1, latency-bound: K small resources, tunstack delays every packet by 20 ms (--impair
#         delay=20ms, so each round trip costs 40 ms). Serially on one connection: K round trips;
#         over K parallel connections: the round trips overlap.
# Part 2, bandwidth-bound: K large resources through a 20 Mbit/s link (a tbf qdisc on the router's
#         veth towards the client, the direction the downloads flow). The link is full either way: K
#         connections share the same 20 Mbit/s, so parallel gains little.
# (A qdisc on tunstack0 would shape only what the kernel sends *to* tunstack, the requests and ACKs:
# a root qdisc shapes a device's egress, and the downloads enter the kernel through the TUN device.)
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/lib.sh"
k=${1:-6}
[[ "$k" =~ ^[0-9]+$ && $k -ge 2 && $k -le 16 ]] || die "K must be 2..16"
lab_init 04
command -v tc >/dev/null || die "'tc' (iproute2) is required"

# The client namespace and the veth link to the stack's namespace (which routes between the two).
lab_netns_add 04c
CLI_NS=$LAB_NEW_NS
ip -n "$LAB_NS" link add lab-s type veth peer name lab-c netns "$CLI_NS"
ip -n "$LAB_NS" addr add 10.78.0.1/24 dev lab-s
ip -n "$LAB_NS" link set lab-s up
ip -n "$CLI_NS" addr add 10.78.0.2/24 dev lab-c
ip -n "$CLI_NS" link set lab-c up
ip -n "$CLI_NS" route add 10.77.0.0/24 via 10.78.0.1
ip netns exec "$LAB_NS" sysctl -q -w net.ipv4.ip_forward=1
cli() { ip netns exec "$CLI_NS" "$@"; }

# fetch MODE SIZE: time K downloads of /bytes/SIZE, serially on one connection or on K parallel
# connections; prints one line per transfer. Leaves in $ms the time by curl's own clock (serial: the
# sum of the transfers' times; parallel: the longest, as they all start together), which leaves out
# starting the curl process (on a busy machine that alone can take 100 ms or more); in $ports the
# number of client ports (connections), in $bytes the bytes received.
fetch() {
  local mode=$1 size=$2 args=() i t0 out
  for ((i = 1; i <= k; i++)); do args+=(-o /dev/null "$LAB_URL/bytes/$size?r=$i"); done
  local w='    %{url_effective}  port %{local_port}  %{size_download} B  done at %{time_total} s\n'
  if [[ $mode == parallel ]]; then
    show "curl --parallel --parallel-immediate --parallel-max $k -s -w '...' (-o /dev/null URL) x $k"
    t0=$(now_ms)
    out=$(cli timeout 60 curl --parallel --parallel-immediate --parallel-max "$k" -s -w "$w" "${args[@]}" 2>"$LAB_DIR/curl-parallel.err")
  else
    show "curl -s -w '...' (-o /dev/null URL) x $k        # one connection, one request after another"
    t0=$(now_ms)
    out=$(cli timeout 60 curl -s -w "$w" "${args[@]}")
  fi
  local wall=$(($(now_ms) - t0))
  printf '%s\n' "$out"
  ports=$(printf '%s\n' "$out" | sed -n 's/.*port \([0-9]*\) .*/\1/p' | sort -u | wc -l | tr -d ' ')
  bytes=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9]*\) B .*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
  ms=$(printf '%s\n' "$out" | sed -n 's/.*done at \([0-9.]*\) s$/\1/p' | awk -v mode="$mode" '
    { t = $1 * 1000; sum += t; if (t > max) max = t }
    END { printf "%d\n", (mode == "parallel" ? max : sum) }')
  echo "    => $ms ms for all $k by curl's clock ($wall ms including starting curl), over $ports connection(s), $bytes bytes"
}

title "Lab 04: $k resources, one connection after another or $k at once"

step "Part 1 (latency-bound): $k x 2 KB, every packet delayed 20 ms by tunstack"
stack_start --impair delay=20ms
show "ping -c 2 10.77.0.2      # from the client namespace: the round trip is about 40 ms"
cli timeout 10 ping -c 2 -i 0.3 -W 2 10.77.0.2 | grep -E 'time=|rtt' | indent || echo "    (no answer to ping)"
fetch serial 2000
lat_serial=$ms lat_serial_ports=$ports lat_serial_bytes=$bytes
fetch parallel 2000
lat_par=$ms lat_par_ports=$ports lat_par_bytes=$bytes
check "serial: 1 client port (one connection); parallel: $k different client ports ($k connections)" \
  test "$lat_serial_ports $lat_par_ports" = "1 $k"
check "all $((k * 2000)) bytes arrived both times" test "$lat_serial_bytes $lat_par_bytes" = "$((k * 2000)) $((k * 2000))"
check "parallel is more than 1.5 times as fast when each resource costs a round trip" test $((lat_par * 3)) -lt $((lat_serial * 2))
stack_stop

step "Part 2 (bandwidth-bound): $k x 1 MB through a 20 Mbit/s link, no added delay"
show "tc qdisc add dev lab-s root tbf rate 20mbit burst 32kbit latency 50ms   # in the router namespace"
tc -n "$LAB_NS" qdisc add dev lab-s root tbf rate 20mbit burst 32kbit latency 50ms
stack_start
fetch serial 1000000
bw_serial=$ms bw_serial_ports=$ports bw_serial_bytes=$bytes
fetch parallel 1000000
bw_par=$ms bw_par_ports=$ports bw_par_bytes=$bytes
check "all $((k * 1000000)) bytes arrived both times" test "$bw_serial_bytes $bw_par_bytes" = "$((k * 1000000)) $((k * 1000000))"
check "serial: 1 connection; parallel: $k connections" test "$bw_serial_ports $bw_par_ports" = "1 $k"
check "parallel saves less than 30% when the link is the bottleneck" test $((bw_par * 10)) -gt $((bw_serial * 7))
show "tc -s qdisc show dev lab-s"
tc -n "$LAB_NS" -s qdisc show dev lab-s | indent
stack_stop

step "Side by side (time for all $k resources, by curl's clock)"
ideal=$((k * 1000000 * 8 / 20000))
printf '    %-44s %12s %12s %8s\n' "" "serial" "parallel" "speedup"
printf '    %-44s %9s ms %9s ms %8s\n' "latency-bound: $k x 2 KB, RTT +40 ms" "$lat_serial" "$lat_par" \
  "$(awk -v a="$lat_serial" -v b="$lat_par" 'BEGIN { printf "x%.1f", a / b }')"
printf '    %-44s %9s ms %9s ms %8s\n' "bandwidth-bound: $k x 1 MB, 20 Mbit/s" "$bw_serial" "$bw_par" \
  "$(awk -v a="$bw_serial" -v b="$bw_par" 'BEGIN { printf "x%.1f", a / b }')"
echo "    ($k MB at 20 Mbit/s takes at least $ideal ms, however many connections carry it)"
look "latency-bound: the parallel connections overlap their round trips (handshake + request each)"
look "bandwidth-bound: $k connections share one 20 Mbit/s link; each is $k times slower, the total barely moves"

step "Waterfalls (simulated, the same every run): where parallel helps, and where it does not"
pageload w-latency "http://10.0.0.2/" --objects "$k" --object-size 2000 --compare persistent,parallel:"$k" --sim delay=20ms,rate=100mbit
pageload w-bandwidth "http://10.0.0.2/" --objects "$k" --object-size 50000 --compare persistent,parallel:"$k" --sim delay=20ms,rate=2mbit
speedup() { json '"%.2f" % (j["loads"][0]["pageMs"] / j["loads"][1]["pageMs"])' "$1"; }
w_lat=$(speedup "$LAB_DIR/w-latency.json")
w_bw=$(speedup "$LAB_DIR/w-bandwidth.json")
check "simulated, 100 Mbit/s, small objects: parallel:$k is x$w_lat as fast (more than x1.5)" awk -v s="$w_lat" 'BEGIN { exit !(s > 1.5) }'
check "simulated, 2 Mbit/s, 50 kB objects: parallel:$k is only x$w_bw as fast (less than x1.3)" awk -v s="$w_bw" 'BEGIN { exit !(s < 1.3) }'
look "$LAB_DIR/w-latency.svg: $k rows overlap their handshakes; w-bandwidth.svg: the same rows, each $k times slower, sharing one narrow link"
look "the chart under each picture: page time at 1, 10 and 100 Mbit/s (RTT 50 ms); the gap between the bars is what parallel buys"
