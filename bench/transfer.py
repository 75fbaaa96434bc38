"""Push / pull throughput to an S3 server against boto3, and a bucket of many objects
listed and swept, in the same run.

    .venv/bin/python bench/transfer.py [--size-mib 256] [--small-objects 20000]
                                       [--sweep-objects 100000] [--repeat 3]

(a size of 0 leaves that part out.)

moto's S3 server runs in its own process on a free 127.0.0.1 port (bench/s3server.py). The
project holds one file of half the size and a directory output of 128 files sharing the
other half (256 MiB: one 128 MiB file and 128 of 1 MiB). Measured, each the median of
--repeat runs:

- push: what a backup does for a cloud remote, alone (`publish.confirm_pushed`: the objects
  the remote's listing lacks uploaded from the cache, then the listing read again to confirm
  every object at its size), into an empty remote; against boto3's TransferManager (16
  threads) uploading the same cache files;
- pull: that backup's objects fetched into an empty cache, each hashed and kept only if whole
  (`Transfers.fetch` given the objects; an hdversion that predates it: DVC's fetch of the
  commit with `verify` on); against boto3 downloading the same objects with 16 threads;
- many small objects (`--small-objects` files of 4 KiB in one directory output): the same
  push and pull, against boto3's put_object / get_object from a pool of as many threads as
  hdversion uses (the remote's `jobs`, printed in the baseline's name);
- a bucket holding a backup's objects and `--sweep-objects` objects no backup names, put
  straight into the server's backend (untimed, seconds for 100,000: bench/s3server.py):
  `hdversion verify` and `hdversion prune` (its sweep deletes those objects; the bucket
  filled again, untimed, before each run), as commands (start-up included), against one
  paginated listing of the bucket by boto3 (`aws s3 ls --recursive`); no target, measured;
  after each run, untimed, the listing's count, verify's report (every object of the
  backup, in the bucket) and prune's (every unnamed object deleted, the backup's left);
- and, for the whole picture, the CLI runs a user types: `hdversion sync --storage s3` into
  an empty remote, and `hdversion restore --cloud --storage s3` with an empty cache and the
  artifacts deleted (which also writes and re-hashes the restored files).

hdversion's time includes making its S3 client and the baseline's its boto3 client; neither
includes the interpreter's start or the imports (the CLI rows do). The baseline and
hdversion run in turns, `--repeat` times each, and each median is reported.

A ratio is hdversion's time over the baseline's; the target is a throughput of at least 0.8x
boto3's, that is a time ratio of at most 1.25. The small-object and bucket rows also print
the requests each side made in its last run, by kind, counted from moto's request log
(bench/moto_requests.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from moto_requests import RequestLog, said
from s3server import moto_server

# TODO(merge): use bench.common (sh, report and the paths below are copies of
# bench/run.py's helpers, kept here so that this file merges without conflicts).
VENV_BIN = Path(sys.executable).parent
HDVERSION = [sys.executable, "-m", "hdversion"]
DVC = str(VENV_BIN / "dvc")


def sh(*cmd: str, cwd: Path) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def report(name: str, seconds: float, baseline_name: str, baseline: float,
           target: float | None) -> dict[str, object]:
    ratio = seconds / baseline
    verdict = "(no target)" if target is None else \
        f"(target <= {target}) " + ("ok" if ratio <= target else "OVER TARGET")
    print(f"{name:<34} {seconds:8.3f} s   {baseline_name:<22} {baseline:8.3f} s   "
          f"ratio {ratio:5.2f} {verdict}", flush=True)
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
# The small objects' size (issue 28: 4 KiB files).
SMALL_SIZE = 4096
# moto accepts any key when it is not asked to enforce IAM; these are not secrets.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}


def s3_client(endpoint: str, threads: int = THREADS) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                        config=Config(max_pool_connections=threads))


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


def seconds_of(action: Callable[[], None], setup: Callable[[], None],
               check: Callable[[], None] | None = None) -> Callable[[], float]:
    """A timed run of `action` after `setup`; `check` (untimed) then confirms it did its
    work, so that a silent no-op cannot look fast."""
    def run() -> float:
        setup()
        os.sync()  # nothing left to write back from the run before (see common.medians)
        start = time.perf_counter()
        action()
        seconds = time.perf_counter() - start
        if check:
            check()
        return seconds
    return run


def make_project(root: Path, size_mib: int, endpoint: str, small: int = 0) -> None:
    """A project with one big file and SHARDS shards of `size_mib` between them; with
    `small`, instead, that many files of SMALL_SIZE in one directory output."""
    root.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh(DVC, "init", "-q", cwd=root)
    (root / "params.yaml").write_text("seed: 1\n")
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text("backup: {}\n")
    if small:
        folder = root / "data" / "small"
        folder.mkdir(parents=True)
        for i in range(small):
            (folder / f"{i:06d}.bin").write_bytes(os.urandom(SMALL_SIZE))
        sh(DVC, "add", "-q", "data/small", cwd=root)
    else:
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
import sys, time
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
else:
    transfers.fetch(remote, objects)
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
        done = subprocess.run([sys.executable, "-c", STEP, verb, str(project), REMOTE],
                              cwd=project, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"the {verb} step failed: {done.stderr[-2000:]}")
        return float(done.stdout.split()[-1])
    return run


def bench_transfer(work: Path, size_mib: int, repeat: int) -> list[dict[str, object]]:
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(CREDENTIALS)
    with moto_server(work / "moto.log") as server:
        endpoint = server.endpoint
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


# -- many small objects, and a bucket of many objects -------------------------------------
def counted(log: RequestLog, timed: Callable[[Callable[[], None]], Callable[[], float]],
            setup: Callable[[], None], seen: list[Counter[str]]) -> Callable[[], float]:
    """A timed run (`timed(setup)`) whose requests (after its setup) are kept in `seen`."""
    def start() -> None:
        setup()
        log.start()

    run = timed(start)

    def counted_run() -> float:
        seconds = run()
        seen.append(log.counts())
        return seconds
    return counted_run


# The concurrency hdversion's transfers use with a remote: its file system's `jobs`.
JOBS = """
import sys
from pathlib import Path
from hdversion.ops.project import Project
project = Project.open(Path(sys.argv[1]))
print(project.store.transfers.remote_records(sys.argv[2]).fs.jobs)
"""


def boto3_each(endpoint: str, threads: int, pairs: list[tuple[Path, str]], upload: bool
               ) -> None:
    """boto3 with a pool of `threads` threads, one put_object (get_object) per file: the
    plainest way to move many small objects, the client made inside the time measured."""
    client = s3_client(endpoint, threads)

    def one(pair: tuple[Path, str]) -> None:
        path, key = pair
        if upload:
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        else:
            path.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, pairs))


def bench_small(work: Path, count: int, repeat: int) -> list[dict[str, object]]:
    """Push and pull of `count` objects of SMALL_SIZE (one directory output) in process,
    against boto3's put_object / get_object from as many threads as hdversion uses."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(CREDENTIALS)
    with moto_server(work / "moto-small.log") as server:
        endpoint = server.endpoint
        log = RequestLog(work / "moto-small.log")
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        project = work / "small-project"
        make_project(project, 0, endpoint, small=count)
        jobs = int(subprocess.run([sys.executable, "-c", JOBS, str(project), REMOTE],
                                  cwd=project, check=True, capture_output=True,
                                  text=True).stdout)
        objects = cache_objects(project)
        uploads = [(path, f"boto3/{md5[:2]}/{md5[2:]}") for md5, path in objects.items()]
        downloaded = work / "small-downloaded"
        # The pull into an empty cache fetches the files: the directory's listing is named
        # only where the cache holds it (`push.needed_objects`).
        downloads = [(downloaded / key, key) for _path, key in uploads
                     if not key.endswith(".dir")]
        cache = project / ".dvc" / "cache" / "files"
        saved = work / "small-saved-cache"
        shutil.copytree(cache, saved)

        def fresh_download_dir() -> None:
            shutil.rmtree(downloaded, ignore_errors=True)
            for path, _key in downloads:
                path.parent.mkdir(parents=True, exist_ok=True)

        theirs: list[Counter[str]] = []
        ours: list[Counter[str]] = []
        baseline = f"boto3 put_object, {jobs} thr"
        up, push = interleaved(repeat, counted(
            log, lambda s: seconds_of(lambda: boto3_each(endpoint, jobs, uploads, True), s),
            lambda: empty_prefix(client, "boto3"), theirs), counted(
            log, lambda s: step_seconds("push", project, s),
            lambda: empty_prefix(client, PREFIX), ours))
        results = [compared(f"push {count} small objects to S3", push, baseline, up)]
        print(f"{'':<34} requests: hdversion {said(ours[-1])}; boto3 {said(theirs[-1])}")
        # The last runs left both copies in the bucket.
        theirs.clear()
        ours.clear()
        baseline = f"boto3 get_object, {jobs} thr"
        down, pull = interleaved(repeat, counted(
            log, lambda s: seconds_of(lambda: boto3_each(endpoint, jobs, downloads, False), s),
            fresh_download_dir, theirs), counted(
            log, lambda s: step_seconds("pull", project, s),
            lambda: shutil.rmtree(cache), ours))
        results.append(compared(f"pull {count} small objects from S3", pull, baseline, down))
        print(f"{'':<34} requests: hdversion {said(ours[-1])}; boto3 {said(theirs[-1])}")
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(saved, cache)
        shutil.rmtree(saved)
        shutil.rmtree(downloaded, ignore_errors=True)
        return results


# Objects of the backup the swept bucket also holds (a directory output of these files).
SWEEP_BACKUP_FILES = 1000


def unnamed_keys(count: int) -> list[str]:
    """`count` keys no backup names, where the remote keeps its objects (random md5s)."""
    return [f"{PREFIX}/files/md5/{name[:2]}/{name[2:]}"
            for name in (os.urandom(16).hex() for _ in range(count))]


def listed_keys(client: Any) -> int:
    """The remote's keys, listed the way `aws s3 ls --recursive` does: one paginated
    listing (1,000 keys a page)."""
    paginator = client.get_paginator("list_objects_v2")
    return sum(len(page.get("Contents", []))
               for page in paginator.paginate(Bucket=BUCKET, Prefix=PREFIX + "/"))


def bench_sweep(work: Path, count: int, repeat: int) -> list[dict[str, object]]:
    """`verify` and prune's sweep of a bucket holding a backup's objects and `count` objects
    no backup names, as commands (start-up included), against one listing of the bucket
    by boto3's paginator; each with the requests it made. The bucket is filled through the
    server's backend (bench/s3server.py), untimed, before the first run and each prune."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update(CREDENTIALS)
    with moto_server(work / "moto-sweep.log") as server:
        log = RequestLog(work / "moto-sweep.log")
        client = s3_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        project = work / "sweep-project"
        files = min(count, SWEEP_BACKUP_FILES)
        make_project(project, 0, server.endpoint, small=files)
        sh(*HDVERSION, "sync", "--storage", REMOTE, cwd=project)
        backup_keys = listed_keys(client)
        objects = len(cache_objects(project))
        full = [False]

        def fill() -> None:
            if not full[0]:
                server.fill(BUCKET, unnamed_keys(count))
                full[0] = True

        fill()
        listing = f"boto3 listing ({backup_keys + count} keys)"
        theirs: list[Counter[str]] = []
        ours: list[Counter[str]] = []
        listed = [0]

        def listed_all() -> None:
            if listed[0] != backup_keys + count:
                raise RuntimeError(f"the listing saw {listed[0]} of {backup_keys + count} keys")

        baseline = counted(log, lambda s: seconds_of(
            lambda: listed.__setitem__(0, listed_keys(client)), s, listed_all),
            fill, theirs)
        verified = [""]

        def verified_all() -> None:
            # Every object of the backup found in the bucket, by the run timed.
            found = json.loads(verified[0])
            if found["remote"] != REMOTE or not found["ok"] or found["objects"] != objects:
                raise RuntimeError(f"verify checked {found['objects']} of {objects} objects "
                                   f"in {found['remote']}: {verified[0][-600:]}")

        base, verify = interleaved(repeat, baseline, counted(
            log, lambda s: seconds_of(lambda: verified.__setitem__(0, sh(
                *HDVERSION, "verify", "--json", "--storage", REMOTE, cwd=project)),
                s, verified_all), lambda: None, ours))
        results = [report(f"verify of {count} objects (CLI)", verify, listing, base, None)]
        print(f"{'':<34} requests: hdversion {said(ours[-1])}; boto3 {said(theirs[-1])}")
        theirs.clear()
        ours.clear()

        pruned = [""]

        def prune_once() -> None:
            pruned[0] = sh(*HDVERSION, "prune", "--json", "--storage", REMOTE, "--offline",
                           "--grace", "0", "--keep", "1", cwd=project)
            full[0] = False

        def swept() -> None:
            # What the prune said and left, checked untimed: the backup's objects, only them.
            deleted = sum(store["deleted"] for store in json.loads(pruned[0])["stores"])
            if deleted != count or listed_keys(client) != backup_keys:
                raise RuntimeError(f"prune deleted {deleted} of {count} objects, left "
                                   f"{listed_keys(client)}, not the backup's {backup_keys}")

        base, prune = interleaved(repeat, baseline, counted(
            log, lambda s: seconds_of(prune_once, s, swept), fill, ours))
        results.append(report(f"prune's sweep of {count} objects (CLI)", prune, listing, base,
                              None))
        print(f"{'':<34} requests: hdversion {said(ours[-1])}; boto3 {said(theirs[-1])}")
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
    parser.add_argument("--small-objects", type=int, default=20_000,
                        help="transfer: objects of 4 KiB pushed and pulled (default 20,000)")
    parser.add_argument("--sweep-objects", type=int, default=100_000,
                        help="transfer: unreferenced objects in the bucket that verify lists "
                        "and prune sweeps (default 100,000)")


def run(ctx: Any) -> None:
    """bench/run.py's part: each transfer row added as a throughput against boto3's (target
    >= 0.8); the sweep's rows as times against one listing (no target)."""
    args = ctx.args
    rows: list[dict[str, object]] = []
    # A size of 0 leaves that part out (to work on one).
    if args.transfer_size_mib:
        print(f"\n== transfer: {args.transfer_size_mib} MiB to moto's S3 server", flush=True)
        rows += bench_transfer(ctx.scratch("transfer"), args.transfer_size_mib, args.repeat)
    if args.small_objects:
        print(f"\n== transfer: {args.small_objects} small objects", flush=True)
        rows += bench_small(ctx.scratch("transfer-small"), args.small_objects, args.repeat)
    for row in rows:
        ctx.results.add(str(row["name"]), float(row["seconds"]),  # type: ignore[arg-type]
                        str(row["baseline"]), float(row["baseline_seconds"]),  # type: ignore[arg-type]
                        1 / TARGET, throughput=True)
    if not args.sweep_objects:
        return
    print(f"\n== transfer: a bucket of {args.sweep_objects} objects", flush=True)
    for row in bench_sweep(ctx.scratch("transfer-sweep"), args.sweep_objects, args.repeat):
        ctx.results.add(str(row["name"]), float(row["seconds"]),  # type: ignore[arg-type]
                        str(row["baseline"]), float(row["baseline_seconds"]),  # type: ignore[arg-type]
                        None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--small-objects", type=int, default=20_000)
    parser.add_argument("--sweep-objects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-s3-"))
    os.environ.setdefault("DVC_SITE_CACHE_DIR", str(work / "dvc-site"))
    try:
        # A size of 0 leaves that part out (to work on one).
        results = [*(bench_transfer(work / "big", args.size_mib, args.repeat)
                     if args.size_mib else []),
                   *(bench_small(work / "small", args.small_objects, args.repeat)
                     if args.small_objects else []),
                   *(bench_sweep(work / "sweep", args.sweep_objects, args.repeat)
                     if args.sweep_objects else [])]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
