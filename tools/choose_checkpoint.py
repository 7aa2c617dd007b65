"""Choose a run's checkpoint and decoding settings on validation, then score only that pair on test.

    python tools/choose_checkpoint.py runs/ende --average 5 10 \\
        --decode "--beam 5 --workers 2" --decode "--beam 5 --workers 2 --length-penalty 2" \\
        --valid "--src data/multi30k/valid.en --ref data/multi30k/valid.de" \\
        --test "--src data/multi30k/test.en --ref data/multi30k/test.de" --lowercase-too

The candidate checkpoints are the run's exported best checkpoint (``RUN/model.pt``) and, for each
N of ``--average``, the average of its last N checkpoints (``s2s average RUN --last N -o
RUN/avgN.pt``). Each ``--decode`` (one quoted string of decoding arguments; give several to tune,
say, the length penalty) is tried with each checkpoint on every ``--valid`` set (``s2s evaluate
CHECKPOINT VALID DECODE --json``; give ``--valid`` once per direction of a one-to-many model, each
with its ``--tgt-lang``); the pair with the best mean score wins (BLEU higher, or WER lower where
the sets are speech recognition manifests). Only the winning pair decodes the ``--test`` sets,
cased and, with ``--lowercase-too``, lower-cased. The commands run are printed as they run; the
result goes to stdout as a table and to ``RUN/choice.json``. Test sets never take part in the
choice.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path

S2S = [sys.executable, "-m", "s2s.cli.main"]  # works where the package is importable but not installed


def s2s(args: list[str], *, capture: bool) -> str:
    """Run one ``s2s`` command (printed first, as a user would type it); its stdout if ``capture``."""
    print("$ s2s " + shlex.join(args), file=sys.stderr, flush=True)
    done = subprocess.run([*S2S, *args], stdout=subprocess.PIPE if capture else None, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: `s2s {shlex.join(args)}` failed (exit {done.returncode})")
    return done.stdout or ""


def score(checkpoint: Path, evaluation: str, decode: str, *, lowercase: bool = False) -> dict:
    extra = ["--lowercase"] if lowercase else []
    return json.loads(
        s2s(
            ["evaluate", str(checkpoint), *shlex.split(evaluation), *shlex.split(decode), *extra, "--json"],
            capture=True,
        )
    )


def headline(scores: dict) -> tuple[str, float]:
    """The score a choice rests on: WER for speech recognition, BLEU otherwise."""
    return ("wer", scores["wer"]) if "wer" in scores else ("bleu", scores["bleu"])


def candidates(run: Path, averages: list[int]) -> dict[str, Path]:
    """``model`` (the run's exported best checkpoint) and ``avgN`` for each N, written into the run."""
    found = {}
    if (run / "model.pt").is_file():
        found["model"] = run / "model.pt"
    for n in averages:
        out = run / f"avg{n}.pt"
        s2s(["average", str(run), "--last", str(n), "-o", str(out)], capture=False)
        found[f"avg{n}"] = out
    if not found:
        raise SystemExit(f"error: {run} has no model.pt and no --average was asked for: nothing to choose from")
    return found


def choose(valid: dict[Hashable, list[dict]]) -> tuple[Hashable, str, dict[Hashable, float]]:
    """(winner, metric, mean score per candidate) from each candidate's scores on the validation sets."""
    means, metrics = {}, set()
    for name, per_set in valid.items():
        pairs = [headline(s) for s in per_set]
        metrics.update(metric for metric, _ in pairs)
        means[name] = sum(value for _, value in pairs) / len(pairs)
    if len(metrics) != 1:
        raise SystemExit(f"error: the validation sets give different metrics ({sorted(metrics)}): no single mean")
    metric = metrics.pop()
    best = min if metric == "wer" else max
    return best(means, key=means.get), metric, means


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="a run directory of `s2s train` (model.pt, checkpoints/)")
    p.add_argument(
        "--average", type=int, nargs="*", default=[5, 10], help="average the last N checkpoints (default 5 10)"
    )
    p.add_argument("--valid", action="append", required=True, help="`s2s evaluate` data arguments of a validation set")
    p.add_argument("--test", action="append", default=[], help="`s2s evaluate` data arguments of a test set")
    p.add_argument(
        "--decode",
        action="append",
        help='decoding arguments, one quoted string; repeat it to choose among several (default "--beam 5")',
    )
    p.add_argument("--lowercase-too", action="store_true", help="also score the test sets lower-cased")
    options = p.parse_args(argv)
    decodes = options.decode or ["--beam 5"]
    if not options.run.is_dir():
        raise SystemExit(f"error: {options.run} is not a run directory")
    if any(n < 1 for n in options.average):
        raise SystemExit("error: --average takes counts of 1 or more")

    found = candidates(options.run, options.average)
    valid = {
        (name, decode): [score(path, v, decode) for v in options.valid]
        for name, path in found.items()
        for decode in decodes
    }
    (winner, decode), metric, means = choose(valid)
    test = [
        {
            "set": t,
            "cased": score(found[winner], t, decode),
            **({"lowercased": score(found[winner], t, decode, lowercase=True)} if options.lowercase_too else {}),
        }
        for t in options.test
    ]

    print(f"validation ({metric.upper()}, mean over {len(options.valid)} set(s))")
    for (name, tried), mean in means.items():
        per_set = " / ".join(f"{headline(s)[1]:.2f}" for s in valid[name, tried])
        print(
            f"  {name:<7} {mean:6.2f}   ({per_set})   {tried}"
            + ("   <- chosen" if (name, tried) == (winner, decode) else "")
        )
    for result in test:
        print(f"test {winner} ({decode}): {result['set']}")
        for case in ("cased", "lowercased"):
            if case in result:
                s = result[case]
                names = [n for n in ("wer", "cer", "bleu", "chrf") if n in s]
                print(
                    f"  {case:<10} "
                    + "  ".join(f"{n.upper()} {s[n]:.2f}" for n in names)
                    + (f"   {s['bleu_signature']}" if "bleu_signature" in s else "")
                )
    record = {
        "metric": metric,
        "valid_sets": options.valid,
        "valid": [
            {"checkpoint": name, "decode": tried, "scores": valid[name, tried], "mean": means[name, tried]}
            for name, tried in valid
        ],
        "chosen": {"checkpoint": winner, "decode": decode},
        "checkpoint": str(found[winner]),
        "test": test,
    }
    (options.run / "choice.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {options.run / 'choice.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
