"""Stage `prepare`: binary target, stratified train/validation/test split, preprocessing.

Outputs: the fitted preprocessor (fitted on the training split only, so no statistics leak
from validation or test), the raw splits as DataFrames/Series, and the transformed arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from hdversion.pipeline.artifacts import atomic_outputs, require_inputs
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths, PrepareParams
from hdversion.pipeline.data import read_heart_csv
from hdversion.pipeline.errors import DataError
from hdversion.pipeline.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET

# Named explicitly: under `python -m` this module's __name__ is "__main__".
logger = logging.getLogger("hdversion.pipeline")

SPLITS = ("train", "val", "test")


def run(params: Params, paths: Paths) -> dict[str, np.ndarray]:
    """Split and preprocess data/raw/heart.csv; return the arrays written to the .npz."""
    require_inputs(paths.raw_data)
    frame = read_heart_csv(paths.raw_data)
    features = frame[list(FEATURES)]
    target = binary_target(frame)
    splits = split(features, target, params.prepare, seed=params.seed)
    preprocessor = build_preprocessor().fit(splits["X_train"])
    arrays = transform_splits(preprocessor, splits)
    with atomic_outputs(paths.preprocessor, paths.splits, paths.processed_data) as temps:
        joblib.dump(preprocessor, temps[0])
        joblib.dump(splits, temps[1])
        np.savez(temps[2], **arrays)  # type: ignore[arg-type]
    logger.info(
        "prepare: %s rows, %d features after encoding, positives %s",
        "/".join(str(len(splits[f"y_{name}"])) for name in SPLITS),
        arrays["X_train"].shape[1],
        "/".join(str(int(splits[f"y_{name}"].sum())) for name in SPLITS),
    )
    return arrays


def binary_target(frame: pd.DataFrame) -> pd.Series:
    """Disease present (UCI num 1-4) -> 1, absent (num 0) -> 0."""
    return (frame[TARGET] > 0).astype("int64").rename(TARGET)


def split(
    features: pd.DataFrame, target: pd.Series, params: PrepareParams, seed: int
) -> dict[str, pd.DataFrame | pd.Series]:
    """Stratified split into X_/y_ train, val and test with the configured fractions."""
    _check_splittable(target, params)
    x_rest, x_test, y_rest, y_test = train_test_split(
        features, target, test_size=params.test_size, stratify=target, random_state=seed
    )
    # val_size is a fraction of all rows; rescale it to the rows left after the test split.
    val_fraction = params.val_size / (1.0 - params.test_size)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=seed
    )
    return {
        "X_train": x_train,
        "X_val": x_val,
        "X_test": x_test,
        "y_train": y_train,
        "y_val": y_val,
        "y_test": y_test,
    }


def build_preprocessor() -> ColumnTransformer:
    """Impute + scale numeric columns; impute + one-hot encode categorical ones."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            # A category unseen in training (e.g. a rare restecg value) encodes as all zeros.
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(NUMERIC_FEATURES)),
            ("categorical", categorical, list(CATEGORICAL_FEATURES)),
        ],
        sparse_threshold=0.0,
    )


def transform_splits(
    preprocessor: ColumnTransformer, splits: dict[str, pd.DataFrame | pd.Series]
) -> dict[str, np.ndarray]:
    """float32 feature matrices (what both networks train on) and int64 labels."""
    arrays: dict[str, np.ndarray] = {}
    for name in SPLITS:
        arrays[f"X_{name}"] = np.asarray(
            preprocessor.transform(splits[f"X_{name}"]), dtype=np.float32
        )
    for name in SPLITS:
        arrays[f"y_{name}"] = np.asarray(splits[f"y_{name}"], dtype=np.int64)
    return arrays


def _check_splittable(target: pd.Series, params: PrepareParams) -> None:
    """Every split needs both classes, or stratification and ROC-AUC are meaningless."""
    counts = target.value_counts()
    smallest_fraction = min(params.test_size, params.val_size)
    needed = int(np.ceil(2 / smallest_fraction))
    if len(counts) < 2:
        raise DataError(f"the target has a single class ({int(counts.index[0])}); need both")
    if counts.min() < needed:
        raise DataError(
            f"only {counts.min()} rows of class {int(counts.idxmin())}; need at least {needed} "
            "for a stratified train/validation/test split"
        )


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("prepare", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
