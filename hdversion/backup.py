"""Making a backup. Write order is the invariant: the data is in the cache and in the local
remote (checked by listing the remote itself) before the tag exists. A crash at any point
leaves no tag, or a tag whose data is complete; at worst an untagged commit and unreferenced
objects, which are harmless."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from pathlib import Path

from hdversion import __version__
from hdversion.atomic import discard, leftover_temp_files
from hdversion.catalog import Backup
from hdversion.errors import ConfigurationError, MissingArtifactError, RemoteError
from hdversion.hashing import md5_bytes
from hdversion.manifest import FileEntry, Kind, Manifest
from hdversion.pausepoints import pause_point
from hdversion.progress import SILENT, Reporter
from hdversion.project import Project
from hdversion.timestamps import format_timestamp, next_second, now_utc, tag_for


@dataclass
class RemoteOutcome:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class BackupResult:
    backup: Backup
    remotes: list[RemoteOutcome] = field(default_factory=list)
    git_remote: RemoteOutcome | None = None

    @property
    def complete(self) -> bool:
        return all(r.ok for r in self.remotes) and (self.git_remote is None or self.git_remote.ok)


def create_backup(
    project: Project,
    message: str = "",
    allow_missing: bool = False,
    kind: Kind = "backup",
    cloud_remotes: tuple[str, ...] = (),
    reporter: Reporter = SILENT,
) -> BackupResult:
    """Back up the workspace; the caller holds the repository lock."""
    store, git, settings = project.store, project.git, project.settings
    outputs = store.outputs()
    if not outputs:
        raise ConfigurationError(
            "nothing to back up: DVC tracks no artifacts (no dvc.yaml outputs, no .dvc files)",
            hint="run the pipeline (dvc repro) or `dvc add` the files to protect",
        )
    # Outputs with `cache: false` are kept by git, not DVC: the backup commit holds them.
    uncached = tuple(o.path for o in outputs if not o.cached)
    git_files, missing_git = _git_tracked_files(
        project.root, tuple(dict.fromkeys(settings.git_tracked_files + uncached))
    )
    missing_cached = [o.path for o in outputs if o.cached and not (project.root / o.path).exists()]
    missing = missing_cached + missing_git
    if missing and not allow_missing:
        raise MissingArtifactError(missing)
    if len(missing_cached) == sum(o.cached for o in outputs) and not set(uncached) & set(git_files):
        raise ConfigurationError("nothing to back up: every DVC-tracked artifact is missing")
    # Files staged by a killed restore are ours; inside a directory output DVC would take
    # them in as data.
    discard(leftover_temp_files(project.root, [o.path for o in outputs]))
    reporter.step("committing artifacts to the DVC cache")
    snapshot = store.snapshot(outputs)
    tree = {**git_files, **snapshot.pointer_files}
    entries = [FileEntry(f.path, f.md5, f.size, "dvc") for f in snapshot.files]
    entries += [FileEntry(p, md5_bytes(d), len(d), "git") for p, d in sorted(tree.items())]

    commit = git.commit_snapshot(tree, "hdversion backup")
    reporter.step(f"pushing to remote '{settings.local_remote}'")
    store.push(commit, settings.local_remote)
    lacking = store.missing_in_remote(settings.local_remote,
                                      {f.md5: f.size for f in snapshot.files})
    if lacking:
        raise RemoteError(
            f"the local remote '{settings.local_remote}' lacks {len(lacking)} object(s) after "
            "the push; no backup was tagged"
        )

    metrics, params = store.metrics(), store.params()
    pause_point(project.root, "before-tag")
    moment = now_utc()
    timestamp = format_timestamp(moment)
    while True:
        manifest = Manifest(
            timestamp=timestamp,
            created_at=moment.isoformat(timespec="microseconds"),
            host=socket.gethostname(),
            user=_user(),
            hdversion_version=__version__,
            dvc_version=_dvc_version(),
            base_commit=git.head_commit(),
            branch=git.branch(),
            message=message,
            files=tuple(entries),
            missing=tuple(missing),
            metrics=metrics,
            params=params,
            kind=kind,
        )
        # Two backups in one second: the second takes the next free second, so every tag
        # stays a valid timestamp (created_at keeps the true time).
        if git.create_tag(tag_for(timestamp), commit, manifest.to_json()):
            break
        timestamp = next_second(timestamp)

    result = BackupResult(Backup(tag_for(timestamp), timestamp, commit, manifest))
    pause_point(project.root, "before-cloud-push")
    for remote in cloud_remotes:
        reporter.step(f"pushing to remote '{remote}'")
        result.remotes.append(push_to_remote(project, result.backup, remote))
    reporter.step("pushing the tag to the git remote")
    result.git_remote = publish_tags(project, [result.backup.tag])
    return result


def publish_tags(project: Project, tags: list[str]) -> RemoteOutcome:
    """Push backup tags to the git remote, so that other clones see the backups."""
    remote = project.settings.git_remote
    if remote is None:
        return RemoteOutcome("", True, "tag push disabled (git_remote is empty): kept locally")
    if remote not in project.git.remote_names():
        return RemoteOutcome(remote, True, f"no git remote '{remote}': tag kept locally")
    try:
        project.git.push_tags(remote, tags)
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True, "pushed")


def push_to_remote(project: Project, backup: Backup, remote: str) -> RemoteOutcome:
    """Push a backup's objects to a remote and confirm them there by listing."""
    objects = dvc_objects(backup)
    try:
        project.store.push(backup.commit, remote)
        lacking = project.store.missing_in_remote(remote, objects)
        if lacking:
            # DVC skips what it believes the remote has; a truncated or damaged object there
            # is replaced from a verified cache copy.
            project.store.upload_verified(remote, lacking)
            lacking = project.store.missing_in_remote(remote, objects)
    except RemoteError as exc:
        return RemoteOutcome(remote, False, exc.message)
    if lacking:
        return RemoteOutcome(remote, False, f"{len(lacking)} object(s) missing after the push "
                             "(not in the local cache either)")
    return RemoteOutcome(remote, True)


def dvc_objects(backup: Backup) -> dict[str, int]:
    """The DVC objects a backup needs: md5 -> size."""
    return {f.md5: f.size for f in backup.manifest.files if f.store == "dvc"}


def _git_tracked_files(root: Path, paths: tuple[str, ...]) -> tuple[dict[str, bytes], list[str]]:
    found: dict[str, bytes] = {}
    missing: list[str] = []
    for path in paths:
        file = root / path
        if file.is_file():
            found[path] = file.read_bytes()
        elif file.is_dir():
            for member in sorted(p for p in file.rglob("*") if p.is_file()):
                found[member.relative_to(root).as_posix()] = member.read_bytes()
        else:
            missing.append(path)
    return found, missing


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _dvc_version() -> str:
    from importlib.metadata import version

    return version("dvc")
