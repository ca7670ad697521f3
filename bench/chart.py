#!/usr/bin/env python3
"""Draws the Riffle vs Flink chart of bench/compare.py: events per CPU-second per query, the
median as a bar and min–max as an error bar, on a log scale (the engines differ by an order of
magnitude).

    chart.py RESULTS.json OUT.png

Needs matplotlib; bench/compare.py --chart runs this with a venv it makes for it.
"""
import json, statistics, sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    data = json.load(open(sys.argv[1]))
    queries = data["queries"]
    engines = data["engines"]
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(queries), 4.2))
    for i, e in enumerate(engines):
        runs = [[r["events_per_cpu_s"] / 1e6 for r in data["results"][q][e]] for q in queries]
        med = [statistics.median(r) for r in runs]
        lo = [m - min(r) for m, r in zip(med, runs)]
        hi = [max(r) - m for m, r in zip(med, runs)]
        xs = [q + (i - (len(engines) - 1) / 2) * width for q in range(len(queries))]
        bars = ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, label=e)
        for b, m, r in zip(bars, med, runs):
            ax.annotate(f"{m:.2f}", (b.get_x() + b.get_width() / 2, max(r)), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(queries)), queries)
    ax.set_yscale("log")
    ax.set_ylabel("M events per CPU-second (log)")
    ax.set_title(data["title"], fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
