"""A small run of bench/run.py, so that the benchmark cannot rot: every row is measured
(against its baseline, in the same run) and the one property that is not a timing, storage
against the unique bytes, holds. No timing is asserted here (bench/README.md has those)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


def test_the_benchmark_runs_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(BENCH), "--size-mib", "1", "--tags", "3",
                    "--repeat", "1", "--json", str(out)], check=True, capture_output=True,
                   timeout=300)
    rows = {row["name"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"list --json of 4 backups", "--help", "first backup (1 MiB)",
                         "unchanged backup", "verified restore",
                         "unchanged backup vs tar czf", "storage"}
    for name, row in rows.items():
        if name != "storage":
            assert row["seconds"] > 0 and row["baseline_seconds"] > 0, row
            assert row["ratio"] == row["seconds"] / row["baseline_seconds"]
    # Unchanged backups store nothing twice.
    assert rows["storage"]["ratio"] <= 1.05
