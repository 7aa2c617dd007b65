"""The decoding front ends a request needs, built exactly as ``s2s translate`` / ``s2s transcribe`` build
theirs (so a request is checked by the CLI's own code), and kept by their decoding key for reuse."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Hashable

from s2s.checkpoint import LoadedModel
from s2s.cli.common import speech_ctc_weight
from s2s.inference.transcriber import Transcriber
from s2s.inference.translator import Translator
from s2s.serving.requests import TranscribeRequest, TranslateRequest

KEPT = 32  # front ends kept per process: one per distinct set of decoding options in use


def translate_key(request: TranslateRequest) -> Hashable:
    return request.options(request.nbest), request.tgt_lang


def transcribe_key(request: TranscribeRequest) -> Hashable:
    return (request.options(), request.tgt_lang, request.task, request.language, request.timestamps,
            request.ctc_weight)


class FrontEnds:
    """Front ends by key, the least recently used one dropped past :data:`KEPT`."""

    def __init__(self, build: Callable[[Hashable], object]) -> None:
        self.build, self.kept = build, OrderedDict()

    def get(self, key: Hashable):
        if key in self.kept:
            self.kept.move_to_end(key)
            return self.kept[key]
        front_end = self.kept[key] = self.build(key)  # may raise ValueError: the request is refused
        if len(self.kept) > KEPT:
            self.kept.popitem(last=False)
        return front_end


def translators(loaded: LoadedModel, *, max_tokens: int, device: str = "cpu") -> FrontEnds:
    def build(key):
        options, tgt_lang = key
        return Translator(loaded, options=options, target_lang=tgt_lang, max_tokens=max_tokens, device=device)
    return FrontEnds(build)


def transcribers(loaded: LoadedModel, *, device: str = "cpu") -> FrontEnds:
    def build(key):
        options, tgt_lang, task, language, timestamps, ctc_weight = key
        options = dataclasses.replace(options, ctc_weight=speech_ctc_weight(loaded.model.config, ctc_weight))
        return Transcriber(loaded, options=options, target_lang=tgt_lang, task=task, language=language,
                           timestamps=timestamps, device=device)
    return FrontEnds(build)
