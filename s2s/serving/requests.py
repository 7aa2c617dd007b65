"""The request bodies of POST /translate and POST /transcribe (they also make the OpenAPI page).

Types are strict and unknown fields are refused, as argparse refuses an unknown option; the
decoding options are checked by the CLI's own :func:`s2s.cli.common.decoding_options`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from s2s.cli.common import decoding_options
from s2s.decoding import DecodingOptions


class DecodingFields(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    beam: int | None = Field(None, description="beam size; 1 = greedy (default 5)")
    length_penalty: float = Field(1.0, description="alpha: hypotheses ranked by logprob / lp(len)")
    length_penalty_style: Literal["plain", "gnmt"] = "plain"
    min_len: int = Field(0, description="no EOS before this many tokens")
    no_repeat_ngram: int = Field(0, description="never repeat an n-gram of this size (0: off)")
    tgt_lang: str | None = Field(None, description="target language of a multilingual model")

    def options(self, nbest: int = 1) -> DecodingOptions:
        """The CLI's options from these fields (no sampling: a served answer is reproducible)."""
        return decoding_options(SimpleNamespace(
            beam=self.beam, nbest=nbest, length_penalty=self.length_penalty,
            length_penalty_style=self.length_penalty_style, max_len_a=self.max_len_a, max_len_b=self.max_len_b,
            min_len=self.min_len, no_repeat_ngram=self.no_repeat_ngram, sample=False, temperature=1.0, top_k=0,
            top_p=1.0, seed=None))

    @model_validator(mode="after")
    def _check_options(self):
        self.options(getattr(self, "nbest", 1))  # ValueError with the CLI's message
        return self


class TranslateRequest(DecodingFields):
    text: list[str] = Field(description="sentences, translated in order (a blank one gives an empty translation)")
    nbest: int = Field(1, description="hypotheses per sentence (<= beam), each with its score")
    scores: bool = Field(False, description="also give each translation's score")
    max_len_a: float = Field(1.5, description="max output tokens = a * source tokens + b")
    max_len_b: int = 10

    @model_validator(mode="after")
    def _some_text(self):
        if not self.text:
            raise ValueError("text is an empty list: give at least one sentence")
        return self


class TranscribeRequest(DecodingFields):
    audio: str = Field(description="the audio file's bytes in base64 (wav, flac, ogg, mp3...; any rate and "
                                   "channel count); or POST multipart/form-data with the file in field 'file'")
    name: str = Field("upload", description="the file's name, used in messages")
    max_len_a: float = Field(0.5, description="max output tokens per encoder position")
    max_len_b: int = 5
    task: Literal["transcribe", "translate"] | None = Field(None, description="task tag of a multi-task model")
    language: str | None = Field(None, description="the spoken language of a multilingual Whisper model")
    timestamps: bool = Field(False, description="Whisper models: segments timed by timestamp tokens")
    ctc_weight: float | None = Field(None, description="joint CTC/attention weight (default 0.3 with a CTC head)")
