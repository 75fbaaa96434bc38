"""The heart-disease ML pipeline: data -> prepare -> tune -> train -> evaluate.

Each stage is a module runnable as ``python -m hdversion.pipeline.<stage>`` (DVC runs them,
see dvc.yaml) and exposes ``run(params, paths)`` for programmatic use and tests.

Run it from the repository root with the project's virtualenv, since dvc.yaml's commands
call `python`: `source .venv/bin/activate && dvc repro` (or put .venv/bin first on PATH and
run `.venv/bin/dvc repro`). `python -m hdversion.pipeline` runs all stages without DVC.
Artifact paths come from config/config.yaml (`paths:`), parameters from params.yaml.

Importing this package must stay cheap: the heavy libraries (keras, jax, scikit-learn,
optuna, pandas, matplotlib) are imported by the stage modules only.
"""

from __future__ import annotations

import os

# Keras reads its backend once, at its first import, and falls back to ~/.keras/keras.json
# (which says "tensorflow" on a fresh machine, and TensorFlow is not installed). Setting the
# variable here, before any stage can import keras, pins the backend the project depends on.
os.environ.setdefault("KERAS_BACKEND", "jax")
# Only JAX's CPU backend is installed; naming it skips the probe for GPU/TPU plugins at
# start-up and keeps results bit-identical across machines (GPU kernels are not).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
