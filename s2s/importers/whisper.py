"""Import an OpenAI Whisper model as a self-contained s2s checkpoint, from any of its three layouts.

- OpenAI's original ``.pt`` (``dims`` + ``model_state_dict``; no tokenizer inside, so one is named);
- a Hugging Face ``WhisperForConditionalGeneration`` folder (``config.json``, safetensors or
  ``pytorch_model.bin``, ``tokenizer.json``, ``generation_config.json``);
- a CTranslate2 / faster-whisper folder (``model.bin``, read by ``s2s.importers.ctranslate2_bin``
  without CTranslate2; ``config.json`` with the suppressed and alignment tokens; ``tokenizer.json``).

Whisper is s2s's architecture with other options, all of them :class:`ModelConfig` choices:
Whisper's log-mel features and ``(x + 4) / 4`` (the encoder's normalization buffers), two
Conv1d+GELU layers, sinusoids on Whisper's timescales in the encoder and learned positions in
the decoder, pre-LN with final LayerNorms, a GELU MLP, no embedding scale and a tied ``Wu``.
Whisper's key projections have no bias; s2s's get a zero one, which changes nothing: adding
``q·b`` to every score of a query shifts its softmax by a constant, so even its gradient is zero.
Each layout is renamed into OpenAI's names first, then one table maps those to ours.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from s2s.checkpoint import export_checkpoint
from s2s.data.speech.features import WHISPER_MEAN, WHISPER_STD
from s2s.data.text.whisper_tokenizer import WhisperTokenizer
from s2s.errors import CheckpointError
from s2s.importers.whisper_layouts import WhisperDims, read_source
from s2s.model.config import ModelConfig
from s2s.model.info import WHISPER_WINDOW, CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.nn.embeddings import sinusoid_table

# ours -> OpenAI's, inside one block ({p}: q/k/v/out of an attention)
PROJECTIONS = {"q": "query", "k": "key", "v": "value", "out": "out"}
ENCODER_BLOCK = {
    "self_attn.{p}_proj": "attn.{p}",
    "attn_block.norm": "attn_ln",
    "ffn.fc1": "mlp.0",
    "ffn.fc2": "mlp.2",
    "ffn_block.norm": "mlp_ln",
}
DECODER_BLOCK = {
    "self_attn.{p}_proj": "attn.{p}",
    "self_block.norm": "attn_ln",
    "cross_attn.{p}_proj": "cross_attn.{p}",
    "cross_block.norm": "cross_attn_ln",
    "ffn.fc1": "mlp.0",
    "ffn.fc2": "mlp.2",
    "ffn_block.norm": "mlp_ln",
}
GLOBAL = {
    "encoder.subsample.conv1": "encoder.conv1",
    "encoder.subsample.conv2": "encoder.conv2",
    "encoder.stack.final_norm": "encoder.ln_post",
    "decoder.final_norm": "decoder.ln",
}


def model_config(dims: WhisperDims, pad_id: int) -> ModelConfig:
    if (dims.n_audio_state, dims.n_audio_head) != (dims.n_text_state, dims.n_text_head):
        raise CheckpointError(
            "s2s needs the audio and text sides of the same width and head count "
            f"(got {dims.n_audio_state}/{dims.n_audio_head} and {dims.n_text_state}/{dims.n_text_head})"
        )
    return ModelConfig(
        vocab_size=dims.n_vocab,
        pad_id=pad_id,
        d_model=dims.n_text_state,
        num_heads=dims.n_text_head,
        encoder_layers=dims.n_audio_layer,
        decoder_layers=dims.n_text_layer,
        ffn_dim=4 * dims.n_text_state,
        dropout=0.0,
        activation="gelu",
        norm_first=True,
        learned_positions=True,
        max_positions=dims.n_text_ctx,
        encoder_positions="whisper",
        max_source_positions=dims.n_audio_ctx,
        embed_scale=False,
        tie_output=True,
        encoder="audio",
        feature_dim=dims.n_mels,
        features="whisper",
        audio_frontend="conv1d",
        subsampling=2,
    )


def convert_state_dict(weights: dict[str, Tensor], dims: WhisperDims) -> dict[str, Tensor]:
    """OpenAI's names -> ours. A missing or unexpected tensor raises :class:`CheckpointError`."""
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def take(ours: str, theirs: str, *, optional: bool = False) -> None:
        if theirs in weights:
            out[ours] = weights[theirs]
            used.add(theirs)
        elif not optional:
            raise CheckpointError(f"the Whisper weights have no {theirs!r}")

    def block(ours: str, theirs: str, names: dict[str, str]) -> None:
        for our_name, their_name in names.items():
            for p in PROJECTIONS if "{p}" in our_name else ("",):
                mine, other = f"{ours}.{our_name.format(p=p)}", f"{theirs}.{their_name.format(p=PROJECTIONS.get(p))}"
                take(f"{mine}.weight", f"{other}.weight")
                take(f"{mine}.bias", f"{other}.bias", optional=p == "k")  # Whisper's keys have no bias
                out.setdefault(f"{mine}.bias", torch.zeros(dims.n_text_state))

    for ours, theirs in GLOBAL.items():
        take(f"{ours}.weight", f"{theirs}.weight")
        take(f"{ours}.bias", f"{theirs}.bias")
    for i in range(dims.n_audio_layer):
        block(f"encoder.stack.layers.{i}", f"encoder.blocks.{i}", ENCODER_BLOCK)
    for i in range(dims.n_text_layer):
        block(f"decoder.layers.{i}", f"decoder.blocks.{i}", DECODER_BLOCK)
    take("decoder.embedding.tokens.weight", "decoder.token_embedding.weight")
    take("decoder.embedding.positions.table", "decoder.positional_embedding")
    out["decoder.unembed.weight"] = out["decoder.embedding.tokens.weight"]  # Whisper ties Wu to We
    out["encoder.feature_mean"] = torch.full((dims.n_mels,), WHISPER_MEAN)
    out["encoder.feature_std"] = torch.full((dims.n_mels,), WHISPER_STD)
    if "encoder.positional_embedding" in weights:  # stored, though fixed: check it is the table s2s computes
        used.add("encoder.positional_embedding")
        stored, table = (
            weights["encoder.positional_embedding"].float(),
            sinusoid_table(dims.n_audio_ctx, dims.n_audio_state, whisper=True),
        )
        if stored.shape != table.shape or not torch.allclose(stored, table, atol=2e-3):  # float16 rounding
            raise CheckpointError("the encoder's positional embedding is not Whisper's sinusoids; cannot import")
    unexpected = sorted(set(weights) - used)
    if unexpected:
        raise CheckpointError(f"unexpected tensors in the Whisper weights: {unexpected[:5]}")
    return {k: v.float().contiguous() for k, v in out.items()}


def load_whisper(
    source: str | Path, tokenizer_json: str | Path | None = None
) -> tuple[Seq2Seq, WhisperTokenizer, CheckpointInfo]:
    """A Whisper model in any layout -> our model (eval mode, fp32), its tokenizer and the checkpoint info."""
    source = Path(source)
    if not source.exists():
        raise CheckpointError(f"{source}: no such file or folder")
    whisper = read_source(source, Path(tokenizer_json) if tokenizer_json else None)
    try:
        tokenizer = WhisperTokenizer(whisper.tokenizer_json, whisper.dims.n_vocab)
    except ValueError as error:
        raise CheckpointError(f"{source}: {error}") from None
    model = Seq2Seq(model_config(whisper.dims, tokenizer.pad_id))
    model.load_state_dict(convert_state_dict(whisper.weights, whisper.dims))
    languages = sorted(tokenizer.language_codes) or ["en"]
    generation = {
        "suppress_ids": list(tokenizer.suppress_ids),
        "suppress_at_start": list(tokenizer.suppress_at_start),
        **{
            k: [list(map(int, pair)) for pair in v] if k == "alignment_heads" else [int(t) for t in v]
            for k, v in whisper.generation.items()
        },
    }
    info = CheckpointInfo(
        task="asr",
        task_tag="transcribe",
        src_lang="en",
        tgt_langs=tuple(languages),
        pad_seconds=WHISPER_WINDOW,
        imported_from=whisper.name,
        whisper={"dims": asdict(whisper.dims), **generation},
    )
    return model.eval(), tokenizer, info


def import_whisper(source: str | Path, out: str | Path, tokenizer_json: str | Path | None = None) -> None:
    """Write ``out``: one s2s checkpoint with the Whisper model's weights, config, tokenizer and decoding rules."""
    model, tokenizer, info = load_whisper(source, tokenizer_json)
    export_checkpoint(model, tokenizer, info, out)
