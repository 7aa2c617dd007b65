"""Compare recipe variants at equal update counts: train each, then tabulate validation BLEU (or WER) and loss.

    python tools/recipe_sweep.py --out runs/sweep --steps 3000 --parallel 4 \\
        base= postln=model.norm_first=false "lr25=optim.lr=2.5e-3" \\
        -- experiment=multi30k_ende trainer=gpu

Each ``NAME=OVERRIDES`` variant (space-separated Hydra overrides, possibly none) runs
``s2s train <common overrides after --> <its overrides>`` into ``OUT/NAME`` with ``--steps``
updates, the CSV logger and no test decoding, ``--parallel`` at a time (on one GPU several small
runs share the card well). ``--limit`` stops a variant after that many seconds; the table then
compares the variants at the validation steps all of them reached. ``--report-only`` prints the
table of an earlier sweep. Same seed and data order for all, so rows compare like with like.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

from plot_curves import read_series, score_key

FIXED = ["logger=csv", "test_after_training=false", "early_stopping_patience=null", "attention_examples=0",
         "trainer.enable_progress_bar=false", "trainer.max_time=null", "trainer.max_epochs=1000"]
BEST = {"val/bleu": ("BLEU", max), "val/wer": ("WER", min)}  # per validation score: its label, which value is best


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """``"postln=model.norm_first=false optim.lr=2e-3"`` -> ``("postln", [two overrides])``."""
    name, sep, overrides = spec.partition("=")
    if not sep or not name.isidentifier():
        raise SystemExit(f"error: variant {spec!r} is not NAME=OVERRIDES (NAME in letters, digits and _)")
    return name, shlex.split(overrides)


def train_command(out: Path, name: str, common: list[str], overrides: list[str], steps: int | None) -> list[str]:
    limit = [f"trainer.max_steps={steps}"] if steps else []
    return ["s2s", "train", *common, *overrides, *FIXED, *limit, f"hydra.run.dir={out / name}"]


def run_all(commands: dict[str, list[str]], out: Path, parallel: int, limit: float | None) -> None:
    """Run the commands, ``parallel`` at a time; each writes ``OUT/NAME.log``; killed after ``limit`` s."""
    pending, running = list(commands.items()), {}
    while pending or running:
        while pending and len(running) < parallel:
            name, command = pending.pop(0)
            log = open(out / f"{name}.log", "w")
            running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), time.monotonic(), log)
            print(f"started {name}: {shlex.join(command)}", flush=True)
        time.sleep(1)
        for name, (process, started, log) in list(running.items()):
            if process.poll() is None and limit is not None and time.monotonic() - started > limit:
                process.terminate()
                process.wait()
            if process.poll() is not None:
                log.close()
                del running[name]
                print(f"finished {name} (exit {process.returncode}, {time.monotonic() - started:.0f} s)", flush=True)


def validation_table(out: Path, names: list[str]) -> list[str]:
    """Markdown rows: per validation step reached by every variant, ``score / loss`` (the best score in bold).

    The score is the task's validation metric: BLEU for translation (higher is better), WER for
    speech recognition (lower is better).
    """
    series = {}
    for name in names:
        found = sorted((out / name).glob("**/metrics.csv"))
        series[name] = read_series(found[0]) if found else {}
    metric = score_key(list(series.values()))
    label, best_of = BEST[metric]
    curves = {}
    for name in names:
        losses = dict(series[name].get("val/loss", []))  # step -> validation loss
        curves[name] = {step: (score, losses.get(step)) for step, score in series[name].get(metric, [])}
    common = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
    lines = [f"validation {label} / loss (greedy, the recipe's validation split)",
             "| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for step in common:
        best = best_of(curves[name][step][0] for name in names)
        cells = []
        for name in names:
            score, loss = curves[name][step]
            text = f"{score:.2f}" + (f" / {loss:.3f}" if loss is not None else "")
            cells.append(f"**{text}**" if score == best else text)
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    if not common:
        lines.append("| (no validation step reached by every variant) |")
    return lines


def main() -> None:
    argv = sys.argv[1:]
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help="NAME=OVERRIDES (quoted when several)")
    parser.add_argument("--out", type=Path, required=True, help="one run directory per variant goes here")
    parser.add_argument("--steps", type=int, help="optimizer updates per variant (default: the recipe's own limits)")
    parser.add_argument("--parallel", type=int, default=1, help="variants trained at once")
    parser.add_argument("--limit", type=float, help="seconds after which a variant is stopped")
    parser.add_argument("--report-only", action="store_true", help="only print the table of an earlier sweep")
    args = parser.parse_args(argv)
    variants = dict(parse_variant(spec) for spec in args.variants)
    if not args.report_only:
        args.out.mkdir(parents=True, exist_ok=True)
        commands = {name: train_command(args.out, name, common, overrides, args.steps) for name, overrides in variants.items()}
        run_all(commands, args.out, max(1, args.parallel), args.limit)
    print("\n".join(validation_table(args.out, list(variants))))


if __name__ == "__main__":
    main()
