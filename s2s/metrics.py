"""Corpus metrics: sacrebleu BLEU/chrF/TER with their signatures, and WER/CER (jiwer)."""

from __future__ import annotations

import jiwer
from sacrebleu.metrics import BLEU, CHRF, TER


def translation_scores(
    hypotheses: list[str], references: list[str], *, lowercase: bool = False, tokenize: str = "13a", ter: bool = True
) -> dict:
    """BLEU, chrF (and TER) of one reference per hypothesis, with sacrebleu's signatures."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    metrics = {"bleu": BLEU(lowercase=lowercase, tokenize=tokenize), "chrf": CHRF(lowercase=lowercase)}
    if ter:
        metrics["ter"] = TER(case_sensitive=not lowercase)
    scores = {}
    for name, metric in metrics.items():
        result = metric.corpus_score(hypotheses, [references])
        scores[name] = round(result.score, 2)
        scores[f"{name}_signature"] = str(metric.get_signature())
    return scores


NORMALIZERS = ("whisper",)


def whisper_normalizer():
    """Whisper's English text normalizer (the ``whisper-normalizer`` package): lower case, no punctuation,
    spelled numbers as digits, British spellings American, "mister" for "Mr"."""
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def recognition_scores(
    hypotheses: list[str], references: list[str], *, lowercase: bool = False, normalize: str | None = None
) -> dict:
    """Word and character error rates in percent (jiwer), over the whole corpus.

    Both sides are compared as written except for surrounding and repeated whitespace (and case,
    with ``lowercase``); an empty reference counts its hypothesis' words as insertions.
    ``normalize="whisper"`` scores both sides after Whisper's English normalizer, and keeps the
    scores as written under ``"raw"``.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if normalize is not None:
        if normalize not in NORMALIZERS:
            raise ValueError(f"unknown normalizer {normalize!r}; choose one of {list(NORMALIZERS)}")
        english = whisper_normalizer()
        scores = recognition_scores([english(h) for h in hypotheses], [english(r) for r in references])
        scores["raw"] = recognition_scores(hypotheses, references, lowercase=lowercase)
        return scores

    def tidy(text: str) -> str:
        text = " ".join(text.split())
        return text.lower() if lowercase else text

    hyps = [tidy(h) for h in hypotheses]
    refs = [tidy(r) for r in references]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {
        "wer": round(100 * words.wer, 2),
        "cer": round(100 * chars.cer, 2),
        "word_errors": words.substitutions + words.deletions + words.insertions,
        "reference_words": sum(len(r.split()) for r in refs),
    }


def task_scores(
    task: str,
    hypotheses: list[str],
    references: list[str],
    *,
    lowercase: bool = False,
    tokenize: str = "13a",
    normalize: str | None = None,
) -> dict:
    """WER/CER for speech recognition, BLEU/chrF (no TER) for every kind of translation; ``lowercase``
    compares case-insensitively (both), ``tokenize`` is BLEU's tokenizer, ``normalize`` a normalizer
    of transcripts (:func:`recognition_scores`)."""
    if task == "asr":
        return recognition_scores(hypotheses, references, lowercase=lowercase, normalize=normalize)
    if normalize is not None:
        raise ValueError(
            f"--normalize {normalize} normalizes English transcripts; this model translates "
            "(BLEU has --lowercase and --tokenize)"
        )
    return translation_scores(hypotheses, references, lowercase=lowercase, tokenize=tokenize, ter=False)
