"""Moving objects between the cache and remotes: push, fetch, verified upload, and what a
remote holds, read from the remote's own listing."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from fsspec.callbacks import Callback

from hdversion.datastore.explain import (
    check_reachable,
    classify,
    data_error_in,
    database_error_in,
    dvc_errors,
    exception_chain,
    explain,
    write_error_in,
)
from hdversion.datastore.s3_upload import S3Uploader, s3_uploader
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.errors import DamagedObjectError, RemoteError, WriteError
from hdversion.model.leftovers import is_partial_name
from hdversion.model.storages import LOCAL_SCHEME, scheme_of
from hdversion.paths import TEMP_PREFIX
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint, pause_point

# Up to this many key prefixes are listed one by one; more, and the whole remote is listed.
PER_PREFIX_LISTINGS = 4
# S3 uploads (see _put): the part size of large files (boto3's is 8 MiB), how many large
# files go at once and how many parts of each.
S3_PART = 8 * 1024 * 1024
S3_MAX_PARTS = 10_000
LARGE_AT_ONCE = 2
PARTS_AT_ONCE = 8


class Transfers:
    def __init__(self, session: DvcSession) -> None:
        self.session = session
        # One S3 client per remote's file system for the operation (a sync pushes backup
        # after backup): made once, as s3fs's own.
        self._uploaders: dict[str, tuple[Any, S3Uploader | None]] = {}

    def push(self, revision: str, remote: str, objects: Mapping[str, int] | None = None
             ) -> None:
        """Upload every object a revision needs; what the remote already has is skipped.

        Given `objects` (md5 -> size, everything the revision needs), a bucket or container
        is filled by hdversion itself: one listing, then every object it lacks uploaded at
        once. DVC's push of a revision costs more than the upload on a cloud remote: it
        rebuilds the revision's index, asks the remote again per directory, and sends a
        directory's files, its listing and the other files in three waves one after the
        other, so a large file starts only when the small ones are done."""
        if objects is not None and self.session.is_object_store(remote):
            self._upload_absent(remote, objects)
        else:
            self._transfer("push", revision, remote)

    def fetch(self, revision: str, remote: str,
              objects: Mapping[str, int | None] | None = None) -> None:
        """Download into the cache the objects a revision needs. A missing or damaged object
        is skipped (DVC only warns), so callers check the cache afterwards.

        Given `objects` (md5 -> size, None where unknown: a directory's `.dir` listing),
        those the cache lacks come straight from a bucket or container, all at once, each
        hashed as it lands and renamed into the cache only when whole: what DVC's fetch with
        `verify` does, without rebuilding the revision's index first or hashing every
        download one after the other at the end. Only the objects named come: a directory
        output needs its listing named too (later pushes from this cache need it)."""
        if objects is not None and self.session.is_object_store(remote):
            self._download_absent(remote, objects)
        else:
            self._transfer("fetch", revision, remote)

    def copy_to_directory(self, remote: str, md5s: Iterable[str]) -> bool:
        """Copy objects from the cache into a remote that is a directory, as DVC's push would
        but without its per-object questions to the remote (the caller has listed it): False,
        copying nothing, when the remote is not a directory. An object the cache lacks is
        skipped (the caller's listing afterwards says what is still missing). Each copy is
        written beside its place and renamed: a kill leaves no partial object."""
        wanted = sorted(md5s)
        if not wanted or self.session.local_object_path(remote, wanted[0]) is None:
            return False

        def copy(md5: str) -> None:
            source = self.session.cache_path(md5)
            target = self.session.local_object_path(remote, md5)
            assert target is not None
            if not source.is_file():
                return
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:  # a file where the remote needs a folder
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
            tmp = target.with_name(f"{TEMP_PREFIX}{target.name}.{os.getpid()}")
            try:
                shutil.copyfile(source, tmp)
                os.chmod(tmp, 0o444)  # as DVC keeps its objects
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

        try:
            # A few at a time: small objects wait on file creation more than on the disk.
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(copy, wanted))
        except OSError as exc:
            top = self.session.local_object_path(remote, "00")
            where = f" at {top.parent.parent.parent}" if top else ""
            raise WriteError(f"cannot write to the local remote '{remote}'{where}: "
                             f"{exc.strerror or exc}",
                             hint="is the disk full? free space there or fix its permissions, "
                             f"or move the remote (dvc remote modify {remote} url "
                             "/other/disk)") from None
        return True

    def _transfer(self, verb: str, revision: str, remote: str) -> None:
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            if scheme_of(str(repo.config["remote"][remote]["url"])) != LOCAL_SCHEME:
                # DVC makes the remote's file system inside push and fetch: made here first,
                # a plugin not installed is said as such, not as a failed transfer.
                self.session.remote_odb(repo, remote)
            method = repo.push if verb == "push" else repo.fetch
            with dvc_errors() as logged:
                try:
                    method(revs=[revision], remote=remote, workspace=False)
                except Exception as exc:  # DVC and the cloud SDKs raise anything
                    cause = logged[0] if logged else exc
                    url = str(repo.config["remote"][remote]["url"])
                    written = write_error_in([*logged, exc])
                    if verb == "push" and written and scheme_of(url) == LOCAL_SCHEME:
                        raise WriteError(
                            f"cannot write to the local remote '{remote}' at {url}: "
                            f"{written.strerror or written}",
                            hint="free space there or fix its permissions, or move the "
                            f"remote (dvc remote modify {remote} url /other/disk)") from None
                    database = database_error_in([*logged, exc])
                    if database:
                        raise WriteError(f"DVC could not write its databases during the "
                                         f"{verb}: {database}",
                                         hint="is the disk full? free space, then run "
                                         "hdversion again") from None
                    damaged = data_error_in([*logged, exc]) if classify(cause) is None \
                        else None
                    if damaged is not None and verb == "fetch":
                        return  # missing or corrupt in the remote: the caller checks
                    if damaged is not None:
                        raise DamagedObjectError(
                            f"push to remote '{remote}' met a damaged object there: "
                            f"{type(damaged).__name__}: {damaged}") from None
                    if written and verb == "fetch":
                        raise WriteError(f"cannot write to the DVC cache while fetching from "
                                         f"'{remote}': {written.strerror or written}") from None
                    raise RemoteError(
                        f"{verb} {'to' if verb == 'push' else 'from'} remote '{remote}' "
                        "failed: " + explain(repo, remote, cause)
                    ) from None

    def _upload_absent(self, remote: str, objects: Mapping[str, int]) -> None:
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            odb = self.session.remote_odb(repo, remote)
            cache = Path(repo.cache.local.path)
            try:
                listed = _listed_objects(odb, sorted({md5[:2] for md5 in objects}))
                # What the cache lacks is left to the caller's check of the remote.
                absent = [md5 for md5 in objects if md5 not in listed
                          and _cached(cache, md5).is_file()]
                # A directory's listing goes last, as DVC orders it: DVC takes a listing in
                # a remote to mean that the directory's files are there.
                uploader = self._uploader_for(remote, odb) if absent else None
                for wave in ([m for m in absent if not m.endswith(".dir")],
                             [m for m in absent if m.endswith(".dir")]):
                    if wave:
                        _put(odb, [(_cached(cache, md5), odb.oid_to_path(md5), objects[md5])
                                   for md5 in wave], uploader)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"push to remote '{remote}' failed: "
                                  + explain(repo, remote, exc)) from None

    def _uploader_for(self, remote: str, odb: Any) -> S3Uploader | None:
        if odb.fs.protocol != "s3":
            return None
        fs, uploader = self._uploaders.get(remote, (None, None))
        if fs is not odb.fs.fs:
            fs = odb.fs.fs
            uploader = s3_uploader(fs, odb.fs.jobs, getattr(odb.fs, "_transfer_config", None))
            self._uploaders[remote] = (fs, uploader)
        return uploader

    def _download_absent(self, remote: str, objects: Mapping[str, int | None]) -> None:
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            odb = self.session.remote_odb(repo, remote)
            cache = Path(repo.cache.local.path)
            wanted = sorted((md5 for md5 in objects if not _cached(cache, md5).is_file()),
                            key=lambda md5: -(objects[md5] or 0))

            def download(md5: str) -> None:
                target = _cached(cache, md5)
                target.parent.mkdir(parents=True, exist_ok=True)
                # Named like DVC's partial files, so that a killed run's are removed by the
                # next (DvcSession.remove_stale_temp).
                partial = target.with_name(f"{target.name}.{secrets.token_urlsafe(16)}.tmp")
                expected = objects[md5]
                try:
                    # An object larger than the manifest says (damaged, or hostile) is
                    # dropped at its size header or its first bytes too many: never
                    # written whole, never filling the disk.
                    odb.fs.get_file(odb.oid_to_path(md5), str(partial),
                                    callback=_SizeLimit(expected))
                    digest, size = md5_file(partial)
                    if digest != md5.removesuffix(".dir") or expected not in (None, size):
                        return  # damaged in the remote: never into the cache
                    # DVC's cache files are read-only; DVC trusts any file that is.
                    partial.chmod(0o444)
                    os.replace(partial, target)
                except FileNotFoundError:
                    return  # missing in the remote
                except Exception as exc:
                    if any(isinstance(link, _Oversized) for link in exception_chain(exc)):
                        return  # damaged in the remote: never into the cache
                    raise
                finally:
                    partial.unlink(missing_ok=True)

            # Each thread waits on its download, then hashes what landed (hashlib lets go
            # of the GIL), so hashing overlaps the other downloads.
            try:
                _ = odb.fs.fs  # connects once, not in every thread
                with ThreadPoolExecutor(max_workers=odb.fs.jobs) as pool:
                    list(pool.map(download, wanted))
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                written = write_error_in([exc])
                if written is not None:
                    raise WriteError(f"cannot write to the DVC cache while fetching from "
                                     f"'{remote}': {written.strerror or written}") from None
                raise RemoteError(f"fetch from remote '{remote}' failed: "
                                  + explain(repo, remote, exc)) from None

    def preflight(self, remote: str) -> None:
        """Before any work: the remote is configured, its endpoint answers, the credentials
        are accepted and the bucket (container) exists; RemoteError (exit 7) otherwise."""
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            url = str(repo.config["remote"][remote]["url"])
            if scheme_of(url) == LOCAL_SCHEME:
                return
            odb = self.session.remote_odb(repo, remote)
            bucket = urlsplit(url).netloc
            try:
                # A listing, not `exists`: the SDKs answer "no" to `exists` also for refused
                # or missing credentials; a listing raises what is really wrong.
                odb.fs.fs.ls(bucket, detail=False)
            except FileNotFoundError:
                kind = "container" if url.startswith("azure://") else "bucket"
                raise RemoteError(f"remote '{remote}' cannot be used: the {kind} '{bucket}' "
                                  f"does not exist ({url})",
                                  hint=f"create it, or point the remote elsewhere "
                                  f"(hdversion remote add {remote} URL)") from None
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"remote '{remote}' cannot be used: "
                                  + explain(repo, remote, exc)) from None

    def upload_verified(self, remote: str, md5s: Iterable[str]) -> set[str]:
        """Upload objects straight from the cache, each re-hashed first, replacing whatever
        the remote holds under that key. Returns the objects uploaded."""
        uploaded: set[str] = set()
        with self.session.open() as repo:
            check_remote(repo, remote)
            odb = self.session.remote_odb(repo, remote)
            for md5 in sorted(md5s):
                if uploaded:
                    pause_point(self.session.root, PausePoint.BETWEEN_UPLOADS)
                source = self.session.cache_path(md5)
                # A `.dir` listing is named by the md5 of its bytes too.
                if not source.is_file() or md5_file(source)[0] != md5.removesuffix(".dir"):
                    continue
                try:
                    odb.fs.put_file(str(source), odb.oid_to_path(md5))
                except Exception as exc:  # DVC and the cloud SDKs raise anything
                    raise RemoteError(f"upload to remote '{remote}' failed: "
                                      + explain(repo, remote, exc)) from None
                uploaded.add(md5)
        return uploaded

    def missing_in_remote(self, remote: str, objects: Mapping[str, int]) -> set[str]:
        """Which objects (md5 -> size) the remote lacks or holds at another size, read from
        the storage's own listing.

        DVC's `status -c` can say "up to date" with objects missing, so this asks the storage:
        one listing per key prefix for a few objects, else one recursive listing of the
        remote (paged by the storage, 1,000 keys a request on S3), never a request per object.
        """
        prefixes = sorted({md5[:2] for md5 in objects})
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            odb = self.session.remote_odb(repo, remote)
            try:
                listed = _listed_objects(odb, prefixes)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"cannot list remote '{remote}': "
                                  + explain(repo, remote, exc)) from None
        return {md5 for md5, size in objects.items() if listed.get(md5) != size}

    def probe(self, name: str) -> list[tuple[str, bool, str]]:
        """Write, read back and delete a probe object: each step with its verdict."""
        steps: list[tuple[str, bool, str]] = []
        # Text that says what it is, should a killed test leave it behind. (Random bytes also
        # met a bug of the GCS emulator the tests use: a payload ending in b"\r" came back
        # without it, one run in 256.)
        payload = f"hdversion remote test probe {secrets.token_hex(16)}\n".encode()
        with self.session.open() as repo:
            check_remote(repo, name)
            try:
                check_reachable(repo, name)
            except RemoteError as exc:
                return [("connect", False, exc.message)]
            odb = self.session.remote_odb(repo, name)
            # odb.path is <url>/files/md5; the probe goes to the remote's root.
            root = _parent(_parent(odb.path, odb.fs.sep), odb.fs.sep)
            probe = odb.fs.join(root, f"hdversion-probe-{secrets.token_hex(8)}")
            made: list[Path] = []
            if odb.fs.protocol == "local":
                made = _folders_to_make(Path(root))
                found = made[-1].parent if made else Path(root)
                if found.exists() and not found.is_dir():
                    # Every write below it would fail with the OS's NotADirectoryError.
                    return [("folder", False, f"{str(found)!r} is a file, not a folder")]
                if made:
                    # DVC's push makes a directory remote's folders as it writes (so do
                    # copy and sync, through it): not a failure, but worth saying.
                    steps.append(("folder", True, f"{root} does not exist yet: the first "
                                  "write (backup, copy, sync) makes it"))
                    try:
                        odb.fs.makedirs(root)
                    except OSError as exc:
                        steps.append(("write", False, f"cannot make folder {root!r}: "
                                      f"{exc.strerror or exc}"))
                        return steps
            try:
                for step, action in (
                    ("write", lambda: odb.fs.pipe_file(probe, payload)),
                    ("read back", lambda: _expect(odb.fs.cat_file(probe), payload)),
                    ("delete", lambda: odb.fs.rm_file(probe)),
                ):
                    try:
                        action()
                    except Exception as exc:  # every failure is a verdict here
                        steps.append((step, False, explain(repo, name, exc)))
                        break
                    steps.append((step, True, ""))
            finally:
                for folder in made:  # the deepest first: a test leaves what it found
                    with contextlib.suppress(OSError):
                        folder.rmdir()
        return steps


def _folders_to_make(root: Path) -> list[Path]:
    """The folders of `root` that do not exist, the deepest first."""
    missing: list[Path] = []
    folder = root
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _listed_objects(odb: Any, prefixes: list[str]) -> dict[str, int | None]:
    """md5 -> size of every object under the given prefixes (or all of them)."""
    entries = listed_entries(odb, prefixes if len(prefixes) <= PER_PREFIX_LISTINGS else None)
    return {md5: size for md5, (size, _entry) in entries.items()}


def listed_entries(odb: Any, prefixes: list[str] | None
                   ) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """md5 -> (size, the listing's entry) of every object under the given key prefixes, or
    of the whole remote (one recursive listing) when `prefixes` is None. What a killed write
    left (`model/leftovers.py`) is not an object, in a bucket as in a directory."""
    if odb.fs.protocol == "local":
        return listed_folder(Path(odb.path), prefixes)
    return listed_keys(odb.fs.fs, odb.path, prefixes)


def listed_keys(fs: Any, top: str, prefixes: list[str] | None
                ) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """`listed_entries` of a bucket's objects under `top` (its `files/md5`), through the
    fsspec file system `fs`, whose listings carry sizes."""
    entries: list[dict[str, Any]] = []
    if prefixes is None:
        with contextlib.suppress(FileNotFoundError):
            found = fs.find(top, detail=True)
            # fsspec gives {path: info}; DVC's local file system yields plain paths.
            entries = list(found.values()) if isinstance(found, dict) else [
                item if isinstance(item, dict) else {"name": item, "size": fs.size(item)}
                for item in found
            ]
    else:
        for prefix in prefixes:
            try:
                entries += fs.ls(f"{top.rstrip('/')}/{prefix}", detail=True)
            except FileNotFoundError:
                continue
    objects: dict[str, tuple[int | None, dict[str, Any]]] = {}
    for entry in entries:
        parts = PurePosixPath(str(entry["name"])).parts
        if len(parts) >= 2 and len(parts[-2]) == 2 and not is_partial_name(parts[-1]):
            size = entry.get("size")
            objects[parts[-2] + parts[-1]] = (int(size) if size is not None else None, entry)
    return objects


def listed_folder(root: Path, prefixes: list[str] | None = None
                  ) -> dict[str, tuple[int | None, dict[str, Any]]]:
    """A store that is a directory (the cache, a local remote), listed like `listed_entries`
    but with scandir: DVC's local file system lists names only, and a `stat` through fsspec
    per object cost 0.3 ms (3 s for 10,000). Partial writes are not objects."""
    objects: dict[str, tuple[int | None, dict[str, Any]]] = {}
    try:
        folders = prefixes if prefixes is not None else [
            e.name for e in os.scandir(root)
            if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return objects
    for prefix in folders:
        try:
            listing = list(os.scandir(root / prefix))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in listing:
            if is_partial_name(entry.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    objects[prefix + entry.name] = (info.st_size, {
                        "name": entry.path, "size": info.st_size, "mtime": info.st_mtime})
    return objects


def _put(odb: Any, files: list[tuple[Path, str, int]],
         uploader: S3Uploader | None = None) -> None:
    """Upload files (local path, remote path, size) at once, `jobs` at a time.

    On S3, through `uploader` (boto3's threads, datastore/s3_upload.py) where there is one;
    otherwise through s3fs, with the large files in parts of S3_PART (s3fs's own 50 MiB
    parts cost the server more and leave a 128 MiB file three requests to share),
    LARGE_AT_ONCE files at a time, PARTS_AT_ONCE parts each, beside the small ones: s3fs
    holds every part in flight in memory, so this bounds it (jobs x 2 x S3_PART for the
    small files, LARGE_AT_ONCE x PARTS_AT_ONCE x S3_PART for the large ones) whatever the
    number of large files."""
    fs = odb.fs.fs
    if uploader is not None:
        try:
            uploader.upload((path, key) for path, key, _ in files)
        finally:
            fs.invalidate_cache()  # s3fs's listings of these keys are out of date
        return
    if odb.fs.protocol != "s3" or not fs.async_impl:
        odb.fs.put([str(path) for path, _, _ in files], [key for _, key, _ in files])
        return
    import asyncio

    from fsspec.asyn import sync

    small = [(str(path), key) for path, key, size in files if size < 2 * S3_PART]
    large = [(str(path), key, size) for path, key, size in files if size >= 2 * S3_PART]
    # S3 takes at most 10,000 parts of an object.
    part = max([S3_PART, *(-(-size // S3_MAX_PARTS) for _, _, size in large)])

    async def put_all() -> None:
        puts = []
        if small:
            puts.append(fs._put([p for p, _ in small], [k for _, k in small],
                                batch_size=odb.fs.jobs))
        if large:
            puts.append(fs._put([p for p, _, _ in large], [k for _, k, _ in large],
                                batch_size=LARGE_AT_ONCE, chunksize=part,
                                max_concurrency=PARTS_AT_ONCE))
        await asyncio.gather(*puts)

    sync(fs.loop, put_all)


class _Oversized(Exception):
    """A download went past the size its manifest records."""


class _SizeLimit(Callback):  # type: ignore[misc]  # fsspec has no type hints
    """A download's progress callback that stops it (raising _Oversized) as soon as the
    object's announced size or the bytes received exceed `limit`; no limit when None (a
    directory's listing, whose size no manifest records)."""

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.limit = limit

    def call(self, hook_name: str | None = None, **kwargs: Any) -> None:
        if self.limit is not None and max(self.size or 0, self.value) > self.limit:
            raise _Oversized(f"more than {self.limit} bytes")


def _cached(cache: Path, md5: str) -> Path:
    return cache / md5[:2] / md5[2:]


def _parent(path: str, sep: str) -> str:
    return path.rstrip(sep).rsplit(sep, 1)[0]


def _expect(data: bytes, payload: bytes) -> None:
    if data != payload:
        raise ValueError("read back different bytes than were written")
