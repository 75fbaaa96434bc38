"""Pinning a backup (retention never removes it) and unpinning it, here and on the git
remote; reading the pins."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hdversion.errors import BackupNotFoundError, PartialError, RemoteError
from hdversion.model.names import check_name
from hdversion.model.pins import Pin
from hdversion.model.timestamps import tag_for
from hdversion.ops.backup_refs import read_pins
from hdversion.ops.catalog import catalog_with, read_catalog
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.publish import git_remote_of, publish_tags
from hdversion.ops.push import RemoteOutcome
from hdversion.util.clock import now_utc
from hdversion.util.identity import host_name, user_name


@dataclass(frozen=True)
class PinResult:
    pin: Pin
    pinned: bool  # False: unpinned
    git_remote: RemoteOutcome

    def failure(self) -> PartialError | None:
        if self.git_remote.ok:
            return None
        done = "pinned" if self.pinned else "unpinned"
        return PartialError(
            f"backup {tag_for(self.pin.timestamp)} is {done} here, but not on git remote "
            f"{self.git_remote.name}: {self.git_remote.detail}",
            hint="other clones follow the git remote: run the command again when it answers")


def pin(ref: str, *, reason: str = "", repo: Path | None = None,
        wait: float = 0, config: Path | None = None) -> PinResult:
    check_name(ref)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "pin", wait, timestamp=ref):
        backup = catalog_with(project, ref).get(ref, now_utc())
        made = Pin(backup.timestamp, reason, now_utc().isoformat(timespec="seconds"),
                   f"{user_name()}@{host_name()}", backup.commit)
        project.git.create_ref_tag(made.ref, backup.commit, made.to_json())
        outcome = _publish(project, [made.ref], delete=False)
        project.journal("pin", "ok" if outcome.ok else "partial", tag=backup.tag,
                        reason=reason)
        return PinResult(made, True, outcome)


def unpin(ref: str, *, repo: Path | None = None, wait: float = 0,
          config: Path | None = None) -> PinResult:
    check_name(ref)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "unpin", wait, timestamp=ref):
        pins = read_pins(project.git)
        # Named as in every command; a pin whose backup tag is gone can still be named.
        names = read_catalog(project.git).names(now_utc())
        names = replace(names, timestamps={*names.timestamps,
                                           *(p.timestamp for p in pins.values())})
        tag = tag_for(names.resolve(ref))
        known = pins.get(tag)
        if known is None:
            raise BackupNotFoundError(f"backup {tag} is not pinned",
                                      hint="`hdversion list` shows the pins")
        # The git remote first: a pin left there would come back with the next fetch.
        outcome = _publish(project, [known.ref], delete=True)
        if outcome.ok:
            project.git.delete_refs([known.ref])
        project.journal("unpin", "ok" if outcome.ok else "partial", tag=tag)
        return PinResult(known, not outcome.ok, outcome)


def _publish(project: Project, refs: list[str], delete: bool) -> RemoteOutcome:
    if not delete:
        return publish_tags(project, [], refs)
    remote, why = git_remote_of(project)
    if remote is None:
        return RemoteOutcome("", True, why)
    try:
        present = project.git.remote_refs(remote, *refs)
        project.git.delete_remote_refs(remote, [r for r in refs if r in present])
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, "pushed")
