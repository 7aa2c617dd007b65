"""Choose the cross-attention heads that time words best, and store them in the checkpoint.

    python tools/choose_alignment_heads.py models/whisper-tiny.en.pt [--sentences 16] [--keep 6] [-o OUT]

Each of ``--sentences`` Multi30k training captions is synthesized word by word with espeak-ng
(``bench/known_timing.py``: every word's start known), transcribed, and its words timed by
dynamic time warping over one head's cross-attention at a time (``s2s.inference.word_timing``).
The ``--keep`` heads with the smallest mean word-start error become ``info["alignment_heads"]``,
which ``s2s transcribe --word-timestamps`` then uses; the table of every head is printed. The
measurement in docs/speech.md uses other sentences (test captions) than this choice.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from known_timing import MATCH_WINDOW, espeak_sentences, summary, word_start_errors  # noqa: E402  (bench/known_timing.py)

from s2s.checkpoint import atomic_save, load_checkpoint, read_checkpoint, split_checkpoint  # noqa: E402
from s2s.data.speech.audio import SAMPLE_RATE  # noqa: E402
from s2s.decoding import DecodingOptions  # noqa: E402
from s2s.inference.transcriber import Transcriber  # noqa: E402
from s2s.inference.word_timing import WordTimer  # noqa: E402
from s2s.metrics import whisper_normalizer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def captions(split: str, count: int, max_words: int = 12) -> list[str]:
    with gzip.open(SHARED / "multi30k" / f"{split}.en.gz", "rt", encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    return [line for line in lines if 4 <= len(line.split()) <= max_words][:count]


def head_errors(path: Path, sentences: list[str]) -> tuple[dict[tuple[int, int], list[float]], int]:
    """Word-start errors (ms) of every single head over the synthesized sentences, and their word count."""
    loaded = load_checkpoint(path)
    transcriber = Transcriber(loaded, options=DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=80), vad=False)
    config = loaded.model.config
    timer = WordTimer(transcriber.model, loaded.tokenizer, transcriber.prefix, loaded.info)
    english = whisper_normalizer()
    errors: dict[tuple[int, int], list[float]] = {
        (layer, h): [] for layer in range(config.decoder_layers) for h in range(config.num_heads)
    }
    rng = np.random.default_rng(0)
    words = 0
    for sentence in sentences:
        recording = espeak_sentences([sentence], rng)
        words += len(recording.words)
        features = transcriber.window_features(recording.wave)
        (decoded,) = transcriber.decode_chunks([features])
        source, lengths = features[None], torch.tensor([features.shape[0]])
        for head in errors:
            timer.heads = [head]
            (timed_words,) = timer.words(source, lengths, [decoded.tokens], [recording.wave.numel() / SAMPLE_RATE])
            timed = [(w.word, w.start) for w in timed_words]
            errors[head] += word_start_errors(timed, recording.words, english)
    return errors, words


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--sentences", type=int, default=16)
    p.add_argument("--keep", type=int, default=6)
    p.add_argument("-o", "--out", type=Path, default=None, help="write here (default: update the checkpoint)")
    args = p.parse_args()
    torch.set_num_threads(1)
    errors, words = head_errors(args.checkpoint, captions("train", args.sentences))

    def cost(head) -> float:  # a word the head cannot place within MATCH_WINDOW counts as that far off
        return (sum(errors[head]) + (words - len(errors[head])) * MATCH_WINDOW * 1000) / max(words, 1)

    ranked = sorted(errors, key=cost)
    print(
        "| layer | head | mean word-start error, misses at 1 s (ms) | p95 of matched (ms) | words matched |\n"
        "|---|---|---|---|---|"
    )
    for head in ranked:
        mean, p95, count = summary(errors[head])
        print(f"| {head[0]} | {head[1]} | {cost(head):.0f} | {p95:.0f} | {count} of {words} |")
    chosen = [list(head) for head in ranked[: args.keep]]
    data = read_checkpoint(args.checkpoint)
    entry, _ = split_checkpoint(data)
    entry.setdefault("info", {})["alignment_heads"] = chosen
    atomic_save(data, args.out or args.checkpoint)
    print(f"alignment_heads {chosen} -> {args.out or args.checkpoint}")


if __name__ == "__main__":
    main()
