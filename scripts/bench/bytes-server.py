#!/usr/bin/python3
"""The Linux side of `npm run bench:loss`: kernel TCP with a chosen congestion control.

Serves GET /bytes/N exactly as tunstack's demo site does (N bytes, byte i = i % 251), one request per
connection, from a thread per connection. It exists because node:http cannot choose a socket's
congestion control and a network namespace may only set its default to the host's "allowed" ones
(often not CUBIC when the host defaults to BBR); a socket option set by root can (TCP_CONGESTION, on
the listening socket, inherited by every accepted connection).

    /usr/bin/python3 scripts/bench/bytes-server.py --port 80 --cc cubic

Prints "bytes-server: ready cc=NAME port=P" once listening; exits on SIGTERM/SIGINT.
"""
import argparse
import signal
import socket
import sys
import threading

PATTERN = bytes(i % 251 for i in range(251 * 4096))  # ~1 MiB, a whole number of periods
MAX_BYTES = 1 << 30


def serve(conn):
    try:
        conn.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk or len(head) > 16384:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        n = -1
        if len(line) == 3 and line[0] == "GET" and line[1].startswith("/bytes/") and line[1][7:].isdigit():
            n = int(line[1][7:])
        if n < 0 or n > MAX_BYTES:
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % n
        )
        view = memoryview(PATTERN)
        left = n
        while left > 0:
            k = min(left, len(PATTERN))
            conn.sendall(view[:k])
            left -= k
    except OSError:
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--cc", default="cubic")
    args = ap.parse_args()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, args.cc.encode())
    except OSError as e:
        sys.stderr.write("bytes-server: cannot use congestion control %s: %s\n" % (args.cc, e))
        sys.exit(1)
    ls.bind(("0.0.0.0", args.port))
    ls.listen(128)
    got = ls.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).split(b"\0", 1)[0].decode()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("bytes-server: ready cc=%s port=%d" % (got, args.port), flush=True)
    try:
        while True:
            conn, _ = ls.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
