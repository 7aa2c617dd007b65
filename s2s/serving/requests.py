"""The request bodies of POST /translate and POST /transcribe (they also make the OpenAPI page).

Types are strict and unknown fields are refused, as argparse refuses an unknown option. A decoding
field left out takes the checkpoint's own decoding, as the CLI's flags do; the fields become the
CLI's options through its own :func:`s2s.cli.common.decoding_options` (:meth:`DecodingFields.flags`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DECODING_FIELDS = (
    "beam",
    "nbest",
    "length_penalty",
    "length_penalty_style",
    "max_len_a",
    "max_len_b",
    "min_len",
    "no_repeat_ngram",
    "ctc_weight",
)


class DecodingFields(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    beam: int | None = Field(None, description="beam size; 1 = greedy (default: the checkpoint's, else 5)")
    length_penalty: float | None = Field(None, description="alpha: hypotheses ranked by logprob / lp(len)")
    length_penalty_style: Literal["plain", "gnmt"] | None = None
    max_len_a: float | None = Field(None, description="max output tokens = a * source positions + b")
    max_len_b: int | None = None
    min_len: int | None = Field(None, description="no EOS before this many tokens")
    no_repeat_ngram: int | None = Field(None, description="never repeat an n-gram of this size (0: off)")
    tgt_lang: str | None = Field(None, description="target language of a multilingual model")

    def flags(self) -> SimpleNamespace:
        """These fields as the CLI's parsed flags (no sampling: a served answer is reproducible)."""
        given = {name: getattr(self, name, None) for name in DECODING_FIELDS}
        return SimpleNamespace(**given, sample=False, temperature=None, top_k=None, top_p=None, seed=None)

    def decoding_key(self) -> tuple:
        return tuple(getattr(self, name, None) for name in DECODING_FIELDS) + (self.tgt_lang,)


class TranslateRequest(DecodingFields):
    text: list[str] = Field(
        description="sentences, translated in order (a blank one gives an empty translation)", min_length=1
    )
    nbest: int | None = Field(None, description="hypotheses per sentence (<= beam), each with its score")
    scores: bool = Field(False, description="also give each translation's score")


class TranscribeRequest(DecodingFields):
    audio: str = Field(
        description="the audio file's bytes in base64 (wav, flac, ogg, mp3...; any rate and "
        "channel count); or POST multipart/form-data with the file in field 'file'"
    )
    name: str = Field("upload", description="the file's name, used in messages")
    ctc_weight: float | None = Field(None, description="joint CTC/attention weight (default 0.3 with a CTC head)")
    task: Literal["transcribe", "translate"] | None = Field(None, description="task tag of a multi-task model")
    language: str | None = Field(None, description="the spoken language of a multilingual Whisper model")
    timestamps: bool = Field(False, description="Whisper models: segments timed by timestamp tokens")
