"""A large file's put to GCS (issue 28, "Big artifacts"): hdversion's recorded, resumable
session (`datastore/gcs_resume.py`) against the path before it (the file hashed, then
gcsfs's `put_file`: 50 MiB chunks, no record), and a put stopped half-way then run again.

    PYTHONPATH=$PWD .venv/bin/python bench/gcs_resume.py --mib 512 --repeat 3

The GCS emulator (`tests/gcs_emulator.py`, in memory) runs on a free 127.0.0.1 port; each
repeat writes a new file of random bytes, then times each side in turn (interleaved), the
emulator wiped before each. The bytes each run sent are counted at the emulator
(`/_hdversion/received`). The emulator copies a session's bytes at every chunk, so its
times grow with the square of the size: a ratio here says more than a time."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

from hdversion.config.credentials import CloudCredentials
from hdversion.datastore.records import open_url
from hdversion.datastore.store import BucketStore, store_of
from hdversion.util.hashing import md5_file

MIB = 1024 * 1024
BUCKET = "bench"


class Stop(BaseException):
    """Stands for a kill: nothing in the store catches it."""


def emulator(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launcher = Path(__file__).parent.parent / "tests" / "gcs_emulator.py"
    proc = subprocess.Popen([sys.executable, str(launcher), "--data-dir", str(work / "data"),
                             "start", "--host", "127.0.0.1", "--port", str(port), "--quiet",
                             "--in-memory"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(f"{endpoint}/", timeout=2).text == "OK":
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    requests.post(f"{endpoint}/storage/v1/b", params={"project": "bench"},
                  json={"name": BUCKET}, timeout=10).raise_for_status()
    return proc, endpoint


def received(endpoint: str) -> int:
    return sum(requests.get(f"{endpoint}/_hdversion/received", timeout=10).json().values())


def fresh_store(endpoint: str, uploads: Path) -> BucketStore:
    requests.get(f"{endpoint}/wipe?keep-buckets=true", timeout=60).raise_for_status()
    records = open_url(f"gs://{BUCKET}/p", endpoint, CloudCredentials({}))
    records.uploads = uploads
    store = store_of("gcs", records)
    assert isinstance(store, BucketStore)
    return store


def before(store: BucketStore, path: Path, md5: str, size: int) -> None:
    md5_file(path)
    store.records.fs.fs.put_file(str(path), store.records.path(store.key(md5)))


def resumable(store: BucketStore, path: Path, md5: str, size: int) -> None:
    store.put_files([(md5, path)])


def stopped(store: BucketStore, path: Path, md5: str, size: int) -> None:
    """A put stopped once half the file is sent (its session and record left)."""
    count = [0]

    def stop(n: int) -> None:
        count[0] += n
        if count[0] >= size // 2:
            raise Stop

    try:
        store.put_files([(md5, path)], stop)
    except Stop:
        return


Step = Callable[[BucketStore, Path, str, int], None]
# Each step, and whether the emulator is wiped before it (the resumed put continues the
# stopped one's session).
STEPS: list[tuple[str, Step, bool]] = [("before", before, True), ("hdversion", resumable, True),
                                       ("stopped", stopped, True), ("resumed", resumable, False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * MIB
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-gcs-"))
    proc, endpoint = emulator(work)
    rows: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    sent: dict[str, int] = {}
    try:
        for _ in range(args.repeat):
            path = work / "big.bin"
            path.write_bytes(os.urandom(size))
            md5 = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            store = fresh_store(endpoint, work / "uploads")
            for name, step, wipe in STEPS:
                if wipe:
                    store = fresh_store(endpoint, work / "uploads")
                start_bytes = received(endpoint)
                start = time.perf_counter()
                step(store, path, md5, size)
                rows[name].append(time.perf_counter() - start)
                sent[name] = received(endpoint) - start_bytes
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(times) for name, times in rows.items()}
    print(f"{args.mib} MiB, {args.repeat} run(s), medians; bytes counted at the emulator")
    print(f"put, the path before (md5 + gcsfs put_file): {median['before']:.2f} s")
    print(f"put, hdversion's recorded session: {median['hdversion']:.2f} s, ratio "
          f"{median['hdversion'] / median['before']:.2f}")
    print(f"put stopped at half: {median['stopped']:.2f} s, {sent['stopped'] / MIB:.0f} MiB "
          "sent")
    print(f"next put, resumed: {median['resumed']:.2f} s, {sent['resumed'] / MIB:.0f} MiB "
          f"sent ({sent['resumed'] / size:.2f} of the file; target: only the rest)")


if __name__ == "__main__":
    main()
