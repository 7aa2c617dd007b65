"""`s2s prepare synth`: espeak-ng speech for parallel text (this one runs wherever espeak-ng is installed)."""

from __future__ import annotations

import os

import soundfile as sf

from s2s.cli.main import main
from s2s.data.speech.audio import FeatureStats, load_audio, log_mel
from s2s.data.speech.manifest import read_manifest
from s2s.data.prepare.synth import job_key, voice_for
from tests.speech_helpers import skip_without


def test_prepare_synth_on_a_few_multi30k_sentences(tmp_path):
    skip_without("espeak-ng")
    text = tmp_path / "text"
    text.mkdir()
    english = ["A man rides a bike.", "-Two dogs play in the snow.", "A girl reads a book.", "People walk."]
    german = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Ein Mädchen liest ein Buch.", "Leute gehen."]
    for split, n in (("train", 4), ("valid", 2), ("test", 1)):
        (text / f"{split}.en").write_text("\n".join(english[:n]) + "\n")
        (text / f"{split}.de").write_text("\n".join(german[:n]) + "\n")
    out = tmp_path / "synth"
    main(["prepare", "synth", "--from", str(text), "--out", str(out), "--vocab-size", "60", "--workers", "2",
          "--transcripts"])
    rows = read_manifest(out / "train.tsv")
    assert [r.source for r in rows] == english * 2 and [r.target for r in rows] == german + english
    assert [r.lang for r in rows] == ["de"] * 4 + ["en"] * 4  # translate, then transcribe the same audio
    assert [r.audio for r in rows[:4]] == [r.audio for r in rows[4:]]
    assert [r.target for r in read_manifest(out / "test_asr.tsv")] == english[:1]
    for row in rows:
        info = sf.info(str(row.audio))
        assert info.samplerate == 16_000 and info.channels == 1 and info.format == "FLAC"
        assert info.duration > 0.5 and abs(info.duration - row.duration) < 1e-3
    assert len(read_manifest(out / "valid.tsv")) == 4 and len(read_manifest(out / "test.tsv")) == 1
    # The statistics read each recording once, though the manifest lists it twice.
    frames = sum(log_mel(load_audio(r.audio)).shape[0] for r in rows[:4])
    assert FeatureStats.load(out / "cmvn.json").frames == frames
    voices = {voice_for(1, "train", i) for i in range(40)}
    assert len({v for v, _, _ in voices}) > 10 and len({s for _, s, _ in voices}) > 10  # varied voices and speeds


def test_a_rerun_reuses_the_files_an_interrupted_run_wrote_whole(tmp_path):
    skip_without("espeak-ng")
    text = tmp_path / "text"
    text.mkdir()
    english = ["A man rides a bike.", "Two dogs play.", "A girl reads.", "People walk."]
    for split, n in (("train", 4), ("valid", 1), ("test", 1)):
        (text / f"{split}.en").write_text("\n".join(english[:n]) + "\n")
        (text / f"{split}.de").write_text("\n".join(["Ein Satz."] * n) + "\n")
    out = tmp_path / "synth"
    command = ["prepare", "synth", "--from", str(text), "--out", str(out), "--vocab-size", "40", "--workers", "2"]
    main(command)
    audio = out / "audio" / "train"
    files = sorted(audio.glob("*.flac"))
    assert len(files) == 4 and len((audio / "done.tsv").read_text().splitlines()) == 4
    for f in files:
        os.utime(f, (1_000_000, 1_000_000))  # an old mtime marks a file as not rewritten
    files[1].unlink()  # lost
    (text / "train.en").write_text("\n".join([english[0], english[1], "Something else is said.", english[3]]) + "\n")
    with open(audio / "done.tsv", "a") as log:
        # a kill cut this line short inside its duration: it must not override the whole line before it
        log.write(f"train_000003.flac\t{job_key(english[3], *voice_for(1, 'train', 3))}\t0.")
    main(command)
    rewritten = [f.stat().st_mtime != 1_000_000 for f in files]
    assert rewritten == [False, True, True, False]  # lost and changed sentences only
    rows = read_manifest(out / "train.tsv")
    assert [r.source for r in rows][2] == "Something else is said."
    assert all(abs(sf.info(str(r.audio)).duration - r.duration) < 1e-3 for r in rows)
    assert not list(audio.glob("*.part"))
