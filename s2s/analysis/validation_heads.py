"""Heads over training: every validation round, each head's role and importance as one small table.

On the first ``batches`` validation batches (``head_report_batches``, default 2; 0 turns it off)
the round measures, teacher-forced on the references, each head's pattern (the report's rules,
on at most ``MAX_EXAMPLES`` sentences) and Michel et al.'s gradient importance (one backward pass
per batch, through the head masks only). The table, one row per head, goes to W&B as
``val/heads`` (or ``heads/step….tsv`` beside CSV logs), so a user can watch heads specialize.
"""

from __future__ import annotations

from pathlib import Path

from s2s.analysis.capture import KINDS, capture_attention
from s2s.analysis.collect import ExampleAttention
from s2s.analysis.heads import summarize
from s2s.analysis.importance import gradient_importance
from s2s.analysis.inputs import Axis, token_axis
from s2s.analysis.measures import CONFIDENCE
from s2s.data.speech.audio import FRAMES_PER_SECOND

MAX_EXAMPLES = 32  # sentences per round whose attention is measured: the measures cost numpy time per sentence
COLUMNS = ["head", "attention", "layer", "role", "figure", "confidence", "gradient"]


def batch_examples(model, tokenizer, batch, limit: int) -> list[ExampleAttention]:
    """The first ``limit`` examples of a validation batch, with every attention map, teacher-forced."""
    rows = min(limit, batch.source.shape[0])
    source, lengths, target_in = batch.source[:rows], batch.source_lengths[:rows], batch.target_in[:rows]
    maps = capture_attention(model, source, lengths, target_in)
    audio = source.dtype.is_floating_point
    seconds = model.config.subsampling / FRAMES_PER_SECOND
    examples = []
    for i in range(rows):
        t = int((target_in[i] != tokenizer.pad_id).sum())
        s = int(maps.memory_lengths[i])
        source_axis = Axis.frames(s, seconds) if audio else token_axis(tokenizer, source[i, :s].tolist(), eos=s - 1)
        weights = {kind: [w.numpy() for w in maps.example(kind, i, t)] for kind in KINDS}
        examples.append(
            ExampleAttention(
                "",
                "",
                source_axis,
                token_axis(tokenizer, target_in[i, :t].tolist()),
                int(batch.prefix.shape[1]),
                weights,
            )
        )
    return examples


class HeadsOverTraining:
    """Collects one validation round's measurements; ``log`` writes the table at the round's end."""

    def __init__(self, batches: int = 2) -> None:
        if batches < 0:
            raise ValueError(f"head_report_batches must be >= 0, got {batches}")
        self.batches = batches
        self.reset()

    def reset(self) -> None:
        self.examples: list[ExampleAttention] = []
        self.gradients: dict[str, float] = {}
        self.seen = 0

    def add(self, module, batch, batch_idx: int) -> None:
        if batch_idx >= self.batches or not module.trainer.is_global_zero:
            return
        model, tokenizer = module.model, module.tokenizer
        self.examples += batch_examples(model, tokenizer, batch, MAX_EXAMPLES - len(self.examples))
        for head, value in gradient_importance(model, [batch], tokenizer.pad_id).items():
            self.gradients[str(head)] = self.gradients.get(str(head), 0.0) + value
        self.seen += 1

    def rows(self) -> list[list]:
        if not self.examples:
            return []
        rows = []
        for s in summarize(self.examples, top=0):
            gradient = self.gradients.get(s.name, 0.0) / max(self.seen, 1)
            rows.append(
                [
                    s.name,
                    s.title,
                    s.layer,
                    s.role,
                    round(s.figure, 4),
                    round(s.measures.get(CONFIDENCE, 0.0), 4),
                    round(gradient, 6),
                ]
            )
        return rows

    def log(self, module) -> list[list]:
        rows = self.rows()
        logger = module.logger
        if rows and logger is not None:
            if hasattr(logger, "log_table"):  # WandbLogger
                logger.log_table(key="val/heads", columns=COLUMNS, data=rows, step=module.global_step)
            elif logger.log_dir:
                path = Path(logger.log_dir) / "heads" / f"step{module.global_step:07d}.tsv"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join("\t".join(map(str, r)) for r in [COLUMNS, *rows]) + "\n", encoding="utf-8")
        self.reset()
        return rows
