"""Column layout of the UCI Heart Disease (Cleveland) data set, `processed.cleveland.data`."""

from __future__ import annotations

NUMERIC_FEATURES: tuple[str, ...] = ("age", "trestbps", "chol", "thalach", "oldpeak")
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "sex",
    "cp",
    "fbs",
    "restecg",
    "exang",
    "slope",
    "ca",
    "thal",
)
# The file's column order (UCI's); the target is UCI's `num`: 0 = no disease, 1-4 = disease.
FEATURES: tuple[str, ...] = (
    "age",
    "sex",
    "cp",
    "trestbps",
    "chol",
    "fbs",
    "restecg",
    "thalach",
    "exang",
    "oldpeak",
    "slope",
    "ca",
    "thal",
)
TARGET = "target"
COLUMNS: tuple[str, ...] = (*FEATURES, TARGET)
# UCI marks a missing value with "?".
MISSING = "?"
TARGET_VALUES: tuple[int, ...] = (0, 1, 2, 3, 4)
