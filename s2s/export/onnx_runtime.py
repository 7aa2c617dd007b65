"""Greedy decoding of an ``s2s export onnx`` folder with onnxruntime and numpy only (no torch).

    from s2s.export.onnx_runtime import OnnxTranslator
    translator = OnnxTranslator("model-onnx")
    translator.translate(["A man is riding a bicycle."])  # -> ["Ein Mann fährt Fahrrad."]

The loop is s2s's greedy search: the prefix is fed in one step, then one token per step; each
row takes its best token after the same suppressions (padding, BOS, tags, and a tokenizer's
never-generated and never-first ids); a row ends at EOS or at its length limit,
``floor(max_len_a * source positions + max_len_b)`` tokens with EOS (EOS is forced there), and
leaves the batch, so that a sentence's output never depends on the others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from s2s.export.metadata import prefix_for, read_metadata
from s2s.export.text import ExportedTokenizer, translate_lines

ENCODER_FILE, DECODER_STEP_FILE = "encoder.onnx", "decoder_step.onnx"


class OnnxSeq2Seq:
    """The two graphs of an export folder and the greedy loop over them, on token ids or audio features."""

    def __init__(self, folder: str | Path, *, threads: int = 0) -> None:
        """``threads``: onnxruntime's intra-op threads (0: its default, one per core)."""
        self.folder = Path(folder)
        self.meta = read_metadata(self.folder)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1

        def session(name: str) -> onnxruntime.InferenceSession:
            return onnxruntime.InferenceSession(str(self.folder / name), options, providers=["CPUExecutionProvider"])

        self.encoder, self.decoder_step = session(ENCODER_FILE), session(DECODER_STEP_FILE)
        self.layers = self.meta["decoder_layers"]
        banned = np.zeros(self.meta["vocab_size"], dtype=bool)
        banned[self.meta["suppress_ids"]] = True
        self.banned = banned  # (V,)
        self.banned_first = banned.copy()
        self.banned_first[self.meta["suppress_at_start"]] = True

    def encode(self, source: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """``source (B, S)`` int64 ids or ``(B, F, feature_dim)`` float32 log-mel, ``lengths (B,)`` ->
        ``[memory_mask (B, S'), cross_k_0, cross_v_0, ...]`` (and the CTC log-probabilities last, if any)."""
        short = self.meta["min_frames"] - source.shape[1]
        if short > 0:  # frames past each length are zeroed inside the graph, so padding with anything is silence
            source = np.pad(source, ((0, 0), (0, short), (0, 0)))
        return self.encoder.run(None, {"source": source, "source_lengths": np.asarray(lengths, dtype=np.int64)})

    def greedy(
        self,
        source: np.ndarray,
        lengths: np.ndarray,
        prefix: list[int],
        *,
        max_len_a: float | None = None,
        max_len_b: int | None = None,
    ) -> list[list[int]]:
        """Greedy decoding of a batch -> each row's generated ids after the prefix, EOS excluded."""
        meta = self.meta
        max_len_a = meta["max_len_a"] if max_len_a is None else max_len_a
        max_len_b = meta["max_len_b"] if max_len_b is None else max_len_b
        encoded = self.encode(source, lengths)
        mask, cross = encoded[0], encoded[1 : 1 + 2 * self.layers]  # (B, S'), (B, H, S', Dh) each
        batch = mask.shape[0]
        limit = np.floor(max_len_a * mask.sum(axis=1) + max_len_b).astype(np.int64)  # (B,) tokens with EOS
        limit = np.clip(limit, 1, meta["max_positions"] - len(prefix))
        empty = np.zeros((batch, meta["num_heads"], 0, meta["head_dim"]), dtype=cross[0].dtype)
        past = [empty] * (2 * self.layers)
        rows = np.arange(batch)  # the sentence of each row still decoding
        tokens = np.tile(np.asarray(prefix, dtype=np.int64), (batch, 1))  # (B, P): the whole prefix, one step
        outputs: list[list[int]] = [[] for _ in range(batch)]
        step = 0
        while rows.size:
            feeds = {"tokens": tokens, "memory_mask": mask}
            for i in range(self.layers):
                feeds.update(
                    {
                        f"cross_k_{i}": cross[2 * i],
                        f"cross_v_{i}": cross[2 * i + 1],
                        f"past_k_{i}": past[2 * i],
                        f"past_v_{i}": past[2 * i + 1],
                    }
                )
            logits, *present = self.decoder_step.run(None, feeds)  # (N, V), then (N, H, T + Tn, Dh) each
            logits[:, self.banned_first if step == 0 else self.banned] = -np.inf
            at_limit = step + 1 >= limit[rows]  # the last allowed token: only EOS remains
            logits[at_limit] = -np.inf
            logits[at_limit, meta["eos_id"]] = 0.0
            chosen = logits.argmax(axis=1)  # (N,)
            going = chosen != meta["eos_id"]
            for row, token in zip(rows[going], chosen[going]):
                outputs[row].append(int(token))
            rows, tokens = rows[going], chosen[going][:, None]
            mask, cross, past = mask[going], [c[going] for c in cross], [p[going] for p in present]
            step += 1
        return outputs


class OnnxTranslator:
    """Text in, text out, for an export of a text model with s2s's own SentencePiece tokenizer."""

    def __init__(self, folder: str | Path, *, threads: int = 0) -> None:
        self.model = OnnxSeq2Seq(folder, threads=threads)
        self.tokenizer = ExportedTokenizer(folder, self.model.meta)

    def translate(self, lines: list[str], *, target_lang: str | None = None) -> list[str]:
        """One translation per line, in order (one batch: give at most a few hundred lines at a time)."""
        prefix = prefix_for(self.model.meta, target_lang)

        def decode_batch(batch: list[str]) -> list[str]:
            ids = self.tokenizer.encode(batch)
            source = np.full((len(ids), max(map(len, ids))), self.tokenizer.pad_id, dtype=np.int64)
            for i, row in enumerate(ids):
                source[i, : len(row)] = row
            lengths = np.array([len(row) for row in ids], dtype=np.int64)
            return [self.tokenizer.decode(out) for out in self.model.greedy(source, lengths, prefix)]

        return translate_lines(lines, decode_batch)
