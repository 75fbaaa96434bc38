"""Stage `train`: fit both models with their best hyperparameters and save them.

The Keras model is saved in the legacy HDF5 format (`.h5`), which the project's artifact
layout prescribes; Keras 3 still writes and reads it through h5py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import joblib
import keras
from sklearn.neural_network import MLPClassifier

from hdversion.pipeline.artifacts import atomic_outputs, require_inputs
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths
from hdversion.pipeline.errors import PipelineError
from hdversion.pipeline.models import (
    FitSettings,
    KerasHyperparams,
    SklearnHyperparams,
    SplitArrays,
    best_hyperparams,
    fit_keras_mlp,
    fit_sklearn_mlp,
    save_keras_h5,
)

# Named explicitly: under `python -m` this module's __name__ is "__main__".
logger = logging.getLogger("hdversion.pipeline")


def run(params: Params, paths: Paths) -> tuple[MLPClassifier, keras.Model]:
    """Train both models on the train split (early-stopped on validation) and save them."""
    require_inputs(paths.processed_data, paths.sklearn_study, paths.keras_study)
    data = SplitArrays.load(paths.processed_data)
    sklearn_hp = SklearnHyperparams.from_study_params(
        best_hyperparams(joblib.load(paths.sklearn_study), "sklearn_mlp")
    )
    keras_hp = KerasHyperparams.from_study_params(
        best_hyperparams(joblib.load(paths.keras_study), "keras_mlp")
    )
    train = params.train
    sklearn_model = fit_sklearn_mlp(
        sklearn_hp,
        data,
        FitSettings(train.sklearn_max_epochs, train.batch_size, train.patience, params.seed),
    )
    keras_model = fit_keras_mlp(
        keras_hp,
        data,
        FitSettings(train.keras_epochs, train.batch_size, train.patience, params.seed),
    )
    with atomic_outputs(paths.sklearn_model, paths.keras_model) as (sklearn_temp, keras_temp):
        joblib.dump(sklearn_model, sklearn_temp)
        save_keras_h5(keras_model, keras_temp)
    logger.info("train: saved sklearn_mlp %s and keras_mlp %s", sklearn_hp, keras_hp)
    backup_after_train(params)
    return sklearn_model, keras_model


def backup_after_train(params: Params, repo: Path | None = None,
                       environ: Mapping[str, str] = os.environ) -> str | None:
    """With `backup_after_train`, back up the project at `repo` (default: the cwd) through
    hdversion's public API once the models are written: the backup's tag, or None when it
    is off or cannot run here. Under `dvc repro` (DVC sets DVC_STAGE for a stage's command)
    DVC holds its lock until the repro ends and hdversion refuses to back up while it is
    held, so the stage warns and goes on. The backup records the workspace as it is: the
    metrics of the last `evaluate`, and evaluate's outputs as missing before its first run."""
    if not params.backup_after_train:
        return None
    if environ.get("DVC_STAGE"):
        logger.warning("train: backup_after_train skipped under `dvc repro` (DVC holds its "
                       "lock until the repro ends): run `hdversion backup` after it")
        return None
    # Imported when asked for: the stage alone never loads the backup tool.
    from hdversion import api

    try:
        result = api.backup(repo=repo, message=f"after train (seed {params.seed})",
                            allow_missing=True, skip_if_unchanged=True)
    except api.HdversionError as exc:
        raise PipelineError(f"backup_after_train: {exc.message} (exit {exc.exit_code:d} "
                            "from hdversion; the models are written)") from None
    failure = result.failure()
    if failure is not None:  # partial: the local backup stands, a cloud copy failed
        logger.warning("train: backup %s is partial: %s", result.backup.tag, failure.message)
    logger.info("train: %s %s", "unchanged since" if result.skipped else "backed up as",
                result.backup.tag)
    return result.backup.tag


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("train", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
