"""Checking that backups can be restored from a store, like `restic check`.

Without `--read-data`: every object each backup needs is in the store's own listing, at its
size (one listing of the store, not a request per object). With it: the objects are read
back and hashed, which finds what a listing cannot, a same-size corruption. Files kept in
git are checked in the backup commit either way (a cheap read of the object database).

Each backup's manifest in the store is asked for too: without it the store alone cannot list
or restore the backup (`ops/remote_recovery.py`), which is a failure (exit 5) as a missing
object is.

Verify changes nothing, unless `--repair`: then each missing or damaged object is brought
into the cache from another store (re-hashed there), uploaded over the bad copy, and read
back once more. Like `restic repair`, it needs a good copy somewhere; it says which objects
it could not repair, and exits 5 for them. Then each backup checked whole there that lacks
its manifest gets it, written as `sync` writes it (`put_backups`).
"""

from __future__ import annotations

import contextlib
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.errors import HdversionError, ManifestError, UsageError, VerificationError
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.manifest import FileEntry
from hdversion.model.names import check_name
from hdversion.model.verification import (
    ObjectProblem,
    Subset,
    content_problem,
    size_problem,
)
from hdversion.ops.catalog import catalog_with, files_of
from hdversion.ops.leases import writing
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.remote_manifests import lacking_manifests, put_backups
from hdversion.ops.sources import fallback_order, fill_cache, git_files
from hdversion.util.clock import now_utc
from hdversion.util.progress import SILENT, Reporter


@dataclass
class BackupCheck:
    backup: Backup
    objects: int = 0  # objects of the store this backup needs
    read: int = 0  # of them, read back and hashed
    problems: list[ObjectProblem] = field(default_factory=list)
    error: str | None = None  # the backup cannot be checked at all (invalid file list)
    repaired: list[str] = field(default_factory=list)  # md5s of problems fixed by --repair
    # Its manifest in the store: "ok", "missing", "written" (by --repair), "not written: why",
    # or "none" (a version-1 backup has no manifest to keep there).
    manifest: str = "ok"

    @property
    def objects_ok(self) -> bool:
        return self.error is None and all(p.md5 in self.repaired for p in self.problems)

    @property
    def manifest_ok(self) -> bool:
        return self.manifest in ("ok", "written", "none")

    @property
    def ok(self) -> bool:
        return self.objects_ok and self.manifest_ok


@dataclass
class VerifyResult:
    remote: str
    read_data: bool
    subset: Subset | None
    seed: int | None  # the random subset's seed, to repeat the run
    checks: list[BackupCheck]
    objects: int = 0  # distinct objects checked in the listing
    read: int = 0  # distinct objects read back
    bytes_read: int = 0
    repair: bool = False

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failure(self) -> VerificationError | None:
        bad = [c for c in self.checks if not c.objects_ok]
        unlisted = [c for c in self.checks if not c.manifest_ok]
        if not bad and not unlisted:
            return None
        left = [p for c in bad for p in c.problems if p.md5 not in c.repaired]
        missing = sum(1 for p in left if p.missing)
        damaged = len(left) - missing
        parts = []
        if bad:
            parts.append(
                f"{len(bad)} backup(s) cannot be fully restored from '{self.remote}' "
                f"({missing} missing, {damaged} damaged object reference(s)"
                + (f", {sum(1 for c in bad if c.error)} invalid" if any(c.error for c in bad)
                   else "") + "): " + ", ".join(c.backup.tag for c in bad))
        if unlisted:
            parts.append(
                f"no manifest in '{self.remote}' for {len(unlisted)} backup(s), so that "
                "remote alone cannot list or restore them: "
                + ", ".join(c.backup.tag for c in unlisted))
        hints = []
        if bad:
            hints.append("`hdversion copy --from OTHER --to " + self.remote + " T` repairs a "
                         "remote from a good copy (verified on the way); `hdversion sync` "
                         "re-uploads from the local cache")
        if unlisted:
            hints.append("`hdversion verify --repair` on that remote writes the manifest of "
                         "each backup whole there (as `hdversion sync` and `copy` do)")
        return VerificationError("; ".join(parts), hint="; ".join(hints))


def verify(
    *,
    repo: Path | None = None,
    refs: Iterable[str] = (),
    every: bool = False,
    remote: str | None = None,
    read_data: bool = False,
    subset: str | None = None,
    seed: int | None = None,
    offline: bool = False,
    reporter: Reporter = SILENT,
    repair: bool = False,
    wait: float = 0,
    config: Path | None = None,
) -> VerifyResult:
    """Check backups of the project at `repo` in a store (default: the local remote): the
    backups `refs`, every backup (`every`), or else the latest. With `repair`, replace
    what is missing or damaged there from good copies elsewhere (under the lock)."""
    wanted = list(refs)
    for name in wanted:
        check_name(name)  # malformed: refused before anything is opened
    if wanted and every:
        raise UsageError("give timestamps or --all, not both")
    if read_data and subset is not None:
        raise UsageError("give --read-data or --read-data-subset, not both")
    chosen = Subset.parse(subset) if subset is not None else None
    if chosen is not None and chosen.random and seed is None:
        seed = secrets.randbits(32)
    project = Project.open(repo, strict=repair, config=config)  # checking only reads
    store = remote or project.settings.local_remote
    project.store.ensure_remote(store)
    # Checking only reads, and may take hours on a bucket: it does not hold back backups.
    # Repairing writes to a store that prune may be deleting from: it takes the lock.
    guard = locked_operation(project, "verify", wait, remote=store) if repair \
        else contextlib.nullcontext()
    with guard:
        if repair:
            # A killed repair left its partial uploads where this one writes.
            remove_leftovers(project, [store])
        catalog = catalog_with(project, None, offline)
        backups = _chosen(catalog, wanted, every)
        result = VerifyResult(store, read_data or chosen is not None, chosen,
                              seed if chosen is not None and chosen.random else None,
                              [BackupCheck(b) for b in backups], repair=repair)
        with _journaled_errors(project, store, repair):
            _check(project, result, reporter)
            if repair:
                # Repairing writes into a store other clones may prune: a writer's lease.
                with writing(project, [store], "verify", wait):
                    _repair(project, result, reporter)
                    _write_manifests(project, result, reporter)
        project.journal("verify", "ok" if result.ok else "problems", remote=store,
                        backups=[c.backup.tag for c in result.checks],
                        bad=[c.backup.tag for c in result.checks if not c.ok],
                        repaired=sorted({m for c in result.checks for m in c.repaired}),
                        manifests_written=[c.backup.tag for c in result.checks
                                           if c.manifest == "written"],
                        read_data=result.read_data,
                        subset=chosen.text if chosen else None, seed=result.seed)
    return result


@contextlib.contextmanager
def _journaled_errors(project: Project, store: str, locked: bool) -> Iterator[None]:
    """The journal line of a failed check (the lock's own guard writes it when locked)."""
    try:
        yield
    except HdversionError as exc:
        if not locked:
            project.journal("verify", "error", remote=store, error=exc.message,
                            exit_code=int(exc.exit_code))
        raise


def _chosen(catalog: Catalog, timestamps: list[str], every: bool) -> list[Backup]:
    if every:
        return list(catalog.backups)
    if not timestamps:
        return [catalog.get(None, now=now_utc())]
    now = now_utc()
    chosen: dict[str, Backup] = {}
    for name in timestamps:
        backup = catalog.get(name, now)
        chosen.setdefault(backup.tag, backup)  # named twice (by two names): checked once
    return list(chosen.values())


def _check(project: Project, result: VerifyResult, reporter: Reporter) -> None:
    collector = project.store
    # md5 -> (expected size or None, [(check, paths)]) over every backup checked.
    needs: dict[str, int | None] = {}
    users: dict[str, list[tuple[BackupCheck, tuple[str, ...]]]] = defaultdict(list)
    for check in result.checks:
        try:
            files = files_of(project.git, check.backup)
        except ManifestError as exc:
            check.error = exc.message
            continue
        check.problems += _git_problems(project, check.backup, files)
        for md5, (size, paths) in _objects(project, check.backup, files).items():
            needs[md5] = size
            users[md5].append((check, paths))
            check.objects += 1

    reporter.step(f"listing remote '{result.remote}'")
    # The remote by kind, whatever its name (a DVC remote may be named `cache`).
    store = project.store.remote(result.remote)
    listing = collector.listing(store, needs)
    verdicts: dict[str, str] = {}
    for md5, size in needs.items():
        stored = listing.get(md5)
        problem = "missing" if stored is None else size_problem(size, stored.size)
        if problem is not None:
            verdicts[md5] = problem
    result.objects = len(needs)

    if result.read_data:
        present = [md5 for md5 in needs if md5 not in verdicts]
        to_read = (result.subset.choose(present, result.seed or 0)
                   if result.subset is not None else sorted(present))
        total = sum(listing[m].size or 0 for m in to_read)
        advance = reporter.bytes(f"reading {len(to_read)} object(s) back from "
                                 f"'{result.remote}'", total)
        for md5, digest in collector.digests(store, to_read, advance).items():
            result.read += 1
            result.bytes_read += digest.size
            for check, _paths in users[md5]:
                check.read += 1
            problem = content_problem(md5, digest.md5, digest.size, digest.error)
            if problem is not None:
                verdicts[md5] = problem

    for md5, problem in sorted(verdicts.items()):
        for check, paths in users[md5]:
            check.problems.append(ObjectProblem(md5, paths, problem))

    reporter.step(f"reading the manifests in remote '{result.remote}'")
    lacking = lacking_manifests(project, result.remote, [c.backup for c in result.checks])
    for check in result.checks:
        if check.backup.manifest.inline_files is not None:
            check.manifest = "none"
        elif check.backup.tag in lacking:
            check.manifest = "missing"


def _objects(project: Project, backup: Backup, files: tuple[FileEntry, ...]
             ) -> dict[str, tuple[int | None, tuple[str, ...]]]:
    """The store objects a backup needs: md5 -> (size if known, the paths needing it).
    A directory's listing is known by size only where the cache holds it."""
    objects: dict[str, tuple[int | None, tuple[str, ...]]] = {}
    for entry in files:
        if entry.store == "dvc":
            _size, paths = objects.get(entry.md5, (entry.size, ()))
            objects[entry.md5] = (entry.size, (*paths, entry.path))
    for output in backup.manifest.outputs:
        if output.is_dir and output.store == "dvc":
            cached = project.store.cache_path(output.md5)
            size = cached.stat().st_size if cached.is_file() else None
            objects[output.md5] = (size, (f"{output.path}/ (directory listing)",))
    return objects


def _git_problems(project: Project, backup: Backup, files: tuple[FileEntry, ...]
                  ) -> list[ObjectProblem]:
    read = git_files(project, backup, [f for f in files if f.store == "git"])
    return [ObjectProblem(entry.md5, (entry.path,),
                          "missing (not in the backup commit)" if entry.path in read.missing
                          else "corrupt: the backup commit holds other bytes")
            for entry in read.bad]


def _repair(project: Project, result: VerifyResult, reporter: Reporter) -> None:
    """Replace each missing or damaged object in the checked store by a good copy: into the
    cache from any other store (re-hashed), uploaded from there, then read back."""
    store = result.remote
    others = [r for r in fallback_order(project, None) if r != store]
    broken = {p.md5 for c in result.checks for p in c.problems
              if not p.problem.startswith(("missing (not in the backup commit)",
                                           "corrupt: the backup commit"))}
    if not broken:
        return
    for check in result.checks:
        needed = [p.md5 for p in check.problems if p.md5 in broken]
        if not needed or check.error:
            continue
        files = files_of(project.git, check.backup)
        entries = [f for f in files if f.store == "dvc" and f.md5 in needed]
        listings = [m for m in needed if m.endswith(".dir")]
        fill_cache(project, entries, others, reporter, listings)
    project.store.upload_verified(store, broken, reporter)
    total = sum(project.store.cache_path(m).stat().st_size for m in broken
                if project.store.cache_path(m).is_file())
    advance = reporter.bytes(f"reading {len(broken)} repaired object(s) back", total)
    checked = project.store.remote(store)
    good = {md5 for md5, digest in project.store.digests(checked, broken,
                                                                    advance).items()
            if content_problem(md5, digest.md5, digest.size, digest.error) is None}
    for check in result.checks:
        check.repaired = sorted({p.md5 for p in check.problems} & good)


def _write_manifests(project: Project, result: VerifyResult, reporter: Reporter) -> None:
    """After the repair: the manifest of each backup now whole in the store that lacks it,
    written by the function `sync` and `copy` fill a remote with (its objects are confirmed,
    so only the manifest is written). A backup still broken gets none: a manifest in a
    remote means its backup is whole there."""
    whole = [c for c in result.checks if c.manifest == "missing" and c.objects_ok]
    if not whole:
        return
    tags = [c.backup.tag for c in whole]
    placed = put_backups(project, result.remote, [c.backup for c in whole], {}, tags,
                         reporter)
    for check in whole:
        outcome = placed.manifests.get(check.backup.tag)
        # None: put_backups found one there after all (written since the check).
        check.manifest = "ok" if outcome is None else "written" if outcome.ok \
            else f"not written: {outcome.detail}"
