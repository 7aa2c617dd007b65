"""The HTTP process's door for POST /translate and /transcribe: body size, JSON, uploads, every check.

An ASGI middleware in front of LitServe's handlers. It reads the body once (refusing it past
``max_body_bytes`` without reading further), turns a multipart upload into the JSON body the API
takes, runs :class:`~s2s.serving.validation.RequestChecker`, and only then lets the request through,
its body replayed. A refused request gets ``{"detail": "one line"}`` and a 4xx; nothing reaches a
worker. (LitServe's own ``max_payload_size`` check raises from inside the body reader, which only a
route can turn into a 413; here no route has run yet.)
"""

from __future__ import annotations

import base64
import json

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from s2s.serving.validation import RequestChecker, RequestError

ENDPOINTS = {"/translate": "text", "/transcribe": "speech"}
DISCARD_LIMIT = 256 * 1024 * 1024  # bytes of a too-large body read (and dropped) so the 413 reaches the client
TEXT_FIELDS = {"name", "tgt_lang", "task", "language", "length_penalty_style"}  # kept as text from a form


class BodyTooLarge(RequestError):
    """Refused before the body was read to its end."""


def refusal(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


class RequestGate:
    def __init__(self, app: ASGIApp, *, checker: RequestChecker, kind: str, max_body_bytes: int) -> None:
        self.app, self.checker, self.kind, self.max_body_bytes = app, checker, kind, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in ENDPOINTS:
            await self.app(scope, receive, send)
            return
        try:
            body = await self.checked_body(scope, receive, path)
        except RequestError as error:
            if isinstance(error, BodyTooLarge):  # read the rest (not kept): the client hears the answer, not a reset
                await discard_body(receive)
            await refusal(error.status, error.message)(scope, receive, send)
            return
        # The body passed on is JSON (an upload became JSON; `curl -d` says form-urlencoded)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await self.app(dict(scope, headers=headers), replay(body, receive), send)

    async def checked_body(self, scope: Scope, receive: Receive, path: str) -> bytes:
        if ENDPOINTS[path] != self.kind:
            other = next(p for p, kind in ENDPOINTS.items() if kind == self.kind)
            raise RequestError(404, f"this server's model is a {self.kind} model: POST to {other}")
        if scope["method"] != "POST":
            raise RequestError(405, f"{path} takes POST")
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLarge(413, self.too_large(int(declared)))
        body = await self.read_body(receive)
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if content_type.startswith("multipart/form-data") and path == "/transcribe":
            body = await upload_as_json(scope, body)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise RequestError(400, f"the body is not valid JSON ({error})") from None
        check = self.checker.check_translate if path == "/translate" else self.checker.check_transcribe
        check(payload)
        return body

    async def read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge(413, self.too_large(size, at_least=True))
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def too_large(self, size: int, at_least: bool = False) -> str:
        return (
            f"the body is {'over ' if at_least else ''}{size} bytes; this server takes at most "
            f"{self.max_body_bytes} (s2s serve --max-body-bytes)"
        )


async def discard_body(receive: Receive, limit: int = DISCARD_LIMIT) -> None:
    """Read and drop what is left of a refused body, up to ``limit`` bytes (past it the connection drops)."""
    read = 0
    while read < limit:
        message = await receive()
        read += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def upload_as_json(scope: Scope, body: bytes) -> bytes:
    """A multipart form (the file in field 'file', options as fields) as the JSON body /transcribe takes."""
    form = await Request(scope, replay(body)).form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise RequestError(422, "file: the multipart form has no file in field 'file'")
    fields: dict = {key: value for key, value in form.items() if key != "file"}
    for key, value in fields.items():  # form fields are text: read numbers and booleans as JSON would
        if key not in TEXT_FIELDS:
            try:
                fields[key] = json.loads(value)
            except ValueError:
                pass
    fields["audio"] = base64.b64encode(await upload.read()).decode("ascii")
    fields.setdefault("name", upload.filename or "upload")
    return json.dumps(fields).encode()


def replay(body: bytes, then: Receive | None = None) -> Receive:
    """A receive that gives ``body`` once, then waits on ``then`` (the client's own: its disconnect)."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return await then() if then is not None else {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
