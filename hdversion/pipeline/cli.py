"""The shared command line of the stage modules (`python -m hdversion.pipeline.<stage>`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hdversion.pipeline.config import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_PARAMS_FILE,
    Params,
    Paths,
    load_params,
    load_paths,
)
from hdversion.pipeline.errors import PipelineError

StageFunction = Callable[[Params, Paths], object]


def stage_main(stage: str, run: StageFunction, argv: Sequence[str] | None = None) -> int:
    """Load config/config.yaml and params.yaml (relative to the cwd) and run `stage`.

    `stage` is a stage module's name, or "" for `python -m hdversion.pipeline` (all stages).
    Returns the process exit code: 0 on success, 1 on an expected error, which is printed
    as `error: <message>` on stderr without a traceback.
    """
    module = f"hdversion.pipeline.{stage}" if stage else "hdversion.pipeline"
    what = f"the `{stage}` stage" if stage else "every stage"
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=f"Run {what} of the heart-disease pipeline (from the repository root).",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_FILE)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_FILE)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        paths = load_paths(args.config)
        params = load_params(args.params)
        run(params, paths)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def configure_logging() -> None:
    """Print this package's progress lines on stderr (DVC shows them while a stage runs).

    Only the package's logger is configured: the root logger stays at WARNING so that the
    libraries' INFO chatter (jax, absl, optuna) does not drown the stage's own lines.
    """
    package_logger = logging.getLogger("hdversion.pipeline")
    if not package_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    # absl (imported with keras) installs a root handler; propagating would print twice.
    package_logger.propagate = False
