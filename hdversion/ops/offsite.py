"""Whether a remote is off the workspace's disk (model/offsite.py): its URL's scheme, or for
a directory its file system's device number against the workspace's. A directory not there
yet is judged by its nearest existing parent: where it would be made."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from hdversion.model.offsite import Copies, Place
from hdversion.model.storages import LOCAL_SCHEME, scheme_of
from hdversion.ops.project import Project


def place_of(project: Project, remote: str) -> Place:
    url = project.store.remote_url(remote)
    if url is None:  # not a remote DVC knows: it holds nothing
        return Place(remote, remote, offsite=False)
    if scheme_of(url) != LOCAL_SCHEME:
        return Place(remote, url, offsite=True)
    folder = Path(url)
    return Place(remote, _shown(folder, project.root),
                 offsite=_device(folder) != _device(project.root))


def copies_of(project: Project, backup: str | None, holding: Iterable[str],
              unasked: Iterable[str] = ()) -> Copies:
    """`backup`'s copies: the remotes `holding` it whole, and the remotes `unasked` (could
    not be read, or were not listed), of which only the offsite ones leave it open."""
    places = [place_of(project, name) for name in dict.fromkeys(holding)]
    unknown = [name for name in dict.fromkeys(unasked) if place_of(project, name).offsite]
    return Copies(backup, tuple(places), tuple(unknown))


def _device(path: Path) -> int:
    for folder in (path, *path.parents):
        try:
            return os.stat(folder).st_dev
        except OSError:
            continue
    return -1


def _shown(folder: Path, root: Path) -> str:
    try:
        return folder.relative_to(root).as_posix() + "/"
    except ValueError:
        return str(folder)
