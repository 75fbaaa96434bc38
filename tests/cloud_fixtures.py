"""pytest plugin: real S3 / Azure Blob / GCS servers on 127.0.0.1 (see tests/storage_servers.py).

Load with ``pytest_plugins = ["tests.cloud_fixtures"]`` in the top-level conftest.

- ``s3_server``, ``azure_server``, ``gcs_server``: session-scoped, each started the first time a
  test asks for it, stopped (child processes killed) at the end of the session.
- ``cloud_backend``: parametrized over ``s3``, ``azure``, ``gcp``; the running server object
  (satisfies ``storage_servers.Backend``).
- ``bucket``: a fresh bucket/container on ``cloud_backend``, deleted after the test.
- ``bucket_factory``: ``bucket_factory(server) -> name`` for more buckets, or for tests that use
  one server fixture directly.

A test that calls ``server.stop()`` to simulate an outage need not restart it: ``cloud_backend``
and the bucket fixtures start it again (same port, data kept) before and after each test.
"""

from __future__ import annotations

import atexit
import os
import tempfile

# Before anything imports gcsfs / botocore / DVC.
# Without this, gcsfs asks Google's control API (gRPC) on every open and hangs ~60 s per file.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # boto never probes 169.254.169.254
os.environ["NO_GCE_CHECK"] = "True"  # google-auth never probes the GCE metadata server
# No real cloud credentials may leak into a test: servers' credentials go into DVC remote
# config (--local) only.
for _var in (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
):
    os.environ.pop(_var, None)
# An empty file, not /dev/null: dvc-s3 parses AWS_CONFIG_FILE when it exists and botocore
# raises ConfigNotFound for anything that is not a regular file.
_fd, _EMPTY_AWS_CONFIG = tempfile.mkstemp(prefix="hdversion-empty-aws-config-")
os.close(_fd)
atexit.register(os.unlink, _EMPTY_AWS_CONFIG)
os.environ["AWS_CONFIG_FILE"] = _EMPTY_AWS_CONFIG
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = _EMPTY_AWS_CONFIG

import itertools  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import TypeVar  # noqa: E402

import pytest  # noqa: E402

from tests.storage_servers import (  # noqa: E402
    AzuriteServer,
    BackendName,
    GcsServer,
    S3Server,
    StorageServer,
)

BACKEND_NAMES: list[BackendName] = ["s3", "azure", "gcp"]
# The backends whose servers check credentials (the GCS emulator accepts any).
AUTHENTICATING: list[BackendName] = ["s3", "azure"]
_FIXTURE_OF: dict[BackendName, str] = {
    "s3": "s3_server",
    "azure": "azure_server",
    "gcp": "gcs_server",
}
_counter = itertools.count()
ServerT = TypeVar("ServerT", bound=StorageServer)


# Every credential a server accepts or refuses; after the session none may appear in what
# the tests' runs left behind (see no_secret_left_behind).
SECRETS: set[str] = set()


def _register_secrets(server: StorageServer) -> None:
    wrong = server.wrong_credentials_config() or {}
    for value in [*server.dvc_remote_config("any")[1].values(), *wrong.values()]:
        key = value.split("AccountKey=")[-1].split(";")[0] if "AccountKey=" in value else value
        if len(key) >= 12:
            SECRETS.add(key)


def _serve(server: ServerT) -> Iterator[ServerT]:
    try:
        server.start()
        _register_secrets(server)
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session", autouse=True)
def no_secret_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session: no credential in any file, journal, config or backup tag that a
    test's runs left, except the credentials files the tests themselves wrote."""
    yield
    if not SECRETS:
        return
    base = tmp_path_factory.getbasetemp()
    leaks: list[str] = []
    for path in base.rglob("*"):
        # Where users put secrets: hdversion's credentials file, DVC's local (ignored) config.
        if path.name in ("cloud_credentials.json", "config.local") \
                or "/.git/objects/" in path.as_posix():
            continue
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        data = path.read_bytes()
        leaks += [f"{path}" for secret in SECRETS if secret.encode() in data]
        if path.name == "HEAD" and path.parent.name == ".git":
            tags = subprocess.run(["git", "for-each-ref", "--format=%(contents)", "refs/tags"],
                                  cwd=path.parent.parent, capture_output=True, text=True)
            leaks += [f"{path.parent.parent} (a tag message)" for secret in SECRETS
                      if secret in tags.stdout]
    assert not leaks, f"credentials left behind in: {sorted(set(leaks))[:10]}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    yield from _serve(S3Server())


@pytest.fixture(scope="session")
def azure_server() -> Iterator[AzuriteServer]:
    yield from _serve(AzuriteServer())


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    yield from _serve(GcsServer())


@pytest.fixture(params=BACKEND_NAMES)
def cloud_backend(request: pytest.FixtureRequest) -> Iterator[StorageServer]:
    server: StorageServer = request.getfixturevalue(_FIXTURE_OF[request.param])
    server.start()  # no-op when running; restarts it if an earlier test left it stopped
    yield server
    server.start()


def new_bucket_name() -> str:
    """3-63 chars of [a-z0-9-], starting with a letter: valid for S3, Azure and GCS."""
    return f"hdv-{next(_counter):04d}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def bucket_factory() -> Iterator[Callable[[StorageServer], str]]:
    made: list[tuple[StorageServer, str]] = []

    def make(server: StorageServer) -> str:
        server.start()
        name = new_bucket_name()
        server.create_bucket(name)
        made.append((server, name))
        return name

    yield make
    for server, name in reversed(made):
        server.start()  # the test may have stopped it
        if isinstance(server, GcsServer):
            # Deleting objects one by one rewrites the emulator's whole metadata each time:
            # wipe all objects (buckets stay), then drop the now empty bucket.
            server.wipe(keep_buckets=True)
        server.delete_bucket(name)


@pytest.fixture
def bucket(cloud_backend: StorageServer, bucket_factory: Callable[[StorageServer], str]) -> str:
    """A fresh, empty bucket (Azure: container) on ``cloud_backend``."""
    return bucket_factory(cloud_backend)
