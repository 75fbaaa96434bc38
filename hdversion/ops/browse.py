"""Browsing backups and fetching one file: `ls` (a backup's files), `cat` (one file's bytes,
verified before the first is given), `get` (one file written atomically where the user
says) and `find` (which backups hold a path, or given bytes), in a clone or from a remote
alone (`remote_url`).

Nothing here has a read path of its own. In a clone a file's bytes come from the chain of
verified sources (`ops/sources.py`: a git-stored file from the backup's commit, checked
against the manifest; an object from the cache, then the remotes in the fallback order); from
a remote alone, from its store and its blobs as `restore --remote-url` reads them
(`remote_recovery.stored_file`), the manifest validated as it validates it. Every byte is
counted against the manifest's size as it is read (a longer object stops there) and hashed;
nothing is given (to stdout, or renamed into place) until the whole file hashed right. A
copy that is wrong gives way to the next store where there is one (a damaged cache object
is quarantined, as restore does); none left is exit 5.

Nothing here takes the repository lock: it writes nothing a backup or a prune reads, and
what it puts into the cache goes through the cache's store (verified, atomic).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from hdversion.datastore.store import KeyMissing, VerifiedReader, store_of
from hdversion.errors import (
    HdversionError,
    NoSuchFileError,
    RemoteError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.browse import (
    checked_argument,
    is_printable,
    matches,
    md5_query,
    normalized_path,
    shown,
    the_file,
    under,
)
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.model.names import LATEST, check_name
from hdversion.ops.catalog import catalog_with, file_lists, files_of
from hdversion.ops.project import Project
from hdversion.ops.remote_recovery import (
    as_backup,
    named_backup,
    open_remote,
    read_manifests,
    stored_file,
)
from hdversion.ops.sources import ObjectSources, git_files
from hdversion.ops.staging import Source
from hdversion.util.atomic import fsync_path, open_beside, place_new_file
from hdversion.util.clock import now_utc
from hdversion.util.log import log
from hdversion.util.progress import SILENT, Reporter

# `cat` holds a file in memory up to this size, then spools it to a temporary file.
SPOOL_IN_MEMORY = 64 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class FileListing:
    """`ls`: the files of one backup under a path ("" for all of them)."""

    backup: Backup
    path: str
    files: tuple[FileEntry, ...]
    url: str | None = None  # the remote read alone, if any

    def failure(self) -> HdversionError | None:
        return None


@dataclass(frozen=True)
class FoundFile:
    """`find`: one file of one backup."""

    tag: str
    timestamp: str
    file: FileEntry


@dataclass
class FindResult:
    """`find`: every file of every backup that matches, newest backup first. No match is a
    failure (exit 4): a script tells "none" from "some" by the code, as with `git grep`."""

    pattern: str | None
    md5: str | None
    found: list[FoundFile]
    searched: int  # backups whose file list was read
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (tag, why) not trusted
    url: str | None = None

    def failure(self) -> HdversionError | None:
        if self.found:
            return None
        what = (f"a path matching {shown(self.pattern)!r}" if self.pattern is not None
                else f"a file of md5 {self.md5}")
        where = f" in {self.url}" if self.url else ""
        return NoSuchFileError(f"none of {self.searched} backup(s){where} holds {what}",
                               hint="`hdversion ls T` lists a backup's files; `*` matches "
                               "across folders (quote the pattern for the shell)")


@dataclass
class Fetched:
    """Where a file's bytes came from, as the chain tells it."""

    quarantined: list[str] = field(default_factory=list)  # md5s moved aside in the cache
    fetched_from: dict[str, int] = field(default_factory=dict)  # remote -> objects it gave
    unusable_remotes: dict[str, str] = field(default_factory=dict)  # remote -> why skipped


@dataclass
class OpenedFile:
    """One file of a backup, verified whole before it is handed over: `stream` is
    positioned at its start and seekable (memory up to SPOOL_IN_MEMORY, then a temporary
    file, removed when the `_opened` block ends)."""

    backup: Backup
    file: FileEntry
    stream: IO[bytes]
    fetched: Fetched
    url: str | None = None


class VerifiedFile(io.BufferedIOBase):
    """`api.open`: a backup's file as a read-only, seekable binary file whose bytes were
    verified before it was handed over (so `joblib.load(api.open(...))` reads only good
    bytes); `backup`, `file` (its manifest entry), `fetched` and `url` say where from."""

    def __init__(self, opened: OpenedFile, closer: contextlib.ExitStack) -> None:
        super().__init__()
        self.backup, self.file, self.fetched, self.url = (opened.backup, opened.file,
                                                          opened.fetched, opened.url)
        self._stream, self._closer = opened.stream, closer

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        return self._stream.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._check_open()
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        self._check_open()
        return self._stream.tell()

    def close(self) -> None:
        if not self.closed:
            self._closer.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed file")


@dataclass
class GetResult:
    """`get`: one file of a backup written to `output`, verified before its rename."""

    backup: Backup
    file: FileEntry
    output: Path
    fetched: Fetched
    url: str | None = None

    def failure(self) -> HdversionError | None:
        return None  # anything that did not happen was raised: no file was written


class _Place(Protocol):
    """Where the backups are: a clone, or a remote alone."""

    url: str | None

    def named(self, name: str) -> tuple[Backup, tuple[FileEntry, ...]]: ...

    def source(self, backup: Backup, entry: FileEntry, fetched: Fetched, refusal: str,
               reporter: Reporter) -> tuple[Source, Callable[[Source], str]]: ...

    def journal(self, operation: str, **details: object) -> None: ...


class _Clone:
    def __init__(self, path: Path | None, config: Path | None, offline: bool,
                 remote: str | None) -> None:
        self.project = Project.open(path, strict=False, config=config)
        self.offline, self.remote = offline, remote
        self.url: str | None = None

    def named(self, name: str) -> tuple[Backup, tuple[FileEntry, ...]]:
        backup = catalog_with(self.project, name, self.offline).get(name, now=now_utc())
        return backup, files_of(self.project.git, backup)

    def source(self, backup: Backup, entry: FileEntry, fetched: Fetched, refusal: str,
               reporter: Reporter) -> tuple[Source, Callable[[Source], str]]:
        if entry.store == "git":
            read = git_files(self.project, backup, [entry])
            if read.bad:
                how = "is missing" if entry.path in read.missing else \
                    "does not match the manifest"
                raise VerificationError(f"{refusal}: the file in its commit {how}",
                                        hint="the backup's tag may be forged or damaged")
            return Source(data=read.found[entry.path]), lambda _: f"the commit of {backup.tag}"
        if self.remote is not None:
            self.project.store.ensure_remote(self.remote)
        # Each store tried in turn (the cache first); a directory output's listing is not
        # needed to read one of its files.
        objects = ObjectSources(self.project, backup, self.remote, fetched, reporter, {})
        objects.refusal = refusal
        found, unusable = objects.sources([entry])
        if (failure := objects.check.failure(self.remote, objects.remotes)) is not None:
            raise failure
        if unusable:
            skipped = objects.skipped()
            raise VerificationError(f"{refusal}; unusable data: {'; '.join(unusable)}"
                                    + (f" ({skipped})" if skipped else ""),
                                    hint="`hdversion verify` says what each remote holds")

        def where(source: Source) -> str:
            if source.path is not None:
                return str(source.path)
            return f"remote '{objects.remotes[0]}'" if objects.remotes else "a remote"
        return found[entry.path], where

    def journal(self, operation: str, **details: object) -> None:
        self.project.journal(operation, "ok", **details)


class _Remote:
    def __init__(self, url: str, endpoint_url: str | None, credentials: Path | None) -> None:

        self.bucket = open_remote(url, endpoint_url, credentials)
        self.store = store_of(self.bucket.where(), self.bucket)
        self.url: str | None = self.bucket.where()

    def named(self, name: str) -> tuple[Backup, tuple[FileEntry, ...]]:
        remote, _ = named_backup(self.bucket, name)
        return as_backup(remote), remote.file_list.files

    def source(self, backup: Backup, entry: FileEntry, fetched: Fetched, refusal: str,
               reporter: Reporter) -> tuple[Source, Callable[[Source], str]]:
        where = (self.store.where(entry.md5) if entry.store == "dvc"
                 else self.bucket.where(self.bucket.blob_key(backup.timestamp, entry.md5)))
        # The remote is the only store: no next source.
        return Source(remote=stored_file(self.store, self.bucket, backup, entry)), \
            lambda _: where

    def journal(self, operation: str, **details: object) -> None:
        pass  # no project, no journal


def _place(path: Path | None, config: Path | None, offline: bool, remote: str | None,
           remote_url: str | None, endpoint_url: str | None, credentials: Path | None
           ) -> _Place:
    if remote_url is None:
        if endpoint_url is not None or credentials is not None:
            raise UsageError("endpoint_url and credentials go with remote_url")
        return _Clone(path, config, offline, remote)
    if remote is not None:
        raise UsageError("remote_url reads a remote alone: no other remote can be named")
    return _Remote(remote_url, endpoint_url, credentials)


def list_files(path: str | None = None, *, ref: str = LATEST, repo: Path | None = None,
               offline: bool = False, config: Path | None = None,
               remote_url: str | None = None, endpoint_url: str | None = None,
               credentials: Path | None = None) -> FileListing:
    """The files of backup `ref` (any name model/names.py reads), all of them or those
    `path` names (one file, or a folder: whole path components, never a glob);
    NoSuchFileError (exit 4) when it names nothing. From the clone at `repo`, or from the
    remote at `remote_url` alone."""
    check_name(ref)
    wanted = normalized_path(path or "")
    place = _place(repo, config, offline, None, remote_url, endpoint_url, credentials)
    backup, files = place.named(ref)
    listed = tuple(under(files, wanted))
    if not listed:
        _refuse_nothing_at(backup, wanted, place.url)
    return FileListing(backup, wanted, listed, place.url)


# `open`, `read` and `get` are the API's names (as dvc.api's): this module uses none of the
# builtins they shadow.
def open(path: str, *, ref: str = LATEST, repo: Path | None = None,
         offline: bool = False, config: Path | None = None, remote: str | None = None,
         remote_url: str | None = None, endpoint_url: str | None = None,
         credentials: Path | None = None, reporter: Reporter = SILENT) -> VerifiedFile:
    """One file of a backup as a read-only, seekable binary file, read whole and verified
    (size and md5 of the manifest) before this returns; VerificationError (exit 5) when no
    store has the right bytes. `remote`: the DVC remote asked first (after the cache).
    Close it (or use `with`): its bytes are in memory up to 64 MiB, then a temporary file."""
    closer = contextlib.ExitStack()
    try:
        opened = closer.enter_context(_opened(path, ref, repo, offline, config, remote,
                                              remote_url, endpoint_url, credentials,
                                              reporter))
    except BaseException:
        closer.close()
        raise
    return VerifiedFile(opened, closer)


def read(path: str, *, ref: str = LATEST, repo: Path | None = None, offline: bool = False,
         config: Path | None = None, remote: str | None = None,
         remote_url: str | None = None, endpoint_url: str | None = None,
         credentials: Path | None = None) -> bytes:
    """One file of a backup, its bytes verified (`open`, read whole)."""
    with open(path, ref=ref, repo=repo, offline=offline, config=config, remote=remote,
              remote_url=remote_url, endpoint_url=endpoint_url,
              credentials=credentials) as file:
        return file.read()


@contextlib.contextmanager
def _opened(path: str, ref: str, repo: Path | None, offline: bool, config: Path | None,
            remote: str | None, remote_url: str | None, endpoint_url: str | None,
            credentials: Path | None, reporter: Reporter) -> Iterator[OpenedFile]:
    check_name(ref)
    wanted = normalized_path(path)
    place = _place(repo, config, offline, remote, remote_url, endpoint_url, credentials)
    backup, entry = _one_file(place, ref, wanted)
    refusal = (f"cannot read {shown(entry.path)} of {backup.tag}"
               + (f" from {place.url}" if place.url else "") + ", nothing was written")
    if entry.size > SPOOL_IN_MEMORY:
        _check_room(entry, backup, Path(tempfile.gettempdir()),
                    hint="set TMPDIR to a folder on a larger disk")
    fetched = Fetched()
    source, where = place.source(backup, entry, fetched, refusal, reporter)
    advance = reporter.bytes(f"reading {entry.path.rpartition('/')[2]}", entry.size)

    def spooled(each: Source) -> IO[bytes]:
        # Handed to the caller open (closed by `_first_good`), or closed here.
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            _copy_verified(each, entry, where(each), spool, advance)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    with _first_good(entry, source, where, spooled, refusal) as spool:
        place.journal("cat", tag=backup.tag, path=entry.path)
        yield OpenedFile(backup, entry, spool, fetched, place.url)


def get(path: str, *, out: Path, ref: str = LATEST, overwrite: bool = False,
        repo: Path | None = None, offline: bool = False, config: Path | None = None,
        remote: str | None = None, remote_url: str | None = None,
        endpoint_url: str | None = None, credentials: Path | None = None,
        reporter: Reporter = SILENT) -> GetResult:
    """One file of a backup written to `out` (a folder: the file's own name in it): staged
    beside it, verified, made durable, then renamed into place; anything wrong leaves no
    file and no temporary file. An existing `out` is replaced only with `overwrite`.
    Nothing else is written (the workspace is left alone)."""
    check_name(ref)
    wanted = normalized_path(path)
    output = out.expanduser().absolute()
    into_folder = output.is_dir()
    if not into_folder:  # a folder's file name is known only from the backup
        _check_output(output, overwrite)
    place = _place(repo, config, offline, remote, remote_url, endpoint_url, credentials)
    backup, entry = _one_file(place, ref, wanted)
    if into_folder:
        name = entry.path.rpartition("/")[2]
        if not is_printable(name):
            raise UsageError(f"the file's name {shown(name)!r} holds control characters; "
                             "nothing was written", hint="name the file: -o DIR/NAME")
        output = output / name
        _check_output(output, overwrite)
    _check_room(entry, backup, output.parent)
    refusal = (f"cannot get {shown(entry.path)} of {backup.tag}"
               + (f" from {place.url}" if place.url else "") + f", {output} was not written")
    fetched = Fetched()
    source, where = place.source(backup, entry, fetched, refusal, reporter)
    advance = reporter.bytes(f"writing {output.name}", entry.size)

    def staged(each: Source) -> Path:
        tmp, stream = open_beside(output)
        try:
            with stream:
                _copy_verified(each, entry, where(each), stream, advance)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp

    try:
        tmp = _retry(entry, source, where, staged, refusal)
        try:
            fsync_path(tmp)
            place_new_file(tmp, output, overwrite)
        finally:
            tmp.unlink(missing_ok=True)  # gone once in place
    except OSError as exc:
        raise WriteError(f"could not write {output}: {exc.strerror or exc}; nothing was "
                         "written") from None
    place.journal("get", tag=backup.tag, path=entry.path, output=str(output))
    return GetResult(backup, entry, output, fetched, place.url)


def find_files(pattern: str | None = None, *, md5: str | None = None,
               repo: Path | None = None, offline: bool = False, config: Path | None = None,
               remote_url: str | None = None, endpoint_url: str | None = None,
               credentials: Path | None = None) -> FindResult:
    """Every file of every backup whose path matches `pattern` (fnmatch's glob over the
    whole path, case-sensitive: `*` matches `/` too), or whose md5 is `md5` (or starts with
    it: at least 8 hex digits, naming one md5). Backups whose file list is not trusted are
    skipped, each with why. Nothing found is `failure()` (exit 4), not an error raised."""
    if (pattern is None) == (md5 is None):
        raise UsageError("find takes a PATTERN or --md5 HASH (one of them)")
    wanted = md5_query(md5) if md5 is not None else None
    if pattern is not None:
        checked_argument(pattern, "PATTERN")
    lists, skipped, url = _every_file_list(repo, config, offline, remote_url, endpoint_url,
                                           credentials)
    found = [FoundFile(tag, timestamp, entry) for tag, timestamp, files in lists
             for entry in files
             if (entry.md5.startswith(wanted) if wanted is not None
                 else matches(entry.path, pattern or ""))]
    if wanted is not None and len(wanted) < 32:
        named = sorted({f.file.md5 for f in found})
        if len(named) > 1:
            raise UsageError(f"md5 prefix {wanted} names {len(named)} different files' "
                             f"bytes: {', '.join(named[:10])}",
                             hint="give more of the md5, or all 32 digits")
    for tag, why in skipped:
        log.warning("skipped %s: %s", tag, why)
    return FindResult(pattern, wanted, found, len(lists), skipped, url)


def _every_file_list(path: Path | None, config: Path | None, offline: bool,
                     remote_url: str | None, endpoint_url: str | None,
                     credentials: Path | None
                     ) -> tuple[list[tuple[str, str, tuple[FileEntry, ...]]],
                                list[tuple[str, str]], str | None]:
    """Every backup's file list, newest first, read at once (one git call in a clone; each
    manifest of a remote, which a remote's listing cannot spare), and the backups skipped."""
    place = _place(path, config, offline, None, remote_url, endpoint_url, credentials)
    if isinstance(place, _Remote):
        manifests, invalid = read_manifests(place.bucket)
        return ([(f"backup/{m.timestamp}", m.timestamp, m.file_list.files)
                 for m in manifests], invalid, place.url)
    assert isinstance(place, _Clone)
    catalog = catalog_with(place.project, None, offline)
    files, untrusted = file_lists(place.project.git, catalog.backups)
    skipped = [*catalog.invalid, *((tag, error.message) for tag, error in untrusted.items())]
    return ([(b.tag, b.timestamp, files[b.tag]) for b in catalog.backups if b.tag in files],
            skipped, None)


def _one_file(place: _Place, timestamp: str, wanted: str) -> tuple[Backup, FileEntry]:
    """The backup named and its file at exactly `wanted`: a folder is refused (exit 2),
    nothing there is exit 4."""
    backup, files = place.named(timestamp)
    entry = the_file(files, wanted)
    if entry is not None:
        return backup, entry
    inside = under(files, wanted)
    if inside:
        raise UsageError(f"{shown(wanted)!r} is a folder of {backup.tag} "
                         f"({len(inside)} file(s)); one file is read at a time",
                         hint=f"`hdversion ls {backup.timestamp} {shown(wanted)}` lists them")
    _refuse_nothing_at(backup, wanted, place.url)
    raise AssertionError  # refused above


def _refuse_nothing_at(backup: Backup, wanted: str, url: str | None) -> None:
    where = f" in {url}" if url else ""
    what = f"no file or folder {shown(wanted)!r}" if wanted else "no file"
    raise NoSuchFileError(f"backup {backup.tag}{where} has {what}",
                          hint=f"`hdversion ls {backup.timestamp}` lists its files "
                          "(PATH is a path, not a pattern: `hdversion find` takes those)")


def _check_output(output: Path, overwrite: bool) -> None:
    """UsageError (exit 2), before any work, for a FILE that may not be written."""
    from hdversion.ops.outputs import check_folder_takes_files, check_output_file

    check_output_file(output)
    if os.path.lexists(output) and not overwrite:
        raise UsageError(f"{output} exists; nothing was written",
                         hint="pass --overwrite to replace it, or choose another name")
    check_folder_takes_files(output)


def _check_room(entry: FileEntry, backup: Backup, folder: Path, hint: str | None = None
                ) -> None:
    """WriteError (exit 1) before the first byte when the manifest's size does not fit: a
    hostile size (10**15) is refused, not found out when the disk is full."""
    free = shutil.disk_usage(folder).free
    if entry.size > free:
        raise WriteError(f"{shown(entry.path)} of {backup.tag} is {entry.size} bytes by its "
                         f"manifest, {folder} has {free} free; nothing was written",
                         hint=hint)


def _copy_verified(source: Source, entry: FileEntry, where: str, into: IO[bytes],
                   advance: Callable[[int], None]) -> None:
    """The source's bytes into `into`, each counted against the manifest's size (stopping
    past it) and hashed; VerificationError at the end unless size and md5 are right."""
    try:
        opened = source.remote() if source.remote is not None else source.open()
    except FileNotFoundError:  # a cache object gone since it was found
        raise KeyMissing(entry.md5) from None
    with opened as stream:
        reader = VerifiedReader(stream, entry.md5, entry.size, where)
        while chunk := reader.read():
            into.write(chunk)
            advance(len(chunk))


def _retry(entry: FileEntry, source: Source, where: Callable[[Source], str],
           attempt: Callable[[Source], T], refusal: str) -> T:
    """`attempt` on the source, then on each next one while the bytes are wrong; a
    VerificationError (exit 5) naming the store when none is left."""
    while True:
        try:
            return attempt(source)
        except (VerificationError, KeyMissing, RemoteError) as exc:
            why = (f"{where(source)} is missing" if isinstance(exc, KeyMissing)
                   else exc.message)
            if source.on_bad is None:
                if isinstance(exc, RemoteError):
                    raise  # the remote could not be read: exit 7, the data may be fine
                raise VerificationError(f"{refusal}: {why}",
                                        hint="restore or read another backup, or from "
                                        "another remote") from None
            log.warning("%s: %s; trying the next copy", shown(entry.path), why)
        following = source.on_bad(source)  # the chain: quarantine, then the next store
        if following is None:
            raise VerificationError(f"{refusal}: no store has the right bytes")
        source = following


@contextlib.contextmanager
def _first_good(entry: FileEntry, source: Source, where: Callable[[Source], str],
                attempt: Callable[[Source], IO[bytes]], refusal: str) -> Iterator[IO[bytes]]:
    spool = _retry(entry, source, where, attempt, refusal)
    with spool:
        yield spool
