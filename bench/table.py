#!/usr/bin/env python3
"""bench/table.py - turn sgfuse-bench --json lines into the seed table:
Markdown (printed and saved), CSV, with the ratios the seed and our targets
are about. Usage: table.py ROWS.jsonl OUTPUT_PREFIX"""
import csv
import json
import sys

SEED = {"writev": (107, 480), "readv": (114, 569)}


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def combine(ms):
    """One figure per (target, op) from its rounds: the median of the
    per-round medians, with the lowest and highest round beside it."""
    out = dict(ms[0])
    meds = [m["mbps_median"] for m in ms]
    out["mbps_median"] = median(meds)
    out["mbps_min"], out["mbps_max"] = min(meds), max(meds)
    out["rounds"] = len(ms)
    rpc = [m["requests_per_call"] for m in ms if m.get("requests_per_call") is not None]
    out["requests_per_call"] = median(rpc) if rpc else None
    for key in ("cpu_user_s", "cpu_sys_s", "server_cpu_s"):
        vals = [m[key] for m in ms if m.get(key) is not None]
        out[key] = sum(vals) if vals else None
    return out


def load(path):
    seen = {}
    order = []
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        m = json.loads(line)
        if m["target"] not in seen:
            seen[m["target"]] = {}
            order.append(m["target"])
        seen[m["target"]].setdefault(m["op"], []).append(m)
    rows = {t: {op: combine(ms) for op, ms in ops.items()} for t, ops in seen.items()}
    return order, rows


def fmt_rate(m):
    if m is None:
        return "-"
    return f"{m['mbps_median']:.0f} ({m['mbps_min']:.0f}-{m['mbps_max']:.0f})"


def fmt_rpc(m):
    if m is None or m.get("requests_per_call") is None:
        return "-"
    return f"{m['requests_per_call']:.2f}"


def rate(rows, target, op):
    m = rows.get(target, {}).get(op)
    return m["mbps_median"] if m else None


def ratio(rows, a, b, op):
    x, y = rate(rows, a, op), rate(rows, b, op)
    return f"{x / y:.2f}x" if x and y else "n/a"


def main():
    order, rows = load(sys.argv[1])
    prefix = sys.argv[2]
    any_row = next(iter(rows.values()))
    m0 = next(iter(any_row.values()))
    out = []
    out.append(f"O_DIRECT writev/readv, {m0['segments']} x {m0['seg_size']} B per call; "
               f"MB/s: median over {m0['rounds']} interleaved rounds of each round's median "
               f"of {m0['runs']} runs (lowest-highest round); requests per call from the "
               "server's or the client's counters")
    out.append("")
    out.append("| target | writev MB/s | readv MB/s | writev req/call | readv req/call |")
    out.append("|---|---|---|---|---|")
    for t in order:
        r = rows[t]
        out.append(f"| {t} | {fmt_rate(r.get('writev'))} | {fmt_rate(r.get('readv'))} | "
                   f"{fmt_rpc(r.get('writev'))} | {fmt_rpc(r.get('readv'))} |")
    out.append(f"| seed (2012, original / patched) | {SEED['writev'][0]} / {SEED['writev'][1]} "
               f"| {SEED['readv'][0]} / {SEED['readv'][1]} | 32 / 1 | 32 / 1 |")
    out.append("")
    kp, ko = "sgfuse kernel, packed", "sgfuse kernel, original (max_pages=1)"
    cp, co = "sgfuse client, packed", "sgfuse client, per-segment"
    peer, lim = "libfuse passthrough_ll (peer)", "tmpfs directly (limit)"
    ku = "sgfuse kernel, io_uring"
    kpt = "sgfuse kernel, passthrough"
    out.append("| ratio | writev | readv | target |")
    out.append("|---|---|---|---|")
    checks = [
        ("kernel: packed / original", kp, ko, ">= 4.5x / 5.0x (seed: 4.5x / 5.0x)"),
        ("socket: packed / per-segment", cp, co, ">= 4.5x / 5.0x"),
        ("kernel packed / libfuse peer", kp, peer, ">= 1.5x"),
        ("socket packed / kernel packed", cp, kp, ">= 1.0x"),
        ("kernel io_uring / kernel packed (/dev/fuse)", ku, kp, ">= 1.0x / 1.3x"),
        ("kernel io_uring / libfuse peer", ku, peer, ">= 1.5x"),
        ("kernel passthrough / tmpfs directly", kpt, lim, "readv >= 0.75x"),
        ("kernel passthrough / kernel packed (/dev/fuse)", kpt, kp, "writev >= 1.2x"),
        ("kernel packed / tmpfs directly", kp, lim, "reported"),
        ("socket packed / tmpfs directly", cp, lim, "reported"),
    ]
    for t in (2, 4):
        a, b = f"{ku}, {t} threads", f"{kp}, {t} threads"
        if a in rows and b in rows:
            checks.append((f"{t} threads: io_uring / /dev/fuse", a, b, "reported"))
    for name, a, b, goal in checks:
        out.append(f"| {name} | {ratio(rows, a, b, 'writev')} | {ratio(rows, a, b, 'readv')} "
                   f"| {goal} |")
    text = "\n".join(out) + "\n"
    print(text)
    with open(prefix + ".md", "w") as f:
        f.write(text)
    with open(prefix + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "op", "segments", "seg_size", "mbps_median", "mbps_min",
                    "mbps_max", "requests_per_call", "cpu_user_s", "cpu_sys_s",
                    "server_cpu_s"])
        for t in order:
            for op, m in rows[t].items():
                w.writerow([t, op, m["segments"], m["seg_size"], m["mbps_median"],
                            m["mbps_min"], m["mbps_max"], m.get("requests_per_call"),
                            m["cpu_user_s"], m["cpu_sys_s"], m.get("server_cpu_s")])


if __name__ == "__main__":
    main()
