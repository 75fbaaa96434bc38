"""Where a backup's copies are, and whether any is off the workspace's disk.

A copy is offsite when its remote is a bucket or container (s3, azure, gs, or any URL: ssh,
http...), or a directory whose file system is not the workspace's (another st_dev: a USB
drive, a network mount, another partition). The default local remote, `backups/` inside the
repository, is on the workspace's disk: the disk that fails takes both.
"""

from __future__ import annotations

from dataclasses import dataclass

ADD_REMOTE = "hdversion remote add NAME URL"


@dataclass(frozen=True)
class Place:
    remote: str
    where: str  # its directory (relative to the workspace when inside it), or its URL
    offsite: bool


@dataclass(frozen=True)
class Copies:
    """The copies of one backup: the places that hold it whole, and the offsite remotes
    that could not be asked (unreadable, or not listed: --offline)."""

    backup: str | None = None  # its tag; None: there is no backup
    holding: tuple[Place, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def offsite(self) -> bool | None:
        """True: a copy is off this disk; False: none is; None: an offsite remote could not
        be asked, and no other holds it."""
        if any(place.offsite for place in self.holding):
            return True
        return None if self.unknown else False

    def note(self) -> str | None:
        """One line for people (80 columns with the default `backups/`) when every copy is
        on this disk; None otherwise."""
        if self.backup is None or self.offsite is not False:
            return None
        where = ", ".join(place.where for place in self.holding) or "the cache only"
        return f"note: no copy off this disk ({where}); add one: {ADD_REMOTE}"

    def missing(self) -> str | None:
        """Why the backup has no confirmed offsite copy (for --require-offsite); None when
        it has one."""
        if self.offsite:
            return None
        if self.backup is None:
            return "no backup has a copy off this disk"
        where = ", ".join(f"{p.remote} ({p.where})" for p in self.holding) or "none"
        why = f"{self.backup} has no copy off this disk (held by: {where})"
        if self.unknown:
            why += "; not checked: " + ", ".join(self.unknown)
        return why
