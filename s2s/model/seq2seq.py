"""Seq2Seq: an encoder, a decoder and ``Wu``, with ``encode`` / ``decode_step`` / ``forward``."""

from __future__ import annotations

from torch import Tensor, nn

from s2s.model.audio_encoder import AudioEncoder
from s2s.model.config import ModelConfig
from s2s.model.decoder import Decoder
from s2s.model.encoded import EncodedSource
from s2s.model.pruning import prune_heads
from s2s.model.text_encoder import TextEncoder
from s2s.nn.embeddings import Embedding
from s2s.nn.kv_cache import KVCache
from s2s.nn.linear import Linear


class Seq2Seq(nn.Module):
    """Encoder-decoder Transformer. Knows nothing of Lightning, Hydra or tokenizers."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

        def embedding(vocab_size: int, positions: tuple[str, int], shared: nn.Embedding | None = None) -> Embedding:
            kind, count = positions
            return Embedding(
                vocab_size,
                config.d_model,
                pad_id=config.pad_id,
                max_positions=count,
                positions=kind,
                scale=config.embed_scale,
                dropout=config.dropout,
                token_embedding=shared,
            )

        decoder_positions = ("learned" if config.learned_positions else "sinusoid", config.max_positions)
        target_embedding = embedding(config.vocab_size, decoder_positions)  # We of the target side
        shared = target_embedding.tokens if config.share_embeddings else None
        if config.encoder == "audio":
            self.encoder: AudioEncoder | TextEncoder = AudioEncoder(config)
        else:
            self.encoder = TextEncoder(config, embedding(config.src_vocab_size, config.source_positions, shared))
        self.decoder = Decoder(config, target_embedding)
        # CTC over the target vocabulary; the padding id doubles as the blank (never a target).
        self.ctc = Linear(config.d_model, config.vocab_size) if config.ctc else None
        if config.pruned_heads:  # a pruned checkpoint: its smaller projections, before its weights load
            prune_heads(self, config.pruned_heads)

    def encode(self, source: Tensor, source_lengths: Tensor) -> EncodedSource:
        """``source (B, S)`` ids or ``(B, F, feature_dim)`` audio -> memory ``(B, S', D)``, its mask and
        lengths, and every decoder layer's cross-attention keys/values."""
        memory, mask = self.encoder(source, source_lengths)  # (B, S', D), (B, S')
        return EncodedSource(memory, mask, mask.sum(dim=1), self.decoder.project_memory(memory))

    def ctc_log_probs(self, memory: Tensor) -> Tensor:
        """CTC head: memory ``(B, S, D)`` -> per-position log-probabilities ``(B, S, V)`` (fp32)."""
        if self.ctc is None:
            raise ValueError("this model has no CTC head (train it with model.ctc=true)")
        return self.ctc(memory).float().log_softmax(dim=-1)

    def start_decoding(self, encoded: EncodedSource) -> KVCache:
        """The cache a decoding loop starts from: cross-attention keys/values, no target position yet."""
        return self.decoder.start_cache(encoded)

    def decode_step(self, tokens: Tensor, cache: KVCache) -> Tensor:
        """Feed ``tokens (B, Tn)`` after the cached prefix; logits of the last position only ``(B, V)``.

        Decoding needs only the next token's distribution, so ``Wu`` is applied to one
        position instead of all of them (training applies it everywhere).
        """
        hidden = self.decoder.step(tokens, cache)  # (B, Tn, D)
        return self.decoder.unembed(hidden[:, -1])  # (B, V)

    def decoder_states(self, encoded: EncodedSource, target_in: Tensor) -> Tensor:
        """Teacher forcing, the one path training, scoring and analysis share: ``target_in (B, T)`` ->
        decoder states at every position ``(B, T, D)``, before ``Wu``."""
        return self.decoder.states(target_in, encoded)

    def forward(self, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> Tensor:
        """Teacher forcing: logits at every position ``(B, T, V)``."""
        return self.decoder.unembed(self.decoder_states(self.encode(source, source_lengths), target_in))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
