"""Compare recipe variants at equal update counts or at equal time on the target machine.

    python tools/recipe_sweep.py --out runs/sweep --steps 3000 --parallel 4 \\
        base= postln=model.norm_first=false "lr25=optim.lr=2.5e-3" \\
        -- experiment=multi30k_ende trainer=gpu

Each ``NAME=OVERRIDES`` variant (space-separated Hydra overrides, possibly none) runs
``s2s train <common overrides after --> <its overrides>`` into ``OUT/NAME`` with ``--steps``
updates, the CSV logger and no test decoding, ``--parallel`` at a time (on one GPU several small
runs share the card well). ``--limit`` stops a variant after that many seconds; the table then
compares the variants at the validation steps all of them reached. ``--report-only`` prints the
table of an earlier sweep. Same seed and data order for all, so rows compare like with like.

``--minutes M`` compares at equal time instead: every variant anneals its learning rate to zero
(``optim.schedule=cosine_time``) within ``M / COST`` minutes, where ``NAME@COST=OVERRIDES`` gives
the variant's cost per update on the machine the recipe is for, relative to the recipe's own
(measured there; 1 when left out). Running the variants side by side on a GPU then stands in for
hours of that machine: each reaches about the share of updates its cost would allow there.
``--evaluate "ARGS"`` scores each run's final checkpoint with ``s2s evaluate last.ckpt ARGS``
(e.g. ``"--src data/multi30k/valid.en --ref data/multi30k/valid.de --beam 5 --device cuda"``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from plot_curves import read_series, score_key

S2S = [sys.executable, "-m", "s2s.cli.main"]  # works where the package is importable but not installed
FIXED = [
    "logger=csv",
    "test_after_training=false",
    "early_stopping_patience=null",
    "attention_examples=0",
    "trainer.enable_progress_bar=false",
    "trainer.max_epochs=1000",
]
BEST = {"val/bleu": ("BLEU", max), "val/wer": ("WER", min)}  # per validation score: its label, which value is best


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: list[str]
    cost: float = 1.0  # cost per update on the target machine, relative to the recipe's


def parse_variant(spec: str) -> Variant:
    """``"d192@1.36=model.d_model=192 model.ffn_dim=768"`` -> ``Variant("d192", [two overrides], 1.36)``."""
    head, sep, overrides = spec.partition("=")
    name, at, cost = head.partition("@")
    if not sep or not name.isidentifier():
        raise SystemExit(f"error: variant {spec!r} is not NAME[@COST]=OVERRIDES (NAME in letters, digits and _)")
    try:
        cost_value = float(cost) if at else 1.0
    except ValueError:
        cost_value = 0.0
    if cost_value <= 0:
        raise SystemExit(f"error: variant {spec!r}: COST after @ must be a positive number, got {cost!r}")
    return Variant(name, shlex.split(overrides), cost_value)


def time_limit(minutes: float) -> str:
    """Lightning's ``dd:hh:mm:ss`` for ``minutes`` (whole seconds)."""
    seconds = round(minutes * 60)
    return f"00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def train_command(
    out: Path, variant: Variant, common: list[str], steps: int | None, minutes: float | None = None
) -> list[str]:
    """``s2s train`` for one variant: ``steps`` updates, or cosine_time within ``minutes / cost``."""
    if minutes:
        limit = ["optim.schedule=cosine_time", f"trainer.max_time={time_limit(minutes / variant.cost)}"]
    else:
        limit = ["trainer.max_time=null"] + ([f"trainer.max_steps={steps}"] if steps else [])
    return [*S2S, "train", *common, *variant.overrides, *FIXED, *limit, f"hydra.run.dir={out / variant.name}"]


def evaluate_command(out: Path, name: str, arguments: str) -> list[str]:
    return [*S2S, "evaluate", str(out / name / "checkpoints" / "last.ckpt"), *shlex.split(arguments), "--json"]


def run_all(
    commands: dict[str, list[str]],
    logs: dict[str, Path],
    parallel: int,
    limit: float | None,
    errors_apart: bool = False,
) -> None:
    """Run the commands, ``parallel`` at a time, each one's output into ``logs[name]``; killed after ``limit`` s.

    ``errors_apart``: standard error goes to ``logs[name]`` + ``.err``, leaving the log machine-readable.
    """
    pending, running = list(commands.items()), {}
    while pending or running:
        while pending and len(running) < parallel:
            name, command = pending.pop(0)
            with open(logs[name], "w") as log, open(f"{logs[name]}.err" if errors_apart else os.devnull, "w") as err:
                process = subprocess.Popen(command, stdout=log, stderr=err if errors_apart else subprocess.STDOUT)
            running[name] = (process, time.monotonic())
            print(f"started {name}: {shlex.join(command)}", flush=True)
        time.sleep(1)
        for name, (process, started) in list(running.items()):
            if process.poll() is None and limit is not None and time.monotonic() - started > limit:
                process.terminate()
                process.wait()
            if process.poll() is not None:
                del running[name]
                print(f"finished {name} (exit {process.returncode}, {time.monotonic() - started:.0f} s)", flush=True)


def logged_series(out: Path, name: str) -> dict[str, list[tuple[int, float]]]:
    """The variant's CSV-logged metrics (``OUT/NAME/**/metrics.csv``); empty if it logged none."""
    found = sorted((out / name).glob("**/metrics.csv"))
    return read_series(found[0]) if found else {}


def final_table(out: Path, variants: list[Variant]) -> list[str]:
    """Markdown rows: per variant its cost, the updates it made and its final checkpoint's scores.

    The scores are read from ``OUT/NAME.eval.json`` (written by ``--evaluate``): BLEU and chrF for
    translation, WER and CER for speech recognition.
    """
    lines = [
        "final checkpoint (last.ckpt), s2s evaluate",
        "| variant | cost per update | updates | scores |",
        "|---|---|---|---|",
    ]
    for variant in variants:
        steps = [step for points in logged_series(out, variant.name).values() for step, _ in points]
        try:
            result = json.loads((out / f"{variant.name}.eval.json").read_text())
            scores = ", ".join(f"{key} {result[key]:.2f}" for key in ("bleu", "chrf", "wer", "cer") if key in result)
        except (OSError, ValueError):
            scores = f"(no scores: see {variant.name}.eval.json.err)"
        lines.append(f"| {variant.name} | {variant.cost:g} | {max(steps, default=0)} | {scores} |")
    return lines


def validation_table(out: Path, names: list[str]) -> list[str]:
    """Markdown rows: per validation step reached by every variant, ``score / loss`` (the best score in bold).

    The score is the task's validation metric: BLEU for translation (higher is better), WER for
    speech recognition (lower is better).
    """
    series = {}
    for name in names:
        series[name] = logged_series(out, name)
    metric = score_key(list(series.values()))
    label, best_of = BEST[metric]
    curves = {}
    for name in names:
        losses = dict(series[name].get("val/loss", []))  # step -> validation loss
        curves[name] = {step: (score, losses.get(step)) for step, score in series[name].get(metric, [])}
    common = sorted(set.intersection(*(set(c) for c in curves.values()))) if curves else []
    lines = [
        f"validation {label} / loss (greedy, the recipe's validation split)",
        "| step | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
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
    common = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help="NAME[@COST]=OVERRIDES (quoted when several)")
    parser.add_argument("--out", type=Path, required=True, help="one run directory per variant goes here")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="optimizer updates per variant (default: the recipe's own limits)")
    budget.add_argument("--minutes", type=float, help="equal time: cosine_time to zero within MINUTES / COST")
    parser.add_argument("--parallel", type=int, default=1, help="variants trained at once")
    parser.add_argument("--threads", type=int, help="CPU threads per variant (OMP_NUM_THREADS)")
    parser.add_argument("--limit", type=float, help="seconds after which a variant is stopped")
    parser.add_argument("--evaluate", metavar="ARGS", help="score each final checkpoint: s2s evaluate last.ckpt ARGS")
    parser.add_argument("--report-only", action="store_true", help="only print the tables of an earlier sweep")
    args = parser.parse_args(argv)
    variants = [parse_variant(spec) for spec in args.variants]
    names = [variant.name for variant in variants]
    if len(set(names)) < len(names):
        raise SystemExit(f"error: variant names must differ, got {' '.join(names)}")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if not args.report_only:
        args.out.mkdir(parents=True, exist_ok=True)
        commands = {v.name: train_command(args.out, v, common, args.steps, args.minutes) for v in variants}
        run_all(commands, {name: args.out / f"{name}.log" for name in names}, max(1, args.parallel), args.limit)
        if args.evaluate:
            commands = {name: evaluate_command(args.out, name, args.evaluate) for name in names}
            run_all(
                commands,
                {name: args.out / f"{name}.eval.json" for name in names},
                max(1, args.parallel),
                None,
                errors_apart=True,
            )
    print("\n".join(validation_table(args.out, names)))
    if args.evaluate:
        print("\n".join(final_table(args.out, variants)))


if __name__ == "__main__":
    main()
