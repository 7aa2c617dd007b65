"""Where one decoding worker's time goes: s2s's decoding loop timed part by part, beside CTranslate2.

``bench/decode.py``'s ``2x1`` rows give each of two single-threaded workers half of the batch.
This script times one such share: ``--batch`` sentences (16, half of the benchmark's 32) on one
thread, the same random-weight model, N new tokens exactly. It wraps the parts of
``s2s.decoding.search.generate`` in timers (encoder, each decoder step and, inside it, the linear
products, ``Wu``, attention and the KV cache's bookkeeping; the log-softmax, the token chooser
and the cache's reorder between steps) and prints each part's milliseconds per decode, the
median of ``--runs``. Then CTranslate2 decodes the same sentences on one thread (``1x1``):
the time a worker of its ``2x1`` row spends.

    python bench/decode_parts.py                      # beam 5 and greedy, 16 sentences, 32 new tokens
    python bench/decode_parts.py --beams 5 --new-tokens 128 --dtype bf16
    python bench/decode_parts.py --operators          # also: time inside PyTorch's operators, and outside

``--operators`` decodes once more under ``torch.profiler``: the time inside PyTorch's operators
(their own time summed over every call, the dispatcher's share included), the operator calls per
decoding step, and what is left: Python between the operators, which a C++ engine such as
CTranslate2 does not pay. The profiler's own cost per call lands partly inside the operators and
partly outside, so Python's time is given as a range: at least the unprofiled decode minus the
time inside operators, at most the profiled decode minus it.

The timers themselves cost about a microsecond a call, so the parts add up to a little more than
an unwrapped decode; compare parts with parts, and across commits (docs/design/decoding.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import torch
from decode import DTYPES, EOS, PAD, build_ct2, build_hf, build_ours, sources  # bench/decode.py
from machine import describe  # bench/machine.py

import s2s.model.decoder
import s2s.model.seq2seq
from s2s.decoding import DecodingOptions, beam, greedy, search
from s2s.nn import attention, kv_cache, layer_cache

# (what is timed, the object that holds it, its attribute name); indented labels run inside "decoder step"
PARTS = [
    ("encoder", s2s.model.seq2seq.Seq2Seq, "encode"),
    ("decoder step", s2s.model.seq2seq.Seq2Seq, "decode_step"),
    ("  linear products", torch.ops.mkldnn, "_linear_pointwise"),
    ("  Wu (of those)", s2s.model.decoder.Unembedding, "forward"),
    ("  attention kernel", attention.F, "scaled_dot_product_attention"),
    ("  cache: step columns", kv_cache.KVCache, "begin_step"),
    ("  cache: append", layer_cache.LayerCache, "append"),
    ("log-softmax", search.torch, "log_softmax"),
    ("chooser", beam.BeamChooser, "update"),
    ("chooser", greedy.GreedyChooser, "update"),
    ("cache: reorder", kv_cache.KVCache, "reorder"),
]


def timed(function: Callable, label: str, totals: dict[str, float]) -> Callable:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    return wrapper


def profile(run: Callable[[], object], runs: int) -> tuple[float, dict[str, float]]:
    """Median seconds of ``run`` unwrapped, and each part's median seconds per run with the timers on."""
    run()  # warm-up: packs the weights
    whole = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        whole.append(time.perf_counter() - start)
    per_run: dict[str, list[float]] = defaultdict(list)
    totals: dict[str, float] = defaultdict(float)
    with ExitStack() as stack:
        for label, owner, name in PARTS:
            stack.enter_context(mock.patch.object(owner, name, timed(getattr(owner, name), label, totals)))
        for _ in range(runs):
            totals.clear()
            run()
            for label, seconds in totals.items():
                per_run[label].append(seconds)
    return statistics.median(whole), {label: statistics.median(values) for label, values in per_run.items()}


def operator_share(run: Callable[[], object], steps: int, unprofiled: float) -> str:
    """One profiled decode (``run`` already warmed up by ``profile``): time inside PyTorch's operators, their
    calls per step, and Python's time between them."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        run()
        profiled = time.perf_counter() - start
    events = profiler.key_averages()
    inside = sum(event.self_cpu_time_total for event in events) / 1e6  # microseconds -> seconds
    calls = sum(event.count for event in events)
    return (
        f"inside {inside * 1e3:.1f} of a profiled {profiled * 1e3:.1f}; {calls / steps:.0f} calls per step; "
        f"Python between them {max(unprofiled - inside, 0) * 1e3:.1f} to {(profiled - inside) * 1e3:.1f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--source-length", type=int, default=12)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--beams", type=int, nargs="+", default=[5, 1])
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--no-ct2", action="store_true", help="skip the CTranslate2 reference")
    p.add_argument(
        "--operators",
        action="store_true",
        help="also split one profiled decode into time inside PyTorch's operators and outside",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    hf_model = build_hf(args.seed)
    model = build_ours(hf_model).to(DTYPES[args.dtype])
    src = sources(args.batch, args.source_length, args.seed)
    lengths = torch.full((args.batch,), args.source_length)
    prefix = torch.full((args.batch, 1), PAD)
    n = args.new_tokens
    print(f"machine: {describe()}")
    print(
        f"one worker: {args.batch} sentences x {args.source_length} source tokens, {n} new tokens, 1 thread, "
        f"s2s {args.dtype}; medians of {args.runs} runs (ms per decode)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        translator = None if args.no_ct2 else build_ct2(hf_model, Path(tmp), 1, 1)
        torch.set_num_threads(1)  # building the translator set the process's OpenMP threads (bench/decode.py)
        tokens = [[f"tok{i}" if i > 1 else "</s>" for i in row[:-1]] for row in src.tolist()]
        for beam_size in args.beams:
            options = DecodingOptions(beam_size=beam_size, min_len=n, max_len_a=0, max_len_b=n)

            def decode(options=options):
                return search.generate(model, src, lengths, prefix, options=options, eos_id=EOS, suppress_ids=[PAD])

            whole, parts = profile(decode, args.runs)
            print(f"\nbeam {beam_size}" + (" (greedy)" if beam_size == 1 else ""))
            print(f"  {'s2s decode, no timers':<24} {whole * 1e3:8.1f}")
            for label in dict.fromkeys(label for label, _, _ in PARTS):
                if label in parts:
                    print(f"  {label:<24} {parts[label] * 1e3:8.1f}")
            if args.operators:
                print(f"  {'PyTorch operators':<24} {operator_share(decode, n, whole)}")
            if translator is not None:

                def run_ct2(options=options):
                    return translator.translate_batch(
                        tokens, beam_size=options.beam_size, min_decoding_length=n, max_decoding_length=n
                    )

                ct2, _ = profile(run_ct2, args.runs)
                print(f"  {'CTranslate2 1x1 (fp32)':<24} {ct2 * 1e3:8.1f}   s2s / CTranslate2 = {whole / ct2:.2f}")


if __name__ == "__main__":
    main()
