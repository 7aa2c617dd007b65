"""Speech manifests: one TSV row per utterance (the format is documented in ``data/README.md``).

Columns, with a header line: ``id``, ``audio`` (a path, relative to the manifest's folder or
absolute), ``duration`` (seconds), ``target`` (the text to produce), and optionally
``source`` (the transcript, for speech translation) and ``lang`` (the target's language).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from s2s.errors import DataError

REQUIRED = ("id", "audio", "duration", "target")
OPTIONAL = ("source", "lang")


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: Path
    duration: float  # seconds
    target: str
    source: str = ""
    lang: str = ""


def clean(text: str) -> str:
    """Tabs and newlines would break the TSV: they become spaces."""
    return " ".join(text.split())


def write_manifest(path: Path, rows: list[Utterance]) -> None:
    """Write ``rows`` with audio paths relative to ``path``'s folder when they lie below it, else absolute.

    A relative ``Utterance.audio`` is taken relative to the working directory (where the
    producer wrote the file); readers resolve the written path against the manifest's folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(REQUIRED) + [c for c in OPTIONAL if any(getattr(r, c) for r in rows)]
    folder = path.parent.resolve()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("\t".join(columns) + "\n")
        for r in rows:
            audio = Path(r.audio).resolve()
            if audio.is_relative_to(folder):
                audio = audio.relative_to(folder)
            values = {"id": r.id, "audio": str(audio), "duration": f"{r.duration:.3f}", "target": clean(r.target),
                      "source": clean(r.source), "lang": r.lang}
            f.write("\t".join(values[c] for c in columns) + "\n")


def read_manifest(path: str | Path, *, check_audio: bool = True) -> list[Utterance]:
    """Rows of a manifest; with ``check_audio``, refuses one whose audio files are missing, before any work."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest not found: {path}")
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: the header lacks column(s) {missing}; expected {list(REQUIRED + OPTIONAL)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                duration = float(row["duration"])
            except (TypeError, ValueError):
                raise DataError(f"{path} line {line}: duration {row['duration']!r} is not a number") from None
            audio = Path(row["audio"] or "")
            rows.append(Utterance(row["id"], audio if audio.is_absolute() else path.parent / audio, duration,
                                  row["target"] or "", row.get("source") or "", row.get("lang") or ""))
    if check_audio:
        absent = [(line, r.audio) for line, r in enumerate(rows, start=2) if not r.audio.is_file()]
        if absent:
            line, audio = absent[0]
            raise DataError(f"{path} line {line}: audio file {audio} not found"
                            + (f" (and {len(absent) - 1} more rows)" if len(absent) > 1 else ""))
    return rows
