"""The catalog of backups: plain records parsed from the backup tags (no git, no DVC here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hdversion.errors import BackupNotFoundError, ManifestError
from hdversion.model.manifest import Manifest
from hdversion.model.names import BackupNames
from hdversion.model.timestamps import newest_present, tag_for, timestamp_of


class TagLike(Protocol):
    """A tag as the git seam reads it."""

    @property
    def name(self) -> str: ...  # without refs/tags/
    @property
    def object_type(self) -> str: ...  # "tag" for an annotated tag
    @property
    def target(self) -> str: ...  # the commit it points to
    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class Backup:
    tag: str
    timestamp: str
    commit: str
    manifest: Manifest


@dataclass
class Catalog:
    backups: list[Backup]  # newest first
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (tag, why it was skipped)
    # Alias -> the timestamp it names (model/aliases.py); aliases whose record is not
    # trusted -> why: naming one says so.
    aliases: dict[str, str] = field(default_factory=dict)
    broken_aliases: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_tags(cls, tags: Iterable[TagLike]) -> Catalog:
        backups: list[Backup] = []
        invalid: list[tuple[str, str]] = []
        for record in tags:
            timestamp = timestamp_of(record.name)
            if timestamp is None:
                invalid.append((record.name, "name is not backup/YYYYMMDD_HHMMSS"))
                continue
            if record.object_type != "tag":
                invalid.append((record.name, "lightweight tag, no manifest"))
                continue
            try:
                manifest = Manifest.from_tag_message(record.message)
            except ManifestError as exc:
                invalid.append((record.name, exc.message))
                continue
            if manifest.timestamp != timestamp:
                invalid.append((record.name, f"manifest says {manifest.timestamp}"))
                continue
            backups.append(Backup(record.name, timestamp, record.target, manifest))
        backups.sort(key=lambda b: b.timestamp, reverse=True)
        return cls(backups, invalid)

    def present(self, now: datetime | None) -> list[Backup]:
        """The regular backups not dated in the future at `now` (None: all), newest first:
        those that may be "the latest"."""
        limit = None if now is None else newest_present(now)
        return [b for b in self.backups if b.manifest.kind != "safety"
                and (limit is None or b.timestamp <= limit)]

    def names(self, now: datetime | None) -> BackupNames:
        """What a user may call each backup here (model/names.py). Every tag in the name
        grammar counts, an invalid one too: naming it says what is wrong with it."""
        named = [*(b.timestamp for b in self.backups),
                 *(t for t in (timestamp_of(tag) for tag, _ in self.invalid) if t)]
        return BackupNames(named, lambda: self.latest(now).timestamp, self.aliases)

    def latest(self, now: datetime | None) -> Backup:
        """The latest regular backup: the newest that is not in the future at `now`
        (timestamps.newest_present). A clock gone wrong on one machine, or a forged tag dated
        2099, must not decide what "the latest" is. Safety backups hold the state a restore
        replaced; "restore the latest" right after a restore must not bring that state back,
        so they are named only by their timestamp (or a prefix of it)."""
        regular = self.present(now)
        if not regular:
            limit = None if now is None else newest_present(now)
            future = [b.tag for b in self.backups if limit is not None and b.timestamp > limit]
            raise BackupNotFoundError(
                "there are no backups yet" if not future else
                f"no backup is older than now; dated in the future: {', '.join(future)}",
                hint="run `hdversion backup`" if not future else
                "restore one by its timestamp if you trust it",
            )
        return regular[0]

    def get(self, name: str | None, now: datetime | None = None) -> Backup:
        """The backup a user named in any form model/names.py reads (timestamp, tag, `latest`,
        a unique prefix), or the latest when None."""
        if name is None:
            return self.latest(now)
        if name in self.broken_aliases:
            raise ManifestError(f"alias {name!r} is not trusted: {self.broken_aliases[name]}",
                                hint="`hdversion alias list` shows the aliases; set it again")
        timestamp = self.names(now).resolve(name)
        for backup in self.backups:
            if backup.timestamp == timestamp:
                return backup
        tag = tag_for(timestamp)
        for invalid, why in self.invalid:
            if invalid == tag:
                raise ManifestError(f"backup {tag} exists but its manifest is invalid: {why}",
                                    hint="restore another backup; `hdversion list` shows them")
        raise BackupNotFoundError(
            f"alias {name!r} names {tag}, which is not here" if name in self.aliases else
            f"no backup {tag}",
            hint="`hdversion list` shows the backups there are",
        )
