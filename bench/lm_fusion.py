"""AN4 WER with and without shallow fusion of an n-gram LM built from AN4's training transcripts.

    python tools/build_ngram.py models/whisper-tiny.en.pt --manifest data/an4_espnet/train.tsv --order 4 -o an4.arpa
    python bench/lm_fusion.py --lm an4.arpa [--model models/whisper-tiny.en.pt] [--weights 0 0.3 0.5 1]

Whisper tiny.en, zero-shot, beam 5, on ESPnet's ``train_dev`` (``data/an4_espnet/valid.tsv``, 100
utterances of held-out speakers; the LM saw only the other 848 utterances' transcripts): the LM is
the only thing that knows AN4's spelling (upper case, numbers and letters as words), so this is
adaptation to a domain by text alone. Prints WER as written and after Whisper's normalizer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from machine import describe  # noqa: E402  (bench/machine.py)

from s2s.checkpoint import load_checkpoint  # noqa: E402
from s2s.data.speech.audio import load_audio  # noqa: E402
from s2s.data.speech.manifest import read_manifest  # noqa: E402
from s2s.decoding import DecodingOptions  # noqa: E402
from s2s.inference.transcriber import Transcriber  # noqa: E402
from s2s.metrics import recognition_scores  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=ROOT / "models" / "whisper-tiny.en.pt")
    p.add_argument("--manifest", type=Path, default=ROOT / "data" / "an4_espnet" / "valid.tsv")
    p.add_argument("--lm", type=Path, required=True)
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.3, 0.5, 1.0])
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    rows = read_manifest(args.manifest)
    waves = [load_audio(r.audio) for r in rows]
    references = [r.target for r in rows]
    options = DecodingOptions(beam_size=args.beam, max_len_a=0.0, max_len_b=60)
    print("| LM weight | WER as written | WER after Whisper's normalizer | seconds |\n|---|---|---|---|")
    for weight in [None, *args.weights]:
        began = time.perf_counter()
        lm = {} if weight is None else {"lm": args.lm, "lm_weight": weight}
        transcriber = Transcriber(loaded, options=options, workers=args.workers, **lm)
        hypotheses = [t.text for t in transcriber.transcribe_waves(waves)]
        scores = recognition_scores(hypotheses, references, normalize="whisper")
        label = "no LM" if weight is None else f"{weight:g}"
        print(f"| {label} | {scores['raw']['wer']:.2f} | {scores['wer']:.2f} | {time.perf_counter() - began:.0f} |")
    print(f"\n{len(rows)} utterances of {args.manifest}, beam {args.beam}; {describe()}")


if __name__ == "__main__":
    main()
