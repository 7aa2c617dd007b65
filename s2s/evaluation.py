"""Score a checkpoint on a test set: translate, then sacrebleu."""

from __future__ import annotations

from pathlib import Path

import torch

from s2s.checkpoint import LoadedModel
from s2s.data.text import read_parallel
from s2s.decoding import DecodingOptions
from s2s.errors import DataError
from s2s.metrics import translation_scores
from s2s.translator import Translator


def evaluate_translation(loaded: LoadedModel, source: Path, reference: Path, *, options: DecodingOptions,
                         target_lang: str | None = None, lowercase: bool = False, tokenize: str = "13a",
                         max_tokens: int = 4096, device: str = "cpu", hypotheses_out: Path | None = None,
                         dtype: torch.dtype = torch.float32, forced_prefix: str | None = None,
                         workers: int = 1) -> dict:
    """BLEU, chrF and TER (with signatures) of the model's translations of ``source`` against ``reference``."""
    if hypotheses_out is not None and not hypotheses_out.parent.is_dir():  # fail before the long part
        raise DataError(f"cannot write the translations to {hypotheses_out}: no folder {hypotheses_out.parent}")
    sources, references = read_parallel(source, reference)
    if not sources:
        raise DataError(f"{source} and {reference} hold no sentences: nothing to evaluate")
    translator = Translator(loaded, options=options, target_lang=target_lang, max_tokens=max_tokens, device=device,
                            dtype=dtype, forced_prefix=forced_prefix, workers=workers)
    hypotheses = [t.text for t in translator.translate(sources)]
    if hypotheses_out is not None:
        hypotheses_out.write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    scores = translation_scores(hypotheses, references, lowercase=lowercase, tokenize=tokenize)
    scores["sentences"] = len(hypotheses)
    return scores
