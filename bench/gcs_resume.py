"""A large file's put to GCS (issue 28, "Big artifacts"): hdversion's recorded, resumable
session (`datastore/gcs_resume.py`) against the path before it (the file hashed, then
gcsfs's `put_file`: 50 MiB chunks, no record), and a put stopped half-way then run again.

    PYTHONPATH=$PWD .venv/bin/python bench/run.py --only gcs [--gcs-mib 512] [--repeat 3]
    PYTHONPATH=$PWD .venv/bin/python bench/gcs_resume.py --mib 512 --repeat 3   # alone

The GCS emulator (`tests/gcs_emulator.py`, in memory) runs on a free 127.0.0.1 port; each
repeat writes a new file of random bytes, then times each side in turn (interleaved), the
emulator wiped before each. The bytes each run sent are counted at the emulator
(`/_hdversion/received`). After each put, untimed, the object is read back and hashed (the
stopped put's must not be there), so that a put that silently sent nothing cannot look fast.
The emulator copies a session's bytes at every chunk, so its times grow with the square of
the size: a ratio here says more than a time. A stop can come only between two chunks
(`CHUNK`, 32 MiB): the file must be larger than one (the smoke test's is 40 MiB)."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from hdversion.datastore.store import BucketStore

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
    # Imported here: bench/run.py imports this module, and no other part wants hdversion or
    # gcsfs in its own process.
    from hdversion.config.credentials import CloudCredentials
    from hdversion.datastore.records import open_url
    from hdversion.datastore.store import BucketStore, store_of

    requests.get(f"{endpoint}/wipe?keep-buckets=true", timeout=60).raise_for_status()
    records = open_url(f"gs://{BUCKET}/p", endpoint, CloudCredentials({}))
    records.uploads = uploads
    store = store_of("gcs", records)
    assert isinstance(store, BucketStore)
    return store


def before(store: BucketStore, path: Path, md5: str, size: int) -> None:
    from hdversion.util.hashing import md5_file

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


Step = Callable[["BucketStore", Path, str, int], None]
# Each step, and whether the emulator is wiped before it (the resumed put continues the
# stopped one's session).
STEPS: list[tuple[str, Step, bool]] = [("before", before, True), ("hdversion", resumable, True),
                                       ("stopped", stopped, True), ("resumed", resumable, False)]


def check(name: str, store: BucketStore, md5: str, size: int, sent: int) -> None:
    """What a step left, read back through gcsfs (untimed): the object whole, or for the
    stopped put no object and at least half the file sent."""
    fs, path = store.records.fs.fs, store.records.path(store.key(md5))
    fs.invalidate_cache()
    if name == "stopped":
        if fs.exists(path) or sent < size // 2:
            raise RuntimeError(f"the stopped put sent {sent} of {size} bytes and left "
                               f"{'an' if fs.exists(path) else 'no'} object")
        return
    digest = hashlib.md5(usedforsecurity=False)
    with fs.open(path, "rb", block_size=8 * MIB) as stored:
        while block := stored.read(8 * MIB):
            digest.update(block)
    if digest.hexdigest() != md5 or fs.size(path) != size:
        raise RuntimeError(f"the {name} put left an object of {fs.size(path)} bytes, md5 "
                           f"{digest.hexdigest()}, not the file's ({size}, {md5})")


@dataclass
class Measured:
    """Each step's median seconds, and the bytes its last run sent."""

    size: int
    seconds: dict[str, float]
    sent: dict[str, int]


def measure(work: Path, mib: int, repeat: int) -> Measured:
    os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"  # as the tests run gcsfs
    size = mib * MIB
    proc, endpoint = emulator(work)
    rows: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    sent: dict[str, int] = {}
    try:
        for _ in range(repeat):
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
                check(name, store, md5, size, sent[name])
    finally:
        proc.terminate()
        proc.wait()
        (work / "big.bin").unlink(missing_ok=True)
    return Measured(size, {name: statistics.median(times) for name, times in rows.items()},
                    sent)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gcs-mib", type=int, default=512,
                        help="gcs: the one file put to the GCS emulator, in MiB (default 512; "
                        "more than 32, one chunk, for the stop to come before the end)")


def run(ctx: Any) -> None:
    """bench/run.py's part: the put against the path before (time, no target), the resumed
    put against a whole one (time, no target) and the bytes the resumed put sent (at most
    half the file: only the rest)."""
    args, results = ctx.args, ctx.results
    print(f"\n== gcs: one file of {args.gcs_mib} MiB put to the GCS emulator, median of "
          f"{args.repeat}", flush=True)
    put, resumed, sent = (f"gcs: put of {args.gcs_mib} MiB, recorded session",
                          "gcs: the put after one stopped at half",
                          "gcs: bytes sent by the put after one stopped at half")
    try:
        done = measure(ctx.scratch("gcs"), args.gcs_mib, args.repeat)
    except Exception as exc:  # one part's failure fails its rows, the next part runs
        for name in (put, resumed, sent):
            results.fail(name, f"{type(exc).__name__}: {exc}"[-600:])
        return
    results.add(put, done.seconds["hdversion"], "md5 + gcsfs put_file",
                done.seconds["before"], None)
    results.add(resumed, done.seconds["resumed"], "a whole put, recorded session",
                done.seconds["hdversion"], None,
                f"{done.sent['resumed'] / MIB:.0f} MiB of {args.gcs_mib} sent")
    ratio = done.sent["resumed"] / done.size
    print(f"{sent:<60} {done.sent['resumed']:>11} B   {'the file':<24} {done.size:>11} B   "
          f"ratio {ratio:7.3f} (target <= 0.5) {'ok' if ratio <= 0.5 else 'OVER TARGET'}",
          flush=True)
    results.rows.append({"name": sent, "sent_bytes": done.sent["resumed"],
                         "file_bytes": done.size, "ratio": ratio, "target": 0.5})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-gcs-"))
    try:
        done = measure(work, args.mib, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median, sent, size = done.seconds, done.sent, done.size
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
