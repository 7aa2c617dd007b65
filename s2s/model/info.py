"""CheckpointInfo: what a checkpoint says about its model besides the weights and the config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

WHISPER_WINDOW = 30.0  # seconds an imported Whisper model reads at once, padded with silence


@dataclass(frozen=True)
class CheckpointInfo:
    """Task, languages and provenance of a model; every reader takes them from here, with one default each.

    ``default_decoding`` is what ``s2s translate``, ``transcribe`` and ``evaluate`` decode with unless told
    otherwise (each flag overrides its field). Stored in the checkpoint as a plain dict (``to_dict``), which ``torch.load(weights_only=True)``
    reads back; :meth:`from_dict` refuses keys it does not know, so a misspelt or foreign entry is an
    error rather than silently ignored.
    """

    task: str = "translation"  # translation, asr, speech_translation: what the model is scored on
    task_tag: str | None = None  # the decoder's task tag (<transcribe>, <translate>, "auto"), if it has one
    src_lang: str | None = None
    tgt_langs: tuple[str, ...] = ()  # languages the decoder is told to write; () for a model without tags
    pad_seconds: float | None = None  # speech: windows padded to this length, as in training (None: real length)
    step: int | None = None  # training updates behind these weights
    default_decoding: dict[str, Any] = field(default_factory=dict)  # DecodingOptions fields: its run's test decoding
    config: dict[str, Any] = field(default_factory=dict)  # the resolved training config
    imported_from: str | None = None
    averaged_from: tuple[str, ...] = ()  # the checkpoints whose mean these weights are (``s2s average``)
    whisper: dict[str, Any] | None = None  # an imported Whisper model's dims and generation rules
    # decoder (layer, head) pairs whose cross-attention times words (tools/choose_alignment_heads.py)
    alignment_heads: tuple[tuple[int, int], ...] = ()

    @property
    def languages(self) -> tuple[str | None, ...]:
        """What ``--tgt-lang`` may name: the tagged languages, or ``(None,)`` for a model without tags."""
        return self.tgt_langs or (None,)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointInfo:
        data = dict(data)
        data.pop("decoding", None)  # written by earlier versions: the validation decoding, never a default
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown checkpoint info {', '.join(unknown)}")
        for name in ("tgt_langs", "averaged_from"):  # lists in the file
            if name in data:
                data[name] = tuple(data[name] or ())
        if "alignment_heads" in data:
            data["alignment_heads"] = tuple((int(layer), int(h)) for layer, h in data["alignment_heads"])
        if "whisper" in data and "pad_seconds" not in data:  # imported before the key existed: padded as trained
            data["pad_seconds"] = WHISPER_WINDOW
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tgt_langs"], data["averaged_from"] = list(self.tgt_langs), list(self.averaged_from)
        data["alignment_heads"] = [list(pair) for pair in self.alignment_heads]
        return data
