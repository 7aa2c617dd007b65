"""Plot a run's training curves (train loss, validation loss and BLEU against steps) to a PNG.

    python tools/plot_curves.py runs/<name>/<time>/csv/metrics.csv -o docs/curves.png

Reads the CSV logger's ``metrics.csv`` (train with ``logger=csv``); several files overlay runs.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [("train/loss", "training loss (label-smoothed)"), ("val/loss", "validation loss"), ("val/bleu", "validation BLEU")]


def read_series(path: Path) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, _ in PANELS:
                if row.get(key):
                    series.setdefault(key, []).append((int(row["step"]), float(row[key])))
    return series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, nargs="+")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 3.6))
    for path in args.metrics:
        series = read_series(path)
        label = path.parent.parent.name if path.parent.name == "csv" else path.stem
        for ax, (key, title) in zip(axes, PANELS):
            if key in series:
                steps, values = zip(*series[key])
                ax.plot(steps, values, label=label)
            ax.set_title(title)
            ax.set_xlabel("optimizer step")
            ax.grid(alpha=0.3)
    if len(args.metrics) > 1:
        axes[-1].legend()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
