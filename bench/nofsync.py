"""`hdversion` with its fsyncs and syncfs turned off, for bench/peers.py and bench/small.py
only: timed beside the real restore, it shows in the same run how much of a restore is the
durability that restic (and git, DVC) do not promise. Never a way to run hdversion."""

from __future__ import annotations

import sys
from pathlib import Path

from hdversion.util import atomic


def _no_flush(path: Path) -> None:
    del path


atomic.fsync_path = _no_flush
atomic.sync_filesystem = _no_flush

from hdversion.cli.app import main  # noqa: E402  (after the patch, as the CLI would load it)

sys.argv[0] = "hdversion"
main()
