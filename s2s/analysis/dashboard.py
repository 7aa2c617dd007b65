"""W&B and file dashboards: attention heatmaps during validation, and the report as a W&B run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from s2s.analysis.capture import KIND_TITLES, KINDS, capture_attention

if TYPE_CHECKING:
    from s2s.analysis.heads import HeadSummary
    from s2s.analysis.report import ReportFiles


def attention_dir(module) -> Path | None:
    """Where validation heatmaps go: beside the CSV logs, or in the run directory for W&B."""
    logger = module.logger
    if logger is None:
        return None
    if hasattr(logger, "log_image"):  # WandbLogger: files in the run dir, then uploaded as media
        return Path(module.trainer.default_root_dir) / "attention"
    return Path(logger.log_dir) / "attention" if logger.log_dir else None


def labels(tokenizer, ids: torch.Tensor) -> list[str] | None:
    """Piece labels for token ids; None for audio features (float tensors)."""
    if ids.dtype.is_floating_point:
        return None
    return [tokenizer.piece(int(i)) for i in ids]


def log_validation_attention(module, batch, count: int) -> list[Path]:
    """Heatmaps (every layer and head) of the validation examples numbered below ``count`` in ``batch``.

    Teacher-forced on the reference, so the same sentences give comparable pictures every round.
    Each picture is a PNG under the run directory and, with a W&B logger, an image in the run.
    """
    from s2s.analysis.heatmaps import save_grid  # matplotlib only once pictures are drawn

    folder = attention_dir(module)
    rows = [row for row, index in enumerate(batch.indices) if index < count]
    if folder is None or not rows or not module.trainer.is_global_zero:
        return []
    select = torch.tensor(rows, device=batch.source.device)
    source, lengths = batch.source.index_select(0, select), batch.source_lengths.index_select(0, select)
    target_in = batch.target_in.index_select(0, select)
    was_training = module.model.training
    module.model.eval()
    maps = capture_attention(module.model, source, lengths, target_in)
    module.model.train(was_training)
    paths = []
    step = module.global_step
    pad = module.tokenizer.pad_id
    for i, row in enumerate(rows):
        index = batch.indices[row]
        t = int((target_in[i] != pad).sum())
        src_labels = labels(module.tokenizer, source[i, : int(lengths[i])])
        tgt_labels = labels(module.tokenizer, target_in[i, :t])
        axes = {
            "encoder": (src_labels, src_labels),
            "decoder": (tgt_labels, tgt_labels),
            "cross": (tgt_labels, src_labels),
        }
        for kind in KINDS:
            weights = [w.numpy() for w in maps.example(kind, i, t)]
            path = folder / f"step{step:07d}" / f"example{index}-{kind}.png"
            queries, keys = axes[kind]
            save_grid(
                weights,
                path,
                queries=queries,
                keys=keys,
                title=f"validation example {index}, {KIND_TITLES[kind]}, step {step}",
            )
            paths.append(path)
            if hasattr(module.logger, "log_image"):
                module.logger.log_image(key=f"val/attention/example{index}/{kind}", images=[str(path)], step=step)
    return paths


def log_report_to_wandb(
    files: ReportFiles, summaries: Sequence[HeadSummary], *, project: str, name: str, out: Path, config: dict
) -> str:
    """Log ``s2s analyze``'s figures (a table, one row per head) and heatmaps to a new W&B run.

    Offline unless ``WANDB_MODE=online`` (the CLI sets offline by default): ``wandb sync DIR`` uploads.
    Returns the run's local directory.
    """
    import wandb

    measures = sorted({m for s in summaries for m in s.measures})
    columns: list[str | int] = ["attention", "layer", "head", "pattern", "figure", "description", *measures]
    table = wandb.Table(columns=columns)
    for s in summaries:
        table.add_data(
            s.title,
            s.layer,
            s.head,
            s.pattern,
            round(s.figure, 4),
            s.description,
            *[round(s.measures[m], 4) if m in s.measures else None for m in measures],
        )
    run = wandb.init(project=project, name=name, dir=str(out), config=config, job_type="analyze")
    try:
        images = {}
        for s in summaries:
            pictures = [
                wandb.Image(str(out / files.heatmaps[(s.kind, s.layer, s.head, rank)]), caption=f"{s.pattern} {rank}")
                for rank in range(1, len(s.examples) + 1)
            ]
            if pictures:
                images[f"heatmaps/{s.kind}/L{s.layer}-H{s.head}"] = pictures
        run.log({"heads": table, **images})
        for s in summaries:
            run.summary[f"{s.kind}/L{s.layer}-H{s.head}/{s.pattern}"] = round(s.figure, 4)
        run.save(str(files.markdown), base_path=str(out), policy="now")
        run.save(str(files.json), base_path=str(out), policy="now")
        return run.dir
    finally:
        run.finish()
