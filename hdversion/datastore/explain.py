"""Explaining what DVC and the cloud SDKs say, and failing fast on a dead endpoint.

Failures are classified by the SDKs' exception types (found anywhere in the exception's
chain), not by the words of their messages: "credentials missing" and "credentials refused"
are different fixes, and neither is "the bucket does not exist"."""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hdversion.errors import DamagedPointerFileError, RemoteError
from hdversion.model.pointers import is_pointer_file
from hdversion.util.redact import redact

if TYPE_CHECKING:
    from dvc.repo import Repo

# botocore ClientError codes, and HTTP statuses, that mean the credentials were refused.
_REFUSED_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                  "InvalidClientTokenId", "ExpiredToken", "AuthorizationFailure",
                  "AuthenticationFailed", "InvalidToken"}
_REFUSED_STATUS = {401, 403}


# A local store that cannot take a file: the fix is the user's (space, permissions).
WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG,
                errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST}


DVC_LOGGERS = ("dvc", "dvc_data", "dvc_objects")


@contextmanager
def silenced_dvc() -> Iterator[None]:
    """DVC's own console handlers (bound to the real stderr when DVC was imported) are set
    aside while DVC runs: hdversion explains failures itself, in its own words."""
    loggers = [logging.getLogger(name) for name in DVC_LOGGERS]
    saved = [logger.handlers[:] for logger in loggers]
    for logger in loggers:
        logger.handlers = []
    try:
        yield
    finally:
        for logger, handlers in zip(loggers, saved, strict=True):
            logger.handlers = handlers


def write_error_in(errors: list[BaseException]) -> OSError | None:
    """The first error that says a local store cannot take a file."""
    for error in errors:
        for link in exception_chain(error):
            if isinstance(link, OSError) and link.errno in WRITE_ERRNOS:
                return link
    return None


def damaged_pointer_file(root: Path, exc: BaseException) -> DamagedPointerFileError | None:
    """The workspace's pointer file (dvc.lock, a .dvc file) that DVC could not read, if that
    is what `exc` is (by DVC's exception types), else None. The file is read again here
    with DVC's own loader: a damaged copy in a revision DVC was reading is not the
    workspace's."""
    from dvc.dvcfile import Lockfile, SingleStageFile
    from dvc.utils.serialize import EncodingError, ParseError
    from dvc.utils.strictyaml import YAMLSyntaxError, YAMLValidationError, load

    if not isinstance(exc, ParseError | YAMLValidationError):
        return None
    try:
        relative = Path(os.path.normpath(root / exc.path)).relative_to(root).as_posix()
    except ValueError:
        return None
    if not is_pointer_file(relative):
        return None
    schema = Lockfile.SCHEMA if relative.endswith("dvc.lock") else SingleStageFile.SCHEMA
    try:
        load(str(root / relative), schema)
    except YAMLValidationError as again:
        return DamagedPointerFileError(
            relative, "empty" if not again.text.strip() else "not in DVC's format")
    except YAMLSyntaxError:
        return DamagedPointerFileError(relative, "not valid YAML")
    except EncodingError:
        return DamagedPointerFileError(relative, "not valid UTF-8")
    except (ParseError, OSError):
        return None
    return None


def check_reachable(repo: Repo, remote: str) -> None:
    """Fail in seconds on an endpoint that refuses connections: the SDKs retry a dead
    endpoint for up to a minute and a half (Azure) before they give up."""
    probe_endpoint(endpoint_of(repo.config["remote"][remote]), f"remote '{remote}'")


def probe_endpoint(endpoint: str | None, what: str) -> None:
    """RemoteError within 5 s unless `endpoint` (if any) accepts a TCP connection."""
    if endpoint is None:
        return
    parsed = urlsplit(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=5):
            pass
    except OSError as exc:
        raise RemoteError(
            redact(f"cannot reach {what} at {endpoint}: {exc.strerror or exc}")) from None


def classify(exc: BaseException) -> str | None:
    """'missing', 'refused' (credentials), 'unreachable', or None, from exception types."""
    for link in exception_chain(exc):
        kind = _classify_one(link)
        if kind is not None:
            return kind
    return None


def _classify_one(exc: BaseException) -> str | None:
    module = type(exc).__module__
    names = {cls.__name__ for cls in type(exc).__mro__}
    if module.startswith("botocore"):
        # A profile the remote names that no AWS file has: its credentials are missing.
        if names & {"NoCredentialsError", "PartialCredentialsError", "ProfileNotFound"}:
            return "missing"
        if "ClientError" in names:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in _REFUSED_CODES:
                return "refused"
        if names & {"EndpointConnectionError", "ConnectTimeoutError"}:
            return "unreachable"
    if module.startswith("azure.core"):
        if "ClientAuthenticationError" in names or (
                "HttpResponseError" in names
                and getattr(exc, "status_code", None) in _REFUSED_STATUS):
            return "refused"
        if "ServiceRequestError" in names:
            return "unreachable"
    if module.startswith("google.auth") and "DefaultCredentialsError" in names:
        return "missing"
    if module.startswith(("google", "gcsfs")) and getattr(exc, "code", None) in _REFUSED_STATUS:
        return "refused"
    if isinstance(exc, PermissionError):
        return "refused"  # s3fs and adlfs turn refused credentials into PermissionError
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return "unreachable"
    return None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during (an SDK may wrap ours)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(repo: Repo, remote: str, exc: BaseException) -> str:
    """Turn what DVC and the SDKs say into what the user needs to know."""
    url = str(repo.config["remote"][remote]["url"])
    # The SDKs put whole response bodies (XML) into their messages: the first line says it.
    text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    kind = classify(exc)
    if kind == "missing":
        return redact(f"credentials missing for {url}: none in "
                      "config/cloud_credentials.json, the environment or the SDK's profile "
                      f"({text})")
    if kind == "refused":
        return redact(f"credentials refused for {url} ({text})")
    if kind == "unreachable":
        return redact(f"cannot reach {url} ({text})")
    try:
        # The SDKs answer "does not exist" also when they cannot connect: ask only once
        # the endpoint is known to answer.
        check_reachable(repo, remote)
    except RemoteError as unreachable:
        return redact(f"{unreachable.message} ({text})")
    try:
        odb = repo.cloud.get_remote_odb(remote)
        bucket = urlsplit(url).netloc if "://" in url else None
        if bucket:
            odb.fs.fs.ls(bucket, detail=False)
    except FileNotFoundError:
        kind = "container" if url.startswith("azure://") else "bucket"
        return f"the {kind} '{bucket}' does not exist ({url})"
    except Exception as probe_exc:  # a second failure explains the first
        second = classify(probe_exc)
        if second in ("missing", "refused"):
            return redact(f"credentials {second} for {url} ({text})")
        second_text = f"{type(probe_exc).__name__}: {probe_exc}"
        if second_text != text:  # the same failure twice says nothing more
            text = f"{text}; {second_text}"
    return redact(text)


def endpoint_of(conf: dict[str, Any]) -> str | None:
    """The HTTP endpoint a cloud remote talks to, where the config names one."""
    if conf.get("endpointurl"):
        return str(conf["endpointurl"])
    match = re.search(r"BlobEndpoint=([^;]+)", str(conf.get("connection_string", "")))
    return match.group(1) if match else None
