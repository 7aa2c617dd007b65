"""Options and helpers shared by the commands that decode with a checkpoint."""

from __future__ import annotations

import argparse

import torch

from s2s.data.text import utf8_lines  # noqa: F401  (re-exported for the commands)
from s2s.decoding import DecodingOptions

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def add_decoding_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding")
    g.add_argument("--beam", type=int, default=5, help="beam size; 1 = greedy (default 5)")
    g.add_argument("--nbest", type=int, default=1, help="hypotheses per input (<= beam)")
    g.add_argument("--length-penalty", type=float, default=1.0, help="alpha: score / len**alpha (default 1.0)")
    g.add_argument("--max-len-a", type=float, default=1.5, help="max output tokens = a * source tokens + b")
    g.add_argument("--max-len-b", type=int, default=10)
    g.add_argument("--max-tokens", type=int, default=4096, help="padded source tokens per batch (default 4096)")
    g.add_argument("--tgt-lang", default=None, help="target language of a multilingual model")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    g.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="inference precision (default fp32)")


def decoding_options(args: argparse.Namespace) -> DecodingOptions:
    return DecodingOptions(beam_size=args.beam, nbest=args.nbest, length_penalty=args.length_penalty,
                           max_len_a=args.max_len_a, max_len_b=args.max_len_b)


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here")
    return device
