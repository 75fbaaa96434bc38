"""The workspace as DVC tracks it: outputs, committing them to the cache, metrics and params."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hdversion.datastore.hashed_record import (
    OutputRecord,
    OutputWalk,
    Record,
    forget_record,
    ignore_digest,
    ignore_rules_apply,
    keep_record,
    listing_bytes,
    listing_md5s,
    load_record,
    save_record,
    stamp_now,
    walk_output,
)
from hdversion.datastore.ingest import (
    HASH_NAME,
    Stager,
    ingest_new_files,
    ingest_stores,
    read_files,
    remember_hashes,
    tee_bytes,
)
from hdversion.datastore.session import DvcSession
from hdversion.datastore.store import CacheStore, DirectoryStore, KeyMissing
from hdversion.errors import (
    ChangedDuringBackupError,
    DamagedPointerFileError,
    DataStoreError,
    HdversionError,
    UsageError,
    WriteError,
)
from hdversion.model.manifest import FileEntry
from hdversion.util.atomic import discard
from hdversion.util.hashing import md5_bytes
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Reporter

if TYPE_CHECKING:
    from dvc.repo import Repo

# A `.dir` listing read back from the cache: 100 bytes a file, a million files.
_LISTING_LIMIT = 100 * 1024 * 1024


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
    files: tuple[FileEntry, ...]  # as the backup's file list holds them (made once)
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
        # The file system's time before the walk: a file written from now on is racy for
        # the record this backup leaves.
        stamp, stamp_device = stamp_now(self.root)
        walks = _walk_outputs(self.root, outputs)
        # Files staged by a killed restore are ours; inside a directory output DVC would
        # take them in as data (found by the walk: no second listing of the output).
        discard(Path(left) for walk in walks.values() for left in walk.leftovers)
        record = load_record(self.root)
        # A killed run must not leave a record of files it may not have hashed as recorded.
        set_aside = forget_record(self.root)
        try:
            with self.session.open() as repo, repo.lock:
                stages = list(repo.index.stages)
                check_single_stage_files(self.root, stages)
                quick, as_recorded = self._hash_from_record(repo, stages, walks, record,
                                                            reporter)
                slow = [stage for stage in stages
                        if not all(out.fs_path in quick for out in stage.outs)]
                # Unless every file is as it was when a backup last had them all hashed: an
                # unchanged backup of 10,000 files then walks them once, not three times.
                digest = _stats_digest(_stat_outputs(walks)) if slow else None
                if slow and (record is None or record.digest != digest):
                    ingest_new_files(repo, self._local_remote_tee(), reporter,
                                     skip=frozenset(quick))
                    reporter.step("committing artifacts to the DVC cache")
                for stage in slow:
                    stage.save(allow_missing=True, run_cache=False)
                pause_point(self.root, PausePoint.AFTER_DVC_SAVE)
                for stage in slow:
                    # relink=False: with the default (copy) link type, relinking would
                    # rewrite every workspace file from the cache.
                    stage.commit(allow_missing=True, relink=False)
                pointer_files = _pointer_bytes(self.root, stages)
                pause_point(self.root, PausePoint.AFTER_DVC_COMMIT)
                described = list(self._describe(stages, repo, set(missing), quick))
        except FileNotFoundError as exc:
            # A file DVC was reading vanished, or (through _describe) an object DVC hashed is
            # not in the cache: the artifact changed under DVC. The user knows the artifact,
            # not the cache's object names.
            raise ChangedDuringBackupError(
                _changed(walks, _walk_outputs(self.root, outputs))
                or self._workspace_name(exc.filename) or "one of the artifacts") from None
        except OSError as exc:
            raise WriteError(f"cannot write to the DVC cache: {exc.strerror or exc}"
                             + (f" ({exc.filename})" if exc.filename else ""),
                             hint="free space or fix the permissions of the cache "
                             "(dvc cache dir shows where it is)") from None
        after_walks = _walk_outputs(self.root, outputs)
        if changed := _changed(walks, after_walks):
            raise ChangedDuringBackupError(changed)
        folders = {output.path for output, _ in described if output.md5.endswith(".dir")}
        if set_aside and record is not None and (not slow or record.digest == digest) \
                and as_recorded == folders == record.outputs.keys():
            # Every directory output hashed from the record and found as recorded, the others
            # as they were: the record this run would write holds the same files, stats and
            # hashes, only a later time (spares 100,000 files' JSON).
            keep_record(self.root)
        else:
            save_record(self.root, Record(_stats_digest(_stat_outputs(after_walks)), _new_record(
                self.root, described, after_walks, (stamp, stamp_device))))
        return Snapshot(
            outputs=tuple(output for output, _ in described),
            files=tuple(file for _, files in described for file in files),
            missing=missing, pointer_files=pointer_files,
        )

    def add(self, paths: list[str], reporter: Reporter = SILENT) -> list[str]:
        """`dvc add PATH...`: the same pointer files, `.gitignore` lines, cache objects and
        state database entries, each new folder hashed and cached in one read on every core
        (and teed into the local remote, so the backup that follows copies nothing), and
        recorded so that the backup that follows reads nothing. A path DVC tracks already,
        a file, or a folder the record could not answer for (see hashed_record.py) is added
        by DVC itself. The pointer files written."""
        from dvc.exceptions import DvcException
        from dvc.repo.add import get_or_create_stage

        record = load_record(self.root)
        outputs = dict(record.outputs) if record is not None else {}
        written = []
        try:
            with self.session.open() as repo, repo.lock, repo.scm_context(quiet=True):
                # Stamped before the walks: a file written from now on is racy.
                stamp = stamp_now(self.root)
                walks = {os.path.abspath(target): walk_output(Path(target)) for target in paths}
                _build_index_without(repo, [target for target, walk in walks.items()
                                            if walk is not None and _holds_no_stage(walk)])
                for target in paths:
                    stage, exists = get_or_create_stage(repo, target)
                    repo.check_graph(stages=[stage])
                    out = stage.outs[0]
                    path = Path(out.fs_path).relative_to(self.root).as_posix()
                    if (walk := walks.pop(out.fs_path, None)) is None:
                        stamp = stamp_now(self.root)
                        walk = walk_output(self.root / path)
                    names = None
                    if not exists and walk is not None and walk.is_dir and walk.plain \
                            and not walk.leftovers and walk.files and out.use_cache \
                            and out.hash_name == HASH_NAME:
                        left_out = _ignored(repo, out.fs_path, list(walk.files))
                        plan = _Plan({}, set(), [name for name in walk.files
                                                 if name not in left_out], set(), walk, "")
                        files = _apply(repo, out, path, plan,
                                       ingest_stores(repo, self._local_remote_tee()), reporter)
                        if files is not None:
                            names = [file.path[len(path) + 1:] for file in files]
                    if names is None:
                        stage.add_outs()
                        outputs.pop(path, None)
                    else:
                        out.ignore()
                    stage.dump()
                    written.append(Path(stage.path).relative_to(self.root).as_posix())
                    after = walk_output(self.root / path)
                    if names is not None and walk is not None and after is not None and all(
                            after.files.get(name, ())[:3] == walk.files[name][:3]
                            for name in names):
                        outputs[path] = OutputRecord(
                            str(out.hash_info.value), ignore_digest(self.root, path),
                            walk.device, *stamp, {name: walk.files[name] for name in names})
        except DvcException as exc:
            raise UsageError(f"cannot add: {exc}") from None
        except FileNotFoundError as exc:
            raise ChangedDuringBackupError(self._workspace_name(exc.filename)
                                           or "one of the files added") from None
        # No digest: the next backup asks DVC about the other outputs as usual.
        save_record(self.root, Record("", outputs))
        return written

    def _hash_from_record(self, repo: Repo, stages: list[Any], walks: dict[str, OutputWalk],
                          record: Record | None, reporter: Reporter
                          ) -> tuple[dict[str, list[FileEntry]], set[str]]:
        """The outputs hashed from the last backup's record (only the files changed since
        read, and teed into the cache and the local remote as ingest does), set as DVC's
        save would set them, with their files (path in the output -> md5, size): their
        stages need no save nor commit by DVC. Only data stages (`dvc add`'s: no command,
        no dependency), and only where every output of the stage can be. Also the paths of
        those found exactly as recorded (`_Plan.as_recorded`)."""
        quick: dict[str, list[FileEntry]] = {}
        as_recorded: set[str] = set()
        if record is None:
            return quick, as_recorded
        stores: list[Any] | None = None
        for stage in stages:
            if stage.cmd or stage.deps or not stage.outs:
                continue
            plans = []
            for out in stage.outs:
                path = Path(out.fs_path).relative_to(self.root).as_posix()
                walk = walks.get(path)
                plan = None if walk is None or not out.use_cache or out.hash_name != HASH_NAME \
                    else _plan(repo, out, path, walk, record, ignore_digest(self.root, path))
                if plan is None:
                    break
                plans.append((out, plan, path))
            else:
                if stores is None and any(plan.to_hash for _, plan, _ in plans):
                    stores = ingest_stores(repo, self._local_remote_tee())
                done = {}
                for out, plan, path in plans:
                    if (files := _apply(repo, out, path, plan, stores or [], reporter)) is None:
                        break  # DVC's save sets every output of the stage anew
                    done[out.fs_path] = files
                else:
                    quick.update(done)
                    as_recorded.update(path for _, plan, path in plans if plan.as_recorded)
        return quick, as_recorded

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

    def remember_hashes(self, hashes: dict[str, str],
                        stats: dict[str, tuple[int, int, int]] | None = None) -> None:
        """Record the md5 of workspace files just written and verified in DVC's state
        database; `stats`: each one's (inode, size, mtime_ns) as checked in place after
        its rename (not asked again), else each is stat'ed."""
        read = {path: {"ino": ino, "size": size, "mtime_ns": mtime_ns}
                for path, (ino, size, mtime_ns) in (stats or {}).items()}
        with self.session.open() as repo:
            remember_hashes(repo, hashes, read)

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

    def _describe(self, stages: list[Any], repo: Repo, skip: set[str],
                  quick: dict[str, list[FileEntry]]
                  ) -> Iterator[tuple[TrackedOutput, list[FileEntry]]]:
        cache = repo.cache.local
        for out in (out for stage in stages for out in stage.outs):
            if not out.use_cache:
                continue
            path = Path(out.fs_path).relative_to(self.root).as_posix()
            if path in skip or out.hash_info is None or not out.hash_info.value:
                continue
            if out.fs_path in quick:
                files = quick[out.fs_path]
            elif out.hash_info.isdir:
                # A listing records each file's size; a stat of each cache object would
                # cost 10,000 system calls for as many files.
                files = [
                    FileEntry(PurePosixPath(path, *key).as_posix(), info.value,
                              meta.size if meta is not None and meta.size is not None
                              else os.path.getsize(cache.oid_to_path(info.value)))
                    for key, meta, info in out.get_obj()
                ]
            else:
                md5 = out.hash_info.value
                files = [FileEntry(path, md5, os.path.getsize(cache.oid_to_path(md5)))]
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


def _changed(before: dict[str, OutputWalk], after: dict[str, OutputWalk]) -> str:
    """The files (five at most) whose size, mtime or inode differ between two walks, or ''.
    (The ctime is left out: DVC's hardlink and symlink cache types change it as they link.)"""
    if before.keys() == after.keys() and all(
            before[path].files == after[path].files for path in before):
        return ""  # the same stats, ctimes too: the common case, compared in C
    old, new = _stat_outputs(before), _stat_outputs(after)
    changed = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    return ", ".join(changed[:5])


def _stats_digest(stats: dict[str, tuple[int, int, int]]) -> str:
    return hashlib.sha256(repr(sorted(stats.items())).encode()).hexdigest()


def _walk_outputs(root: Path, outputs: list[Output]) -> dict[str, OutputWalk]:
    """Each present output's files with their stats, one scandir walk."""
    walks = {}
    for output in outputs:
        walk = walk_output(root / output.path)
        if walk is not None:
            walks[output.path] = walk
    return walks


def _stat_outputs(walks: dict[str, OutputWalk]) -> dict[str, tuple[int, int, int]]:
    """(size, mtime, inode) of every file of the outputs: a change while DVC hashes them
    means the cache may hold bytes that do not match their name."""
    return {(f"{path}/{name}" if name else path): stats[:3]
            for path, walk in walks.items() for name, stats in walk.files.items()}


@dataclass(frozen=True)
class _Plan:
    """How one directory output is hashed from the record: `old`, the recorded listing
    (path in the output -> md5); `unchanged`, its files still as recorded; `to_hash`, the
    files to read (changed, new, racy); of these, `ask` are those whose size, mtime or
    inode changed, which DVC's state database may know (a restore tells it what it wrote):
    a racy file, or one whose ctime alone changed, is always read. `md5`: the recorded
    listing's name."""

    old: dict[str, str]
    unchanged: set[str]
    to_hash: list[str]
    ask: set[str]
    walk: OutputWalk
    md5: str

    @property
    def as_recorded(self) -> bool:
        """Every recorded file still as recorded, and no other: the listing is the
        recorded one."""
        return bool(self.md5) and not self.to_hash and len(self.unchanged) == len(self.old)


def _plan(repo: Repo, out: Any, path: str, walk: OutputWalk, record: Record, ignore: str
          ) -> _Plan | None:
    entry = record.trusted(path, walk, ignore)
    if entry is None:
        return None
    cache = Path(repo.cache.local.path)
    try:
        old = listing_md5s(CacheStore(cache).read(entry.md5, _LISTING_LIMIT))
    except (HdversionError, KeyMissing, ValueError):
        return None
    if old is None or old.keys() != entry.files.keys():
        return None
    unchanged = entry.unchanged(walk)
    if len(unchanged) == len(walk.files):
        # Every file as recorded (the unchanged backup): no name to ask or read, each
        # walked once more only where some changed.
        to_hash: list[str] = []
        held = set(old.values())
    else:
        new = [name for name in walk.files if name not in old]
        left_out = _ignored(repo, out.fs_path, new) if new else set()
        to_hash = [name for name in walk.files if name not in unchanged and name not in left_out]
        held = {old[n] for n in unchanged}
    # Their objects come from the last backup's commit: unless something removed them
    # since, DVC's commit would find them all in place.
    if not (unchanged or to_hash) or not _cache_holds(cache, held):
        return None
    ask = {name for name in to_hash
           if (recorded := entry.files.get(name)) is None or recorded[:3] != walk.files[name][:3]}
    return _Plan(old, unchanged, to_hash, ask, walk, entry.md5)


def _apply(repo: Repo, out: Any, path: str, plan: _Plan, stores: list[Any],
           reporter: Reporter) -> list[FileEntry] | None:
    """Hash the plan's files (teed into `stores`) and set `out` (at `path` in the
    repository) as DVC's save would: its hash and its meta, its listing written into the
    cache; its files, sorted. None, with nothing set, where a file changed while read or the
    cache is not one DVC copies into."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta

    files = plan.walk.files
    if plan.as_recorded:
        # Nothing to read, and the listing is the recorded one, read from the cache and
        # checked against its name: not made again.
        members, name = plan.old, plan.md5
    else:
        hashed = _hash_changed(repo, out.fs_path, plan, stores, reporter)
        if hashed is None:
            return None
        members, name = hashed
    prefix = f"{path}/"
    described = [FileEntry(prefix + name, md5, files[name][0])
                 for name, md5 in sorted(members.items())]
    out.hash_info = HashInfo(HASH_NAME, name)
    out.meta = Meta(size=sum(f.size for f in described), nfiles=len(described), isdir=True)
    out.obj = out.files = None  # loaded from the cache if asked for (_describe does not)
    return described


def _hash_changed(repo: Repo, base: str, plan: _Plan, stores: list[Any], reporter: Reporter
                  ) -> tuple[dict[str, str], str] | None:
    """The plan's files read (teed into `stores`), the new listing written into the cache
    and the local remote: the output's files (path in it -> md5) and the listing's name."""
    files = plan.walk.files
    cache = CacheStore(Path(repo.cache.local.path))
    # Known but not in the cache: read, and so cached, as DVC's commit would copy it.
    known = {path: md5 for path, md5 in _known_to_dvc(
        repo, [f"{base}{os.sep}{name}" for name in plan.ask]).items() if cache.has(md5)}
    infos = {path: {"size": files[name][0], "ino": files[name][2], "mtime_ns": files[name][1]}
             for name in plan.to_hash if (path := f"{base}{os.sep}{name}") not in known}
    if infos and not stores:
        return None
    hashed = read_files(infos, stores, reporter)
    if any(md5 is None for md5 in hashed.values()):
        return None
    new = {name: str(hashed.get(path) or known[path])
           for name in plan.to_hash if (path := f"{base}{os.sep}{name}")}
    # In the recorded listing's order (sorted), each changed file in its place and the new
    # ones after: the sorts of the listing and of the files then find them nearly in order
    # (100,000 files, one changed: each sort 0.15 s at random, 0.03 s nearly in order).
    unchanged = plan.unchanged
    members = {name: new.get(name, md5) for name, md5 in plan.old.items()
               if name in unchanged or name in new}
    members.update(new)
    listing = listing_bytes(members)
    name = f"{md5_bytes(listing)}.dir"
    if not cache.has(name):
        cache.put(name, io.BytesIO(listing), len(listing))
    # Into the local remote too, as its files were: the push then has nothing to put (a
    # sealing one gets it from the push, as every listing before).
    tee_bytes([store for store in stores
               if store.best_effort and isinstance(store.store, DirectoryStore)], name, listing)
    remember_hashes(repo, {path: str(md5) for path, md5 in hashed.items()}, infos)
    return members, name


def _holds_no_stage(walk: OutputWalk) -> bool:
    """Whether DVC's collection of stages would find none among these files: a plain folder
    (no link, no nested repository) holding no `.dvc` file and no `dvc.yaml`."""
    return walk.is_dir and walk.plain and not any(
        name.endswith(".dvc") or name.rpartition("/")[2] == "dvc.yaml" for name in walk.files)


def _build_index_without(repo: Repo, folders: list[str]) -> None:
    """Build DVC's index of stages (kept by the repo for the rest of its use) without
    walking into `folders`, which hold none (`_holds_no_stage`): DVC's collection walks
    the whole repository but what git ignores, and a folder about to be added is not
    ignored yet (20,000 new files: 0.6 s of their `add`, each asked of the ignore filter).
    Told through git's ignore check, the only question DVC's walk asks of a folder."""
    if not folders:
        return
    scm = repo.scm
    skipped = {f"{folder}{os.sep}" for folder in folders}
    asked = scm.is_ignored

    def is_ignored(path: str, *args: Any, **kwargs: Any) -> bool:
        return path in skipped or bool(asked(path, *args, **kwargs))

    scm.is_ignored = is_ignored
    try:
        _ = repo.index
    finally:
        del scm.is_ignored


def _known_to_dvc(repo: Repo, paths: list[str]) -> dict[str, str]:
    """The md5 DVC's state database holds for each of `paths` whose stats it recorded."""
    infos = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            infos[path] = repo.fs.info(path)
    return {path: str(hash_info.value)
            for path, _, hash_info in repo.state.get_many(list(infos), repo.fs, infos)
            if hash_info is not None and hash_info.name == HASH_NAME}


def _ignored(repo: Repo, output: str, names: list[str]) -> set[str]:
    """Those of `names` (files of `output`, whose walk is plain) that DVC's walk leaves
    out: none where no `.dvcignore` rule applies to them (asking DVC of 20,000 files cost
    0.3 s of an `add`), else asked of DVC's ignore filter folder by folder, as its walk
    asks (a call per file costs 0.3 ms)."""
    root = Path(repo.root_dir)
    if not ignore_rules_apply(root, Path(output).relative_to(root).as_posix()):
        return set()
    ignore = repo.dvcignore
    by_folder: dict[str, list[str]] = {}
    for name in names:
        folder, _, base = name.rpartition("/")
        by_folder.setdefault(folder, []).append(base)
    left_out: set[str] = set()
    for folder, files in by_folder.items():
        prefix = f"{folder}/" if folder else ""
        # A file under a folder a rule hides is hidden by that rule too (DVC's patterns
        # match every parent of the path).
        _, kept = ignore(os.path.join(output, folder) if folder else output, [], files)
        left_out.update(prefix + base for base in set(files) - set(kept))
    return left_out


def _cache_holds(cache: Path, md5s: set[str]) -> bool:
    """Whether the cache holds every object named, one listing per folder (not a stat per
    object)."""
    by_folder: dict[str, set[str]] = {}
    for md5 in md5s:
        by_folder.setdefault(md5[:2], set()).add(md5[2:])
    for folder, names in by_folder.items():
        try:
            if not names <= set(os.listdir(cache / folder)):
                return False
        except OSError:
            return False
    return True


def _new_record(root: Path, described: list[tuple[TrackedOutput, list[FileEntry]]],
                walks: dict[str, OutputWalk], stamp: tuple[int, int]
                ) -> dict[str, OutputRecord]:
    """The record of each directory output just hashed: its files' stats (from the walk
    after the hashing, equal to the one before), exactly the files its listing holds."""
    outputs = {}
    for output, files in described:
        walk = walks.get(output.path)
        if walk is None or not walk.is_dir or not output.md5.endswith(".dir"):
            continue
        prefix = len(output.path) + 1
        names = [file.path[prefix:] for file in files]
        if all(name in walk.files for name in names):
            outputs[output.path] = OutputRecord(
                output.md5, ignore_digest(root, output.path), walk.device, *stamp,
                {name: walk.files[name] for name in names})
    return outputs


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
