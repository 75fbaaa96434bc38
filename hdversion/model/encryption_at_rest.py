"""How a remote's bytes are encrypted at rest, as `remote test` reports it: client-side
(hdversion encrypts before anything leaves the machine), server-side (the cloud encrypts on
its disks, with which key), both, or none. Plain data; the requests that find it out are
the DVC seam's (datastore/at_rest.py)."""

from __future__ import annotations

from dataclasses import dataclass

# A remote encrypted by hdversion holds this record (its wrapped keys): its presence alone
# says "client-side", without any key to read it.
CLIENT_SIDE_KEY = "hdversion/encryption/config.json"

# Who asks for a server-side encryption: each write of hdversion (the remote's own options,
# DVC's `sse*`), or the bucket itself for every write that asks for none (its default).
BY_REMOTE = "remote"
BY_BUCKET = "bucket default"


@dataclass(frozen=True)
class ServerSide:
    """One server-side encryption: `scheme` as the cloud names it (S3: AES256, aws:kms,
    aws:kms:dsse, SSE-C; Azure: encryption scope; GCS: kms), and its key where it has one
    (a KMS key id, a scope's name; never an SSE-C key, which is a secret)."""

    scheme: str
    key: str | None
    by: str  # BY_REMOTE or BY_BUCKET

    def text(self) -> str:
        inner = self.scheme + (f", key {self.key}" if self.key else "")
        return f"server-side ({inner})" + (", the bucket's default" if self.by == BY_BUCKET
                                           else "")

    def to_json(self) -> dict[str, object]:
        return {"scheme": self.scheme, "key": self.key, "by": self.by}


@dataclass(frozen=True)
class AtRest:
    """A remote's encryption at rest. `server_side`: what each write asks for first, then
    the bucket's default (which applies only to writes that ask for none). `unknown`: what
    the store could not say (a default the credentials may not read), said plainly."""

    kind: str  # "s3", "azure", "gs", "directory"
    client_side: bool
    server_side: tuple[ServerSide, ...] = ()
    unknown: str = ""

    @property
    def effective(self) -> ServerSide | None:
        """The server-side encryption the objects hdversion writes get: the remote's own
        when it asks for one, else the bucket's default."""
        return self.server_side[0] if self.server_side else None

    def summary(self) -> str:
        """One line: `client-side`, `server-side (aws:kms, key K)`, both, or `none`."""
        parts = (["client-side"] if self.client_side else []) + (
            [self.effective.text()] if self.effective else [])
        return " + ".join(parts) or "none"

    def lines(self) -> list[str]:
        facts = [f"encryption at rest: {self.summary()}"]
        effective = self.effective
        for other in self.server_side[1:]:
            if other.by == BY_BUCKET and effective is not None and effective.by == BY_REMOTE:
                facts.append(f"the bucket's default, for other writers: {other.text()}")
        if self.unknown:
            facts.append(self.unknown)
        return facts

    def to_json(self) -> dict[str, object]:
        return {"summary": self.summary(), "client_side": self.client_side,
                "server_side": [s.to_json() for s in self.server_side],
                "unknown": self.unknown or None}
