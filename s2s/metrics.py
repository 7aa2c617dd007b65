"""Corpus metrics: sacrebleu BLEU/chrF/TER with their signatures, and WER/CER (jiwer)."""

from __future__ import annotations

from sacrebleu.metrics import BLEU, CHRF, TER


def translation_scores(hypotheses: list[str], references: list[str], *, lowercase: bool = False,
                       tokenize: str = "13a", ter: bool = True) -> dict:
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
