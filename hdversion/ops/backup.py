"""Making a backup. Write order is the invariant: the data is in the cache and in the local
remote (checked by listing the remote itself) before the tag exists. A crash at any point
leaves no tag, or a tag whose data is complete; at worst an untagged commit and unreferenced
objects, which are harmless."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdversion import __version__
from hdversion.errors import (
    ConfigurationError,
    HdversionError,
    InterruptedAfterBackupError,
    ManifestError,
    MissingArtifactError,
    PartialError,
    UsageError,
)
from hdversion.model.catalog import Backup
from hdversion.model.compare import compare_values, flatten_files
from hdversion.model.manifest import FileEntry, FileList, Kind, Manifest, OutputEntry, within
from hdversion.model.offsite import Copies
from hdversion.model.pointers import is_pointer_file
from hdversion.model.timestamps import TAG_PREFIX, format_timestamp, next_second, tag_for
from hdversion.ops.add import add_locked, project_paths
from hdversion.ops.backup_refs import pruned_timestamps, refresh_catalog
from hdversion.ops.catalog import files_of
from hdversion.ops.leases import WriterLeases, writing
from hdversion.ops.newest import newest_regular
from hdversion.ops.offsite import copies_of
from hdversion.ops.operation import locked_operation, remove_leftovers
from hdversion.ops.project import Project
from hdversion.ops.publish import (
    git_remote_of,
    publish_tags,
    published_later,
    unpublished_tags,
)
from hdversion.ops.push import RemoteOutcome, confirm_pushed, needed_objects, push_and_confirm
from hdversion.ops.remote_manifests import put_manifest
from hdversion.paths import FILE_LIST
from hdversion.util.atomic import discard, leftover_temp_files
from hdversion.util.clock import now_utc
from hdversion.util.hashing import md5_bytes
from hdversion.util.identity import host_name, user_name
from hdversion.util.log import log
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Reporter

if TYPE_CHECKING:
    from hdversion.datastore.workspace import Snapshot


@dataclass
class BackupResult:
    backup: Backup
    files: tuple[FileEntry, ...]
    remotes: list[RemoteOutcome] = field(default_factory=list)
    git_remote: RemoteOutcome | None = None
    # The manifest written beside the objects, per remote (the local one first).
    manifests: list[RemoteOutcome] = field(default_factory=list)
    # True: nothing changed since `backup`, the newest backup, and none was made.
    skipped: bool = False
    # Where the backup's copies are (set by `backup`): on this disk only, or also elsewhere.
    copies: Copies = field(default_factory=Copies)
    # The pointer files `backup --add` wrote first (to commit with git).
    added: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return all(r.ok for r in self.remotes + self.manifests) and (
            self.git_remote is None or self.git_remote.ok)

    def failure(self) -> PartialError | None:
        """What did not happen, naming the backup that stands."""
        failed = [r.name for r in self.remotes if not r.ok]
        failed += [f"the manifest in {r.name} ({r.detail})" for r in self.manifests if not r.ok]
        if self.git_remote is not None and not self.git_remote.ok:
            failed.append(f"git remote {self.git_remote.name}")
        if not failed:
            return None
        return PartialError(
            f"backup {self.backup.tag} was made and is complete in the local remote, but "
            f"{', '.join(failed)} failed",
            hint="fix the remote, then `hdversion sync` completes it",
        )


def backup(
    *,
    repo: Path | None = None,
    message: str = "",
    allow_missing: bool = False,
    remotes: tuple[str, ...] | None = (),
    reporter: Reporter = SILENT,
    wait: float = 0,
    require_cloud: bool = False,
    skip_if_unchanged: bool = False,
    config: Path | None = None,
    add: tuple[str, ...] = (),
) -> BackupResult:
    """Back up the project at `repo` (default: the current directory) to the local remote
    and the cloud `remotes` (None: the settings' `backup.remotes`). `skip_if_unchanged`: make
    none when the newest backup already holds this state (`skipped` in the result). `add`:
    paths (relative to the current directory) for DVC to track first, as `add` does, in
    the same run: their pointer files are written (commit them with git) and backed up."""
    project = Project.open(repo, config=config)
    targets = project_paths(project, list(add))
    cloud_remotes = configured_remotes(project, remotes, require_cloud)
    with locked_operation(project, "backup", wait, message=message):
        result = create_backup(project, message, allow_missing, cloud_remotes=cloud_remotes,
                               reporter=reporter, skip_if_unchanged=skip_if_unchanged,
                               wait=wait, add=targets)
        # A skip is a success ("ok", for the hooks too), told apart by `skipped`.
        project.journal("backup", "ok" if result.complete else "partial",
                        tag=result.backup.tag, skipped=result.skipped,
                        files=len(result.files),
                        remotes={r.name: r.ok for r in result.remotes},
                        manifests={r.name: r.ok for r in result.manifests})
    result.copies = _copies(project, result)
    return result


def _copies(project: Project, result: BackupResult) -> Copies:
    """A new backup is whole in the local remote and in each cloud remote pushed to; a
    skipped one is the newest, whose other copies are unknown here (`status` lists them)."""
    local = project.settings.local_remote
    if result.skipped:
        others = [r.name for r in project.store.remotes() if r.name != local]
        return copies_of(project, result.backup.tag, [local], others)
    return copies_of(project, result.backup.tag,
                     [local, *(r.name for r in result.remotes if r.ok)])


def configured_remotes(project: Project, named: tuple[str, ...] | None,
                       required: bool) -> tuple[str, ...]:
    """The cloud remotes of a run: those named, else the settings' `backup.remotes`."""
    remotes = named if named is not None else project.settings.remotes
    if required and not remotes:
        raise UsageError("--cloud needs --storage=s3|azure|gcp (or --remote NAME), or "
                         f"backup.remotes in {project.settings.source}")
    return remotes


def create_backup(
    project: Project,
    message: str = "",
    allow_missing: bool = False,
    kind: Kind = "backup",
    cloud_remotes: tuple[str, ...] = (),
    reporter: Reporter = SILENT,
    offline: bool = False,
    skip_if_unchanged: bool = False,
    fetch_tags: bool = True,
    wait: float = 0,
    add: list[str] | None = None,
) -> BackupResult:
    """Back up the workspace; the caller holds the repository lock. `offline`: the git
    remote is not asked (the tag stays here until the next backup or sync pushes it).
    `skip_if_unchanged`: when the newest backup (its tags fetched first if `fetch_tags` and
    not `offline`) already holds the state this one would record, make nothing and return
    that backup, `skipped`. `add`: paths of the project DVC tracks first (`add_locked`);
    should the backup then fail, its error says which pointer files stay written."""
    # Takes DVC's lock: while `dvc repro` runs (outputs come and go) this says so (exit 6),
    # not "missing artifacts".
    remove_leftovers(project)
    # Refuse before any work: a cloud remote that cannot be used would otherwise leave a
    # local backup that the failure message does not mention.
    for remote in cloud_remotes:
        reporter.step(f"checking remote '{remote}'")
        project.store.preflight(remote)
    if not add:
        return _create_backup(project, message, allow_missing, kind, cloud_remotes, reporter,
                              offline, skip_if_unchanged, fetch_tags, wait)
    added = add_locked(project, add, reporter).pointer_files
    try:
        result = _create_backup(project, message, allow_missing, kind, cloud_remotes,
                                reporter, offline, skip_if_unchanged, fetch_tags, wait)
    except HdversionError as exc:
        # The add is done and stays: the message names what it wrote.
        exc.message += f" ({', '.join(added)} written by --add: commit with git)"
        raise
    result.added = added
    return result


def _create_backup(project: Project, message: str, allow_missing: bool, kind: Kind,
                   cloud_remotes: tuple[str, ...], reporter: Reporter, offline: bool,
                   skip_if_unchanged: bool, fetch_tags: bool, wait: float) -> BackupResult:
    """`create_backup` once its leftovers are removed and its remotes checked."""
    workspace, git, settings = project.store, project.git, project.settings
    outputs = workspace.outputs()
    if not outputs:
        raise ConfigurationError(
            "nothing to back up: DVC tracks no artifacts (no dvc.yaml outputs, no .dvc files)",
            hint="run the pipeline (dvc repro) or `dvc add` the files to protect",
        )
    # Outputs with `cache: false` are kept by git, not DVC: the backup commit holds them.
    uncached = tuple(o.path for o in outputs if not o.cached)
    git_files, missing_git = _git_tracked_files(project.root, settings.git_tracked_files,
                                                required=settings.git_tracked_explicit)
    uncached_files, missing_uncached = _git_tracked_files(project.root, uncached,
                                                          required=True)
    git_files.update(uncached_files)
    missing_cached = [o.path for o in outputs if o.cached and not (project.root / o.path).exists()]
    missing = missing_cached + missing_uncached + missing_git
    if missing and not allow_missing:
        raise MissingArtifactError(missing)
    # A safety backup saves whatever is unsaved, git-tracked files alone included.
    if len(missing_cached) == sum(o.cached for o in outputs) and not uncached_files \
            and not (kind == "safety" and git_files):
        raise ConfigurationError("nothing to back up: every DVC-tracked artifact is missing")
    # Files staged by a killed restore beside a file output are ours (those inside a
    # directory output are removed by the snapshot's walk of it).
    discard(leftover_temp_files(project.root, [o.path for o in outputs], inside=False))
    reporter.step("committing artifacts to the DVC cache")
    snapshot = workspace.snapshot(outputs, reporter)
    tree = {**git_files, **snapshot.pointer_files}
    files = tuple(
        [*snapshot.files,
         *(FileEntry(p, md5_bytes(d), len(d), "git") for p, d in sorted(tree.items()))]
    )
    file_list = FileList(files).to_bytes()
    outputs_entries = _output_entries(snapshot, uncached, files)
    metrics, params = workspace.metrics_and_params()
    if skip_if_unchanged:
        # Decided before the backup commit: a skipped run writes no commit, no tag, and
        # nothing into any remote (the snapshot put nothing new in the cache either, since
        # the data is the newest backup's).
        newest = _newest_backup(project, fetch=fetch_tags and not offline)
        if newest is not None:
            held = _same_state(project, newest, outputs_entries, files, missing, params)
            if held is not None:
                return BackupResult(newest, held, skipped=True)
    commit = git.commit_snapshot({**tree, FILE_LIST: file_list}, "hdversion backup")

    # Shared leases in the stores other clones share, before anything is listed or pushed
    # there, until the tag is on the git remote (ops/leases.py): a prune in another clone
    # does not sweep under a backup it cannot see yet.
    with writing(project, [settings.local_remote, *cloud_remotes], "backup", wait) as leases:
        reporter.step(f"pushing to remote '{settings.local_remote}'")
        # Raises (no tag is made) unless the local remote holds every object.
        objects = needed_objects(project, files, outputs_entries)
        confirm_pushed(project, commit, objects, settings.local_remote, reporter)

        pause_point(project.root, PausePoint.BEFORE_TAG)
        moment = now_utc()
        timestamp = format_timestamp(moment)
        pruned = pruned_timestamps(git)  # a pruned backup's name is never used again
        while timestamp in pruned:
            timestamp = next_second(timestamp)
        while True:
            manifest = Manifest(
                timestamp=timestamp,
                created_at=moment.isoformat(timespec="microseconds"),
                host=host_name(),
                user=user_name(),
                hdversion_version=__version__,
                dvc_version=_dvc_version(),
                base_commit=git.head_commit(),
                branch=git.branch(),
                message=message,
                outputs=outputs_entries,
                total_files=len(files),
                total_size=sum(f.size for f in files),
                files_md5=md5_bytes(file_list),
                missing=tuple(missing),
                metrics=metrics,
                params=params,
                kind=kind,
            )
            # Two backups in one second: the second takes the next free second, so every tag
            # stays a valid timestamp (created_at keeps the true time).
            if git.create_tag(tag_for(timestamp), commit, manifest.to_tag_message()):
                break
            timestamp = next_second(timestamp)
            while timestamp in pruned:
                timestamp = next_second(timestamp)

        result = BackupResult(Backup(tag_for(timestamp), timestamp, commit, manifest), files)
        try:
            pause_point(project.root, PausePoint.BEFORE_CLOUD_PUSH)
            for remote in cloud_remotes:
                reporter.step(f"pushing to remote '{remote}'")
                result.remotes.append(push_and_confirm(project, commit, objects, remote, reporter))
            pause_point(project.root, PausePoint.BEFORE_TAG_PUSH)
            _confirm_after_lapse(project, result, leases, objects, wait, reporter)
            if not offline:
                reporter.step("pushing the tag to the git remote")
                result.git_remote = _publish(project, result)
            if published_later(project, result.git_remote):
                # Other clones cannot see this backup yet: its leases stay until they expire.
                leases.keep()
            # Last, under the backup's final name (_publish may have moved it): the manifest
            # beside the objects in every remote that holds them, so that the remote alone can
            # restore it.
            for remote in [settings.local_remote, *(r.name for r in result.remotes if r.ok)]:
                reporter.step(f"writing the manifest into remote '{remote}'")
                result.manifests.append(
                    put_manifest(project, remote, result.backup, files, file_list, tree))
        except KeyboardInterrupt:
            if published_later(project, result.git_remote):
                leases.keep()  # a tag here that other clones cannot see yet
            # The backup exists from its tag on: an interrupted run must say so, or the user
            # believes nothing was saved.
            raise InterruptedAfterBackupError(
                f"interrupted after backup {result.backup.tag} was made (tagged, in the local "
                f"remote '{settings.local_remote}'); what came after may not have finished: the "
                "push to cloud remotes and to the git remote, the remotes' manifests",
                result.backup.tag,
                hint="run `hdversion sync` (with --storage or --remote for a cloud remote) to "
                "finish it") from None
    return result


def _confirm_after_lapse(project: Project, result: BackupResult, leases: WriterLeases,
                         objects: dict[str, int], wait: float, reporter: Reporter) -> None:
    """A run stopped long enough between its push and its tag push (a suspended laptop, a
    paused container) may have let a prune in another clone sweep objects it reuses: where
    its lease lapsed, the objects are confirmed there again (and what is missing put back
    from the cache) before the tag goes out; a remote that fails that is a failed remote."""
    lapsed, unreadable = leases.lapsed(wait, skip=[r.name for r in result.remotes if not r.ok])
    outcomes = {name: RemoteOutcome(name, False, f"its lease could not be checked before the "
                                                 f"tag push: {why}")
                for name, why in unreadable.items()}
    for remote in lapsed:
        reporter.step(f"confirming remote '{remote}' again (this run's lease had lapsed)")
        outcome = push_and_confirm(project, result.backup.commit, objects, remote, reporter)
        if not outcome.ok:
            outcomes[remote] = RemoteOutcome(remote, False, f"lease lapsed, objects not "
                                                            f"confirmed again: {outcome.detail}")
    if outcomes:
        result.remotes = [r for r in result.remotes if r.name not in outcomes] + list(
            outcomes.values())


def _newest_backup(project: Project, fetch: bool) -> Backup | None:
    """The newest regular backup not dated in the future: the one `restore` and `status`
    call the latest."""
    refresh_catalog(project, offline=not fetch)
    return newest_regular(project.git, now_utc())


def _same_state(project: Project, newest: Backup, outputs: tuple[OutputEntry, ...],
                files: tuple[FileEntry, ...], missing: list[str], params: dict[str, Any]
                ) -> tuple[FileEntry, ...] | None:
    """`newest`'s files when it records the state this backup would record (each output's
    hash, each git-kept file's md5, the missing artifacts, the params), else None. The
    tag's outputs are compared first: a change in the data never reads the file list."""
    recorded = newest.manifest
    if set(recorded.missing) != set(missing) or compare_values(
            *flatten_files(recorded.params, params)) or {
            (o.path, o.md5, o.store) for o in recorded.outputs} != {
            (o.path, o.md5, o.store) for o in outputs}:
        return None
    try:
        held = files_of(project.git, newest)
    except ManifestError as exc:
        log.warning("%s: backing up instead of comparing with it", exc.message)
        return None
    return held if _state_files(held) == _state_files(files) else None


def _state_files(files: tuple[FileEntry, ...]) -> set[tuple[str, str, str]]:
    """The files that make a state: pointer files restate the outputs' hashes (and the
    code's, which git keeps), so they are left out, as `status` and `diff` leave them."""
    return {(f.path, f.md5, f.store) for f in files
            if not (f.store == "git" and is_pointer_file(f.path))}


def _publish(project: Project, result: BackupResult) -> RemoteOutcome:
    """Push the new tag (and earlier ones whose push failed). Another machine may have
    taken the same name on the git remote in the same second: then the backup moves to the
    next name free everywhere and is pushed again; neither backup is lost or overwritten."""
    for _ in range(5):
        earlier = [t for t in unpublished_tags(project) if t != result.backup.tag]
        outcome = publish_tags(project, [result.backup.tag, *earlier])
        taken = _taken_on_remote(project) if not outcome.ok else {}
        ours = project.git.ref_id(f"refs/tags/{result.backup.tag}")
        if outcome.ok or taken.get(result.backup.tag, ours) == ours:
            return outcome
        moved = _retag(project, result.backup, set(taken))
        log.warning("backup tag %s was taken on the git remote by another machine: this "
                    "backup is now %s", result.backup.tag, moved.tag)
        result.backup = moved
    return outcome


def _taken_on_remote(project: Project) -> dict[str, str]:
    """Backup tag -> its object id on the git remote ({} when it cannot be read)."""
    remote, _ = git_remote_of(project)
    if remote is None:
        return {}
    try:
        refs = project.git.remote_ref_ids(remote, f"refs/tags/{TAG_PREFIX}*")
    except HdversionError:
        return {}
    return {ref.removeprefix("refs/tags/"): sha for ref, sha in refs.items()}


def _retag(project: Project, backup: Backup, taken: set[str]) -> Backup:
    """The same backup under the next timestamp that no tag here or there, nor a pruned
    backup, has."""
    git = project.git
    used = taken | set(git.tag_ids(TAG_PREFIX)) | {
        tag_for(t) for t in pruned_timestamps(git)}
    timestamp = next_second(backup.timestamp)
    while True:
        if tag_for(timestamp) not in used:
            manifest = replace(backup.manifest, timestamp=timestamp)
            if git.create_tag(tag_for(timestamp), backup.commit, manifest.to_tag_message()):
                break
        timestamp = next_second(timestamp)
    git.delete_refs([f"refs/tags/{backup.tag}"])
    return Backup(tag_for(timestamp), timestamp, backup.commit, manifest)


def _output_entries(snapshot: Snapshot, uncached: tuple[str, ...],
                    files: tuple[FileEntry, ...]) -> tuple[OutputEntry, ...]:
    """One entry per DVC output: cached ones as DVC hashes them, `cache: false` ones from
    the files the backup commit holds for them."""
    entries = [OutputEntry(o.path, o.md5, o.size, o.nfiles, "dvc") for o in snapshot.outputs]
    for path in uncached:
        members = [f for f in files if within(f.path, path)]
        if not members:
            continue  # missing, and recorded as such
        if len(members) == 1 and members[0].path == path:
            md5 = members[0].md5
        else:
            listing = "".join(f"{f.path}\0{f.md5}\n" for f in members).encode()
            md5 = md5_bytes(listing) + ".dir"
        entries.append(OutputEntry(path, md5, sum(f.size for f in members), len(members),
                                   "git"))
    return tuple(sorted(entries, key=lambda o: o.path))


def _git_tracked_files(root: Path, paths: tuple[str, ...], required: bool
                       ) -> tuple[dict[str, bytes], list[str]]:
    """The bytes of files (or of every file in folders) to keep in the backup commit, and
    those missing; a missing file is skipped unless `required`."""
    found: dict[str, bytes] = {}
    missing: list[str] = []
    for path in dict.fromkeys(paths):
        file = root / path
        if file.is_file():
            found[path] = file.read_bytes()
        elif file.is_dir():
            for member in sorted(p for p in file.rglob("*") if p.is_file()):
                found[member.relative_to(root).as_posix()] = member.read_bytes()
        elif required:
            missing.append(path)
    return found, missing


def _dvc_version() -> str:
    from importlib.metadata import version

    return version("dvc")
