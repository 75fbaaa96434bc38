"""Opening DVC: one Repo per operation, with every remote's configuration passed in memory.

DVC is imported lazily (it costs ~0.3 s) and a Repo is opened per operation, because a
long-lived one keeps stale state. Every remote that is a local directory is passed to DVC as
an absolute path: with `revs=[...]` DVC re-reads the config from the revision and resolves a
relative url against the wrong root (it pushed to `/backups` in our tests).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hdversion.config.credentials import (
    S3_ENCRYPTION_OPTIONS,
    S3_KEY_OPTIONS,
    SSE_CUSTOMER_OPTION,
    CloudCredentials,
)
from hdversion.datastore import check_repository
from hdversion.datastore.explain import damaged_pointer_file, silenced_dvc
from hdversion.datastore.partials import Clean, load_clean, remove_partials, save_clean
from hdversion.errors import (
    ConfigurationError,
    DataStoreError,
    LockedError,
    WriteError,
)
from hdversion.model.remote_records import ENCRYPTION_CONFIG
from hdversion.model.storages import (
    LOCAL_SCHEME,
    STORAGES,
    RemoteInfo,
    scheme_of,
    storage_of_scheme,
)
from hdversion.paths import DEFAULT_LOCAL_REMOTE, LOCAL_REMOTE_DIR, TEMP_PREFIX

if TYPE_CHECKING:
    from dvc.repo import Repo

# Concurrent transfers to a bucket or container when its remote sets no `jobs`: boto3's
# TransferManager runs 10, the AWS CLI 10; latency, not CPU, is what they wait on.
OBJECT_STORE_JOBS = 16


class DvcSession:
    """The repository as DVC sees it, opened afresh for each operation."""

    def __init__(self, root: Path, local_remote: str,
                 credentials: CloudCredentials | None = None) -> None:
        check_repository(root)
        self.root = root
        self.local_remote = local_remote
        self.credentials = credentials or CloudCredentials()
        # The remotes as passed to DVC, computed once (DVC's config is re-read only after
        # add_remote changes it).
        self._overrides: dict[str, dict[str, Any]] | None = None
        self._cache_root: Path | None = None
        self._shared: _Shared | None = None
        self._remote_odbs: dict[str, Any] = {}
        self._objects_folders: dict[str, Path | None] = {}

    @contextmanager
    def open(self) -> Iterator[Repo]:
        os.environ.setdefault("DVC_NO_ANALYTICS", "1")
        from dvc.exceptions import DvcException
        from dvc.lock import LockError
        from dvc.repo import Repo

        # DVC narrates and draws progress bars of its own (its import sets these levels);
        # hdversion reports for itself.
        for name in ("dvc", "dvc_data", "dvc_objects"):
            logging.getLogger(name).setLevel(logging.ERROR)

        try:
            if self._shared is not None and self._shared.repo is not None:
                repo = self._shared.repo
            else:
                overrides = self._remote_config()
                repo = Repo(str(self.root),
                            config={"remote": overrides} if overrides else None)
                if self._shared is not None:
                    self._shared.repo = repo
        except DvcException as exc:
            raise ConfigurationError(f"DVC cannot open the repository: {exc}") from None
        repo.scm_context.quiet = True
        try:
            # Some DVC calls (commit, metrics, params) resolve paths against the cwd. DVC's
            # progress bars write to sys.stderr when it is a terminal; hdversion draws its own.
            with contextlib.chdir(self.root), open(os.devnull, "w") as null, \
                    contextlib.redirect_stderr(null), silenced_dvc():
                yield repo
        except LockError:
            raise LockedError(
                "a dvc command is running in this repository (DVC's lock is held)",
                hint="wait for it to finish, then run hdversion again",
            ) from None
        except DvcException as exc:
            # The one state DVC's own message leaves the user stuck in: every command
            # fails on it, `dvc repro` too, and the fix is a copy hdversion keeps.
            raise damaged_pointer_file(self.root, exc) or DataStoreError(
                f"DVC: {exc}") from None
        except sqlite3.OperationalError as exc:
            # DVC's state and index databases are the first writes to fail on a full disk.
            raise WriteError(f"DVC could not write its databases: {exc}",
                             hint="is the disk full? free space, then run hdversion again"
                             ) from None
        finally:
            if self._shared is not None:
                # Kept open for the rest of the operation: its caches (index, config, git
                # state) are dropped, so the next use sees what this one wrote.
                repo._reset()
            else:
                repo.close()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """One DVC Repo for every `open()` inside: a backup opened DVC some 20 times, at
        70 ms each. Nested uses share the outer one."""
        if self._shared is not None:
            yield
            return
        self._shared = _Shared()
        try:
            yield
        finally:
            shared, self._shared = self._shared, None
            if shared.repo is not None:
                shared.repo.close()

    def _remote_config(self) -> dict[str, dict[str, Any]]:
        if self._overrides is None:
            os.environ.setdefault("DVC_NO_ANALYTICS", "1")
            from dvc.config import Config
            from dvc.exceptions import DvcException

            # DVC's config as a Repo of this workspace reads it (system, global, the
            # repository's and its config.local), without opening a Repo just for it.
            dvc_dir = str(self.root / ".dvc")
            try:
                config = Config(dvc_dir, local_dvc_dir=dvc_dir)
            except DvcException as exc:
                raise ConfigurationError(f"DVC cannot open the repository: {exc}") from None
            self._overrides = self._remote_overrides(config)
        return self._overrides

    def remote_url(self, remote: str) -> str | None:
        """A remote's URL as DVC is given it (a directory's made absolute; the default local
        remote's included); None for a remote DVC does not know."""
        conf = self._remote_config().get(remote)
        return None if conf is None else str(conf["url"])

    def is_object_store(self, remote: str) -> bool:
        """Whether a remote is a cloud bucket or container (not a directory); False for a
        remote DVC does not know."""
        conf = self._remote_config().get(remote)
        return conf is not None and scheme_of(str(conf["url"])) != LOCAL_SCHEME

    def _remote_overrides(self, config: Any) -> dict[str, dict[str, Any]]:
        """Every remote in full, as the workspace's config has it: with `revs=[...]` DVC reads
        the config of that revision, which may lack remotes added since, or hold relative
        urls it then resolves against the wrong root."""
        configured = config["remote"]
        overrides: dict[str, dict[str, Any]] = {
            name: dict(conf) for name, conf in configured.items()
        }
        for storage in STORAGES:
            url = self.credentials.default_url(storage)
            if storage not in overrides and url:
                overrides[storage] = {"url": url}
        if self.local_remote not in overrides:
            if self.local_remote != DEFAULT_LOCAL_REMOTE:
                # A typo must not silently send backups somewhere nobody looks.
                raise ConfigurationError(
                    f"the setting backup.local_remote names '{self.local_remote}', but "
                    "DVC has no remote of that name",
                    hint=f"fix the name, or `hdversion remote add {self.local_remote} PATH`; "
                    f"remotes: {', '.join(sorted(overrides)) or 'none'}",
                )
            # The embedded default: a git-ignored directory in the repository.
            overrides[self.local_remote] = {"url": str(self.root / LOCAL_REMOTE_DIR)}
        for conf in overrides.values():
            if "://" not in conf["url"]:
                conf["url"] = str(Path(conf["url"]).resolve())
            scheme = scheme_of(conf["url"])
            if self.credentials.profile is not None and storage_of_scheme(scheme) == "s3":
                # The run's profile over whatever key the remote names (`prune --profile`).
                for key in S3_KEY_OPTIONS:
                    conf.pop(key, None)
            # Credentials from the file fill in what DVC's own config leaves open.
            for key, value in self.credentials.remote_options(scheme).items():
                if key == SSE_CUSTOMER_OPTION and any(k in conf for k in S3_ENCRYPTION_OPTIONS):
                    continue  # the remote names its own encryption: S3 takes one
                conf.setdefault(key, value)
            # DVC then re-hashes every download and drops a corrupt object.
            conf["verify"] = True
            if scheme_of(conf["url"]) != LOCAL_SCHEME:
                # Requests in flight at once: DVC's default (4 per CPU) leaves a bucket's
                # bandwidth idle on a small machine; `-o jobs=N` on the remote wins.
                conf.setdefault("jobs", OBJECT_STORE_JOBS)
        return overrides

    def remote_odb(self, repo: Repo, name: str) -> Any:
        """DVC's object database of a remote. A bucket's is made once per session: DVC makes
        a new SDK client for every Repo (0.25-0.5 s each on S3), and an operation opens
        several. Each use starts with the client's listing cache emptied, as a new client
        would: what a remote holds is never taken from an earlier listing."""
        odb = self._remote_odbs.get(name)
        if odb is None:
            try:
                odb = repo.cloud.get_remote_odb(name)
            except ImportError as exc:
                # DVC's registry of file systems raises it for a plugin not installed: the
                # user's set-up, not a bug, and every command that uses the remote comes here.
                url = str(repo.config["remote"][name]["url"])
                raise ConfigurationError(
                    plugin_needed(name, url),
                    hint=f"DVC: {exc.__cause__ or exc}") from None
            if not self.is_object_store(name):
                return odb
            self._remote_odbs[name] = odb
        else:
            odb.fs.fs.invalidate_cache()
        return odb

    # -- the cache -----------------------------------------------------------------------
    def cache_path(self, md5: str) -> Path:
        """Where DVC keeps an object: `dvc cache dir` may put the cache anywhere."""
        return self.cache_root().joinpath(md5[:2], md5[2:])

    def cache_root(self) -> Path:
        """The folder of the cache's objects (`<cache dir>/files/md5`)."""
        if self._cache_root is None:
            with self.open() as repo:
                self._cache_root = Path(repo.cache.local.path)
        return self._cache_root

    def local_objects_folder(self, remote: str) -> Path | None:
        """The folder of a remote that is a directory that holds its objects; None for a
        cloud remote, and for an encrypted one (its objects are sealed, never teed in)."""
        if remote in self._objects_folders:  # asked once per file of a restore
            return self._objects_folders[remote]
        if self._overrides is None:
            with self.open():
                pass
        conf = (self._overrides or {}).get(remote)
        folder = None if conf is None or scheme_of(str(conf["url"])) != LOCAL_SCHEME \
            else Path(str(conf["url"])) / "files" / "md5"
        if folder is not None and (folder.parent.parent / ENCRYPTION_CONFIG).exists():
            folder = None
        self._objects_folders[remote] = folder
        return folder

    def local_remote_encrypted(self) -> bool:
        """Whether the local remote is a directory holding an encryption config."""
        if self._overrides is None:
            with self.open():
                pass
        conf = (self._overrides or {}).get(self.local_remote)
        return conf is not None and scheme_of(str(conf["url"])) == LOCAL_SCHEME \
            and (Path(str(conf["url"])) / ENCRYPTION_CONFIG).exists()

    # -- guards --------------------------------------------------------------------------
    def ensure_idle(self) -> None:
        """LockedError (exit 6) while a dvc command (dvc repro...) holds DVC's lock: its
        outputs are being rewritten, so neither a backup nor a restore may start."""
        with self.open() as repo, repo.lock:
            pass

    def remove_stale_temp(self, remotes: Iterable[str] = ()) -> Leftovers:
        """Remove what killed runs left: the partial files (`model/leftovers.py`) in the
        cache, the local remote and the given remotes that are directories, hdversion's own
        staged writes in `.dvc/tmp`, and a DVC rwlock file cut short (see `_reset_rwlock`).
        Called under hdversion's lock; DVC's lock is taken here, so nothing in this
        repository is writing them. A store outside the repository may be shared with other
        clones: there, only files untouched for an hour go. Only the store folders written
        since the last run are listed (`datastore/partials.py`)."""
        removed: list[Path] = []
        with self.open() as repo, repo.lock:
            rwlock = _reset_rwlock(repo)
            stores = [Path(repo.cache.local.path)]
            for name in dict.fromkeys((self.local_remote, *remotes)):
                url = repo.config["remote"].get(name, {}).get("url", "")
                if url and scheme_of(str(url)) == LOCAL_SCHEME:
                    stores.append(Path(str(url)) / "files" / "md5")
            tmp_dir = Path(repo.tmp_dir)
            clean = load_clean(tmp_dir)
            record: Clean = dict(clean)  # other stores (a sync's remote) kept as they were
            for store in stores:
                inside = store.resolve().is_relative_to(self.root)
                gone, record[str(store)] = remove_partials(
                    store, 0 if inside else 3600, clean.get(str(store), {}))
                removed += gone
            if record != clean:
                save_clean(tmp_dir, record)
            # hdversion's staged writes (the outputs' hashed stats), made under its lock; DVC's
            # own files there (experiments' among them) are not ours to judge.
            for left in Path(repo.tmp_dir).glob(TEMP_PREFIX + "*"):
                if left.is_file() and not left.is_symlink():
                    left.unlink(missing_ok=True)
                    removed.append(left)
        return Leftovers(removed, rwlock)

    def ensure_remote(self, remote: str) -> None:
        """ConfigurationError (exit 7) unless DVC knows a remote of that name."""
        with self.open() as repo:
            check_remote(repo, remote)

    # -- remote configuration ------------------------------------------------------------
    def remotes(self) -> list[RemoteInfo]:
        with self.open() as repo:
            default = repo.config["core"].get("remote")
            return [
                RemoteInfo(name, str(conf["url"]), scheme_of(str(conf["url"])),
                           name == default, bool(conf.get("verify")))
                for name, conf in repo.config["remote"].items()
            ]

    def add_remote(self, name: str, url: str, options: dict[str, str]
                   ) -> dict[str, Any] | None:
        """Write a remote into .dvc/config (DVC's config stays the one source of truth);
        what .dvc/config had under that name before (None: nothing), for `put_back_remote`."""
        with self.open() as repo, repo.config.edit("repo") as conf:
            previous = conf["remote"].get(name)
            conf["remote"][name] = {"url": url, "verify": "true", **options}
        self._forget_remotes()
        return None if previous is None else dict(previous)

    def put_back_remote(self, name: str, previous: dict[str, Any] | None) -> None:
        """Undo `add_remote`: the section it replaced, or none."""
        with self.open() as repo, repo.config.edit("repo") as conf:
            if previous is None:
                conf["remote"].pop(name, None)
            else:
                conf["remote"][name] = previous
        self._forget_remotes()

    def _forget_remotes(self) -> None:
        self._overrides = None
        self._objects_folders = {}
        self._remote_odbs = {}
        if self._shared is not None and self._shared.repo is not None:
            self._shared.repo.close()  # it holds the remotes as they were
            self._shared.repo = None


class _Shared:
    repo: Repo | None = None


@dataclass(frozen=True)
class Leftovers:
    """What `remove_stale_temp` removed (for the caller to say: DVC's stderr is muted)."""

    partials: list[Path]
    rwlock: str | None  # why DVC's rwlock file was reset, or None


def _reset_rwlock(repo: Repo) -> str | None:
    """DVC rewrites `.dvc/tmp/rwlock` in place: a kill in that instant leaves it empty or cut
    short, and every DVC command then refuses to run until someone deletes it. A file DVC
    cannot read holds no valid lock, so it goes (DVC reads a missing one as no lock), under
    DVC's lock (the caller's) and the rwlock file's own, as DVC edits it."""
    from dvc.lock import make_lock
    from dvc.rwlock import RWLOCK_FILE, RWLOCK_LOCK, SCHEMA

    path = Path(repo.tmp_dir) / RWLOCK_FILE
    if not path.is_file():
        return None
    guard = make_lock(os.path.join(repo.tmp_dir, RWLOCK_LOCK), tmp_dir=repo.tmp_dir,
                      hardlink_lock=repo.config["core"].get("hardlink_lock", False))
    with guard:
        try:
            SCHEMA(json.loads(path.read_bytes()))
            return None
        except FileNotFoundError:
            return None
        except Exception as exc:  # JSON or schema errors: DVC refuses the file either way
            why = "empty" if path.stat().st_size == 0 else f"unreadable ({type(exc).__name__})"
        path.unlink()
    return why


def _plugin_module(scheme: str) -> str | None:
    """The module of DVC's plugin for a URL scheme (`dvc_gdrive`), None where DVC needs none."""
    from dvc_objects.fs import known_implementations

    entry = known_implementations.get(scheme)
    return str(entry["class"]).split(".", 1)[0] if entry and "err" in entry else None


def missing_plugin(name: str, url: str) -> str | None:
    """What the remote lacks when DVC's plugin for its scheme is not installed, else None."""
    module = _plugin_module(scheme_of(url))
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return plugin_needed(name, url)


def plugin_needed(name: str, url: str) -> str:
    scheme = scheme_of(url)
    package = (_plugin_module(scheme) or f"dvc_{scheme}").replace("_", "-")
    return f"remote '{name}' needs DVC's plugin for {scheme}:// URLs: pip install {package}"


def check_remote(repo: Repo, remote: str) -> None:
    if remote not in repo.config["remote"]:
        hint = (f"hdversion remote add {remote} URL, or set the bucket in "
                "config/cloud_credentials.json") if remote in STORAGES else \
            "see `hdversion remote list`"
        raise ConfigurationError(f"no DVC remote named '{remote}'", hint=hint)
