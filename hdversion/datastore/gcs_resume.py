"""A large file's upload to GCS that a later run resumes rather than restarts.

gcsfs sends a file from 5 MiB on as a resumable upload session, but keeps the session's URI
in memory only: a run killed at 9 GiB of 10 left a session no later run could find, and the
next one sent the whole file again. Here (`GcsResumer`, from RESUME_FROM on) the URI is kept
in a small record under the project's `.dvc/tmp` (`UploadSessions`), keyed by the remote's
URL, the object's path, the file's size and md5, and written atomically before the first
byte goes. A later run asks the session how much it holds (a `PUT` with
`Content-Range: bytes */SIZE`: 308 and `Range: bytes=0-N`, or no Range for nothing yet),
reads the local file from there and sends the rest in CHUNK pieces.

Nothing a session holds is trusted: it is started with the file's md5 in the object's
metadata (`md5Hash`), so GCS refuses to complete an object whose bytes do not hash to it
(the key is left as it was), and the object GCS reports at completion must carry that md5
(else the generation just made, and only it, is deleted: VerificationError).

The record is local state but read as untrusted input: at most RECORD_LIMIT bytes; its
session must be on the remote's own endpoint, in its bucket, for its object, for this file
(size and md5), and younger than a week (GCS forgets a session after a week); else it is
ignored, with a warning naming the rule, and a new session starts. So does a session the
server answers 404 or 410 for. An encrypted remote's objects are sealed anew at each put
(`datastore/encrypted.py`): they go through `BucketStore.upload`, never here, as on S3."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hdversion.errors import RemoteError, VerificationError
from hdversion.util.atomic import atomic_write_bytes, read_small
from hdversion.util.log import log
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.redact import redact

MIB = 1024 * 1024
# Files from this size on go in a recorded session (S3's multipart threshold); each request
# sends CHUNK bytes (GCS: every chunk but the last a multiple of 256 KiB, 8 MiB or more
# advised). A session takes one chunk at a time: 32 MiB sent 512 MiB in 0.4x the time of
# 8 MiB (bench/README.md), held in memory once, and at most that is sent again after a kill.
RESUME_FROM = 8 * MIB
CHUNK = 32 * MIB
# GCS keeps an unfinished session for a week.
SESSION_LIFETIME = 7 * 24 * 3600
RECORD_LIMIT = 4096


class SessionGone(RemoteError):
    """The server no longer knows the session (404, 410): a new one starts."""


@dataclass(frozen=True)
class SessionRecord:
    """An unfinished session: for which file (`remote`, `path`, `size`, `md5`), where
    (`uri`), since when (`started`, this machine's clock)."""

    remote: str
    path: str  # "bucket/key", as gcsfs names the object
    size: int
    md5: str
    uri: str
    started: float


class UploadSessions:
    """The records of unfinished sessions, one file each under `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def record_path(self, remote: str, path: str, size: int, md5: str) -> Path:
        key = json.dumps([remote, path, size, md5]).encode()
        return self.folder / f"{hashlib.sha256(key).hexdigest()[:32]}.json"

    def find(self, wanted: SessionRecord, endpoint: str, now: float) -> str | None:
        """The URI of the session recorded for the file `wanted` describes (its `uri` and
        `started` unused), if the record passes every rule; None, with a warning naming the
        rule that refused it, otherwise."""
        where = self.record_path(wanted.remote, wanted.path, wanted.size, wanted.md5)
        try:
            raw = read_small(where, RECORD_LIMIT + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            refusal: str | None = f"it cannot be read ({exc.strerror})"
        else:
            refusal = _refusal(raw, wanted, endpoint, now)
        if refusal is None:
            return str(json.loads(raw)["uri"])
        log.warning("%s", redact(f"ignoring the upload session recorded in {where}: "
                                 f"{refusal}; a new upload starts"))
        return None

    def keep(self, record: SessionRecord) -> None:
        """Record a new session, and forget those no server keeps any more (the records of
        files that changed before their upload ended, a write cut short)."""
        where = self.record_path(record.remote, record.path, record.size, record.md5)
        where.parent.mkdir(parents=True, exist_ok=True)
        for old in where.parent.iterdir():
            with contextlib.suppress(OSError):
                if record.started - old.stat().st_mtime > SESSION_LIFETIME:
                    old.unlink()
        atomic_write_bytes(where, json.dumps(asdict(record)).encode())

    def forget(self, record: SessionRecord) -> None:
        with contextlib.suppress(OSError):
            self.record_path(record.remote, record.path, record.size, record.md5).unlink(
                missing_ok=True)


def _refusal(raw: bytes, wanted: SessionRecord, endpoint: str, now: float) -> str | None:
    """Why a record may not be used for the file `wanted` describes; None if it may."""
    if len(raw) > RECORD_LIMIT:
        return f"it is larger than {RECORD_LIMIT} bytes"
    try:
        record = SessionRecord(**json.loads(raw))
    except (ValueError, TypeError):
        return "it is not a session record"
    if not all(isinstance(value, kind) for value, kind in (
            (record.remote, str), (record.path, str), (record.size, int),
            (record.md5, str), (record.uri, str), (record.started, (int, float)))):
        return "it is not a session record"
    if (record.remote, record.path, record.size, record.md5) != (
            wanted.remote, wanted.path, wanted.size, wanted.md5):
        return "it is another file's session"
    uri, home = urlsplit(record.uri), urlsplit(endpoint)
    if (uri.scheme.lower(), uri.netloc.lower()) != (home.scheme.lower(), home.netloc.lower()):
        return (f"its session is on another endpoint ({uri.scheme}://{uri.netloc}), not "
                f"the remote's ({home.scheme}://{home.netloc})")
    bucket, _, key = record.path.partition("/")
    query = parse_qs(uri.query)
    if uri.path != f"/upload/storage/v1/b/{bucket}/o" or query.get("name", [key]) != [key] \
            or len(query.get("upload_id", [])) != 1:
        return f"its session is not one of gs://{record.path}"
    if not 0 <= now - record.started < SESSION_LIFETIME:
        return "its session has expired (GCS keeps one a week)"
    return None


class GcsResumer:
    """Large files to one GCS remote through the remote's gcsfs file system (its session,
    credentials and retries), each in a recorded resumable session."""

    def __init__(self, fs: Any, remote: str, sessions: UploadSessions,
                 clock: Callable[[], float] = time.time) -> None:
        self.fs, self.remote, self.sessions, self.clock = fs, remote, sessions, clock
        self.resumed = False

    def upload(self, local: Path, path: str, size: int, md5: str,
               on_chunk: Callable[[int], None] | None = None) -> None:
        """Send `local` (`size` bytes, hashed to `md5` by the caller) as the object
        `path` ("bucket/key"): into the session a killed run left where one passes every
        rule and the server still has it, else into a new one."""
        wanted = SessionRecord(self.remote, path, size, md5, "", 0.0)
        uri = self.sessions.find(wanted, self.fs._location, self.clock())
        offset = None
        if uri is not None:
            with contextlib.suppress(SessionGone):
                offset, made = self._persisted(uri, size)
                if made is not None:  # completed by a run killed before it forgot it
                    self._check(made, wanted)
                    return
        self.resumed = uri is not None and offset is not None
        if uri is None or offset is None:
            uri, offset = self._start(path, md5), 0
            self.sessions.keep(SessionRecord(self.remote, path, size, md5, uri,
                                             self.clock()))
        elif on_chunk is not None and offset:
            on_chunk(offset)  # what the session holds counts as sent, as S3's kept parts
        try:
            made = self._send(local, uri, size, offset, on_chunk)
        except VerificationError:
            self.sessions.forget(wanted)  # a session refused is not resumed
            raise
        self._check(made, wanted)

    # -- the session ------------------------------------------------------------------
    def _start(self, path: str, md5: str) -> str:
        from urllib.parse import quote

        bucket, _, key = path.partition("/")
        # md5Hash in the metadata: GCS completes the object only if its bytes hash to it.
        headers, _ = self._call("POST", f"{self.fs._location}/upload/storage/v1/b/"
                                f"{quote(bucket)}/o?name={quote(key)}",
                                uploadType="resumable",
                                json={"name": key, "md5Hash": _b64(md5)},
                                headers={"X-Upload-Content-Type": "application/octet-stream"})
        return str(headers["Location"])

    def _persisted(self, uri: str, size: int) -> tuple[int, dict[str, Any] | None]:
        """How many bytes the session holds, and the object if it is complete. A session
        that refuses the question (400: it holds more than the file, or GCS completed it
        with bytes that do not hash to the name, and made nothing) is not continued."""
        from gcsfs.retry import HttpError

        try:
            status, headers, contents = self._request(
                "PUT", uri, headers={"Content-Range": f"bytes */{size}",
                                     "Content-Length": "0"})
        except (VerificationError, ValueError) as exc:  # gcsfs: a 400 saying "invalid"
            raise SessionGone(f"the upload session refused its status: {exc}") from None
        except HttpError as exc:
            if exc.code == 400:
                raise SessionGone(f"the upload session refused its status: {exc}") from None
            raise
        if status in (200, 201):
            return size, json.loads(contents)
        held = _received(headers)
        if held > size:  # not a session of this file's size: not to be continued
            raise SessionGone(f"the upload session holds {held} bytes of {size}")
        return held, None

    def _send(self, local: Path, uri: str, size: int, offset: int,
              on_chunk: Callable[[int], None] | None) -> dict[str, Any]:
        """The file from `offset` to its end, CHUNK bytes a request; the object GCS made."""
        with local.open("rb") as source:
            source.seek(offset)
            while True:
                body = source.read(min(CHUNK, size - offset))
                end = offset + len(body)
                if len(body) != min(CHUNK, size - offset):
                    raise VerificationError(f"{local} is shorter than when it was hashed; "
                                            "not written")
                last = end >= size
                status, headers, contents = self._request(
                    "PUT", uri, data=body, headers={
                        "Content-Length": str(len(body)),
                        "Content-Range": f"bytes {offset}-{end - 1}/{size if last else '*'}"
                                         if body else f"bytes */{size}"})
                if status in (200, 201):
                    if on_chunk is not None:
                        on_chunk(len(body))
                    return dict(json.loads(contents))
                held = _received(headers)
                if not offset < held <= end:  # none taken (a loop), or more than sent
                    raise RemoteError(f"the upload session of {local} holds {held} bytes "
                                      f"after bytes {offset}-{end - 1} were sent; the next "
                                      "run resumes it")
                if on_chunk is not None:
                    on_chunk(held - offset)
                if last and held >= size:
                    raise RemoteError(f"the upload session of {local} holds every byte and "
                                      "made no object")
                source.seek(held)
                offset = held
                # The marker goes under the working directory, as S3's (s3_resume.py).
                pause_point(Path.cwd(), PausePoint.BETWEEN_PARTS)

    def _check(self, made: dict[str, Any], record: SessionRecord) -> None:
        """The object GCS made has the file's md5 and size, else the generation just made
        (and only it) is deleted."""
        self.sessions.forget(record)
        self.fs.invalidate_cache(record.path)
        found = _hex(made.get("md5Hash"))
        if found == record.md5 and str(made.get("size")) == str(record.size):
            return
        from urllib.parse import quote

        bucket, _, key = record.path.partition("/")
        with contextlib.suppress(Exception):  # gone or replaced meanwhile: not ours
            self._call("DELETE", f"b/{quote(bucket)}/o/{quote(key, safe='')}",
                       ifGenerationMatch=str(made.get("generation")))
        raise VerificationError(f"gs://{record.path}: GCS made an object of md5 {found} and "
                                f"{made.get('size')} bytes, expected {record.md5} and "
                                f"{record.size}; it is deleted")

    # -- requests through gcsfs ---------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> tuple[Any, bytes]:
        from fsspec.asyn import sync

        headers, contents = sync(self.fs.loop, self.fs._call, method, path, **kwargs)
        return headers, contents

    def _request(self, method: str, uri: str, **kwargs: Any) -> tuple[int, Any, bytes]:
        """One request to a session; SessionGone where the server forgot it, and
        VerificationError where it refused the object's bytes (their md5)."""
        from fsspec.asyn import sync
        from gcsfs.retry import HttpError

        try:
            status, headers, _, contents = sync(self.fs.loop, self.fs._request, method, uri,
                                                **kwargs)
        except FileNotFoundError:
            raise SessionGone("the upload session is gone") from None
        except (HttpError, ValueError) as exc:  # gcsfs: a 400 saying "invalid" is a ValueError
            if getattr(exc, "code", None) == 410:
                raise SessionGone("the upload session is gone") from None
            if "md5" in str(exc).lower():
                raise VerificationError(f"GCS refused the object: its bytes do not hash to "
                                        f"its name ({exc}); not written") from None
            raise
        return int(status), headers, bytes(contents)


def _received(headers: Any) -> int:
    """The bytes a 308 says the session holds: `Range: bytes=0-N`, none without it."""
    held = headers.get("Range")
    if not held:
        return 0
    first, _, last = held.removeprefix("bytes=").partition("-")
    if first != "0" or not last.isdigit():
        raise RemoteError(f"an upload session answered an unknown Range: {held[:64]!r}")
    return int(last) + 1


def _b64(md5: str) -> str:
    return base64.b64encode(bytes.fromhex(md5)).decode()


def _hex(b64: object) -> str | None:
    try:
        return base64.b64decode(str(b64), validate=True).hex() if b64 else None
    except ValueError:
        return None
