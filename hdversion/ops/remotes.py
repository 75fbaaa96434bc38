"""Storage remotes: DVC remotes by name (`s3`, `azure`, `gcp` or any other), their set-up,
a probe that proves one works, and which backups each holds completely."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from hdversion.datastore import missing_plugin
from hdversion.errors import ConfigurationError, HdversionError, UsageError
from hdversion.model.catalog import Backup
from hdversion.model.encryption_at_rest import AtRest
from hdversion.model.object_lock import BucketLock, LockPolicy
from hdversion.model.storages import (
    DVC_SCHEMES,
    LOCAL_SCHEME,
    STORAGES,
    RemoteInfo,
    scheme_of,
    url_prefix,
)
from hdversion.ops.catalog import files_of_many
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.push import needed_objects
from hdversion.util.log import log

# Never written to the tracked .dvc/config: they belong in the credentials file, the
# environment, or `dvc remote modify --local`.
SECRET_OPTIONS = ("secret_access_key", "access_key_id", "session_token", "connection_string",
                  "account_key", "sas_token", "client_secret", "password", "credentialpath",
                  "sse_customer_key")


# hdversion's own remote options (`-o lock=30d -o lock_mode=compliance`): DVC's config
# refuses keys it does not know, so they are never written there; the lock is kept in the
# remote itself (model/object_lock.py, LOCK_KEY).
LOCK_OPTIONS = ("lock", "lock_mode")


@dataclass(frozen=True)
class ProbeReport:
    remote: str
    steps: list[tuple[str, bool, str]]
    lock: BucketLock | None = None  # what the bucket says about keeping objects
    lock_error: str = ""  # why that could not be read
    at_rest: AtRest | None = None  # how its bytes are encrypted at rest
    at_rest_error: str = ""  # why that could not be read

    @property
    def ok(self) -> bool:
        # A "folder" step before them only says the first write makes the folder.
        return [(step, ok) for step, ok, _ in self.steps if step != "folder"] == [
            ("write", True), ("read back", True), ("delete", True)]

    def failure(self) -> ConfigurationError | None:
        if self.ok:
            return None
        step, _, detail = next((s for s in self.steps if not s[1]), ("test", False, ""))
        return ConfigurationError(f"remote {self.remote} does not work: {step} failed"
                                  + (f": {detail}" if detail else ""))


def remote_add(name: str, *, url: str, endpoint_url: str | None = None,
               options: dict[str, str] | None = None, repo: Path | None = None,
               config: Path | None = None, lock: str | None = None,
               lock_mode: str | None = None, encrypt: bool = False) -> RemoteInfo:
    """Add (or replace) a remote. `lock` (a duration, e.g. 30d) and `lock_mode` (governance,
    the default, or compliance): every write to it carries an S3 Object Lock retention.
    `encrypt`: the remote (which must be empty) is made encrypted, its first key a new key
    file in the default key folder (`key_file` of the result); nothing is added if it
    cannot be."""
    project = Project.open(repo, strict=False, config=config)
    options = dict(options or {})
    given = {key: options.pop(key) for key in LOCK_OPTIONS if key in options}
    lock = lock or given.get("lock")
    lock_mode = lock_mode or given.get("lock_mode")
    policy = _lock_policy(url, lock, lock_mode)
    with locked_operation(project, "remote-add", remote=name, url=url):
        info = add_remote(project, name, url, endpoint_url, options, policy, encrypt)
        project.journal("remote-add", "ok", remote=name, url=url,
                        lock=None if policy is None else f"{policy.retention} {policy.mode}",
                        encrypted=encrypt)
        return info


def _lock_policy(url: str, lock: str | None, mode: str | None) -> LockPolicy | None:
    """The lock asked for, checked before anything is written (exit 2)."""
    if lock is None:
        if mode is not None:
            raise UsageError("--lock-mode needs --lock DURATION")
        return None
    policy = LockPolicy.parse(lock, mode)
    scheme = LOCAL_SCHEME if url.startswith(("/", ".")) else scheme_of(url).lower()
    if scheme != "s3":
        kind = {LOCAL_SCHEME: "a directory", "file": "a directory",
                "azure": "an Azure container", "gs": "a GCS bucket"}.get(
                    scheme, f"a {scheme}:// remote")
        raise UsageError(f"--lock is for an S3 bucket with Object Lock; {url!r} is {kind}",
                         hint="Azure and GCS keep objects by the container's or bucket's "
                              "immutability policy, set outside hdversion; `hdversion "
                              "remote test NAME` reports it")
    return policy


def remote_list(*, repo: Path | None = None, config: Path | None = None) -> list[RemoteInfo]:
    return Project.open(repo, strict=False, config=config).store.remotes()


def remote_test(name: str, *, repo: Path | None = None, config: Path | None = None
                ) -> ProbeReport:
    project = Project.open(repo, strict=False, config=config)
    steps = project.store.probe(name)
    lock, lock_error = None, ""
    at_rest, at_rest_error = None, ""
    if any(step != "connect" for step, _, _ in steps):
        try:
            lock = project.store.lock_report(name)
        except HdversionError as exc:
            lock_error = exc.message
    if all(ok for _, ok, _ in steps):
        try:
            at_rest = project.store.at_rest(name)
        except HdversionError as exc:
            at_rest_error = exc.message
    report = ProbeReport(name, steps, lock, lock_error, at_rest, at_rest_error)
    project.journal("remote-test", "ok" if report.ok else "error", remote=name)
    return report


def add_remote(project: Project, name: str, url: str, endpoint_url: str | None,
               options: dict[str, str], lock: LockPolicy | None = None,
               encrypt: bool = False) -> RemoteInfo:
    if not name.strip():
        raise UsageError("a remote needs a name", hint="e.g. `hdversion remote add nas PATH`")
    if "://" not in url and not url.startswith(("/", ".")):
        prefixes = ", ".join(url_prefix(s) for s in STORAGES)
        raise UsageError(f"remote URL {url!r} needs a scheme ({prefixes}) or a path")
    scheme = LOCAL_SCHEME if url.startswith(("/", ".")) else scheme_of(url)
    if scheme != LOCAL_SCHEME and scheme.lower() not in DVC_SCHEMES:
        raise UsageError(f"unsupported URL scheme {scheme!r} in remote URL {url!r}",
                         hint=f"use one of {', '.join(s + '://' for s in DVC_SCHEMES)}, "
                              "or a path")
    if scheme != LOCAL_SCHEME and not urlsplit(url).netloc:
        # DVC takes `s3://` alone, then every command fails with "no remote specified".
        raise UsageError(f"remote URL {url!r} names no bucket or host after {scheme}://")
    expected = url_prefix(name) if name in STORAGES else None
    if expected and not url.startswith(expected):
        raise UsageError(f"the remote named '{name}' must be a {expected} URL, got {url!r}")
    leaked = sorted(k for k in options if k in SECRET_OPTIONS)
    if leaked:
        raise UsageError(
            f"refusing to write secret option(s) {', '.join(leaked)} to the tracked "
            ".dvc/config",
            hint="put them in config/cloud_credentials.json, the environment, or "
                 "`dvc remote modify --local`",
        )
    if endpoint_url:
        options = {**options, "endpointurl": endpoint_url}
    previous = project.store.add_remote(name, url, options)
    key_file = None
    try:
        if lock is not None:
            # The bucket must have Object Lock: asked through the remote just written (its
            # endpoint, profile and credentials), which is put back as it was if not.
            project.store.lock_remote(name, lock)
        if encrypt:
            from hdversion.ops.keys import init_keys

            key_file = init_keys(project, name).key_file
    except BaseException:
        project.store.put_back_remote(name, previous)
        raise
    lacking = missing_plugin(name, url)
    if lacking:
        # Written all the same: the user may install the plugin next.
        log.warning("%s (every command that uses the remote refuses until then)", lacking)
    info = next(r for r in project.store.remotes() if r.name == name)
    return info if key_file is None else replace(info, key_file=key_file)


def completeness(project: Project, remote: str, backups: list[Backup]) -> dict[str, int]:
    """How many objects each backup lacks in the remote, from one pass over its listing."""
    files = files_of_many(project.git, backups)
    needed = {b.tag: needed_objects(project, files[b.tag], b.manifest.outputs)
              for b in backups}
    wanted = {md5: size for objects in needed.values() for md5, size in objects.items()}
    lacking = project.store.missing_in_remote(remote, wanted)
    return {b.tag: len(needed[b.tag].keys() & lacking) for b in backups}
