"""Decoding speed: s2s vs Hugging Face ``MarianMTModel.generate`` vs CTranslate2, one process, same weights.

One random-weight Marian model (d_model 256, 3+3 layers, 4 heads, FFN 1024, vocabulary 8000)
is built with Hugging Face, converted to CTranslate2 (its converter wants a tokenizer: a small
stand-in below) and imported into s2s with ``s2s.importers.hf_marian``: the three engines run
the very same weights. Each decodes a batch of 32 sources of 12 tokens and generates exactly N
new tokens (min length = max length), with beam 5 and greedy, on the same number of threads.
Times are medians of ``--runs`` rounds (each engine timed once per round, in turn) after one warm-up run.

    pip install -e '.[bench]'
    python bench/decode.py                 # the table in docs/design/decoding.md
    python bench/decode.py --runs 3 --new-tokens 16 --engines ours hf    # quicker
    python bench/decode.py --checkpoints runs/demo/model.pt pruned.pt      # s2s on checkpoints, side by side

With ``--checkpoints`` the rows are s2s decoding each checkpoint (e.g. a model and its ``s2s prune``d
copy) on the same random sources of its vocabulary, with the same exact output lengths.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from unittest import mock

# On a machine shared with other jobs, OpenMP threads that spin while they wait for each other
# lose whole time slices; sleeping waiters cost far less there. It must be set before the
# OpenMP runtime starts (i.e. before torch is imported) and applies to every engine alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)
from timing import median_times  # noqa: E402  (bench/timing.py)

from s2s.decoding import DecodingOptions, forked  # noqa: E402
from s2s.decoding.parallel import generate_parallel  # noqa: E402
from s2s.importers.hf_marian import convert_state_dict, model_config  # noqa: E402
from s2s.model.seq2seq import Seq2Seq  # noqa: E402
from s2s.nn.linear import prepacking  # noqa: E402

VOCAB, D_MODEL, LAYERS, HEADS, FFN = 8000, 256, 3, 4, 1024
EOS, UNK = 0, 1
PAD = VOCAB - 1  # Marian's layout: </s> 0, <unk> 1, ..., <pad> last (also the decoder start)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def build_hf(seed: int):
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(
        vocab_size=VOCAB,
        d_model=D_MODEL,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN,
        activation_function="swish",
        max_position_embeddings=512,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
        forced_eos_token_id=EOS,
        scale_embedding=True,
    )
    torch.manual_seed(seed)
    return MarianMTModel(config).eval()


class StandInTokenizer:
    """What CTranslate2's Marian converter reads from a tokenizer, and nothing else."""

    eos_token, unk_token, bos_token, pad_token = "</s>", "<unk>", "<s>", "<pad>"

    def get_vocab(self) -> dict[str, int]:
        pieces = ["</s>", "<unk>", *(f"tok{i}" for i in range(2, VOCAB - 1)), "<pad>"]
        return {p: i for i, p in enumerate(pieces)}


def build_ct2(hf_model, folder: Path, inter_threads: int, intra_threads: int):
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            return hf_model

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return StandInTokenizer()

    if not (folder / "ct2" / "model.bin").is_file():
        hf_model.save_pretrained(folder / "hf")  # the converter reads config.json from it
        Converter(str(folder / "hf")).convert(str(folder / "ct2"), quantization="float32", force=True)
    out = str(folder / "ct2")
    return ctranslate2.Translator(out, device="cpu", inter_threads=inter_threads, intra_threads=intra_threads)


def build_ours(hf_model) -> Seq2Seq:
    config = model_config(hf_model.config.to_dict())
    model = Seq2Seq(config)
    model.load_state_dict(convert_state_dict(hf_model.state_dict(), config))
    return model.eval()


def sources(batch: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB - 1, (batch, length), generator=g)
    ids[:, -1] = EOS
    return ids  # (B, S), every source the same length


def on_threads(threads: int, run: Callable[[], list[int]]) -> Callable[[], list[int]]:
    """``run`` on ``threads`` PyTorch intra-op threads, whatever ran before it.

    Building a CTranslate2 ``Translator`` sets the OpenMP thread count of the whole process to its
    ``intra_threads``: its library calls ``omp_set_num_threads``, which resolves to the libgomp
    PyTorch loaded first. Built last, the ``2x1`` translator left PyTorch on one thread, and our
    and Hugging Face's ``1x2`` rows then ran on one thread (docs/design/decoding.md, "The benchmark's
    thread count"). CTranslate2's own workers keep the count they were built with.
    """

    def run_with_threads() -> list[int]:
        torch.set_num_threads(threads)
        return run()

    return run_with_threads


def runners(
    engines: list[str], hf_model, src: torch.Tensor, n: int, beam: int, threads: int, folder: Path
) -> dict[str, Callable[[], list[int]]]:
    """name -> function that decodes the batch and returns the output lengths.

    Both ways of spending ``threads`` cores are measured where an engine has both: one decoding
    loop on ``threads`` intra-op threads, or ``threads`` single-threaded workers each taking a
    share of the sentences (CTranslate2's ``inter_threads``, s2s's ``--workers``).
    """
    out: dict[str, Callable[[], list[int]]] = {}
    lengths = torch.full((src.shape[0],), src.shape[1])
    options = DecodingOptions(beam_size=beam, min_len=n, max_len_a=0, max_len_b=n)
    prefix = torch.full((src.shape[0], 1), PAD)

    def run_ours(model: Seq2Seq, workers: int, packed: bool = True, forks: bool = True) -> Callable[[], list[int]]:
        def run() -> list[int]:
            with prepacking(packed), mock.patch.object(forked, "AVAILABLE", forked.AVAILABLE and forks):
                hyps = generate_parallel(
                    model, src, lengths, prefix, options=options, eos_id=EOS, suppress_ids=[PAD], workers=workers
                )
            return [len(h[0].tokens) + 1 for h in hyps]  # + EOS

        return on_threads(threads, run)

    if "ours" in engines:
        ours = build_ours(hf_model)
        out["s2s fp32"] = run_ours(ours, 1)
        out[f"s2s fp32 {threads}x1"] = run_ours(ours, threads)  # forked worker processes (s2s/decoding/forked.py)
    if "ours-threads" in engines:  # the same workers as threads, which queue for the interpreter lock
        out[f"s2s {threads}x1 threads"] = run_ours(build_ours(hf_model), threads, forks=False)
    if "ours-unpacked" in engines:  # the fp32 weights as stored, multiplied by MKL (s2s/nn/linear.py)
        out["s2s fp32 unpacked"] = run_ours(build_ours(hf_model), 1, packed=False)
    if "ours-bf16" in engines:
        bf16 = build_ours(hf_model).to(torch.bfloat16)
        out["s2s bf16"] = run_ours(bf16, 1)
        out[f"s2s bf16 {threads}x1"] = run_ours(bf16, threads)
        out["s2s bf16 unpacked"] = run_ours(bf16, 1, packed=False)
    if "hf" in engines:
        mask = torch.ones_like(src)

        def run_hf() -> list[int]:
            with torch.inference_mode():
                seqs = hf_model.generate(
                    input_ids=src,
                    attention_mask=mask,
                    num_beams=beam,
                    do_sample=False,
                    min_new_tokens=n,
                    max_new_tokens=n,
                    bad_words_ids=[[PAD]],
                )
            return [len(row) - 1 for row in seqs.tolist()]  # - decoder start

        out[f"Hugging Face 1x{threads}"] = on_threads(threads, run_hf)
    if "ct2" in engines:
        tokens = [[f"tok{i}" if i > 1 else "</s>" for i in row[:-1]] for row in src.tolist()]  # CT2 adds </s>
        for inter, intra in ((1, threads), (threads, 1)):
            translator = build_ct2(hf_model, folder, inter, intra)
            part = -(-len(tokens) // inter)  # one part of the batch per replica

            def run_ct2(translator=translator, part=part) -> list[int]:
                results = translator.translate_batch(
                    tokens, beam_size=beam, min_decoding_length=n, max_decoding_length=n, max_batch_size=part
                )
                return [len(r.hypotheses[0]) for r in results]

            out[f"CTranslate2 {inter}x{intra}"] = run_ct2
    return out


def checkpoint_runners(
    paths: list[Path], batch: int, length: int, n: int, beam: int, threads: int, seed: int
) -> dict[str, Callable[[], list[int]]]:
    """name -> function that decodes ``batch`` random sources with that checkpoint, ``n`` tokens each."""
    from s2s.checkpoint import load_checkpoint
    from s2s.inference.translator import Translator

    out: dict[str, Callable[[], list[int]]] = {}
    options = DecodingOptions(beam_size=beam, min_len=n, max_len_a=0, max_len_b=n)
    for path in paths:
        loaded = load_checkpoint(path)
        tokenizer, model = loaded.tokenizer, loaded.model.eval()
        prefix_ids = Translator(loaded, options=options).prefix
        g = torch.Generator().manual_seed(seed)
        src = torch.randint(4, tokenizer.vocab_size, (batch, length), generator=g)
        src[:, -1] = tokenizer.eos_id
        lengths, prefix = torch.full((batch,), length), torch.tensor([prefix_ids] * batch)
        heads = sum(m.num_heads for m in model.modules() if hasattr(m, "head_mask"))

        def run(model=model, src=src, lengths=lengths, prefix=prefix, tokenizer=tokenizer) -> list[int]:
            hyps = generate_parallel(
                model,
                src,
                lengths,
                prefix,
                options=options,
                eos_id=tokenizer.eos_id,
                suppress_ids=list(tokenizer.never_generated),
                workers=1,
            )
            return [len(h[0].tokens) + 1 for h in hyps]

        out[f"{path.name} ({heads} heads)"] = on_threads(threads, run)
    return out


def main_checkpoints(args) -> None:
    torch.set_num_threads(args.threads)
    print(f"machine: {describe()}")
    print(
        f"batch {args.batch}, source length {args.source_length}, {args.new_tokens} new tokens, "
        f"{args.threads} threads, median of {args.runs} runs after a warm-up"
    )
    for beam in args.beams:
        table = checkpoint_runners(
            args.checkpoints, args.batch, args.source_length, args.new_tokens, beam, args.threads, args.seed
        )
        results = median_times(table, args.runs)
        print(f"\nbeam {beam}" + (" (greedy)" if beam == 1 else ""))
        print(f"| {'checkpoint':<28} | {'time (s)':>8} | {'tokens/s':>8} | {'time / first':>12} |")
        print(f"|{'-' * 30}|{'-' * 10}|{'-' * 10}|{'-' * 14}|")
        first = next(iter(results.values()))[0]
        for name, (seconds, _) in results.items():
            print(
                f"| {name:<28} | {seconds:8.3f} | {args.batch * args.new_tokens / seconds:8.0f} | "
                f"{seconds / first:11.2f}x |"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    engines = ["ours", "ours-threads", "ours-unpacked", "ours-bf16", "hf", "ct2"]
    p.add_argument("--engines", nargs="+", default=engines, choices=engines)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--source-length", type=int, default=12)
    p.add_argument("--new-tokens", type=int, default=32, help="N: exactly this many new tokens (EOS included)")
    p.add_argument("--long", type=int, default=128, help="second N for the s2s length-scaling row (0: skip)")
    p.add_argument("--beams", type=int, nargs="+", default=[5, 1])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--checkpoints",
        type=Path,
        nargs="+",
        default=None,
        help="time s2s on these checkpoints instead (e.g. a model and its pruned copy)",
    )
    args = p.parse_args()
    if args.checkpoints:
        return main_checkpoints(args)
    torch.set_num_threads(args.threads)
    hf_model = build_hf(args.seed)
    src = sources(args.batch, args.source_length, args.seed)
    print(f"machine: {describe()}")
    print(
        f"batch {args.batch}, source length {args.source_length}, {args.new_tokens} new tokens, "
        f"{args.threads} threads, median of {args.runs} runs after a warm-up; "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print(f"WxT = W workers (inter-op) x T threads each; 's2s fp32' and 's2s bf16' are 1x{args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        for beam in args.beams:
            table = runners(args.engines, hf_model, src, args.new_tokens, beam, args.threads, Path(tmp))
            long_rows = {}  # the s2s rows also timed at N = args.long: that row's name -> the row at N = new_tokens
            for engine, row in (("ours", "s2s fp32"), ("ours-bf16", "s2s bf16")):
                if args.long and engine in args.engines:
                    long_rows[f"{row}, N={args.long}"] = row
                    table[f"{row}, N={args.long}"] = runners(
                        [engine], hf_model, src, args.long, beam, args.threads, Path(tmp)
                    )[row]
            results = median_times(table, args.runs)
            long_results = {name: results.pop(name) for name in long_rows}
            print(f"\nbeam {beam}" + (" (greedy)" if beam == 1 else ""))
            print(f"| {'engine':<18} | {'time (s)':>8} | {'tokens/s':>8} | {'time / s2s fp32':>15} | lengths |")
            print(f"|{'-' * 20}|{'-' * 10}|{'-' * 10}|{'-' * 17}|---------|")
            ours = results.get("s2s fp32", (None,))[0]
            for name, (seconds, lengths) in results.items():
                ratio = f"{seconds / ours:.2f}x" if ours else "-"
                tokens = args.batch * args.new_tokens / seconds
                span = f"{min(lengths)}-{max(lengths)}"
                print(f"| {name:<18} | {seconds:8.3f} | {tokens:8.0f} | {ratio:>15} | {span:>7} |")
            for name, (seconds, lengths) in long_results.items():
                short = results[long_rows[name]][0]
                print(
                    f"{long_rows[name]}, {args.long} new tokens: {seconds:.3f} s = {seconds / short:.2f}x the time of "
                    f"{args.new_tokens} (lengths {min(lengths)}-{max(lengths)}; linear would be "
                    f"{args.long / args.new_tokens:.1f}x)"
                )


if __name__ == "__main__":
    main()
