"""Manifests, `s2s prepare an4|fsdd` on slices of the real corpora, and frame-budget batches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from s2s.data.prepare.an4 import espnet_id, prepare_an4
from s2s.data.speech.audio import FeatureStats
from s2s.data.prepare.fsdd import prepare_fsdd
from s2s.data.speech.manifest import Utterance, read_manifest, write_manifest
from s2s.data.speech.datamodule import SpeechDataModule
from s2s.errors import DataError
from tests.speech_helpers import AN4, an4_subset, fsdd_subset, require_shared


def test_manifest_roundtrip(tmp_path):
    rows = [Utterance("a", tmp_path / "audio" / "a.wav", 1.25, "hallo\twelt", "hello world", "de"),
            Utterance("b", tmp_path / "b.flac", 0.5, "zwei", "two", "de")]
    write_manifest(tmp_path / "m.tsv", rows)
    header, first = (tmp_path / "m.tsv").read_text().splitlines()[:2]
    assert header == "id\taudio\tduration\ttarget\tsource\tlang"
    assert first.split("\t")[1] == "audio/a.wav"  # relative to the manifest's folder
    back = read_manifest(tmp_path / "m.tsv", check_audio=False)
    assert back[0] == Utterance("a", tmp_path / "audio" / "a.wav", 1.25, "hallo welt", "hello world", "de")
    assert back[1].source == "two" and back[1].duration == 0.5


def test_manifest_written_from_relative_paths_reads_back_the_same_files(tmp_path, monkeypatch):
    """``s2s prepare ... --out data/x`` (a relative folder): the paths must not be doubled on reading."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "x" / "audio").mkdir(parents=True)
    (tmp_path / "data" / "x" / "audio" / "a.wav").write_bytes(b"")
    (tmp_path / "elsewhere.wav").write_bytes(b"")
    rows = [Utterance("a", Path("data/x/audio/a.wav"), 1.0, "a"), Utterance("b", Path("elsewhere.wav"), 1.0, "b")]
    write_manifest(Path("data/x/train.tsv"), rows)
    assert [line.split("\t")[1] for line in Path("data/x/train.tsv").read_text().splitlines()[1:]] == [
        "audio/a.wav", str(tmp_path / "elsewhere.wav")]
    back = read_manifest("data/x/train.tsv")  # checks that every audio file exists
    assert [u.audio.resolve() for u in back] == [tmp_path / "data/x/audio/a.wav", tmp_path / "elsewhere.wav"]


def test_manifest_errors(tmp_path):
    (tmp_path / "bad.tsv").write_text("id\tpath\ttext\nx\ty.wav\thi\n")
    with pytest.raises(DataError, match="lacks column"):
        read_manifest(tmp_path / "bad.tsv")
    (tmp_path / "bad2.tsv").write_text("id\taudio\tduration\ttarget\nx\ty.wav\tlong\thi\n")
    with pytest.raises(DataError, match="line 2: duration 'long'"):
        read_manifest(tmp_path / "bad2.tsv")
    with pytest.raises(DataError, match="not found"):
        read_manifest(tmp_path / "none.tsv")
    (tmp_path / "here.wav").write_bytes(b"")
    (tmp_path / "gone.tsv").write_text("id\taudio\tduration\ttarget\nx\there.wav\t1\thi\ny\tgone.wav\t1\tho\n")
    with pytest.raises(DataError, match="gone.tsv line 3: audio file .*gone.wav not found"):
        read_manifest(tmp_path / "gone.tsv")


@pytest.fixture(scope="module")
def an4_prepared(tmp_path_factory):
    local = an4_subset(tmp_path_factory.mktemp("an4_local"), speakers=8, per_speaker=4)
    out = tmp_path_factory.mktemp("an4")
    prepare_an4(out=out, local=local, vocab_size=40, valid_speakers=2, test_speakers=2, seed=3)
    return out


def test_prepare_an4_holds_out_speakers(an4_prepared):
    splits = {s: read_manifest(an4_prepared / f"{s}.tsv") for s in ("train", "valid", "test")}
    speakers = {s: {u.id.split("-")[1] for u in rows} for s, rows in splits.items()}
    assert len(speakers["valid"]) == 2 and len(speakers["test"]) == 2 and len(speakers["train"]) == 4
    assert not (speakers["train"] & speakers["valid"]) and not (speakers["train"] & speakers["test"])
    assert sum(len(r) for r in splits.values()) == 32
    first = splits["train"][0]
    assert first.audio.is_file() and first.audio.parent == an4_prepared / "audio" and first.target.isupper()
    stats = FeatureStats.load(an4_prepared / "cmvn.json")
    assert stats.frames > 1000 and all(s > 0 for s in stats.std)
    assert json.loads((an4_prepared / "meta.json").read_text())["utterances"]["train"] == len(splits["train"])


def test_prepare_an4_espnet_split_holds_out_espnets_dev_set(tmp_path):
    """ESPnet's train_dev: the first 100 of the sorted ``<speaker>-<name>`` ids, 8 whole speakers."""
    assert espnet_id("an251-fash-b") == "fash-an251-b"
    with pytest.raises(DataError, match="is not <name>-<speaker>-<channel>"):
        espnet_id("an251")
    require_shared(AN4)
    out = prepare_an4(out=tmp_path / "an4", local=AN4, vocab_size=40, valid_speakers=5, test_speakers=5,
                      split="espnet")
    splits = {s: read_manifest(out / f"{s}.tsv") for s in ("train", "valid", "test")}
    speakers = {s: {u.id.split("-")[1] for u in rows} for s, rows in splits.items()}
    assert (len(splits["train"]), len(splits["valid"])) == (848, 100)
    assert sorted(speakers["valid"]) == ["fash", "fbbh", "fclc", "fejs", "ffmm", "fjam", "fjdn", "fjmd"]
    assert not speakers["train"] & speakers["valid"]
    assert splits["test"] == splits["valid"]  # the local copy has no official test set
    small = an4_subset(tmp_path / "small", speakers=3, per_speaker=2)
    with pytest.raises(DataError, match="holds out 100 utterances; the copy has only 6"):
        prepare_an4(out=tmp_path / "small_out", local=small, vocab_size=40, valid_speakers=1, test_speakers=1,
                    split="espnet")


def test_prepare_fsdd_holds_out_indices(tmp_path):
    local = fsdd_subset(tmp_path / "recordings", digits=(4, 8), speakers=("theo",), indices=range(5, 14))
    out = prepare_fsdd(out=tmp_path / "fsdd", local=local, valid_count=2, test_count=2)
    splits = {s: read_manifest(out / f"{s}.tsv") for s in ("train", "valid", "test")}
    assert sorted(u.id for u in splits["valid"]) == ["4_theo_5", "4_theo_6", "8_theo_5", "8_theo_6"]
    assert sorted(u.id for u in splits["test"]) == ["4_theo_7", "4_theo_8", "8_theo_7", "8_theo_8"]
    assert len(splits["train"]) == 10 and {u.target for u in splits["train"]} == {"four", "eight"}
    with pytest.raises(DataError, match="no FSDD recordings"):
        prepare_fsdd(out=tmp_path / "none", local=tmp_path / "fsdd")


def test_speech_batches_stay_under_the_frame_budget(an4_prepared):
    spec = {"freq_masks": 2, "freq_width": 10, "time_masks": 2, "time_width": 20, "time_ratio": 0.2}
    dm = SpeechDataModule(data_dir=str(an4_prepared), src_lang="en", tgt_langs=["en"], task="transcribe",
                          max_frames=1500, spec_augment=spec, speed_perturb=[0.9, 1.0, 1.1])
    dm.setup()
    seen = []
    for batch in dm.train_dataloader():
        b, frames, dims = batch.source.shape
        assert dims == 80 and b * frames <= 1500 / 0.9 + 2 * b  # the budget allows for slowed-down audio
        assert torch.equal(batch.source_lengths.max(), torch.tensor(frames))
        prefix = batch.prefix[0].tolist()
        assert prefix == dm.tokenizer.prefix("en", "transcribe")
        assert (batch.target_out[:, : len(prefix) - 1] == dm.tokenizer.pad_id).all()  # tags are not trained
        seen += batch.indices
    assert sorted(seen) == list(range(len(dm.train_dataset)))
    valid = next(iter(dm.val_dataloader()))
    example = dm.valid_dataset[valid.indices[0]]
    assert torch.equal(valid.source[0, : example.features.shape[0]], example.features)  # no augmentation


@pytest.mark.parametrize("replicas", [2, 3])
def test_every_validation_utterance_is_transcribed_by_some_rank(an4_prepared, replicas):
    """Under DDP each rank gets equal step counts; evaluation pads instead of dropping, so the
    validation WER covers the whole split (it used to leave the last batches out)."""
    dm = SpeechDataModule(data_dir=str(an4_prepared), src_lang="en", tgt_langs=["en"], task="transcribe",
                          max_frames=700, spec_augment=None, speed_perturb=None)
    dm.setup()
    per_rank = []
    for rank in range(replicas):
        dm.trainer = SimpleNamespace(world_size=replicas, global_rank=rank)
        per_rank.append([batch.indices for batch in dm.val_dataloader()])
    assert len({len(batches) for batches in per_rank}) == 1
    assert len({tuple(b) for batches in per_rank for b in batches}) > 1  # the split really is sharded
    assert {i for batches in per_rank for b in batches for i in b} == set(range(len(dm.valid_dataset)))


def test_an4_sphere_layout_is_converted(tmp_path):
    """The public tarball's layout: SPHERE files under wav/an4_clstk/<speaker>/ and a transcription list."""
    import numpy as np
    import soundfile as sf
    from rich.console import Console

    from s2s.data.prepare.an4 import sphere_utterances

    root = tmp_path / "an4"
    (root / "etc").mkdir(parents=True)
    lines = []
    for uid, text in (("an251-fash-b", "YES"), ("cen1-fash-b", "H E L L O"), ("an10-mblw-b", "ENTER SIX")):
        folder = root / "wav" / "an4_clstk" / uid.split("-")[1]
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(str(folder / f"{uid}.sph"), (np.random.randn(8000) * 1000).astype(np.int16), 16_000,
                 format="NIST", subtype="PCM_16")
        lines.append(f"<s> {text} </s> ({uid})")
    (root / "etc" / "an4_train.transcription").write_text("\n".join(lines) + "\n")
    rows = sphere_utterances(root, "train", tmp_path / "audio", Console(quiet=True))
    assert [(u.id, u.target, speaker) for u, speaker in rows] == [
        ("an251-fash-b", "YES", "fash"), ("cen1-fash-b", "H E L L O", "fash"), ("an10-mblw-b", "ENTER SIX", "mblw")]
    assert all(u.duration == 0.5 and sf.info(str(u.audio)).format == "FLAC" for u, _ in rows)


def test_a_run_reads_the_rows_and_test_manifests_of_its_target_languages(an4_prepared, tmp_path, capsys):
    """Manifests with transcripts (`prepare synth --transcripts`) serve recognition, translation or both."""
    for name in ("spm.model", "cmvn.json"):
        shutil.copy(an4_prepared / name, tmp_path / name)

    def both(split):
        rows = read_manifest(an4_prepared / f"{split}.tsv")
        spoken = [Utterance(u.id, u.audio, u.duration, u.target, u.target, "en") for u in rows]
        return spoken, [Utterance(f"{u.id}-de", u.audio, u.duration, "ZWEI", u.target, "de") for u in spoken]
    for split in ("train", "valid"):
        write_manifest(tmp_path / f"{split}.tsv", sum(both(split), []))
    spoken, translated = both("test")
    write_manifest(tmp_path / "test.tsv", translated)
    write_manifest(tmp_path / "test_asr.tsv", spoken)
    count = len(read_manifest(an4_prepared / "train.tsv"))

    def module(langs, task):
        dm = SpeechDataModule(data_dir=str(tmp_path), src_lang="en", tgt_langs=langs, task=task)
        dm.setup()
        return dm

    asr = module(["en"], "transcribe")
    assert len(asr.train_dataset) == count and {u.lang for u in asr.train_dataset.utterances} == {"en"}
    assert f"{count} of {2 * count} utterances are left out: their targets are in de" in capsys.readouterr().err
    assert asr.test_manifests() == [tmp_path / "test_asr.tsv"]
    assert module(["de"], "translate").test_manifests() == [tmp_path / "test.tsv"]
    assert "their targets are in en" in capsys.readouterr().err
    both_tasks = module(["de", "en"], "auto")
    assert len(both_tasks.train_dataset) == 2 * count and "left out" not in capsys.readouterr().err
    assert both_tasks.test_manifests() == [tmp_path / "test.tsv", tmp_path / "test_asr.tsv"]
