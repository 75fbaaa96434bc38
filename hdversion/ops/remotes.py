"""Storage remotes: DVC remotes by name (`s3`, `azure`, `gcp` or any other), their set-up,
a probe that proves one works, and which backups each holds completely."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hdversion.datastore import missing_plugin
from hdversion.errors import ConfigurationError, UsageError
from hdversion.model.catalog import Backup
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
                  "account_key", "sas_token", "client_secret", "password", "credentialpath")


@dataclass(frozen=True)
class ProbeReport:
    remote: str
    steps: list[tuple[str, bool, str]]

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


def remote_add(name: str, url: str, endpoint_url: str | None = None,
               options: dict[str, str] | None = None, path: Path | None = None,
               config: Path | None = None) -> RemoteInfo:
    project = Project.open(path, strict=False, config=config)
    with locked_operation(project, "remote-add", remote=name, url=url):
        info = add_remote(project, name, url, endpoint_url, options or {})
        project.journal("remote-add", "ok", remote=name, url=url)
        return info


def remote_list(path: Path | None = None, config: Path | None = None) -> list[RemoteInfo]:
    return Project.open(path, strict=False, config=config).store.remotes()


def remote_test(name: str, path: Path | None = None, config: Path | None = None
                ) -> ProbeReport:
    project = Project.open(path, strict=False, config=config)
    report = ProbeReport(name, project.store.probe(name))
    project.journal("remote-test", "ok" if report.ok else "error", remote=name)
    return report


def add_remote(project: Project, name: str, url: str, endpoint_url: str | None,
               options: dict[str, str]) -> RemoteInfo:
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
    project.store.add_remote(name, url, options)
    lacking = missing_plugin(name, url)
    if lacking:
        # Written all the same: the user may install the plugin next.
        log.warning("%s (every command that uses the remote refuses until then)", lacking)
    return next(r for r in project.store.remotes() if r.name == name)


def completeness(project: Project, remote: str, backups: list[Backup]) -> dict[str, int]:
    """How many objects each backup lacks in the remote, from one pass over its listing."""
    files = files_of_many(project.git, backups)
    needed = {b.tag: needed_objects(project, files[b.tag], b.manifest.outputs)
              for b in backups}
    wanted = {md5: size for objects in needed.values() for md5, size in objects.items()}
    lacking = project.store.missing_in_remote(remote, wanted)
    return {b.tag: len(needed[b.tag].keys() & lacking) for b in backups}
