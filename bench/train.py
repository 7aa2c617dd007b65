"""Training-step throughput: s2s vs Hugging Face MarianMTModel, same size, same real batches.

    python bench/train.py --data data/multi30k [--steps 20] [--threads 2] [--precisions fp32]

Both models: d_model 256, 4+4 layers, 4 heads, FFN 1024, shared 8k vocabulary, dropout 0.1,
pre-LN for ours (post-LN for Marian; the cost is the same). Each step is forward + label-smoothed
loss + backward + AdamW update on one real Multi30k batch (token budget 4096). The engines
alternate batch by batch in one process; we report the median target tokens per second over
the timed steps (after warm-up), in fp32 and under bf16 autocast. Both use fused AdamW and
compute the loss over labelled positions only. s2s also applies Wu to those positions only,
backpropagates the label-smoothed loss in one pass (Marian: PyTorch's ``F.cross_entropy``) and,
in bf16, runs the attention kernel in fp32 (its bf16 backward is slow on CPUs). Also prints the
batch sampler's padding efficiency on the whole training set.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from machine import describe  # bench/machine.py

from s2s.data.batching import TokenBudgetBatchSampler, collate
from s2s.data.text.corpus import TranslationDataset
from s2s.data.text.tokenizer import Tokenizer
from s2s.model.config import ModelConfig
from s2s.model.seq2seq import Seq2Seq
from s2s.training.losses import sequence_loss
from s2s.training.optim import OptimConfig, build_optimizer

D, LAYERS, HEADS, FFN = 256, 4, 4, 1024


def our_model(vocab: int) -> torch.nn.Module:
    return Seq2Seq(
        ModelConfig(
            vocab_size=vocab,
            pad_id=0,
            d_model=D,
            num_heads=HEADS,
            encoder_layers=LAYERS,
            decoder_layers=LAYERS,
            ffn_dim=FFN,
            dropout=0.1,
            max_positions=512,
        )
    )


def hf_model(vocab: int) -> torch.nn.Module:
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(
        vocab_size=vocab,
        d_model=D,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN,
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=3,
        decoder_start_token_id=2,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation_function="relu",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
    )
    return MarianMTModel(config)


def our_loss(model, batch):
    return sequence_loss(model, batch, pad_id=0, smoothing=0.1)


def hf_loss(model, batch):
    """Marian's logits at every position, then PyTorch's label-smoothed cross-entropy over the labelled ones
    (what a Hugging Face user runs; s2s computes the same loss with its own backward, s2s.training.label_smoothing)."""
    logits = model(
        input_ids=batch.source,
        attention_mask=batch.source != 0,
        decoder_input_ids=batch.target_in,
        decoder_attention_mask=batch.target_in != 0,
    ).logits  # (B, T, V)
    trained = batch.target_out != 0
    loss = F.cross_entropy(logits[trained].float(), batch.target_out[trained], label_smoothing=0.1, reduction="sum")
    return loss, trained.sum()


def step(model, loss_fn, optimizer, batch, dtype) -> float:
    """One training step (forward, loss, backward, AdamW update); returns seconds."""
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        total, tokens = loss_fn(model, batch)
    (total / tokens).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/multi30k"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "bf16"],
        default=["fp32", "bf16"],
        help="bf16 is emulated, and slow, on CPUs without AVX-512: `--precisions fp32` skips it",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"machine: {describe()}")

    tokenizer = Tokenizer.from_file(args.data / "spm.model")
    dataset = TranslationDataset.from_files(
        tokenizer, [(args.data / "train.en", args.data / "train.de", "de")], max_length=256
    )
    sampler = TokenBudgetBatchSampler(dataset.lengths(), max_tokens=args.max_tokens, shuffle=True, seed=0)
    print(
        f"padding efficiency at max_tokens={args.max_tokens}: {sampler.padding_efficiency():.1%} "
        f"(real tokens / padded slots over {len(sampler)} batches)"
    )
    batches = [
        collate([dataset[i] for i in b], b, pad_id=0, eos_id=3) for b in list(sampler)[: args.warmup + args.steps]
    ]
    vocab = tokenizer.vocab_size

    print(f"\ntraining steps/s on {args.steps} real batches, {args.threads} threads, median target tokens/s")
    print(f"{'precision':<10} {'s2s':>10} {'HF Marian':>10} {'ratio':>7}")
    for dtype in args.precisions:
        engines = {"s2s": (our_model(vocab), our_loss), "hf": (hf_model(vocab), hf_loss)}
        # Both use fused AdamW: ours through s2s.training.optim, Marian as the HF Trainer's default (adamw_torch_fused).
        optimizers = {
            "s2s": build_optimizer(engines["s2s"][0], OptimConfig(lr=1e-4))[0],
            "hf": torch.optim.AdamW(engines["hf"][0].parameters(), lr=1e-4, fused=True),
        }
        rates: dict[str, list[float]] = {name: [] for name in engines}
        for i, batch in enumerate(batches):
            for name, (model, loss_fn) in engines.items():
                model.train()
                seconds = step(model, loss_fn, optimizers[name], batch, dtype)
                if i >= args.warmup:
                    rates[name].append(int((batch.target_out != 0).sum()) / seconds)
        ours, theirs = statistics.median(rates["s2s"]), statistics.median(rates["hf"])
        print(f"{dtype:<10} {ours:>10.0f} {theirs:>10.0f} {ours / theirs:>6.2f}x")


if __name__ == "__main__":
    main()
