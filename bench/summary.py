#!/usr/bin/python3
"""The bench's CSV as one markdown table: a row per entry, variant and size, with the
1-thread and the last thread count side by side.

    python3 bench/summary.py build/bench.csv > table.md

Columns: median microseconds at 1 thread and at N threads, the speedup over the entry's
reference (variant 0) at 1 thread, N threads against 1, the roof share at 1 thread,
PyTorch's median at 1 thread and PyTorch over the engine (above 1: the engine is faster),
and the largest noise share of the two rows (other processes' use of the machine).
"""
import csv
import sys


def load(path):
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


def fmt_us(x):
    x = float(x)
    if x >= 1e5:
        return "%.0f" % x
    if x >= 100:
        return "%.1f" % x
    return "%.2f" % x


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py BENCH_CSV")
    rows = load(sys.argv[1])
    threads = sorted({int(r["threads"]) for r in rows})
    last = threads[-1]
    by_key = {(r["entry"], r["variant"], r["B"], r["H"], int(r["threads"])): r for r in rows}
    print("| entry | variant | B×H | 1 thr µs | %d thr µs | speedup (1 thr) | %d thr / 1 thr "
          "| roof (1 thr) | PyTorch µs (1 thr) | PyTorch / engine | noise |" % (last, last))
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    seen = set()
    for r in rows:
        key = (r["entry"], r["variant"], r["B"], r["H"])
        if key in seen or int(r["threads"]) != 1:
            continue
        seen.add(key)
        many = by_key.get(key + (last,))
        torch_us = float(r["torch_median_us"])
        noise = max(float(r["noise_pct"]), float(many["noise_pct"]) if many else 0.0)
        print("| %s | %s | %s×%s | %s | %s | %.2f× | %s | %s | %s | %s | %s |" % (
            r["entry"], r["variant"], r["B"], r["H"], fmt_us(r["median_us"]),
            fmt_us(many["median_us"]) if many else "–", float(r["speedup"]),
            "%.2f×" % float(many["vs_1thread"]) if many and last > 1 else "–",
            "%.0f%%" % float(r["roof_pct"]) if float(r["roof_pct"]) > 0 else "–",
            fmt_us(torch_us) if torch_us > 0 else "–",
            "%.2f" % float(r["torch_ratio"]) if torch_us > 0 else "–",
            "%.0f%%" % noise if noise >= 0 else "–"))


if __name__ == "__main__":
    main()
