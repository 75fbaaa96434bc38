"""`backup_after_train` (params.yaml): the train stage backs the project up through
hdversion's public API once the models are written, the API's first user. A module of its
own, light (no ML stack), so that the hook is tested without training."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from hdversion.pipeline.config import Params
from hdversion.pipeline.errors import PipelineError

logger = logging.getLogger("hdversion.pipeline")


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
