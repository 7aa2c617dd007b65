"""docs/design/concepts.md cites code by file and line: every cited line must still say what the page quotes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"\[(s2s/[\w/]+\.py):(\d+)\]\([^)]*\) \| `(.+)` \|$")


def test_every_cited_line_holds_its_quote():
    rows = [
        ROW.search(line) for line in (ROOT / "docs" / "design" / "concepts.md").read_text(encoding="utf-8").splitlines()
    ]
    rows = [r for r in rows if r]
    assert len(rows) >= 20
    for row in rows:
        path, number, quote = row.group(1), int(row.group(2)), row.group(3).replace("\\|", "|")
        lines = (ROOT / path).read_text(encoding="utf-8").splitlines()
        actual = [i + 1 for i, line in enumerate(lines) if quote in line]
        assert number <= len(lines) and quote in lines[number - 1], (
            f"docs/design/concepts.md cites {path}:{number} for {quote!r}; that text is now on line(s) {actual} (python tools/cite_lines.py refreshes the numbers)"
        )
