"""One LitServe batch holds requests with different decoding options: decode each set of options once.

Requests whose options (beam, languages, ...) agree share one front end, and all their inputs go
into one length-sorted decode; the answers are handed back to their requests in order. A
sentence's output never depends on its batch (``docs/architecture.md``), so whoever else was in
the batch changes nothing in an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

Request = TypeVar("Request")


def by_key(requests: Sequence[Request], key: Callable[[Request], Hashable]) -> dict[Hashable, list[int]]:
    """Indices of the requests sharing each key, keys in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault(key(request), []).append(index)
    return groups


def spans(counts: Sequence[int]) -> list[slice]:
    """The slice of a concatenated list that each of ``counts`` items owns."""
    out, start = [], 0
    for count in counts:
        out.append(slice(start, start + count))
        start += count
    return out
