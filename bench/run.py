"""Benchmarks: hdversion against baselines measured in the same run.

    .venv/bin/python bench/run.py [--size-mib 256] [--tags 1000] [--repeat 3]

Prints each timing and its ratio to the baseline (median of --repeat runs). Targets (from the
roadmap): first backup <= 1.5x (md5sum + cp), unchanged backup <= 1.2x `dvc status`,
verified restore <= 1.5x (cp + md5sum), `list` of 1,000 backups and `--help` <= 3x
`python -c pass`, storage <= 1.05x the unique bytes.
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
from collections.abc import Callable
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
HDVERSION = [sys.executable, "-m", "hdversion"]
DVC = str(VENV_BIN / "dvc")


def sh(*cmd: str, cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def timed(action: Callable[[], None], repeat: int,
          setup: Callable[[], None] | None = None) -> float:
    runs = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        action()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def report(name: str, seconds: float, baseline_name: str, baseline: float,
           target: float) -> dict[str, object]:
    ratio = seconds / baseline
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(f"{name:<34} {seconds:8.3f} s   {baseline_name:<22} {baseline:8.3f} s   "
          f"ratio {ratio:5.2f} (target <= {target}) {verdict}")
    return {"name": name, "seconds": seconds, "baseline": baseline_name,
            "baseline_seconds": baseline, "ratio": ratio, "target": target}


def make_project(root: Path, size_mib: int) -> None:
    root.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh(DVC, "init", "-q", cwd=root)
    (root / "params.yaml").write_text("seed: 1\n")
    (root / "config").mkdir()
    (root / "config" / "config.yaml").write_text("backup: {}\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  make:\n"
        f"    cmd: head -c {size_mib * 1024 * 1024} /dev/urandom > models/big.bin"
        " && head -c 1048576 /dev/urandom > models/small.bin\n"
        "    params: [seed]\n    outs: [models/big.bin, models/small.bin]\n"
    )
    (root / "models").mkdir()
    sh("git", "add", "-A", cwd=root)
    sh("git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "p", cwd=root)
    # The outputs exist but are not in the cache: the first backup hashes and copies them.
    sh(DVC, "repro", "-q", "--no-commit", cwd=root)


def bench_data(work: Path, size_mib: int, repeat: int) -> list[dict[str, object]]:
    results = []
    project = work / "project"
    make_project(project, size_mib)
    big = project / "models" / "big.bin"
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # page cache

    def hash_and_copy() -> None:
        sh("md5sum", str(big), str(project / "models" / "small.bin"), cwd=work)
        sh("cp", str(big), str(work / "copy.bin"), cwd=work)
    baseline = timed(hash_and_copy, repeat)

    first = timed(lambda: sh(*HDVERSION, "backup", cwd=project), 1)
    results.append(report(f"first backup ({size_mib} MiB)", first, "md5sum + cp", baseline,
                          1.5))

    status = timed(lambda: sh(DVC, "status", "-q", cwd=project), repeat)
    unchanged = timed(lambda: sh(*HDVERSION, "backup", cwd=project), repeat)
    results.append(report("unchanged backup", unchanged, "dvc status", status, 1.2))

    def damage() -> None:
        big.unlink()
    restore = timed(lambda: sh(*HDVERSION, "restore", "--force", cwd=project), repeat,
                    setup=damage)

    def copy_and_hash() -> None:
        sh("cp", str(big), str(work / "copy.bin"), cwd=work)
        sh("md5sum", str(work / "copy.bin"), cwd=work)
    results.append(report("verified restore", restore, "cp + md5sum",
                          timed(copy_and_hash, repeat), 1.5))

    tar = timed(lambda: sh("tar", "czf", str(work / "old-way.tar.gz"), "models", cwd=project), 1)
    results.append(report("unchanged backup vs tar czf", unchanged, "tar czf (old way)", tar,
                          1.0))

    stored = sum(p.stat().st_size for p in (project / "backups").rglob("*") if p.is_file())
    unique = big.stat().st_size + (project / "models" / "small.bin").stat().st_size
    ratio = stored / unique
    print(f"{'storage after ' + str(1 + 2 * repeat) + ' backups':<34} {stored:>12} B   "
          f"unique bytes {unique:>12} B   ratio {ratio:5.3f} (target <= 1.05) "
          f"{'ok' if ratio <= 1.05 else 'OVER TARGET'}")
    results.append({"name": "storage", "ratio": ratio, "target": 1.05})
    return results


def bench_list(work: Path, tags: int, repeat: int) -> list[dict[str, object]]:
    project = work / "listing"
    make_project(project, 1)
    sh(*HDVERSION, "backup", cwd=project)
    message = subprocess.run(["git", "for-each-ref", "--format=%(contents)", "refs/tags/"],
                             cwd=project, capture_output=True, text=True,
                             check=True).stdout.strip()
    manifest = json.loads(message)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                            text=True, check=True).stdout.strip()
    # Make the tag objects with git mktag in one process per tag would take a minute; a
    # fast-import stream writes them all at once.
    stream = []
    for i in range(tags):
        manifest["timestamp"] = f"2024{1 + i // 2000:02d}{1 + i // 86 % 28:02d}_" \
                                f"{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}"
        text = json.dumps(manifest, separators=(",", ":"))
        stream.append(f"tag backup/{manifest['timestamp']}\nfrom {commit}\n"
                      f"tagger b <b@b> 0 +0000\ndata {len(text.encode())}\n{text}\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=project, check=True,
                   input="".join(stream).encode())
    baseline = timed(lambda: sh(sys.executable, "-c", "pass", cwd=project), repeat)
    listing = timed(lambda: sh(*HDVERSION, "list", "--json", cwd=project), repeat)
    help_ = timed(lambda: sh(*HDVERSION, "--help", cwd=project), repeat)
    return [
        report(f"list --json of {tags + 1} backups", listing, "python -c pass", baseline, 3.0),
        report("--help", help_, "python -c pass", baseline, 3.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    work = Path(tempfile.mkdtemp(prefix="hdversion-bench-"))
    os.environ.setdefault("DVC_SITE_CACHE_DIR", str(work / "dvc-site"))
    try:
        results = bench_list(work, args.tags, args.repeat)
        results += bench_data(work, args.size_mib, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
