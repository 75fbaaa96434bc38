"""Restoring a backup, verified as it is written, never leaving a half-written file.

1. Every object the restore needs is found: in the cache, else read in place from a remote
   that is a directory (and copied into the cache in the same pass), else fetched from the
   remotes in turn. Nothing is touched until every file is staged and verified.
2. Changes in the workspace that no backup holds are saved first in a safety backup.
3. Every file is staged beside its target, hashed as it is written: one read of the source,
   one write. A cache object whose bytes turn out wrong is quarantined and fetched again
   (DVC's checkout trusts any read-only cache file). Then all are renamed into place.
4. Each file in place is checked to be the one staged (same inode, size and mtime): a
   change made after the rename, by another writer, fails the restore.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from hdversion.datastore.bucket import DOWNLOADS, BoundedStream, KeyMissing, bucket_of_remote
from hdversion.errors import (
    ConfigurationError,
    RemoteError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.bucket import object_key
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry, within
from hdversion.model.pointers import declared_dir_objects, declared_outputs, is_pointer_file
from hdversion.ops.backup import create_backup
from hdversion.ops.cache_objects import (
    CacheCheck,
    check_dir_objects,
    copy_listings,
    ensure_cached,
    fallback_order,
    quarantine,
    rebuild_listings,
)
from hdversion.ops.catalog import catalog_with, files_of, known_md5s
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.trust import check_destination, check_paths
from hdversion.paths import TEMP_PREFIX
from hdversion.util.atomic import (
    Identity,
    commit_all,
    discard,
    identity,
    leftover_temp_files,
    make_durable,
    stage_all,
    stage_copy,
)
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_bytes, md5_file
from hdversion.util.log import log
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Advance, Reporter


@dataclass
class FileReport:
    path: str
    md5: str
    size: int
    # "restored", "unchanged", "would restore"; for a file in a directory output that the
    # backup lacks: "removed", "would remove", or "extra, kept" (in a --target directory)
    action: str
    verified: bool | None = None


@dataclass
class RestoreResult:
    backup: Backup
    target: Path
    dry_run: bool
    files: list[FileReport]
    latest: bool = False  # the backup was picked as the latest, not named
    safety_backup: Backup | None = None
    would_make_safety_backup: bool = False  # --dry-run: unsaved changes would be saved first
    quarantined: list[str] = field(default_factory=list)
    fetched_from: dict[str, int] = field(default_factory=dict)  # remote -> objects it gave
    unusable_remotes: dict[str, str] = field(default_factory=dict)  # remote -> why skipped

    @property
    def all_verified(self) -> bool:
        return self.dry_run or all(f.verified for f in self.files if f.verified is not None)

    def failure(self) -> VerificationError | None:
        bad = [f.path for f in self.files if f.verified is False]
        if not bad:
            return None
        return VerificationError(
            f"{len(bad)} restored file(s) do not match backup {self.backup.tag}: "
            + ", ".join(bad),
            hint="something changed them after writing; run the restore again",
        )


def restore(
    path: Path | None = None,
    timestamp: str | None = None,
    target: Path | None = None,
    only: tuple[str, ...] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
    reporter: Reporter = SILENT,
    wait: float = 0,
    offline: bool = False,
) -> RestoreResult:
    """Restore a backup of the project at `path` (default: the current directory); the
    backup tags of the git remote are fetched first unless `offline`."""
    project = Project.open(path, strict=False)
    with locked_operation(project, "restore", wait, timestamp=timestamp,
                          target=str(target or ""), only=list(only)):
        result = restore_backup(project, timestamp, target, only, dry_run, force, remote,
                                reporter, offline)
        project.journal(
            "restore",
            "dry-run" if dry_run else ("ok" if result.all_verified else "verification-failed"),
            tag=result.backup.tag, files=len(result.files),
            safety_backup=result.safety_backup.tag if result.safety_backup else None,
            target=str(target or ""), only=list(only),
        )
        return result


def restore_backup(
    project: Project,
    timestamp: str | None = None,
    target: Path | None = None,
    only: Iterable[str] = (),
    dry_run: bool = False,
    force: bool = False,
    remote: str | None = None,
    reporter: Reporter = SILENT,
    offline: bool = False,
) -> RestoreResult:
    """Restore a backup; the caller holds the repository lock."""
    session = project.store.session
    session.ensure_idle()
    if target is not None and target.resolve() == project.root:
        target = None  # `--target .` is the workspace, with its safety backup
    catalog = catalog_with(project, timestamp, offline)
    if remote is not None:
        session.ensure_remote(remote)
    backup = catalog.get(timestamp, now=now_utc())
    dest = (target or project.root).resolve()
    files = files_of(project.git, backup)
    pointers = _pointer_files(project, backup, files)

    def sources_for(changing: list[FileEntry], result: RestoreResult) -> dict[str, Source]:
        # Each directory listing the restore needs, with what the backup's file list says
        # it holds (the listing can be made again from it where no store has it whole).
        # (Paths are normalized, checked: a member's name is what follows `out/`.)
        listings = {md5: [(e.path[len(out) + 1:], e.md5)
                          for e in files if e.store == "dvc" and e.path != out
                          and within(e.path, out)]
                    for path, data in pointers.items()
                    for out, md5 in declared_dir_objects(path, data).items()
                    if any(within(e.path, out) for e in changing)}
        remove_leftovers(project)
        return _verified_sources(project, backup, changing, remote, result, reporter,
                                 listings)

    created = not os.path.lexists(dest)
    done = False
    try:
        result = restore_entries(
            project, backup, files, pointers, dest, project.settings.git_tracked_files,
            sources_for, workspace=target is None, only=only, dry_run=dry_run, force=force,
            catalog=catalog, reporter=reporter, latest=timestamp is None, offline=offline)
        done = result.failure() is None
        return result
    finally:
        if created and not done:
            remove_if_empty(dest)  # a refused or interrupted restore leaves no trace


def remove_if_empty(folder: Path) -> None:
    """The folder a restore or an import made, with the folders staging made in it, where
    they hold no file (bottom up: a folder whose folders went is empty in turn)."""
    for below, _, _ in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(below)


SourcesFor = Callable[[list[FileEntry], RestoreResult], "dict[str, Source]"]


def restore_entries(
    project: Project | None,
    backup: Backup,
    files: tuple[FileEntry, ...],
    pointers: dict[str, bytes],
    dest: Path,
    git_tracked: Iterable[str],
    sources_for: SourcesFor,
    *,
    workspace: bool,
    only: Iterable[str] = (),
    dry_run: bool = False,
    force: bool = False,
    catalog: Catalog | None = None,
    reporter: Reporter = SILENT,
    latest: bool = False,
    offline: bool = False,
) -> RestoreResult:
    """Restore `files` (already checked against their manifest) into `dest`: the paths are
    checked, only differing files are written, their verified bytes coming from
    `sources_for(changing files, result)` (a backup's cache objects and git blobs, or an
    archive's members). In the `workspace` (which needs `project` and `catalog`), unsaved
    changes go to a safety backup first unless `force`, and extras inside directory
    outputs are removed (`offline`: its tag is not pushed to the git remote). `project` is
    None only for a target outside any repository."""
    check_paths(files, pointers, git_tracked, backup.tag)
    entries = _select(backup, files, list(only))
    check_destination(dest, [e.path for e in entries])
    current = {e.path: _current_md5(dest / e.path, e.size) for e in entries}
    changing = [e for e in entries if current[e.path] != e.md5]
    extras = _extra_files(dest, files, pointers, list(only))
    remove_extras = workspace
    reports = [
        FileReport(e.path, e.md5, e.size, "unchanged" if current[e.path] == e.md5 else
                   ("would restore" if dry_run else "restored"))
        for e in entries
    ] + [
        FileReport(path, "", (dest / path).stat().st_size,
                   ("would remove" if dry_run else "removed") if remove_extras
                   else "extra, kept")
        for path in extras
    ]
    result = RestoreResult(backup, dest, dry_run, reports, latest=latest)
    _check_targets(dest, changing)
    unsaved: list[str] = []
    if workspace and not force:
        assert project is not None and catalog is not None
        # Pointer files are not unsaved work: a backup makes them from the outputs (it never
        # keeps the bytes in place), so a safety backup could not hold them, and DVC cannot
        # even read an emptied or conflicted one to make it.
        present = {e.path: _full_md5(dest / e.path, current[e.path]) for e in changing
                   if current[e.path] is not None and not is_pointer_file(e.path)}
        present.update({path: md5_file(dest / path)[0] for path in extras})
        known = known_md5s(project.git, catalog, {m for m in present.values() if m})
        unsaved = [p for p, md5 in present.items() if md5 not in known]
        # A file that HEAD holds as it is (params.yaml in a fresh clone) is saved in git.
        in_git = project.git.unchanged_since_head(unsaved)
        unsaved = [p for p in unsaved if p not in in_git]
    if dry_run:
        result.would_make_safety_backup = bool(unsaved)
        return result

    sources = sources_for(changing, result)
    # A run killed between staging and renaming leaves temporary files; they are ours.
    discard(leftover_temp_files(dest, [e.path for e in entries]))

    if unsaved:
        assert project is not None
        reporter.step(f"saving {len(unsaved)} unsaved file(s) in a safety backup")
        result.safety_backup = create_backup(
            project,
            message=f"before restoring {backup.timestamp}",
            allow_missing=True,
            kind="safety",
            offline=offline,
        ).backup

    if project is not None:
        project.store.session.ensure_idle()
    root = project.root if project is not None else dest
    written = _write_all(root, dest, changing, sources,
                         reporter.bytes(f"writing {len(changing)} file(s)", _size(changing)),
                         streamed=any(s.remote is not None for s in sources.values()))
    if remove_extras:
        for path in extras:
            (dest / path).unlink(missing_ok=True)
        _remove_empty_folders(dest, extras)

    pause_point(root, PausePoint.AFTER_RENAME)
    # Unchanged files were hashed against the manifest moments ago, restored ones as they were
    # written; what is in place now must be the very file that was staged.
    for report in reports:
        if report.action == "unchanged":
            report.verified = True
        elif report.action == "restored":
            report.verified = identity(dest / report.path) == written[report.path]
        elif report.action == "removed":
            report.verified = not (dest / report.path).exists()
    if workspace and project is not None:
        # Verified as written: the next backup (and DVC) need not read them again.
        project.store.workspace.remember_hashes({
            dest / e.path: e.md5 for e, report in zip(entries, reports, strict=False)
            if e.store == "dvc" and report.action == "restored" and report.verified})
    return result


def _pointer_files(project: Project, backup: Backup, files: tuple[FileEntry, ...]
                   ) -> dict[str, bytes]:
    """The backup's own pointer files, from its commit, checked against the manifest."""
    wanted = [f for f in files if f.store == "git" and is_pointer_file(f.path)]
    found = project.git.read_files([(backup.commit, f.path) for f in wanted])
    pointers: dict[str, bytes] = {}
    for entry, data in zip(wanted, found, strict=True):
        if data is None or md5_bytes(data) != entry.md5:
            raise VerificationError(
                f"backup {backup.tag}: its commit's {entry.path} does not match the manifest; "
                "no file was changed")
        pointers[entry.path] = data
    return pointers


def _extra_files(dest: Path, files: tuple[FileEntry, ...], pointers: dict[str, bytes],
                 only: list[str]) -> list[str]:
    """Files inside the backup's directory outputs that the backup lacks (a restored
    directory output must equal the backup, as `dvc checkout` makes it)."""
    listed = {f.path for f in files}
    declared = {out for path, data in pointers.items() for out in declared_outputs(path, data)}
    folders = [out for out in declared
               if any(within(p, out) and p != out for p in listed)
               and (not only or any(within(out, o.strip("/")) for o in only))]
    extras: list[str] = []
    for folder in folders:
        top = dest / folder
        if not top.is_dir() or top.is_symlink():
            continue
        for member in top.rglob("*"):
            relative = member.relative_to(dest).as_posix()
            if (member.is_file() or member.is_symlink()) and relative not in listed \
                    and not member.name.startswith(TEMP_PREFIX):
                extras.append(relative)
    return sorted(extras)


def _check_targets(dest: Path, entries: list[FileEntry]) -> None:
    """Every target can take a file: checked before anything is staged, so that a directory
    where a file should be (or a file where a folder should be) changes nothing."""
    # Paths are checked (ops/trust.py): relative, normalized, inside `dest`. Plain strings and
    # one stat each: a directory output's 10,000 files cost 50 ms through pathlib.
    checked: set[str] = set()  # each folder once, not once per file in it
    for entry in entries:
        target = os.path.join(dest, entry.path)
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(target).st_mode):
                raise WriteError(f"cannot restore {entry.path}: a directory is in its place; "
                                 "no file was changed",
                                 hint=f"move {target} away, then restore")
        folder = entry.path.rpartition("/")[0]
        while folder and folder not in checked:
            checked.add(folder)
            try:
                is_folder = stat.S_ISDIR(os.stat(os.path.join(dest, folder)).st_mode)
            except FileNotFoundError:
                is_folder = True  # made when the file is staged
            except NotADirectoryError:
                is_folder = True  # a file further up: reported for that folder
            if not is_folder:
                raise WriteError(
                    f"cannot restore {entry.path}: {folder} is a file, not a folder; no file "
                    "was changed", hint=f"move {dest / folder} away, then restore")
            folder = folder.rpartition("/")[0]


def _remove_empty_folders(dest: Path, removed: list[str]) -> None:
    for path in sorted(removed, key=lambda p: p.count("/"), reverse=True):
        for parent in (dest / path).parents:
            if parent == dest:
                break
            with contextlib.suppress(OSError):  # not empty, or already gone
                parent.rmdir()


def _size(entries: Iterable[FileEntry]) -> int:
    return sum(e.size for e in entries)


def _select(backup: Backup, files: tuple[FileEntry, ...], only: list[str]) -> list[FileEntry]:
    if not only:
        return list(files)
    chosen: list[FileEntry] = []
    for raw in only:
        path = raw.strip("/")
        matched = [f for f in files if within(f.path, path)]
        if not matched:
            raise UsageError(f"backup {backup.timestamp} has no file {raw!r}")
        chosen += [f for f in matched if f not in chosen]
    return chosen


SIZE_DIFFERS = "size-differs"


def _current_md5(path: Path, expected_size: int) -> str | None:
    if not path.is_file():
        return None
    if path.stat().st_size != expected_size:
        return SIZE_DIFFERS  # no need to read it to know it differs
    return md5_file(path)[0]


def _full_md5(path: Path, known: str | None) -> str | None:
    """The file's md5, hashing it now if only its size was compared so far."""
    return md5_file(path)[0] if known == SIZE_DIFFERS else known


class Source:
    """Where a file's verified bytes come from: a cache object, a git blob, a file an import
    extracted from an archive, an object in a remote that is a directory, or one streamed
    from a bucket or container (`remote`: opens it; `also`: copied into the cache as it is
    read). `on_bad` gives the next source when these bytes turn out wrong or cannot be read
    from the remote, or None when there is none."""

    def __init__(self, path: Path | None = None, data: bytes | None = None,
                 also: Path | None = None,
                 on_bad: Callable[[Source], Source | None] | None = None,
                 remote: Callable[[], contextlib.AbstractContextManager[BinaryIO]] | None
                 = None) -> None:
        self.path, self.data, self.also, self.on_bad = path, data, also, on_bad
        self.remote = remote

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path.open("rb")

    def stage(self, target: Path, md5: str, advance: Advance) -> Path:
        if self.remote is not None:
            try:
                with self.remote() as stream:
                    return stage_copy(stream, target, md5, advance, also=self.also)
            except (KeyMissing, RemoteError) as exc:
                # The next source (the remotes in turn, each through the fetch that says
                # why one cannot be used) takes over; a local write error is not caught.
                why = "missing there" if isinstance(exc, KeyMissing) else exc.message
                raise VerificationError(f"{target.name}: cannot be read from the remote: "
                                        f"{why}") from None
        with self.open() as stream:
            return stage_copy(stream, target, md5, advance, also=self.also)


class _CacheSources:
    """A backup's DVC-stored files, each read once as it is staged: from the cache (only sizes
    are compared up front), else from the first remote in place where it is a directory, else
    fetched. A source whose bytes are wrong is quarantined and the object fetched again."""

    def __init__(self, project: Project, backup: Backup, remote: str | None,
                 result: RestoreResult, reporter: Reporter,
                 listings: dict[str, list[tuple[str, str]]]) -> None:
        self.project, self.backup, self.remote = project, backup, remote
        self.result, self.reporter = result, reporter
        self.listings = listings
        self.remotes = fallback_order(project, remote)
        self.check = CacheCheck()

    @property
    def dir_objects(self) -> list[str]:
        return list(self.listings)

    def sources(self, entries: list[FileEntry]) -> tuple[dict[str, Source], list[str]]:
        """Each entry's source, and the entries no store can give (as messages)."""
        store = self.project.store
        sources: dict[str, Source] = {}
        # The listings are small: each is hashed, whatever the files need, so that a damaged
        # one is not left behind a restore that reads none of them.
        check_dir_objects(self.project, self.dir_objects, self.check)
        self._publish()
        missing = []
        for entry in entries:
            cached = store.cache_path(entry.md5)
            size = _size_of(cached)
            if size != entry.size:
                missing.append(entry)
                if size is not None:  # the wrong size: damaged, kept aside
                    quarantine(self.project.root, cached, entry.md5)
                    self.result.quarantined.append(entry.md5)
        if missing and self.remotes:
            first = self.remotes[0]
            in_place = {e.md5: path for e in missing
                        if (path := store.session.local_object_path(first, e.md5)) is not None
                        and _size_of(path) == e.size}
            if in_place:
                copy_listings(self.project, self.dir_objects, first)
                for entry in missing:
                    if entry.md5 in in_place:
                        sources[entry.path] = Source(path=in_place[entry.md5],
                                                     also=store.cache_path(entry.md5),
                                                     on_bad=self._recover(entry, first))
                self._count(first, len(in_place))
            missing = [e for e in missing if e.path not in sources]
        if missing and self.remotes and store.session.is_object_store(self.remotes[0]):
            sources.update(self._from_bucket(self.remotes[0], missing))
            missing = [e for e in missing if e.path not in sources]
        if missing:
            ensure_cached(self.project, self.backup.commit, missing, self.remotes,
                          self.reporter, self.dir_objects, deep=False, check=self.check)
            self._publish()
        for entry in entries:
            if entry.path not in sources:
                sources[entry.path] = Source(path=store.cache_path(entry.md5),
                                             on_bad=self._recover(entry, None))
        if self.listings:
            if self.remotes:
                copy_listings(self.project, self.dir_objects, self.remotes[0])
            # No store had one whole: made again from the file list, checked by its name.
            rebuilt = rebuild_listings(self.project, self.listings)
            if rebuilt:
                log.warning("rebuilt %d directory listing(s) from the backup's file list: "
                            "no store held them whole", len(rebuilt))
        return sources, self._unusable(self.check.bad)

    def _from_bucket(self, remote: str, missing: list[FileEntry]) -> dict[str, Source]:
        """Each object streamed from a bucket or container straight into its staged file,
        and into the cache in the same pass: one download, one hash, where a fetch would
        write the cache first and the restore read it back. Nothing when the remote cannot
        be used now: the fetch that follows tries it and says why."""
        store = self.project.store
        try:
            store.transfers.preflight(remote)
            bucket = bucket_of_remote(store.session, remote)
            # The directories' listings (checked by `sources`) come into the cache first,
            # as a fetch brings them: later pushes from this cache need them.
            listings = {name: None for name in self.dir_objects
                        if not store.cache_path(name).is_file()}
            if listings:
                store.transfers.fetch(self.backup.commit, remote, listings)
        except ConfigurationError:
            return {}
        self._publish()

        def reader(entry: FileEntry) -> Callable[[], contextlib.AbstractContextManager[
                BinaryIO]]:
            key = object_key(entry.md5)

            @contextlib.contextmanager
            def opened() -> Iterator[BinaryIO]:
                with bucket.open(key) as stream:
                    yield cast(BinaryIO, BoundedStream(stream, entry.size, bucket.where(key)))
                with counting:  # reached once the staged bytes hashed right
                    self._count(remote, 1)
            return opened

        counting = threading.Lock()  # files are staged on several threads
        return {entry.path: Source(remote=reader(entry), also=store.cache_path(entry.md5),
                                   on_bad=self._recover(entry, remote))
                for entry in missing}

    def _recover(self, entry: FileEntry, remote_read: str | None
                 ) -> Callable[[Source], Source | None]:
        def recover(bad: Source) -> Source | None:
            cached = self.project.store.cache_path(entry.md5)
            if remote_read is None and bad.path == cached and cached.is_file():
                quarantine(self.project.root, cached, entry.md5)
                self.result.quarantined.append(entry.md5)
            # Every store in turn, each copy re-hashed: the one just read is skipped by the
            # hash (DVC drops a corrupt download, and the cache copy is checked again).
            check = ensure_cached(self.project, self.backup.commit, [entry], self.remotes,
                                  self.reporter, self.dir_objects, check=CacheCheck())
            self.check.quarantined += check.quarantined
            self.result.quarantined += check.quarantined
            self.check.unusable_remotes.update(check.unusable_remotes)
            for name, count in check.fetched_from.items():
                self._count(name, count)
            self._publish()
            if check.bad:
                raise self._failure(check, [entry]) or VerificationError(
                    "cannot restore, no workspace file was changed; unusable data: "
                    + "; ".join(self._unusable(check.bad)))
            return Source(path=cached)
        return recover

    def _count(self, remote: str, objects: int) -> None:
        self.result.fetched_from[remote] = self.result.fetched_from.get(remote, 0) + objects

    def _publish(self) -> None:
        self.result.quarantined += [q for q in self.check.quarantined
                                    if q not in self.result.quarantined]
        for name, count in self.check.fetched_from.items():
            self._count(name, count)
        self.check.fetched_from = {}
        self.result.unusable_remotes.update({name: exc.message for name, exc in
                                             self.check.unusable_remotes.items()})

    def _unusable(self, bad: list[FileEntry]) -> list[str]:
        asked = ", ".join(f"'{r}'" for r in self.remotes
                          if r not in self.check.unusable_remotes)
        return [f"{e.path} (object {e.md5} missing or corrupt in the cache"
                + (f" and in remote(s) {asked}" if asked else "") + ")" for e in bad]

    def _failure(self, check: CacheCheck, bad: list[FileEntry]) -> ConfigurationError | None:
        """The remote asked for could not be used, or none could: a remote's failure (exit
        7), not the data's; the data may be fine there."""
        if bad and self.remote in check.unusable_remotes:
            return check.unusable_remotes[self.remote]
        return check.failure_of_every_remote(self.remotes)

    def skipped(self) -> str:
        return "; ".join(f"remote '{r}' skipped: {exc.message}"
                         for r, exc in self.check.unusable_remotes.items())


def _verified_sources(
    project: Project, backup: Backup, entries: list[FileEntry], remote: str | None,
    result: RestoreResult, reporter: Reporter, listings: dict[str, list[tuple[str, str]]],
) -> dict[str, Source]:
    sources: dict[str, Source] = {}
    bad: list[str] = []
    git_entries = [e for e in entries if e.store == "git"]
    blobs = project.git.read_files([(backup.commit, e.path) for e in git_entries])
    for entry, data in zip(git_entries, blobs, strict=True):
        if data is None or md5_bytes(data) != entry.md5:
            bad.append(f"{entry.path} (git blob of {backup.tag})")
        else:
            sources[entry.path] = Source(data=data)

    cache = _CacheSources(project, backup, remote, result, reporter, listings)
    found, unusable = cache.sources([e for e in entries if e.store == "dvc"])
    if not bad and (failure := cache._failure(cache.check, cache.check.bad)) is not None:
        raise failure
    bad += unusable
    sources.update(found)
    if bad:
        skipped = cache.skipped()
        raise VerificationError(
            "cannot restore, no workspace file was changed; unusable data: " + "; ".join(bad)
            + (f" ({skipped})" if skipped else ""),
            hint="run `hdversion verify` to see what each remote holds, or restore another "
                 "backup",
        )
    return sources


def _size_of(path: Path) -> int | None:
    """The size of a regular file; None where there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _write_all(root: Path, dest: Path, entries: list[FileEntry],
               sources: dict[str, Source], advance: Advance, streamed: bool = False
               ) -> dict[str, Identity | None]:
    """Stage every file, hashed as written, on every core (the biggest first, so that one
    long file overlaps with the small ones), then put them all in place; each file's identity
    as staged. A file whose source turns out wrong is staged again afterwards, one by one,
    from the next source (which may fetch)."""
    by_size = sorted(entries, key=lambda e: -e.size)

    def first_try(entry: FileEntry) -> Path | None:
        source = sources[entry.path]
        try:
            return source.stage(dest / entry.path, entry.md5, advance)
        except VerificationError:
            if source.on_bad is None:
                raise
            return None

    staged: dict[str, Path] = {}
    try:
        # Streams from a bucket mostly wait on the network: more of them at once.
        workers = DOWNLOADS if streamed else None
        for entry, tmp in zip(by_size, stage_all(by_size, first_try, workers), strict=True):
            if tmp is not None:
                staged[entry.path] = tmp
        retried: list[Path] = []
        for entry in by_size:
            if entry.path not in staged:
                staged[entry.path] = _stage_from_next(entry, dest / entry.path,
                                                      sources[entry.path], advance)
                retried.append(staged[entry.path])
        make_durable(retried)
    except VerificationError:
        discard(staged.values())
        raise
    except OSError as exc:
        discard(staged.values())
        raise WriteError(f"restore failed while writing, no file was changed: {exc}") from None
    except BaseException:
        discard(staged.values())
        raise
    identities = {path: identity(tmp) for path, tmp in staged.items()}
    commit_all([(staged[e.path], dest / e.path) for e in entries],
               before_first=lambda: pause_point(root, PausePoint.BEFORE_RENAME), durable=True,
               after_first=lambda: pause_point(root, PausePoint.BETWEEN_RENAMES))
    return identities


def _stage_from_next(entry: FileEntry, target: Path, bad: Source, advance: Advance) -> Path:
    """Stage a file whose first source was wrong from the next good one; VerificationError
    when none is left."""
    source = bad.on_bad(bad) if bad.on_bad is not None else None
    while source is not None:
        try:
            return source.stage(target, entry.md5, advance)
        except VerificationError:
            if source.on_bad is None:
                raise
            source = source.on_bad(source)
    raise VerificationError(f"{entry.path}: no source has the right bytes")
