"""Stage `train`: fit both models with their best hyperparameters and save them.

The Keras model is saved in the legacy HDF5 format (`.h5`), which the project's artifact
layout prescribes; Keras 3 still writes and reads it through h5py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import joblib
import keras
from sklearn.neural_network import MLPClassifier

from hdversion.pipeline.artifacts import atomic_outputs, require_inputs
from hdversion.pipeline.backup_hook import backup_after_train
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths
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


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("train", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
