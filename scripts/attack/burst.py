"""burst.py — many kernel TCP clients connecting at once (attack 5).

  burst.py --clients 10000 [--dst 10.77.0.2] [--dport 80] [--path /] [--max-seconds 60]

Opens CLIENTS nonblocking sockets and calls connect() on all of them back to back (the kernel sends
the SYNs as fast as it can; the ones the stack drops are retried by the kernel after 1, 3, 7, 15,
31 s: a 1 s initial RTO doubled per retry, RFC 6298 (2.1), (5.5)). Each connected client sends
`GET PATH HTTP/1.0` and reads the answer to its end. All in one epoll loop, MAX_SECONDS in all. Prints JSON: how many connected and got a response, and
the connect and response times (from the first connect call): median, 90th percentile, last.
"""
import argparse
import errno
import json
import resource
import select
import socket
import time


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(p / 100 * len(v)))], 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--dst", default="10.77.0.2")
    ap.add_argument("--dport", type=int, default=80)
    ap.add_argument("--path", default="/")
    ap.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    if not 1 <= a.clients <= 25000 or not 1 <= a.max_seconds <= 600:
        ap.error("--clients 1..25000, --max-seconds 1..600")
    need = a.clients + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))

    request = ("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (a.path, a.dst)).encode()
    ep = select.epoll(sizehint=a.clients)
    socks = {}
    connect_t = {}
    response_t = {}
    errors = {}
    t0 = time.monotonic()
    for _ in range(a.clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((a.dst, a.dport))
        if rc not in (0, errno.EINPROGRESS):
            errors[errno.errorcode.get(rc, str(rc))] = errors.get(errno.errorcode.get(rc, str(rc)), 0) + 1
            s.close()
            continue
        socks[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLOUT)
    connect_calls_s = time.monotonic() - t0

    deadline = t0 + a.max_seconds
    open_fds = set(socks)
    while open_fds and time.monotonic() < deadline:
        for fd, ev in ep.poll(min(0.5, max(0.0, deadline - time.monotonic()))):
            s = socks[fd]
            now = time.monotonic() - t0
            if fd not in connect_t:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    name = errno.errorcode.get(err, str(err))
                    errors[name] = errors.get(name, 0) + 1
                    ep.unregister(fd)
                    open_fds.discard(fd)
                    s.close()
                    continue
                connect_t[fd] = now
                try:
                    s.send(request)
                except OSError as e:
                    name = errno.errorcode.get(e.errno, str(e.errno))
                    errors[name] = errors.get(name, 0) + 1
                    ep.unregister(fd)
                    open_fds.discard(fd)
                    s.close()
                    continue
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                name = errno.errorcode.get(e.errno, str(e.errno))
                errors[name] = errors.get(name, 0) + 1
                data = b""
            if data and fd not in response_t and data.startswith(b"HTTP/1.") and b" 200 " in data[:16]:
                response_t[fd] = now
            if not data:  # the server closed (HTTP/1.0): done with this one
                ep.unregister(fd)
                open_fds.discard(fd)
                s.close()
    timed_out = len(open_fds)
    for fd in open_fds:
        socks[fd].close()
    ct = list(connect_t.values())
    rt = list(response_t.values())
    print(json.dumps({
        "clients": a.clients,
        "connect_calls_s": round(connect_calls_s, 3),
        "connected": len(ct),
        "responses": len(rt),
        "connect_p50_s": pct(ct, 50), "connect_p90_s": pct(ct, 90), "connect_last_s": round(max(ct), 3) if ct else None,
        "response_p50_s": pct(rt, 50), "response_p90_s": pct(rt, 90), "response_last_s": round(max(rt), 3) if rt else None,
        "still_open_at_the_limit": timed_out,
        "errors": errors,
        "seconds": round(time.monotonic() - t0, 3),
    }))


if __name__ == "__main__":
    main()
