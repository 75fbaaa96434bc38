"""`python -m hdversion.pipeline`: run every stage in one process, without DVC.

Handy for a quick local run; `dvc repro` is the tracked way (it caches and skips stages
whose inputs did not change).
"""

from __future__ import annotations

from collections.abc import Sequence

from hdversion.pipeline.cli import stage_main
from hdversion.pipeline.config import Params, Paths
from hdversion.pipeline.stages import run_pipeline


def run(params: Params, paths: Paths) -> None:
    run_pipeline(params, paths)


def main(argv: Sequence[str] | None = None) -> int:
    return stage_main("", run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
