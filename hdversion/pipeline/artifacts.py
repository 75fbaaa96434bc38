"""Writing artifacts atomically and checking that a stage's inputs exist."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hdversion.pipeline.errors import MissingInputError


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name beside `target` that keeps its suffix.

    The suffix matters: Keras picks the HDF5 format from ".h5", matplotlib the image format
    from ".png", and numpy appends ".npz" to a name without it.
    """
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return target.with_name(f".{target.stem}.{token}.tmp{target.suffix}")


@contextmanager
def atomic_outputs(*targets: Path) -> Iterator[tuple[Path, ...]]:
    """Yield temporary paths to write `targets` to; move them into place only on success.

    All temporary files sit beside their targets (same file system, so os.replace is atomic)
    and are moved together after the block succeeds, so a stage that fails halfway leaves
    neither a truncated file nor a mix of new and old outputs. On failure they are removed.
    """
    temps = tuple(temp_path_for(target) for target in targets)
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
        yield temps
        for temp, target in zip(temps, targets, strict=True):
            if not temp.exists():
                raise RuntimeError(f"stage wrote nothing for {target}")
        for temp, target in zip(temps, targets, strict=True):
            os.replace(temp, target)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)


def require_inputs(*paths: Path) -> None:
    """Fail with a clear message if an input artifact is missing."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise MissingInputError(
            f"missing input(s): {', '.join(missing)}; run the earlier stages first "
            "(`dvc repro` or `python -m hdversion.pipeline`)"
        )
