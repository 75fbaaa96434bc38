"""The training stages end to end on tiny budgets: artifacts, reloading, determinism, real data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The ML stack is the `pipeline` extra: without it (a light install) these tests skip.
pytest.importorskip("joblib")
pytest.importorskip("keras")
pytest.importorskip("numpy")
pytest.importorskip("optuna")
pytest.importorskip("pandas")

import joblib
import keras
import numpy as np
import optuna
import pandas as pd
import yaml

from hdversion.pipeline import evaluate, prepare, train, tune
from hdversion.pipeline.config import Params, Paths
from hdversion.pipeline.data import read_heart_csv
from hdversion.pipeline.errors import MissingInputError
from hdversion.pipeline.evaluate import MODEL_NAMES
from hdversion.pipeline.models import (
    FitSettings,
    KerasHyperparams,
    SplitArrays,
    fit_keras_mlp,
    keras_proba,
    load_keras_h5,
    save_keras_h5,
)
from hdversion.pipeline.stages import run_pipeline
from tests.pipeline.conftest import CONFIG_FILE, REPO_ROOT, TINY_OVERRIDES, paths_under

pytestmark = pytest.mark.pipeline

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


@dataclass(frozen=True)
class Run:
    params: Params
    paths: Paths


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One full pipeline run on synthetic data with tiny budgets, shared by this module."""
    params = Params().with_overrides(TINY_OVERRIDES)
    paths = paths_under(tmp_path_factory.mktemp("tiny-run"))
    run_pipeline(params, paths)
    return Run(params, paths)


def read_metrics(paths: Paths) -> dict[str, dict[str, float]]:
    document = json.loads(paths.metrics.read_text())
    assert isinstance(document, dict)
    return document


# --- artifacts ----------------------------------------------------------------------------


def test_every_artifact_exists_and_nothing_else(tiny_run: Run) -> None:
    root = tiny_run.paths.metrics.parent
    written = sorted(path for path in root.rglob("*") if path.is_file())
    assert written == sorted(tiny_run.paths.all().values())


def test_prepare_outputs_load_and_agree(tiny_run: Run) -> None:
    paths = tiny_run.paths
    raw = read_heart_csv(paths.raw_data)
    splits = joblib.load(paths.splits)
    arrays = SplitArrays.load(paths.processed_data)
    assert sorted(splits) == ["X_test", "X_train", "X_val", "y_test", "y_train", "y_val"]
    sizes = {name: len(splits[f"y_{name}"]) for name in ("train", "val", "test")}
    assert sum(sizes.values()) == len(raw)
    assert sizes["test"] == pytest.approx(0.2 * len(raw), abs=1)
    assert isinstance(splits["X_train"], pd.DataFrame) and isinstance(splits["y_val"], pd.Series)
    # Stratified: every split has (about) the same share of patients with disease.
    overall = (raw["target"] > 0).mean()
    for name in ("train", "val", "test"):
        assert splits[f"y_{name}"].mean() == pytest.approx(overall, abs=0.03)
    preprocessor = joblib.load(paths.preprocessor)
    for name in ("train", "val", "test"):
        features = getattr(arrays, f"X_{name}")
        assert features.dtype == np.float32 and np.isfinite(features).all()
        assert np.array_equal(getattr(arrays, f"y_{name}"), splits[f"y_{name}"].to_numpy())
        transformed = preprocessor.transform(splits[f"X_{name}"]).astype(np.float32)
        assert np.array_equal(transformed, features)
    assert arrays.y_train.dtype == np.int64


def test_studies_hold_the_configured_trials(tiny_run: Run) -> None:
    sklearn_study = joblib.load(tiny_run.paths.sklearn_study)
    keras_study = joblib.load(tiny_run.paths.keras_study)
    assert isinstance(sklearn_study, optuna.Study)
    assert len(sklearn_study.trials) == tiny_run.params.tune.sklearn_trials
    assert len(keras_study.trials) == tiny_run.params.tune.keras_trials
    assert set(sklearn_study.best_params) == {"hidden_layer_sizes", "alpha", "learning_rate_init"}
    assert set(keras_study.best_params) == {"units", "dropout", "learning_rate"}
    assert 0.5 < sklearn_study.best_value <= 1.0


def test_saved_models_reproduce_the_evaluated_probabilities(tiny_run: Run) -> None:
    paths = tiny_run.paths
    x_test = SplitArrays.load(paths.processed_data).X_test
    results = joblib.load(paths.evaluation)
    sklearn_model = joblib.load(paths.sklearn_model)
    keras_model = keras.models.load_model(paths.keras_model, compile=False)
    np.testing.assert_array_equal(
        sklearn_model.predict_proba(x_test)[:, 1], results["sklearn_mlp"]["probabilities"]
    )
    np.testing.assert_array_equal(
        keras_proba(keras_model, x_test), results["keras_mlp"]["probabilities"]
    )


def test_keras_h5_reload_predicts_like_the_model_before_saving(
    tiny_run: Run, tmp_path: Path
) -> None:
    data = SplitArrays.load(tiny_run.paths.processed_data)
    hyperparams = KerasHyperparams(units=16, dropout=0.2, learning_rate=1e-3)
    model = fit_keras_mlp(hyperparams, data, FitSettings(3, 32, 2, seed=0))
    before = keras_proba(model, data.X_test)
    path = tmp_path / "model.h5"
    save_keras_h5(model, path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(keras_proba(reloaded, data.X_test), before)
    np.testing.assert_array_equal(keras_proba(load_keras_h5(path), data.X_test), before)


def test_metrics_json_and_evaluation_results(tiny_run: Run) -> None:
    metrics = read_metrics(tiny_run.paths)
    assert list(metrics) == list(MODEL_NAMES)
    results = joblib.load(tiny_run.paths.evaluation)
    y_test = SplitArrays.load(tiny_run.paths.processed_data).y_test
    for name in MODEL_NAMES:
        assert tuple(metrics[name]) == METRICS
        for value in metrics[name].values():
            assert 0.0 <= value <= 1.0 and round(value, 6) == value
        assert metrics[name]["roc_auc"] > 0.6  # synthetic data is learnable
        assert results[name]["confusion_matrix"].shape == (2, 2)
        assert results[name]["confusion_matrix"].sum() == len(y_test)
        curve = results[name]["roc_curve"]
        assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
    ensemble = (results["sklearn_mlp"]["probabilities"] + results["keras_mlp"]["probabilities"]) / 2
    np.testing.assert_allclose(results["ensemble"]["probabilities"], ensemble)


def test_roc_plot_is_a_png(tiny_run: Run) -> None:
    import matplotlib.image

    image = matplotlib.image.imread(tiny_run.paths.roc_plot)
    assert tiny_run.paths.roc_plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.shape[0] >= 400 and image.shape[1] >= 400


# --- determinism --------------------------------------------------------------------------


# A second full run of the pipeline: the long tier (make reliability).
@pytest.mark.reliability
def test_same_params_give_identical_results(tiny_run: Run, tmp_path: Path) -> None:
    """A second run, in this process, and a third via the CLI in a fresh process."""
    again = paths_under(tmp_path / "again")
    run_pipeline(tiny_run.params, again)

    workdir = tmp_path / "cli"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_bytes(CONFIG_FILE.read_bytes())
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_run.params.to_dict()))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "hdversion.pipeline"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    cli = paths_under(workdir)

    reference = tiny_run.paths.metrics.read_bytes()
    for other in (again, cli):
        assert other.metrics.read_bytes() == reference
        # Not just the rounded metrics: the data, the features and every probability.
        assert other.raw_data.read_bytes() == tiny_run.paths.raw_data.read_bytes()
        assert_same_arrays(other.processed_data, tiny_run.paths.processed_data)
        assert_same_probabilities(other.evaluation, tiny_run.paths.evaluation)


def assert_same_arrays(first: Path, second: Path) -> None:
    with np.load(first) as a, np.load(second) as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])


def assert_same_probabilities(first: Path, second: Path) -> None:
    a, b = joblib.load(first), joblib.load(second)
    for name in MODEL_NAMES:
        np.testing.assert_array_equal(a[name]["probabilities"], b[name]["probabilities"])


# --- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [prepare, tune, train, evaluate])
def test_stage_without_inputs_fails_clearly(stage: Any, tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="missing input"):
        stage.run(Params(), paths_under(tmp_path))
    assert list(tmp_path.rglob("*")) == []


def test_stage_cli_reports_missing_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_bytes(CONFIG_FILE.read_bytes())
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    monkeypatch.chdir(tmp_path)
    assert train.main([]) == 1
    assert capsys.readouterr().err.startswith("error: missing input(s): ")


def test_failing_stage_leaves_previous_outputs_untouched(
    tiny_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_run.paths.metrics.parent
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    paths = paths_under(copy)
    for target in (paths.evaluation, paths.metrics, paths.roc_plot):
        target.unlink()

    def broken_plot(results: object, path: Path) -> None:
        path.write_bytes(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(evaluate, "plot_roc_curves", broken_plot)
    with pytest.raises(OSError, match="disk full"):
        evaluate.run(tiny_run.params, paths)
    # The joblib and JSON files were complete, but none of the three may appear alone, and
    # no temporary file may stay behind.
    evaluate_outputs = {paths.evaluation, paths.metrics, paths.roc_plot}
    remaining = {path for path in copy.rglob("*") if path.is_file()}
    assert remaining == set(paths.all().values()) - evaluate_outputs


# --- the real data set --------------------------------------------------------------------


# The real data set through every stage: the long tier (make reliability); the fast tier
# runs every stage on the tiny configuration (tiny_run above, and dvc repro in
# tests/pipeline/test_dvc_repro_and_backup.py).
@pytest.mark.reliability
def test_pipeline_on_the_real_data(
    shared_heart_csv: Path, tmp_path: Path, record_property: Any
) -> None:
    """The UCI Cleveland data (if present beside the repo), on a moderate budget."""
    params = Params().with_overrides(
        {
            "data": {"source": "path", "path": str(shared_heart_csv)},
            "tune": {"sklearn_trials": 5, "keras_trials": 3, "keras_epochs": 20},
        }
    )
    paths = paths_under(tmp_path)
    run_pipeline(params, paths)
    metrics = read_metrics(paths)
    for name in MODEL_NAMES:
        record_property(f"{name}_roc_auc", metrics[name]["roc_auc"])
        print(f"real data: {name} test ROC-AUC {metrics[name]['roc_auc']:.4f}")
        # Published results on Cleveland are around 0.85-0.95.
        assert metrics[name]["roc_auc"] > 0.8
