"""Benchmarks: hdversion against baselines measured in the same run (bench/README.md).

    .venv/bin/python bench/run.py                  # every part, issue 12's sizes (make bench)
    .venv/bin/python bench/run.py --only rows      # one part; --only is repeatable

Parts: rows (the first table: 1 GiB of artifacts), encrypted (its backup and restore with an
encrypted local remote against a plain one), dirs (a directory output of 10,000 small
files), peers (restic and plain DVC on 512 MiB), transfer (push/pull against boto3, from
bench/transfer.py when it is there), curves (cost against the number of files and backups;
--chart writes a PNG and its table), big (one file of --big-gib GiB: backup and restore
against md5sum + cp, and their peak RSS), gcs (one file put to the GCS emulator: a recorded
session against gcsfs's put, and the put after one stopped at half). Each row prints
hdversion's time, its baseline's, the ratio (median of --repeat interleaved runs) and ok /
OVER TARGET.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import big
import curves
import dirs
import encrypted
import gcs_resume
import peers
import rows
import small
from common import Context, Results

BENCH_DIR = Path(__file__).resolve().parent


def transfer_module() -> ModuleType | None:
    """The push/pull part lives in bench/transfer.py (built separately). Its contract:
    `run(ctx: common.Context) -> None` adds its rows with `ctx.results.add(...,
    throughput=True)` (seconds in, the throughput ratio out); an optional
    `add_arguments(parser)` adds its options."""
    if not (BENCH_DIR / "transfer.py").exists():
        return None
    return importlib.import_module("transfer")


def run_transfer(ctx: Context) -> None:
    module = transfer_module()
    if module is None:
        print("\n== transfer: skipped, bench/transfer.py is not there", flush=True)
        return
    module.run(ctx)


PARTS: dict[str, Callable[[Context], None]] = {
    "rows": rows.run, "dirs": dirs.run, "peers": peers.run, "transfer": run_transfer,
    "curves": curves.run, "encrypted": encrypted.run, "small": small.run, "big": big.run,
    "gcs": gcs_resume.run,
}


def counts(text: str) -> list[int]:
    return sorted({int(n) for n in text.split(",")})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", choices=list(PARTS),
                   help="run this part (repeatable); default: every part")
    p.add_argument("--curves", action="store_true", help="same as --only curves")
    p.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    p.add_argument("--json", type=Path, help="also write every result here")
    rows_ = p.add_argument_group("rows and peers")
    rows_.add_argument("--size-mib", type=int, default=1024, help="rows: artifacts' size")
    rows_.add_argument("--files", type=int, default=1024,
                       help="rows, peers: files in the directory output (half the bytes)")
    rows_.add_argument("--tags", type=int, default=1000, help="rows: backups to list")
    rows_.add_argument("--peer-size-mib", type=int, default=512, help="peers: data set size")
    p.add_argument("--dir-files", type=int, default=10_000,
                   help="dirs: 4 KiB files in the directory output")
    p.add_argument("--small-files", type=counts, default=[20_000, 100_000],
                   help="small: 4 KiB files in the directory output, e.g. 20000,100000")
    p.add_argument("--big-gib", type=float, default=big.DEFAULT_GIB,
                   help="big: the one file's size in GiB (needs 4.5x that free)")
    gcs_resume.add_arguments(p)
    curve = p.add_argument_group("curves")
    curve.add_argument("--curve-files", type=counts, default=[1, 1000, 10_000, 100_000],
                       help="numbers of 4 KiB files, e.g. 1,1000,10000")
    curve.add_argument("--curve-tags", type=counts, default=[1000, 10_000, 100_000],
                       help="numbers of backups to list, e.g. 10,100,1000")
    curve.add_argument("--chart", type=Path,
                       help="write the curves' chart here (PNG) and their table beside it (.md)")
    module = transfer_module()
    if module is not None and hasattr(module, "add_arguments"):
        module.add_arguments(p)
    return p


def main() -> None:
    args = parser().parse_args()
    chosen = (args.only or []) + (["curves"] if args.curves else [])
    parts = [name for name in PARTS if name in chosen or not chosen]
    if args.chart:
        args.chart = args.chart.resolve()
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-"))
    # Every DVC state database and index of the run lives, and dies, in its scratch folder.
    os.environ["DVC_SITE_CACHE_DIR"] = str(work / "dvc-site")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    # hdversion is installed editable: without its .pyc files every timed call would compile
    # the package first: they are written here.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    package = Path(__file__).resolve().parent.parent / "hdversion"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    for who in ("AUTHOR", "COMMITTER"):
        os.environ.setdefault(f"GIT_{who}_NAME", "bench")
        os.environ.setdefault(f"GIT_{who}_EMAIL", "bench@example.com")
    results = Results()
    try:
        for name in parts:
            PARTS[name](Context(work, args, results))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results.rows, indent=2))
    failed = [row["name"] for row in results.rows if "error" in row]
    if failed:
        sys.exit(f"{len(failed)} measure(s) failed: {', '.join(map(str, failed))}")


if __name__ == "__main__":
    main()
