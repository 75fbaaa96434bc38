"""A seeded stand-in for the UCI Cleveland table, so a fresh clone runs offline.

Rows are drawn class-conditionally: first the diagnosis, then each attribute from a
distribution whose shape follows the published Cleveland statistics for that class (for
example asymptomatic chest pain, exercise angina, a reversible thal defect and more stained
vessels are all more common with disease). The relation to the target is therefore real and
learnable, but noisy, as in the original (a good model reaches a ROC-AUC near 0.9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hdversion.pipeline.schema import COLUMNS, TARGET

# Probability of disease (UCI num > 0) in the Cleveland data: 139 of 303.
DISEASE_RATE = 139 / 303
# Severity (num 1-4) among the ill, from the Cleveland counts 55, 36, 35, 13.
SEVERITY_WEIGHTS = np.array([55, 36, 35, 13]) / 139
# Missing cells in the Cleveland data: ca x4 and thal x2 in 303 rows.
MISSING_PER_ROW = {"ca": 4 / 303, "thal": 2 / 303}

# Categorical attributes: values and their probabilities (healthy, ill).
CATEGORICAL_DISTRIBUTIONS: dict[str, tuple[tuple[float, ...], list[float], list[float]]] = {
    "sex": ((0.0, 1.0), [0.44, 0.56], [0.18, 0.82]),
    "cp": ((1.0, 2.0, 3.0, 4.0), [0.10, 0.25, 0.41, 0.24], [0.05, 0.06, 0.13, 0.76]),
    "fbs": ((0.0, 1.0), [0.86, 0.14], [0.84, 0.16]),
    "restecg": ((0.0, 1.0, 2.0), [0.58, 0.01, 0.41], [0.41, 0.03, 0.56]),
    "exang": ((0.0, 1.0), [0.86, 0.14], [0.45, 0.55]),
    "slope": ((1.0, 2.0, 3.0), [0.65, 0.30, 0.05], [0.26, 0.65, 0.09]),
    "ca": ((0.0, 1.0, 2.0, 3.0), [0.80, 0.13, 0.04, 0.03], [0.32, 0.32, 0.23, 0.13]),
    "thal": ((3.0, 6.0, 7.0), [0.79, 0.04, 0.17], [0.27, 0.09, 0.64]),
}
# Numeric attributes: (mean healthy, mean ill, standard deviation, minimum, maximum).
NUMERIC_DISTRIBUTIONS: dict[str, tuple[float, float, float, float, float]] = {
    "age": (52.6, 56.6, 9.0, 29.0, 77.0),
    "trestbps": (129.0, 134.0, 17.5, 94.0, 200.0),
    "chol": (243.0, 251.0, 51.0, 126.0, 564.0),
    "thalach": (158.0, 139.0, 21.0, 71.0, 202.0),
}


def generate(n_rows: int, seed: int) -> pd.DataFrame:
    """`n_rows` synthetic patients in the Cleveland schema; missing cells are NaN."""
    rng = np.random.default_rng(seed)
    ill = rng.random(n_rows) < DISEASE_RATE
    columns: dict[str, np.ndarray] = {}
    for name, (mean_healthy, mean_ill, std, low, high) in NUMERIC_DISTRIBUTIONS.items():
        mean = np.where(ill, mean_ill, mean_healthy)
        columns[name] = np.clip(np.round(rng.normal(mean, std)), low, high)
    # Maximum heart rate falls with age (about 0.8 beats per year in the Cleveland data).
    columns["thalach"] = np.clip(
        np.round(columns["thalach"] - 0.8 * (columns["age"] - 54.4)), 71.0, 202.0
    )
    columns["oldpeak"] = _oldpeak(rng, ill)
    for name, (values, p_healthy, p_ill) in CATEGORICAL_DISTRIBUTIONS.items():
        columns[name] = np.where(
            ill,
            rng.choice(values, size=n_rows, p=p_ill),
            rng.choice(values, size=n_rows, p=p_healthy),
        )
    severity = rng.choice(np.arange(1, 5), size=n_rows, p=SEVERITY_WEIGHTS)
    columns[TARGET] = np.where(ill, severity, 0).astype(np.int64)
    frame = pd.DataFrame(columns)[list(COLUMNS)]
    _blank_cells(frame, rng)
    return frame


def _oldpeak(rng: np.random.Generator, ill: np.ndarray) -> np.ndarray:
    """ST depression: often exactly 0, otherwise skewed; larger with disease (0-6.2)."""
    zero = rng.random(ill.size) < np.where(ill, 0.18, 0.45)
    value = rng.gamma(shape=1.6, scale=np.where(ill, 1.15, 0.75))
    return np.where(zero, 0.0, np.clip(np.round(value, 1), 0.1, 6.2))


def _blank_cells(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """Blank a few ca/thal cells, as in the original (at least one each)."""
    for name, rate in MISSING_PER_ROW.items():
        count = max(1, round(rate * len(frame)))
        rows = rng.choice(len(frame), size=min(count, len(frame)), replace=False)
        frame.loc[rows, name] = np.nan
