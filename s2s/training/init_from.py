"""Start a run from a whole checkpoint: its architecture, tokenizer and weights (fine-tuning).

Unlike ``warm_start``, which copies parts into a model built from the config, this is how a
pretrained model (an imported Whisper, say) is fine-tuned: the checkpoint decides the
architecture and the vocabulary, and the run may change only what does not change a tensor's
shape (``init.model``: dropout rates) and keep some parts fixed (``init.freeze``).
"""

from __future__ import annotations

import dataclasses

from s2s.checkpoint import LoadedModel
from s2s.errors import ConfigError
from s2s.model.config import ModelConfig
from s2s.model.seq2seq import Seq2Seq

ADJUSTABLE = ("dropout", "attention_dropout", "activation_dropout")
FREEZABLE = ("encoder", "decoder")
CARRIED_INFO = ("whisper", "imported_from")  # what the new checkpoint keeps of the old one's info


def adjusted_config(config: ModelConfig, changes: dict) -> ModelConfig:
    """The checkpoint's config with ``changes`` (only :data:`ADJUSTABLE` fields) applied."""
    refused = sorted(set(changes) - set(ADJUSTABLE))
    if refused:
        raise ConfigError(
            f"init.model may change only {', '.join(ADJUSTABLE)} of a checkpoint's model "
            f"(got {', '.join(refused)}: the architecture is the checkpoint's)"
        )
    return dataclasses.replace(config, **changes)


def start_from(model: Seq2Seq, pretrained: LoadedModel, freeze: list[str]) -> str:
    """Load ``pretrained``'s weights into ``model`` (built from :func:`adjusted_config`), freeze ``freeze``."""
    unknown = sorted(set(freeze) - set(FREEZABLE))
    if unknown:
        raise ConfigError(f"init.freeze must name some of {', '.join(FREEZABLE)} (got {list(freeze)})")
    model.load_state_dict(pretrained.model.state_dict())
    for part in freeze:
        getattr(model, part).requires_grad_(False)
    if "decoder" in freeze and "encoder" not in freeze and model.config.tie_output:
        model.decoder.embedding.tokens.requires_grad_(False)  # shared with Wu: frozen with the decoder
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = f", {' and '.join(freeze)} frozen" if freeze else ""
    return f"start: every weight from the checkpoint{frozen}; {trained / 1e6:.1f}M parameters train"


def carried_info(pretrained: LoadedModel) -> dict:
    """The fields of ``pretrained``'s info that a run started from it keeps."""
    return {key: getattr(pretrained.info, key) for key in CARRIED_INFO}
