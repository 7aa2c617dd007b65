"""The decoding loop: encode once, then step the decoder through the KV cache."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from s2s.decoding.beam import BeamChooser
from s2s.decoding.ctc import CTCPrefixScorer
from s2s.decoding.filters import LogitFilter, MaxLength, MinLength, NoRepeatNGram, SuppressAtStart, SuppressTokens
from s2s.decoding.greedy import GreedyChooser
from s2s.decoding.hypothesis import Hypothesis
from s2s.decoding.options import DecodingOptions


@torch.inference_mode()
def generate(
    model,
    source: Tensor,
    source_lengths: Tensor,
    prefix: Tensor,
    *,
    options: DecodingOptions,
    eos_id: int,
    suppress_ids: list[int],
    suppress_at_start: Sequence[int] = (),
    rules: Sequence[LogitFilter] = (),
) -> list[list[Hypothesis]]:
    """Decode a batch. ``source (B, S)``, ``source_lengths (B,)``, ``prefix (B, P)`` forced first tokens.

    ``suppress_ids`` are never generated, ``suppress_at_start`` not as the first token
    (a tokenizer's ``never_generated`` and ``never_first``); ``rules`` are further filters, applied after
    those (e.g. :class:`~s2s.decoding.filters.TimestampRules`). Returns, per sentence, up to
    ``options.nbest`` hypotheses, best first.
    """
    encoded = model.encode(source, source_lengths)
    cache = model.start_decoding(encoded)
    ctc = None
    if options.ctc_weight > 0:  # joint CTC/attention: the CTC head reads the same encoder output
        ctc = CTCPrefixScorer(
            model.ctc_log_probs(encoded.memory),
            encoded.lengths,
            blank=model.config.pad_id,
            eos=eos_id,
            weight=options.ctc_weight,
            candidates=max(2 * options.beam_size, 4),
        )
    batch, prefix_len = prefix.shape
    max_new = (options.max_len_a * encoded.lengths + options.max_len_b).floor().long()  # (B,) by source length
    max_new = max_new.clamp(min=1, max=model.config.max_positions - prefix_len)
    chooser_type = BeamChooser if options.beam_size > 1 else GreedyChooser
    chooser = chooser_type(batch, max_new, options, eos_id)
    filters: list[LogitFilter] = [SuppressTokens(suppress_ids)]
    if suppress_at_start:
        filters.append(SuppressAtStart(suppress_at_start))
    filters.extend(rules)
    if options.min_len:
        filters.append(MinLength(options.min_len, eos_id))
    if options.no_repeat_ngram:
        filters.append(NoRepeatNGram(options.no_repeat_ngram))
    filters.append(MaxLength(eos_id))

    # self-attention columns per sentence: at most K per position once beam search widens to K rows
    cache.reserve(options.beam_size * (prefix_len + int(max_new.max())))
    inputs = prefix  # (B, P): the whole prefix is fed in the first step, one row per sentence
    while True:
        logits = model.decode_step(inputs, cache)  # (N, V), Wu on the last position only
        logprobs = torch.log_softmax(logits, dim=-1, dtype=torch.float32)  # fp32 even when the model runs in bf16
        for logit_filter in filters:
            logprobs = logit_filter.apply(logprobs, chooser.generated, chooser.max_new)
        if ctc is not None:
            logprobs = ctc.score(logprobs)
        rows, next_tokens = chooser.update(logprobs)  # rows: indices into this step's rows
        if chooser.done:
            return chooser.finalize()
        cache.reorder(rows, beams=options.beam_size)  # follow surviving beams, drop finished sentences
        if ctc is not None:
            ctc.select(rows, next_tokens)
        inputs = next_tokens[:, None]  # (N', 1)
