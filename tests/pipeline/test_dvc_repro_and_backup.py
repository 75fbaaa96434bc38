"""The real thing end to end: `dvc repro` of this repository's pipeline on tiny params (once
per run, tests/heart_project.py), then backup -> damage the Keras model -> restore -> the
model loads and predicts as before."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# The ML stack is the `pipeline` extra: without it (a light install) these tests skip.
pytest.importorskip("numpy")

import numpy as np

from tests.conftest import run_cli
from tests.heart_project import TrainedHeart, pipeline_env

pytestmark = pytest.mark.pipeline

ARTIFACTS = [
    "models/keras_mlp_model.h5",
    "models/sklearn_mlp_model.joblib",
    "models/evaluation_results.joblib",
    "models/optuna/keras_mlp_study.pkl",
    "models/optuna/sklearn_mlp_study.pkl",
    "data/processed/preprocessor.joblib",
    "data/processed/original_splits.joblib",
    "data/processed/processed_data.npz",
]


def predictions(model_path: Path, data_path: Path) -> np.ndarray:
    import keras

    model = keras.models.load_model(model_path)
    with np.load(data_path) as data:
        return np.asarray(model.predict(data["X_test"], verbose=0))


def test_dvc_repro_then_backup_and_restore_the_real_models(
        trained_heart: TrainedHeart, tmp_path: Path) -> None:
    # The session's `dvc repro` (tests/heart_project.py), in a copy of its own.
    root = trained_heart.copy_to(tmp_path / "heart")
    env = pipeline_env()
    for artifact in [*ARTIFACTS, "metrics.json", "plots/roc_curve.png"]:
        assert (root / artifact).is_file(), artifact
    metrics = json.loads((root / "metrics.json").read_text())
    assert 0.5 < metrics["ensemble"]["roc_auc"] <= 1.0

    made = json.loads(run_cli(root, "backup", "--json", "-m", "real models", check=True).stdout)
    backed_up = {f["path"] for f in made["files"]}
    assert set(ARTIFACTS) <= backed_up
    assert {"config/config.yaml", "params.yaml", "dvc.yaml", "dvc.lock"} <= backed_up
    assert made["metrics"]["metrics.json"]["ensemble"]["roc_auc"] == metrics["ensemble"]["roc_auc"]

    model = root / "models/keras_mlp_model.h5"
    before = predictions(model, root / "data/processed/processed_data.npz")
    model.chmod(0o644)
    model.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # looks like HDF5, is garbage
    report = json.loads(run_cli(root, "restore", "--json", check=True).stdout)
    assert report["verified"] and report["safety_backup"]
    after = predictions(model, root / "data/processed/processed_data.npz")
    np.testing.assert_array_equal(before, after)
    status = subprocess.run(["dvc", "status"], cwd=root, env=env, capture_output=True,
                            text=True, check=True)
    assert "up to date" in status.stdout
