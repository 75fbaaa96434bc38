"""The workspace as DVC tracks it: outputs, committing them to the cache, metrics and params."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hdversion.datastore.ingest import Stager, ingest_new_files, remember_hashes
from hdversion.datastore.session import DvcSession
from hdversion.datastore.store import DirectoryStore
from hdversion.errors import (
    ChangedDuringBackupError,
    DamagedPointerFileError,
    DataStoreError,
    HdversionError,
    WriteError,
)
from hdversion.paths import HASHED_STATS
from hdversion.util.atomic import atomic_write_bytes
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Reporter

if TYPE_CHECKING:
    from dvc.repo import Repo


@dataclass(frozen=True)
class Output:
    """A DVC-tracked artifact: a stage output of dvc.yaml or the target of a .dvc file."""

    path: str  # relative to the repo root
    pointer_file: str  # dvc.lock or the .dvc file that records its hash
    cached: bool = True  # False for `cache: false` outputs, which git is meant to keep


@dataclass(frozen=True)
class TrackedFile:
    path: str
    md5: str
    size: int


@dataclass(frozen=True)
class TrackedOutput:
    """A committed output as a whole: its DVC hash (`<md5>.dir` for a directory)."""

    path: str
    md5: str
    size: int
    nfiles: int


@dataclass(frozen=True)
class Snapshot:
    """What a backup records from DVC: the files, and the pointer files that describe them."""

    outputs: tuple[TrackedOutput, ...]
    files: tuple[TrackedFile, ...]
    missing: tuple[str, ...]
    pointer_files: dict[str, bytes]


@dataclass(frozen=True)
class WorkspaceView:
    """The workspace described without committing anything (for diff and status)."""

    outputs: tuple[tuple[TrackedOutput, list[TrackedFile]], ...]  # cached outputs present
    missing: tuple[str, ...]  # cached outputs absent
    uncached: tuple[str, ...]  # `cache: false` outputs (git keeps them)
    metrics: dict[str, Any]
    params: dict[str, Any]


class Workspace:
    def __init__(self, session: DvcSession) -> None:
        self.session = session
        self.root = session.root

    def outputs(self) -> list[Output]:
        with self.session.open() as repo:
            check_single_stage_files(self.root, repo.index.stages)
            return [self._output(out) for out in repo.index.outs]

    def _output(self, out: Any) -> Output:
        path = Path(out.fs_path).relative_to(self.root).as_posix()
        dvcfile = Path(out.stage.path)
        pointer = dvcfile.with_name("dvc.lock") if dvcfile.name == "dvc.yaml" else dvcfile
        return Output(path=path, pointer_file=pointer.relative_to(self.root).as_posix(),
                      cached=bool(out.use_cache))

    def _local_remote_tee(self) -> Stager | None:
        """The local remote's store, when it is a directory, for ingest's tee: plain, or
        sealing where the remote is encrypted (its key unlocked; a key not at hand leaves
        the remote to the push, which says why)."""
        folder = self.session.local_objects_folder(self.session.local_remote)
        if folder is not None:
            return DirectoryStore(str(folder), folder, durable=False)
        if not self.session.local_remote_encrypted():
            return None
        from hdversion.datastore.encrypted import EncryptedStore
        from hdversion.datastore.transfers import Transfers

        try:
            store = Transfers(self.session).remote_store(self.session.local_remote)
        except HdversionError:
            return None
        if not isinstance(store, EncryptedStore) or not isinstance(store.inner, DirectoryStore):
            return None
        inner = DirectoryStore(store.inner.name, store.inner.objects, store.inner.records,
                               durable=False)
        return EncryptedStore(inner, store.master)

    def snapshot(self, outputs: list[Output], reporter: Reporter = SILENT) -> Snapshot:
        """Commit the workspace's outputs to the cache and describe them, file by file.

        This is `dvc commit --force` without its two hazards for a backup: the pointer files
        (dvc.lock, *.dvc) are never written in place (their new bytes are made in memory and
        go into the backup commit, so no instant of a backup leaves them changed or empty),
        and nothing is hashed for DVC's run cache (which fails on a missing output that another
        stage depends on). DVC's state database spares unchanged files a re-hash. The new
        bytes hashed are reported to `reporter` as they are read.
        """
        missing = tuple(o.path for o in outputs if not (self.root / o.path).exists())
        before = _stat_outputs(self.root, outputs)
        try:
            with self.session.open() as repo, repo.lock:
                stages = list(repo.index.stages)
                check_single_stage_files(self.root, stages)
                # Unless every file is as it was when a backup last had them all hashed: an
                # unchanged backup of 10,000 files then walks them once, not three times.
                if _read_digest(self.root) != _stats_digest(before):
                    ingest_new_files(repo, self._local_remote_tee(), reporter)
                    reporter.step("committing artifacts to the DVC cache")
                for stage in stages:
                    stage.save(allow_missing=True, run_cache=False)
                pause_point(self.root, PausePoint.AFTER_DVC_SAVE)
                for stage in stages:
                    # relink=False: with the default (copy) link type, relinking would
                    # rewrite every workspace file from the cache.
                    stage.commit(allow_missing=True, relink=False)
                pointer_files = _pointer_bytes(self.root, stages)
                pause_point(self.root, PausePoint.AFTER_DVC_COMMIT)
                described = list(self._describe(stages, repo, skip=set(missing)))
        except FileNotFoundError as exc:
            # A file DVC was reading vanished, or (through _describe) an object DVC hashed is
            # not in the cache: the artifact changed under DVC. The user knows the artifact,
            # not the cache's object names.
            raise ChangedDuringBackupError(
                _changed(before, _stat_outputs(self.root, outputs))
                or self._workspace_name(exc.filename) or "one of the artifacts") from None
        except OSError as exc:
            raise WriteError(f"cannot write to the DVC cache: {exc.strerror or exc}"
                             + (f" ({exc.filename})" if exc.filename else ""),
                             hint="free space or fix the permissions of the cache "
                             "(dvc cache dir shows where it is)") from None
        after = _stat_outputs(self.root, outputs)
        if after != before:
            raise ChangedDuringBackupError(_changed(before, after))
        _write_digest(self.root, _stats_digest(after))
        return Snapshot(
            outputs=tuple(output for output, _ in described),
            files=tuple(file for _, files in described for file in files),
            missing=missing, pointer_files=pointer_files,
        )

    def _workspace_name(self, filename: str | None) -> str | None:
        """`filename` relative to the workspace, None for a path outside it or in DVC's
        folder (a cache object's name says nothing to the user)."""
        if not filename:
            return None
        try:
            relative = Path(filename).absolute().relative_to(self.root).as_posix()
        except ValueError:
            return None
        return None if relative.split("/")[0] == ".dvc" else relative

    def remember_hashes(self, hashes: dict[Path, str]) -> None:
        """Record the md5 of workspace files just written and verified in DVC's state
        database."""
        with self.session.open() as repo:
            remember_hashes(repo, {str(path): md5 for path, md5 in hashes.items()})

    def describe(self) -> WorkspaceView:
        """The workspace as it is now, hashed the way DVC hashes it, in one opening of DVC.
        Read-only: no commit, nothing written to the cache or the pointer files, DVC's lock
        not taken (DVC's state database, a cache of hashes by size and mtime, spares
        unchanged files a re-hash)."""
        from dvc_data.hashfile.build import build
        from dvc_data.hashfile.tree import Tree

        described: list[tuple[TrackedOutput, list[TrackedFile]]] = []
        missing: list[str] = []
        uncached: list[str] = []
        try:
            with self.session.open() as repo:
                check_single_stage_files(self.root, repo.index.stages)
                for out in repo.index.outs:
                    path = Path(out.fs_path).relative_to(self.root).as_posix()
                    if not out.use_cache:
                        uncached.append(path)
                        continue
                    if not out.exists:
                        missing.append(path)
                        continue
                    # dry_run: hashes only; the objects go nowhere (DVC stages them in
                    # memory).
                    _, meta, obj = build(out.cache, out.fs_path, out.fs, out.hash_name,
                                         ignore=out.dvcignore, dry_run=True)
                    md5 = str(obj.hash_info.value)
                    if isinstance(obj, Tree):
                        files = [TrackedFile(PurePosixPath(path, *key).as_posix(),
                                             str(info.value), int(entry.size or 0))
                                 for key, entry, info in obj]
                    else:
                        files = [TrackedFile(path, md5, int(meta.size or 0))]
                    described.append((TrackedOutput(path, md5, sum(f.size for f in files),
                                                    len(files)), files))
                metrics, params = _metrics_and_params(repo)
        except FileNotFoundError as exc:
            raise DataStoreError(f"an artifact vanished while it was being read: "
                                 f"{exc.filename or exc}", hint="run it again") from None
        return WorkspaceView(tuple(described), tuple(missing), tuple(uncached), metrics,
                             params)

    def _describe(self, stages: list[Any], repo: Repo, skip: set[str]
                  ) -> Iterator[tuple[TrackedOutput, list[TrackedFile]]]:
        cache = repo.cache.local
        for out in (out for stage in stages for out in stage.outs):
            if not out.use_cache:
                continue
            path = Path(out.fs_path).relative_to(self.root).as_posix()
            if path in skip or out.hash_info is None or not out.hash_info.value:
                continue
            if out.hash_info.isdir:
                # A listing records each file's size; a stat of each cache object would
                # cost 10,000 system calls for as many files.
                files = [
                    TrackedFile(PurePosixPath(path, *key).as_posix(), info.value,
                                meta.size if meta is not None and meta.size is not None
                                else os.path.getsize(cache.oid_to_path(info.value)))
                    for key, meta, info in out.get_obj()
                ]
            else:
                md5 = out.hash_info.value
                files = [TrackedFile(path, md5, os.path.getsize(cache.oid_to_path(md5)))]
            total = sum(f.size for f in files)
            yield TrackedOutput(path, out.hash_info.value, total, len(files)), files

    def metrics_and_params(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The workspace's metrics and params, from one reading of DVC's index."""
        with self.session.open() as repo:
            return _metrics_and_params(repo)


def check_single_stage_files(root: Path, stages: Iterable[Any]) -> None:
    """DamagedPointerFileError for a .dvc file that declares nothing: DVC's schema takes an
    emptied one as a stage without outputs, so its artifact would drop out of backups and
    status without a word. `dvc add` and `dvc import` never write one."""
    from dvc.stage import PipelineStage

    for stage in stages:
        if isinstance(stage, PipelineStage) or stage.outs or stage.deps or stage.cmd:
            continue
        path = Path(stage.path)
        try:
            blank = not path.read_bytes().strip()
        except OSError:
            continue
        raise DamagedPointerFileError(path.relative_to(root).as_posix(),
                                      "empty" if blank else "declares no output")


def _changed(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
             ) -> str:
    """The files (five at most) whose size, mtime or inode differ, or ''."""
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return ", ".join(changed[:5])


def _stats_digest(stats: dict[str, tuple[int, int, int]]) -> str:
    return hashlib.sha256(repr(sorted(stats.items())).encode()).hexdigest()


def _read_digest(root: Path) -> str | None:
    try:
        return (root / HASHED_STATS).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _write_digest(root: Path, digest: str) -> None:
    """Best effort: without it the next backup only asks DVC's state database again."""
    with contextlib.suppress(OSError):
        atomic_write_bytes(root / HASHED_STATS, digest.encode())


def _stat_outputs(root: Path, outputs: list[Output]) -> dict[str, tuple[int, int, int]]:
    """(size, mtime, inode) of every file of the outputs: a change while DVC hashes them
    means the cache may hold bytes that do not match their name. Walked with scandir, whose
    entries carry their stat: pathlib's rglob and stat cost 0.2 ms a file."""
    stats: dict[str, tuple[int, int, int]] = {}
    prefix = len(str(root)) + 1
    for output in outputs:
        folders = [str(root / output.path)]
        with contextlib.suppress(OSError):
            info = os.stat(folders[0])
            if not stat.S_ISDIR(info.st_mode):
                stats[output.path] = (info.st_size, info.st_mtime_ns, info.st_ino)
                continue
        while folders:
            with contextlib.suppress(OSError), os.scandir(folders.pop()) as listing:
                for entry in listing:
                    with contextlib.suppress(FileNotFoundError):
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                        elif entry.is_file():
                            info = entry.stat()
                            key = entry.path[prefix:].replace(os.sep, "/")
                            stats[key] = (info.st_size, info.st_mtime_ns, entry.inode())
    return stats


def _pointer_bytes(root: Path, stages: list[Any]) -> dict[str, bytes]:
    """The pointer files as `dvc commit` would write them, made in memory: dvc.lock (updated
    stage by stage, comments and order kept) and each .dvc file."""
    from dvc.stage import PipelineStage, serialize
    from dvc.utils.serialize import dumps_yaml, parse_yaml_for_update

    locks: dict[Path, list[Any]] = {}
    made: dict[str, bytes] = {}
    for stage in stages:
        if isinstance(stage, PipelineStage):
            locks.setdefault(Path(stage.dvcfile.path).with_name("dvc.lock"), []).append(stage)
        else:
            path = Path(stage.dvcfile.path)
            made[path.relative_to(root).as_posix()] = dumps_yaml(
                serialize.to_single_stage_file(stage)).encode()
    for lock_path, lock_stages in locks.items():
        text = lock_path.read_text() if lock_path.exists() else ""
        data = parse_yaml_for_update(text, str(lock_path)) if text.strip() else None
        if not data:
            data = {"schema": "2.0"}
        data["stages"] = data.get("stages", {})
        for stage in lock_stages:
            data["stages"].update(serialize.to_lockfile(stage))
        made[lock_path.relative_to(root).as_posix()] = dumps_yaml(data).encode()
    return made


def _metrics_and_params(repo: Repo) -> tuple[dict[str, Any], dict[str, Any]]:
    return (_flatten_show(repo.metrics.show(hide_workspace=False)),
            _flatten_show(repo.params.show(hide_workspace=False)))


def _flatten_show(shown: dict[str, Any]) -> dict[str, Any]:
    """DVC's show() nests {rev: {"data": {file: {"data": ...}}}}; keep {file: data}. Called
    with hide_workspace=False: hiding asks git for the active branch, and opening git
    through pygit2 costs 0.1 s for nothing here."""
    workspace = shown.get("", {}).get("data", {})
    return {name: entry.get("data", {}) for name, entry in workspace.items() if "data" in entry}


def dir_listing(members: list[tuple[str, str]]) -> bytes:
    """The bytes of DVC's listing (`.dir` object) of a directory whose files are (path
    relative to the directory, md5), made by DVC's own Tree: named by their md5, they can be
    checked against the name a pointer file records before they are trusted."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    tree = Tree()  # type: ignore[no-untyped-call]
    for relpath, md5 in members:
        tree.add(tuple(relpath.split("/")), Meta(), HashInfo("md5", md5))
    tree.digest()
    return bytes(tree.as_bytes())
