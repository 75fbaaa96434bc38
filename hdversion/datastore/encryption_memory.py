"""A clone's memory of its encrypted remotes: whoever may write to a bucket may delete its
encryption config, and the remote would then look plain (the next backup sending
plaintext). A remote this clone has opened as encrypted, found at the same URL without its
config, is refused before anything is read or written (docs/encryption.md)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from hdversion.crypto.master import MasterKey
from hdversion.errors import KeyUnavailableError
from hdversion.paths import ENCRYPTED_REMOTES
from hdversion.util.atomic import atomic_write_bytes
from hdversion.util.redact import redact

_LIMIT = 1 << 20


def check_still_encrypted(root: Path, remote: str, url: str, master: MasterKey | None
                          ) -> None:
    """Remember a remote opened encrypted (its URL and repository id); refuse one that
    this clone opened encrypted at this URL and that now has no encryption config."""
    path = root / ENCRYPTED_REMOTES
    known = _read(path)
    was = known.get(remote, {})
    same_place = was.get("url") == url
    if master is None:
        if same_place:
            raise KeyUnavailableError(
                f"remote '{remote}' ({redact(url)}) was encrypted (repository "
                f"{str(was.get('repository', '?'))[:32]}) and holds no encryption config now "
                "(hdversion/encryption/config.json): it was removed, or the remote replaced; "
                "nothing was read or written",
                hint="put the config back from a copy of the remote; if the remote is meant "
                     f"to be plain now, remove '{remote}' from {ENCRYPTED_REMOTES}")
        return
    if same_place and was.get("repository") == master.repository:
        return
    known[remote] = {"url": url, "repository": master.repository}
    # Best effort: a clone that cannot write its memory still works, unguarded.
    with contextlib.suppress(OSError):
        atomic_write_bytes(path, json.dumps(known, sort_keys=True, indent=1).encode())


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        with path.open("rb") as stream:
            data = json.loads(stream.read(_LIMIT))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} \
        if isinstance(data, dict) else {}
