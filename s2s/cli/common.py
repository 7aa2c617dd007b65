"""Options and helpers shared by the commands that decode with a checkpoint."""

from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

import torch

from s2s.checkpoint import LoadedModel
from s2s.decoding import DecodingOptions
from s2s.inference.decoding_defaults import DTYPES, layered_options
from s2s.training.precision import cpu_has_fast_bf16, slow_bf16_reason


def add_decoding_arguments(p: argparse.ArgumentParser) -> None:
    """The decoding flags. Each defaults to None: unset, a field comes from the checkpoint's
    ``default_decoding`` (its run's test decoding), else from :func:`built_in_defaults`."""
    g = p.add_argument_group("decoding (unset: the checkpoint's own decoding, else the default named)")
    g.add_argument("--beam", type=int, default=None, help="beam size; 1 = greedy (default 5; 1 with --sample)")
    g.add_argument("--nbest", type=int, default=None, help="hypotheses per input (<= beam; default 1)")
    g.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="alpha: hypotheses are ranked by logprob / lp(len), len counting EOS (default 1.0)",
    )
    g.add_argument(
        "--length-penalty-style",
        choices=["plain", "gnmt"],
        default=None,
        help="lp(len) = len**alpha (plain: fairseq, Hugging Face; default) or ((5+len)/6)**alpha (gnmt)",
    )
    g.add_argument(
        "--max-len-a",
        type=float,
        default=None,
        help="max output tokens = a * source positions + b (default 1.5 for text, 0.5 for speech)",
    )
    g.add_argument("--max-len-b", type=int, default=None, help="(default 10 for text, 5 for speech)")
    g.add_argument("--min-len", type=int, default=None, help="no EOS before this many tokens (EOS included)")
    g.add_argument("--no-repeat-ngram", type=int, default=None, help="never repeat an n-gram of this size (0: off)")
    g.add_argument(
        "--ctc-weight",
        type=float,
        default=None,
        help="speech: joint CTC/attention weight (default 0.3 with a CTC head, else 0)",
    )
    g.add_argument("--sample", action="store_true", help="sample instead of searching (beam 1)")
    g.add_argument("--temperature", type=float, default=None, help="sampling temperature (default 1.0)")
    g.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens (0: all)")
    g.add_argument("--top-p", type=float, default=None, help="sample within this probability mass (1: all)")
    g.add_argument("--seed", type=int, default=None, help="random seed for --sample (reproducible output)")
    g.add_argument("--prefix", default=None, help="text models: force the output to start with this text")
    g.add_argument(
        "--max-tokens", type=int, default=4096, help="text models: padded source tokens per batch (default 4096)"
    )
    g.add_argument("--tgt-lang", default=None, help="target language of a multilingual model")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    g.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="fp32",
        help="inference precision: bf16 is faster on CPUs with AMX/AVX512-BF16 (default fp32)",
    )
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CPU: decode each batch with this many single-threaded workers (default 1)",
    )
    g.add_argument(
        "--mask-heads",
        default=None,
        metavar="HEADS",
        help="switch these attention heads off, e.g. encoder:1:2,cross:3:4 (kind:layer:head, from 1)",
    )


FLAGS = {
    "beam": "beam_size",
    "nbest": "nbest",
    "length_penalty": "length_penalty",
    "length_penalty_style": "length_penalty_style",
    "max_len_a": "max_len_a",
    "max_len_b": "max_len_b",
    "min_len": "min_len",
    "no_repeat_ngram": "no_repeat_ngram",
    "ctc_weight": "ctc_weight",
    "temperature": "temperature",
    "top_k": "top_k",
    "top_p": "top_p",
    "seed": "seed",
}  # flag -> field


def decoding_options(args: argparse.Namespace | SimpleNamespace, loaded: LoadedModel) -> DecodingOptions:
    """The flags given, over the checkpoint's own decoding (``inference.decoding_defaults``)."""
    given = {field: getattr(args, flag) for flag, field in FLAGS.items() if getattr(args, flag) is not None}
    if args.sample:
        given["sampling"] = True
    return layered_options(loaded, given)


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here")
    return device


def decoding_dtype(options: argparse.Namespace) -> torch.dtype:
    """``--dtype`` as a torch dtype. bf16 on a CPU without native bf16 runs as asked, with a warning."""
    if options.dtype == "bf16" and options.device.startswith("cpu") and not cpu_has_fast_bf16():
        print(
            f"warning: --dtype bf16: {slow_bf16_reason()}; bf16 is emulated here and decodes slower than "
            f"fp32 (bench/decode.py)",
            file=sys.stderr,
        )
    return DTYPES[options.dtype]


def refuse_text_only_options(options: argparse.Namespace) -> None:
    """Speech decoding writes one text per input, with no forced text prefix: say so rather than ignore them."""
    if options.prefix is not None:
        raise ValueError("--prefix applies to text models only (s2s translate, s2s evaluate --src)")
    if options.nbest is not None and options.nbest > 1:
        raise ValueError("--nbest applies to text models only (s2s translate, s2s evaluate --src)")


def apply_head_mask(model, options: argparse.Namespace) -> list[str]:
    """``--mask-heads``: mask those heads of ``model`` for the whole command; returns their names."""
    if not getattr(options, "mask_heads", None):
        return []
    from s2s.model.head_mask import parse_heads, set_head_mask

    heads = parse_heads(options.mask_heads, model)
    set_head_mask(model, heads)
    return [str(h) for h in heads]
