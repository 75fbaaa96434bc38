"""All stages in order, in one process (what `dvc repro` runs as five commands)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from hdversion.pipeline.config import Params, Paths

# The DAG of dvc.yaml is a chain; each stage reads only what the previous ones wrote.
STAGES: tuple[str, ...] = ("data", "prepare", "tune", "train", "evaluate")


def run_pipeline(params: Params, paths: Paths, stages: Sequence[str] = STAGES) -> None:
    """Run `stages` (default: all) in order with the same params and paths."""
    for name in stages:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        # Imported on demand: the heavy libraries load only when a stage runs.
        module = importlib.import_module(f"hdversion.pipeline.{name}")
        module.run(params, paths)
