"""Adding new artifacts for DVC to track, as `dvc add` does (the same pointer files, cache
and `.gitignore` lines), through the backup's ingest: each new folder is read once on every
core, cached and teed into the local remote, and recorded, so that the backup that follows
reads nothing and copies nothing (datastore/hashed_record.py)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hdversion.errors import UsageError
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.util.progress import SILENT, Reporter


@dataclass
class AddResult:
    pointer_files: tuple[str, ...]  # the .dvc files written, relative to the project


def add(paths: list[str], *, repo: Path | None = None, wait: float = 0,
        reporter: Reporter = SILENT, config: Path | None = None) -> AddResult:
    """`dvc add` each of `paths` (relative to the current directory, inside the project),
    holding the repository lock; the pointer files are written in place, as `dvc add`
    writes them (commit them with git)."""
    if not paths:
        raise UsageError("nothing to add: name a folder or file of the project")
    project = Project.open(repo, config=config)
    targets = project_paths(project, paths)
    with locked_operation(project, "add", wait):
        return add_locked(project, targets, reporter)


def project_paths(project: Project, paths: list[str]) -> list[str]:
    """`paths` (relative to the current directory) relative to the project, each once;
    UsageError for one outside it or missing (before anything is written)."""
    targets = []
    for path in paths:
        absolute = Path(path).absolute()
        if not absolute.is_relative_to(project.root):
            raise UsageError(f"{path} is not inside the project ({project.root})")
        if not os.path.lexists(absolute):
            raise UsageError(f"nothing to add at {path}: no such file or folder")
        targets.append(absolute.relative_to(project.root).as_posix())
    return list(dict.fromkeys(targets))


def add_locked(project: Project, targets: list[str], reporter: Reporter = SILENT
               ) -> AddResult:
    """`add` of paths relative to the project, the caller holding the repository lock (a
    backup that adds first: `backup --add`)."""
    reporter.step(f"adding {', '.join(targets)}")
    written = project.store.add([str(project.root / t) for t in targets], reporter)
    project.journal("add", "ok", paths=targets, pointer_files=written)
    return AddResult(tuple(written))
