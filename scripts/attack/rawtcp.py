"""rawtcp.py — crafted IPv4/TCP packets for the attack scripts (stdlib only, root, inside a namespace).

Sends with a raw socket (IPPROTO_RAW, which implies IP_HDRINCL: we write the whole IPv4 header, the
kernel fills in its checksum and ID) and reads what the stack sends with an AF_PACKET socket bound
to the TUN device (a TUN has no link header: each frame is one IPv4 packet, possibly a TSO
super-segment larger than the MTU).

Spoofed sources (10.77.1.0/24, 10.78.0.0/16) are routed to the TUN by lib.sh; the stack's replies to
them come back up the TUN, the kernel (not forwarding) drops them, and no kernel RST spoils a
handshake we complete by hand.
"""
import socket
import struct
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip_bytes(addr):
    return socket.inet_aton(addr)


def checksum(data):
    """RFC 1071 Internet checksum of bytes."""
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp_packet(src, dst, sport, dport, seq, ack, flags, window, options=b"", payload=b""):
    """A whole IPv4 packet (20-byte header, DF set, TTL 64) carrying one TCP segment.

    src and dst are 4-byte addresses (ip_bytes). options must be padded to a multiple of 4 bytes.
    """
    doff = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, doff << 4, flags, window, 0, 0)
    seg = hdr + options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(seg))
    csum = checksum(pseudo + seg)
    seg = seg[:16] + struct.pack("!H", csum) + seg[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    return iph + seg


def syn_options(mss=1460, wscale=None, sack_ok=True):
    """SYN options: MSS, then SACK-permitted and window scale if asked (no timestamps: 4 SACK blocks
    need 34 of the 40 option bytes, RFC 2018 §3)."""
    o = struct.pack("!BBH", 2, 4, mss)
    if sack_ok:
        o += b"\x01\x01\x04\x02"  # NOP NOP SACK-permitted
    if wscale is not None:
        o += struct.pack("!BBBB", 1, 3, 3, wscale)  # NOP, window scale
    return o


def sack_option(blocks):
    """NOP NOP + SACK option (RFC 2018 §3) with up to 4 (left, right) blocks."""
    o = struct.pack("!BBBB", 1, 1, 5, 2 + 8 * len(blocks))
    for left, right in blocks:
        o += struct.pack("!II", left & 0xFFFFFFFF, right & 0xFFFFFFFF)
    return o


class Segment:
    __slots__ = ("src", "dst", "sport", "dport", "seq", "ack", "flags", "window", "length", "options")

    def __repr__(self):
        return "Segment(%s:%d > %s:%d seq=%d ack=%d flags=%#x win=%d len=%d)" % (
            self.src, self.sport, self.dst, self.dport, self.seq, self.ack, self.flags, self.window, self.length)


def parse(pkt):
    """An IPv4/TCP packet as a Segment, or None. The IP total length bounds the payload (a TSO
    super-segment's covers all of it)."""
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_TCP:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack_from("!H", pkt, 2)[0]
    end = total if ihl + 20 <= total <= len(pkt) else len(pkt)
    s = Segment()
    s.src = socket.inet_ntoa(pkt[12:16])
    s.dst = socket.inet_ntoa(pkt[16:20])
    s.sport, s.dport, s.seq, s.ack, off, s.flags, s.window = struct.unpack_from("!HHIIBBH", pkt, ihl)
    doff = (off >> 4) * 4
    s.options = bytes(pkt[ihl + 20:ihl + doff])
    s.length = max(0, end - ihl - doff)
    return s


def option_value(options, kind):
    """The bytes of the first TCP option of this kind, or None."""
    i = 0
    while i < len(options):
        k = options[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(options):
            break
        n = options[i + 1]
        if n < 2:
            break
        if k == kind:
            return options[i + 2:i + n]
        i += n
    return None


class Raw:
    """Sending side: one raw socket for every crafted packet."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sent = 0
        self.nobufs = 0

    def send(self, pkt, dst):
        """Send one packet; False if the kernel had no room (ENOBUFS), counted."""
        try:
            self.sock.sendto(pkt, (dst, 0))
            self.sent += 1
            return True
        except OSError:
            self.nobufs += 1
            return False


class Sniffer:
    """Receiving side: every IPv4 packet the stack writes to the TUN."""

    def __init__(self, ifname, rcvbuf=64 << 20):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((ifname, ETH_P_ALL))
        self.buf = bytearray(262144)

    def recv(self, timeout):
        """The next TCP segment from the stack (kernel-bound frames only), or None at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                n, addr = self.sock.recvfrom_into(self.buf)
            except socket.timeout:
                return None
            if addr[2] == PACKET_OUTGOING:
                continue  # what the kernel sends to the stack (our own packets)
            seg = parse(memoryview(self.buf)[:n])
            if seg is not None:
                return seg

    def close(self):
        self.sock.close()


class Client:
    """A hand-driven TCP client at a spoofed address: handshake, data, ACKs, all by hand."""

    def __init__(self, raw, sniffer, src, sport, dst, dport):
        self.raw, self.sniffer = raw, sniffer
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.srcb, self.dstb = ip_bytes(src), ip_bytes(dst)
        self.iss = (sport * 2654435761) & 0x7FFFFFFF
        self.irs = 0
        self.snd_nxt = self.iss
        self.rcv_nxt = 0
        self.peer_mss = 536
        self.peer_wscale = None  # None: the SYN-ACK had no window scale option

    def mine(self, seg):
        return seg.src == self.dst and seg.dst == self.src and seg.sport == self.dport and seg.dport == self.sport

    def next_segment(self, timeout):
        """The next segment of this connection from the stack, or None at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            seg = self.sniffer.recv(left)
            if seg is not None and self.mine(seg):
                return seg

    def send(self, flags, seq=None, ack=None, window=65535, options=b"", payload=b""):
        pkt = tcp_packet(self.srcb, self.dstb, self.sport, self.dport, self.snd_nxt if seq is None else seq,
                         self.rcv_nxt if ack is None else ack, flags, window, options, payload)
        return self.raw.send(pkt, self.dst)

    def connect(self, window=65535, mss=1460, wscale=None, sack_ok=True, timeout=3.0):
        """SYN, wait for the SYN-ACK, ACK it. Raises TimeoutError if the stack does not answer."""
        self.send(SYN, seq=self.iss, ack=0, window=window, options=syn_options(mss, wscale, sack_ok))
        deadline = time.monotonic() + timeout
        while True:
            seg = self.next_segment(deadline - time.monotonic())
            if seg is None:
                raise TimeoutError("no SYN-ACK from %s:%d for %s:%d" % (self.dst, self.dport, self.src, self.sport))
            if seg.flags & (SYN | ACK) == SYN | ACK and seg.ack == (self.iss + 1) & 0xFFFFFFFF:
                break
        self.irs = seg.seq
        self.rcv_nxt = (seg.seq + 1) & 0xFFFFFFFF
        self.snd_nxt = (self.iss + 1) & 0xFFFFFFFF
        m = option_value(seg.options, 2)
        if m is not None and len(m) == 2:
            self.peer_mss = struct.unpack("!H", m)[0]
        w = option_value(seg.options, 3)
        if w is not None and len(w) == 1:
            self.peer_wscale = w[0]
        self.send(ACK, window=window)
        return seg
