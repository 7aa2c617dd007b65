"""``s2s prune CKPT --heads H,... | --keep-best N -o OUT``: remove attention heads for good.

The removed heads' query, key and value rows and their columns of the output projection are cut
out (s2s/model/pruning.py): the pruned model computes what the model with those heads masked
computes, with smaller matrices. OUT is a checkpoint every command accepts (translate, evaluate,
transcribe, analyze, prune again). ``--keep-best N`` keeps the N most important heads, by the
importance an ``s2s analyze --heldout`` report measured (``--importance report/heads.json``) or by
Michel et al.'s gradient estimate computed here on ``--heldout SRC REF``; every attention module
keeps at least one head.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.errors import ConfigError, DataError
from s2s.model.head_mask import HeadId, all_heads, parse_heads
from s2s.model.pruning import original_names, prune_heads


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s2s prune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--heads", help="heads to remove: kind:layer:head,... (e.g. encoder:1:2,cross:3:4)")
    which.add_argument("--keep-best", type=int, metavar="N", help="keep the N most important heads")
    p.add_argument(
        "--importance",
        type=Path,
        default=None,
        help="--keep-best: the heads.json of an `s2s analyze --heldout` report of this checkpoint",
    )
    p.add_argument(
        "--by",
        choices=["masking", "gradient"],
        default="masking",
        help="--importance: rank by the BLEU/WER lost when masked (default) or the gradient estimate",
    )
    p.add_argument(
        "--heldout",
        type=Path,
        nargs=2,
        metavar=("SRC", "REF"),
        default=None,
        help="--keep-best without --importance: rank by the gradient estimate on these pairs",
    )
    p.add_argument("--heldout-max", type=int, default=200, help="first N --heldout pairs (default 200)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the pruned checkpoint to write")
    return p


def importance_from_report(path: Path, model, by: str) -> dict[HeadId, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not a heads.json report ({error.msg})") from None
    if data.get("meta", {}).get("model") != model.config.to_dict():
        raise DataError(f"{path} reports on another model (its model config differs from the checkpoint's)")
    key = "delta" if by == "masking" else "gradient"
    scores = {HeadId(h["attention"], h["layer"], h["head"]): h.get("importance", {}).get(key) for h in data["heads"]}
    if any(v is None for v in scores.values()) or set(scores) != set(all_heads(model)):
        raise DataError(
            f"{path} has no {by} importance for every head: run s2s analyze with --heldout"
            + ("" if by == "masking" else " and --importance both or gradient")
        )
    return scores


def gradient_on_heldout(loaded, pairs: tuple[Path, Path], limit: int) -> dict[HeadId, float]:
    from s2s.analysis.importance import HeldOut, gradient_importance
    from s2s.analysis.inputs import TextInputs
    from s2s.data.text.corpus import read_parallel
    from s2s.decoding import DecodingOptions

    side = TextInputs(loaded, options=DecodingOptions(beam_size=1))
    rows = [(s, r) for s, r in zip(*read_parallel(*pairs)) if s.strip()][:limit]
    if not rows:
        raise DataError(f"{pairs[0]} holds no sentences")
    encode_target = getattr(loaded.tokenizer, "encode_target", loaded.tokenizer.encode)
    heldout = HeldOut(
        side, side.read([s for s, _ in rows]), [r for _, r in rows], [encode_target(r) for _, r in rows], "bleu"
    )
    return gradient_importance(loaded.model, heldout.batches(), loaded.tokenizer.pad_id)


def best_heads(scores: dict[HeadId, float], keep: int) -> set[HeadId]:
    """The ``keep`` highest-scoring heads, with at least one in every attention module."""
    modules = {h.module for h in scores}
    if not len(modules) <= keep <= len(scores):
        raise ConfigError(
            f"--keep-best {keep}: keep between {len(modules)} (one head per attention module) and "
            f"{len(scores)} (every head)"
        )
    order = sorted(scores, key=lambda h: (-scores[h], h.sort_key()))
    kept = [max((h for h in order if h.module == m), key=lambda h: scores[h]) for m in sorted(modules)]
    kept += [h for h in order if h not in kept][: keep - len(kept)]
    return set(kept)


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    model = loaded.model
    before = model.num_parameters()
    if options.heads is not None:
        removed = parse_heads(options.heads, model)
    else:
        if options.importance is not None:
            scores = importance_from_report(options.importance, model, options.by)
        elif options.heldout is not None:
            if model.config.encoder != "text":
                raise ValueError("--heldout SRC REF ranks text models; for a speech model give --importance heads.json")
            scores = gradient_on_heldout(loaded, options.heldout, options.heldout_max)
        else:
            raise ValueError("--keep-best needs --importance heads.json or --heldout SRC REF to rank the heads")
        kept = best_heads(scores, options.keep_best)
        removed = sorted(set(scores) - kept, key=HeadId.sort_key)
    if not removed:
        raise ValueError("nothing to remove: every head is kept")
    names = original_names(model, removed)
    prune_heads(model, removed)
    model.config = dataclasses.replace(model.config, pruned_heads=tuple(names))
    export_checkpoint(model, loaded.tokenizer, loaded.info, options.output)  # the removed heads are in the config
    total = len(all_heads(model))
    print(
        f"removed {len(removed)} heads ({', '.join(str(h) for h in removed)}); {total} kept; "
        f"parameters {before:,} -> {model.num_parameters():,}; wrote {options.output}",
        file=sys.stderr,
    )
