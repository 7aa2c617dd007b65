"""The decoding front ends a request needs, built exactly as ``s2s translate`` / ``s2s transcribe`` build
theirs (so a request is checked by the CLI's own code), and kept by their decoding key for reuse."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from s2s.checkpoint import LoadedModel
from s2s.cli.common import decoding_options
from s2s.inference.transcriber import Transcriber
from s2s.inference.translator import Translator
from s2s.serving.requests import TranscribeRequest, TranslateRequest

KEPT = 32  # front ends kept per process: one per distinct set of decoding options in use
RequestT = TypeVar("RequestT", bound=TranslateRequest | TranscribeRequest)


class FrontEnds(Generic[RequestT]):
    """Front ends by the decoding fields of a request, the least recently used dropped past :data:`KEPT`."""

    def __init__(self, build: Callable[[RequestT], object], key: Callable[[RequestT], Hashable]) -> None:
        self.build = build
        self.key = key
        self.kept: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, request):
        key = self.key(request)
        if key in self.kept:
            self.kept.move_to_end(key)
            return self.kept[key]
        front_end = self.kept[key] = self.build(request)  # may raise ValueError: the request is refused
        if len(self.kept) > KEPT:
            self.kept.popitem(last=False)
        return front_end


def translators(loaded: LoadedModel, *, max_tokens: int, device: str = "cpu") -> FrontEnds[TranslateRequest]:
    def build(request: TranslateRequest) -> Translator:
        return Translator(
            loaded,
            options=decoding_options(request.flags(), loaded),
            target_lang=request.tgt_lang,
            max_tokens=max_tokens,
            device=device,
        )

    return FrontEnds(build, lambda r: r.decoding_key())


def transcribers(loaded: LoadedModel, *, device: str = "cpu") -> FrontEnds[TranscribeRequest]:
    def build(request: TranscribeRequest) -> Transcriber:
        return Transcriber(
            loaded,
            options=decoding_options(request.flags(), loaded),
            target_lang=request.tgt_lang,
            task=request.task,
            language=request.language,
            timestamps=request.timestamps,
            device=device,
        )

    return FrontEnds(build, lambda r: r.decoding_key() + (r.task, r.language, r.timestamps))
