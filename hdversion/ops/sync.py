"""Filling the gaps of a remote: every backup it lacks is pushed (oldest first), confirmed
by the remote's own listing, and its manifest written there (`put_backups`, as `copy` does);
the backup tags and pins go to the git remote."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.errors import PartialError, RemoteError
from hdversion.ops.backup_refs import (
    apply_tombstones,
    fetch_tombstones,
    read_aliases,
    read_pins,
)
from hdversion.ops.catalog import files_of_many, read_catalog
from hdversion.ops.leases import writing
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.publish import git_remote_of, publish_tags, published_later
from hdversion.ops.push import RemoteOutcome
from hdversion.ops.remote_manifests import put_backups
from hdversion.ops.remotes import completeness
from hdversion.util.progress import SILENT, Reporter


@dataclass(frozen=True)
class SyncReport:
    remote: str
    already_complete: list[str]
    pushed: dict[str, RemoteOutcome]  # by backup tag
    git_remote: RemoteOutcome
    # by backup tag: the manifests written into the remote (those it lacked)
    manifests: dict[str, RemoteOutcome] = field(default_factory=dict)
    # the aliases' records written into the remote (for the bucket alone); None: none to write
    aliases: RemoteOutcome | None = None

    @property
    def ok(self) -> bool:
        return all(o.ok for o in [*self.pushed.values(), *self.manifests.values()]) \
            and self.git_remote.ok and (self.aliases is None or self.aliases.ok)

    def failure(self) -> PartialError | None:
        failed = [tag for tag, outcome in self.pushed.items() if not outcome.ok]
        no_manifest = [tag for tag, outcome in self.manifests.items() if not outcome.ok]
        if self.ok:
            return None
        what = (f"{len(failed)} backup(s) could not be pushed to {self.remote}" if failed
                else f"the manifests of {len(no_manifest)} backup(s) could not be written "
                f"into {self.remote}: {self.manifests[no_manifest[0]].detail}" if no_manifest
                else f"the tags could not be pushed to git remote {self.git_remote.name}"
                if not self.git_remote.ok
                else f"the aliases could not be written into {self.remote}: "
                f"{self.aliases.detail if self.aliases else ''}")
        return PartialError(what, hint="fix the remote and run `hdversion sync` again")


def sync(*, repo: Path | None = None, remote: str = "s3", wait: float = 0,
         reporter: Reporter = SILENT, config: Path | None = None) -> SyncReport:
    project = Project.open(repo, config=config)
    with locked_operation(project, "sync", wait, remote=remote):
        remove_leftovers(project, [remote])  # a killed sync's, in the remote it fills
        report = sync_remote(project, remote, reporter, wait)
        project.journal("sync", "ok" if report.ok else "partial", remote=remote,
                        pushed={t: o.ok for t, o in report.pushed.items()})
        return report


def sync_remote(project: Project, remote: str, reporter: Reporter = SILENT, wait: float = 0
                ) -> SyncReport:
    """Push every backup the remote lacks (oldest first); the caller holds the lock. A shared
    lease in the remote (when other clones may share it) from before its listing until the
    tags are on the git remote: a backup found whole there, whose tag other clones have not
    seen yet, must stay whole until they can."""
    # A backup pruned in another clone must not come back from this one.
    _fetch_tombstones(project)
    with writing(project, [remote], "sync", wait) as leases:
        backups = list(reversed(read_catalog(project.git).backups))
        gaps = completeness(project, remote, backups)
        files = files_of_many(project.git, [b for b in backups if gaps[b.tag]])
        done = [b.tag for b in backups if gaps[b.tag] == 0]
        # Backups made before manifests were written into remotes (or whose manifest write
        # failed) become recoverable from the remote alone too.
        placed = put_backups(project, remote, backups, files, done, reporter)
        aliases = _put_aliases(project, remote)
        pins = [pin.ref for pin in read_pins(project.git).values()]
        tags = publish_tags(project, [b.tag for b in backups], pins)
        if published_later(project, tags):
            leases.keep()
    return SyncReport(remote, done, placed.pushed, tags, placed.manifests, aliases)


def _put_aliases(project: Project, remote: str) -> RemoteOutcome | None:
    """Every alias's newest record into the remote, so that the remote alone resolves them."""
    from hdversion.ops.aliases import write_aliases

    records, _ = read_aliases(project.git)
    if not records:
        return None
    why = write_aliases(project, [remote], records).get(remote, "")
    return RemoteOutcome(remote, not why, why or f"{len(records)} alias(es) written")


def _fetch_tombstones(project: Project) -> None:
    """Drop the tags of backups pruned anywhere, as far as the git remote can tell now (a
    failure to fetch leaves what this clone knows; the tag push then fails too)."""
    remote, _ = git_remote_of(project)
    if remote is not None:
        with contextlib.suppress(RemoteError):
            fetch_tombstones(project, remote)
    apply_tombstones(project.git)
