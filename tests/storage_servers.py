"""Real storage servers on 127.0.0.1 for tests: moto (S3), Azurite (Azure Blob), GCS emulator.

Plain module, no pytest. Each server class:

- ``start()`` / ``stop()``; ``stop()`` then ``start()`` again reuses the SAME port and keeps the
  stored data (moto keeps it in this process; Azurite and the GCS emulator are started on a data
  directory, not in memory), so a test can simulate an outage in the middle of a run.
- ``endpoint`` (``http://127.0.0.1:PORT``), bucket helpers (``create_bucket``, ``delete_bucket``,
  ``list_keys``, ``read_object``, ``corrupt_object``, ``delete_object``).
- the :class:`Backend` part: ``name``, ``url_for()``, ``dvc_remote_config()``,
  ``wrong_credentials_config()`` and ``rejects_wrong_credentials``.

Child processes (Azurite, GCS emulator) run in their own process group, get SIGKILL if the test
process dies (``PR_SET_PDEATHSIG``), and are stopped by an ``atexit`` hook as a last resort.
"""

from __future__ import annotations

import abc
import atexit
import base64
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import requests

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient
    from moto.server import ThreadedMotoServer
    from mypy_boto3_s3 import S3Client

BackendName = Literal["s3", "azure", "gcp"]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = Path(
    os.environ.get("HDVERSION_AZURITE_BLOB", REPO_ROOT / "node_modules" / ".bin" / "azurite-blob")
)
START_TIMEOUT = 30.0

# Public, documented development account of Azurite / the Azure storage emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# A well-formed key (base64, 64 bytes) that Azurite refuses: 403 AuthorizationFailure.
AZURITE_WRONG_KEY = base64.b64encode(b"hdversion-wrong-key".ljust(64, b"x")).decode()

S3_REGION = "us-east-1"
S3_WRONG_KEY_ID = "AKIAHDVERSIONWRONG00"
S3_WRONG_SECRET = "wrong-secret-access-key-for-tests"


@runtime_checkable
class Backend(Protocol):
    """What a test needs to point DVC (or hdversion) at one storage server."""

    name: BackendName
    #: False when the server accepts any credentials (the GCS emulator).
    rejects_wrong_credentials: bool

    @property
    def endpoint(self) -> str: ...

    def url_for(self, bucket: str, prefix: str = "") -> str:
        """Remote URL: ``s3://bucket/prefix``, ``azure://container/prefix``, ``gs://...``."""
        ...

    def dvc_remote_config(self, bucket: str) -> tuple[dict[str, str], dict[str, str]]:
        """(public, secret) options: ``dvc remote modify R k v`` / ``... --local R k v``."""
        ...

    def wrong_credentials_config(self) -> dict[str, str] | None:
        """Secret options the server refuses (None when it accepts anything)."""
        ...

    def create_bucket(self, name: str) -> None: ...

    def delete_bucket(self, name: str) -> None: ...

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]: ...

    def read_object(self, bucket: str, key: str) -> bytes: ...

    def corrupt_object(self, bucket: str, key: str, data: bytes) -> None: ...

    def delete_object(self, bucket: str, key: str) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


# --------------------------------------------------------------------------------------------
# process plumbing


_LIVE: set[StorageServer] = set()


def _stop_all_at_exit() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_all_at_exit)

_PR_SET_PDEATHSIG = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child when the process that started it dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class ChildProcess:
    """A server subprocess in its own process group, output going to a log file."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # own process group: killpg gets any grandchildren too
            preexec_fn=_die_with_parent,
        )

    def output(self) -> str:
        """Output of the current run so far."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_running(self, what: str) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {self.proc.returncode}:\n{self.output()[-3000:]}"
            )

    def stop(self, grace: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:  # not reaped yet: its pgid is ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)  # pgid == pid (start_new_session)
            if not _exited_unreaped(proc.pid, grace):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                _exited_unreaped(proc.pid, grace)
            # The leader is a zombie now, so its pgid cannot have been reused: kill leftovers.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None


def _exited_unreaped(pid: int, timeout: float) -> bool:
    """Wait until child pid has exited, without reaping it (it stays a zombie)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _wait_until(check: Any, what: str, timeout: float = START_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    delay = 0.02
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, requests.RequestException) as exc:
            last_error = exc
            result = None
        if result:
            return result
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s (last error: {last_error!r})")


# --------------------------------------------------------------------------------------------
# common base


class StorageServer(abc.ABC):
    name: BackendName
    scheme: str
    rejects_wrong_credentials: bool = True

    def __init__(self) -> None:
        self.port: int | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hdversion-{self.name}-server-"))
        self.started_seconds: float | None = None  # duration of the last start()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Start (or restart on the same port, keeping the data); returns once it answers."""
        if self.is_running():
            return
        self._stop()  # clean up after a crashed child, if any
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._stop()
            raise
        _LIVE.add(self)
        self.started_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the server; connections are refused afterwards. Idempotent."""
        try:
            self._stop()
        finally:
            _LIVE.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """``with server.outage(): ...``: connections refused inside, same server after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def close(self) -> None:
        """Stop for good and delete the data directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> StorageServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def _start(self) -> None: ...

    @abc.abstractmethod
    def _stop(self) -> None: ...

    @abc.abstractmethod
    def is_running(self) -> bool: ...

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} was never started")
        return f"http://{HOST}:{self.port}"

    # -- Backend ------------------------------------------------------------------------------
    def url_for(self, bucket: str, prefix: str = "") -> str:
        prefix = prefix.strip("/")
        return f"{self.scheme}://{bucket}/{prefix}" if prefix else f"{self.scheme}://{bucket}"

    @abc.abstractmethod
    def dvc_remote_config(self, bucket: str) -> tuple[dict[str, str], dict[str, str]]: ...

    @abc.abstractmethod
    def wrong_credentials_config(self) -> dict[str, str] | None: ...

    # -- data helpers -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_bucket(self, name: str) -> None: ...

    @abc.abstractmethod
    def delete_bucket(self, name: str) -> None:
        """Delete the bucket and everything in it; no error if it does not exist."""

    @abc.abstractmethod
    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Sorted object keys under prefix."""

    @abc.abstractmethod
    def read_object(self, bucket: str, key: str) -> bytes: ...

    @abc.abstractmethod
    def corrupt_object(self, bucket: str, key: str, data: bytes) -> None:
        """Overwrite an object's bytes (creates it if missing)."""

    @abc.abstractmethod
    def delete_object(self, bucket: str, key: str) -> None: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.port and self.endpoint}>"


# --------------------------------------------------------------------------------------------
# S3: moto, in-process


class S3Server(StorageServer):
    """moto's ThreadedMotoServer in this process.

    Data lives in moto's global backends, so it survives ``stop()``/``start()`` (same port).
    With ``enforce_auth`` (default) moto checks SigV4 signatures against an IAM user created at
    first start (policy: allow everything): wrong keys get 403 InvalidAccessKeyId /
    SignatureDoesNotMatch. That switch (``INITIAL_NO_AUTH_ACTION_COUNT``) is global to moto in
    this process; ``stop()`` puts it back. Do not call ``POST /moto-api/reset`` on it: that also
    deletes the IAM user, after which every request is refused.
    """

    name: BackendName = "s3"
    scheme = "s3"

    def __init__(self, enforce_auth: bool = True) -> None:
        super().__init__()
        self.enforce_auth = enforce_auth
        self.rejects_wrong_credentials = enforce_auth
        self.access_key_id = "testing"
        self.secret_access_key = "testing"
        self._server: ThreadedMotoServer | None = None
        self._iam_ready = False
        self._client: S3Client | None = None
        self._saved_auth_count: float | None = None

    def _start(self) -> None:
        from moto import settings as moto_settings
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request
        server = ThreadedMotoServer(ip_address=HOST, port=self.port or 0, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        _wait_until(lambda: requests.get(f"{self.endpoint}/moto-api/", timeout=2).ok, "moto server")
        if self.enforce_auth:
            if not self._iam_ready:
                self._create_iam_user()
            if self._saved_auth_count is None:
                self._saved_auth_count = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
            self._set_auth_count(0)

    def _create_iam_user(self) -> None:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name=S3_REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        self._set_auth_count(float("inf"))
        iam.create_user(UserName="hdversion-tests")
        key = iam.create_access_key(UserName="hdversion-tests")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="hdversion-tests", PolicyName="all", PolicyDocument=json.dumps(policy)
        )
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        self._client = None
        self._iam_ready = True

    def _set_auth_count(self, count: float) -> None:
        body = "inf" if count == float("inf") else str(int(count))
        resp = requests.post(f"{self.endpoint}/moto-api/reset-auth", data=body, timeout=5)
        resp.raise_for_status()

    def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # shutdown + join; werkzeug closes the listening socket
        if self._saved_auth_count is not None:
            from moto import settings as moto_settings

            moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = self._saved_auth_count
            self._saved_auth_count = None

    def is_running(self) -> bool:
        return self._server is not None

    def dvc_remote_config(self, bucket: str) -> tuple[dict[str, str], dict[str, str]]:
        public = {"endpointurl": self.endpoint, "region": S3_REGION}
        secret = {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}
        return public, secret

    def wrong_credentials_config(self) -> dict[str, str] | None:
        if not self.enforce_auth:
            return None
        return {"access_key_id": S3_WRONG_KEY_ID, "secret_access_key": S3_WRONG_SECRET}

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                region_name=S3_REGION,
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
            )
        return self._client

    def create_bucket(self, name: str) -> None:
        self.client.create_bucket(Bucket=name)

    def delete_bucket(self, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            keys = self.list_keys(name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                return
            raise
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(
                Bucket=name, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]}
            )
        self.client.delete_bucket(Bucket=name)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read_object(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def corrupt_object(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete_object(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


# --------------------------------------------------------------------------------------------
# Azure Blob: Azurite, subprocess


class AzuriteServer(StorageServer):
    """``azurite-blob`` (npm, 3.35.0 on Node 20) as a subprocess.

    Stores its data under ``workdir`` (``--location``), not in memory, so that ``stop()`` (SIGTERM,
    Azurite saves and exits) then ``start()`` on the same port keeps the containers.
    Pass ``in_memory=True`` for ``--inMemoryPersistence`` (data lost on stop).
    """

    name: BackendName = "azure"
    scheme = "azure"

    def __init__(self, in_memory: bool = False, binary: Path = AZURITE_BIN,
                 debug_log: bool = False) -> None:
        super().__init__()
        self.in_memory = in_memory
        self.debug_log = debug_log  # every request's line in `debug_log_path`, to count them
        self.binary = binary
        self._proc: ChildProcess | None = None
        self._service: BlobServiceClient | None = None

    def _start(self) -> None:
        if not self.binary.exists():
            raise RuntimeError(f"Azurite not found at {self.binary} (npm install azurite@3.35.0)")
        argv = [
            str(self.binary),
            "--blobHost", HOST,
            "--blobPort", str(self.port or 0),
            "--disableTelemetry",  # else it calls home and logs ENOTFOUND
            "--skipApiVersionCheck",  # else newer azure-storage-blob API versions get 400
            "--silent",  # no access log; the "listens on" line is still printed
        ]  # fmt: skip
        if self.debug_log:
            argv += ["--debug", str(self.debug_log_path)]
        if self.in_memory:
            argv.append("--inMemoryPersistence")
        else:
            argv += ["--location", str(self.workdir / "data")]
        self._proc = ChildProcess(argv, self.workdir / "azurite.log")
        self._proc.start()
        proc = self._proc

        def listening_port() -> int | None:
            proc.check_running("Azurite")
            marker = f"successfully listens on http://{HOST}:"
            for line in proc.output().splitlines():
                if marker in line:
                    return int(line.split(marker, 1)[1].strip().rstrip("/"))
            return None

        self.port = _wait_until(listening_port, "Azurite")
        self._service = None
        _wait_until(lambda: port_accepts(self.port or 0), "Azurite port")

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.running()

    @property
    def debug_log_path(self) -> Path:
        return self.workdir / "debug.log"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT};"
        )

    def dvc_remote_config(self, bucket: str) -> tuple[dict[str, str], dict[str, str]]:
        return {}, {"connection_string": self.connection_string()}

    def wrong_credentials_config(self) -> dict[str, str] | None:
        return {"connection_string": self.connection_string(AZURITE_WRONG_KEY)}

    @property
    def service(self) -> BlobServiceClient:
        if self._service is None:
            from azure.storage.blob import BlobServiceClient

            self._service = BlobServiceClient.from_connection_string(self.connection_string())
        return self._service

    def create_bucket(self, name: str) -> None:
        self.service.create_container(name)

    def delete_bucket(self, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.service.delete_container(name)  # deletes the blobs with it

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        container = self.service.get_container_client(bucket)
        return sorted(b.name for b in container.list_blobs(name_starts_with=prefix or None))

    def read_object(self, bucket: str, key: str) -> bytes:
        return self.service.get_blob_client(bucket, key).download_blob().readall()

    def corrupt_object(self, bucket: str, key: str, data: bytes) -> None:
        self.service.get_blob_client(bucket, key).upload_blob(data, overwrite=True)

    def delete_object(self, bucket: str, key: str) -> None:
        self.service.get_blob_client(bucket, key).delete_blob()


# --------------------------------------------------------------------------------------------
# GCS: gcp-storage-emulator, subprocess


class GcsServer(StorageServer):
    """``gcp-storage-emulator`` as a subprocess on a port picked here (it cannot report port 0).

    Serves one request at a time and slows down as it fills (it re-serialises all metadata on
    every write): delete buckets / ``wipe()`` between tests. Accepts any credentials.
    Stores under ``workdir`` (``--data-dir``) so that ``stop()``/``start()`` keeps the data;
    ``in_memory=True`` for ``--in-memory``. Buckets made by ``create_bucket`` get soft delete
    switched off (the emulator, like GCS, keeps deleted objects for 7 days by default).
    """

    name: BackendName = "gcp"
    scheme = "gs"
    rejects_wrong_credentials = False

    def __init__(self, in_memory: bool = False) -> None:
        super().__init__()
        self.in_memory = in_memory
        self._proc: ChildProcess | None = None
        self._http = requests.Session()

    def _start(self) -> None:
        self.port = self.port or free_port()
        argv = [
            sys.executable, str(Path(__file__).with_name("gcs_emulator.py")),
            "--data-dir", str(self.workdir / "data"),
            "start", "--host", HOST, "--port", str(self.port), "--quiet",
        ]  # fmt: skip
        if self.in_memory:
            argv.append("--in-memory")
        self._http = requests.Session()
        self._proc = ChildProcess(argv, self.workdir / "gcs-emulator.log")
        self._proc.start()
        proc = self._proc

        def ready() -> bool:
            proc.check_running("gcp-storage-emulator")
            return requests.get(f"{self.endpoint}/", timeout=2).text == "OK"

        _wait_until(ready, "gcp-storage-emulator")

    def _stop(self) -> None:
        self._http.close()
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.running()

    def dvc_remote_config(self, bucket: str) -> tuple[dict[str, str], dict[str, str]]:
        return {"endpointurl": self.endpoint, "allow_anonymous_login": "true"}, {}

    def wrong_credentials_config(self) -> dict[str, str] | None:
        return None  # the emulator has no authentication at all

    def wipe(self, keep_buckets: bool = False) -> None:
        query = "?keep-buckets=true" if keep_buckets else ""
        self._request("GET", f"/wipe{query}")

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        resp = self._http.request(method, f"{self.endpoint}{path}", timeout=30, **kwargs)
        resp.raise_for_status()
        return resp

    @staticmethod
    def _q(key: str) -> str:
        return urllib.parse.quote(key, safe="")

    def create_bucket(self, name: str) -> None:
        self._request("POST", "/storage/v1/b", params={"project": "test"}, json={"name": name})
        self._request(
            "PATCH",
            f"/storage/v1/b/{name}",
            json={"softDeletePolicy": {"retentionDurationSeconds": "0"}},
        )

    def delete_bucket(self, name: str) -> None:
        try:
            keys = self.list_keys(name)
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return
            raise
        for key in keys:
            self.delete_object(name, key)
        self._request("DELETE", f"/storage/v1/b/{name}")

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        params: dict[str, str] = {"prefix": prefix} if prefix else {}
        while True:
            data = self._request("GET", f"/storage/v1/b/{bucket}/o", params=params).json()
            keys += [item["name"] for item in data.get("items", [])]
            token = data.get("nextPageToken")
            if not token:
                return sorted(keys)
            params["pageToken"] = token

    def read_object(self, bucket: str, key: str) -> bytes:
        path = f"/storage/v1/b/{bucket}/o/{self._q(key)}"
        return self._request("GET", path, params={"alt": "media"}).content

    def corrupt_object(self, bucket: str, key: str, data: bytes) -> None:
        self._request(
            "POST",
            f"/upload/storage/v1/b/{bucket}/o",
            params={"uploadType": "media", "name": key},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def delete_object(self, bucket: str, key: str) -> None:
        self._request("DELETE", f"/storage/v1/b/{bucket}/o/{self._q(key)}")


SERVER_CLASSES: dict[BackendName, type[StorageServer]] = {
    "s3": S3Server,
    "azure": AzuriteServer,
    "gcp": GcsServer,
}
