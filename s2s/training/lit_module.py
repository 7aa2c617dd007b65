"""The LightningModule: loss, optimizer, validation decoding and metrics around a Seq2Seq."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import Timer

from s2s.analysis.dashboard import log_validation_attention
from s2s.analysis.validation_heads import HeadsOverTraining
from s2s.checkpoint import AnyTokenizer, s2s_entry
from s2s.data.batching import Batch
from s2s.decoding import DecodingOptions, generate
from s2s.errors import NonFiniteLossError
from s2s.metrics import task_scores
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.nn.linear import forget_packed
from s2s.training.losses import ctc_loss, sequence_loss
from s2s.training.optim import OptimConfig, build_optimizer
from s2s.training.rdrop import rdrop_loss, stacked_twice

SAMPLE_ROWS = 8  # sample translations shown per validation round


class Seq2SeqModule(pl.LightningModule):
    def __init__(
        self,
        *,
        model_config: ModelConfig,
        tokenizer: AnyTokenizer,
        optim: OptimConfig,
        decoding: DecodingOptions,
        info: CheckpointInfo,
        label_smoothing: float = 0.1,
        attention_examples: int = 0,
        max_nonfinite_steps: int = 10,
        ctc_weight: float = 0.0,
        rdrop_alpha: float = 0.0,
        head_report_batches: int = 0,
    ) -> None:
        super().__init__()
        if max_nonfinite_steps < 1:
            raise ValueError(f"max_nonfinite_steps must be >= 1, got {max_nonfinite_steps}")
        self.model = Seq2Seq(model_config)
        self.tokenizer, self.optim, self.decoding, self.info = tokenizer, optim, decoding, info
        self.label_smoothing = label_smoothing
        self.attention_examples = attention_examples  # validation examples 0..n-1 get attention heatmaps
        self.heads_over_training = HeadsOverTraining(head_report_batches)  # roles and importance every round
        if ctc_weight and not model_config.ctc:
            raise ValueError(f"task.ctc_weight={ctc_weight} needs a CTC head: set model.ctc=true")
        if not 0.0 <= ctc_weight < 1.0:
            raise ValueError(f"task.ctc_weight must be in [0, 1), got {ctc_weight}")
        self.ctc_weight = ctc_weight
        if rdrop_alpha < 0:
            raise ValueError(f"task.rdrop_alpha must be >= 0, got {rdrop_alpha}")
        self.rdrop_alpha = rdrop_alpha  # > 0: R-Drop training (s2s/training/rdrop.py)
        self.validation_outputs: list[tuple[int, str]] = []
        self.validation_losses: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}  # batch -> sum, tokens
        self.max_nonfinite_steps = max_nonfinite_steps
        self.nonfinite_skipped = 0  # updates skipped for a non-finite loss or gradient, this run
        self.nonfinite_in_a_row = 0

    # ----- training -------------------------------------------------------------------------
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's loss (a mean per target token, as trained) and its target tokens; logs the loss's parts."""
        if self.rdrop_alpha:  # R-Drop: the batch twice over in one forward, each copy with dropout masks of its own
            batch = stacked_twice(batch)
        encoded = self.model.encode(batch.source, batch.source_lengths)
        if self.rdrop_alpha:
            loss, kl, tokens = rdrop_loss(
                self.model,
                batch,
                pad_id=self.tokenizer.pad_id,
                smoothing=self.label_smoothing,
                alpha=self.rdrop_alpha,
                encoded=encoded,
            )
            self.log("train/rdrop_kl", kl, batch_size=int(tokens))
        else:
            total, tokens = sequence_loss(
                self.model, batch, pad_id=self.tokenizer.pad_id, smoothing=self.label_smoothing, encoded=encoded
            )
            loss = total / tokens.clamp(min=1)
        if self.ctc_weight:  # hybrid CTC/attention training (under R-Drop, over both copies)
            ctc_total, ctc_tokens = ctc_loss(
                self.model.ctc_log_probs(encoded.memory), encoded.lengths, batch, blank=self.tokenizer.pad_id
            )
            ctc = ctc_total / ctc_tokens.clamp(min=1)
            self.log("train/ctc_loss", ctc, batch_size=int(tokens))
            self.log("train/att_loss", loss, batch_size=int(tokens))
            loss = (1 - self.ctc_weight) * loss + self.ctc_weight * ctc
        return loss, tokens

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        loss, tokens = self.training_loss(batch)
        # Every rank must agree, or DDP would wait forever for the gradients of the rank that skipped.
        if not self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True):
            self.skip_nonfinite(f"loss {loss.item()}")
            return None  # Lightning then runs no backward and leaves the weights untouched
        self.log("train/loss", loss, prog_bar=True, batch_size=int(tokens))
        self.log("train/tokens", tokens.float(), reduce_fx="sum", batch_size=1)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """A finite loss can still overflow in backward: drop such gradients so the step changes nothing.

        Under DDP the gradients are already averaged over ranks here, so every rank decides alike.
        Under fp16 the grad scaler skips overflowing steps itself and is left to do so.
        """
        if self.uses_grad_scaler:
            return
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not grads:  # training_step skipped this batch
            return
        if torch.isfinite(torch.stack([g.detach().float().norm() for g in grads]).sum()):
            self.nonfinite_in_a_row = 0
            return
        for p in self.parameters():
            p.grad = None  # the optimizer skips parameters without a gradient
        self.skip_nonfinite("gradient")

    def skip_nonfinite(self, what: str) -> None:
        self.nonfinite_skipped += 1
        self.nonfinite_in_a_row += 1
        self.log("train/nonfinite_skipped", float(self.nonfinite_skipped), reduce_fx="max", batch_size=1)
        if self.trainer.is_global_zero:
            print(
                f"warning: step {self.global_step}: non-finite {what}; update skipped "
                f"({self.nonfinite_in_a_row} in a row, {self.nonfinite_skipped} this run)",
                file=sys.stderr,
            )
        if self.nonfinite_in_a_row >= self.max_nonfinite_steps:
            raise NonFiniteLossError(
                f"training stopped at step {self.global_step}: the loss or its gradient was non-finite for "
                f"{self.nonfinite_in_a_row} steps in a row (max_nonfinite_steps={self.max_nonfinite_steps}); "
                "lower optim.lr, raise optim.warmup_steps, or use trainer.precision=32-true"
            )

    def configure_optimizers(self):
        time_spent = time_budget_spent(self.trainer) if self.optim.schedule == "cosine_time" else None
        optimizer, scheduler = build_optimizer(
            self.model, self.optim, fused=not self.uses_grad_scaler, time_spent=time_spent
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def uses_grad_scaler(self) -> bool:
        return str(self.trainer.precision).startswith("16")

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Clip directly: Lightning refuses fused optimizers here because, with a GradScaler, they
        unscale internally; we use fused AdamW only without a scaler, so gradients are true ones."""
        if not gradient_clip_val:
            return
        if self.uses_grad_scaler:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        elif gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(self.parameters(), gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)

    # ----- validation -----------------------------------------------------------------------
    def translate_batch(self, batch: Batch, options: DecodingOptions | None = None) -> list[str]:
        options = options or self.decoding
        hypotheses = generate(
            self.model,
            batch.source,
            batch.source_lengths,
            batch.prefix,
            options=options,
            eos_id=self.tokenizer.eos_id,
            suppress_ids=list(self.tokenizer.never_generated),
            suppress_at_start=list(self.tokenizer.never_first),
        )
        return [self.tokenizer.decode(hyps[0].tokens) for hyps in hypotheses]

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        total, tokens = sequence_loss(self.model, batch, pad_id=self.tokenizer.pad_id, smoothing=0.0)
        self.validation_losses[tuple(batch.indices)] = (total.detach(), tokens)
        if self.decoding is not None:
            self.validation_outputs += zip(batch.indices, self.translate_batch(batch))
        if self.attention_examples:
            log_validation_attention(self, batch, self.attention_examples)
        self.heads_over_training.add(self, batch, batch_idx)

    def on_validation_epoch_start(self) -> None:
        self.validation_outputs, self.validation_losses = [], {}
        self.heads_over_training.reset()
        forget_packed(self.model)  # the optimizer changed the weights since the last round, unseen by their cache

    def on_validation_epoch_end(self) -> None:
        """``val/loss`` and the task's scores over the validation set, each example counted once.

        Under DDP every rank gets the same number of batches: the last rank's share is topped up
        with batches other ranks already had (``TokenBudgetBatchSampler``, ``pad``). Every rank
        gathers all ranks' losses and outputs and keeps one per batch and per example, so all
        ranks log the same figures and none counts a repeated batch twice.
        """
        if self.validation_losses:  # (sum, tokens) per batch, fetched from the device at once
            sums = torch.stack(
                [torch.stack([total.float(), tokens.float()]) for total, tokens in self.validation_losses.values()]
            ).tolist()
            losses = dict(gather_from_ranks(list(zip(self.validation_losses, sums))))  # a repeated batch: one entry
            total, tokens = (sum(column) for column in zip(*losses.values()))
            self.log("val/loss", total / tokens, sync_dist=False)
        self.heads_over_training.log(self)
        if not self.validation_outputs:
            return
        dataset = self.trainer.datamodule.valid_dataset  # type: ignore[attr-defined]  # Lightning sets it at fit
        by_index = dict(gather_from_ranks(self.validation_outputs))  # one output per example
        indices = sorted(by_index)
        hypotheses = [by_index[i] for i in indices]
        references = [dataset[i].reference for i in indices]
        scores = task_scores(self.info.task, hypotheses, references)
        for i, name in enumerate(name for name in ("bleu", "chrf", "wer", "cer") if name in scores):
            self.log(f"val/{name}", float(scores[name]), prog_bar=i == 0, rank_zero_only=True, sync_dist=False)
        if self.trainer.is_global_zero:
            rows = [[dataset[i].source_text, dataset[i].reference, by_index[i]] for i in indices[:SAMPLE_ROWS]]
            self.log_samples(rows)

    def log_samples(self, rows: list[list[str]]) -> None:
        """Sample translations: a W&B table, or a TSV file beside the CSV logs."""
        columns = ["source", "reference", "hypothesis"]
        logger = self.logger
        if logger is None:
            return
        if hasattr(logger, "log_table"):  # WandbLogger
            logger.log_table(key="val/samples", columns=columns, data=rows, step=self.global_step)
        elif logger.log_dir:
            path = Path(logger.log_dir) / "samples" / f"step{self.global_step:07d}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join("\t".join(r) for r in [columns, *rows]) + "\n", encoding="utf-8")

    # ----- checkpoints ----------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Make every training checkpoint self-contained and loadable with ``weights_only=True``."""
        info = dataclasses.replace(self.info, step=self.global_step)
        checkpoint["s2s"] = s2s_entry(self.model.config, self.tokenizer, info)


def gather_from_ranks(items: list) -> list:
    """``items`` of every DDP rank, in rank order (this process's alone when there is no process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return items
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part]


def time_budget_spent(trainer: pl.Trainer) -> Callable[[], float] | None:
    """The fraction of ``trainer.max_time`` used so far (validation included, restored on resume); None without one.

    With several processes (DDP) each would read its own clock and give its replica a slightly
    different learning rate, so the replicas would drift apart: every process takes rank 0's
    fraction instead (one small broadcast per optimizer step, which every rank makes together).
    """
    callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning's callback connector
    timers = [c for c in callbacks if isinstance(c, Timer) and c.time_remaining() is not None]
    if not timers:
        return None
    timer = timers[0]

    def spent() -> float:
        elapsed, remaining = timer.time_elapsed(), timer.time_remaining()
        assert remaining is not None  # a timer with a duration (the filter above)
        fraction = elapsed / (elapsed + remaining)
        return trainer.strategy.broadcast(fraction, src=0) if trainer.world_size > 1 else fraction

    return spent
