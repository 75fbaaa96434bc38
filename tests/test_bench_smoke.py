"""Small runs of bench/run.py, so that the benchmark cannot rot: every row is measured
(against its baseline, in the same run) and the one property that is not a timing, storage
against the unique bytes, holds. No timing is asserted here (bench/README.md has those).

Each hdversion command costs about a second however small the data, so the fast tier runs
only the first table (`--only rows`, ~13 s) and two cheap parts (encrypted, and gcs: the
GCS emulator, one file of 40 MiB, ~3 s); the other parts (dirs, peers, curves, big, small:
~90 s) run in the long tier, the transfer part too (moto's S3 server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_bench(tmp_path: Path, *args: str) -> tuple[dict[str, dict[str, object]], str]:
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(BENCH), "--repeat", "1", "--json", str(out),
                             *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout, result.stderr)
    rows = {str(row["name"]): row for row in json.loads(out.read_text())}
    return rows, result.stdout


def assert_measured(rows: dict[str, dict[str, object]], names: set[str]) -> None:
    assert set(rows) == names
    for row in rows.values():
        if row["name"] == "storage" or "skipped" in row:
            continue
        if "megabytes" in row:  # a peak RSS (bench/big.py): no baseline
            assert float(row["megabytes"]) > 0, row  # type: ignore[arg-type]
            continue
        if "sent_bytes" in row:  # bytes a put sent (bench/gcs_resume.py): no baseline
            assert 0 < row["sent_bytes"] <= row["file_bytes"], row  # type: ignore[operator]
            continue
        seconds, baseline = row["seconds"], row["baseline_seconds"]
        assert isinstance(seconds, float) and isinstance(baseline, float), row
        assert seconds > 0 and baseline > 0, row
        # A throughput's ratio is the baseline's time over hdversion's.
        assert row["ratio"] == (baseline / seconds if row.get("throughput")
                                else seconds / baseline), row


def test_the_benchmark_measures_every_row_of_the_first_table(tmp_path: Path) -> None:
    # 16 files, not 1,024: files of 512 bytes would make DVC's directory listing and the
    # per-backup manifests outweigh the data, and the storage row would measure those.
    rows, _ = run_bench(tmp_path, "--only", "rows", "--size-mib", "1", "--files", "16",
                        "--tags", "3")
    assert_measured(rows, {
        "first backup", "unchanged backup", "restore, cache warm, verified",
        "restore, empty cache", "list --json, directory-output backups",
        "list --json, 3-file backups", "--help", "restore --help (a command's parser built)",
        "storage",
    })
    assert rows["list --json, directory-output backups"]["detail"] == "3 backups of 17 files"
    # Unchanged backups store nothing twice.
    assert float(rows["storage"]["ratio"]) <= 1.05  # type: ignore[arg-type]


@pytest.mark.reliability
def test_the_benchmark_measures_every_row_of_the_other_parts(tmp_path: Path) -> None:
    chart = tmp_path / "scale.png"
    rows, stdout = run_bench(
        tmp_path, "--only", "dirs", "--only", "peers", "--only", "curves",
        "--only", "big", "--big-gib", "0.01",
        "--dir-files", "20", "--peer-size-mib", "1", "--files", "16",
        "--curve-files", "1,10", "--curve-tags", "3,10", "--chart", str(chart))
    restic_rows = {"peers: backup after dvc add", "peers: unchanged backup",
                   "peers: restore, empty cache / restic",
                   "peers: floor: DVC's import and Repo alone / restic, unchanged",
                   "peers: floor: restore without its fsyncs / restic"}
    assert_measured(rows, {
        "dir: unchanged backup", "dir: restore", *restic_rows,
        "peers: restore, empty cache / dvc pull",
        *(f"curve: {measure}, {n} files" for n in (1, 10)
          for measure in ("backup", "unchanged backup", "restore")),
        *(f"curve: {measure}, {n} backups" for n in (3, 10)
          for measure in ("list --json", "list --json, cache cold", "list --last 20",
                          "show T", "backup", "restore T", "prune --dry-run", "status",
                          "clone + first list --json")),
        *(f"curve: floor: {floor}, {n} backups" for n in (3, 10)
          for floor in ("tag ids + the output", "every manifest validated")),
        *(f"big: {row}{floor}" for row in ("backup", "restore, cache warm",
                                            "restore, empty cache")
          for floor in ("", " / its floor")),
        *(f"peak RSS, {row}" for row in ("backup", "restore, cache warm",
                                         "restore, empty cache")),
    })
    if shutil.which("restic"):
        assert all("seconds" in rows[name] for name in restic_rows)
    else:
        assert all("skipped" in rows[name] for name in restic_rows)
        assert "restic is not installed" in stdout
    assert chart.read_bytes().startswith(PNG_MAGIC)
    table = chart.with_suffix(".md").read_text()
    assert "| 10 |" in table and "`dvc checkout`" in table and "| `show T` |" in table


def test_the_benchmark_measures_the_encrypted_rows(tmp_path: Path) -> None:
    rows, _ = run_bench(tmp_path, "--only", "encrypted", "--size-mib", "1", "--files", "4")
    assert_measured(rows, {"first backup, encrypted local remote",
                           "restore, empty cache, encrypted local remote"})


@pytest.mark.reliability
def test_the_benchmark_measures_the_small_files_rows(tmp_path: Path) -> None:
    rows, stdout = run_bench(tmp_path, "--only", "small", "--small-files", "12")
    rows_of = [f"small 12: {row} / {peer}" for peer in ("restic", "dvc")
               for row in ("first backup", "unchanged backup", "one file changed",
                           "restore, empty cache")]
    rows_of += ["small 12: first backup after dvc add / restic",
                "small 12: first backup as add, then backup / restic",
                "small 12: floor: DVC's import and Repo alone / restic",
                "small 12: floor: each file read, hashed and written twice / restic",
                "small 12: restore without fsync or syncfs (floor) / restic"]
    restic_rows = [name for name in rows_of if name.endswith("/ restic")]
    assert_measured(rows, set(rows_of))
    if shutil.which("restic"):
        assert all("seconds" in rows[name] for name in restic_rows)
    else:
        assert all("skipped" in rows[name] for name in restic_rows)
        assert "restic is not installed" in stdout


@pytest.mark.reliability
def test_the_benchmark_measures_the_transfer_rows(tmp_path: Path) -> None:
    rows, stdout = run_bench(tmp_path, "--only", "transfer", "--transfer-size-mib", "1",
                             "--small-objects", "20", "--sweep-objects", "30")
    assert_measured(rows, {
        "push to S3 (1 MiB)", "sync --storage s3 (CLI)", "pull from S3 (1 MiB)",
        "restore --cloud, empty cache (CLI)", "push 20 small objects to S3",
        "pull 20 small objects from S3", "verify of 30 objects (CLI)",
        "prune's sweep of 30 objects (CLI)"})
    # Each small-object and bucket row says what it asked the server.
    assert stdout.count("requests: hdversion") == 4
    # One request per object each way: pushed, the 20 files and their directory's listing;
    # pulled into an empty cache, the files.
    assert " 21 PUT; boto3 21 PUT" in stdout, stdout
    assert "hdversion 20 GET" in stdout and "boto3 20 GET" in stdout, stdout


def test_the_benchmark_measures_the_gcs_resume_rows(tmp_path: Path) -> None:
    # 40 MiB: a put stops only between two chunks of 32 MiB, so the file must be larger than
    # one; the put after the stop sends the 8 MiB left.
    rows, _ = run_bench(tmp_path, "--only", "gcs", "--gcs-mib", "40")
    sent = "gcs: bytes sent by the put after one stopped at half"
    assert_measured(rows, {"gcs: put of 40 MiB, recorded session",
                           "gcs: the put after one stopped at half", sent})
    assert rows[sent]["sent_bytes"] == 8 * 1024 * 1024, rows[sent]
