"""Push / pull throughput to an S3 server against boto3 with 16 threads, in the same run.

    .venv/bin/python bench/transfer.py [--size-mib 256] [--repeat 3]

moto's S3 server runs in its own process on a free 127.0.0.1 port. The project holds one file
of half the size and a directory output of 128 files sharing the other half (256 MiB: one
128 MiB file and 128 of 1 MiB). Measured, each the median of --repeat runs:

- push: what a backup does for a cloud remote, alone (`publish.confirm_pushed`: the objects
  the remote's listing lacks uploaded from the cache, then the listing read again to confirm
  every object at its size), into an empty remote; against boto3's TransferManager (16
  threads) uploading the same cache files;
- pull: that backup's objects fetched into an empty cache, each hashed and kept only if whole
  (`Transfers.fetch` given the objects; an hdversion that predates it: DVC's fetch of the
  commit with `verify` on); against boto3 downloading the same objects with 16 threads;
- and, for the whole picture, the CLI runs a user types: `hdversion sync --storage s3` into
  an empty remote, and `hdversion restore --cloud --storage s3` with an empty cache and the
  artifacts deleted (which also writes and re-hashes the restored files).

hdversion's time includes making its S3 client and the baseline's its boto3 client; neither
includes the interpreter's start or the imports (the CLI rows do). The baseline and
hdversion run in turns, `--repeat` times each, and each median is reported.

A ratio is hdversion's time over the baseline's; the target is a throughput of at least 0.8x
boto3's, that is a time ratio of at most 1.25.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# TODO(merge): use bench.common (sh, report and the paths below are copies of
# bench/run.py's helpers, kept here so that this file merges without conflicts).
VENV_BIN = Path(sys.executable).parent
HDVERSION = [sys.executable, "-m", "hdversion"]
DVC = str(VENV_BIN / "dvc")


def sh(*cmd: str, cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def report(name: str, seconds: float, baseline_name: str, baseline: float,
           target: float) -> dict[str, object]:
    ratio = seconds / baseline
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(f"{name:<34} {seconds:8.3f} s   {baseline_name:<22} {baseline:8.3f} s   "
          f"ratio {ratio:5.2f} (target <= {target}) {verdict}")
    return {"name": name, "seconds": seconds, "baseline": baseline_name,
            "baseline_seconds": baseline, "ratio": ratio, "target": target}

# end of the copies


BUCKET = "bench"
PREFIX = "hdversion"
REMOTE = "s3"
THREADS = 16
# A throughput of at least 0.8x boto3's is a time of at most 1.25x.
TARGET = 1.25
SHARDS = 128
# moto accepts any key when it is not asked to enforce IAM; these are not secrets.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's S3 server in a process of its own (it would otherwise share this one's GIL
    with the clients being measured); yields its endpoint."""
    port = free_port()
    executable = VENV_BIN / "moto_server"
    argv = [str(executable)] if executable.exists() else [sys.executable, "-m", "moto.server"]
    with log.open("wb") as out:
        server = subprocess.Popen([*argv, "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                        config=Config(max_pool_connections=THREADS))


def empty_prefix(client: Any, prefix: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})


def boto3_transfer(endpoint: str, pairs: list[tuple[Path, str]], upload: bool) -> None:
    """boto3's own way with 16 threads: a client, then one TransferManager for every file
    (multipart uploads and ranged downloads included), all submitted at once. The client is
    made here, as hdversion makes its own inside the time measured."""
    from s3transfer.manager import TransferConfig, TransferManager

    config = TransferConfig(max_request_concurrency=THREADS)
    with TransferManager(s3_client(endpoint), config) as manager:
        futures = [manager.upload(str(path), BUCKET, key) if upload
                   else manager.download(BUCKET, key, str(path)) for path, key in pairs]
        for future in futures:
            future.result()


def interleaved(repeat: int, baseline: Callable[[], float], ours: Callable[[], float]
                ) -> tuple[float, float]:
    """Medians of the baseline and of hdversion, run in turns: on a shared machine the load
    changes from one minute to the next, and each pair sees about the same."""
    pairs = [(baseline(), ours()) for _ in range(repeat)]
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))


def seconds_of(action: Callable[[], None], setup: Callable[[], None]) -> Callable[[], float]:
    def run() -> float:
        setup()
        os.sync()  # nothing left to write back from the run before (see common.medians)
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    return run


def make_project(root: Path, size_mib: int, endpoint: str) -> None:
    root.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh(DVC, "init", "-q", cwd=root)
    (root / "params.yaml").write_text("seed: 1\n")
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text("backup: {}\n")
    half = size_mib * 1024 * 1024 // 2
    (root / "models").mkdir()
    with (root / "models" / "big.bin").open("wb") as out:
        out.write(os.urandom(half))
    shards = root / "data" / "shards"
    shards.mkdir(parents=True)
    for i in range(SHARDS):
        (shards / f"{i:03d}.bin").write_bytes(os.urandom(half // SHARDS))
    sh(DVC, "add", "-q", "models/big.bin", "data/shards", cwd=root)
    sh(*HDVERSION, "remote", "add", REMOTE, f"s3://{BUCKET}/{PREFIX}", "--endpoint-url",
       endpoint, "-o", "region=us-east-1", cwd=root)
    sh("git", "add", "-A", cwd=root)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "p", cwd=root)
    sh(*HDVERSION, "backup", "-m", "bench", cwd=root)


def cache_objects(root: Path) -> dict[str, Path]:
    """Every object of the project's cache: md5 (with `.dir` for a listing) -> its file."""
    files = root / ".dvc" / "cache" / "files" / "md5"
    return {p.parent.name + p.name: p for p in files.rglob("*") if p.is_file()}


# One hdversion step in a fresh process, timed there after DVC is imported and the project
# opened (a backup or a restore pays those once, whatever the size).
STEP = """
import inspect, sys, time
from pathlib import Path
import s3fs  # what the first S3 request of a run imports; boto3's import is not timed either
from hdversion.ops.catalog import files_of, read_catalog
from hdversion.ops.project import Project
from hdversion.ops.push import confirm_pushed, needed_objects
verb, root, remote = sys.argv[1:4]
project = Project.open(Path(root))
backup = read_catalog(project.git).backups[0]
files = files_of(project.git, backup)
objects = needed_objects(project, files, backup.manifest.outputs)
project.store.session.remotes()  # imports DVC
transfers = project.store.transfers
import os
os.sync()
start = time.perf_counter()
if verb == "push":
    confirm_pushed(project, backup.commit, objects, remote)
elif "objects" in inspect.signature(transfers.fetch).parameters:
    transfers.fetch(backup.commit, remote, objects)
else:  # hdversion before the object-store transfers: DVC's fetch of the revision
    transfers.fetch(backup.commit, remote)
seconds = time.perf_counter() - start
if verb == "pull":  # every object whole in the cache (not timed)
    from hdversion.util.hashing import md5_file
    for md5, size in objects.items():
        if md5_file(project.store.cache_path(md5)) != (md5.removesuffix(".dir"), size):
            sys.exit(f"bad object {md5}")
print(seconds)
"""


def step_seconds(verb: str, project: Path, setup: Callable[[], None]) -> Callable[[], float]:
    def run() -> float:
        setup()
        out = subprocess.run([sys.executable, "-c", STEP, verb, str(project), REMOTE],
                             cwd=project, check=True, capture_output=True, text=True).stdout
        return float(out.split()[-1])
    return run


def bench_transfer(work: Path, size_mib: int, repeat: int) -> list[dict[str, object]]:
    os.environ.update(CREDENTIALS)
    with moto_server(work / "moto.log") as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        project = work / "s3-project"
        make_project(project, size_mib, endpoint)
        return _measure(work, project, client, endpoint, size_mib, repeat)


def _measure(work: Path, project: Path, client: Any, endpoint: str, size_mib: int,
             repeat: int) -> list[dict[str, object]]:
    objects = cache_objects(project)
    uploads = [(path, f"boto3/{md5[:2]}/{md5[2:]}") for md5, path in objects.items()]
    downloaded = work / "downloaded"
    downloads = [(downloaded / key, key) for _path, key in uploads]
    cache = project / ".dvc" / "cache" / "files"
    saved = work / "saved-cache"
    shutil.copytree(cache, saved)
    artifacts = [project / "models" / "big.bin", project / "data" / "shards"]

    def empty_remotes() -> None:
        empty_prefix(client, "boto3")
        empty_prefix(client, PREFIX)

    def fresh_download_dir() -> None:
        shutil.rmtree(downloaded, ignore_errors=True)
        for path, _key in downloads:
            path.parent.mkdir(parents=True, exist_ok=True)

    def empty_cache() -> None:
        shutil.rmtree(cache)

    def empty_cache_and_artifacts() -> None:
        empty_cache()
        for path in artifacts:
            shutil.rmtree(path) if path.is_dir() else path.unlink()

    upload = seconds_of(lambda: boto3_transfer(endpoint, uploads, upload=True), empty_remotes)
    download = seconds_of(lambda: boto3_transfer(endpoint, downloads, upload=False),
                          fresh_download_dir)
    up, push = interleaved(repeat, upload, step_seconds("push", project, empty_remotes))
    results = [compared(f"push to S3 ({size_mib} MiB)", push, "boto3 upload, 16 thr", up)]
    up, sync = interleaved(repeat, upload, seconds_of(
        lambda: sh(*HDVERSION, "sync", "--storage", REMOTE, cwd=project), empty_remotes))
    results.append(compared("sync --storage s3 (CLI)", sync, "boto3 upload, 16 thr", up))
    # From here on both copies stay in the bucket.
    boto3_transfer(endpoint, uploads, upload=True)
    down, pull = interleaved(repeat, download, step_seconds("pull", project, empty_cache))
    results.append(compared(f"pull from S3 ({size_mib} MiB)", pull, "boto3 download, 16 thr",
                            down))
    down, restore = interleaved(repeat, download, seconds_of(
        lambda: sh(*HDVERSION, "restore", "--force", "--cloud", "--storage", REMOTE,
                   cwd=project), empty_cache_and_artifacts))
    results.append(compared("restore --cloud, empty cache (CLI)", restore,
                            "boto3 download, 16 thr", down))
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(saved, cache)
    return results


def compared(name: str, seconds: float, baseline_name: str, baseline: float
             ) -> dict[str, object]:
    """report()'s row, plus the throughput ratio the target is stated in."""
    row = report(name, seconds, baseline_name, baseline, TARGET)
    row["throughput_ratio"] = baseline / seconds
    print(f"{'':<34} throughput {baseline / seconds:.2f}x boto3's (target >= 0.8)")
    return row


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transfer-size-mib", type=int, default=256,
                        help="bytes pushed and pulled by the transfer part (default 256)")


def run(ctx: Any) -> None:
    """bench/run.py's part: each row added as a throughput against boto3's (target >= 0.8)."""
    print(f"\n== transfer: {ctx.args.transfer_size_mib} MiB to moto's S3 server", flush=True)
    for row in bench_transfer(ctx.scratch("transfer"), ctx.args.transfer_size_mib,
                              ctx.args.repeat):
        ctx.results.add(str(row["name"]), float(row["seconds"]),  # type: ignore[arg-type]
                        str(row["baseline"]), float(row["baseline_seconds"]),  # type: ignore[arg-type]
                        1 / TARGET, throughput=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-s3-"))
    os.environ.setdefault("DVC_SITE_CACHE_DIR", str(work / "dvc-site"))
    try:
        results = bench_transfer(work, args.size_mib, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
