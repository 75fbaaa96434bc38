"""Listing backups: the catalog, and with a remote, how complete each backup is there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hdversion.errors import UsageError
from hdversion.model.namespaces import ALIAS_NAMESPACE, PIN_NAMESPACE
from hdversion.model.timestamps import TAG_PREFIX
from hdversion.ops.backup_refs import read_aliases, read_pins, refresh_catalog
from hdversion.ops.list_cache import listed_backups
from hdversion.ops.project import Project
from hdversion.util.log import log

# `list --json` served whole from its cache reads no manifest: the manifest's model (and
# the catalog that validates it) is loaded only where a tag must be read.
if TYPE_CHECKING:
    from hdversion.gitrepo import TagRecord
    from hdversion.model.catalog import Backup, Catalog
    from hdversion.model.pins import Pin


class RenderedList(NamedTuple):
    """list_rendered's answer (a tuple: `texts, invalid = list_rendered(...)`)."""

    records: list[tuple[str, Pin | None, list[str]]]  # each backup's record, pin, aliases
    invalid: list[tuple[str, str]]  # the tags skipped, with why


def list_rendered(*, render: Callable[[Backup], str], layout: str, repo: Path | None = None,
                  offline: bool = False, last: int | None = None, kind: str | None = None,
                  config: Path | None = None) -> RenderedList:
    """`list --json` without a remote: each backup's record as `render` writes it, its
    pin and its aliases (the caller sets them), newest first, from the cache of rendered
    records (ops/list_cache.py) where the tag is there; and the tags skipped, with why. The
    same choice of backups as list_backups."""
    _check_filters(kind, last)
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    if last is not None:
        return _newest_rendered(project, render, last, kind)
    # The tags' object ids in one git call that reads no object (asking for a tag's type or
    # message reads its object: 100,000 tags, 0.4 s against 2.5), the pins and the aliases
    # with their messages in another.
    ids = project.git.tag_object_ids(TAG_PREFIX)
    pin_refs, alias_refs = project.git.refs_of((PIN_NAMESPACE, ""), (ALIAS_NAMESPACE, ""))
    listed = listed_backups(project.git, TAG_PREFIX, render, layout, ids)
    backups = sorted(((tag, item) for tag, item in listed.items() if not item.invalid),
                     key=lambda pair: pair[1].timestamp, reverse=True)
    if kind is not None:
        backups = [(tag, item) for tag, item in backups if item.kind == kind]
    if last is not None:
        backups = backups[:last]
    pins = read_pins(project.git, pin_refs) if backups else {}
    aliases = _aliases_by_tag(project, alias_refs) if backups else {}
    project.journal("list", "ok", backups=len(backups), remote=None)
    return RenderedList([(item.record, pins.get(tag), aliases.get(tag, []))
                         for tag, item in backups],
                        [(tag, item.invalid) for tag, item in listed.items() if item.invalid])


def _newest_rendered(project: Project, render: Callable[[Backup], str], last: int,
                     kind: str | None) -> RenderedList:
    """list_rendered of the newest `last`: only their tags read (ops/newest.py), each
    rendered (no cache to read for so few); the tags skipped among those read."""
    from hdversion.ops.catalog import read_newest
    from hdversion.util.clock import now_utc

    catalog = read_newest(project.git, last, kind, now_utc())
    pins = read_pins(project.git) if catalog.backups else {}
    _warn_broken(catalog.broken_aliases)
    aliases = _named_by(catalog.aliases)
    project.journal("list", "ok", backups=len(catalog.backups), remote=None)
    return RenderedList([(render(b), pins.get(b.tag), aliases.get(b.tag, []))
                         for b in catalog.backups], catalog.invalid)


def _named_by(aliases: dict[str, str]) -> dict[str, list[str]]:
    if not aliases:
        return {}
    from hdversion.model.aliases import aliases_by_tag

    return aliases_by_tag(aliases)


def _aliases_by_tag(project: Project, refs: list[TagRecord]) -> dict[str, list[str]]:
    """Backup tag -> its aliases, from their refs; an alias whose record is not trusted is
    said so (and names nothing)."""
    records, broken = read_aliases(project.git, refs)
    _warn_broken(broken)
    return _named_by({n: r.timestamp for n, r in records.items() if r.timestamp})


def _warn_broken(broken: dict[str, str]) -> None:
    for name, why in sorted(broken.items()):
        log.warning("skipped alias %r: %s", name, why)


def list_metric(*, repo: Path | None = None, config: Path | None = None) -> str:
    """The metric of `list`'s column: `list.metric` in the settings, or the default."""
    return Project.open(repo, strict=False, config=config).settings.list_metric


def _check_filters(kind: str | None, last: int | None) -> None:
    if kind is not None:
        from hdversion.model.manifest import KINDS

        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    if last is not None and last < 1:
        raise UsageError("--last must be at least 1")


class BackupList(NamedTuple):
    """list_backups' answer; a tuple, so `catalog, lacking, pins = list_backups()` reads it
    as it always did."""

    catalog: Catalog  # the backups, newest first; `invalid`: the tags skipped, with why
    lacking: dict[str, int] | None  # with a remote: tag -> objects missing there
    pins: dict[str, Pin]  # backup tag -> its pin


def list_backups(*, repo: Path | None = None, remote: str | None = None, offline: bool = False,
                 last: int | None = None, kind: str | None = None,
                 config: Path | None = None) -> BackupList:
    """The catalog (fetched from the git remote first unless `offline`; its aliases too),
    with a remote how many objects each backup lacks there, and the pins (by backup tag).
    `kind` keeps one kind of backup, then `last` the newest N of those."""
    from hdversion.ops.catalog import catalog_with, read_newest
    from hdversion.util.clock import now_utc

    _check_filters(kind, last)
    project = Project.open(repo, strict=False, config=config)
    if last is not None:
        refresh_catalog(project, offline)
        catalog = read_newest(project.git, last, kind, now_utc())
    else:
        catalog = catalog_with(project, None, offline)
        if kind is not None:
            catalog.backups = [b for b in catalog.backups if b.manifest.kind == kind]
    lacking = None
    if remote is not None:
        # Imported here: without a remote, `list` reads tags alone (no DVC to load).
        from hdversion.ops.remotes import completeness

        lacking = completeness(project, remote, catalog.backups)
    _warn_broken(catalog.broken_aliases)
    project.journal("list", "ok", backups=len(catalog.backups), remote=remote)
    return BackupList(catalog, lacking, read_pins(project.git))
