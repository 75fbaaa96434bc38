"""Moving objects between the cache and remotes: push, fetch, verified upload, and what a
remote holds, read from the remote's own listing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from hdversion.datastore.explain import check_reachable, explain
from hdversion.datastore.session import DvcSession, check_remote
from hdversion.errors import RemoteError
from hdversion.util.hashing import md5_file

# Up to this many key prefixes are listed one by one; more, and the whole remote is listed.
PER_PREFIX_LISTINGS = 4


class Transfers:
    def __init__(self, session: DvcSession) -> None:
        self.session = session

    def push(self, revision: str, remote: str) -> None:
        """Upload every object a revision needs; DVC skips what the remote already has."""
        self._transfer("push", revision, remote)

    def fetch(self, revision: str, remote: str) -> None:
        """Download into the cache the objects a revision needs. DVC only warns on a missing
        object, so callers check the cache afterwards."""
        self._transfer("fetch", revision, remote)

    def _transfer(self, verb: str, revision: str, remote: str) -> None:
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            method = repo.push if verb == "push" else repo.fetch
            try:
                method(revs=[revision], remote=remote, workspace=False)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(
                    f"{verb} {'to' if verb == 'push' else 'from'} remote '{remote}' failed: "
                    + explain(repo, remote, exc)
                ) from None

    def upload_verified(self, remote: str, md5s: Iterable[str]) -> set[str]:
        """Upload objects straight from the cache, each re-hashed first, replacing whatever
        the remote holds under that key. Returns the objects uploaded."""
        uploaded: set[str] = set()
        with self.session.open() as repo:
            check_remote(repo, remote)
            odb = repo.cloud.get_remote_odb(remote)
            for md5 in sorted(md5s):
                source = self.session.cache_path(md5)
                if not source.is_file() or md5_file(source)[0] != md5:
                    continue
                try:
                    odb.fs.put_file(str(source), odb.oid_to_path(md5))
                except Exception as exc:  # DVC and the cloud SDKs raise anything
                    raise RemoteError(f"upload to remote '{remote}' failed: "
                                      + explain(repo, remote, exc)) from None
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
        with self.session.open() as repo:
            check_remote(repo, remote)
            check_reachable(repo, remote)
            odb = repo.cloud.get_remote_odb(remote)
            try:
                listed = _listed_objects(odb, prefixes)
            except Exception as exc:  # DVC and the cloud SDKs raise anything
                raise RemoteError(f"cannot list remote '{remote}': "
                                  + explain(repo, remote, exc)) from None
        return {md5 for md5, size in objects.items() if listed.get(md5) != size}

    def probe(self, name: str) -> list[tuple[str, bool, str]]:
        """Write, read back and delete a probe object: each step with its verdict."""
        import secrets

        steps: list[tuple[str, bool, str]] = []
        payload = secrets.token_bytes(64)
        with self.session.open() as repo:
            check_remote(repo, name)
            try:
                check_reachable(repo, name)
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
                    steps.append((step, False, explain(repo, name, exc)))
                    break
                steps.append((step, True, ""))
        return steps


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


def _parent(path: str, sep: str) -> str:
    return path.rstrip(sep).rsplit(sep, 1)[0]


def _expect(data: bytes, payload: bytes) -> None:
    if data != payload:
        raise ValueError("read back different bytes than were written")
