"""suite-report.py — the table of scripts/bench-suite.sh, from the tools' own outputs.

    python3 scripts/bench/suite-report.py RUN_DIR RUNS SERVER...

RUN_DIR holds one file per measurement, <metric>.<server>.<run>.txt: what wrk, ab, curl or ping
printed, followed by lines the script adds ("CURL speed size code", "EXPECT bytes", "RSS kB").
Prints a Markdown table: each figure is the median of the runs with the range (min-max), then the
ratios tunstack / lwIP and tunstack / node:http, then the issue 14 target of the row and whether
tunstack meets it in this run. A measurement whose tool failed counts as missing ("error").
"""
import os
import re
import statistics
import sys

run_dir, runs = sys.argv[1], int(sys.argv[2])
servers = sys.argv[3:]
NAMES = {"lwip": "lwIP", "kernel": "node:http", "tunstack": "tunstack"}


def read(metric, server, run):
    try:
        with open(os.path.join(run_dir, f"{metric}.{server}.{run}.txt"), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def to_ms(num, unit):
    return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(text, what):
    m = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    if not m:
        return None
    if what == "rps":
        return float(m.group(1))
    if what == "err":
        e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        n = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
        return float(sum(int(x) for x in e.groups()) if e else 0) + float(n.group(1) if n else 0)
    if what == "max":
        m = re.search(r"^\s*Latency\s+\S+\s+\S+\s+([0-9.]+)(us|ms|s|m)\b", text, re.M)
        return to_ms(*m.groups()) if m else None
    m = re.search(r"^\s*%s%%\s+([0-9.]+)(us|ms|s|m)\b" % what, text, re.M)  # what: 50, 99
    return to_ms(*m.groups()) if m else None


def ab(text, what):
    m = re.search(r"^Requests per second:\s*([0-9.]+)", text, re.M)
    if what == "rps":
        return float(m.group(1)) if m else None
    failed = re.search(r"^Failed requests:\s*(\d+)", text, re.M)
    complete = re.search(r"^Complete requests:\s*(\d+)", text, re.M)
    asked = re.search(r"^EXPECT (\d+)", text, re.M)
    if not asked:
        return None
    return float(int(failed.group(1)) if failed else 0) + int(asked.group(1)) - (int(complete.group(1)) if complete else 0)


def curl(text, _what):
    m = re.search(r"^CURL ([0-9.]+) (\d+) (\d+)", text, re.M)
    want = re.search(r"^EXPECT (\d+)", text, re.M)
    if not m or m.group(3) != "200" or not want:
        return None
    if m.group(2) != want.group(1):
        return None
    if re.search(r"^CHECK failed", text, re.M):
        return None
    return float(m.group(1)) / 1e6


def ping(text, _what):
    m = re.search(r"(\d+) packets transmitted, (\d+) received.* time (\d+)ms", text)
    if not m or int(m.group(3)) == 0:
        return None
    return int(m.group(2)) * 1000.0 / int(m.group(3))


def rss(text, _what):
    m = re.search(r"^RSS (\d+)", text, re.M)
    return int(m.group(1)) / 1024.0 if m else None


# (label, metric file, parser, what, target kind, summed instead of median)
ROWS = [
    ("keep-alive req/s (wrk -t2 -c50, /bytes/13)", "ka", wrk, "rps", "ge_lwip", False),
    ("  wrk socket errors + non-2xx (all runs)", "ka", wrk, "err", None, True),
    ("ab -k -c50 req/s (keep-alive)", "abk", ab, "rps", "ge_lwip", False),
    ("new connections/s (ab -c20, no keep-alive)", "ab", ab, "rps", "ge_both", False),
    ("  ab failed requests (all runs)", "ab", ab, "err", None, True),
    ("download MB/s (curl, 16 MiB)", "dl16", curl, "", "ge_node", False),
    ("download MB/s (curl, 100 MB)", "dl100", curl, "", "ge_node", False),
    ("upload MB/s (curl POST /echo, 200 MB)", "up", curl, "", "ge_1000", False),
    ("pipelined req/s (depth 16, wrk -c20)", "pipe", wrk, "rps", None, False),
    ("wrk -t2 -c1000 req/s", "c1k", wrk, "rps", None, False),
    ("  latency p50 ms", "c1k", wrk, "50", None, False),
    ("  latency p99 ms", "c1k", wrk, "99", "lt_50", False),
    ("  latency max ms", "c1k", wrk, "max", "lt_250", False),
    ("  socket errors + non-2xx (all runs)", "c1k", wrk, "err", "zero", True),
    ("  server RSS MB after the run", "c1k", rss, "", None, False),
    ("ping -f replies/s", "ping", ping, "", "ge_half_node", False),
]
TARGETS = {
    "ge_lwip": ">= lwIP",
    "ge_both": ">= lwIP and node:http",
    "ge_node": ">= node:http",
    "ge_1000": ">= 1000 MB/s",
    "lt_50": "< 50 ms",
    "lt_250": "< 250 ms",
    "zero": "0",
    "ge_half_node": ">= 0.5x node:http (kernel veth)",
}


def fmt(x):
    if x is None:
        return "error"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100 or x == int(x):
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def cell(metric, server, parser, what, summed):
    if server not in servers:
        return None, "-"
    vals = [parser(read(metric, server, r), what) for r in range(1, runs + 1)]
    got = [v for v in vals if v is not None]
    if not got:
        return None, "error"
    if summed:
        return sum(got), fmt(sum(got)) + ("" if len(got) == runs else f" ({runs - len(got)} failed)")
    med = statistics.median(got)
    text = fmt(med)
    if len(got) > 1:
        text += f" ({fmt(min(got))}–{fmt(max(got))})"
    if len(got) < runs:
        text += f" [{runs - len(got)} failed]"
    return med, text


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b not in (None, 0) else "-"


def verdict(kind, t, lw, node):
    if kind is None or t is None:
        return "-"
    checks = {
        "ge_lwip": lambda: None if lw is None else t >= lw,
        "ge_both": lambda: None if lw is None or node is None else t >= lw and t >= node,
        "ge_node": lambda: None if node is None else t >= node,
        "ge_1000": lambda: t >= 1000,
        "lt_50": lambda: t < 50,
        "lt_250": lambda: t < 250,
        "zero": lambda: t == 0,
        "ge_half_node": lambda: None if node is None else t >= 0.5 * node,
    }
    ok = checks[kind]()
    return "-" if ok is None else ("met" if ok else "not met")


head = ["metric", "lwIP", "node:http", "tunstack", "tunstack/lwIP", "tunstack/node:http", "target (issue 14)", "met?"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
for label, metric, parser, what, kind, summed in ROWS:
    lw, lw_t = cell(metric, "lwip", parser, what, summed)
    node, node_t = cell(metric, "kernel", parser, what, summed)
    t, t_t = cell(metric, "tunstack", parser, what, summed)
    ratios = ["-", "-"] if summed or parser is rss else [ratio(t, lw), ratio(t, node)]
    print("| " + " | ".join([label, lw_t, node_t, t_t, *ratios, TARGETS.get(kind, "-"), verdict(kind, t, lw, node)]) + " |")
