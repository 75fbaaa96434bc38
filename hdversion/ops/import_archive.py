"""Importing an archive made by `export`: the archive is hostile until proven otherwise.

1. A first pass reads the whole archive without writing a byte: `manifest.json` must be
   the first member, bounded in size, and valid (both parts of the backup's manifest agree,
   as for a restore); every other member must be a regular file named `files/<path>` for a
   path of the file list, once, at its listed size and md5. Absolute names, `..`, links, devices,
   FIFOs, directories and unknown names are refused here, before anything is written. The
   paths then pass restore's own checks (ops/trust.py).
2. The restore machinery (ops/restore.py) decides what differs; the files it needs are
   extracted from a second pass into a private folder (never more bytes than the manifest
   says, hashed in flight), and only when all check out does it stage and rename them into
   place, with its safety backup of unsaved changes in the workspace.

An age-encrypted archive (known by its first bytes) is decrypted on the way, in both passes,
and every check above runs on the decrypted stream; each pass reads it to its end, so a
truncated or altered archive fails its authentication (TamperedError) before the first pass
ends, and again before the second one's files are used: nothing is written either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from hdversion.datastore.store import DirectoryStore
from hdversion.errors import (
    HdversionError,
    NotARepositoryError,
    UnsafePathError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.archive import (
    MANIFEST_MEMBER,
    MAX_MANIFEST_SIZE,
    ArchiveManifest,
    member_name,
)
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.model.pointers import is_pointer_file
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.restore import RestoreResult, WorkspaceSteps, restore_entries, writer_for
from hdversion.ops.sources import streamed_source
from hdversion.ops.staging import Source, Writer, target_folder
from hdversion.paths import DEFAULT_GIT_TRACKED
from hdversion.util.agefile import MAGIC, Opening, check_opens, is_age, read_key_lines
from hdversion.util.hashing import CHUNK, md5_bytes
from hdversion.util.log import log
from hdversion.util.progress import SILENT, Reporter
from hdversion.util.tarstream import READ_ERRORS, BoundedReader, tar_reader

# Pointer files are read into memory in the first pass (restore's path checks need them).
MAX_POINTER_SIZE = 16 * 1024 * 1024
# tar headers and padding per member, beyond the members' own bytes.
_OVERHEAD_PER_MEMBER = 64 * 1024
WORK_PREFIX = "hdversion-import-"


@dataclass
class ImportResult:
    archive: Path
    restore: RestoreResult
    # Into the workspace: the DVC cache took the imported outputs in (so `dvc status` is
    # clean and `dvc checkout` works); None where it does not apply.
    cached: bool | None = None

    def failure(self) -> HdversionError | None:
        return self.restore.failure()


@dataclass
class Scanned:
    """What the first pass found: the archive's manifest and the backup's pointer files."""

    manifest: ArchiveManifest
    manifest_md5: str
    pointers: dict[str, bytes]

    @property
    def backup(self) -> Backup:
        return Backup(self.manifest.tag, self.manifest.manifest.timestamp,
                      self.manifest.commit, self.manifest.manifest)


def import_archive(archive: Path, *, target: Path | None = None, repo: Path | None = None,
                   force: bool = False, dry_run: bool = False, reporter: Reporter = SILENT,
                   wait: float = 0, config: Path | None = None, identity: Path | None = None,
                   passphrase: str | None = None) -> ImportResult:
    """Restore the backup held by `archive` into the workspace of the project at `repo`
    (default: the current directory), or into the directory `target` (which needs no
    project). An age-encrypted archive is opened with the `identity` file (its
    `AGE-SECRET-KEY-1...` lines) or the `passphrase`."""
    archive = archive.absolute()
    if not archive.is_file():
        raise UsageError(f"no archive {archive}")
    opening = Opening(() if identity is None else read_key_lines(identity, "identity"),
                      passphrase, _how(identity, passphrase))
    with archive.open("rb") as head:
        if is_age(head.read(len(MAGIC))):
            check_opens(archive, opening)  # a wrong key takes no lock, writes nothing
    if target is not None and target.exists() and not target.is_dir():
        raise UsageError(f"--target {target} is not a directory")
    if target is None:
        return _into_project(archive, Project.open(repo, strict=False, config=config), None,
                             force, dry_run, reporter, wait, opening)
    project = _project_if_any(repo, config)
    if project is None:
        # No project: nothing to lock, no DVC lock to check; pause points (tests) are looked
        # for where the command runs.
        dest = Path(os.path.abspath(target)).resolve()
        return _import(archive, dest, DEFAULT_GIT_TRACKED, Writer(Path.cwd()), None,
                       dry_run, reporter, opening)
    return _into_project(archive, project,
                         None if target.resolve() == project.root else target,
                         force, dry_run, reporter, wait, opening)


def _how(identity: Path | None, passphrase: str | None) -> str:
    """Where the keys tried came from, for a refusal's message."""
    tried = ([f"identity file {identity}"] if identity is not None else []) + (
        ["the passphrase given"] if passphrase is not None else [])
    return " and ".join(tried) or "no key given"


def _project_if_any(path: Path | None, config: Path | None) -> Project | None:
    try:
        return Project.open(path, strict=False, config=config)
    except NotARepositoryError:
        return None


def _into_project(archive: Path, project: Project, target: Path | None, force: bool,
                  dry_run: bool, reporter: Reporter, wait: float, opening: Opening
                  ) -> ImportResult:
    """Into the project's workspace (`target` None; `--target .` is the workspace, with its
    safety backup), or into `target`, under the project's lock."""
    with locked_operation(project, "import", wait, archive=str(archive),
                          target=str(target or "")):
        project.store.ensure_idle()
        if target is None:
            _remove_stale_work(project.root)
            workspace = WorkspaceSteps(project, force)
            result = _import(archive, project.root, project.settings.git_tracked_files,
                             writer_for(project), workspace, dry_run, reporter, opening)
            if not dry_run and result.restore.all_verified:
                result.cached = _take_into_cache(project, reporter)
        else:
            result = _import(archive, Path(os.path.abspath(target)).resolve(),
                             project.settings.git_tracked_files, writer_for(project), None,
                             dry_run, reporter, opening)
        restored = result.restore
        project.journal(
            "import",
            "dry-run" if dry_run else ("ok" if restored.all_verified else
                                       "verification-failed"),
            archive=str(archive), tag=restored.backup.tag, files=len(restored.files),
            safety_backup=restored.safety_backup.tag if restored.safety_backup else None,
            target=str(target or ""))
        return result


def _import(archive: Path, dest: Path, git_tracked: Iterable[str], writer: Writer,
            workspace: WorkspaceSteps | None, dry_run: bool, reporter: Reporter,
            opening: Opening) -> ImportResult:
    """The archive checked whole, then the files that differ extracted into a private folder
    (the workspace's `.dvc/tmp`, or a hidden one in the target) and written by the engine."""
    reporter.step(f"checking {archive.name}")
    scanned = scan(archive, opening)
    work_parent = (workspace.project.root / ".dvc" / "tmp" if workspace is not None
                   else dest)
    work: list[Path] = []

    def sources_for(changing: list[FileEntry], result: RestoreResult) -> dict[str, Source]:
        work_parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=("" if workspace else ".") + WORK_PREFIX,
                                       dir=work_parent))
        work.append(folder)
        return extract(archive, scanned, changing, folder, reporter, opening)

    with target_folder(dest):  # a refused import leaves no trace
        try:
            restored = restore_entries(
                scanned.backup, scanned.manifest.files, scanned.pointers, dest, git_tracked,
                sources_for, writer, workspace=workspace, dry_run=dry_run, reporter=reporter)
        finally:
            for folder in work:
                shutil.rmtree(folder, ignore_errors=True)
    return ImportResult(archive, restored)


def _take_into_cache(project: Project, reporter: Reporter) -> bool:
    """Commit the workspace's outputs into DVC's cache, as a backup's first step does (DVC
    hashes them and writes the objects and directory listings; no pointer file changes).
    The files are in place whatever happens here: a failure is a warning, not an error."""
    reporter.step("taking the imported outputs into the DVC cache")
    workspace = project.store
    try:
        workspace.snapshot(workspace.outputs())
    except HdversionError as exc:
        log.warning("the imported files are in place, but DVC could not take them into its "
                    "cache (%s); `hdversion backup` will", exc.message)
        return False
    return True


def scan(archive: Path, opening: Opening | None = None) -> Scanned:
    """The first pass: every header and checksum, nothing written (pointer files kept in
    memory for restore's path checks); refuse anything unexpected."""
    with _reading(archive, opening) as (tar, bounded):
        manifest, data = _read_manifest(tar)
        bounded.limit = _limit(manifest)
        expected = {member_name(f.path): f for f in manifest.files}
        seen: set[str] = set()
        pointers: dict[str, bytes] = {}
        for member in iter(tar.next, None):
            entry = _check_member(member, expected, seen, manifest.tag)
            keep = entry.store == "git" and is_pointer_file(entry.path)
            if keep and entry.size > MAX_POINTER_SIZE:
                raise VerificationError(f"archive {archive.name}: pointer file {entry.path} "
                                        f"is {entry.size} bytes; refused")
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file
            # Every checksum, even of files the workspace already holds: a damaged archive
            # is refused whole (and `import --dry-run` checks an archive).
            content = _check_stream(stream, entry, keep)
            if keep:
                pointers[entry.path] = content
        lacking = sorted(f.path for name, f in expected.items() if name not in seen)
        if lacking:
            raise VerificationError(f"archive {archive.name} lacks {len(lacking)} file(s) of "
                                    f"backup {manifest.tag}: {', '.join(lacking[:5])}; no "
                                    "file was changed")
    return Scanned(manifest, md5_bytes(data), pointers)


def extract(archive: Path, scanned: Scanned, wanted: list[FileEntry], folder: Path,
            reporter: Reporter, opening: Opening | None = None) -> dict[str, Source]:
    """The second pass: the wanted files' bytes put into a private store in `folder` (by
    md5, checked against the manifest's size and md5 as they are written: nothing an
    archive says decides where bytes go), then read back through the chain of verified
    sources like any other store's. Raise, leaving nothing, unless every one checks out."""
    total = sum(e.size for e in wanted)
    free = shutil.disk_usage(folder).free
    if total > free:
        raise WriteError(f"the files to import need {total} bytes, {folder} has {free} "
                         "free; no file was changed")
    manifest = scanned.manifest
    paths = {e.path for e in wanted}
    expected = {member_name(f.path): f for f in manifest.files}
    store = DirectoryStore(f"archive {archive.name}", folder, durable=False, lasting=False)
    taken: dict[str, FileEntry] = {}
    advance = reporter.bytes(f"extracting {len(wanted)} file(s) from {archive.name}", total)
    with _reading(archive, opening) as (tar, bounded):
        _, data = _read_manifest(tar)
        if md5_bytes(data) != scanned.manifest_md5:
            raise VerificationError(f"archive {archive.name} changed while importing; no "
                                    "file was changed")
        bounded.limit = _limit(manifest)
        seen: set[str] = set()
        for member in iter(tar.next, None):
            entry = _check_member(member, expected, seen, manifest.tag)
            if entry.path not in paths:
                continue
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file
            try:
                store.put(entry.md5, stream, entry.size, advance)
            except VerificationError as exc:
                raise VerificationError(f"{entry.path} in the archive does not match its "
                                        f"manifest ({exc.message}); no file was changed"
                                        ) from None
            taken[entry.path] = entry
    missing = paths - set(taken)
    if missing:
        raise VerificationError(f"archive {archive.name} changed while importing: it lacks "
                                f"{', '.join(sorted(missing))}; no file was changed")
    return {path: streamed_source(store, entry) for path, entry in taken.items()}


@contextlib.contextmanager
def _reading(archive: Path, opening: Opening | None
             ) -> Iterator[tuple[tarfile.TarFile, BoundedReader]]:
    try:
        with tar_reader(archive, MAX_MANIFEST_SIZE + _OVERHEAD_PER_MEMBER,
                        opening) as opened:
            yield opened
    except READ_ERRORS as exc:
        raise VerificationError(f"archive {archive.name} is damaged or truncated ({exc}); "
                                "no file was changed") from None


def _read_manifest(tar: tarfile.TarFile) -> tuple[ArchiveManifest, bytes]:
    first = tar.next()
    if first is None or first.name != MANIFEST_MEMBER:
        raise VerificationError(f"not an hdversion archive: its first member is "
                                f"{first.name if first else 'missing'!r}, not "
                                f"{MANIFEST_MEMBER}; no file was changed")
    if first.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise VerificationError(f"{MANIFEST_MEMBER} in the archive is not a regular file")
    if first.size > MAX_MANIFEST_SIZE:
        raise VerificationError(f"{MANIFEST_MEMBER} in the archive is {first.size} bytes, "
                                f"more than {MAX_MANIFEST_SIZE}; refused")
    stream = tar.extractfile(first)
    assert stream is not None
    data = stream.read(first.size + 1)
    if len(data) != first.size:
        raise VerificationError(f"{MANIFEST_MEMBER} in the archive is truncated")
    return ArchiveManifest.parse(data), data


def _limit(manifest: ArchiveManifest) -> int:
    """Every byte the archive may hold once decompressed."""
    return (MAX_MANIFEST_SIZE + manifest.manifest.total_size
            + _OVERHEAD_PER_MEMBER * (len(manifest.files) + 2))


def _check_member(member: tarfile.TarInfo, expected: dict[str, FileEntry], seen: set[str],
                  tag: str) -> FileEntry:
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafePathError(tag, name, "an absolute path in the archive")
    if ".." in parts or "\\" in name:
        raise UnsafePathError(tag, name, "a path leading out with '..' in the archive")
    if member.issym() or member.islnk():
        raise UnsafePathError(tag, name, "a link in the archive")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafePathError(tag, name, "a device or FIFO in the archive")
    if member.isdir():
        raise UnsafePathError(tag, name, "a directory in the archive, not a file")
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
        raise UnsafePathError(tag, name, f"an archive member of type {member.type!r}, not a "
                              "regular file")
    entry = expected.get(name)
    if entry is None:
        raise UnsafePathError(tag, name, "not in the archive's manifest")
    if name in seen:
        raise UnsafePathError(tag, name, "in the archive twice")
    seen.add(name)
    if member.size != entry.size:
        raise VerificationError(f"archive member {name} holds {member.size} bytes, the "
                                f"manifest says {entry.size}; no file was changed")
    return entry


def _check_stream(stream: IO[bytes], entry: FileEntry, keep: bool = False) -> bytes:
    """Read a member (never more than its manifest size), hashing it, keeping it in memory
    where asked; raise unless it is the manifest's size and md5."""
    digest = hashlib.md5(usedforsecurity=False)
    kept: list[bytes] = []
    read = 0
    while chunk := stream.read(min(CHUNK, entry.size - read + 1)):
        read += len(chunk)
        if read > entry.size:
            raise VerificationError(f"archive member for {entry.path} holds more than its "
                                    f"{entry.size} bytes; no file was changed")
        digest.update(chunk)
        if keep:
            kept.append(chunk)
    if read != entry.size or digest.hexdigest() != entry.md5:
        raise VerificationError(f"{entry.path} in the archive does not match its manifest "
                                f"(md5 {digest.hexdigest()}, {read} bytes; expected "
                                f"{entry.md5}, {entry.size}); no file was changed")
    return b"".join(kept)


def _remove_stale_work(root: Path) -> None:
    """Folders a killed import left (we hold the lock: none is in use)."""
    folder = root / ".dvc" / "tmp"
    if folder.is_dir():
        for stale in folder.glob(WORK_PREFIX + "*"):
            shutil.rmtree(stale, ignore_errors=True)


