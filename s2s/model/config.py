"""The model's architecture as plain data: saved in every checkpoint, built from Hydra's ``model`` group."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ENCODERS = ("text", "audio")
FEATURES = ("log_mel", "whisper")  # s2s.data.speech.features: what an audio model reads
AUDIO_FRONTENDS = ("conv2d", "conv1d")  # s2s.model.audio_frontends: how it shortens them
POSITIONS = ("sinusoid", "learned", "whisper")  # s2s.nn.embeddings.PositionEncoding


TYPE_CHECKS = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_field_types(config) -> None:
    """Refuse a value of the wrong type (``d_model=abc``) with the option's name, before it breaks a layer."""
    for f in fields(config):
        value, kinds = getattr(config, f.name), str(f.type).replace(" ", "").split("|")
        if value is None and "None" in kinds:
            continue
        allowed = tuple(t for kind in kinds for t in TYPE_CHECKS.get(kind, (object,)))
        if not isinstance(value, allowed) or (isinstance(value, bool) and "bool" not in kinds):
            raise ValueError(f"model option {f.name}={value!r} must be of type {f.type}")


@dataclass(frozen=True)
class ModelConfig:
    """Every architecture choice of a :class:`s2s.model.seq2seq.Seq2Seq`.

    ``vocab_size`` and ``pad_id`` come from the tokenizer at training time; the rest from
    ``conf/model/*.yaml``. Unknown keys fail (a misspelled option must not be ignored).
    """

    vocab_size: int
    pad_id: int
    d_model: int = 256
    num_heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    ffn_dim: int = 1024  # the MLP's hidden size, 4·D by convention
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    activation: str = "relu"
    norm_first: bool = True  # pre-LN; False is the original post-LN Transformer
    learned_positions: bool = False  # False: sinusoids
    max_positions: int = 1024
    encoder_positions: str | None = None  # one of POSITIONS; None: the decoder's kind (learned_positions)
    max_source_positions: int | None = None  # encoder positions; None: max_positions
    embed_scale: bool = True  # multiply We lookups by sqrt(D)
    tie_output: bool = True  # Wu shares its weights with the target embedding We
    share_embeddings: bool = True  # source and target use one We (joint vocabulary)
    source_vocab_size: int | None = None  # only when share_embeddings is False; None = vocab_size
    final_logits_bias: bool = False  # a learned (V,) bias after Wu (Marian has one)
    encoder: str = "text"  # "text": token ids; "audio": log-mel frames (s2s.model.audio_encoder)
    feature_dim: int = 80  # audio: log-mel bins per input frame
    features: str = "log_mel"  # audio: "log_mel" (natural log, n_fft 512) or "whisper" (log10, clamped at max - 8)
    audio_frontend: str = (
        "conv2d"  # audio: "conv2d" (stride-2 Conv2d+ReLU layers) or "conv1d" (Whisper's two Conv1d+GELU)
    )
    subsampling: int = 4  # audio: frames per encoder position (a power of two: one stride-2 conv each)
    conv_channels: int = 256  # audio: channels of the subsampling convolutions
    ctc: bool = False  # a CTC head (D -> V, blank = the padding id) on the encoder output
    pruned_heads: tuple[str, ...] | None = None  # heads removed by `s2s prune` ("encoder:2:3"; s2s.model.pruning)

    def __post_init__(self) -> None:
        if self.pruned_heads is not None:  # a list from a checkpoint or Hydra: stored as a tuple of names
            object.__setattr__(self, "pruned_heads", tuple(str(h) for h in self.pruned_heads) or None)
        check_field_types(self)
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if self.share_embeddings and self.source_vocab_size not in (None, self.vocab_size):
            raise ValueError("share_embeddings needs one vocabulary: source_vocab_size must equal vocab_size")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.subsampling < 1 or self.subsampling & (self.subsampling - 1):
            raise ValueError(f"subsampling must be a power of two (1, 2, 4, 8...), got {self.subsampling}")
        for name, value, choices in (
            ("features", self.features, FEATURES),
            ("audio_frontend", self.audio_frontend, AUDIO_FRONTENDS),
            ("encoder_positions", self.encoder_positions, (None, *POSITIONS)),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        if self.audio_frontend == "conv1d" and self.subsampling != 2:
            raise ValueError("audio_frontend=conv1d subsamples by 2 (its second convolution): set subsampling=2")

    def layer_options(self) -> dict:
        """Keyword arguments shared by every encoder and decoder layer."""
        return dict(
            d_model=self.d_model,
            num_heads=self.num_heads,
            ffn_dim=self.ffn_dim,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout,
            activation=self.activation,
            norm_first=self.norm_first,
        )

    @property
    def src_vocab_size(self) -> int:
        return self.source_vocab_size or self.vocab_size

    @property
    def source_positions(self) -> tuple[str, int]:
        """The encoder's kind of positions and how many it has."""
        kind = self.encoder_positions or ("learned" if self.learned_positions else "sinusoid")
        return kind, self.max_source_positions or self.max_positions

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)
