"""Scores by task: --lowercase makes BLEU/chrF and WER case-insensitive, and the BLEU signature says so."""

from __future__ import annotations

from s2s.metrics import task_scores


def test_translation_scores_follow_lowercase_and_say_so():
    hypotheses, references = ["Ein Mann fährt Rad ."], ["ein mann fährt rad ."]
    cased = task_scores("speech_translation", hypotheses, references)
    lowered = task_scores("speech_translation", hypotheses, references, lowercase=True)
    assert cased["bleu"] < 100 and lowered["bleu"] == 100
    assert "case:mixed" in cased["bleu_signature"] and "case:lc" in lowered["bleu_signature"]
    assert "tok:char" in task_scores("translation", hypotheses, references, tokenize="char")["bleu_signature"]


def test_recognition_scores_follow_lowercase():
    assert task_scores("asr", ["GO LEFT"], ["go left"])["wer"] == 100
    assert task_scores("asr", ["GO LEFT"], ["go left"], lowercase=True)["wer"] == 0
