"""POST /transcribe on a speech model's server: JSON base64 and multipart uploads, and bad audio refused."""

from __future__ import annotations

import base64
import uuid

import pytest

from s2s.checkpoint import load_checkpoint
from s2s.cli import transcribe as transcribe_cli
from s2s.cli.common import decoding_options
from s2s.inference.transcriber import Transcriber
from tests.serving.conftest import Server
from tests.speech_helpers import FSDD, write_odd_files


@pytest.fixture(scope="module")
def speech_server(speech_checkpoint, tmp_path_factory):
    server = Server(speech_checkpoint, tmp_path_factory.mktemp("serve-log") / "speech.log", "--batch-timeout", "0.05")
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return write_odd_files(tmp_path_factory.mktemp("odd"))


def cli_transcript(checkpoint, path, *args):
    """What `s2s transcribe CKPT FILE ARGS` decodes (its own options and Transcriber)."""
    options = transcribe_cli.parser().parse_args([str(checkpoint), str(path), *args])
    loaded = load_checkpoint(checkpoint)
    return next(Transcriber(loaded, options=decoding_options(options, loaded)).transcribe_files([path]))


def multipart(fields: dict, name: str, data: bytes) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), {
        "content-type": f"multipart/form-data; boundary={boundary}"
    }


def test_base64_and_multipart_uploads_equal_the_cli(speech_server, speech_checkpoint, odd):
    speech = FSDD / "5_theo_30.wav"
    expected = cli_transcript(speech_checkpoint, speech, "--beam", "2")
    status, _, body = speech_server.post(
        "/transcribe", {"audio": base64.b64encode(speech.read_bytes()).decode(), "name": speech.name, "beam": 2}
    )
    assert status == 200 and body["text"] == expected.text and body["duration"] == expected.duration
    assert [(s["start"], s["end"], s["text"]) for s in body["segments"]] == [
        (s.start, s.end, s.text) for s in expected.segments
    ]
    data, headers = multipart({"beam": "2"}, speech.name, speech.read_bytes())
    status, _, form_body = speech_server.post("/transcribe", data, headers=headers)
    assert status == 200 and form_body == body
    flac = odd["flac44k"]  # 44.1 kHz FLAC, resampled as the CLI does
    data, headers = multipart({}, flac.name, flac.read_bytes())
    status, _, body = speech_server.post("/transcribe", data, headers=headers)
    assert status == 200 and body["text"] == cli_transcript(speech_checkpoint, flac).text


def test_bad_audio_is_refused_in_one_line(speech_server, odd):
    def refused(body, status, *words, **kwargs):
        code, _, answer = speech_server.post("/transcribe", body, **kwargs)
        assert code == status and all(w in answer["detail"] for w in words), answer

    refused(
        {"audio": base64.b64encode(odd["text"].read_bytes()).decode(), "name": "notes.mp3"},
        422,
        "notes.mp3: not a readable audio file",
    )
    wav = (FSDD / "5_theo_30.wav").read_bytes()
    refused(
        {"audio": base64.b64encode(wav[: len(wav) // 2]).decode(), "name": "cut.wav"},
        422,
        "cut.wav: truncated WAV",
        f"promises {len(wav) - 44}",
    )
    refused({"audio": base64.b64encode(odd["empty"].read_bytes()).decode()}, 422, "holds no audio")
    refused({"audio": "not base64!"}, 422, "audio: not base64")
    data, headers = multipart({"beam": "2"}, "x.wav", wav)
    refused(data.replace(b'name="file"', b'name="upload"'), 422, "no file in field 'file'", headers=headers)
    refused({"audio": base64.b64encode(wav).decode(), "language": "de"}, 422, "language names the spoken language")
    refused({"audio": base64.b64encode(wav).decode(), "ctc_weight": 1.5}, 422, "ctc_weight must be in [0, 1)")
    code, _, answer = speech_server.post("/translate", {"text": ["a"]})
    assert code == 404 and "POST to /transcribe" in answer["detail"]
    assert speech_server.post("/transcribe", {"audio": base64.b64encode(wav).decode()})[0] == 200  # still serving
