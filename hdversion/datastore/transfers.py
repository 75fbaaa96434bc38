"""Moving objects between the cache and remotes, through their stores
(`datastore/store.py`): push, fetch, verified upload, and what a remote holds, read from the
remote's own listing. Never DVC's own fetch (see `Transfers.fetch`)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from hdversion.datastore.encryption_memory import check_still_encrypted
from hdversion.datastore.explain import (
    check_reachable,
    explain,
)
from hdversion.datastore.records import Records, records_of_remote
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.datastore.store import CacheStore, DirectoryStore, Store, store_of
from hdversion.errors import RemoteError, VerificationError, WriteError
from hdversion.model.storages import LOCAL_SCHEME, scheme_of
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Reporter


class Transfers:
    def __init__(self, session: DvcSession) -> None:
        self.session = session

    def push(self, remote: str, objects: Mapping[str, int], reporter: Reporter = SILENT
             ) -> None:
        """Upload from the cache every object (md5 -> size) the remote's listing lacks, as
        puts into the remote's store (`datastore/store.py`: verified, atomic): one listing,
        then every object it lacks at once. What the cache lacks is left to the caller's
        check of the remote. DVC's push of a revision costs more than the upload on a cloud
        remote: it rebuilds the revision's index, asks the remote again per directory, and
        sends a directory's files, its listing and the other files in three waves one after
        the other, so a large file starts only when the small ones are done. The bytes put
        are reported as one step."""
        target = self.remote_store(remote)
        cache = self.cache_store()
        try:
            listed = target.present(objects)
            absent = [md5 for md5 in objects if md5 not in listed and cache.has(md5)]
            advance = reporter.bytes(f"pushing {len(absent)} object(s) to remote '{remote}'",
                                     sum(objects[md5] for md5 in absent))
            # A directory's listing goes last, as DVC orders it: DVC takes a listing in a
            # remote to mean that the directory's files are there.
            for wave in ([m for m in absent if not m.endswith(".dir")],
                         [m for m in absent if m.endswith(".dir")]):
                if wave:
                    target.put_files(((md5, cache.path(md5)) for md5 in wave), advance)
        except WriteError as exc:
            if isinstance(target, DirectoryStore):
                raise WriteError(f"cannot write to the local remote '{remote}': {exc.message}",
                                 hint="is the disk full? free space there or fix its "
                                 "permissions, or move the remote (dvc remote modify "
                                 f"{remote} url /other/disk)") from None
            raise
        except RemoteError as exc:
            raise RemoteError(f"push to remote '{remote}' failed: {exc.message}") from None

    def upload_verified(self, remote: str, md5s: Iterable[str], reporter: Reporter = SILENT
                        ) -> set[str]:
        """Put objects from the cache into a remote one by one, replacing whatever it holds
        under their names; a cache copy that does not hash to its name is skipped. Returns
        the objects put; their bytes are reported as one step."""
        target = self.remote_store(remote)
        cache = self.cache_store()
        md5s = sorted(md5s)
        advance = reporter.bytes(f"uploading {len(md5s)} object(s) one by one to remote "
                                 f"'{remote}'", sum(_size_of(cache.path(m)) for m in md5s))
        uploaded: set[str] = set()
        for md5 in md5s:
            if uploaded:
                pause_point(self.session.root, PausePoint.BETWEEN_UPLOADS)
            try:
                target.put_file(md5, cache.path(md5), advance)
            except (FileNotFoundError, VerificationError):
                continue  # not in the cache, or damaged there
            except RemoteError as exc:
                raise RemoteError(f"upload to remote '{remote}' failed: {exc.message}"
                                  ) from None
            uploaded.add(md5)
        return uploaded

    def fetch(self, remote: str, objects: Mapping[str, int | None],
              reporter: Reporter = SILENT) -> None:
        """Download into the cache the objects named (md5 -> size, None where unknown: a
        directory's `.dir` listing) that it lacks, from the remote's store, all at once,
        each beside its place in the cache and adopted by the cache's store (hashed, renamed
        into place only when whole and right); a download stops at the first byte past the
        recorded size, so a damaged or hostile object never enters the cache nor fills its
        disk. A missing or damaged object is skipped, so callers check the cache
        afterwards. Only the objects named come: a directory output needs its listing named
        too (later pushes from this cache need it).

        Never DVC's own fetch: with `verify` it removes an object that does not hash to its
        name from the directory remote it read (dvc_data's `HashFileDB.check`), so a read
        would change a remote (measured: `cat` of a damaged model left the local remote
        without it).

        The bytes downloaded are reported as one step: those of the objects whose size is
        known (a listing's is not)."""
        source = self.remote_store(remote)
        cache = self.cache_store()
        wanted = sorted((md5 for md5 in objects if not cache.has(md5)),
                        key=lambda md5: -(objects[md5] or 0))
        advance = reporter.bytes(f"fetching {len(wanted)} object(s) from remote '{remote}'",
                                 sum(objects[md5] or 0 for md5 in wanted))

        def partial(md5: str) -> Path:
            target = cache.path(md5)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Named like DVC's partial files, so that a killed run's are removed by the next
            # (DvcSession.remove_stale_temp).
            return target.with_name(f"{target.name}.{secrets.token_urlsafe(16)}.tmp")

        def adopt(md5: str, path: Path) -> None:
            # Hashed in the thread that downloaded it (hashlib lets go of the GIL), while the
            # others are on their way.
            with contextlib.suppress(VerificationError):  # damaged: never into the cache
                cache.adopt(md5, path, objects[md5])

        records = source.records
        remote_fs = records is not None and not records.local
        jobs = records.fs.jobs if records is not None and remote_fs else 4
        partials = {md5: partial(md5) for md5 in wanted}
        try:
            if records is not None and remote_fs:
                _ = records.fs.fs  # connects once, not in every thread
            # Missing or damaged in the remote: never into the cache (the caller checks it).
            # The listings, whose bytes the step does not count, after the files.
            for wave, counted in (([m for m in wanted if objects[m] is not None], advance),
                                  ([m for m in wanted if objects[m] is None], None)):
                source.get_files(((md5, partials[md5], objects[md5]) for md5 in wave), jobs,
                                 counted, adopt)
        except WriteError as exc:
            raise WriteError(f"cannot write to the DVC cache while fetching from '{remote}': "
                             f"{exc.message}") from None
        except RemoteError as exc:
            raise RemoteError(f"fetch from remote '{remote}' failed: {exc.message}") from None
        finally:
            for path in partials.values():
                path.unlink(missing_ok=True)

    def remote_store(self, remote: str) -> Store:
        """A configured remote's store, once its endpoint answers (RemoteError in seconds,
        not after the SDK's retries); sealed where the remote is encrypted, its key
        unlocked (KeyUnavailableError, exit 7, when no key the user supplied opens it)."""
        records = self.remote_records(remote)
        records.unlock(remote)
        check_still_encrypted(self.session.root, remote, records.url, records.master)
        return store_of(remote, records)

    def remote_records(self, remote: str) -> Records:
        """A configured remote's records as they are stored, not unlocked (the keyring
        reads and writes its plain records through them)."""
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
        return records_of_remote(self.session, remote)

    def cache_store(self) -> CacheStore:
        return CacheStore(self.session.cache_root())

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

    def missing_in_remote(self, remote: str, objects: Mapping[str, int]) -> set[str]:
        """Which objects (md5 -> size) the remote lacks or holds at another size, read from
        the storage's own listing.

        DVC's `status -c` can say "up to date" with objects missing, so this asks the storage:
        one listing per key prefix for a few objects, else one recursive listing of the
        remote (paged by the storage, 1,000 keys a request on S3), never a request per object.
        """
        target = self.remote_store(remote)
        try:
            listed = target.present(objects)
        except RemoteError as exc:
            raise RemoteError(f"cannot list remote '{remote}': {exc.message}") from None
        return {md5 for md5, size in objects.items()
                if (stored := listed.get(md5)) is None or stored.size != size}

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


def _parent(path: str, sep: str) -> str:
    return path.rstrip(sep).rsplit(sep, 1)[0]


def _expect(data: bytes, payload: bytes) -> None:
    if data != payload:
        raise ValueError("read back different bytes than were written")


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # not in the cache: skipped by the upload

