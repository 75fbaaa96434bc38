"""Listing backups: the catalog, and with a remote, how complete each backup is there."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hdversion.errors import UsageError
from hdversion.model.namespaces import (
    ALIAS_NAMESPACE,
    DELETED_NAMESPACE,
    PIN_NAMESPACE,
    PRUNED_NAMESPACE,
)
from hdversion.model.timestamps import TAG_PREFIX
from hdversion.ops.backup_refs import read_aliases, read_pins, refresh_catalog
from hdversion.ops.list_cache import listed_backups
from hdversion.ops.list_output import CACHE_NAME as OUTPUT_CACHE
from hdversion.ops.list_output import (
    CachedOutput,
    bound,
    output_key,
    read_output,
    write_output,
)
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
    rendered, broken = _whole_list(project, render, layout, kind, ids, pin_refs, alias_refs)
    _warn_broken(broken)
    project.journal("list", "ok", backups=len(rendered.records), remote=None)
    return rendered


class ListOutput(NamedTuple):
    """list_output's answer (a tuple: `text, invalid = list_output(...)`)."""

    text: bytes  # the whole output, as `join` made it (encoded as UTF-8)
    invalid: list[tuple[str, str]]  # the tags skipped, with why


def list_output(*, render: Callable[[Backup], str],
                join: Callable[[list[tuple[str, Pin | None, list[str]]]], str], layout: str,
                repo: Path | None = None, offline: bool = False, kind: str | None = None,
                config: Path | None = None) -> ListOutput:
    """`list --json` of every backup, whole: `join` of list_rendered's records, served from
    the cache of the whole output (ops/list_output.py) when no tag, pin, alias, tombstone
    or deleted backup has changed since it was written (the warnings it gave given again),
    else built as list_rendered builds it and cached. `layout` names the shape of both
    `render`'s records and `join`'s whole: a cache of another is not served."""
    _check_filters(kind, None)
    project = Project.open(repo, strict=False, config=config)
    refresh_catalog(project, offline)
    # One git call names every ref the listing is made from, with the id of its object.
    refs = project.git.ref_listing(f"refs/tags/{TAG_PREFIX}", PIN_NAMESPACE, ALIAS_NAMESPACE,
                                   PRUNED_NAMESPACE, DELETED_NAMESPACE)
    key, limit = output_key(refs, layout, kind), bound(refs)
    path = project.git.git_path(OUTPUT_CACHE)
    output = read_output(path, key, limit)
    if output is None:
        ids = {name.removeprefix("refs/tags/"): object_id
               for object_id, _, name in (line.partition(" ")
                                          for line in os.fsdecode(refs).splitlines())
               if name.startswith("refs/tags/")}
        pin_refs, alias_refs = project.git.refs_of((PIN_NAMESPACE, ""), (ALIAS_NAMESPACE, ""))
        rendered, broken = _whole_list(project, render, layout, kind, ids, pin_refs,
                                       alias_refs)
        output = CachedOutput(join(rendered.records).encode(), len(rendered.records),
                              rendered.invalid, broken)
        # Cached only when the pins and aliases read are those the key names (one moved
        # between the two git calls is listed now, and keyed at the next listing).
        read = {f"{record.object_id} {namespace}{record.name}"
                for namespace, group in ((PIN_NAMESPACE, pin_refs),
                                         (ALIAS_NAMESPACE, alias_refs)) for record in group}
        named = {line for line in os.fsdecode(refs).splitlines()
                 if line.partition(" ")[2].startswith((PIN_NAMESPACE, ALIAS_NAMESPACE))}
        if read == named:
            write_output(path, key, output, limit)
    _warn_broken(output.broken_aliases)
    project.journal("list", "ok", backups=output.backups, remote=None)
    return ListOutput(output.text, output.invalid)


def _whole_list(project: Project, render: Callable[[Backup], str], layout: str,
                kind: str | None, ids: dict[str, str], pin_refs: list[TagRecord],
                alias_refs: list[TagRecord]) -> tuple[RenderedList, dict[str, str]]:
    """Every backup of `kind` as list_rendered gives them, and the aliases that could not be
    read, with why."""
    listed = listed_backups(project.git, TAG_PREFIX, render, layout, ids)
    backups = sorted(((tag, item) for tag, item in listed.items() if not item.invalid),
                     key=lambda pair: pair[1].timestamp, reverse=True)
    if kind is not None:
        backups = [(tag, item) for tag, item in backups if item.kind == kind]
    pins = read_pins(project.git, pin_refs) if backups else {}
    aliases, broken = _aliases_by_tag(project, alias_refs) if backups else ({}, {})
    return (RenderedList([(item.record, pins.get(tag), aliases.get(tag, []))
                          for tag, item in backups],
                         [(tag, item.invalid) for tag, item in listed.items() if item.invalid]),
            broken)


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


def _aliases_by_tag(project: Project, refs: list[TagRecord]
                    ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Backup tag -> its aliases, from their refs; and the aliases whose record is not
    trusted (they name nothing), with why."""
    records, broken = read_aliases(project.git, refs)
    return _named_by({n: r.timestamp for n, r in records.items() if r.timestamp}), broken


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
