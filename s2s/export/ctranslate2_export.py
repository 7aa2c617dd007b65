"""``s2s export ctranslate2``: a checkpoint -> a CTranslate2 model folder, built through ``ctranslate2.specs``.

Text models become a ``TransformerSpec`` (run by ``ctranslate2.Translator``); speech models with
Whisper's front end a ``WhisperSpec`` (run by ``ctranslate2.models.Whisper`` and faster-whisper).
The spec's variables are its own attributes, so CTranslate2's writer names them; the names
``s2s.importers.ctranslate2_bin`` and ``s2s.importers.whisper`` read back are those. Position tables
are always written out (learned or sinusoidal), since CTranslate2's built-in sinusoids space their
frequencies differently from s2s's. A model option CTranslate2 cannot express is refused, naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from s2s.checkpoint import LoadedModel
from s2s.data.speech.features import WHISPER_MEAN, WHISPER_STD
from s2s.errors import ExportError
from s2s.export.metadata import describe, tokenizer_files, vocabulary, write_metadata
from s2s.model.config import ModelConfig


def array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().contiguous().numpy()


def set_linear(spec, layers: list[nn.Linear]) -> None:
    """One CTranslate2 linear from one of ours, or from several stacked by rows (its fused projections)."""
    spec.weight = np.concatenate([array(layer.weight) for layer in layers])
    if layers[0].bias is not None:
        spec.bias = np.concatenate([array(layer.bias) for layer in layers])


def set_norm(spec, norm: nn.LayerNorm) -> None:
    spec.gamma, spec.beta = array(norm.weight), array(norm.bias)


def set_attention(spec, attention, norm: nn.LayerNorm, *, cross: bool) -> None:
    """Self-attention: ``linear[0] = [Wq; Wk; Wv]``; cross-attention: ``linear[0] = Wq``, ``linear[1] = [Wk; Wv]``."""
    projections = [attention.q_proj, attention.k_proj, attention.v_proj]
    groups = [projections[:1], projections[1:]] if cross else [projections]
    for linear, group in zip(spec.linear, groups + [[attention.out_proj]]):
        set_linear(linear, group)
    set_norm(spec.layer_norm, norm)


def set_layer(spec, layer, *, decoder: bool) -> None:
    set_attention(
        spec.self_attention, layer.self_attn, layer.self_block.norm if decoder else layer.attn_block.norm, cross=False
    )
    if decoder:
        set_attention(spec.attention, layer.cross_attn, layer.cross_block.norm, cross=True)
    set_linear(spec.ffn.linear_0, [layer.ffn.fc1])
    set_linear(spec.ffn.linear_1, [layer.ffn.fc2])
    set_norm(spec.ffn.layer_norm, layer.ffn_block.norm)


def set_decoder(spec, decoder, config: ModelConfig) -> None:
    spec.scale_embeddings = config.embed_scale
    spec.embeddings.weight = array(decoder.embedding.tokens.weight)
    spec.position_encodings.encodings = array(decoder.embedding.positions.table)
    for layer_spec, layer in zip(spec.layer, decoder.layers):
        set_layer(layer_spec, layer, decoder=True)
    if config.norm_first:
        set_norm(spec.layer_norm, decoder.final_norm)
    spec.projection.weight = array(decoder.unembed.weight)
    if decoder.unembed.bias is not None:
        spec.projection.bias = array(decoder.unembed.bias)


def refuse(option: str, value, why: str) -> None:
    raise ExportError(f"CTranslate2 cannot express model option {option}={value!r}: {why}")


def check_common(config: ModelConfig) -> None:
    if config.ctc:
        refuse("ctc", True, "its models have no CTC head (export onnx keeps it)")


def text_spec(loaded: LoadedModel):
    import ctranslate2.specs as specs

    model, config, tokenizer = loaded.model, loaded.model.config, loaded.tokenizer
    activations = {"relu": specs.Activation.RELU, "gelu": specs.Activation.GELU, "swish": specs.Activation.SWISH}
    if config.activation not in activations:
        refuse("activation", config.activation, f"it has {sorted(activations)} of s2s's activations")
    spec = specs.TransformerSpec.from_config(
        (config.encoder_layers, config.decoder_layers),
        config.num_heads,
        pre_norm=config.norm_first,
        activation=activations[config.activation],
    )
    encoder = spec.encoder
    encoder.scale_embeddings = config.embed_scale
    encoder.embeddings[0].weight = array(model.encoder.embedding.tokens.weight)
    encoder.position_encodings.encodings = array(model.encoder.embedding.positions.table)
    for layer_spec, layer in zip(encoder.layer, model.encoder.stack.layers):
        set_layer(layer_spec, layer, decoder=False)
    if config.norm_first:
        set_norm(encoder.layer_norm, model.encoder.stack.final_norm)
    set_decoder(spec.decoder, model.decoder, config)
    target, source = vocabulary(tokenizer), vocabulary(tokenizer, source=True)
    spec.config.unk_token, spec.config.eos_token = target[tokenizer.unk_id], target[tokenizer.eos_id]
    spec.config.bos_token = spec.config.decoder_start_token = target[tokenizer.bos_id]
    spec.config.add_source_eos = True  # sources end with EOS in s2s
    spec.register_source_vocabulary(source)
    spec.register_target_vocabulary(target)
    return spec


WHISPER_LAYOUT = (
    ("norm_first", True, "its Whisper is pre-LN"),
    ("activation", "gelu", "its Whisper's MLP is GELU"),
    ("embed_scale", False, "its Whisper does not scale embeddings"),
    ("features", "whisper", "its Whisper reads Whisper's log-mel features"),
)


def whisper_spec(loaded: LoadedModel):
    import ctranslate2.specs as specs

    model, config, tokenizer = loaded.model, loaded.model.config, loaded.tokenizer
    for option, value, why in WHISPER_LAYOUT:
        if getattr(config, option) != value:
            refuse(option, getattr(config, option), why)
    encoder = model.encoder
    if not (torch.all(encoder.feature_mean == WHISPER_MEAN) and torch.all(encoder.feature_std == WHISPER_STD)):
        refuse(
            "encoder.feature_mean/feature_std",
            "training statistics",
            f"its Whisper normalizes features as (x - {WHISPER_MEAN}) / {WHISPER_STD}",
        )
    if not hasattr(tokenizer, "tokenizer_json"):
        refuse("tokenizer", type(tokenizer).__name__, "its Whisper needs Whisper's byte-level BPE tokenizer")
    spec = specs.WhisperSpec(config.encoder_layers, config.num_heads, config.decoder_layers, config.num_heads)
    for conv_spec, conv in (
        (spec.encoder.conv1, encoder.subsample.conv1),
        (spec.encoder.conv2, encoder.subsample.conv2),
    ):
        conv_spec.weight, conv_spec.bias = array(conv.weight), array(conv.bias)
    spec.encoder.position_encodings.encodings = array(encoder.positions.table)
    for layer_spec, layer in zip(spec.encoder.layer, encoder.stack.layers):
        set_layer(layer_spec, layer, decoder=False)
    set_norm(spec.encoder.layer_norm, encoder.stack.final_norm)
    set_decoder(spec.decoder, model.decoder, config)
    whisper = loaded.info.whisper or {}
    heads = whisper.get("alignment_heads") or [
        [layer, head]
        for layer in range(config.decoder_layers // 2, config.decoder_layers)
        for head in range(config.num_heads)
    ]  # the converter's default
    # the source model's own lists where the checkpoint recorded them (they name the tags too), else the tokenizer's
    spec.config.suppress_ids = list(whisper.get("suppress_ids", tokenizer.suppress_ids))
    spec.config.suppress_ids_begin = list(whisper.get("suppress_at_start", tokenizer.suppress_at_start))
    spec.config.lang_ids = sorted(tokenizer.language_codes.values())
    spec.config.alignment_heads = [list(map(int, pair)) for pair in heads]
    spec.register_vocabulary(vocabulary(tokenizer))
    return spec


def model_spec(loaded: LoadedModel):
    config = loaded.model.config
    check_common(config)
    if config.encoder == "text":
        return text_spec(loaded)
    if config.audio_frontend != "conv1d":
        refuse("audio_frontend", config.audio_frontend, "its only speech encoder is Whisper's (audio_frontend=conv1d)")
    return whisper_spec(loaded)


def export_ctranslate2(loaded: LoadedModel, out: Path) -> None:
    loaded.model.float().eval()
    spec = model_spec(loaded)
    spec.validate()
    spec.optimize(quantization=None)  # aliases shared weights (tied Wu, shared We); keeps float32
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    write_metadata(out, describe(loaded, "ctranslate2", tokenizer_files(loaded.tokenizer, out)))
