"""The seam to DVC: the only module that imports dvc.

DVC is imported lazily (it costs ~0.3 s) and a Repo is opened per operation, because a
long-lived one keeps stale state. Every remote that is a local directory is passed to DVC as
an absolute path: with `revs=[...]` DVC re-reads the config from the revision and resolves a
relative url against the wrong root (it pushed to `/backups` in our tests).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hdversion.credentials import CloudCredentials, redact
from hdversion.errors import (
    ConfigurationError,
    HdversionError,
    LockedError,
    NotARepositoryError,
    RemoteError,
)

if TYPE_CHECKING:
    from dvc.repo import Repo


CLOUD_STORAGES = ("s3", "azure", "gcp")
# Up to this many key prefixes are listed one by one; more, and the whole remote is listed.
PER_PREFIX_LISTINGS = 4


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "local"


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
class Snapshot:
    """What a backup records from DVC: the files, and the pointer files that describe them."""

    files: tuple[TrackedFile, ...]
    missing: tuple[str, ...]
    pointer_files: dict[str, bytes]


class DataStoreError(HdversionError):
    """DVC refused an operation (a broken dvc.yaml, a lock held by a dvc command...)."""


class DataStore:
    def __init__(self, root: Path, local_remote: str,
                 credentials: CloudCredentials | None = None) -> None:
        if not (root / ".dvc").is_dir():
            raise NotARepositoryError(
                f"not a DVC repository: {root}", hint="run `dvc init` in the project first"
            )
        self.root = root
        self.local_remote = local_remote
        self.credentials = credentials or CloudCredentials()
        # The remotes as passed to DVC, computed once (DVC's config is re-read only after
        # add_remote changes it).
        self._overrides: dict[str, dict[str, Any]] | None = None
        self._cache_root: Path | None = None

    # -- opening -------------------------------------------------------------------------
    @contextmanager
    def _repo(self) -> Iterator[Repo]:
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        from dvc.exceptions import DvcException
        from dvc.lock import LockError
        from dvc.repo import Repo

        # DVC narrates and draws progress bars of its own (its import sets these levels);
        # hdversion reports for itself.
        for name in ("dvc", "dvc_data", "dvc_objects"):
            logging.getLogger(name).setLevel(logging.ERROR)

        try:
            if self._overrides is None:
                probe = Repo(str(self.root))
                self._overrides = self._remote_overrides(probe.config)
                probe.close()
            overrides = self._overrides
            repo = Repo(str(self.root), config={"remote": overrides} if overrides else None)
        except DvcException as exc:
            raise ConfigurationError(f"DVC cannot open the repository: {exc}") from None
        repo.scm_context.quiet = True
        try:
            # Some DVC calls (commit, metrics, params) resolve paths against the cwd. DVC's
            # progress bars write to sys.stderr when it is a terminal; hdversion draws its own.
            with contextlib.chdir(self.root), open(os.devnull, "w") as null, \
                    contextlib.redirect_stderr(null):
                yield repo
        except LockError:
            raise LockedError(
                "a dvc command is running in this repository (DVC's lock is held)",
                hint="wait for it to finish, then run hdversion again",
            ) from None
        except DvcException as exc:
            raise DataStoreError(f"DVC: {exc}") from None
        finally:
            repo.close()

    def _remote_overrides(self, config: Any) -> dict[str, dict[str, Any]]:
        """Every remote in full, as the workspace's config has it: with `revs=[...]` DVC reads
        the config of that revision, which may lack remotes added since, or hold relative
        urls it then resolves against the wrong root."""
        configured = config["remote"]
        overrides: dict[str, dict[str, Any]] = {
            name: dict(conf) for name, conf in configured.items()
        }
        for storage in CLOUD_STORAGES:
            url = self.credentials.default_url(storage)
            if storage not in overrides and url:
                overrides[storage] = {"url": url}
        if self.local_remote not in overrides:
            # The embedded default: a git-ignored directory in the repository.
            overrides[self.local_remote] = {"url": str(self.root / "backups")}
        for conf in overrides.values():
            if "://" not in conf["url"]:
                conf["url"] = str(Path(conf["url"]).resolve())
            # Credentials from the file fill in what DVC's own config leaves open.
            for key, value in self.credentials.remote_options(_scheme(conf["url"])).items():
                conf.setdefault(key, value)
            # DVC then re-hashes every download and drops a corrupt object.
            conf["verify"] = True
        return overrides

    # -- the workspace -------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        with self._repo() as repo:
            return [self._output(out) for out in repo.index.outs]

    def _output(self, out: Any) -> Output:
        path = Path(out.fs_path).relative_to(self.root).as_posix()
        dvcfile = Path(out.stage.path)
        pointer = dvcfile.with_name("dvc.lock") if dvcfile.name == "dvc.yaml" else dvcfile
        return Output(path=path, pointer_file=pointer.relative_to(self.root).as_posix(),
                      cached=bool(out.use_cache))

    def snapshot(self, outputs: list[Output]) -> Snapshot:
        """Commit the workspace's outputs to the cache and describe them, file by file.

        DVC's state database spares unchanged files a re-hash. The pointer files are restored
        to their bytes afterwards: a backup leaves the working tree as it found it.
        """
        from dvc.exceptions import DvcException

        pointer_paths = sorted({o.pointer_file for o in outputs})
        before = {p: _read_or_none(self.root / p) for p in pointer_paths}
        missing = tuple(o.path for o in outputs if not (self.root / o.path).exists())
        try:
            with self._repo() as repo:
                # allow_missing: the caller has already decided about missing files.
                # relink=False: with the default (copy) link type, relinking would rewrite
                # every workspace file from the cache.
                repo.commit(None, force=True, allow_missing=True, relink=False)
            with self._repo() as repo:
                after = {p: (self.root / p).read_bytes() for p in pointer_paths}
                files = tuple(self._files(repo, skip=set(missing)))
        except DvcException as exc:
            raise HdversionError(f"DVC could not commit the artifacts: {exc}") from None
        finally:
            for path, data in before.items():
                current = _read_or_none(self.root / path)
                if current != data:
                    _restore_bytes(self.root / path, data)
        return Snapshot(files=files, missing=missing, pointer_files=after)

    def _files(self, repo: Repo, skip: set[str]) -> Iterator[TrackedFile]:
        cache = repo.cache.local
        for out in repo.index.outs:
            if not out.use_cache:
                continue
            path = Path(out.fs_path).relative_to(self.root).as_posix()
            if path in skip or out.hash_info is None or not out.hash_info.value:
                continue
            if out.hash_info.isdir:
                for key, _meta, info in out.get_obj():
                    member = PurePosixPath(path, *key).as_posix()
                    size = os.path.getsize(cache.oid_to_path(info.value))
                    yield TrackedFile(member, info.value, size)
            else:
                md5 = out.hash_info.value
                yield TrackedFile(path, md5, os.path.getsize(cache.oid_to_path(md5)))

    def metrics(self) -> dict[str, Any]:
        with self._repo() as repo:
            return _flatten_show(repo.metrics.show())

    def params(self) -> dict[str, Any]:
        with self._repo() as repo:
            return _flatten_show(repo.params.show())

    # -- the cache -----------------------------------------------------------------------
    def cache_path(self, md5: str) -> Path:
        """Where DVC keeps an object: `dvc cache dir` may put the cache anywhere."""
        if self._cache_root is None:
            with self._repo() as repo:
                self._cache_root = Path(repo.cache.local.path)
        return self._cache_root / md5[:2] / md5[2:]

    # -- remotes -------------------------------------------------------------------------
    def remotes(self) -> list[RemoteInfo]:
        with self._repo() as repo:
            default = repo.config["core"].get("remote")
            return [
                RemoteInfo(name, str(conf["url"]), _scheme(str(conf["url"])), name == default,
                           bool(conf.get("verify")))
                for name, conf in repo.config["remote"].items()
            ]

    def add_remote(self, name: str, url: str, options: dict[str, str]) -> None:
        """Write a remote into .dvc/config (DVC's config stays the one source of truth)."""
        with self._repo() as repo, repo.config.edit("repo") as conf:
            conf["remote"][name] = {"url": url, "verify": "true", **options}
        self._overrides = None

    def probe_remote(self, name: str) -> list[tuple[str, bool, str]]:
        """Write, read back and delete a probe object: each step with its verdict."""
        import secrets

        steps: list[tuple[str, bool, str]] = []
        payload = secrets.token_bytes(64)
        with self._repo() as repo:
            self._check_remote(repo, name)
            try:
                self._check_reachable(repo, name)
            except RemoteError as exc:
                return [("connect", False, exc.message)]
            odb = repo.cloud.get_remote_odb(name)
            # odb.path is <url>/files/md5; the probe goes to the remote's root.
            root = _parent(_parent(odb.path, odb.fs.sep), odb.fs.sep)
            probe = odb.fs.join(root, f"hdversion-probe-{secrets.token_hex(8)}")
            for step, action in (
                ("write", lambda: odb.fs.pipe_file(probe, payload)),
                ("read back", lambda: _expect(odb.fs.cat_file(probe), payload)),
                ("delete", lambda: odb.fs.rm_file(probe)),
            ):
                try:
                    action()
                except Exception as exc:  # every failure is a verdict here
                    steps.append((step, False, self._explain(repo, name, exc)))
                    break
                steps.append((step, True, ""))
        return steps

    def push(self, revision: str, remote: str) -> None:
        """Upload every object a revision needs; DVC skips what the remote already has."""
        self._transfer("push", revision, remote)

    def fetch(self, revision: str, remote: str) -> None:
        """Download into the cache the objects a revision needs. DVC only warns on a missing
        object, so callers check the cache afterwards."""
        self._transfer("fetch", revision, remote)

    def _transfer(self, verb: str, revision: str, remote: str) -> None:
        with self._repo() as repo:
            self._check_remote(repo, remote)
            self._check_reachable(repo, remote)
            method = repo.push if verb == "push" else repo.fetch
            try:
                method(revs=[revision], remote=remote, workspace=False)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(
                    f"{verb} {'to' if verb == 'push' else 'from'} remote '{remote}' failed: "
                    + self._explain(repo, remote, exc)
                ) from None

    def _check_remote(self, repo: Repo, remote: str) -> None:
        if remote not in repo.config["remote"]:
            hint = (f"hdversion remote add {remote} URL, or set the bucket in "
                    "config/cloud_credentials.json") if remote in CLOUD_STORAGES else \
                "see `hdversion remote list`"
            raise ConfigurationError(f"no DVC remote named '{remote}'", hint=hint)

    def _check_reachable(self, repo: Repo, remote: str) -> None:
        """Fail in seconds on an endpoint that refuses connections: the SDKs retry a dead
        endpoint for up to a minute and a half (Azure) before they give up."""
        conf = repo.config["remote"][remote]
        endpoint = _endpoint(conf)
        if endpoint is None:
            return
        parsed = urlsplit(endpoint)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with socket.create_connection((parsed.hostname or "", port), timeout=5):
                pass
        except OSError as exc:
            raise RemoteError(
                f"cannot reach remote '{remote}' at {endpoint}: {exc.strerror or exc}"
            ) from None

    def _explain(self, repo: Repo, remote: str, exc: BaseException) -> str:
        """Turn what DVC and the SDKs say into what the user needs to know."""
        url = str(repo.config["remote"][remote]["url"])
        text = f"{type(exc).__name__}: {exc}"
        lowered = text.lower()
        if any(word in lowered for word in ("credential", "accessdenied", "access denied",
                                            "signature", "authoriz", "forbidden", "403",
                                            "invalidaccesskeyid", "authentication")):
            return redact(f"credentials refused or missing for {url} ({text})")
        if any(word in lowered for word in ("connect", "unreachable", "timed out", "timeout",
                                            "refused", "name or service")):
            return redact(f"cannot reach {url} ({text})")
        try:
            # The SDKs answer "does not exist" also when they cannot connect: ask only once
            # the endpoint is known to answer.
            self._check_reachable(repo, remote)
        except RemoteError as unreachable:
            return redact(f"{unreachable.message} ({text})")
        try:
            odb = repo.cloud.get_remote_odb(remote)
            bucket = urlsplit(url).netloc if "://" in url else None
            if bucket and not odb.fs.exists(bucket):
                kind = "container" if url.startswith("azure://") else "bucket"
                return f"the {kind} '{bucket}' does not exist ({url})"
        except Exception as probe_exc:  # a second failure explains the first
            text = f"{text}; {type(probe_exc).__name__}: {probe_exc}"
        return redact(text)

    def upload_verified(self, remote: str, md5s: Iterable[str]) -> set[str]:
        """Upload objects straight from the cache, each re-hashed first, replacing whatever
        the remote holds under that key. Returns the objects uploaded."""
        from hdversion.hashing import md5_file

        uploaded: set[str] = set()
        with self._repo() as repo:
            self._check_remote(repo, remote)
            odb = repo.cloud.get_remote_odb(remote)
            for md5 in sorted(md5s):
                source = self.cache_path(md5)
                if not source.is_file() or md5_file(source)[0] != md5:
                    continue
                try:
                    odb.fs.put_file(str(source), odb.oid_to_path(md5))
                except Exception as exc:  # DVC and the cloud SDKs raise anything
                    raise RemoteError(f"upload to remote '{remote}' failed: "
                                      + self._explain(repo, remote, exc)) from None
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
        with self._repo() as repo:
            self._check_remote(repo, remote)
            self._check_reachable(repo, remote)
            odb = repo.cloud.get_remote_odb(remote)
            try:
                listed = _listed_objects(odb, prefixes)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"cannot list remote '{remote}': "
                                  + self._explain(repo, remote, exc)) from None
        return {md5 for md5, size in objects.items() if listed.get(md5) != size}


def _listed_objects(odb: Any, prefixes: list[str]) -> dict[str, int | None]:
    """md5 -> size of every object under the given prefixes (or all of them)."""
    fs = odb.fs.fs  # the fsspec file system: its listings carry sizes
    entries: list[dict[str, Any]] = []
    if len(prefixes) > PER_PREFIX_LISTINGS:
        with contextlib.suppress(FileNotFoundError):
            found = fs.find(odb.path, detail=True)
            # fsspec gives {path: info}; DVC's local file system yields plain paths.
            entries = list(found.values()) if isinstance(found, dict) else [
                item if isinstance(item, dict) else {"name": item, "size": fs.size(item)}
                for item in found
            ]
    else:
        for prefix in prefixes:
            try:
                entries += fs.ls(odb.fs.join(odb.path, prefix), detail=True)
            except FileNotFoundError:
                continue
    objects: dict[str, int | None] = {}
    for entry in entries:
        parts = PurePosixPath(str(entry["name"])).parts
        if len(parts) >= 2 and len(parts[-2]) == 2:
            size = entry.get("size")
            objects[parts[-2] + parts[-1]] = int(size) if size is not None else None
    return objects


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    scheme: str
    default: bool
    verify: bool


def _endpoint(conf: dict[str, Any]) -> str | None:
    """The HTTP endpoint a cloud remote talks to, where the config names one."""
    if conf.get("endpointurl"):
        return str(conf["endpointurl"])
    match = re.search(r"BlobEndpoint=([^;]+)", str(conf.get("connection_string", "")))
    return match.group(1) if match else None


def _parent(path: str, sep: str) -> str:
    return path.rstrip(sep).rsplit(sep, 1)[0]


def _expect(data: bytes, payload: bytes) -> None:
    if data != payload:
        raise ValueError("read back different bytes than were written")


def _flatten_show(shown: dict[str, Any]) -> dict[str, Any]:
    """DVC's show() nests {rev: {"data": {file: {"data": ...}}}}; keep {file: data}."""
    workspace = shown.get("", {}).get("data", {})
    return {name: entry.get("data", {}) for name, entry in workspace.items() if "data" in entry}


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _restore_bytes(path: Path, data: bytes | None) -> None:
    from hdversion.atomic import atomic_write_bytes

    if data is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, data)
