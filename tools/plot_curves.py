"""Plot a run's training curves (train loss, validation loss and BLEU or WER against steps) to a PNG.

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

LOSSES = [("train/loss", "training loss (label-smoothed)"), ("val/loss", "validation loss")]
SCORES = {"val/bleu": "validation BLEU", "val/wer": "validation WER (%)"}  # translation, speech recognition


def read_series(path: Path) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key not in ("epoch", "step") and value:
                    series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def score_key(runs: list[dict[str, list[tuple[int, float]]]]) -> str:
    """The validation score these runs logged: ``val/bleu`` (translation) or ``val/wer`` (speech recognition)."""
    return next((key for key in SCORES if any(key in series for series in runs)), "val/bleu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metrics", type=Path, nargs="+")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    runs = {path: read_series(path) for path in args.metrics}
    score = score_key(list(runs.values()))
    panels = LOSSES + [(score, SCORES[score])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6))
    for path, series in runs.items():
        label = path.parent.parent.name if path.parent.name == "csv" else path.stem
        for ax, (key, title) in zip(axes, panels):
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
