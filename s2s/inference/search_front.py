"""The decoding front end text and audio share: which language to write, the decoder's prefix,
the ids never generated, and one call that decodes a padded batch with them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from s2s.decoding import DecodingOptions, Hypothesis
from s2s.decoding.filters import LogitFilter
from s2s.decoding.parallel import generate_parallel


def target_language(languages: Sequence[str | None], requested: str | None, *, writes: str) -> str | None:
    """The language to decode into: ``requested`` if the model has it, the model's only one otherwise.

    ``languages``: :attr:`CheckpointInfo.languages` (``(None,)`` for a model without tags); ``writes``:
    the verb of the error messages ("translates into", "writes").
    """
    if requested is None:
        if len(languages) > 1:
            raise ValueError(f"this model {writes} {list(languages)}: choose one with --tgt-lang")
        return languages[0]
    if requested not in languages:
        if tuple(languages) == (None,):
            raise ValueError(f"this model has no target-language tags; drop --tgt-lang {requested}")
        raise ValueError(f"this model {writes} {list(languages)}, not {requested!r}")
    return requested


class PromptedSearch:
    """Decode batches from one prefix, with the tokenizer's bans and any further rules.

    ``prefix``: the tokens every output starts from (tags, then a forced text if any), fed before the
    decoder generates; ``workers``: single-threaded decoding workers on a CPU (``decoding.parallel``).
    """

    def __init__(
        self,
        model,
        tokenizer,
        options: DecodingOptions,
        prefix: Sequence[int],
        *,
        timestamps: bool = False,
        rules: Sequence[LogitFilter] = (),
        workers: int = 1,
        device: str = "cpu",
    ) -> None:
        self.model, self.options, self.prefix, self.rules = model, options, list(prefix), list(rules)
        self.workers, self.device, self.eos_id = workers, device, tokenizer.eos_id
        banned = tokenizer.never_generated_timestamped if timestamps else tokenizer.never_generated
        self.suppress_ids, self.suppress_at_start = list(banned), list(tokenizer.never_first)

    def __call__(self, source: Tensor, source_lengths: Tensor) -> list[list[Hypothesis]]:
        """``source (B, S)`` ids or ``(B, F, feature_dim)`` features, ``source_lengths (B,)`` -> per input,
        its hypotheses, best first (none when a sentence could not be decoded)."""
        prefix = torch.tensor([self.prefix] * len(source), device=self.device)  # (B, P)
        return generate_parallel(
            self.model,
            source.to(self.device),
            source_lengths.to(self.device),
            prefix,
            options=self.options,
            eos_id=self.eos_id,
            suppress_ids=self.suppress_ids,
            suppress_at_start=self.suppress_at_start,
            rules=self.rules,
            workers=self.workers,
        )
