"""Import a Hugging Face Marian checkpoint (the OPUS-MT family) as a self-contained s2s checkpoint.

A Marian model folder holds ``config.json``, the weights (``model.safetensors`` or
``pytorch_model.bin``), ``source.spm`` / ``target.spm`` and ``vocab.json`` (plus
``target_vocab.json`` when the two sides have separate vocabularies). Marian is the original
post-LN Transformer: no final LayerNorm, token embeddings scaled by sqrt(D), sinusoidal
positions with sines in the first half of the columns and cosines in the second (our layout),
a ``final_logits_bias`` after the output projection, and decoding that starts from the
padding id. Every one of these is a :class:`~s2s.model.config.ModelConfig` option, so the imported
model runs through the same code as ours: only the parameter names change.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from s2s.checkpoint import export_checkpoint
from s2s.data.text.marian_tokenizer import MarianTokenizer
from s2s.errors import CheckpointError
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.nn.embeddings import sinusoid_table

ACTIVATIONS = {"swish": "swish", "silu": "swish", "gelu": "gelu", "relu": "relu"}
# Our parameter names -> Marian's, inside one layer.
ENCODER_LAYER = {
    "self_attn.{p}_proj": "self_attn.{p}_proj",
    "attn_block.norm": "self_attn_layer_norm",
    "ffn.fc1": "fc1",
    "ffn.fc2": "fc2",
    "ffn_block.norm": "final_layer_norm",
}
DECODER_LAYER = {
    "self_attn.{p}_proj": "self_attn.{p}_proj",
    "self_block.norm": "self_attn_layer_norm",
    "cross_attn.{p}_proj": "encoder_attn.{p}_proj",
    "cross_block.norm": "encoder_attn_layer_norm",
    "ffn.fc1": "fc1",
    "ffn.fc2": "fc2",
    "ffn_block.norm": "final_layer_norm",
}


def model_config(hf: dict) -> ModelConfig:
    """Marian's ``config.json`` -> our :class:`ModelConfig` (the options Marian needs, set explicitly)."""
    if hf.get("model_type") != "marian":
        raise CheckpointError(f"not a Marian model: config.json has model_type={hf.get('model_type')!r}")
    same = [("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")]
    for enc, dec in same:
        if hf[enc] != hf[dec]:
            raise CheckpointError(f"{enc}={hf[enc]} differs from {dec}={hf[dec]}; s2s uses one value for both")
    activation = hf.get("activation_function", "gelu")
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"unsupported activation_function {activation!r}; supported: {sorted(ACTIVATIONS)}")
    if hf.get("normalize_before") or hf.get("add_final_layer_norm") or hf.get("normalize_embedding"):
        raise CheckpointError("only post-LN Marian models (the OPUS-MT layout) can be imported")
    shared = hf.get("share_encoder_decoder_embeddings", True)
    target_vocab = hf.get("decoder_vocab_size") or hf["vocab_size"]
    return ModelConfig(
        vocab_size=target_vocab,
        pad_id=hf["pad_token_id"],
        d_model=hf["d_model"],
        num_heads=hf["encoder_attention_heads"],
        encoder_layers=hf["encoder_layers"],
        decoder_layers=hf["decoder_layers"],
        ffn_dim=hf["encoder_ffn_dim"],
        dropout=hf.get("dropout", 0.1),
        attention_dropout=hf.get("attention_dropout", 0.0),
        activation_dropout=hf.get("activation_dropout", 0.0),
        activation=ACTIVATIONS[activation],
        norm_first=False,
        learned_positions=False,
        max_positions=hf["max_position_embeddings"],
        embed_scale=bool(hf.get("scale_embedding", False)),
        tie_output=bool(hf.get("tie_word_embeddings", True)),
        share_embeddings=shared,
        source_vocab_size=None if shared else hf["vocab_size"],
        final_logits_bias=True,
    )


def convert_state_dict(hf: dict[str, Tensor], config: ModelConfig) -> dict[str, Tensor]:
    """Marian parameter names -> ours. Missing or unexpected tensors raise :class:`CheckpointError`."""
    hf = {k.removeprefix("model."): v for k, v in hf.items()}  # "model.encoder..." -> "encoder..."
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    def take(ours: str, theirs: str) -> None:
        if theirs not in hf:
            raise CheckpointError(f"the Marian weights have no {theirs!r}")
        out[ours] = hf[theirs]
        used.add(theirs)

    def layer(ours: str, theirs: str, names: dict[str, str]) -> None:
        for our_name, their_name in names.items():
            for p in ("q", "k", "v", "out") if "{p}" in our_name else ("",):
                for suffix in ("weight", "bias"):
                    take(f"{ours}.{our_name.format(p=p)}.{suffix}", f"{theirs}.{their_name.format(p=p)}.{suffix}")

    for i in range(config.encoder_layers):
        layer(f"encoder.stack.layers.{i}", f"encoder.layers.{i}", ENCODER_LAYER)
    for i in range(config.decoder_layers):
        layer(f"decoder.layers.{i}", f"decoder.layers.{i}", DECODER_LAYER)

    decoder_tokens = "decoder.embed_tokens.weight" if "decoder.embed_tokens.weight" in hf else "shared.weight"
    encoder_tokens = "encoder.embed_tokens.weight" if "encoder.embed_tokens.weight" in hf else "shared.weight"
    take("decoder.embedding.tokens.weight", decoder_tokens)
    take("encoder.embedding.tokens.weight", decoder_tokens if config.share_embeddings else encoder_tokens)
    used.update(k for k in ("shared.weight", "encoder.embed_tokens.weight") if k in hf)
    if config.tie_output:
        out["decoder.unembed.weight"] = out["decoder.embedding.tokens.weight"]
        used.add("lm_head.weight")
    else:
        take("decoder.unembed.weight", "lm_head.weight")
    take("decoder.unembed.bias", "final_logits_bias")
    out["decoder.unembed.bias"] = out["decoder.unembed.bias"].reshape(-1)  # (1, V) -> (V,)

    for side in ("encoder", "decoder"):  # Marian stores its (fixed) sinusoids: check they are ours
        key = f"{side}.embed_positions.weight"
        if key in hf:
            used.add(key)
            table = sinusoid_table(config.max_positions, config.d_model)
            if hf[key].shape != table.shape or not torch.allclose(hf[key].float(), table, atol=1e-4):
                raise CheckpointError(f"{key} is not the sinusoid table s2s computes; cannot import")
    unexpected = sorted(set(hf) - used)
    if unexpected:
        raise CheckpointError(f"unexpected tensors in the Marian weights: {unexpected[:5]}")
    return {k: v.float().contiguous() for k, v in out.items()}


def read_weights(folder: Path) -> dict[str, Tensor]:
    safetensors_file, bin_file = folder / "model.safetensors", folder / "pytorch_model.bin"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        return load_file(str(safetensors_file))
    if bin_file.is_file():
        return torch.load(bin_file, map_location="cpu", weights_only=True)  # never unpickles code
    raise CheckpointError(f"{folder} has neither model.safetensors nor pytorch_model.bin")


def read_tokenizer(folder: Path) -> MarianTokenizer:
    for name in ("source.spm", "target.spm", "vocab.json"):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder} has no {name}: is it a Marian (OPUS-MT) model folder?")
    tokenizer_config = folder / "tokenizer_config.json"
    separate = tokenizer_config.is_file() and json.loads(tokenizer_config.read_text()).get("separate_vocabs", False)
    target_vocab = json.loads((folder / "target_vocab.json").read_text()) if separate else None
    return MarianTokenizer.from_vocab_dicts(
        source_spm=(folder / "source.spm").read_bytes(),
        target_spm=(folder / "target.spm").read_bytes(),
        vocab=json.loads((folder / "vocab.json").read_text()),
        target_vocab=target_vocab,
    )


def load_hf_marian(folder: str | Path) -> tuple[Seq2Seq, MarianTokenizer]:
    """A Marian model folder -> our model (eval mode, fp32) and its tokenizer."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} has no config.json: is it a Hugging Face model folder?")
    hf_config = json.loads((folder / "config.json").read_text())
    config = model_config(hf_config)
    tokenizer = read_tokenizer(folder)
    if (tokenizer.vocab_size, tokenizer.source_vocab_size) != (config.vocab_size, config.src_vocab_size):
        raise CheckpointError(
            f"vocabulary sizes differ: the tokenizer has {tokenizer.source_vocab_size} source / "
            f"{tokenizer.vocab_size} target pieces, the model {config.src_vocab_size} / {config.vocab_size}"
        )
    if (hf_config.get("eos_token_id"), hf_config.get("decoder_start_token_id", config.pad_id)) != (
        tokenizer.eos_id,
        tokenizer.bos_id,
    ):
        raise CheckpointError("config.json's eos/decoder_start ids disagree with vocab.json's </s>/<pad>")
    model = Seq2Seq(config)
    model.load_state_dict(convert_state_dict(read_weights(folder), config))
    return model.eval(), tokenizer


def import_hf_marian(folder: str | Path, out: str | Path) -> None:
    """Write ``out``: one s2s checkpoint with the Marian model's weights, config and tokenizer."""
    model, tokenizer = load_hf_marian(folder)
    info = CheckpointInfo(task="translation", imported_from=f"hf-marian:{Path(folder).name}")
    export_checkpoint(model, tokenizer, info, out)
