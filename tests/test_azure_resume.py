"""A large file's block upload to Azure resumes what an interrupted run left
(hdversion/datastore/azure_resume.py), against Azurite with its debug log on: every Put Block
it receives is counted from that log (a real server, its requests counted). Only the missing
blocks are sent; a block is kept only if its id is the one this file's bytes give it; a block
staged without Content-MD5 under such an id but holding other bytes is found by the read-back
and sent again; bytes that do not hash to the object's name are never committed; the SDK's
own leftovers do not stop an upload; a file below the SDK's single-put limit still goes in one
Put Blob. The kill -9 of a real backup between two blocks, then a sync sending only the
rest, is in the long tier."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from hdversion.datastore.azure_resume import (
    BLOCK,
    SINGLE_PUT,
    Blocks,
    ResumableBlobUpload,
)
from hdversion.errors import VerificationError
from hdversion.util.pausepoints import PausePoint
from tests.cloud_fixtures import new_bucket_name
from tests.conftest import Project, run_cli, start_paused
from tests.storage_servers import AzuriteServer
from tests.test_cloud import PREFIX, configure, forget_local_data, write_credentials

pytestmark = pytest.mark.cloud

KIB = 1024
SIZE = 256 * KIB  # the unit tests' block size: four blocks, the last one shorter
KEY = "files/md5/aa/bbbb"
MODEL = "models/keras_mlp_model.h5"
_REQUEST = re.compile(r"RequestMethod=(?P<method>[A-Z]+) RequestURL=http://[^/]+/[^/]+/"
                      r"(?P<container>[^/?\s]+)/(?P<key>[^?\s]+)(?:\?(?P<query>\S*))?")


class RequestLog:
    """The requests Azurite's debug log holds for one blob since `mark`."""

    def __init__(self, server: AzuriteServer) -> None:
        self.server, self.start = server, 0

    def mark(self) -> None:
        self.start = self._flushed_size()

    def _flushed_size(self) -> int:
        """The log's size once every request sent so far is in it: Azurite writes it
        asynchronously, so a request of ours is sent and waited for."""
        marker = f"flush-{uuid.uuid4().hex}"
        self.server.service.get_blob_client("flush", marker).exists()
        path = self.server.debug_log_path
        deadline = time.monotonic() + 60
        while marker not in path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "Azurite never logged the flush request"
            time.sleep(0.05)
        return path.stat().st_size

    def requests(self, container: str, key: str) -> list[tuple[str, str]]:
        end = self._flushed_size()
        with self.server.debug_log_path.open("rb") as log:
            log.seek(self.start)
            text = log.read(end - self.start).decode(errors="replace")
        found = []
        for line in text.splitlines():
            match = _REQUEST.search(line)
            if match and match["container"] == container and unquote(match["key"]) == key:
                found.append((match["method"], match["query"] or "",
                              '"content-md5":' in line))
        return found

    def blocks_staged(self, container: str, key: str) -> list[int]:
        """The index of each block staged (Put Block); each must have carried its
        Content-MD5, which Azure checks before it stores the block."""
        indexes = []
        for method, query, with_md5 in self.requests(container, key):
            fields = dict(part.partition("=")[::2] for part in query.split("&"))
            if method == "PUT" and fields.get("comp") == "block":
                block_id = base64.b64decode(unquote(fields["blockid"])).decode()
                assert with_md5, f"block {block_id} was staged without its Content-MD5"
                indexes.append(int(block_id[18:24]))
        return sorted(indexes)

    def puts_of_whole_blobs(self, container: str, key: str) -> int:
        return sum(1 for method, query, _ in self.requests(container, key)
                   if method == "PUT" and "comp=" not in query)


@pytest.fixture(scope="module")
def azurite() -> Iterator[AzuriteServer]:
    server = AzuriteServer(in_memory=True, debug_log=True)
    try:
        server.start()
        server.create_bucket("flush")
        yield server
    finally:
        server.close()


@pytest.fixture
def container(azurite: AzuriteServer) -> Iterator[str]:
    name = new_bucket_name()
    azurite.create_bucket(name)
    yield name
    azurite.delete_bucket(name)


@pytest.fixture
def log(azurite: AzuriteServer) -> RequestLog:
    requests = RequestLog(azurite)
    requests.mark()
    return requests


def adlfs(server: AzuriteServer) -> Any:
    from adlfs import AzureBlobFileSystem

    return AzureBlobFileSystem(connection_string=server.connection_string(),
                               skip_instance_cache=True)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def a_file(tmp_path: Path, data: bytes | None = None, name: str = "big.bin"
           ) -> tuple[Path, bytes]:
    data = os.urandom(3 * SIZE + 100 * KIB) if data is None else data
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def block_id(data: bytes, index: int, name: str | None = None) -> str:
    """The id this scheme gives block `index` of `data` (uploaded as `name`)."""
    blocks = Blocks(name or md5(data), len(data), SIZE)
    body = data[index * SIZE:(index + 1) * SIZE]
    return blocks.block_id(index, hashlib.md5(body).digest())


def stage(server: AzuriteServer, container: str, blocks: dict[str, bytes],
          checked: bool = True) -> None:
    """What a killed run leaves: uncommitted blocks of KEY (`checked`: with Content-MD5)."""
    blob = server.service.get_blob_client(container, KEY)
    for name, body in blocks.items():
        blob.stage_block(name, body, validate_content=checked)


def upload(server: AzuriteServer, container: str, path: Path, name: str | None = None
           ) -> ResumableBlobUpload:
    fs = adlfs(server)
    data_md5 = name or md5(path.read_bytes())
    run = ResumableBlobUpload(fs.service_client.get_blob_client(container, KEY), fs.loop,
                              path, Blocks(data_md5, path.stat().st_size, SIZE), window=2,
                              where=f"azure://{container}/{KEY}")
    run.run()
    return run


def stored(server: AzuriteServer, container: str) -> bytes:
    return server.read_object(container, KEY)


def test_blocks_left_by_a_killed_run_are_kept_and_only_the_others_sent(
        azurite: AzuriteServer, container: str, log: RequestLog, tmp_path: Path) -> None:
    path, data = a_file(tmp_path)
    stage(azurite, container, {block_id(data, 0): data[:SIZE],
                               block_id(data, 1): data[SIZE:2 * SIZE]})
    log.mark()
    run = upload(azurite, container, path)
    assert sorted(run.kept) == [0, 1]
    assert log.blocks_staged(container, KEY) == [2, 3]
    assert stored(azurite, container) == data
    props = azurite.service.get_blob_client(container, KEY).get_blob_properties()
    assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()
    committed, uncommitted = azurite.service.get_blob_client(container, KEY).get_block_list(
        "all")
    assert len(committed) == 4 and uncommitted == []


def test_a_changed_file_reuses_nothing(
        azurite: AzuriteServer, container: str, log: RequestLog, tmp_path: Path) -> None:
    """The blocks an earlier run staged from other bytes of the same size: another upload
    key, so none is kept; the blob is the file's bytes now."""
    _, old = a_file(tmp_path, name="old.bin")
    stage(azurite, container, {block_id(old, i): old[i * SIZE:(i + 1) * SIZE]
                               for i in range(3)})
    path, data = a_file(tmp_path, old[:-1] + bytes([old[-1] ^ 1]))
    log.mark()
    run = upload(azurite, container, path)
    assert run.kept == {}
    assert log.blocks_staged(container, KEY) == [0, 1, 2, 3]
    assert stored(azurite, container) == data


def test_a_block_of_other_bytes_under_the_same_upload_is_not_kept(
        azurite: AzuriteServer, container: str, log: RequestLog, tmp_path: Path) -> None:
    """Same upload key, same index, same size, other bytes (their own id): the id this
    file's block gives differs, so the block is sent again."""
    path, data = a_file(tmp_path)
    other = os.urandom(SIZE)
    foreign = Blocks(md5(data), len(data), SIZE).block_id(1, hashlib.md5(other).digest())
    stage(azurite, container, {block_id(data, 0): data[:SIZE], foreign: other})
    log.mark()
    run = upload(azurite, container, path)
    assert sorted(run.kept) == [0]
    assert log.blocks_staged(container, KEY) == [1, 2, 3]
    assert stored(azurite, container) == data


def test_a_block_staged_unchecked_under_this_file_s_id_is_found_and_sent_again(
        azurite: AzuriteServer, container: str, log: RequestLog, tmp_path: Path) -> None:
    """A block staged without Content-MD5 under the id this file's block gives, holding
    other bytes: its id and size match, so it is kept and committed; the read-back of the
    kept blocks finds it, and it is staged again from the file. One of another size under
    its block's id is not kept."""
    path, data = a_file(tmp_path)
    stage(azurite, container, {block_id(data, 0): data[:SIZE],
                               block_id(data, 1): os.urandom(SIZE),
                               block_id(data, 2): os.urandom(SIZE - 1)}, checked=False)
    log.mark()
    run = upload(azurite, container, path)
    assert sorted(run.kept) == [0, 1]
    assert log.blocks_staged(container, KEY) == [1, 2, 3]
    assert stored(azurite, container) == data


def test_bytes_that_do_not_hash_to_the_object_s_name_are_not_committed(
        azurite: AzuriteServer, container: str, tmp_path: Path) -> None:
    path, data = a_file(tmp_path)
    with pytest.raises(VerificationError, match="data hashes to"):
        upload(azurite, container, path, name=md5(data[:-1] + b"x"))
    assert azurite.list_keys(container) == []
    upload(azurite, container, path)
    assert stored(azurite, container) == data


@pytest.mark.parametrize(("listed", "refusal"), [(-1, "is longer than when it was listed"),
                                                 (1, "is shorter than when it was listed")])
def test_a_file_of_another_size_than_listed_is_not_committed(
        azurite: AzuriteServer, container: str, tmp_path: Path, listed: int, refusal: str
        ) -> None:
    path, data = a_file(tmp_path)
    fs = adlfs(azurite)
    run = ResumableBlobUpload(fs.service_client.get_blob_client(container, KEY), fs.loop,
                              path, Blocks(md5(data), len(data) + listed, SIZE), window=2,
                              where=f"azure://{container}/{KEY}")
    with pytest.raises(VerificationError, match=refusal):
        run.run()
    assert azurite.list_keys(container) == []


def test_blocks_the_sdk_left_do_not_stop_the_upload(
        azurite: AzuriteServer, container: str, tmp_path: Path) -> None:
    """A run killed inside adlfs's upload_blob leaves blocks under the SDK's own ids; Azure
    takes only ids of one length per blob, and these ids have the SDK's."""
    from azure.storage.blob._shared import encode_base64, url_quote

    path, data = a_file(tmp_path)
    blob = azurite.service.get_blob_client(container, KEY)
    sdk_id = encode_base64(url_quote(encode_base64(f"{0:032d}")))  # as upload_blob names
    blob._client.block_blob.stage_block(sdk_id, SIZE, data[:SIZE])
    upload(azurite, container, path)
    assert stored(azurite, container) == data


def test_a_file_below_the_single_put_limit_goes_in_one_put_blob(
        azurite: AzuriteServer, container: str, log: RequestLog, tmp_path: Path) -> None:
    """Resumable from the SDK's single-put limit on; a file handed over hashed (no md5 to
    check in flight) goes as before, one Put Blob through adlfs."""
    from dvc_azure import AzureFileSystem

    from hdversion.datastore.s3_upload import checked_in_flight, upload_files

    fs = AzureFileSystem(connection_string=azurite.connection_string())
    assert checked_in_flight(fs) == SINGLE_PUT + 1
    path, data = a_file(tmp_path)
    upload_files(fs, [(path, f"{container}/{KEY}", len(data), None)])
    assert log.blocks_staged(container, KEY) == []
    assert log.puts_of_whole_blobs(container, KEY) == 1
    assert stored(azurite, container) == data


@pytest.mark.reliability
def test_a_backup_of_a_small_file_puts_it_in_one_put_blob(
        azurite: AzuriteServer, container: str, log: RequestLog, project: Project) -> None:
    """Through the store's door: a file below the limit is hashed first and sent as
    before."""
    configure(project, azurite, container)
    data = os.urandom(300 * KIB)
    project.damage(MODEL, data)
    result = project.cli("backup", "--cloud", "--storage=azure")
    assert result.returncode == 0, result.stderr
    key = f"{PREFIX}/files/md5/{md5(data)[:2]}/{md5(data)[2:]}"
    assert log.blocks_staged(container, key) == []
    assert log.puts_of_whole_blobs(container, key) == 1
    assert azurite.read_object(container, key) == data


@pytest.mark.reliability
def test_a_backup_killed_between_two_blocks_is_resumed_by_sync(
        azurite: AzuriteServer, container: str, log: RequestLog, project: Project) -> None:
    """kill -9 of `backup --cloud` once a block of a 76 MiB model (20 blocks of the SDK's
    4 MiB, above its 64 MiB single-put limit) is staged: the blob keeps the blocks staged
    by then, uncommitted; `sync` stages only the others, commits, and the object is the
    model's bytes, restored from the container alone. One request at a time (`jobs=1`),
    so that the pause leaves exactly the first block staged and none in flight."""
    run_cli(project.root, "remote", "add", "azure", azurite.url_for(container, PREFIX),
            "-ojobs=1", check=True)
    write_credentials(project.root, azurite.dvc_remote_config(container)[1])
    data = os.urandom(SINGLE_PUT + 3 * BLOCK + 123)
    project.damage(MODEL, data)
    key = f"{PREFIX}/files/md5/{md5(data)[:2]}/{md5(data)[2:]}"
    proc = start_paused(project.root, PausePoint.BETWEEN_PARTS, "backup", "--cloud",
                        "--storage=azure")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    blob = azurite.service.get_blob_client(container, key)
    _, left = blob.get_block_list("uncommitted")
    assert [int(block.id[18:24]) for block in left] == [0]
    assert azurite.list_keys(container, key) == []  # nothing committed
    log.mark()
    result = project.cli("sync", "--storage=azure")
    assert result.returncode == 0, result.stderr
    assert log.blocks_staged(container, key) == list(range(1, -(-len(data) // BLOCK)))
    assert azurite.read_object(container, key) == data
    forget_local_data(project)  # the container is the only store left
    project.damage(MODEL, b"what the user has now")
    result = project.cli("restore", "--cloud", "--storage=azure", "--force")
    assert result.returncode == 0, result.stderr
    assert project.read(MODEL) == data
