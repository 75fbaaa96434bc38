"""What people read: `diff`/`status` show what changed (`--all` everything), `restore`
counts what it left alone (`-v` lists it), tables fit 80 columns with this project's real
paths, a pipe gets plain ASCII without colour, and `list`'s metric column is the one the
settings or `--metric` name, hidden where no backup has it.

One project per module, shaped like this one: its real artifact paths, 15 metrics of which a
retrain moves one, several params of which it changes one, and two backups (seed 1, seed 2).
The renderers run on a rich console 80 columns wide (a terminal, or not); the CLI runs with
its output captured, as in a pipe."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from io import StringIO
from pathlib import Path

import pytest

from hdversion import api
from hdversion.cli import render, render_inspect, render_report
from hdversion.cli.render import console
from tests.conftest import HDVERSION, Project

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_MESSAGE = ("retrained after the data refresh; sklearn MLP tuned for 10 trials and keras "
                "for 5, the ensemble re-weighted by validation loss")

# This project's artifacts (dvc.yaml), made in milliseconds from a seed; only the ensemble's
# ROC-AUC depends on it, the other 14 metrics do not.
MAKE = textwrap.dedent(
    """
    import json, pathlib, random, yaml
    seed = yaml.safe_load(open("params.yaml"))["seed"]
    rng = random.Random(seed)
    def write(path, size):
        p = pathlib.Path(path); p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    for path, size in [("data/processed/preprocessor.joblib", 3000),
                       ("data/processed/original_splits.joblib", 9000),
                       ("data/processed/processed_data.npz", 12000),
                       ("models/optuna/sklearn_mlp_study.pkl", 7000),
                       ("models/optuna/keras_mlp_study.pkl", 7000),
                       ("models/sklearn_mlp_model.joblib", 20000),
                       ("models/keras_mlp_model.h5", 40000),
                       ("models/evaluation_results.joblib", 5000),
                       ("plots/roc_curve.png", 4000)]:
        write(path, size)
    metrics = {model: {"accuracy": 0.81, "precision": 0.8, "recall": 0.79, "f1": 0.795,
                       "roc_auc": 0.87} for model in ("sklearn_mlp", "keras_mlp", "ensemble")}
    metrics["ensemble"]["roc_auc"] = round(0.9 + seed / 1000, 4)
    json.dump(metrics, open("metrics.json", "w"), indent=2)
    """
)
DVC_YAML = textwrap.dedent(
    f"""\
    stages:
      train:
        cmd: {sys.executable} make_artifacts.py
        deps: [make_artifacts.py]
        params: [seed]
        outs:
          - data/processed/preprocessor.joblib
          - data/processed/original_splits.joblib
          - data/processed/processed_data.npz
          - models/optuna
          - models/sklearn_mlp_model.joblib
          - models/keras_mlp_model.h5
          - models/evaluation_results.joblib
          - plots/roc_curve.png
        metrics:
          - metrics.json
    """
)
PARAMS = "seed: {seed}\nprepare:\n  test_size: 0.2\n  val_size: 0.2\ntune:\n  trials: 10\n"


@dataclass
class Shaped:
    project: Project
    first: str  # seed 1
    second: str  # seed 2


@pytest.fixture(scope="module")
def shaped(project_template: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Shaped]:
    root = tmp_path_factory.mktemp("render") / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    project.dvc("remove", "train")  # the template's stage and outputs make way for ours
    for path in ("models", "data/processed", "metrics.json", "dvc.lock"):
        shutil.rmtree(root / path, ignore_errors=True) if (root / path).is_dir() else \
            (root / path).unlink(missing_ok=True)
    (root / "make_artifacts.py").write_text(MAKE)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text(PARAMS.format(seed=1))
    assert project.dvc("repro", "-q").returncode == 0
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "the project's real artifacts")
    first = api.backup(repo=root, message=LONG_MESSAGE).backup.tag
    (root / "params.yaml").write_text(PARAMS.format(seed=2))
    assert project.dvc("repro", "-q").returncode == 0
    second = api.backup(repo=root, message="seed 2").backup.tag
    yield Shaped(project, first, second)


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> StringIO:
    """The CLI's console as an 80-column terminal; what it printed, colours and all."""
    out = StringIO()
    monkeypatch.setattr(console, "_file", out)
    monkeypatch.setattr(console, "_width", 80)
    monkeypatch.setattr(console, "_force_terminal", True)
    return out


@pytest.fixture
def pipe(monkeypatch: pytest.MonkeyPatch) -> StringIO:
    """The CLI's console writing into a pipe, 80 columns (rich's width for a non-terminal)."""
    out = StringIO()
    monkeypatch.setattr(console, "_file", out)
    monkeypatch.setattr(console, "_width", 80)
    monkeypatch.setattr(console, "_force_terminal", False)
    return out


def lines_of(text: str) -> list[str]:
    return ANSI.sub("", text).splitlines()


def fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in lines_of(text) if len(line) > width]
    assert not too_wide, "\n".join(too_wide)


def stamp(tag: str) -> str:
    return tag.removeprefix("backup/")


def run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as `hdversion ARGS | cat` runs it: no terminal on any stream, no COLUMNS."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES",
                                                               "FORCE_COLOR", "TTY_COMPATIBLE")}
    return subprocess.run([HDVERSION, *args], cwd=project.root, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=300)


# Show what changed

def test_diff_prints_changed_metrics_only_and_counts_the_rest(
        shaped: Shaped, screen: StringIO) -> None:
    result = api.diff(shaped.first, new=shaped.second, repo=shaped.project.root, offline=True)
    assert len(result.comparison.metrics) == 15  # the API keeps every metric
    render_inspect.diff_summary(result)
    out = "\n".join(lines_of(screen.getvalue()))
    assert "ensemble.roc_auc  0.901 → 0.902 (+0.001)" in out
    assert "seed  1 → 2" in out
    assert "(+0)" not in out and "ensemble.accuracy" not in out and "test_size" not in out
    assert "3 params and 14 metrics unchanged (--all to show)" in out


def test_diff_all_prints_every_metric_and_param(shaped: Shaped, screen: StringIO) -> None:
    result = api.diff(shaped.first, new=shaped.second, repo=shaped.project.root, offline=True)
    render_inspect.diff_summary(result, every=True)
    out = "\n".join(lines_of(screen.getvalue()))
    assert "ensemble.accuracy  0.81 → 0.81 (+0)" in out
    assert "prepare.test_size  0.2" in out and "tune.trials  10" in out
    assert "--all to show" not in out
    assert out.count("(+0)") == 14


def test_diff_and_status_cli_all_and_json(shaped: Shaped) -> None:
    project = shaped.project
    short = run(project, "diff", shaped.first, shaped.second, "--offline")
    assert short.returncode == 0, short.stderr
    assert "(+0)" not in short.stdout and "14 metrics unchanged" in short.stdout
    every = run(project, "diff", shaped.first, shaped.second, "--offline", "--all")
    assert every.stdout.count("(+0)") == 14, every.stdout
    # JSON keeps every metric whatever --all says: machines filter for themselves.
    data = json.loads(run(project, "diff", shaped.first, shaped.second, "--offline",
                          "--json").stdout)
    assert len(data["metrics"]) == 15
    # status, after a retrain back to seed 1: the same, against the latest backup.
    (project.root / "params.yaml").write_text(PARAMS.format(seed=1))
    assert project.dvc("repro", "-q").returncode == 0
    try:
        status = run(project, "status", "--offline")
        assert status.returncode == 0, status.stderr
        assert "ensemble.roc_auc  0.902 → 0.901 (-0.001)" in status.stdout
        assert "(+0)" not in status.stdout
        assert "3 params and 14 metrics unchanged (--all to show)" in status.stdout
        every = run(project, "status", "--offline", "--all")
        assert every.stdout.count("(+0)") == 14, every.stdout
        data = json.loads(run(project, "status", "--offline", "--json").stdout)
        assert len(data["changes"]["metrics"]) == 15
    finally:
        (project.root / "params.yaml").write_text(PARAMS.format(seed=2))
        assert project.dvc("repro", "-q").returncode == 0


# restore: what changed, and how many were left alone

def restore_copy(shaped: Shaped, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(shaped.project.root, root, symlinks=True)
    return Project(root)


def test_restore_counts_the_unchanged_and_lists_the_changed(
        shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    project.damage("models/sklearn_mlp_model.joblib")
    dry = run(project, "restore", "-t", stamp(shaped.second), "--dry-run", "--offline")
    assert dry.returncode == 0, dry.stderr
    assert "1 to restore, " in dry.stdout and " unchanged" in dry.stdout
    assert "models/sklearn_mlp_model.joblib" in dry.stdout
    assert "models/keras_mlp_model.h5" not in dry.stdout
    done = run(project, "restore", "-t", stamp(shaped.second), "--force", "--offline")
    assert done.returncode == 0, done.stderr
    total = len(api.show(shaped.second, repo=project.root, offline=True).files)
    assert f"1 restored, {total - 1} unchanged" in done.stdout
    assert "models/sklearn_mlp_model.joblib" in done.stdout
    assert "models/keras_mlp_model.h5" not in done.stdout
    assert "(-v lists every file)" in done.stdout
    fits(done.stdout)


def test_restore_verbose_lists_every_file(shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    project.damage("models/sklearn_mlp_model.joblib")
    for flag in ("-v", "--verbose"):
        out = run(project, "restore", "-t", stamp(shaped.second), "--dry-run", "--offline", flag)
        assert out.returncode == 0, out.stderr
        assert "models/keras_mlp_model.h5" in out.stdout and "unchanged" in out.stdout
        assert "-v lists" not in out.stdout
    done = run(project, "restore", "-t", stamp(shaped.second), "--force", "--offline", "-v")
    assert "models/keras_mlp_model.h5" in done.stdout and "1 restored" in done.stdout
    # JSON lists every file, -v or not.
    data = json.loads(run(project, "restore", "-t", stamp(shaped.second), "--offline",
                          "--json").stdout)
    assert {f["action"] for f in data["files"]} == {"unchanged"}
    assert len(data["files"]) == len(api.show(shaped.second, repo=project.root,
                                              offline=True).files)


def test_restore_of_nothing_changed_prints_no_empty_table(
        shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    out = run(project, "restore", "-t", stamp(shaped.second), "--offline")
    assert out.returncode == 0, out.stderr
    total = len(api.show(shaped.second, repo=project.root, offline=True).files)
    assert out.stdout.splitlines()[-1] == f"0 restored, {total} unchanged (-v lists every file)"
    assert "file " not in out.stdout


# 80 columns

def test_show_keeps_paths_whole_at_80_columns(shaped: Shaped, screen: StringIO) -> None:
    result = api.show(shaped.second, repo=shaped.project.root, offline=True)
    render_inspect.show_summary(result)
    text = screen.getvalue()
    fits(text)
    shown = lines_of(text)
    for path in ("data/processed/original_splits.joblib", "sklearn_mlp_study.pkl",
                 "models/evaluation_results.joblib", "keras_mlp_study.pkl"):
        assert any(path in line for line in shown), path
    study = next(f for f in result.files if f.path == "models/optuna/sklearn_mlp_study.pkl")
    row = next(line for line in shown if "sklearn_mlp_study.pkl" in line)
    assert study.md5[:10] in row and study.md5 not in row  # shortened in the table
    # ... and whole in JSON.
    data = json.loads(run(shaped.project, "show", shaped.second, "--json",
                          "--offline").stdout)
    assert study.md5 in {f["md5"] for f in data["files"]}


def test_list_message_is_one_line_at_80_columns(shaped: Shaped, screen: StringIO) -> None:
    catalog, lacking, pins = api.list_backups(repo=shaped.project.root, offline=True)
    console.print(render.catalog_table(catalog, lacking, None, pins))
    text = screen.getvalue()
    fits(text)
    rows = [line for line in lines_of(text) if "retrained after" in line]
    assert len(rows) == 1 and "…" in rows[0]  # cut, not wrapped onto more lines
    assert not any("the ensemble re-weighted" in line for line in lines_of(text))


def test_every_table_fits_80_columns_and_a_pipe_gets_plain_ascii(
        shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    project.damage("models/sklearn_mlp_model.joblib")
    commands = [
        ("list", "--offline"), ("list", "--offline", "--remote", "local"),
        ("show", shaped.second, "--offline"), ("diff", shaped.first, shaped.second,
                                               "--offline", "--all"),
        ("status", "--offline"), ("remote", "list"),
        ("restore", "-t", stamp(shaped.second), "--dry-run", "--offline", "-v"),
        ("prune", "--keep", "1", "--dry-run", "--offline"),
        ("verify", stamp(shaped.first), stamp(shaped.second), "--remote", "local"),
    ]
    for args in commands:
        out = run(project, *args)
        assert out.returncode in (0, 3), (args, out.stdout, out.stderr)
        for stream in (out.stdout, out.stderr):
            assert "\x1b" not in stream, (args, stream)
            fits(stream)
        # No box drawing: ASCII rules only (paths and arrows may be any text).
        assert not re.search("[\u2500-\u257f]", out.stdout), (args, out.stdout)
    # A remote's URL folds rather than loses its end (this one is longer than 80 columns).
    remotes = run(project, "remote", "list").stdout
    assert "…" not in remotes and str(project.root)[-20:] in remotes.replace("\n", "")
    listed = run(project, "list", "--offline").stdout.splitlines()
    header = next(i for i, line in enumerate(listed) if line.lstrip().startswith("timestamp"))
    assert set(listed[header + 1].strip()) == {"-"}
    # The first word of a row is the timestamp: `awk '{print $1}'` gives what restore takes.
    firsts = {line.split()[0] for line in listed[header + 2:] if line.strip()}
    assert firsts == {t.removeprefix("backup/") for t in (shaped.first, shaped.second)}


def test_a_terminal_still_gets_framed_tables(shaped: Shaped, screen: StringIO) -> None:
    catalog, lacking, pins = api.list_backups(repo=shaped.project.root, offline=True)
    console.print(render.catalog_table(catalog, lacking, None, pins))
    assert re.search("[\u2500-\u257f]", screen.getvalue())


# The metric column of list and report

def metric_header(text: str) -> list[str]:
    header = next(line for line in lines_of(text) if "timestamp" in line)
    return header.replace("┃", " ").replace("|", " ").split()


def test_list_metric_defaults_to_this_projects_and_follows_settings_and_option(
        shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    default = run(project, "list", "--offline")
    assert "roc_auc" in metric_header(default.stdout)
    assert "0.902" in default.stdout and "0.901" in default.stdout
    chosen = run(project, "list", "--offline", "--metric", "keras_mlp.f1")
    assert "f1" in metric_header(chosen.stdout) and "0.795" in chosen.stdout
    assert "0.902" not in chosen.stdout
    config = project.root / "config" / "config.yaml"
    config.write_text(config.read_text() + "list:\n  metric: sklearn_mlp.recall\n")
    configured = run(project, "list", "--offline")
    assert "recall" in metric_header(configured.stdout) and "0.79" in configured.stdout
    # The option wins over the settings.
    assert "f1" in metric_header(run(project, "list", "--offline", "--metric",
                                     "keras_mlp.f1").stdout)


def test_list_hides_a_metric_no_listed_backup_has(shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    out = run(project, "list", "--offline", "--metric", "val_loss")
    assert out.returncode == 0, out.stderr
    assert metric_header(out.stdout) == ["timestamp", "age", "files", "size", "message"]
    assert "no listed backup records the metric 'val_loss'" in out.stderr
    # JSON is not a table: unaffected.
    data = json.loads(run(project, "list", "--offline", "--json", "--metric",
                          "val_loss").stdout)
    assert len(data) == 2 and "metrics" in data[0]


def test_a_repository_without_metrics_lists_no_metric_column_and_no_warning(
        shaped: Shaped, screen: StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, lacking, pins = api.list_backups(repo=shaped.project.root, offline=True)
    catalog.backups = [replace(b, manifest=replace(b.manifest, metrics={}))
                       for b in catalog.backups]
    errors = StringIO()
    monkeypatch.setattr(render.err_console, "_file", errors)
    render.list_summary(catalog, lacking, None, pins, "ensemble.roc_auc", chosen=False)
    assert metric_header(screen.getvalue()) == ["timestamp", "age", "files", "size",
                                                "message"]
    assert errors.getvalue() == ""


def test_report_uses_the_list_metric_and_hides_a_column_no_backup_has(
        shaped: Shaped, tmp_path: Path) -> None:
    project = restore_copy(shaped, tmp_path)
    config = project.root / "config" / "config.yaml"
    config.write_text(config.read_text() + "list:\n  metric: keras_mlp.f1\n")
    page = tmp_path / "report.html"
    out = run(project, "report", "-o", str(page), "--offline", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metric"] == "keras_mlp.f1"
    assert "<th>keras_mlp.f1</th>" in page.read_text()


def test_report_of_a_repository_without_metrics_has_no_metric_column() -> None:
    row = api.BackupRow(tag="backup/20261206_110000", timestamp="20261206_110000",
                        created_at="2026-12-06T11:00:00+00:00", kind="backup", message="m",
                        host="h", user="u", branch=None, total_files=1, total_size=10,
                        missing=(), metric=None, pin=None, lacking={"local": 0})
    data = api.ReportData(project="generic", generated_at="now", hdversion_version="0",
                          metric="ensemble.roc_auc", backups=[row], remotes=[],
                          skipped_tags=[])
    page = render_report.page(data)
    assert "<th>ensemble.roc_auc</th>" not in page and "&ndash;" not in page
    with_metric = render_report.page(replace(data, backups=[replace(row, metric=0.9)]))
    assert "<th>ensemble.roc_auc</th>" in with_metric and "0.9</td>" in with_metric

