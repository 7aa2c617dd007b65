"""Fetch a file from its public source, or copy it from a local mirror, with a progress bar."""

from __future__ import annotations

import gzip
import io
import shutil
import urllib.request
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from s2s.data.text.corpus import utf8_lines
from s2s.errors import DataError


def fetch(name: str, *, url: str, local_dir: Path | None, dest: Path) -> Path:
    """Put ``name`` at ``dest``: copied from ``local_dir/name`` when given, else downloaded from ``url``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if local_dir is not None:
        source = Path(local_dir) / name
        if not source.is_file():
            raise DataError(f"{source} not found (the --from folder must hold {name})")
        shutil.copyfile(source, dest)
        return dest
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out, Progress(
            TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True
        ) as progress:
            task = progress.add_task(name, total=int(response.headers.get("Content-Length") or 0) or None)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                progress.update(task, advance=len(chunk))
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {error}; pass --from DIR with a local copy") from None
    tmp.replace(dest)
    return dest


def gunzip_lines(path: Path) -> list[str]:
    """The lines of a gzip text file, split as :func:`s2s.data.text.corpus.utf8_lines` does."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:  # not gzip, or cut short
        raise DataError(f"{path.name} is not a readable gzip file: {error}") from None
    return list(utf8_lines(io.BytesIO(data), path.name))
