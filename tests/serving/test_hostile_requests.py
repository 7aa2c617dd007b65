"""Hostile requests to s2s serve: each gets one 4xx with a one-line message, and the server keeps serving."""

from __future__ import annotations

import http.client
import json

import pytest


def refused(server, path, body, status, *words, **kwargs):
    code, _, answer = server.post(path, body, **kwargs)
    assert code == status, answer
    assert isinstance(answer, dict) and isinstance(answer["detail"], str), answer
    assert "\n" not in answer["detail"] and "Traceback" not in answer["detail"]
    for word in words:
        assert word in answer["detail"], answer["detail"]
    return answer["detail"]


@pytest.fixture(autouse=True)
def still_serving(text_server):
    """After every hostile request the same server answers a good one."""
    yield
    status, _, body = text_server.post("/translate", {"text": ["A dog runs."], "beam": 1})
    assert status == 200 and body["translations"][0]["text"]


def test_malformed_json(text_server):
    refused(text_server, "/translate", b'{"text": ["a"', 400, "not valid JSON")
    refused(text_server, "/translate", b"\xff\xfe not utf-8", 400, "not valid JSON")
    refused(text_server, "/translate", b'["a list"]', 422, "must be a JSON object")


def test_wrong_types(text_server):
    refused(text_server, "/translate", {"text": "one string"}, 422, "text:", "valid list")
    refused(text_server, "/translate", {"text": ["a", 3]}, 422, "text.1:", "valid string")
    refused(text_server, "/translate", {"text": ["a"], "beam": "5"}, 422, "beam:", "valid integer")
    refused(text_server, "/translate", {"text": ["a"], "beam_size": 5}, 422, "beam_size:", "Extra inputs")


def test_empty_text_list(text_server):
    refused(text_server, "/translate", {"text": []}, 422, "text:", "at least 1 item")
    refused(text_server, "/translate", {"beam": 2}, 422, "text:", "Field required")


def test_100k_character_string_is_truncated_with_a_warning(text_server):
    line = "A man is riding a bicycle. " * 3704  # 100,008 characters
    status, _, body = text_server.post("/translate", {"text": [line, "A dog."], "beam": 1})
    assert status == 200 and len(body["translations"]) == 2
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("text[0]: ")
    assert "truncated to the model's limit of 127" in body["warnings"][0]


def test_too_many_sentences(text_server):
    refused(text_server, "/translate", {"text": ["a"] * 65}, 413, "65 sentences", "at most 64", "--max-sentences")


def test_huge_bodies(text_server):
    big = {"text": ["x" * 1_100_000]}
    refused(text_server, "/translate", big, 413, "at most 1000000", "--max-body-bytes")


@pytest.mark.slow  # once in three full-suite runs the answer did not come within the minute: under investigation
def test_huge_chunked_body(text_server):
    """Without a Content-Length (chunked): refused once the limit is crossed."""
    connection = http.client.HTTPConnection("127.0.0.1", text_server.port, timeout=60)
    chunks = (b'{"text": ["' + b"y" * 100_000 for _ in range(12))
    connection.request(
        "POST", "/translate", body=chunks, encode_chunked=True, headers={"content-type": "application/json"}
    )
    response = connection.getresponse()
    assert response.status == 413 and "at most 1000000" in json.loads(response.read())["detail"]
    connection.close()


def test_unknown_tgt_lang(text_server):
    refused(text_server, "/translate", {"text": ["a"], "tgt_lang": "fr"}, 422, "translates into ['de']", "'fr'")


def test_bad_decoding_options(text_server):
    refused(text_server, "/translate", {"text": ["a"], "beam": 0}, 422, "beam must be >= 1, got 0")
    refused(
        text_server, "/translate", {"text": ["a"], "beam": 2, "nbest": 3}, 422, "nbest must be between 1 and beam=2"
    )
    refused(text_server, "/translate", {"text": ["a"], "length_penalty_style": "odd"}, 422, "length_penalty_style:")


def test_wrong_endpoint_and_method(text_server):
    refused(text_server, "/transcribe", {"audio": ""}, 404, "text model", "POST to /translate")
    refused(text_server, "/translate", None, 405, "takes POST", method="GET")
