"""A bounded queue: at most ``max_queue`` requests waiting or decoding; past it, 503 and Retry-After.

LitServe queues every request it is given (its ``track_requests`` only counts them). This ASGI
middleware counts the requests between their admission and their answer in a counter shared by
every HTTP process (made before they fork), and turns the one over the bound away at once, so a
burst never builds an unbounded backlog of clients waiting to time out.
"""

from __future__ import annotations

import multiprocessing

from starlette.types import ASGIApp, Receive, Scope, Send

from s2s.serving.gate import ENDPOINTS, refusal

RETRY_AFTER_SECONDS = 1


def shared_counter():
    return multiprocessing.get_context("fork").Value("i", 0)


class Admission:
    def __init__(self, app: ASGIApp, *, counter, max_queue: int) -> None:
        self.app, self.counter, self.max_queue = app, counter, max_queue

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in ENDPOINTS:
            await self.app(scope, receive, send)
            return
        with self.counter.get_lock():
            admitted = self.counter.value < self.max_queue
            if admitted:
                self.counter.value += 1
        if not admitted:
            message = (
                f"the server is busy: {self.max_queue} requests are already queued (s2s serve --max-queue); "
                f"retry after {RETRY_AFTER_SECONDS} s"
            )
            await refusal(503, message, {"Retry-After": str(RETRY_AFTER_SECONDS)})(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self.counter.get_lock():
                self.counter.value -= 1
