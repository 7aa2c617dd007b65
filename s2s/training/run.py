"""``s2s train``: build everything from the Hydra config and run Lightning."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any, Literal, cast

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, Timer
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from s2s.checkpoint import export_checkpoint, load_checkpoint, read_checkpoint
from s2s.data.speech.audio import FeatureStats
from s2s.decoding import DecodingOptions
from s2s.errors import ConfigError, NonFiniteLossError
from s2s.inference.evaluation import evaluate_speech, evaluate_translation
from s2s.model.audio_encoder import AudioEncoder
from s2s.model.info import CheckpointInfo
from s2s.model.text_encoder import TextEncoder
from s2s.nn.word_vectors import init_from_vectors
from s2s.training.checkpoint_io import AtomicCheckpointIO
from s2s.training.init_from import adjusted_config, carried_info, start_from
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import NO_TIME_LIMIT
from s2s.training.precision import training_precision
from s2s.training.resume import RNGStateCallback
from s2s.training.warm_start import warm_start

console = Console(stderr=True)
# Lightning warns that a mid-epoch resume repeats data unless the DataLoader is stateful; ours resumes
# exactly through ResumableDataModule.state_dict (position in the epoch) and RNGStateCallback.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")


def build_callbacks(cfg: DictConfig, run_dir: Path) -> list[pl.Callback]:
    # The best checkpoints by the task's validation metric (BLEU or WER), and last.ckpt, after every validation round.
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="best-{step}",
        monitor=cfg.checkpoint.monitor,
        mode=cfg.checkpoint.mode,
        save_top_k=cfg.checkpoint.save_top_k,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    callbacks: list[pl.Callback] = [checkpoint, RNGStateCallback()]
    if cfg.checkpoint.every_n_train_steps:
        # ... and last.ckpt also every N optimizer steps, so a crash loses at most N steps of work.
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="last",
                monitor=None,
                save_top_k=1,
                every_n_train_steps=cfg.checkpoint.every_n_train_steps,
                enable_version_counter=False,
            )
        )
    if cfg.checkpoint.keep_last:  # the newest N validation-round checkpoints, for `s2s average --last N`
        callbacks.append(
            ModelCheckpoint(
                dirpath=run_dir / "checkpoints",
                filename="step-{step}",
                monitor="step",
                mode="max",
                save_top_k=cfg.checkpoint.keep_last,
                auto_insert_metric_name=False,
            )
        )
    if cfg.logger:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if cfg.early_stopping_patience:
        callbacks.append(
            EarlyStopping(
                monitor=cfg.checkpoint.monitor, mode=cfg.checkpoint.mode, patience=cfg.early_stopping_patience
            )
        )
    return callbacks


def resolve_resume(resume: str | None, run_dir: Path) -> str | None:
    """``last``: this run directory's last.ckpt; ``auto``: the same if it exists, else a fresh start
    (for jobs a cluster may requeue); anything else: a checkpoint path."""
    if resume is None:
        return None
    if resume == "auto":
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            return None
        resume = "last"
    path = run_dir / "checkpoints" / "last.ckpt" if resume == "last" else Path(resume)
    if not path.is_file():
        hint = " (resume=last needs the same hydra.run.dir as the interrupted run)" if resume == "last" else ""
        raise ConfigError(f"resume checkpoint not found: {path}{hint}")
    data = read_checkpoint(path)  # refuses truncated files and pickles that would run code, in one line
    if "optimizer_states" not in data:
        raise ConfigError(f"{path} holds weights only (an export such as model.pt): resume needs a training .ckpt")
    return str(path)


def unfinished_anneal_note(trainer: pl.Trainer, schedule: str, peak_lr: float) -> str | None:
    """Why a ``cosine_time`` run ended with its learning rate far from zero, or None if it annealed.

    The schedule reaches zero when ``trainer.max_time`` runs out; an epoch or step cap that comes
    first (a faster machine than the recipe was tuned on) ends the run half-annealed.
    """
    if schedule != "cosine_time" or trainer.interrupted or not trainer.optimizers:
        return None
    if any(isinstance(c, Timer) and (c.time_remaining() or 0) <= 0 for c in trainer.callbacks):  # type: ignore[attr-defined]
        return None  # the time ran out: the schedule reached its end
    factor = trainer.optimizers[0].param_groups[0]["lr"] / peak_lr
    if factor < 0.05:  # annealed (the last update's rate is that of the time spent when it was made)
        return None
    if trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs:
        reason = f"trainer.max_epochs={trainer.max_epochs} was reached"
    elif trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        reason = f"trainer.max_steps={trainer.max_steps} was reached"
    else:
        reason = "early stopping ended it"
    return (
        f"the run stopped at update {trainer.global_step} before trainer.max_time ran out ({reason}), so "
        f"optim.schedule=cosine_time left the learning rate at {factor:.0%} of its peak instead of zero: "
        f"lift that limit (trainer.max_epochs=-1 is no limit), or use optim.schedule=cosine optim.decay_steps=N"
    )


def train(cfg: DictConfig) -> Path:
    """Train, export ``model.pt`` (the best checkpoint by the task's validation metric) and report test scores."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if cfg.optim.schedule == "cosine_time" and not cfg.trainer.get("max_time"):
        raise ConfigError(NO_TIME_LIMIT)  # before the data is read
    # The precision actually used goes into the config, so that the checkpoint and the logger record it.
    cfg.trainer.precision, note = training_precision(
        cfg.trainer.precision, cfg.trainer.accelerator, fallback=cfg.cpu_bf16_fallback
    )
    if note:
        console.print(f"[yellow]note[/] {note}", soft_wrap=True)  # one line, whatever the width
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    speech = hasattr(datamodule, "feature_stats")
    pretrained = load_checkpoint(cfg.init.checkpoint) if cfg.init.checkpoint else None
    if pretrained is not None:  # fine-tuning: the checkpoint's architecture, tokenizer and features
        tokenizer = pretrained.tokenizer
        model_config = adjusted_config(pretrained.model.config, dict(cfg.init.model))
        if speech and model_config.encoder == "audio":
            encoder = pretrained.model.encoder
            assert isinstance(encoder, AudioEncoder)  # the architecture, encoder included, is the checkpoint's
            datamodule.adopt(
                tokenizer,
                model_config.features,
                model_config.feature_dim,
                FeatureStats(encoder.feature_mean.tolist(), encoder.feature_std.tolist(), 0),
            )
    else:
        tokenizer = datamodule.tokenizer
        model_config = instantiate(cfg.model, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    test_options = dataclasses.replace(instantiate(cfg.decode), **(cfg.test_decode or {}))  # null: as validation
    info = CheckpointInfo(
        task=cfg.task.name,
        task_tag=cfg.data.get("task", cfg.task.tag),
        src_lang=cfg.data.src_lang,
        tgt_langs=tuple(cfg.data.tgt_langs),
        config=cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)),
        pad_seconds=cfg.data.get("pad_seconds") if speech else None,  # the transcriber reads
        default_decoding=dataclasses.asdict(test_options),  # audio the same way
        **(carried_info(pretrained) if pretrained is not None else {}),
    )
    module = Seq2SeqModule(
        model_config=model_config,
        tokenizer=tokenizer,
        optim=instantiate(cfg.optim),
        decoding=instantiate(cfg.decode),
        info=info,
        label_smoothing=cfg.task.label_smoothing,
        attention_examples=cfg.attention_examples,
        max_nonfinite_steps=cfg.max_nonfinite_steps,
        ctc_weight=cfg.task.ctc_weight,
        rdrop_alpha=cfg.task.get("rdrop_alpha", 0.0),
        head_report_batches=cfg.get("head_report_batches", 0),
    )
    if speech != (model_config.encoder == "audio"):
        raise ConfigError(
            f"data {cfg.data._target_.rsplit('.', 1)[-1]} needs model.encoder="
            f"{'audio' if speech else 'text'} (got {model_config.encoder!r})"
        )
    if pretrained is not None:
        console.print(start_from(module.model, pretrained, list(cfg.init.freeze)))
    elif speech:  # global mean/variance normalization: the statistics become model buffers
        assert isinstance(module.model.encoder, AudioEncoder)  # speech data has an audio encoder (checked above)
        module.model.encoder.set_feature_stats(datamodule.feature_stats.mean, datamodule.feature_stats.std)
    if cfg.warm_start.checkpoint:
        console.print(warm_start(module.model, cfg.warm_start.checkpoint, list(cfg.warm_start.parts)))
    if cfg.embedding.pretrained:
        embeddings = [module.model.decoder.embedding.tokens]
        if not speech:  # an audio encoder has no token embedding
            assert isinstance(module.model.encoder, TextEncoder)  # text data has a text encoder (checked above)
            embeddings.insert(0, module.model.encoder.embedding.tokens)
        coverage = init_from_vectors(embeddings, tokenizer, cfg.embedding.pretrained, freeze=cfg.embedding.freeze)
        console.print(coverage.summary() + ("; those rows are frozen" if cfg.embedding.freeze else ""))
    logger: Logger | Literal[False] = instantiate(cfg.logger) if cfg.logger else False
    if logger:
        logger.log_hyperparams(info.config)
    # Subword sampling segments the training set anew each epoch, in a new loader.
    reload = {"reload_dataloaders_every_n_epochs": 1} if cfg.data.get("subword_alpha") is not None else {}
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=build_callbacks(cfg, run_dir),
        default_root_dir=str(run_dir),
        plugins=[AtomicCheckpointIO()],
        **reload,
    )
    console.print(f"[bold]run directory[/] {run_dir}  ·  model {module.model.num_parameters() / 1e6:.1f}M parameters")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_resume(cfg.resume, run_dir), weights_only=True)
    except NonFiniteLossError as error:
        last = run_dir / "checkpoints" / "last.ckpt"
        raise NonFiniteLossError(
            f"{error}. Checkpoints were not touched; the last good one is "
            f"{last if last.is_file() else 'not there: none was saved yet'}"
        ) from None
    if not trainer.is_global_zero:
        return run_dir
    if note := unfinished_anneal_note(trainer, cfg.optim.schedule, cfg.optim.lr):
        console.print(f"[yellow]note[/] {note}", soft_wrap=True)
    checkpoints = trainer.checkpoint_callback
    assert isinstance(checkpoints, ModelCheckpoint)  # build_callbacks adds one
    best = checkpoints.best_model_path or checkpoints.last_model_path
    loaded = load_checkpoint(best)
    export_checkpoint(loaded.model, loaded.tokenizer, loaded.info, run_dir / "model.pt")
    console.print(f"[green]exported[/] {run_dir / 'model.pt'} (from {Path(best).name})")
    if cfg.test_after_training:
        if speech:
            for manifest in datamodule.test_manifests():
                score_test_manifest(loaded, manifest, test_options, cfg, logger)
            return run_dir
        for source, reference, lang in datamodule.split_files("test"):
            if source.is_file() and reference.is_file():
                scores = evaluate_translation(loaded, source, reference, options=test_options, target_lang=lang)
                console.print(
                    f"[bold]test {cfg.data.src_lang}->{lang}[/] BLEU {scores['bleu']:.2f}  chrF {scores['chrf']:.2f}"
                    f"  TER {scores['ter']:.2f}  ({scores['bleu_signature']})"
                )
                if logger:
                    logger.log_metrics({f"test/{lang}/bleu": scores["bleu"], f"test/{lang}/chrf": scores["chrf"]})
    return run_dir


def score_test_manifest(loaded, manifest: Path, options: DecodingOptions, cfg: DictConfig, logger) -> None:
    """Score a test manifest: WER/CER for transcripts, BLEU for translations."""
    scores = evaluate_speech(loaded, manifest, options=options)
    summary = "  ".join(f"{k.upper()} {scores[k]:.2f}" for k in ("wer", "cer", "bleu", "chrf") if k in scores)
    console.print(
        f"[bold]test {manifest.name}[/] {summary}  ({scores['utterances']} utterances, beam "
        f"{options.beam_size}, ctc weight {options.ctc_weight})"
    )
    if logger:
        logger.log_metrics({f"test/{k}": scores[k] for k in ("wer", "cer", "bleu", "chrf") if k in scores})
