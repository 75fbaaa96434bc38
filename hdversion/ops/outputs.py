"""The file a command writes where the user says (`report -o`, `export -o`): checked before
any work, the same way for every such command."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from hdversion.errors import UsageError, WriteError
from hdversion.paths import TEMP_PREFIX


def check_output_file(output: Path) -> None:
    """UsageError (exit 2) unless `output`'s folder exists (never made: a typo in a mount
    point would write to the root disk) and `output` is absent or a regular file. Run before
    the work, so that an unusable name costs nothing; then the caller's own checks, then
    `check_folder_takes_files`."""
    folder = output.parent
    if not folder.is_dir():
        blocking = _file_in_the_way(folder)
        if blocking is not None:
            raise UsageError(f"{str(blocking)!r} is a file, not a folder; nothing was "
                             "written", hint="check the path")
        raise UsageError(f"folder {str(folder)!r} does not exist; nothing was written",
                         hint="create it first, or check the path")
    try:
        info = output.lstat()
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{str(output)!r} exists and is not a regular file; not "
                             "replacing it")


def _file_in_the_way(folder: Path) -> Path | None:
    """The file that stands where `folder` or one of its parents should be a folder: "does
    not exist" would send the user looking for a folder to create."""
    for each in (folder, *folder.parents):
        if each.exists():
            return None if each.is_dir() else each
    return None


def check_folder_takes_files(output: Path) -> None:
    """WriteError (exit 1) unless a file can be made beside `output`; the caller still
    handles a write that fails later (a full disk)."""
    folder = output.parent
    # Modes do not say it (root ignores them; /proc, a read-only mount refuse root too):
    # make a file there and remove it.
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
    except OSError as exc:
        raise WriteError(f"cannot write into folder {str(folder)!r}: "
                         f"{exc.strerror or exc}; nothing was written") from None
    os.close(fd)
    os.unlink(probe)
