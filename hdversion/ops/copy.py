"""Copying backups between remotes (the 3-2-1 rule after the fact): what the target lacks is
brought into the cache from the source, re-hashed there, uploaded to the target from the
verified copy and confirmed by the target's own listing; then each backup's manifest is
written there, as `sync` writes it (`put_backups`), so that the target alone can restore."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hdversion.datastore.store import KeyMissing
from hdversion.errors import HdversionError, PartialError, UsageError, VerificationError
from hdversion.model.catalog import Backup
from hdversion.model.names import check_name
from hdversion.ops.cache_objects import Cache
from hdversion.ops.catalog import catalog_with, files_of_many
from hdversion.ops.leases import writing
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.push import RemoteOutcome
from hdversion.ops.remote_manifests import put_backups
from hdversion.ops.sources import fill_cache, listings_into_cache
from hdversion.util.clock import now_utc
from hdversion.util.progress import SILENT, Reporter


@dataclass
class CopyReport:
    source: str
    target: str
    already: list[str] = field(default_factory=list)  # tags complete in the target before
    copied: dict[str, RemoteOutcome] = field(default_factory=dict)  # tag -> outcome
    # tag -> the manifest written into the target (those it lacked)
    manifests: dict[str, RemoteOutcome] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)  # tags with no good copy anywhere

    def failure(self) -> HdversionError | None:
        failed = [tag for tag, outcome in self.copied.items() if not outcome.ok]
        if self.damaged:
            return VerificationError(
                f"no good copy of {', '.join(self.damaged)} in the cache or in "
                f"'{self.source}': nothing of them was written to '{self.target}'",
                hint="`hdversion list --remote NAME` shows where else a backup is whole")
        if failed:
            return PartialError(f"{len(failed)} backup(s) could not be copied to "
                                f"'{self.target}': {', '.join(failed)}",
                                hint="fix the remote and run the copy again")
        no_manifest = [tag for tag, outcome in self.manifests.items() if not outcome.ok]
        if no_manifest:
            return PartialError(
                f"the manifests of {len(no_manifest)} backup(s) could not be written into "
                f"'{self.target}' (it cannot list or restore them alone): "
                f"{self.manifests[no_manifest[0]].detail}",
                hint="fix the remote and run the copy again")
        return None


def copy(*, source: str, target: str, refs: tuple[str, ...] = (),
         repo: Path | None = None, reporter: Reporter = SILENT, wait: float = 0,
         config: Path | None = None) -> CopyReport:
    """Copy backups `refs` (default: every one the target lacks) from one remote to
    another."""
    if source == target:
        raise UsageError("--from and --to name the same remote")
    for name in refs:
        check_name(name)  # malformed: refused before anything is opened
    project = Project.open(repo, config=config)
    with locked_operation(project, "copy", wait, source=source, target=target):
        for remote in (source, target):
            project.store.preflight(remote)
        remove_leftovers(project, [target])  # a killed copy's, in the remote it fills
        catalog = catalog_with(project)
        if refs:
            now = now_utc()
            backups = list({b.tag: b for b in (catalog.get(t, now) for t in refs)
                            }.values())
        else:
            backups = list(reversed(catalog.backups))
        # Copy publishes no tag: its lease covers the listing and the uploads (a backup
        # the target is found to hold must stay whole while it is copied and recorded).
        with writing(project, [target], "copy", wait):
            report = copy_backups(project, source, target, backups, reporter)
        project.journal("copy", "ok" if report.failure() is None else "error",
                        source=source, target=target,
                        copied={t: o.ok for t, o in report.copied.items()},
                        damaged=report.damaged)
        return report


def copy_backups(project: Project, source: str, target: str, backups: list[Backup],
                 reporter: Reporter) -> CopyReport:
    report = CopyReport(source, target)
    files = files_of_many(project.git, backups)
    cache = Cache(project)
    ready: list[Backup] = []
    for backup in backups:
        entries = [f for f in files[backup.tag] if f.store == "dvc"]
        listings = [o.md5 for o in backup.manifest.outputs if o.is_dir and o.store == "dvc"]
        if any(_size(cache, m) is None for m in listings):
            # A directory's listing, which the target needs too, is not here: bring it.
            listings_into_cache(cache, listings, project.store.remote(source))
        wanted = {f.md5: f.size for f in entries}
        wanted.update({m: size for m in listings if (size := _size(cache, m)) is not None})
        lacking = project.store.missing_in_remote(target, wanted)
        if not lacking and all(_size(cache, m) is not None for m in listings):
            report.already.append(backup.tag)
            ready.append(backup)  # its manifest may still be missing there
            continue
        reporter.step(f"copying {backup.tag}: {len(lacking)} object(s)")
        # Made good in the cache from the source (re-hashed there, a damaged copy
        # quarantined) before anything is put into the target.
        check = fill_cache(project, [f for f in entries if f.md5 in lacking],
                           [source], reporter, listings)
        if (unreachable := check.failure_of_every_remote([source])) is not None:
            raise unreachable
        if check.bad:
            report.damaged.append(backup.tag)
            continue
        ready.append(backup)
    # From the cache copies just re-hashed, through the code `sync` uses: objects, then the
    # manifest that lets the target alone restore them.
    placed = put_backups(project, target, ready, files, report.already, reporter)
    report.copied, report.manifests = placed.pushed, placed.manifests
    return report


def _size(cache: Cache, md5: str) -> int | None:
    try:
        return cache.store.size(md5)
    except KeyMissing:
        return None
