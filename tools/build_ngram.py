"""Build the n-gram LM that ``s2s transcribe --lm`` fuses: text -> the model's pieces -> ARPA.

    python tools/build_ngram.py CKPT (--text FILE | --manifest TSV)... --order 4 -o lm.arpa [--pieces-out P.txt]

``--text``: one sentence a line; ``--manifest``: an s2s manifest's ``target`` column (e.g. the training
transcripts of ``s2s prepare an4``). The sentences are written as the checkpoint's tokenizer spells them
(``s2s.data.text.arpa``), so the LM scores exactly the tokens the decoder writes. ``--pieces-out`` also
writes that piece text, for kenlm's own ``lmplz -o 4 < P.txt > lm.arpa`` where it is installed.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.data.text.arpa import build_arpa, lm_vocabulary, piece_sentences


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="the model whose tokenizer spells the text")
    p.add_argument("--text", type=Path, action="append", default=[])
    p.add_argument("--manifest", type=Path, action="append", default=[])
    p.add_argument("--order", type=int, default=4)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--pieces-out", type=Path, default=None)
    args = p.parse_args()
    texts = [
        line.strip() for path in args.text for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for path in args.manifest:
        with open(path, encoding="utf-8", newline="") as f:
            texts += [row["target"] for row in csv.DictReader(f, delimiter="\t")]
    if not texts:
        raise SystemExit("build_ngram: no sentences (give --text or --manifest)")
    tokenizer = load_checkpoint(args.checkpoint).tokenizer
    sentences = piece_sentences(texts, tokenizer)
    vocabulary = lm_vocabulary(tokenizer)
    counts = build_arpa(sentences, vocabulary, args.order, args.out)
    if args.pieces_out:
        args.pieces_out.write_text("".join(" ".join(s) + "\n" for s in sentences), encoding="utf-8")
    print(f"{len(sentences)} sentences -> {args.out}: " + ", ".join(f"{n} {k}-grams" for k, n in counts.items()))


if __name__ == "__main__":
    main()
