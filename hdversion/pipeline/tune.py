"""Stage `tune`: Optuna searches for both models, maximising validation ROC-AUC.

Trials run one after another with a seeded TPE sampler and seeded fits, so the same params
give the same studies (the studies' timestamps aside).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import joblib
import optuna
from sklearn.metrics import roc_auc_score

from hdversion.pipeline.artifacts import atomic_outputs
from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths, TuneParams
from hdversion.pipeline.models import (
    HIDDEN_LAYER_CHOICES,
    KERAS_UNIT_CHOICES,
    FitSettings,
    KerasHyperparams,
    SklearnHyperparams,
    SplitArrays,
    fit_keras_mlp,
    fit_sklearn_mlp,
    keras_proba,
    sklearn_proba,
)

# Named explicitly: under `python -m` this module's __name__ is "__main__".
logger = logging.getLogger("hdversion.pipeline")

Objective = Callable[[optuna.Trial], float]


def run(params: Params, paths: Paths) -> dict[str, optuna.Study]:
    """Tune both models on processed_data.npz and dump the two studies."""
    data = SplitArrays.load(paths.processed_data)
    tune = params.tune
    studies = {
        "sklearn_mlp": optimize(
            "sklearn_mlp",
            sklearn_objective(data, tune, params.seed),
            tune.sklearn_trials,
            params.seed,
        ),
        "keras_mlp": optimize(
            "keras_mlp", keras_objective(data, tune, params.seed), tune.keras_trials, params.seed
        ),
    }
    with atomic_outputs(paths.sklearn_study, paths.keras_study) as (sklearn_temp, keras_temp):
        joblib.dump(studies["sklearn_mlp"], sklearn_temp)
        joblib.dump(studies["keras_mlp"], keras_temp)
    for name, study in studies.items():
        logger.info(
            "tune: %s best validation ROC-AUC %.4f with %s",
            name,
            study.best_value,
            study.best_params,
        )
    return studies


def optimize(name: str, objective: Objective, n_trials: int, seed: int) -> optuna.Study:
    """Run a seeded TPE study of `n_trials` sequential trials."""
    # Half the budget (at most TPE's default of 10) explores at random before TPE models the
    # results; with the default 10 a small budget would never get past random search.
    startup = min(10, max(1, n_trials // 2))
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
    # One INFO line per trial would bury the stage's own summary in DVC's output.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return study


def suggest_sklearn(trial: optuna.Trial) -> SklearnHyperparams:
    return SklearnHyperparams.from_study_params(
        {
            "hidden_layer_sizes": trial.suggest_categorical(
                "hidden_layer_sizes", HIDDEN_LAYER_CHOICES
            ),
            "alpha": trial.suggest_float("alpha", 1e-5, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
        }
    )


def suggest_keras(trial: optuna.Trial) -> KerasHyperparams:
    return KerasHyperparams.from_study_params(
        {
            "units": trial.suggest_categorical("units", KERAS_UNIT_CHOICES),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        }
    )


def sklearn_objective(data: SplitArrays, tune: TuneParams, seed: int) -> Objective:
    settings = FitSettings(tune.sklearn_max_epochs, tune.batch_size, tune.patience, seed)

    def objective(trial: optuna.Trial) -> float:
        model = fit_sklearn_mlp(suggest_sklearn(trial), data, settings)
        return float(roc_auc_score(data.y_val, sklearn_proba(model, data.X_val)))

    return objective


def keras_objective(data: SplitArrays, tune: TuneParams, seed: int) -> Objective:
    settings = FitSettings(tune.keras_epochs, tune.batch_size, tune.patience, seed)

    def objective(trial: optuna.Trial) -> float:
        model = fit_keras_mlp(suggest_keras(trial), data, settings)
        return float(roc_auc_score(data.y_val, keras_proba(model, data.X_val)))

    return objective


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("tune", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
