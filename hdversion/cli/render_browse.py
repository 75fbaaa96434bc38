"""ls, get and find for people and machines (JSON). A file a line, its path last and never
cut (as `git ls-tree` or restic's `ls`: `awk`, `grep` and `cut` read them; a table would
cut or fold a long path at 80 columns in a pipe). Paths come from manifests, which are
untrusted: each is shown escaped (model/browse.shown), as a rich Text, never markup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from hdversion.cli.render import console, human_size
from hdversion.model.browse import shown
from hdversion.model.manifest import FileEntry

if TYPE_CHECKING:
    from hdversion.api import FileListing, FindResult, GetResult


def _file(entry: FileEntry) -> dict[str, Any]:
    return {"path": entry.path, "size": entry.size, "md5": entry.md5, "store": entry.store}


def listing_json(listing: FileListing) -> dict[str, Any]:
    return {"tag": listing.backup.tag, "timestamp": listing.backup.timestamp,
            "path": listing.path, "remote_url": listing.url,
            "files": [_file(f) for f in listing.files]}


def listing_table(listing: FileListing) -> None:
    files = listing.files
    where = f" in {listing.url}" if listing.url else ""
    _line(f"{listing.backup.tag}{where}: {len(files)} file(s), "
          f"{human_size(sum(f.size for f in files))}")
    for entry in files:
        _line(f"{human_size(entry.size):>10}  {entry.store:<3}  {entry.md5}  "
              f"{shown(entry.path)}")


def _line(text: str) -> None:
    console.print(Text(text), soft_wrap=True)


def get_json(result: GetResult) -> dict[str, Any]:
    return {"tag": result.backup.tag, "timestamp": result.backup.timestamp,
            "output": str(result.output), "remote_url": result.url, "verified": True,
            **_file(result.file), "quarantined_objects": result.fetched.quarantined,
            "fetched_from": result.fetched.fetched_from}


def get_summary(result: GetResult) -> None:
    console.print(Text(f"{shown(result.file.path)} of {result.backup.tag} -> "
                       f"{shown(str(result.output))} ({human_size(result.file.size)}, "
                       "verified)"))


def find_json(result: FindResult) -> dict[str, Any]:
    return {"pattern": result.pattern, "md5": result.md5, "remote_url": result.url,
            "searched": result.searched,
            "found": [{"tag": f.tag, "timestamp": f.timestamp, **_file(f.file)}
                      for f in result.found],
            "skipped": [{"tag": tag, "why": why} for tag, why in result.skipped]}


def find_table(result: FindResult) -> None:
    if not result.found:
        return  # the failure says it (exit 4)
    backups = len({f.tag for f in result.found})
    _line(f"{len(result.found)} file(s) in {backups} of {result.searched} backup(s), "
          "newest first")
    for found in result.found:
        _line(f"{found.timestamp}  {human_size(found.file.size):>10}  {found.file.md5}  "
              f"{shown(found.file.path)}")
