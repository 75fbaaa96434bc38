"""Listing backups: the catalog, and with a remote, how complete each backup is there."""

from __future__ import annotations

from pathlib import Path

from hdversion.model.catalog import Catalog
from hdversion.model.pins import Pin
from hdversion.ops.catalog import catalog_with
from hdversion.ops.pins import read_pins
from hdversion.ops.project import Project
from hdversion.ops.remotes import completeness


def list_backups(path: Path | None = None, remote: str | None = None, offline: bool = False
                 ) -> tuple[Catalog, dict[str, int] | None, dict[str, Pin]]:
    """The catalog (fetched from the git remote first unless `offline`), with a remote how
    many objects each backup lacks there, and the pins (by backup tag)."""
    project = Project.open(path)
    catalog = catalog_with(project, None, offline)
    lacking = None if remote is None else completeness(project, remote, catalog.backups)
    project.journal("list", "ok", backups=len(catalog.backups), remote=remote)
    return catalog, lacking, read_pins(project.git)
