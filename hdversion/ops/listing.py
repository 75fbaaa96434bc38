"""Listing backups: the catalog, and with a remote, how complete each backup is there."""

from __future__ import annotations

from pathlib import Path

from hdversion.errors import UsageError
from hdversion.model.catalog import Catalog
from hdversion.model.manifest import KINDS
from hdversion.model.pins import Pin
from hdversion.ops.catalog import catalog_with, read_pins
from hdversion.ops.project import Project


def list_backups(path: Path | None = None, remote: str | None = None, offline: bool = False,
                 last: int | None = None, kind: str | None = None
                 ) -> tuple[Catalog, dict[str, int] | None, dict[str, Pin]]:
    """The catalog (fetched from the git remote first unless `offline`), with a remote how
    many objects each backup lacks there, and the pins (by backup tag). `kind` keeps one
    kind of backup, then `last` the newest N of those."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    if last is not None and last < 1:
        raise UsageError("--last must be at least 1")
    project = Project.open(path)
    catalog = catalog_with(project, None, offline)
    if kind is not None:
        catalog.backups = [b for b in catalog.backups if b.manifest.kind == kind]
    if last is not None:
        catalog.backups = catalog.backups[:last]
    lacking = None
    if remote is not None:
        # Imported here: without a remote, `list` reads tags alone (no DVC to load).
        from hdversion.ops.remotes import completeness

        lacking = completeness(project, remote, catalog.backups)
    project.journal("list", "ok", backups=len(catalog.backups), remote=remote)
    return catalog, lacking, read_pins(project.git)
