"""The two models, shared by `tune` (many short fits) and `train` (the final fit).

Both are early-stopped on the validation split's log-loss and keep the weights of their best
epoch, so tuning scores exactly the kind of model that training produces.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Importing this module runs hdversion/pipeline/__init__.py first, which sets KERAS_BACKEND
# before keras is imported here.
import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

from hdversion.pipeline.artifacts import require_inputs
from hdversion.pipeline.errors import PipelineError

# Hidden layer layouts the sklearn search chooses from, as strings because Optuna's
# categorical choices must be scalars ("64,32" is two layers of 64 and 32 units).
HIDDEN_LAYER_CHOICES = ("16", "32", "64", "32,16", "64,32")
KERAS_UNIT_CHOICES = (16, 32, 64, 128)
# A validation loss must drop by more than this to count as an improvement.
MIN_DELTA = 1e-4


@dataclass(frozen=True)
class SplitArrays:
    """The contents of processed_data.npz."""

    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray

    @classmethod
    def load(cls, path: Path) -> SplitArrays:
        require_inputs(path)
        with np.load(path) as npz:
            return cls(**{name: npz[name] for name in npz.files})


@dataclass(frozen=True)
class SklearnHyperparams:
    hidden_layer_sizes: tuple[int, ...]
    alpha: float
    learning_rate_init: float

    @classmethod
    def from_study_params(cls, params: dict[str, Any]) -> SklearnHyperparams:
        layers = tuple(int(units) for units in str(params["hidden_layer_sizes"]).split(","))
        return cls(layers, float(params["alpha"]), float(params["learning_rate_init"]))


@dataclass(frozen=True)
class KerasHyperparams:
    units: int
    dropout: float
    learning_rate: float

    @classmethod
    def from_study_params(cls, params: dict[str, Any]) -> KerasHyperparams:
        return cls(int(params["units"]), float(params["dropout"]), float(params["learning_rate"]))


@dataclass(frozen=True)
class FitSettings:
    """How long to train and when to stop."""

    max_epochs: int
    batch_size: int
    patience: int
    seed: int


def best_hyperparams(study: Any, name: str) -> dict[str, Any]:
    """The best trial's parameters, or a clear error if the study has none."""
    try:
        return dict(study.best_params)
    except ValueError:
        raise PipelineError(f"the {name} study has no completed trial; re-run `tune`") from None


def fit_sklearn_mlp(
    hp: SklearnHyperparams, data: SplitArrays, settings: FitSettings
) -> MLPClassifier:
    """Train epoch by epoch on the train split; return the epoch with the best val log-loss.

    MLPClassifier's own early_stopping would carve its validation set out of the training
    rows; one epoch per partial_fit call lets it stop on the project's validation split.
    """
    model = MLPClassifier(
        hidden_layer_sizes=hp.hidden_layer_sizes,
        alpha=hp.alpha,
        learning_rate_init=hp.learning_rate_init,
        batch_size=settings.batch_size,
        random_state=settings.seed,
    )
    classes = np.array([0, 1])
    best_model, best_loss, waited = model, np.inf, 0
    for _ in range(settings.max_epochs):
        with warnings.catch_warnings():
            # partial_fit warns that one epoch does not converge; that is the point.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(data.X_train, data.y_train, classes=classes)
        loss = log_loss(data.y_val, sklearn_proba(model, data.X_val), labels=classes)
        if loss < best_loss - MIN_DELTA:
            best_model, best_loss, waited = copy.deepcopy(model), loss, 0
        else:
            waited += 1
            if waited >= settings.patience:
                break
    return best_model


def build_keras_mlp(input_dim: int, hp: KerasHyperparams) -> keras.Model:
    """Two ReLU layers (units, units/2) with dropout and a sigmoid output."""
    model = keras.Sequential(
        [
            keras.Input(shape=(input_dim,)),
            keras.layers.Dense(hp.units, activation="relu"),
            keras.layers.Dropout(hp.dropout),
            keras.layers.Dense(max(hp.units // 2, 4), activation="relu"),
            keras.layers.Dropout(hp.dropout),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="keras_mlp",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=hp.learning_rate),
        loss="binary_crossentropy",
    )
    return model


def fit_keras_mlp(hp: KerasHyperparams, data: SplitArrays, settings: FitSettings) -> keras.Model:
    """Train on the train split; restore the weights of the best validation-loss epoch."""
    # A fresh Keras session per fit: layer names and global state do not depend on how many
    # models this process built before (tuning builds many).
    keras.backend.clear_session()
    # Seeds Python's, NumPy's and Keras' generators: weight init, dropout masks and the
    # per-epoch shuffle all derive from it, which makes a fit bit-identical on CPU.
    keras.utils.set_random_seed(settings.seed)
    model = build_keras_mlp(data.X_train.shape[1], hp)
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=settings.patience,
        min_delta=MIN_DELTA,
        restore_best_weights=True,
    )
    model.fit(
        data.X_train,
        data.y_train.astype(np.float32),
        validation_data=(data.X_val, data.y_val.astype(np.float32)),
        epochs=settings.max_epochs,
        batch_size=settings.batch_size,
        callbacks=[stopper],
        verbose=0,
    )
    return model


def sklearn_proba(model: MLPClassifier, features: np.ndarray) -> np.ndarray:
    """P(disease) per row, as float64."""
    return np.asarray(model.predict_proba(features)[:, 1], dtype=np.float64)


def keras_proba(model: keras.Model, features: np.ndarray) -> np.ndarray:
    """P(disease) per row, as float64."""
    return np.asarray(model.predict(features, verbose=0), dtype=np.float64).reshape(-1)


def save_keras_h5(model: keras.Model, path: Path) -> None:
    """Save in HDF5 (the path must end in .h5) without Keras' 'legacy format' warning."""
    with _quiet_logger("absl"):
        model.save(path)


def load_keras_h5(path: Path) -> keras.Model:
    """Load the saved model for inference (the optimizer state is not needed)."""
    require_inputs(path)
    return keras.models.load_model(path, compile=False)


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    # Keras logs, through absl, a recommendation to use the .keras format on every HDF5
    # save; the format is a deliberate choice here, so the line is only noise in DVC's log.
    target = logging.getLogger(name)
    previous = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(previous)
