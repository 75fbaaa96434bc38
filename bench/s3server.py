"""moto's S3 server for the bench, in a process of its own, which also puts keys straight into
its backend on request: a bucket of 100,000 objects filled in seconds.

    python bench/s3server.py PORT    # serves on 127.0.0.1:PORT, fill requests on stdin

Over HTTP moto takes about 5 ms an object however many clients send them (one process, one
GIL: two minutes for 20,000 objects from 16 threads on this machine at a load of 16-20, most
of an hour for the bucket of 100,000 that the bench fills again before each prune); through
its backend, about 50 us each (100,000 in 5 s). They are the same objects in the same
server: hdversion and the baselines list, read and delete them over HTTP. The server is the
one `moto_server` runs (werkzeug's threaded server, moto's application and request handler),
started by `ThreadedMotoServer` so that this process can reach its backend; its own process
keeps it from sharing the GIL of the bench's clients being measured. Its log (werkzeug's
line per request, on stderr) is what `moto_requests.RequestLog` counts.

A fill request is one line of JSON on stdin, `{"bucket": NAME, "keys": [KEY, ...]}`; each
key is put with its own name as its content, and the number put is the answer, one line on
stdout. The server stops when stdin closes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def put_keys(bucket: str, keys: Iterable[str]) -> int:
    """Each key put into the bucket of the moto backend of this process, its name its
    content, with no request: the bench's one way to fill a bucket, and the tests'."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    count = 0
    for key in keys:
        backend.put_object(bucket, key, key.encode())
        count += 1
    return count


def serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for line in sys.stdin:
        request = json.loads(line)
        print(put_keys(request["bucket"], request["keys"]), flush=True)
    # Without stopping the server or freeing its objects: a server holding 100,000 of them
    # took longer than the bench's wait to exit.
    os._exit(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[str]

    def fill(self, bucket: str, keys: list[str]) -> None:
        """The keys put into the bucket through the server's backend (see `put_keys`)."""
        requests: IO[str] | None = self.process.stdin
        answers: IO[str] | None = self.process.stdout
        assert requests is not None and answers is not None
        requests.write(json.dumps({"bucket": bucket, "keys": keys}) + "\n")
        requests.flush()
        answer = answers.readline()
        if answer.strip() != str(len(keys)):
            raise RuntimeError(f"moto's server put {answer.strip() or 'nothing'} of "
                               f"{len(keys)} keys (see its log)")


@contextmanager
def moto_server(log: Path) -> Iterator[MotoServer]:
    """The server on a free 127.0.0.1 port, its requests logged to `log`."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, __file__, str(port)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=out, text=True,
                                   start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield MotoServer(endpoint, process)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
