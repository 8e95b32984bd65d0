#!/usr/bin/python3
"""Open N idle connections to HOST:PORT and hold them, for `npm run bench:idle` (scripts/bench-idle.ts).

    /usr/bin/python3 scripts/bench/idle-client.py HOST PORT N [--http]

With --http each connection sends one keep-alive request (GET /bytes/1) and reads its response
first, so that it is an idle HTTP/1.1 keep-alive connection, as a browser leaves them; without, a
bare TCP connection that has sent nothing. Prints "idle-client: holding N" once all are open (or
"idle-client: failed ..." and exits 1), then holds them until stdin closes or 10 minutes pass.
"""
import socket
import sys
import time


def main() -> int:
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    http = "--http" in sys.argv[4:]
    if not 1 <= n <= 60000:
        sys.stderr.write("idle-client: N must be 1..60000\n")
        return 2
    socks = []
    started = time.monotonic()
    request = b"GET /bytes/1 HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n"
    for i in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            if http:
                s.sendall(request)
                got = b""
                while not (b"\r\n\r\n" in got and len(got) >= got.index(b"\r\n\r\n") + 5):
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError("closed before the response")
                    got += chunk
                if not got.startswith(b"HTTP/1.1 200"):
                    raise OSError("unexpected response " + repr(got[:40]))
            socks.append(s)
        except OSError as e:
            print("idle-client: failed at connection %d: %s" % (i + 1, e), flush=True)
            return 1
    print("idle-client: holding %d (%s) after %.1f s" % (n, "http keep-alive" if http else "tcp", time.monotonic() - started), flush=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if sys.stdin.read(1) == "":
                break
    except KeyboardInterrupt:
        pass
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
