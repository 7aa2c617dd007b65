"""Refresh the line numbers that docs/design/concepts.md cites, by finding each quoted line again.

    python tools/cite_lines.py        # rewrites docs/design/concepts.md in place; fails on a quote it cannot find

The quotes are the source of truth: a quote that no longer occurs (or occurs twice) needs a human.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"\[(s2s/[\w/]+\.py):(\d+)\]\(\.\./\.\./\1#L\d+\) \| `(.+)` \|$")


def refresh(text: str) -> tuple[str, list[str]]:
    problems, out = [], []
    for line in text.splitlines():
        match = CITATION.search(line)
        if match:
            path, quote = match.group(1), match.group(3).replace("\\|", "|")
            hits = [
                i + 1 for i, src in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines()) if quote in src
            ]
            if len(hits) != 1:
                problems.append(f"{path}: {quote!r} found on lines {hits}")
            else:
                n = hits[0]
                line = line[: match.start()] + f"[{path}:{n}](../../{path}#L{n}) | `{match.group(3)}` |"
        out.append(line)
    return "\n".join(out) + "\n", problems


def main() -> None:
    doc = ROOT / "docs" / "design" / "concepts.md"
    text, problems = refresh(doc.read_text(encoding="utf-8"))
    doc.write_text(text, encoding="utf-8")
    if problems:
        sys.exit("cannot place:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
