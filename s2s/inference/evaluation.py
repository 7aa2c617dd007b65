"""Score a checkpoint on a test set: translate, then sacrebleu."""

from __future__ import annotations

from pathlib import Path

import torch

from s2s.checkpoint import LoadedModel
from s2s.data.speech.manifest import read_manifest
from s2s.data.text.corpus import read_parallel
from s2s.decoding import DecodingOptions
from s2s.errors import DataError
from s2s.inference.transcriber import Transcriber
from s2s.inference.translator import Translator
from s2s.metrics import task_scores, translation_scores


def evaluate_translation(
    loaded: LoadedModel,
    source: Path,
    reference: Path,
    *,
    options: DecodingOptions,
    target_lang: str | None = None,
    lowercase: bool = False,
    tokenize: str = "13a",
    max_tokens: int = 4096,
    device: str = "cpu",
    hypotheses_out: Path | None = None,
    dtype: torch.dtype = torch.float32,
    forced_prefix: str | None = None,
    workers: int = 1,
) -> dict:
    """BLEU, chrF and TER (with signatures) of the model's translations of ``source`` against ``reference``."""
    if hypotheses_out is not None and not hypotheses_out.parent.is_dir():  # fail before the long part
        raise DataError(f"cannot write the translations to {hypotheses_out}: no folder {hypotheses_out.parent}")
    sources, references = read_parallel(source, reference)
    if not sources:
        raise DataError(f"{source} and {reference} hold no sentences: nothing to evaluate")
    translator = Translator(
        loaded,
        options=options,
        target_lang=target_lang,
        max_tokens=max_tokens,
        device=device,
        dtype=dtype,
        forced_prefix=forced_prefix,
        workers=workers,
    )
    hypotheses = [t.text for t in translator.translate(sources)]
    if hypotheses_out is not None:
        hypotheses_out.write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    scores = translation_scores(hypotheses, references, lowercase=lowercase, tokenize=tokenize)
    scores["sentences"] = len(hypotheses)
    return scores


def evaluate_speech(
    loaded: LoadedModel,
    manifest: Path,
    *,
    options: DecodingOptions,
    target_lang: str | None = None,
    device: str = "cpu",
    hypotheses_out: Path | None = None,
    dtype: torch.dtype = torch.float32,
    workers: int = 1,
    lowercase: bool = False,
    tokenize: str = "13a",
    normalize: str | None = None,
) -> dict:
    """WER/CER (speech recognition) or BLEU/chrF (speech translation) on a manifest's utterances."""
    rows = read_manifest(manifest)
    if not rows:
        raise DataError(f"{manifest} lists no utterances")
    langs = {r.lang for r in rows if r.lang}
    if target_lang is None and len(langs) == 1:
        target_lang = langs.pop()  # the language the manifest asks for (a multi-task model writes several)
    transcriber = Transcriber(
        loaded, options=options, target_lang=target_lang, device=device, dtype=dtype, workers=workers
    )
    transcripts = list(transcriber.transcribe_files([r.audio for r in rows]))
    failed = [t for t in transcripts if t.error]
    if failed:
        raise DataError(f"{len(failed)} file(s) of {manifest} could not be read, e.g. {failed[0].error}")
    hypotheses = [t.text for t in transcripts]
    if hypotheses_out is not None:
        hypotheses_out.write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    same_language = target_lang is not None and target_lang == loaded.info.src_lang
    task = "asr" if same_language else loaded.info.task  # transcripts are scored by WER
    scores = task_scores(
        task, hypotheses, [r.target for r in rows], lowercase=lowercase, tokenize=tokenize, normalize=normalize
    )
    scores["utterances"] = len(rows)
    return scores
