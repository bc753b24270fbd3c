#!/usr/bin/env python3
"""bench/table.py - turn sgfuse-bench --json lines into the seed table:
Markdown (printed and saved), CSV, with the ratios the seed and our targets
are about; rows tagged "group": "ceph" (bench/ceph-rows.sh) and "group":
"vm" (bench/vm-rows.sh) get a table and ratios of their own each. Usage:
table.py ROWS.jsonl OUTPUT_PREFIX"""
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
    for key in ("cpu_user_s", "cpu_sys_s", "server_cpu_s", "bytes"):
        vals = [m[key] for m in ms if m.get(key) is not None]
        out[key] = sum(vals) if vals else None
    # Per GB over every round, so rows that ran for a set time (and moved
    # different amounts) compare; only where each round gave both figures.
    both = [m for m in ms if m.get("server_cpu_s") is not None and m.get("bytes")]
    out["server_cpu_s_per_gb"] = (sum(m["server_cpu_s"] for m in both) /
                                  (sum(m["bytes"] for m in both) / 1e9)
                                  if len(both) == len(ms) else None)
    return out


def load(path):
    """Targets in first-seen order with their group, and one combined
    figure per (target, op)."""
    seen = {}
    order = []
    group = {}
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        m = json.loads(line)
        if m["target"] not in seen:
            seen[m["target"]] = {}
            order.append(m["target"])
            group[m["target"]] = m.get("group", "")
        seen[m["target"]].setdefault(m["op"], []).append(m)
    rows = {t: {op: combine(ms) for op, ms in ops.items()} for t, ops in seen.items()}
    return order, group, rows


def fmt_mbps(x):
    # Ceph's per-page rows move a few MB/s: whole numbers would hide them.
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def fmt_rate(m):
    if m is None:
        return "-"
    return (f"{fmt_mbps(m['mbps_median'])} ({fmt_mbps(m['mbps_min'])}-"
            f"{fmt_mbps(m['mbps_max'])})")


def fmt_rpc(m):
    if m is None or m.get("requests_per_call") is None:
        return "-"
    return f"{m['requests_per_call']:.2f}"


def fmt_cpu(m):
    if m is None or m.get("server_cpu_s_per_gb") is None:
        return "-"
    return f"{m['server_cpu_s_per_gb']:.2f}"


def table_rows(out, targets, rows):
    out.append("| target | writev MB/s | readv MB/s | writev req/call | readv req/call "
               "| writev server CPU s/GB | readv server CPU s/GB |")
    out.append("|---|---|---|---|---|---|---|")
    for t in targets:
        r = rows[t]
        out.append(f"| {t} | {fmt_rate(r.get('writev'))} | {fmt_rate(r.get('readv'))} | "
                   f"{fmt_rpc(r.get('writev'))} | {fmt_rpc(r.get('readv'))} | "
                   f"{fmt_cpu(r.get('writev'))} | {fmt_cpu(r.get('readv'))} |")


def rate(rows, target, op):
    m = rows.get(target, {}).get(op)
    return m["mbps_median"] if m else None


def ratio(rows, a, b, op):
    x, y = rate(rows, a, op), rate(rows, b, op)
    return f"{x / y:.2f}x" if x and y else "n/a"


def ceph_section(out, targets, rows):
    """The Ceph group: its table, then its ratios against the targets with
    whether each measured ratio meets its target."""
    ms = [m for t in targets for m in rows[t].values()]
    packed = max(ms, key=lambda m: m["segments"])
    m0 = ms[0]
    out.append("")
    out.append("Ceph (one throw-away single-node cluster on 127.0.0.1, memstore OSD): "
               f"O_DIRECT writev/readv of {packed['segments']} x {packed['seg_size']} B per "
               f"call; the ceph-fuse per-segment rows make one call of 1 x "
               f"{packed['seg_size']} B per segment instead (the same bytes in "
               f"{packed['segments']} times the calls). Each run lasts "
               f"{m0.get('duration_s', 0):g} s; MB/s: median over {m0['rounds']} "
               f"interleaved rounds of each round's median of {m0['runs']} runs "
               "(lowest-highest round); server CPU: the FUSE daemon's user+system seconds "
               "(libcephfs inside it included, the Ceph daemons' not) per GB moved; "
               "requests per call from sgfuse-ceph's counters (ceph-fuse keeps none)")
    out.append("")
    table_rows(out, targets, rows)
    out.append("")
    sp, so = "sgfuse-ceph, packed", "sgfuse-ceph, original (max_pages=1)"
    cp, cs = "ceph-fuse, packed", "ceph-fuse, per-segment calls"
    # (name, a, b, (writev goal, readv goal) or None for reported only)
    checks = [
        ("sgfuse-ceph: packed / original", sp, so, (4.5, 5.0)),
        ("sgfuse-ceph packed / ceph-fuse packed", sp, cp, (1.0, 1.0)),
    ]
    for n in sorted({m["threads"] for m in ms if m["threads"] > 1}):
        sfx = f", {n} threads"
        checks += [
            (f"{n} threads: sgfuse-ceph packed / ceph-fuse packed", sp + sfx, cp + sfx,
             (1.5, 1.5) if n == 16 else None),
            (f"{n} threads: sgfuse-ceph packed / original", sp + sfx, so + sfx, None),
        ]
    checks += [
        ("ceph-fuse: packed / per-segment calls", cp, cs, None),
        ("sgfuse-ceph original / ceph-fuse per-segment calls", so, cs, None),
    ]
    out.append("| Ceph ratio | writev | readv | target | met (writev / readv) |")
    out.append("|---|---|---|---|---|")
    met = total = 0
    for name, a, b, goal in checks:
        w, r = ratio(rows, a, b, "writev"), ratio(rows, a, b, "readv")
        if goal is None:
            out.append(f"| {name} | {w} | {r} | reported | |")
            continue
        verdicts = []
        for op, g in zip(("writev", "readv"), goal):
            x, y = rate(rows, a, op), rate(rows, b, op)
            ok = bool(x and y and x / y >= g)
            verdicts.append("yes" if ok else "no" if x and y else "n/a")
            met += ok
            total += 1
        goal_text = f">= {goal[0]}x" if goal[0] == goal[1] else f">= {goal[0]}x / {goal[1]}x"
        out.append(f"| {name} | {w} | {r} | {goal_text} | {' / '.join(verdicts)} |")
    out.append("")
    out.append(f"Ceph targets met in this run: {met} of {total}.")


def cpu_per_gb(rows, target, op):
    m = rows.get(target, {}).get(op)
    return m.get("server_cpu_s_per_gb") if m else None


def qemu_cpu(m):
    """QEMU's user+system seconds per GB (vm_bench puts them in the
    caller's CPU fields: the caller is the whole guest)."""
    if m is None or m.get("cpu_user_s") is None or not m.get("bytes"):
        return "-"
    return f"{(m['cpu_user_s'] + m['cpu_sys_s']) / (m['bytes'] / 1e9):.2f}"


def vm_section(out, targets, rows):
    """The VM group: its table (MB/s, the backend's and QEMU's CPU per GB),
    then its ratios, MB/s ones against a floor, CPU ones against a ceiling,
    with whether each measured ratio meets its target."""
    m0 = next(iter(rows[targets[0]].values()))
    out.append("")
    out.append("VM (a QEMU guest under TCG, 2 vCPUs; tests/vm): the guest's O_DIRECT "
               "pwritev/preadv of 32 x 4096 B per call (packed) or one pwrite/pread per page "
               "(per-page), on a file of a virtio-fs mount (the backend serving a tmpfs "
               "directory) or on /dev/vda (a raw image on a FUSE mount over tmpfs, QEMU "
               f"cache=none,aio=threads). Each phase lasts {m0.get('duration_s', 0):g} s; "
               f"MB/s: the guest's, median over {m0['rounds']} interleaved rounds, one boot "
               "per target and round (lowest-highest round); server CPU: the backend's (the "
               "FUSE daemon's, for the disk) host user+system seconds per GB moved, sampled "
               "between phases; QEMU CPU likewise. Under TCG the guest's emulation sets the "
               "pace, so the backend's CPU per GB compares backends more fairly than MB/s")
    out.append("")
    out.append("| target | writev MB/s | readv MB/s | writev server CPU s/GB "
               "| readv server CPU s/GB | writev QEMU CPU s/GB | readv QEMU CPU s/GB |")
    out.append("|---|---|---|---|---|---|---|")
    for t in targets:
        r = rows[t]
        out.append(f"| {t} | {fmt_rate(r.get('writev'))} | {fmt_rate(r.get('readv'))} | "
                   f"{fmt_cpu(r.get('writev'))} | {fmt_cpu(r.get('readv'))} | "
                   f"{qemu_cpu(r.get('writev'))} | {qemu_cpu(r.get('readv'))} |")
    out.append("")
    vs, vf = "virtio-fs, sgfuse backend", "virtio-fs, virtiofsd"
    ds, dp = "VM disk on sgfuse-passthrough", "VM disk on libfuse passthrough_ll"
    pk, pp = ", packed", ", per-page"
    # (name, a, b, metric, (writev goal, readv goal) or None): MB/s ratios
    # must reach their goal, CPU per GB ratios stay at or below it.
    checks = [
        ("virtio-fs, sgfuse backend: packed / per-page MB/s", vs + pk, vs + pp, "mbps",
         (4.5, 5.0)),
        ("virtio-fs packed: sgfuse backend / virtiofsd MB/s", vs + pk, vf + pk, "mbps",
         (1.0, 1.0)),
        ("virtio-fs packed: sgfuse backend / virtiofsd server CPU per GB", vs + pk, vf + pk,
         "cpu", (0.7, 0.7)),
        ("virtio-fs per-page: sgfuse backend / virtiofsd MB/s", vs + pp, vf + pp, "mbps", None),
        ("virtio-fs per-page: sgfuse backend / virtiofsd server CPU per GB", vs + pp, vf + pp,
         "cpu", None),
        ("virtio-fs, virtiofsd: packed / per-page MB/s", vf + pk, vf + pp, "mbps", None),
        ("VM disk packed: sgfuse-passthrough / passthrough_ll MB/s", ds + pk, dp + pk, "mbps",
         None),
        ("VM disk packed: sgfuse-passthrough / passthrough_ll server CPU per GB", ds + pk,
         dp + pk, "cpu", None),
        ("VM disk per-page: sgfuse-passthrough / passthrough_ll MB/s", ds + pp, dp + pp, "mbps",
         None),
        ("VM disk per-page: sgfuse-passthrough / passthrough_ll server CPU per GB", ds + pp,
         dp + pp, "cpu", None),
        ("VM disk on sgfuse-passthrough: packed / per-page MB/s", ds + pk, ds + pp, "mbps",
         None),
    ]
    out.append("| VM ratio | writev | readv | target | met (writev / readv) |")
    out.append("|---|---|---|---|---|")
    met = total = 0
    for name, a, b, metric, goal in checks:
        get = rate if metric == "mbps" else cpu_per_gb
        vals = []
        for op in ("writev", "readv"):
            x, y = get(rows, a, op), get(rows, b, op)
            vals.append(x / y if x is not None and y else None)
        text = [f"{v:.2f}x" if v is not None else "n/a" for v in vals]
        if goal is None:
            out.append(f"| {name} | {text[0]} | {text[1]} | reported | |")
            continue
        verdicts = []
        for v, g in zip(vals, goal):
            ok = v is not None and (v >= g if metric == "mbps" else v <= g)
            verdicts.append("yes" if ok else "no" if v is not None else "n/a")
            met += ok
            total += 1
        sign = ">=" if metric == "mbps" else "<="
        goal_text = (f"{sign} {goal[0]}x" if goal[0] == goal[1] else
                     f"{sign} {goal[0]}x / {goal[1]}x")
        out.append(f"| {name} | {text[0]} | {text[1]} | {goal_text} | {' / '.join(verdicts)} |")
    out.append("")
    out.append(f"VM targets met in this run: {met} of {total}.")


def main_section(out, main_targets, rows):
    """The host rows: the seed's table and its ratios."""
    m0 = next(iter(rows[main_targets[0]].values()))
    out.append(f"O_DIRECT writev/readv, {m0['segments']} x {m0['seg_size']} B per call; "
               f"MB/s: median over {m0['rounds']} interleaved rounds of each round's median "
               f"of {m0['runs']} runs (lowest-highest round); requests per call from the "
               "server's or the client's counters; server CPU: the daemon's user+system "
               "seconds per GB moved, where its pid was given")
    out.append("")
    table_rows(out, main_targets, rows)
    out.append(f"| seed (2012, original / patched) | {SEED['writev'][0]} / {SEED['writev'][1]} "
               f"| {SEED['readv'][0]} / {SEED['readv'][1]} | 32 / 1 | 32 / 1 | - | - |")
    out.append("")
    kp, ko = "sgfuse kernel, packed", "sgfuse kernel, original (max_pages=1)"
    cp, co = "sgfuse client, packed", "sgfuse client, per-segment"
    peer, lim = "libfuse passthrough_ll (peer)", "tmpfs directly (limit)"
    ku = "sgfuse kernel, io_uring"
    kpt = "sgfuse kernel, passthrough"
    va, vc = "sgfuse client, vhost-user, arena", "sgfuse client, vhost-user"
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
        ("shared memory (arena) / tmpfs directly", va, lim, ">= 0.7x"),
        ("shared memory (arena) / socket packed", va, cp, ">= 1.3x"),
        ("shared memory: arena / copied buffers", va, vc, "reported"),
    ]
    for t in (2, 4):
        a, b = f"{ku}, {t} threads", f"{kp}, {t} threads"
        if a in rows and b in rows:
            checks.append((f"{t} threads: io_uring / /dev/fuse", a, b, "reported"))
    for name, a, b, goal in checks:
        out.append(f"| {name} | {ratio(rows, a, b, 'writev')} | {ratio(rows, a, b, 'readv')} "
                   f"| {goal} |")


def main():
    order, group, rows = load(sys.argv[1])
    prefix = sys.argv[2]
    main_targets = [t for t in order if group[t] not in ("ceph", "vm")]
    # The Ceph rows run daemon by daemon; they read better by thread count.
    ceph_targets = sorted((t for t in order if group[t] == "ceph"),
                          key=lambda t: next(iter(rows[t].values()))["threads"])
    vm_targets = [t for t in order if group[t] == "vm"]
    out = []
    # ONLY=vm (bench/seed-table) has no host rows.
    if main_targets:
        main_section(out, main_targets, rows)
    if vm_targets:
        vm_section(out, vm_targets, rows)
    if ceph_targets:
        ceph_section(out, ceph_targets, rows)
    text = "\n".join(out) + "\n"
    print(text)
    with open(prefix + ".md", "w") as f:
        f.write(text)
    with open(prefix + ".csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "op", "segments", "seg_size", "mbps_median", "mbps_min",
                    "mbps_max", "requests_per_call", "cpu_user_s", "cpu_sys_s",
                    "server_cpu_s", "group", "bytes", "server_cpu_s_per_gb"])
        for t in order:
            for op, m in rows[t].items():
                w.writerow([t, op, m["segments"], m["seg_size"], m["mbps_median"],
                            m["mbps_min"], m["mbps_max"], m.get("requests_per_call"),
                            m["cpu_user_s"], m["cpu_sys_s"], m.get("server_cpu_s"),
                            group[t], m.get("bytes"), m.get("server_cpu_s_per_gb")])


if __name__ == "__main__":
    main()
