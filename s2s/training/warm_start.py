"""Warm start: begin a run with another checkpoint's encoder (or decoder, or CTC head).

The speech translation toolkits' answer to "too little data to learn to hear and to translate
at once": ESPnet and fairseq S2T start a translation model's encoder from a speech recognition
model trained on the source transcripts. Only the chosen parts are copied, and only when every
one of their tensors exists with the same shape in the source; anything else is a config error
that names the first mismatches. Optimizer state and step counts are not copied: the run starts
its own schedule.
"""

from __future__ import annotations

from pathlib import Path

import torch

from s2s.checkpoint import load_checkpoint
from s2s.errors import ConfigError
from s2s.model.seq2seq import Seq2Seq

PARTS = ("encoder", "decoder", "ctc")
# The new run's data normalizes its own features (statistics computed by its prepare step).
OWN_STATISTICS = frozenset({"encoder.feature_mean", "encoder.feature_std"})


def warm_start(model: Seq2Seq, checkpoint: str | Path, parts: list[str]) -> str:
    """Copy ``parts`` of the model in ``checkpoint`` into ``model``; returns a one-line summary.

    With shared embeddings (one ``We`` for the text encoder and the decoder), starting the
    encoder also starts that shared matrix, which the decoder uses too.
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ConfigError(f"warm_start.parts must name some of {', '.join(PARTS)} (got {list(parts)})")
    source = load_checkpoint(checkpoint).model.state_dict()
    target = model.state_dict()
    chosen = [name for name in target if name.split(".", 1)[0] in parts and name not in OWN_STATISTICS]
    if not chosen:
        raise ConfigError(f"this model has no {' or '.join(parts)} to start from {checkpoint}")
    problems = [
        f"{name} is missing"
        if name not in source
        else f"{name} is {tuple(source[name].shape)}, not {tuple(target[name].shape)}"
        for name in chosen
        if name not in source or source[name].shape != target[name].shape
    ]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ConfigError(
            f"{checkpoint} cannot start this model's {', '.join(parts)}: "
            f"{'; '.join(problems[:3])}{more} (the architectures differ)"
        )
    with torch.no_grad():
        for name in chosen:
            target[name].copy_(source[name])
    unique = {target[name].data_ptr(): target[name].numel() for name in chosen}  # tied weights once
    return f"warm start: {', '.join(parts)} ({sum(unique.values()) / 1e6:.1f}M values) from {checkpoint}"
