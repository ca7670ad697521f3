#!/usr/bin/env python3
"""Draws the Riffle vs Flink chart of bench/compare.py: events per CPU-second per query (the
results' `metric`: by default over all CPU, compare.py asks for processing CPU only), the
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
    metric = data.get("metric", "events_per_cpu_s")
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(1.6 + 0.9 * len(queries), 4.6))
    for i, e in enumerate(engines):
        runs = [[r[metric] / 1e6 for r in data["results"][q][e]] for q in queries]
        med = [statistics.median(r) for r in runs]
        lo = [m - min(r) for m, r in zip(med, runs)]
        hi = [max(r) - m for m, r in zip(med, runs)]
        xs = [q + (i - (len(engines) - 1) / 2) * width for q in range(len(queries))]
        bars = ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, label=e)
        for b, m, r in zip(bars, med, runs):
            ax.annotate(f"{m:.2f}", (b.get_x() + b.get_width() / 2, max(r)), ha="center", va="bottom",
                        fontsize=6, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(queries)), queries, rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("M events per CPU-second (log)" if metric == "events_per_cpu_s" else "M events per processing CPU-second (log)")
    ax.set_title(data["title"], fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
