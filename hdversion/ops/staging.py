"""The one engine that writes verified files into a folder (the workspace, a restore's
`--target`, an import's destination): every file is staged beside its target, hashed as it
is written (one read of its source, one write), made durable, and only once every file is
staged and verified are they all renamed into place; each is then checked to be the very
file staged (same inode, size and mtime). A kill at any instant leaves each file old or new,
never partial, and a write error or a bad source before the renames changes nothing.

Restore, import and the restore from a remote alone write through it (`Writer`, after
`check_targets`), each into a folder that `target_folder` removes again, with what staging
made in it, when the run does not finish. Where the bytes come from is `Source` (a cache
object, a git blob, an archive's member, an object streamed from a remote), each with the
next source to try when its bytes turn out wrong (`ops/sources.py`).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from hdversion.datastore.store import DOWNLOADS, KeyMissing
from hdversion.errors import ManifestError, RemoteError, VerificationError, WriteError
from hdversion.model.manifest import FileEntry
from hdversion.util.atomic import (
    BATCH,
    Identity,
    commit_all,
    discard,
    identity,
    leftover_temp_files,
    make_durable,
    read_small,
    stage_all,
    stage_copy,
    stage_data,
)
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import Advance

# A file up to this size is read whole in one call and written with one (no stream, no
# chunks): for 4 KiB files the per-file Python work is the restore's cost.
READ_WHOLE = 1024 * 1024


def _remove_if_empty(folder: Path) -> None:
    """The folder a restore or an import made, with the folders staging made in it, where
    they hold no file (bottom up: a folder whose folders went is empty in turn)."""
    for below, _, _ in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(below)


def check_no_file_is_a_folder(tag: str, paths: Iterable[str]) -> None:
    """A path that is a file and also the folder of another cannot be restored: refused
    before the first write, not found out half-way through the renames."""
    listed = set(paths)
    for path in sorted(listed):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in listed:
                raise ManifestError(f"backup {tag} lists {folder} as a file and as the "
                                    f"folder of {path}: its manifest is not trusted")


def check_targets(dest: Path, entries: list[FileEntry]) -> None:
    """Every target can take a file: checked before anything is staged, so that a directory
    where a file should be (or a file where a folder should be) changes nothing."""
    # Paths are checked (ops/trust.py): relative, normalized, inside `dest`. Plain strings and
    # one stat each: a directory output's 10,000 files cost 50 ms through pathlib.
    checked: set[str] = set()  # each folder once, not once per file in it
    for entry in entries:
        target = os.path.join(dest, entry.path)
        with contextlib.suppress(OSError):
            if stat.S_ISDIR(os.lstat(target).st_mode):
                raise WriteError(f"cannot restore {entry.path}: a directory is in its place; "
                                 "no file was changed",
                                 hint=f"move {target} away, then restore")
        folder = entry.path.rpartition("/")[0]
        while folder and folder not in checked:
            checked.add(folder)
            try:
                is_folder = stat.S_ISDIR(os.stat(os.path.join(dest, folder)).st_mode)
            except FileNotFoundError:
                is_folder = True  # made when the file is staged
            except NotADirectoryError:
                is_folder = True  # a file further up: reported for that folder
            if not is_folder:
                raise WriteError(
                    f"cannot restore {entry.path}: {folder} is a file, not a folder; no file "
                    "was changed", hint=f"move {dest / folder} away, then restore")
            folder = folder.rpartition("/")[0]


class Source:
    """Where a file's verified bytes come from: a cache object, a git blob, a file an import
    extracted from an archive, an object in a remote that is a directory, or one streamed
    from a bucket or container (`remote`: opens it; `also`: copied into the cache as it is
    read). `on_bad` gives the next source when these bytes turn out wrong or cannot be read
    from the remote, or None when there is none."""

    def __init__(self, path: str | Path | None = None, data: bytes | None = None,
                 also: str | Path | None = None,
                 on_bad: Callable[[Source], Source | None] | None = None,
                 remote: Callable[[], contextlib.AbstractContextManager[BinaryIO]] | None
                 = None, over_network: bool = True) -> None:
        self.path, self.data, self.also, self.on_bad = path, data, also, on_bad
        # A stream from a bucket waits on the network (more at once); one from an encrypted
        # directory remote is opened on a core, like a file.
        self.remote, self.over_network = remote, over_network

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def stage(self, target: str | Path, md5: str, advance: Advance, size: int | None = None
              ) -> str | Path:
        """The file staged beside `target`, its bytes hashed to `md5`; `size`, the
        manifest's, lets a small file be read whole (one byte more, so that a longer
        one hashes wrong)."""
        if self.data is not None:
            return stage_data(self.data, target, md5, advance, also=self.also)
        if self.remote is None and size is not None and size <= READ_WHOLE:
            assert self.path is not None
            return stage_data(read_small(self.path, size + 1), target, md5, advance,
                              also=self.also)
        if self.remote is not None:
            try:
                with self.remote() as stream:
                    return stage_copy(stream, Path(target), md5, advance,
                                      also=None if self.also is None else Path(self.also))
            except (KeyMissing, RemoteError) as exc:
                if self.on_bad is None:
                    raise  # no next source: the caller's own message says why
                # The next source (the remotes in turn, each through the fetch that says
                # why one cannot be used) takes over; a local write error is not caught.
                why = "missing there" if isinstance(exc, KeyMissing) else exc.message
                raise VerificationError(f"{os.path.basename(target)}: cannot be read from "
                                        f"the remote: {why}") from None
        with self.open() as stream:
            return stage_copy(stream, Path(target), md5, advance,
                              also=None if self.also is None else Path(self.also))


class Writer:
    """Writes verified files into a folder, all or none: `write` stages each file beside its
    target from its source (re-staged from the next source when its bytes are wrong), makes
    them durable, renames them all, and checks each in place is the file staged. `root` is
    where a test's pause points are looked for (the project, or the folder a command runs in
    without one); `ready` runs just before the first byte is written (a project checks there
    that no dvc command took DVC's lock meanwhile)."""

    def __init__(self, root: Path, ready: Callable[[], None] | None = None) -> None:
        self.root, self.ready = root, ready
        # After `write`: each file in place that is the one staged, with its identity (its
        # stats, for DVC's state database: no stat of each file again).
        self.placed: dict[str, Identity] = {}

    def write(self, dest: Path, entries: list[FileEntry], sources: dict[str, Source],
              advance: Advance, after_renames: Callable[[], None] | None = None,
              flushing: Callable[[], None] | None = None) -> dict[str, bool]:
        """Put every entry in place under `dest` (made if absent); whether each file in
        place is, after the renames and `after_renames`, the very file staged (same inode,
        size and mtime: its bytes were hashed as they were written). A write error, a
        source with no good next one, or an interrupt before the renames changes nothing:
        the staged files and the folders made for them are removed. `flushing` runs once
        every byte is staged, before the wait for the disk (a progress step: a big file's
        flush takes seconds after its last byte)."""
        if self.ready is not None:
            self.ready()
        # A run killed between staging and renaming leaves temporary files; they are ours.
        discard(leftover_temp_files(dest, [e.path for e in entries]))
        made = _missing_folders(dest, entries) if os.path.lexists(dest) else [_top(dest)]
        try:
            _make(dest)
            identities = _stage_and_rename(self.root, dest, entries, sources, advance,
                                           flushing)
        except BaseException:
            for folder in made:
                _remove_if_empty(folder)
            raise
        if after_renames is not None:
            after_renames()
        pause_point(self.root, PausePoint.AFTER_RENAME)
        verdicts = {}
        for path, staged in identities.items():
            now = identity(os.path.join(dest, path))
            verdicts[path] = now is not None and now == staged
            if now is not None and verdicts[path]:
                self.placed[path] = now
        return verdicts


@contextlib.contextmanager
def target_folder(dest: Path) -> Iterator[None]:
    """What a run makes of `dest` (the folder and its missing parents) is removed again, bottom
    up where no file is left, when the run does not finish (refused, interrupted); a folder
    that existed before is never removed."""
    top = _top(dest) if not os.path.lexists(dest) else None
    try:
        yield
    except BaseException:
        if top is not None:
            _remove_if_empty(top)
        raise


def _top(dest: Path) -> Path:
    """The outermost of `dest` and its parents that does not exist."""
    while not os.path.lexists(dest.parent):
        dest = dest.parent
    return dest


def _make(dest: Path) -> None:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create --target {dest}: {exc.strerror or exc}") from None


def _missing_folders(dest: Path, entries: list[FileEntry]) -> list[Path]:
    """The outermost folders inside `dest` that staging these entries will make (one stat per
    folder)."""
    seen: dict[str, bool] = {}  # folder -> exists
    made: list[Path] = []
    for entry in entries:
        parts = entry.path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in seen:
                seen[folder] = os.path.lexists(os.path.join(dest, folder))
                if not seen[folder]:
                    made.append(dest / folder)
            if not seen[folder]:
                break  # the ones below are made with it
    return made


def _stage_and_rename(root: Path, dest: Path, entries: list[FileEntry],
                      sources: dict[str, Source], advance: Advance,
                      flushing: Callable[[], None] | None = None
                      ) -> dict[str, Identity | None]:
    """Stage every file, hashed as written, several at once (the biggest first, so that one
    long file overlaps with the small ones), then put them all in place; each file's identity
    as staged. A file whose source turns out wrong is staged again afterwards, one by one,
    from the next source (which may fetch)."""
    by_size = sorted(entries, key=lambda e: -e.size)
    folder = str(dest)

    def first_try(entry: FileEntry) -> str | Path | None:
        source = sources[entry.path]
        try:
            return source.stage(os.path.join(folder, entry.path), entry.md5, advance,
                                entry.size)
        except VerificationError:
            if source.on_bad is None:
                raise
            return None

    staged: dict[str, str | Path] = {}
    try:
        # One per core: hashing is the work. Streams from a remote mostly wait on the
        # network: more of them at once, each on its own.
        streamed = any(s.remote is not None and s.over_network for s in sources.values())
        workers = DOWNLOADS if streamed else None
        def before_flush() -> None:
            if flushing is not None:
                flushing()
            pause_point(root, PausePoint.BEFORE_FLUSH)

        done = stage_all(by_size, first_try, workers, size_of=lambda e: e.size,
                         before_flush=before_flush, batch=1 if streamed else BATCH)
        for entry, tmp in zip(by_size, done, strict=True):
            if tmp is not None:
                staged[entry.path] = tmp
        retried: list[str | Path] = []
        for entry in by_size:
            if entry.path not in staged:
                staged[entry.path] = _stage_from_next(entry, dest / entry.path,
                                                      sources[entry.path], advance)
                retried.append(staged[entry.path])
        make_durable(retried)
    except OSError as exc:
        discard(staged.values())
        raise WriteError(f"restore failed while writing, no file was changed: {exc}") from None
    except BaseException:
        discard(staged.values())
        raise
    identities = {path: identity(tmp) for path, tmp in staged.items()}
    commit_all([(staged[e.path], os.path.join(folder, e.path)) for e in entries],
               before_first=lambda: pause_point(root, PausePoint.BEFORE_RENAME), durable=True,
               after_first=lambda: pause_point(root, PausePoint.BETWEEN_RENAMES))
    return identities


def _stage_from_next(entry: FileEntry, target: Path, bad: Source, advance: Advance
                     ) -> str | Path:
    """Stage a file whose first source was wrong from the next good one; VerificationError
    when none is left."""
    source = bad.on_bad(bad) if bad.on_bad is not None else None
    while source is not None:
        try:
            return source.stage(target, entry.md5, advance, entry.size)
        except VerificationError:
            if source.on_bad is None:
                raise
            source = source.on_bad(source)
    raise VerificationError(f"{entry.path}: no source has the right bytes")
