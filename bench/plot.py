#!/usr/bin/env python3
"""bench/plot.py - plot one sweep (sgfuse-bench --json lines) with gnuplot:
MB/s against the swept parameter (log2 x axis), one line per target,
writev and readv side by side. Usage: plot.py ROWS.jsonl FIELD XLABEL OUT.png"""
import json
import os
import subprocess
import sys
import tempfile


def main():
    rows_path, field, xlabel, out = sys.argv[1:5]
    series = {}
    for line in open(rows_path):
        if line.strip():
            m = json.loads(line)
            series.setdefault((m["op"], m["target"]), []).append((m[field], m["mbps_median"]))
    targets = []
    for (_, t) in series:
        if t not in targets:
            targets.append(t)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for (op, t), pts in series.items():
            path = os.path.join(tmp, f"{op}-{targets.index(t)}.dat")
            with open(path, "w") as f:
                for x, y in sorted(pts):
                    f.write(f"{x} {y}\n")
            files[(op, t)] = path
        script = [
            "set terminal pngcairo size 1400,560 noenhanced font ',10'",
            f"set output '{out}'",
            "set multiplot layout 1,2",
            "set logscale x 2", "set logscale y 10", "set grid", "set format x '%.0f'",
            f"set xlabel '{xlabel}'", "set ylabel 'MB/s (median)'",
            "set key top left",
        ]
        for op in ("writev", "readv"):
            plots = [f"'{files[(op, t)]}' using 1:2 with linespoints title '{t}'"
                     for t in targets if (op, t) in files]
            script.append(f"set title 'O_DIRECT {op}'")
            script.append("plot " + ", ".join(plots))
        script.append("unset multiplot")
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)


if __name__ == "__main__":
    main()
