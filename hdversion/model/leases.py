"""Leases: the records in a shared store that keep prune's sweep and writers apart
(restic's shared and exclusive locks, `doc/design.rst`; docs/design-decisions.md, "Leases in
the shared store").

A writer (backup, sync, copy, verify --repair) holds a *shared* lease in each shared store it
writes, from before it lists or pushes anything until its tag is on the git remote; prune
holds an *exclusive* one while it reads the tags and sweeps. Both write their own first and
list the others after, so one of the two always sees the other.

A lease's age is judged by the store's clock alone: its modification time there against that
of the lease the reader has just written (never the reader's own clock). A lease not
refreshed for `STALE_AFTER` is a dead run's, and ignored.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Literal

LEASES_DIR = "hdversion/locks"
STALE_AFTER = 30 * 60
"""Seconds: a lease not written again for this long (by the store's clock) is a dead run's."""
REFRESH_EVERY = 5 * 60
"""Seconds: a running writer writes its lease again this often, far within STALE_AFTER."""

Kind = Literal["shared", "exclusive"]


@dataclass(frozen=True)
class Lease:
    kind: Kind
    operation: str  # backup, sync, copy, verify, prune
    host: str
    pid: int
    started: str  # ISO 8601, the holder's clock: for people, never compared
    clone: str  # the holder's repository (its path on `host`)

    def to_json(self) -> bytes:
        return json.dumps({"kind": self.kind, "operation": self.operation, "host": self.host,
                           "pid": self.pid, "started": self.started, "clone": self.clone},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Lease:
        """ValueError when the bytes are no lease of ours."""
        try:
            fields = json.loads(data)
            kind = fields["kind"]
            if kind not in ("shared", "exclusive"):
                raise ValueError(f"no lease kind: {kind!r}")
            return cls(kind, str(fields["operation"]), str(fields["host"]),
                       int(fields["pid"]), str(fields["started"]), str(fields.get("clone", "")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a lease: {exc}") from None

    def describe(self) -> str:
        return f"{self.operation} on {self.host} (pid {self.pid}, since {self.started})"


def new_key(kind: Kind) -> str:
    """A fresh lease's name under LEASES_DIR: its kind first, so that a listing tells the
    kinds apart without reading each lease."""
    return f"{kind}-{secrets.token_hex(8)}"


def kind_of(name: str) -> Kind | None:
    """The kind a lease's name says; None for what is no lease of ours."""
    kind, _, rest = name.partition("-")
    if kind in ("shared", "exclusive") and len(rest) == 16 and all(
            c in "0123456789abcdef" for c in rest):
        return "shared" if kind == "shared" else "exclusive"
    return None


@dataclass(frozen=True)
class Held:
    """A lease in a store, as its listing shows it."""

    name: str
    kind: Kind
    mtime: float  # by the store's clock


def live(held: list[Held], own: str, kind: Kind) -> list[Held]:
    """The leases of `kind` other than `own` that are not stale: judged against the store's
    time of `own` (just written), so that no local clock takes part. A lease newer than
    `own` is live (it was written after ours)."""
    probe = next(h.mtime for h in held if h.name == own)
    return [h for h in held
            if h.name != own and h.kind == kind and probe - h.mtime < STALE_AFTER]
