"""gcp-storage-emulator with its multipart upload read byte-exact and its resumable sessions
answering as GCS does, run as `python tests/gcs_emulator.py <the emulator's arguments>`.

The emulator reads a multipart upload (gcsfs's and google-cloud-storage's simple upload,
every object under 5 MiB) with `email.parser`, which drops an object's trailing `\\r`:
measured, `os.urandom(1000) + b"\\r"` came back 1,000 bytes, so about one random object in
256 lost its last byte and a verified read failed in CI. GCS keeps every byte; so does this
launcher, which splits the body on its boundary itself and hands everything else to the
emulator unchanged (`test_push_pull_roundtrip` sends an object ending in `\\r`).

Resumable sessions (tests/test_gcs_resume.py): the emulator answers a status query
(`PUT` with `Content-Range: bytes */SIZE`) of a session holding no byte yet with 308 and
`Range: bytes=0-0`, which says one byte is held; GCS sends no Range then ("no bytes have
been persisted"), and a client trusting the emulator would go on from byte 1 and be refused.
Here a 308 of an empty session has no Range. And the launcher counts the bytes each object's
sessions received (`GET /_hdversion/received`: {"bucket/name": bytes}, not a GCS API), so
that a test sees what a resumed run sent at the server, not what the client says it sent."""

from __future__ import annotations

import json
import re
import sys
from email.parser import BytesHeaderParser
from typing import Any

from gcp_storage_emulator import server, storage
from gcp_storage_emulator.__main__ import main
from gcp_storage_emulator.handlers import objects

_emulators_read_data = server._read_data


def _related_parts(body: bytes, content_type: str) -> list[tuple[Any, bytes]]:
    """The parts of a multipart/related body, each (its headers, its bytes exactly)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError(f"no boundary in {content_type!r}")
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        # The sender's line break (gcsfs writes a bare LF, RFC 2046 says CRLF), read from
        # the one after the delimiter; the one before the next delimiter belongs to it.
        newline = b"\r\n" if chunk.startswith(b"\r\n") else b"\n"
        head, _, data = chunk.removeprefix(newline).partition(newline * 2)
        parts.append((BytesHeaderParser().parsebytes(head + b"\n\n"),
                      data.removesuffix(newline)))
    return parts


def _read_data(request_handler: Any, query: Any) -> Any:
    content_type = request_handler.headers.get("Content-Type") or ""
    if not content_type.startswith("multipart/related"):
        return _emulators_read_data(request_handler, query)
    raw = server._decode_raw_data(server._read_raw_data(request_handler), request_handler)
    if not raw:
        return None
    (_, meta), (headers, content) = _related_parts(raw, content_type)[:2]
    return {"meta": json.loads(meta), "content": content,
            "content-type": headers.get_content_type()}


server._read_data = _read_data

_emulators_incomplete = objects._resumable_incomplete


def _resumable_incomplete(response: Any, storage: Any, upload_id: str,
                          fallback_end: int = 0) -> None:
    _emulators_incomplete(response, storage, upload_id, fallback_end)
    if storage.get_resumable_byte_count(upload_id) == 0:
        response._headers.pop("Range", None)


objects._resumable_incomplete = _resumable_incomplete

_received: dict[str, int] = {}
_emulators_append = storage.Storage.add_to_resumable_upload


def _add_to_resumable_upload(self: Any, file_id: str, content: bytes, *args: Any,
                             **kwargs: Any) -> Any:
    obj = self.get_resumable_file_obj(file_id)
    name = f"{obj['bucket']}/{obj['name']}"
    _received[name] = _received.get(name, 0) + len(content or b"")
    return _emulators_append(self, file_id, content, *args, **kwargs)


storage.Storage.add_to_resumable_upload = _add_to_resumable_upload


def _report_received(request: Any, response: Any, storage: Any) -> None:
    response.json(_received)


server.HANDLERS = ((r"^/_hdversion/received$", {server.GET: _report_received}),
                   *server.HANDLERS)

if __name__ == "__main__":
    main(sys.argv[1:])
