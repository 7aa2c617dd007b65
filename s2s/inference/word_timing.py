"""A start, an end and a probability for every decoded word of a window.

- A model with a CTC head: the CTC posteriors aligned to the decoded tokens by Viterbi
  (``torchaudio.functional.forced_align``, blank = the padding id); a token spans the encoder
  positions its label holds, its probability is their mean posterior.
- Otherwise (Whisper): the decoded text is teacher-forced once and the cross-attention weights of
  the alignment heads (``info["alignment_heads"]``: ``[layer, head]`` pairs chosen from data by
  ``tools/choose_alignment_heads.py`` and stored in the checkpoint; without them every head of the
  upper half of the decoder's layers) are normalized over tokens, median-filtered over time and
  averaged; dynamic time warping through the negated matrix gives each token the position where
  its row begins (Whisper's ``find_alignment``). Probabilities are the teacher-forced ones.

A word begins at a piece that starts with the word boundary ``▁``; its probability is the mean
of its tokens'. Times are seconds in the window the model read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchaudio
from torch import Tensor

from s2s.data.speech.audio import FRAMES_PER_SECOND
from s2s.data.text.pieces import WORD_BOUNDARY
from s2s.inference.segments import Word
from s2s.model.encoded import EncodedSource
from s2s.model.info import CheckpointInfo

MEDIAN_WIDTH = 7  # encoder positions, Whisper's median filter over time


class WordTimer:
    def __init__(self, model, tokenizer, prefix: list[int], info: CheckpointInfo) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.use_ctc = model.ctc is not None
        no_timestamps = getattr(tokenizer, "no_timestamps_id", None)
        # Whisper aligns text read without timestamp tokens, as its own word timing does
        self.prefix = prefix + [no_timestamps] if no_timestamps is not None and no_timestamps not in prefix else prefix
        layers, heads = model.config.decoder_layers, model.config.num_heads
        chosen = info.alignment_heads or [(layer, h) for layer in range(layers // 2, layers) for h in range(heads)]
        self.heads = [(int(layer), int(h)) for layer, h in chosen]
        if any(not (0 <= layer < layers and 0 <= h < heads) for layer, h in self.heads):
            raise ValueError(
                f"the checkpoint's alignment heads {chosen} do not fit a decoder of {layers} layers x {heads} heads"
            )

    def text_tokens(self, tokens: Sequence[int]) -> list[int]:
        return [t for t in tokens if not self.tokenizer.is_special(t)]

    @torch.inference_mode()
    def words(
        self, source: Tensor, source_lengths: Tensor, outputs: list[list[int]], seconds: Sequence[float] | None = None
    ) -> list[list[Word]]:
        """Words of each window; ``source (B, F, feature_dim)``; ``seconds``: each window's real audio
        (a Whisper window padded with silence is aligned within its audio only)."""
        encoded = self.model.encode(source, source_lengths)  # memory (B, S, D)
        positions = encoded.lengths.tolist()  # (B,)
        per_position = [int(f) / max(p, 1) / FRAMES_PER_SECOND for f, p in zip(source_lengths.tolist(), positions)]
        texts = [self.text_tokens(t) for t in outputs]
        if self.use_ctc:
            spans = self.ctc_spans(encoded.memory, positions, texts)
        else:
            spans = self.attention_spans(encoded, texts, positions, per_position, seconds)
        timed = [self.group(text, token_spans, step) for text, token_spans, step in zip(texts, spans, per_position)]
        return timed if self.use_ctc else [shorten_first(words) for words in timed]

    def ctc_spans(self, memory: Tensor, positions: list[int], texts: list[list[int]]) -> list[list[tuple]]:
        """Per window, per token: ``(first position, end position, probability)`` from the CTC alignment."""
        log_probs = self.model.ctc_log_probs(memory)  # (B, S, V)
        spans = []
        for b, text in enumerate(texts):
            length = positions[b]
            repeats = sum(a == c for a, c in zip(text, text[1:]))
            if not text or len(text) + repeats > length:  # nothing to align, or more tokens than positions
                spans.append(even_spans(len(text), length))
                continue
            aligned, scores = torchaudio.functional.forced_align(
                log_probs[b : b + 1, :length].float().cpu(), torch.tensor([text]), blank=self.model.config.pad_id
            )
            merged = torchaudio.functional.merge_tokens(aligned[0], scores[0].exp())
            spans.append([(s.start, s.end, float(s.score)) for s in merged])
        return spans

    def attention_spans(
        self,
        encoded: EncodedSource,
        texts: list[list[int]],
        positions: list[int],
        per_position: list[float],
        seconds: Sequence[float] | None,
    ) -> list[list[tuple]]:
        """Per window, per token: ``(first position, next token's first position, probability)`` by DTW."""
        spans: list[list[tuple]] = []
        eos = self.tokenizer.eos_id
        layers = self.model.decoder.layers
        for b, text in enumerate(texts):
            if not text:
                spans.append([])
                continue
            target = torch.tensor([self.prefix + text + [eos]], device=encoded.memory.device)  # (1, T)
            one = EncodedSource(
                encoded.memory[b : b + 1],
                encoded.mask[b : b + 1],
                encoded.lengths[b : b + 1],
                tuple((k[b : b + 1], v[b : b + 1]) for k, v in encoded.cross),
            )
            for layer in layers:
                layer.cross_attn.record_weights = True
            try:
                hidden = self.model.decoder_states(one, target)  # (1, T, D)
                weights = torch.stack([layers[layer].cross_attn.last_weights[0, h].float() for layer, h in self.heads])
            finally:
                for layer in layers:
                    layer.cross_attn.record_weights = False
                    layer.cross_attn.last_weights = None
            rows = slice(len(self.prefix) - 1, len(self.prefix) + len(text))  # the queries predicting text, then EOS
            probs = self.model.decoder.unembed(hidden[0, rows]).float().softmax(dim=-1)  # (L + 1, V)
            token_probs = probs[torch.arange(len(text)), torch.tensor(text, device=probs.device)].tolist()
            audio = positions[b] if seconds is None else min(positions[b], max(1, round(seconds[b] / per_position[b])))
            matrix = alignment_matrix(weights[:, rows, :audio])  # (L + 1, audio)
            starts = dtw_row_starts(-matrix.cpu().numpy())  # (L + 1,)
            spans.append([(int(starts[k]), int(starts[k + 1]), token_probs[k]) for k in range(len(text))])
        return spans

    def group(self, text: list[int], spans: list[tuple], step: float) -> list[Word]:
        """Tokens and their position spans -> words in seconds (``step``: seconds per encoder position)."""
        words: list[list[int]] = []
        for n, token in enumerate(text):
            if not words or self.tokenizer.piece(token).startswith(WORD_BOUNDARY):
                words.append([])
            words[-1].append(n)
        out = []
        for members in words:
            word = self.tokenizer.decode([text[n] for n in members]).strip()
            if not word:
                continue
            first, last = spans[members[0]], spans[members[-1]]
            start, end = first[0] * step, max(last[1], first[0] + 1) * step
            probability = float(np.mean([spans[n][2] for n in members]))
            out.append(Word(round(start, 3), round(end, 3), word, round(probability, 4)))
        return out


def shorten_first(words: list[Word]) -> list[Word]:
    """The warping path starts at the window's first position, so the first word's row also covers the
    silence before it: a first word longer than twice the median word starts one median before its end
    (as Whisper does)."""
    if len(words) < 2:
        return words
    median = float(np.median([w.end - w.start for w in words]))
    first = words[0]
    if first.end - first.start > 2 * median:
        words = [Word(round(first.end - median, 3), first.end, first.word, first.probability), *words[1:]]
    return words


def even_spans(count: int, length: int) -> list[tuple]:
    """``count`` tokens spread evenly over ``length`` positions, probability 0: no alignment was possible."""
    edges = np.linspace(0, length, count + 1).astype(int)
    return [(int(edges[k]), int(edges[k + 1]), 0.0) for k in range(count)]


def alignment_matrix(weights: Tensor) -> Tensor:
    """``(heads, rows, positions)`` attention -> ``(rows, positions)``: renormalized over the real positions,
    standardized over rows, median-filtered over positions, averaged over heads (Whisper's)."""
    weights = weights / weights.sum(dim=-1, keepdim=True).clamp(min=1e-10)
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = (weights - mean) / std.clamp(min=1e-10)
    return median_filter(weights, MEDIAN_WIDTH).mean(dim=0)


def median_filter(x: Tensor, width: int) -> Tensor:
    """Median over a sliding window of ``width`` along the last axis (reflected at the edges)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    flat = x.reshape(-1, 1, x.shape[-1])  # (N, 1, cols): reflect padding pads 3-d inputs' last axis
    padded = torch.nn.functional.pad(flat, (pad, pad), mode="reflect")
    return padded.unfold(-1, width, 1).median(dim=-1).values.reshape(x.shape)


def dtw_row_starts(cost: np.ndarray) -> np.ndarray:
    """Dynamic time warping through ``cost (rows, cols)`` from the top-left to the bottom-right corner
    (steps: diagonal, down, right): the column where the path first enters each row."""
    rows, cols = cost.shape
    inf = float("inf")
    cost_rows = cost.tolist()  # plain floats: the recursion is sequential, and Python floats are fastest here
    above = [0.0] + [inf] * cols  # total cost of the previous row, column 0 = the corner
    trace = []  # per row, per column: 0 diagonal, 1 down, 2 right
    for i in range(rows):
        here, steps, row = [inf] * (cols + 1), [0] * (cols + 1), cost_rows[i]
        for j in range(1, cols + 1):
            diagonal, down, right = above[j - 1], above[j], here[j - 1]
            if diagonal <= down and diagonal <= right:
                here[j], steps[j] = row[j - 1] + diagonal, 0
            elif down <= right:
                here[j], steps[j] = row[j - 1] + down, 1
            else:
                here[j], steps[j] = row[j - 1] + right, 2
        trace.append(steps)
        above = here
    starts = np.zeros(rows, dtype=np.int64)
    i, j = rows, cols
    while i > 0 and j > 0:
        step = trace[i - 1][j]
        if step != 2:  # the path enters row i here, from the row above
            starts[i - 1] = j - 1
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j)
        else:
            j -= 1
    return starts
