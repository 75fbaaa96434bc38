"""Storage remotes: DVC remotes by name (`s3`, `azure`, `gcp` or any other), their set-up,
a probe that proves one works, which backups each holds, and sync to fill the gaps."""

from __future__ import annotations

from dataclasses import dataclass

from hdversion.backup import RemoteOutcome, dvc_objects, publish_tags, push_to_remote
from hdversion.catalog import Backup, Catalog
from hdversion.datastore import RemoteInfo
from hdversion.errors import UsageError
from hdversion.project import Project

SCHEMES = {"s3": "s3://", "azure": "azure://", "gcp": "gs://"}
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
        return [(step, ok) for step, ok, _ in self.steps] == [
            ("write", True), ("read back", True), ("delete", True)]


@dataclass(frozen=True)
class SyncReport:
    remote: str
    already_complete: list[str]
    pushed: dict[str, RemoteOutcome]  # by backup tag
    git_remote: RemoteOutcome

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.pushed.values()) and self.git_remote.ok


def add_remote(project: Project, name: str, url: str, endpoint_url: str | None,
               options: dict[str, str]) -> RemoteInfo:
    if "://" not in url and not url.startswith(("/", ".")):
        raise UsageError(f"remote URL {url!r} needs a scheme (s3://, azure://, gs://) or a path")
    expected = SCHEMES.get(name)
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
    return next(r for r in project.store.remotes() if r.name == name)


def probe(project: Project, name: str) -> ProbeReport:
    return ProbeReport(name, project.store.probe_remote(name))


def completeness(project: Project, remote: str, backups: list[Backup]) -> dict[str, int]:
    """How many objects each backup lacks in the remote, from one pass over its listing."""
    wanted = {md5: size for b in backups for md5, size in dvc_objects(b).items()}
    lacking = project.store.missing_in_remote(remote, wanted)
    return {b.tag: len(dvc_objects(b).keys() & lacking) for b in backups}


def sync(project: Project, remote: str) -> SyncReport:
    """Push every backup the remote lacks (oldest first), checked against its listing."""
    backups = list(reversed(Catalog.read(project.git).backups))
    gaps = completeness(project, remote, backups)
    done = [b.tag for b in backups if gaps[b.tag] == 0]
    pushed = {b.tag: push_to_remote(project, b, remote) for b in backups if gaps[b.tag]}
    tags = publish_tags(project, [b.tag for b in backups])
    return SyncReport(remote, done, pushed, tags)
