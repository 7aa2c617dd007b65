"""A Hugging Face Whisper holding an imported s2s model's weights, renamed back independently of the
importer: the tests compare the two on the same weights, and bench/transcribe.py times them."""

from __future__ import annotations

import re

import transformers


def hf_name_of(ours: str) -> str | None:
    """Our tensor name -> Hugging Face Whisper's (None for those Hugging Face does not store)."""
    if ours.startswith("encoder.feature_") or ours == "decoder.unembed.weight" or ours.endswith("k_proj.bias"):
        return None  # Whisper's (x + 4) / 4, the tied output layer, and key biases (all zero in Whisper)
    for a, b in (
        ("encoder.subsample.", "model.encoder."),
        ("encoder.stack.final_norm", "model.encoder.layer_norm"),
        ("encoder.stack.layers", "model.encoder.layers"),
        ("decoder.final_norm", "model.decoder.layer_norm"),
        ("decoder.embedding.tokens", "model.decoder.embed_tokens"),
        ("decoder.embedding.positions.table", "model.decoder.embed_positions.weight"),
        (".attn_block.norm", ".self_attn_layer_norm"),
        (".self_block.norm", ".self_attn_layer_norm"),
        (".cross_attn.", ".encoder_attn."),
        (".cross_block.norm", ".encoder_attn_layer_norm"),
        (".ffn.fc", ".fc"),
        (".ffn_block.norm", ".final_layer_norm"),
    ):
        ours = ours.replace(a, b)
    return re.sub(r"^decoder\.layers", "model.decoder.layers", ours)


def hugging_face_twin(loaded):
    """A Hugging Face Whisper holding our model's weights, renamed back (an independent check of the mapping)."""
    dims = loaded.info.whisper["dims"]
    config = transformers.WhisperConfig(
        vocab_size=dims["n_vocab"],
        num_mel_bins=dims["n_mels"],
        d_model=dims["n_text_state"],
        encoder_layers=dims["n_audio_layer"],
        decoder_layers=dims["n_text_layer"],
        encoder_attention_heads=dims["n_audio_head"],
        decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=4 * dims["n_audio_state"],
        decoder_ffn_dim=4 * dims["n_text_state"],
        max_source_positions=dims["n_audio_ctx"],
        max_target_positions=dims["n_text_ctx"],
    )
    hf = transformers.WhisperForConditionalGeneration(config).eval()
    state = loaded.model.state_dict()
    assert all(state[k].abs().max() == 0 for k in state if k.endswith("k_proj.bias"))
    renamed = {hf_name_of(k): v for k, v in state.items() if hf_name_of(k)}
    missing, unexpected = hf.load_state_dict(renamed, strict=False)
    # the encoder's sinusoids are Hugging Face's own until a table is copied in
    assert set(missing) == {"model.encoder.embed_positions.weight", "proj_out.weight"} and not unexpected
    return hf
