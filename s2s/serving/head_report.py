"""Browsing an attention-head report (``s2s analyze``'s heads.json and heatmaps) in ``s2s app``."""

from __future__ import annotations

import json
from pathlib import Path

from s2s.errors import DataError


class HeadReport:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "heads.json"
        if not path.is_file():
            raise DataError(
                f"{self.folder} holds no heads.json: make a report with `s2s analyze CKPT -i FILE --out DIR`"
            )
        try:
            self.heads = json.loads(path.read_text(encoding="utf-8"))["heads"]
        except (ValueError, KeyError) as error:
            raise DataError(f"{path} is not an s2s analyze report ({error})") from None

    def choices(self) -> list[str]:
        return [self.label(h) for h in self.heads]

    @staticmethod
    def label(head: dict) -> str:
        return f"{head['title']}, layer {head['layer']}, head {head['head']}: {head['pattern']}"

    def show(self, choice: str) -> tuple[str, list[tuple[str, str]]]:
        """``(markdown about the head, [(heatmap path, caption)])``."""
        head = next(h for h in self.heads if self.label(h) == choice)
        measures = " · ".join(f"{name} {value:.2f}" for name, value in head["measures"].items())
        lines = [f"### {choice}", "", head["description"], "", f"Measures: {measures}", "", "Examples:"]
        lines += [f"- {e['source']} → {e['output']} ({e['figure']:.2f})" for e in head["examples"]]
        pictures = [
            (str(self.folder / e["heatmap"]), e["source"])
            for e in head["examples"]
            if (self.folder / e["heatmap"]).is_file()
        ]
        return "\n".join(lines), pictures
