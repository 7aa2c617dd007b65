"""The Python API: ``s2s.load(path)`` and a model that translates or transcribes.

    import s2s
    model = s2s.load("runs/demo/model.pt")
    model.translate(["A man rides a bike.", "Two dogs play in the snow."], beam=5)
    speech = s2s.load("models/whisper-tiny.en.pt")
    [t.text for t in speech.transcribe(["a.flac", "b.wav"])]

Decoding options are keyword arguments named as :class:`s2s.decoding.DecodingOptions`'s fields
(``beam`` for ``beam_size``); the ones not given are the checkpoint's own decoding, as for the
command-line tools (``s2s.inference.decoding_defaults``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from s2s.checkpoint import LoadedModel, load_checkpoint
from s2s.decoding import DecodingOptions
from s2s.inference.decoding_defaults import DTYPES, layered_options
from s2s.inference.segments import Transcript
from s2s.inference.transcriber import Transcriber
from s2s.inference.translator import Translator


class Model:
    """A loaded checkpoint: ``translate`` for text models, ``transcribe`` for speech models."""

    def __init__(self, loaded: LoadedModel, *, device: str = "cpu", dtype: str = "fp32") -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        self.loaded, self.device, self.dtype = loaded, device, DTYPES[dtype]

    @property
    def info(self):
        """The checkpoint's :class:`s2s.model.info.CheckpointInfo`: task, languages, provenance."""
        return self.loaded.info

    @property
    def is_speech(self) -> bool:
        return self.loaded.model.config.encoder == "audio"

    def options(self, beam: int | None = None, **fields: Any) -> DecodingOptions:
        """The decoding these keyword arguments ask for, over the checkpoint's own."""
        given = {k: v for k, v in fields.items() if v is not None}
        if beam is not None:
            given["beam_size"] = beam
        return layered_options(self.loaded, given)

    def translate(
        self,
        texts: list[str],
        *,
        beam: int | None = None,
        tgt_lang: str | None = None,
        prefix: str | None = None,
        workers: int = 1,
        **fields: Any,
    ) -> list[str]:
        """One translation per text, in order (an empty text gives an empty translation)."""
        if isinstance(texts, str):
            raise TypeError("translate takes a list of texts; wrap a single one in a list")
        translator = Translator(
            self.loaded,
            options=self.options(beam, **fields),
            target_lang=tgt_lang,
            device=self.device,
            dtype=self.dtype,
            forced_prefix=prefix,
            workers=workers,
        )
        return [t.text for t in translator.translate(texts)]

    def transcribe(
        self,
        paths: Iterable[str | Path],
        *,
        beam: int | None = None,
        tgt_lang: str | None = None,
        language: str | None = None,
        task: str | None = None,
        timestamps: bool = False,
        workers: int = 1,
        **fields: Any,
    ) -> list[Transcript]:
        """One :class:`Transcript` per audio file, in order; a file that cannot be read has ``error`` set."""
        if isinstance(paths, (str, Path)):
            raise TypeError("transcribe takes a list of paths; wrap a single one in a list")
        transcriber = Transcriber(
            self.loaded,
            options=self.options(beam, **fields),
            target_lang=tgt_lang,
            task=task,
            language=language,
            timestamps=timestamps,
            device=self.device,
            dtype=self.dtype,
            workers=workers,
        )
        return list(transcriber.transcribe_files(paths))


def load(path: str | Path, *, device: str = "cpu", dtype: str = "fp32") -> Model:
    """Load a checkpoint written by ``s2s train``, ``s2s average`` or ``s2s import`` (``weights_only``)."""
    return Model(load_checkpoint(path, device=device), device=device, dtype=dtype)
