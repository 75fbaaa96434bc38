"""Putting a backup's objects into a remote: push what the remote's own listing lacks,
through the remote's store (verified, atomic puts), and confirm them there by that listing;
what is still missing or truncated is put again from re-hashed cache copies."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hdversion.errors import HdversionError, RemoteError
from hdversion.model.manifest import FileEntry, OutputEntry
from hdversion.ops.project import Project
from hdversion.util.progress import SILENT, Reporter


@dataclass
class RemoteOutcome:
    name: str
    ok: bool
    detail: str = ""


def dvc_objects(files: Iterable[FileEntry]) -> dict[str, int]:
    """The DVC objects some files need: md5 -> size."""
    return {f.md5: f.size for f in files if f.store == "dvc"}


def needed_objects(project: Project, files: Iterable[FileEntry],
                   outputs: Iterable[OutputEntry]) -> dict[str, int]:
    """Every DVC object a backup needs in a remote: its files, and the listing (`.dir`
    object) of each directory output, without which DVC cannot fetch the directory. A listing
    is counted where the cache holds it (its size is known only there)."""
    objects = dvc_objects(files)
    for output in outputs:
        if output.is_dir and output.store == "dvc":
            listing = project.store.cache_path(output.md5)
            if listing.is_file():
                objects[output.md5] = listing.stat().st_size
    return objects


def push_and_confirm(project: Project, commit: str, objects: dict[str, int],
                     remote: str, reporter: Reporter = SILENT) -> RemoteOutcome:
    """`confirm_pushed`, its failure reported as an outcome instead of raised."""
    try:
        confirm_pushed(project, commit, objects, remote, reporter)
    except HdversionError as exc:
        return RemoteOutcome(remote, False, exc.message)
    return RemoteOutcome(remote, True)


def confirm_pushed(project: Project, commit: str, objects: dict[str, int],
                   remote: str, reporter: Reporter = SILENT) -> None:
    """Push a backup's objects (those of its commit) to a remote, unless the remote's own
    listing shows them all there already, and confirm them there by that listing; what it
    lacks (an upload killed half-way, a truncated object) is uploaded again from verified
    cache copies; on a locked remote the objects it holds already are locked anew
    (`Store.keep_locked`). Raises what still fails. (`commit` is not needed: the objects are
    named.)"""
    transfers = project.store
    # The remote's own listing first: when it holds every object at its size (an unchanged
    # backup), nothing is put.
    lacking = transfers.missing_in_remote(remote, objects)
    # Objects another backup put there are this one's too: on a locked remote, locked as
    # long as what this backup writes (before the push, so a failure leaves no tag claiming
    # a remote whose reused objects may go sooner).
    transfers.keep_locked(remote, set(objects) - lacking)
    if not lacking:
        # Held, but maybe written by ingest's tee (this run, or an earlier `hdversion
        # add`) without an fsync each: made durable before a tag names them.
        transfers.flush(remote, objects)
        return
    transfers.push(remote, {md5: objects[md5] for md5 in lacking}, reporter)
    lacking = transfers.missing_in_remote(remote, objects)
    if lacking:
        # The push puts what the remote does not hold at all; a truncated or damaged object
        # there is replaced, one by one, from a verified cache copy.
        transfers.upload_verified(remote, lacking, reporter)
        lacking = transfers.missing_in_remote(remote, objects)
    if lacking:
        raise RemoteError(f"{len(lacking)} object(s) missing in remote '{remote}' after the "
                          "push (not in the local cache either)")
    transfers.flush(remote, objects)
