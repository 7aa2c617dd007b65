"""s2s serve's API on a real server: endpoints, answers equal to the CLI's, and batch invariance."""

from __future__ import annotations

import random
import threading

import pytest

from s2s.checkpoint import load_checkpoint
from s2s.cli import translate as translate_cli
from s2s.cli.common import decoding_options
from s2s.inference.translator import Translator
from s2s.serving.requests import TranslateRequest
from s2s.serving.translate_api import TranslateAPI
from tests.conftest import multi30k_lines


def cli_translations(checkpoint, lines: list[str], *args: str) -> list[str]:
    """What `s2s translate CKPT ARGS` writes for ``lines`` (its own options and Translator)."""
    options = translate_cli.parser().parse_args([str(checkpoint), *args])
    loaded = load_checkpoint(checkpoint)
    translator = Translator(loaded, options=decoding_options(options, loaded), max_tokens=options.max_tokens)
    return [t.text for t in translator.translate(lines)]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return multi30k_lines("test_2016_flickr", "en", 12)


def test_health_info_and_openapi(text_server):
    status, _, body = text_server.post("/health", None, method="GET")
    assert (status, body) == (200, "ok")
    status, _, info = text_server.post("/info", None, method="GET")
    assert status == 200 and info["model"]["kind"] == "text" and info["model"]["tgt_langs"] == ["de"]
    assert info["model"]["config"]["d_model"] == 32 and info["model"]["limits"]["max_sentences"] == 64
    status, _, schema = text_server.post("/openapi.json", None, method="GET")
    body_schema = schema["paths"]["/translate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = schema["components"]["schemas"][body_schema["$ref"].split("/")[-1]]["properties"]
    assert {"text", "beam", "nbest", "tgt_lang"} <= set(fields)
    assert text_server.post("/docs", None, method="GET")[0] == 200


def test_translations_come_in_input_order_and_equal_the_cli(text_server, text_checkpoint, sentences):
    lines = sentences[:5] + ["", "   "] + sentences[5:7]
    status, _, body = text_server.post("/translate", {"text": lines, "beam": 2})
    assert status == 200 and body["warnings"] == []
    assert [t["text"] for t in body["translations"]] == cli_translations(text_checkpoint, lines, "--beam", "2")
    assert body["translations"][5]["text"] == body["translations"][6]["text"] == ""


def test_nbest_and_scores_on_request(text_server, text_checkpoint, sentences):
    status, _, body = text_server.post("/translate", {"text": sentences[:2], "beam": 3, "nbest": 2})
    assert status == 200
    for item, expected in zip(body["translations"], cli_translations(text_checkpoint, sentences[:2], "--beam", "3")):
        assert item["text"] == item["nbest"][0]["text"] == expected
        assert len(item["nbest"]) == 2 and item["nbest"][0]["score"] >= item["nbest"][1]["score"]
    status, _, body = text_server.post("/translate", {"text": sentences[:1], "beam": 1, "scores": True})
    assert isinstance(body["translations"][0]["score"], float) and "nbest" not in body["translations"][0]


def test_one_batch_of_mixed_requests_answers_each_as_if_alone(text_checkpoint, sentences, one_thread):
    """The worker's predict on one batch (options differ between its requests) against each request alone."""
    api = TranslateAPI(str(text_checkpoint), max_tokens=4096, threads=1, max_batch_size=16, batch_timeout=0.0)
    api.setup("cpu")
    requests = [
        TranslateRequest(text=sentences[0:3]),
        TranslateRequest(text=[sentences[5], "", sentences[1]], beam=2),
        TranslateRequest(text=sentences[3:6][::-1], nbest=2),
        TranslateRequest(text=[sentences[2]]),
        TranslateRequest(text=sentences[6:12], beam=2),
    ]
    together = api.predict(requests)
    assert together == [api.predict(r) for r in requests]


def test_concurrent_clients_get_the_answers_they_would_get_alone(text_server, sentences):
    sentences = sentences[:8]
    alone = {
        s: text_server.post("/translate", {"text": [s], "beam": 2})[2]["translations"][0]["text"] for s in sentences
    }
    rng = random.Random(0)
    bodies = [rng.sample(sentences, 2) for _ in range(8)]
    results: dict[int, tuple] = {}
    start = threading.Barrier(len(bodies))

    def client(i: int) -> None:
        start.wait()
        results[i] = text_server.post("/translate", {"text": bodies[i], "beam": 2})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, lines in enumerate(bodies):
        status, _, body = results[i]
        assert status == 200
        assert [t["text"] for t in body["translations"]] == [alone[s] for s in lines]
