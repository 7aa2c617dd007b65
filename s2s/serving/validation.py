"""Checks a request body before it may join a batch: types, limits, decoding options, languages, audio.

LitServe decodes a batch's requests together in its worker and answers all of them with the error
of any one, so nothing a client sends may fail there: every check runs here, in the HTTP process,
with the CLI's own code (:mod:`s2s.serving.front_ends`), and a refused request gets one line.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from s2s.checkpoint import LoadedModel
from s2s.data.speech.audio import decode_upload
from s2s.errors import AudioError
from s2s.serving.front_ends import transcribers, translators
from s2s.serving.requests import TranscribeRequest, TranslateRequest

# The CLI's words for an option, in the names a request gives them.
FIELD_NAMES = {
    "beam_size": "beam",
    "--tgt-lang": "tgt_lang",
    "--task": "task",
    "--language": "language",
    "--timestamps": "timestamps",
    "--ctc-weight": "ctc_weight",
    "--window": "window",
}


class RequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def in_request_terms(message: str) -> str:
    for cli_name, field in FIELD_NAMES.items():
        message = message.replace(cli_name, field)
    return message


def one_line(error: ValidationError) -> str:
    """Pydantic's first complaint as ``field: what is wrong`` (and how many more there are)."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"])
    what = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    what = in_request_terms(what)  # the options' own words (beam_size), not the field names in `where`
    return (f"{where}: {what}" if where else what) + more


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], payload: object) -> ModelT:
    if not isinstance(payload, dict):
        raise RequestError(422, f"the body must be a JSON object, not {type(payload).__name__}")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise RequestError(422, one_line(error)) from None


class RequestChecker:
    """Everything a request is checked for, for the one model this server serves."""

    def __init__(self, loaded: LoadedModel, *, max_sentences: int, max_tokens: int) -> None:
        self.max_sentences = max_sentences
        self.front_ends = (
            translators(loaded, max_tokens=max_tokens)
            if loaded.model.config.encoder == "text"
            else transcribers(loaded)
        )

    def check_translate(self, payload: object) -> None:
        request = parse(TranslateRequest, payload)
        if len(request.text) > self.max_sentences:
            raise RequestError(
                413,
                f"text holds {len(request.text)} sentences; this server takes at most "
                f"{self.max_sentences} a request (s2s serve --max-sentences)",
            )
        self.front_end(request)

    def check_transcribe(self, payload: object) -> None:
        request = parse(TranscribeRequest, payload)
        audio_bytes(request)
        self.front_end(request)

    def front_end(self, request) -> None:
        try:
            self.front_ends.get(request)
        except ValueError as error:
            raise RequestError(422, in_request_terms(str(error))) from None


def audio_bytes(request: TranscribeRequest):
    """The upload's waveform ``(N,)``; a body that is not base64 or not whole audio is refused."""
    try:
        data = base64.b64decode(request.audio, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            422, "audio: not base64 (send the file's bytes base64-encoded, or as multipart/form-data in field 'file')"
        ) from None
    try:
        return decode_upload(data, request.name)
    except AudioError as error:
        raise RequestError(422, str(error)) from None
