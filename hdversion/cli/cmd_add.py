"""hdversion add"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.lazy import api, progress
from hdversion.cli.options import JSON, WAIT, argument

PATHS = argument("PATH", "A folder (or file) of the project for DVC to track.")


def add(paths: list[str] = PATHS, wait: float = WAIT, as_json: bool = JSON) -> None:
    """Track new artifacts as `dvc add` does (the same .dvc files, cache and .gitignore
    lines), each new folder read once on every core and teed into the local remote, so that
    the next backup reads and copies nothing. Commit the .dvc files with git."""
    with progress.reporter_for(as_json) as reporter:
        result = api.add(paths, wait=wait, reporter=reporter)
    if as_json:
        records.emit_result({"pointer_files": list(result.pointer_files)}, None)
    else:
        for pointer in result.pointer_files:
            print(f"added: {pointer} (commit it with git)")
