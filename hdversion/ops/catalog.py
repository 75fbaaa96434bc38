"""The catalog as the repository holds it: backup tags read in one git call, tags fetched from
the git remote when a wanted backup is not known here, and each backup's file list (version 2:
a file in the backup commit, checked against its tag)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from hdversion.errors import ManifestError
from hdversion.gitrepo import GitRepo
from hdversion.model.aliases import ALIAS_NAMESPACE
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry, FileList
from hdversion.model.names import LATEST, check_name, is_prefix
from hdversion.model.timestamps import TAG_PREFIX, timestamp_of
from hdversion.ops.backup_refs import read_aliases, refresh_catalog
from hdversion.ops.newest import newest_regular, pages
from hdversion.ops.project import Project
from hdversion.paths import FILE_LIST


def read_catalog(git: GitRepo) -> Catalog:
    """The backups, with the aliases that name them: every command that names a backup
    reads it here, so an alias names a backup everywhere."""
    tags, aliases = git.refs_of(("refs/tags/", TAG_PREFIX), (ALIAS_NAMESPACE, ""))
    catalog = Catalog.from_tags(tags)
    records, catalog.broken_aliases = read_aliases(git, aliases)
    catalog.aliases = {name: r.timestamp for name, r in records.items()
                       if r.timestamp is not None}
    return catalog


def read_newest(git: GitRepo, last: int, kind: str | None, now: datetime) -> Catalog:
    """The catalog of the newest `last` backups (of `kind`, when given) and its aliases, read
    a window of tags at a time (ops/newest.py): `invalid` holds only the tags skipped among
    those read (every one newer than the last listed)."""
    backups: list[Backup] = []
    invalid: list[tuple[str, str]] = []
    for page in pages(git, now):
        backups += [b for b in page.backups if kind is None or b.manifest.kind == kind]
        invalid += page.invalid
        if len(backups) >= last:
            break
    catalog = Catalog(backups[:last], invalid)
    records, catalog.broken_aliases = read_aliases(git)
    catalog.aliases = {name: r.timestamp for name, r in records.items()
                       if r.timestamp is not None}
    return catalog


def catalog_with(project: Project, name: str | None = None,
                 offline: bool = False) -> Catalog:
    """The catalog, fresh: backup tags, pins and tombstones fetched from the git remote first
    (backups made on other machines, backups pruned there). Unless `offline`; a fetch that
    fails is a warning, and the catalog is what this clone knows. `name`, the backup the
    caller will look up, is checked first (model/names.check_name): a malformed one fetches
    nothing."""
    if name is not None:
        check_name(name)
    refresh_catalog(project, offline)
    return read_catalog(project.git)


def backup_named(project: Project, name: str | None, now: datetime,
                 offline: bool = False) -> Backup:
    """The backup `name` names (None: the latest), as `catalog_with(...).get(name, now)`
    finds it, reading only the tags that can answer: the one tag a timestamp or an alias
    names, the tags under a prefix, the newest window of tags for `latest`
    (ops/newest.py). Wherever that finds no valid backup, the whole catalog answers, with
    the same refusal as before."""
    if name is not None:
        check_name(name)
    refresh_catalog(project, offline)
    return find_backup(project.git, name, now)


def find_backup(git: GitRepo, name: str | None, now: datetime) -> Backup:
    """backup_named's lookup, in the tags as they are here (nothing fetched)."""
    records, broken = read_aliases(git)
    aliases = {alias: r.timestamp for alias, r in records.items() if r.timestamp is not None}
    checked = LATEST if name is None else check_name(name)
    if checked == LATEST and name not in aliases:
        found = newest_regular(git, now)
        # None: no backup is the latest; the whole catalog says why (future-dated ones).
        return found if found is not None else read_catalog(git).get(name, now)
    # The tags that can answer: the one an alias or a timestamp names, those under a prefix;
    # none for a word that is no alias. Catalog.get on them alone refuses as it does on all.
    if name is not None and name in aliases:
        wanted = aliases[name] if timestamp_of(TAG_PREFIX + aliases[name]) else None
    else:
        wanted = f"{checked}*" if is_prefix(checked) else (
            checked if timestamp_of(TAG_PREFIX + checked) else None)
    # An alias's record came from origin: only a timestamp of the grammar becomes a pattern.
    catalog = Catalog.from_tags(git.tags_matching(TAG_PREFIX + wanted) if wanted else [])
    catalog.aliases, catalog.broken_aliases = aliases, broken
    return catalog.get(name, now)


def files_of(git: GitRepo, backup: Backup) -> tuple[FileEntry, ...]:
    """Every file of a backup, validated against its tag."""
    return files_of_many(git, [backup])[backup.tag]


def files_of_many(git: GitRepo, backups: Iterable[Backup]) -> dict[str, tuple[FileEntry, ...]]:
    """The file lists of many backups (by tag), read in one git call."""
    files, invalid = file_lists(git, backups)
    for error in invalid.values():
        raise error
    return files


def file_lists(git: GitRepo, backups: Iterable[Backup]
               ) -> tuple[dict[str, tuple[FileEntry, ...]], dict[str, ManifestError]]:
    """The file lists of many backups (by tag), read in one git call, and why each that is
    not trusted is not (by tag, in the order given)."""
    backups = list(backups)
    files = {b.tag: b.manifest.inline_files for b in backups
             if b.manifest.inline_files is not None}
    invalid: dict[str, ManifestError] = {}
    stored = [b for b in backups if b.manifest.inline_files is None]
    for backup, data in zip(stored, git.read_files([(b.commit, FILE_LIST) for b in stored]),
                            strict=True):
        if data is None:
            invalid[backup.tag] = ManifestError(
                f"backup {backup.tag} has no file list ({FILE_LIST}) in its commit: its "
                "manifest is invalid")
            continue
        try:
            files[backup.tag] = FileList.parse(data, backup.manifest).files
        except ManifestError as exc:
            invalid[backup.tag] = ManifestError(f"backup {backup.tag}: {exc.message}")
    return files, invalid


def known_md5s(git: GitRepo, catalog: Catalog, wanted: set[str]) -> set[str]:
    """Which of `wanted` some backup holds. The tags' outputs answer for whole files; file
    lists are read only for what they leave open."""
    found = {o.md5 for b in catalog.backups for o in b.manifest.outputs} & wanted
    if found == wanted:
        return found
    try:
        lists = files_of_many(git, catalog.backups)
    except ManifestError:
        lists = {}
        for backup in catalog.backups:
            # An invalid backup holds nothing we can count on.
            with contextlib.suppress(ManifestError):
                lists[backup.tag] = files_of(git, backup)
    return found | ({f.md5 for files in lists.values() for f in files} & wanted)
