"""Explaining what DVC and the cloud SDKs say, and failing fast on a dead endpoint."""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hdversion.errors import RemoteError
from hdversion.util.redact import redact

if TYPE_CHECKING:
    from dvc.repo import Repo


def check_reachable(repo: Repo, remote: str) -> None:
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


def explain(repo: Repo, remote: str, exc: BaseException) -> str:
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
        check_reachable(repo, remote)
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


def _endpoint(conf: dict[str, Any]) -> str | None:
    """The HTTP endpoint a cloud remote talks to, where the config names one."""
    if conf.get("endpointurl"):
        return str(conf["endpointurl"])
    match = re.search(r"BlobEndpoint=([^;]+)", str(conf.get("connection_string", "")))
    return match.group(1) if match else None
