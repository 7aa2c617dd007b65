"""POST /transcribe: LitServe's worker side, decoding a batch of uploads with :class:`Transcriber`."""

import dataclasses

import litserve as ls
import torch

from s2s.checkpoint import load_checkpoint
from s2s.serving.batching import by_key
from s2s.serving.front_ends import transcribers
from s2s.serving.requests import TranscribeRequest
from s2s.serving.validation import audio_bytes


class TranscribeAPI(ls.LitAPI):
    def __init__(self, checkpoint: str, *, threads: int, max_batch_size: int, batch_timeout: float) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/transcribe")
        self.checkpoint, self.threads = checkpoint, threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.front_ends = transcribers(load_checkpoint(self.checkpoint), device=device)

    def decode_request(self, request: TranscribeRequest) -> TranscribeRequest:
        return request  # checked in the HTTP process (s2s.serving.gate) before it was queued

    def batch(self, inputs: list[TranscribeRequest]) -> list[TranscribeRequest]:
        return inputs

    def predict(self, x):
        requests = x if isinstance(x, list) else [x]
        answers: list[dict | None] = [None] * len(requests)
        for members in by_key(requests, self.front_ends.key).values():
            waves = [audio_bytes(requests[m]) for m in members]  # (N,) each; decoded once already in the gate
            transcripts = self.front_ends.get(requests[members[0]]).transcribe_waves(
                waves
            )  # every window of the group at once
            for m, transcript in zip(members, transcripts):
                answers[m] = {
                    "name": requests[m].name,
                    "text": transcript.text,
                    "duration": transcript.duration,
                    "segments": [dataclasses.asdict(s) for s in transcript.segments],
                }
        return answers if isinstance(x, list) else answers[0]

    def unbatch(self, outputs: list[dict]) -> list[dict]:
        return outputs

    def encode_response(self, output: dict) -> dict:
        return output
