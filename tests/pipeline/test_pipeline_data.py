"""Stage `data`: sources (synthetic, path, url), validation of bad data, atomic writes, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The ML stack is the `pipeline` extra: without it (a light install) these tests skip.
pytest.importorskip("numpy")
pytest.importorskip("pandas")

import numpy as np
import pandas as pd
import yaml

from hdversion.pipeline import data, synthetic
from hdversion.pipeline.artifacts import atomic_outputs
from hdversion.pipeline.config import Params, Paths
from hdversion.pipeline.errors import DataError
from hdversion.pipeline.schema import COLUMNS, FEATURES, TARGET
from tests.pipeline.conftest import CONFIG_FILE, REPO_ROOT, leftover_files, paths_under

HEADER = ",".join(COLUMNS)


def with_source(params: Params, **data_params: object) -> Params:
    return params.with_overrides({"data": data_params})


def csv_text(rows: int = 60, seed: int = 0, header: bool = True) -> str:
    """A valid heart.csv body (synthetic rows) for the error tests to damage."""
    frame = synthetic.generate(rows, seed)
    return str(frame.to_csv(index=False, header=header, na_rep="?"))


# --- synthetic ----------------------------------------------------------------------------


def test_synthetic_data_follows_the_cleveland_schema() -> None:
    frame = synthetic.generate(303, seed=42)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 303
    assert frame[TARGET].isin([0, 1, 2, 3, 4]).all()
    assert 0.3 < (frame[TARGET] > 0).mean() < 0.6
    assert frame["age"].between(29, 77).all()
    assert frame["thalach"].between(71, 202).all()
    assert frame["oldpeak"].between(0, 6.2).all()
    assert set(frame["thal"].dropna()) <= {3.0, 6.0, 7.0}
    missing = frame.isna().sum()
    assert missing["ca"] == 4 and missing["thal"] == 2
    assert missing.drop(["ca", "thal"]).sum() == 0


def test_synthetic_data_is_seeded() -> None:
    first = synthetic.generate(100, seed=1)
    pd.testing.assert_frame_equal(first, synthetic.generate(100, seed=1))
    assert not first.equals(synthetic.generate(100, seed=2))


def test_synthetic_target_is_learnable() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    frame = synthetic.generate(303, seed=7)
    features = frame[list(FEATURES)].fillna(frame[list(FEATURES)].median())
    scores = cross_val_score(
        LogisticRegression(max_iter=2000), features, frame[TARGET] > 0, cv=5, scoring="roc_auc"
    )
    assert scores.mean() > 0.8


def test_data_stage_writes_the_synthetic_table(tiny_params: Params, paths: Paths) -> None:
    written = data.run(tiny_params, paths)
    text = paths.raw_data.read_text()
    assert text.startswith(HEADER + "\n")
    assert ",?," in text  # UCI's missing-value marker
    pd.testing.assert_frame_equal(data.read_heart_csv(paths.raw_data), written)
    # Only the artifact itself: no temporary file left beside it.
    assert leftover_files(paths.raw_data.parent.parent) == [paths.raw_data]


# --- local file and download --------------------------------------------------------------


def test_real_file_reads_with_and_without_header(shared_heart_csv: Path, tmp_path: Path) -> None:
    with_header = data.read_heart_csv(shared_heart_csv, min_rows=300)
    assert with_header.shape == (303, 14)
    assert int(with_header.isna().sum().sum()) == 6
    # UCI's own processed.cleveland.data has no header row.
    headerless = shared_heart_csv.read_text().split("\n", 1)[1]
    pd.testing.assert_frame_equal(data.parse_heart_csv(headerless, "uci"), with_header)


def test_path_source_round_trips_the_file(shared_heart_csv: Path, tmp_path: Path) -> None:
    paths = paths_under(tmp_path)
    data.run(with_source(Params(), source="path", path=str(shared_heart_csv)), paths)
    # The real file already has the written form: header, floats like 63.0 and `?`.
    assert paths.raw_data.read_bytes() == shared_heart_csv.read_bytes()


def test_url_source_downloads_from_a_local_server(
    shared_heart_csv: Path, tmp_path: Path, http_server: Callable[[dict[str, bytes]], str]
) -> None:
    body = shared_heart_csv.read_bytes()
    headerless = body.split(b"\n", 1)[1]
    base = http_server({"/heart.csv": body, "/processed.cleveland.data": headerless})
    expected = data.read_heart_csv(shared_heart_csv)
    for name in ("heart.csv", "processed.cleveland.data"):
        paths = paths_under(tmp_path / name)
        frame = data.run(with_source(Params(), source="url", url=f"{base}/{name}"), paths)
        pd.testing.assert_frame_equal(frame, expected)
        assert paths.raw_data.read_bytes() == body


def test_num_is_accepted_as_the_target_column_name() -> None:
    text = csv_text().replace(",target\n", ",num\n", 1)
    assert tuple(data.parse_heart_csv(text, "x").columns) == COLUMNS


# --- bad data -----------------------------------------------------------------------------


def damaged(row: int, column: str, value: str) -> str:
    """csv_text() with the cell at data row `row` (1-based) of `column` set to `value`."""
    lines = csv_text().splitlines()
    cells = lines[row].split(",")
    cells[COLUMNS.index(column)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


BAD_FILES: dict[str, tuple[str, str]] = {
    "missing column": (csv_text().replace(",thal,", ",thal_x,", 1), "missing column(s): thal"),
    "non-numeric value": (
        damaged(2, "chol", "abc"),
        "non-numeric value 'abc' in column 'chol' (data row 2)",
    ),
    "infinite value": (damaged(1, "age", "inf"), "non-numeric value 'inf' in column 'age'"),
    "empty file": ("", "the file is empty"),
    "blank lines only": ("\n\n  \n", "the file is empty"),
    "header only": (HEADER + "\n", "has a header but no data rows"),
    "too few rows": (csv_text(rows=10), "only 10 data rows, need at least 50"),
    "bad target": (damaged(3, "target", "7"), "target must be one of (0, 1, 2, 3, 4)"),
    "missing target": (damaged(3, "target", "?"), "missing target value in data row 3"),
    "wrong column count": ("1,2,3\n" * 60, "expected 14 columns without a header"),
    "short row": (csv_text() + "63,1,1\n", "data row 61 has 3 fields, expected 14"),
    "long row": (
        csv_text() + ",".join(["1"] * 15) + "\n",
        "data row 61 has 15 fields, expected 14",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_rejected_and_nothing_is_written(
    case: str, tiny_params: Params, tmp_path: Path
) -> None:
    text, message = BAD_FILES[case]
    source = tmp_path / "source" / "heart.csv"
    source.parent.mkdir()
    source.write_text(text)
    out = tmp_path / "out"
    with pytest.raises(DataError) as excinfo:
        data.run(with_source(tiny_params, source="path", path=str(source)), paths_under(out))
    assert message in str(excinfo.value)
    assert str(source) in str(excinfo.value)
    assert not out.exists()


def test_missing_file_is_reported(tiny_params: Params, tmp_path: Path) -> None:
    params = with_source(tiny_params, source="path", path=str(tmp_path / "absent.csv"))
    with pytest.raises(DataError, match=r"data file not found: .*absent\.csv"):
        data.run(params, paths_under(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_http_404_is_reported(
    tiny_params: Params, tmp_path: Path, http_server: Callable[[dict[str, bytes]], str]
) -> None:
    url = http_server({}) + "/missing.data"
    with pytest.raises(DataError) as excinfo:
        data.run(with_source(tiny_params, source="url", url=url), paths_under(tmp_path))
    assert str(excinfo.value) == f"download failed: {url}: HTTP 404 Not Found"
    assert leftover_files(tmp_path) == []


def test_closed_port_is_reported(tiny_params: Params, tmp_path: Path, closed_port_url: str) -> None:
    params = with_source(tiny_params, source="url", url=closed_port_url, timeout_seconds=5)
    with pytest.raises(DataError) as excinfo:
        data.run(params, paths_under(tmp_path))
    assert str(excinfo.value).startswith(f"download failed: {closed_port_url}: ")
    assert "refused" in str(excinfo.value).lower()
    assert leftover_files(tmp_path) == []


def test_bad_download_body_is_rejected(
    tiny_params: Params, tmp_path: Path, http_server: Callable[[dict[str, bytes]], str]
) -> None:
    url = http_server({"/page.html": b"<html>moved</html>\n"}) + "/page.html"
    with pytest.raises(DataError, match="missing column"):
        data.run(with_source(tiny_params, source="url", url=url), paths_under(tmp_path))
    assert leftover_files(tmp_path) == []


# --- atomic writes ------------------------------------------------------------------------


def test_atomic_outputs_replace_all_targets_only_on_success(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "one.txt", tmp_path / "b" / "two.npz"
    first.parent.mkdir()
    first.write_text("old")
    with pytest.raises(RuntimeError), atomic_outputs(first, second) as (temp1, temp2):
        assert temp2.suffix == ".npz" and temp1.parent == first.parent
        temp1.write_text("new")
        raise RuntimeError("stage failed halfway")
    assert first.read_text() == "old"
    assert leftover_files(tmp_path) == [first]

    with atomic_outputs(first, second) as (temp1, temp2):
        temp1.write_text("new")
        np.savez(temp2, x=np.arange(3))
    assert first.read_text() == "new"
    assert leftover_files(tmp_path) == [first, second]


# --- command line -------------------------------------------------------------------------


def make_workdir(root: Path, params: Params) -> Path:
    """A directory laid out like the repo root: config/config.yaml and params.yaml."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "config.yaml").write_bytes(CONFIG_FILE.read_bytes())
    (root / "params.yaml").write_text(yaml.safe_dump(params.to_dict()))
    return root


def run_module(module: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", module], cwd=cwd, capture_output=True, text=True, env=env
    )


def test_cli_prints_error_without_traceback(tiny_params: Params, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text().replace("chol,", "cholesterol,", 1))
    workdir = make_workdir(
        tmp_path / "repo", with_source(tiny_params, source="path", path=str(bad))
    )
    result = run_module("hdversion.pipeline.data", workdir)
    assert result.returncode == 1
    assert result.stderr == f"error: {bad}: missing column(s): chol\n"
    assert not (workdir / "data").exists()


def test_cli_writes_the_raw_data(tiny_params: Params, tmp_path: Path) -> None:
    workdir = make_workdir(tmp_path, tiny_params)
    result = run_module("hdversion.pipeline.data", workdir)
    assert result.returncode == 0, result.stderr
    assert "data: wrote" in result.stderr
    assert (workdir / "data" / "raw" / "heart.csv").is_file()


def test_cli_reports_a_missing_params_file(tmp_path: Path) -> None:
    result = run_module("hdversion.pipeline.prepare", tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: config/config.yaml not found")
    assert "Traceback" not in result.stderr
