"""The decoding a command or the Python API gets when it asks for nothing: one rule for all of them."""

from __future__ import annotations

from typing import Any

import torch

from s2s.checkpoint import LoadedModel
from s2s.decoding import DecodingOptions
from s2s.model.config import ModelConfig

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}  # inference precisions by the names users give
CALLER_ONLY = ("nbest", "sampling", "temperature", "top_k", "top_p", "seed")  # never taken from a checkpoint


def built_in_defaults(config: ModelConfig) -> dict[str, Any]:
    """What a checkpoint without ``default_decoding`` decodes with: beam 5, an output length bound by the
    source's (speech: 25 encoder positions a second), CTC/attention 0.3 where there is a CTC head."""
    speech = config.encoder == "audio"
    return {
        "beam_size": 5,
        "max_len_a": 0.5 if speech else 1.5,
        "max_len_b": 5 if speech else 10,
        "ctc_weight": 0.3 if config.ctc else 0.0,
    }


def layered_options(loaded: LoadedModel, given: dict[str, Any]) -> DecodingOptions:
    """``given`` fields over the checkpoint's ``default_decoding`` (its run's test decoding) over
    :func:`built_in_defaults`. Sampling searches with one beam unless a beam size is given."""
    saved = {k: v for k, v in loaded.info.default_decoding.items() if k not in CALLER_ONLY}
    if given.get("sampling"):
        given = {"beam_size": 1, **given}
    chosen = {**built_in_defaults(loaded.model.config), **saved, **given}
    if chosen["ctc_weight"] and not loaded.model.config.ctc:
        if "ctc_weight" in given:
            raise ValueError(f"ctc_weight {chosen['ctc_weight']}: this model has no CTC head")
        chosen["ctc_weight"] = 0.0
    return DecodingOptions(**chosen)
