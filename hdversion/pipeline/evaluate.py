"""Stage `evaluate`: test-split metrics for both models and their averaged-probability ensemble.

Outputs: models/evaluation_results.joblib (metrics, confusion matrices, ROC points and the
probabilities per model), metrics.json (DVC metrics) and plots/roc_curve.png (DVC plot).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import matplotlib
import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from hdversion.pipeline.artifacts import atomic_outputs, require_inputs
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths
from hdversion.pipeline.models import SplitArrays, keras_proba, load_keras_h5, sklearn_proba

# No display in DVC runs or CI: render to files only. Must precede the pyplot import.
matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Named explicitly: under `python -m` this module's __name__ is "__main__".
logger = logging.getLogger("hdversion.pipeline")

MODEL_NAMES = ("sklearn_mlp", "keras_mlp", "ensemble")
METRIC_DIGITS = 6


def run(params: Params, paths: Paths) -> dict[str, dict[str, Any]]:
    """Score both saved models and the ensemble on the test split; write the three outputs."""
    require_inputs(paths.processed_data, paths.sklearn_model, paths.keras_model)
    data = SplitArrays.load(paths.processed_data)
    probabilities = predict(paths, data.X_test)
    results = {
        name: evaluate_model(data.y_test, proba, params.evaluate.threshold)
        for name, proba in probabilities.items()
    }
    with atomic_outputs(paths.evaluation, paths.metrics, paths.roc_plot) as temps:
        joblib.dump(results, temps[0])
        write_metrics_json(results, temps[1])
        plot_roc_curves(results, temps[2])
    for name in MODEL_NAMES:
        logger.info("evaluate: %s %s", name, _format_metrics(results[name]["metrics"]))
    return results


def predict(paths: Paths, features: np.ndarray) -> dict[str, np.ndarray]:
    """P(disease) per row from each saved model; the ensemble averages the two."""
    sklearn_p = sklearn_proba(joblib.load(paths.sklearn_model), features)
    keras_p = keras_proba(load_keras_h5(paths.keras_model), features)
    return {"sklearn_mlp": sklearn_p, "keras_mlp": keras_p, "ensemble": (sklearn_p + keras_p) / 2}


def evaluate_model(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """Metrics at `threshold`, the confusion matrix and the ROC curve of one model."""
    predicted = (proba >= threshold).astype(np.int64)
    fpr, tpr, thresholds = roc_curve(y_true, proba)
    metrics = {
        "accuracy": float(accuracy_score(y_true, predicted)),
        # zero_division=0: a model that predicts no positive has precision 0, not a warning.
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y_true, proba)),
    }
    return {
        "metrics": metrics,
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=[0, 1]),
        "roc_curve": {"fpr": fpr, "tpr": tpr, "thresholds": thresholds},
        "probabilities": proba,
        "threshold": threshold,
    }


def metrics_document(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The metrics.json content: {model: {metric: value}}, rounded so that diffs stay readable."""
    return {
        name: {key: round(value, METRIC_DIGITS) for key, value in results[name]["metrics"].items()}
        for name in MODEL_NAMES
    }


def write_metrics_json(results: dict[str, dict[str, Any]], path: Path) -> None:
    path.write_text(json.dumps(metrics_document(results), indent=2) + "\n", encoding="utf-8")


def plot_roc_curves(results: dict[str, dict[str, Any]], path: Path) -> None:
    """One ROC curve per model on shared axes, with the AUC in the legend."""
    figure, axes = plt.subplots(figsize=(6, 6))
    try:
        for name in MODEL_NAMES:
            curve = results[name]["roc_curve"]
            auc = results[name]["metrics"]["roc_auc"]
            axes.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC = {auc:.3f})")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        axes.set(
            xlabel="False positive rate",
            ylabel="True positive rate",
            title="ROC curve, test split",
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        axes.legend(loc="lower right")
        figure.tight_layout()
        # The format comes from the suffix; the temporary name keeps ".png".
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


def _format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("evaluate", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
