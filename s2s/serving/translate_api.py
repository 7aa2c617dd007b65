"""POST /translate: LitServe's worker side, decoding a batch of requests with :class:`Translator`."""

# No `from __future__ import annotations`: LitServe reads decode_request's annotation as the
# request type, and FastAPI needs the class itself, not its name.
import litserve as ls
import torch

from s2s.checkpoint import load_checkpoint
from s2s.inference.translator import Translation
from s2s.serving.batching import by_key, spans
from s2s.serving.front_ends import translators
from s2s.serving.requests import TranslateRequest


def answer(request: TranslateRequest, translations: list[Translation], warnings: list[str]) -> dict:
    items = []
    for translation in translations:
        item: dict = {"text": translation.text}
        if request.scores or (request.nbest or 1) > 1:
            item["score"] = round(translation.nbest[0][1], 4)
        if (request.nbest or 1) > 1:
            item["nbest"] = [{"text": text, "score": round(score, 4)} for text, score in translation.nbest]
        items.append(item)
    return {"translations": items, "warnings": warnings}


class TranslateAPI(ls.LitAPI):
    def __init__(
        self, checkpoint: str, *, max_tokens: int, threads: int, max_batch_size: int, batch_timeout: float
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout, api_path="/translate")
        self.checkpoint, self.max_tokens, self.threads = checkpoint, max_tokens, threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.front_ends = translators(load_checkpoint(self.checkpoint), max_tokens=self.max_tokens, device=device)

    def decode_request(self, request: TranslateRequest) -> TranslateRequest:
        return request  # checked in the HTTP process (s2s.serving.gate) before it was queued

    def batch(self, inputs: list[TranslateRequest]) -> list[TranslateRequest]:
        return inputs

    def predict(self, x):
        requests = x if isinstance(x, list) else [x]
        answers: list[dict | None] = [None] * len(requests)
        for members in by_key(requests, self.front_ends.key).values():
            translator = self.front_ends.get(requests[members[0]])
            sources, warnings = [], {}
            for m in members:
                warnings[m] = []
                for i, line in enumerate(requests[m].text):
                    ids, warning = (
                        translator.encode_checked(line.strip(), f"text[{i}]") if line.strip() else (None, None)
                    )
                    sources.append(ids)
                    if warning:
                        warnings[m].append(warning)
            results = translator.translate_sources(sources)  # every sentence of the group, sorted by length
            for m, span in zip(members, spans([len(requests[m].text) for m in members])):
                answers[m] = answer(requests[m], results[span], warnings[m])
        return answers if isinstance(x, list) else answers[0]

    def unbatch(self, outputs: list[dict]) -> list[dict]:
        return outputs

    def encode_response(self, output: dict) -> dict:
        return output
