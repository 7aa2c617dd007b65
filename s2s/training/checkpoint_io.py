"""Lightning's checkpoint writes routed through :func:`s2s.checkpoint.atomic_save`.

Lightning's own ``TorchCheckpointIO`` serializes to memory and then writes the target file in
place, so a process killed during the write leaves a truncated ``last.ckpt`` behind. This plugin
writes a temporary file in the same folder, fsyncs it and renames it over the target: a kill at
any moment leaves either the old checkpoint or the new one, never a mix.
"""

from __future__ import annotations

from typing import Any

from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from s2s.checkpoint import atomic_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic (temp file, fsync, rename); loading is unchanged."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_save(checkpoint, path)
