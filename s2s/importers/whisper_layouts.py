"""Whisper's three layouts read into one form: OpenAI's dimensions, its weight names, the tokenizer
and the generation rules the layout records (``s2s.importers.whisper`` converts that form).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from s2s.errors import CheckpointError
from s2s.importers.ctranslate2_bin import read_config, read_model_bin
from s2s.importers.hf_marian import read_weights


@dataclass(frozen=True)
class WhisperDims:
    """OpenAI's ``ModelDimensions``: the sizes every layout records in its own way."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


@dataclass(frozen=True)
class WhisperSource:
    dims: WhisperDims
    weights: dict[str, Tensor]  # OpenAI's names
    tokenizer_json: str
    generation: dict  # suppress_ids, suppress_at_start, alignment_heads, when the layout records them
    name: str


def read_openai(path: Path, tokenizer_json: Path | None) -> WhisperSource:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable Whisper .pt ({str(error).splitlines()[0][:120]})") from None
    if not isinstance(data, dict) or not {"dims", "model_state_dict"} <= set(data):
        raise CheckpointError(f"{path} is not OpenAI's Whisper layout (no 'dims' and 'model_state_dict')")
    tokenizer_json = tokenizer_json or path.with_name("tokenizer.json")
    if not tokenizer_json.is_file():
        raise CheckpointError(
            f"OpenAI's {path.name} holds no tokenizer: give Whisper's tokenizer.json with --tokenizer"
        )
    generation = {"alignment_heads": data["alignment_heads"]} if "alignment_heads" in data else {}
    return WhisperSource(
        WhisperDims(**data["dims"]),
        data["model_state_dict"],
        tokenizer_json.read_text(),
        generation,
        f"whisper-openai:{path.name}",
    )


HF_BLOCK = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}
HF_GLOBAL = {
    "encoder.layer_norm": "encoder.ln_post",
    "decoder.layer_norm": "decoder.ln",
    "decoder.embed_tokens": "decoder.token_embedding",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
}


def hf_name(name: str) -> str | None:
    """A Hugging Face Whisper tensor's OpenAI name (None for the output projection, tied to the embedding)."""
    name = name.removeprefix("model.")
    if name == "proj_out.weight":
        return None
    for theirs, openai in HF_GLOBAL.items():
        if name == theirs or name.startswith(theirs + "."):
            return openai + name[len(theirs) :]
    side, layers, rest = name.partition(".layers.")
    if layers:
        index, _, part = rest.partition(".")
        for theirs, openai in HF_BLOCK.items():
            if part.startswith(theirs + "."):
                return f"{side}.blocks.{index}.{openai}{part[len(theirs) :]}"
    return name  # conv1/conv2 have the same names; anything else is reported as unexpected


def read_hf(folder: Path) -> WhisperSource:
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "whisper":
        raise CheckpointError(
            f"{folder} is not a Whisper model: config.json has model_type={config.get('model_type')!r}"
        )
    if config.get("activation_function", "gelu") != "gelu" or config["encoder_ffn_dim"] != 4 * config["d_model"]:
        raise CheckpointError("only Whisper's own layout (GELU, a 4·D MLP) can be imported")
    dims = WhisperDims(
        n_mels=config["num_mel_bins"],
        n_audio_ctx=config["max_source_positions"],
        n_audio_state=config["d_model"],
        n_audio_head=config["encoder_attention_heads"],
        n_audio_layer=config["encoder_layers"],
        n_vocab=config["vocab_size"],
        n_text_ctx=config["max_target_positions"],
        n_text_state=config["d_model"],
        n_text_head=config["decoder_attention_heads"],
        n_text_layer=config["decoder_layers"],
    )
    weights = {}
    for name, tensor in read_weights(folder).items():
        if (openai := hf_name(name)) is not None:
            weights[openai] = tensor
    if not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"{folder} has no tokenizer.json (save the tokenizer with WhisperTokenizerFast)")
    generation_file = folder / "generation_config.json"
    settings = json.loads(generation_file.read_text()) if generation_file.is_file() else config
    generation = {
        key: settings[theirs]
        for key, theirs in (
            ("suppress_ids", "suppress_tokens"),
            ("suppress_at_start", "begin_suppress_tokens"),
            ("alignment_heads", "alignment_heads"),
        )
        if settings.get(theirs) is not None
    }
    return WhisperSource(
        dims, weights, (folder / "tokenizer.json").read_text(), generation, f"whisper-hf:{folder.name}"
    )


def read_ctranslate2(folder: Path) -> WhisperSource:
    try:
        model = read_model_bin(folder / "model.bin")
    except ValueError as error:
        raise CheckpointError(str(error)) from None
    if model.spec != "WhisperSpec":
        raise CheckpointError(f"{folder}/model.bin holds a {model.spec or 'unnamed'} model, not WhisperSpec")
    names = set(model.variables) | set(model.aliases)

    def count(prefix: str) -> int:
        return len({n.split("/")[1] for n in names if re.match(rf"{prefix}/layer_\d+/", n)})

    for flag, expected in (("decoder/pre_norm", 1), ("decoder/scale_embeddings", 0), ("decoder/alibi", 0)):
        if flag in names and int(model.tensor(flag)) != expected:
            raise CheckpointError(f"{folder}/model.bin sets {flag}={int(model.tensor(flag))}: not Whisper's layout")
    conv1, positions = model.tensor("encoder/conv1/weight"), model.tensor("decoder/position_encodings/encodings")
    dims = WhisperDims(
        n_mels=conv1.shape[1],
        n_audio_ctx=model.tensor("encoder/position_encodings/encodings").shape[0],
        n_audio_state=conv1.shape[0],
        n_audio_head=int(model.tensor("encoder/num_heads")),
        n_audio_layer=count("encoder"),
        n_vocab=model.tensor("decoder/embeddings/weight").shape[0],
        n_text_ctx=positions.shape[0],
        n_text_state=positions.shape[1],
        n_text_head=int(model.tensor("decoder/num_heads")),
        n_text_layer=count("decoder"),
    )
    weights = ctranslate2_weights(model.tensor, dims)
    if not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"{folder} has no tokenizer.json: is it a faster-whisper model folder?")
    config = read_config(folder)
    generation = {
        key: config[theirs]
        for key, theirs in (
            ("suppress_ids", "suppress_ids"),
            ("suppress_at_start", "suppress_ids_begin"),
            ("alignment_heads", "alignment_heads"),
        )
        if config.get(theirs) is not None
    }
    return WhisperSource(
        dims, weights, (folder / "tokenizer.json").read_text(), generation, f"whisper-ctranslate2:{folder.name}"
    )


def ctranslate2_weights(tensor, dims: WhisperDims) -> dict[str, Tensor]:
    """CTranslate2's Whisper variables -> OpenAI's names, splitting its fused projections."""
    out: dict[str, Tensor] = {}

    def linear(openai: str, ct2: str) -> None:
        out[f"{openai}.weight"], out[f"{openai}.bias"] = tensor(f"{ct2}/weight"), tensor(f"{ct2}/bias")

    def norm(openai: str, ct2: str) -> None:
        out[f"{openai}.weight"], out[f"{openai}.bias"] = tensor(f"{ct2}/gamma"), tensor(f"{ct2}/beta")

    def fused(openai: str, parts: tuple[str, ...], ct2: str) -> None:  # [Wq; Wk; Wv] stacked by rows
        for part, weight, bias in zip(
            parts, tensor(f"{ct2}/weight").chunk(len(parts)), tensor(f"{ct2}/bias").chunk(len(parts))
        ):
            out[f"{openai}.{part}.weight"], out[f"{openai}.{part}.bias"] = weight, bias

    def block(openai: str, ct2: str, cross: bool) -> None:
        fused(f"{openai}.attn", ("query", "key", "value"), f"{ct2}/self_attention/linear_0")
        linear(f"{openai}.attn.out", f"{ct2}/self_attention/linear_1")
        norm(f"{openai}.attn_ln", f"{ct2}/self_attention/layer_norm")
        if cross:
            linear(f"{openai}.cross_attn.query", f"{ct2}/attention/linear_0")
            fused(f"{openai}.cross_attn", ("key", "value"), f"{ct2}/attention/linear_1")
            linear(f"{openai}.cross_attn.out", f"{ct2}/attention/linear_2")
            norm(f"{openai}.cross_attn_ln", f"{ct2}/attention/layer_norm")
        linear(f"{openai}.mlp.0", f"{ct2}/ffn/linear_0")
        linear(f"{openai}.mlp.2", f"{ct2}/ffn/linear_1")
        norm(f"{openai}.mlp_ln", f"{ct2}/ffn/layer_norm")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    out["encoder.positional_embedding"] = tensor("encoder/position_encodings/encodings")
    for i in range(dims.n_audio_layer):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    out["decoder.token_embedding.weight"] = tensor("decoder/embeddings/weight")
    out["decoder.positional_embedding"] = tensor("decoder/position_encodings/encodings")
    for i in range(dims.n_text_layer):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    return out


def read_source(source: Path, tokenizer_json: Path | None = None) -> WhisperSource:
    """The layout of ``source``, recognized from its files."""
    if source.is_file():
        return read_openai(source, tokenizer_json)
    if (source / "model.bin").is_file():
        return read_ctranslate2(source)
    if (source / "config.json").is_file():
        return read_hf(source)
    raise CheckpointError(
        f"{source} is not a Whisper model: expected OpenAI's .pt, or a folder with model.bin "
        "(CTranslate2) or config.json and weights (Hugging Face)"
    )
