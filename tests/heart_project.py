"""This repository's own pipeline trained once per test run: `dvc repro` of the heart-disease
project on the tiny budgets of tests/pipeline, in a project of its own (git, DVC, the
pipeline's code and settings). Training takes most of a minute on 2 cores; the tests that
need trained models take a copy of this project, and the tests that run `dvc repro` as a
document says (README.md, docs/api.md) get its DVC cache, whose run-cache restores each
stage's outputs instead of training again. The xdist workers of one run share it: the first
to ask builds it under a file lock, the others wait and copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from tests.conftest import shared_tmp
from tests.pipeline.conftest import REPO_ROOT, TINY_OVERRIDES

# What a project needs to run the pipeline: the package itself comes from PYTHONPATH.
PIPELINE_FILES = ("dvc.yaml", "config/config.yaml", "hdversion/pipeline")


def pipeline_env() -> dict[str, str]:
    """`dvc.yaml`'s `python` is this environment's; the package itself ahead of a project's
    copied pipeline folder, which has no hdversion/__init__ (it would read as a namespace
    package without hdversion's own modules)."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": path}


def tiny_params(**top_level: object) -> dict[str, object]:
    """params.yaml with the tiny training budgets of tests/pipeline (and `top_level` keys)."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for section, values in TINY_OVERRIDES.items():
        params[section].update(values)
    params.update(top_level)
    assert isinstance(params, dict)
    return params


@dataclass(frozen=True)
class TrainedHeart:
    """A project where `dvc repro` ran with `backup_after_train: true` (which, under `dvc
    repro`, only warns): the outputs, dvc.lock and .dvc/cache with its run-cache. Read-only:
    take a copy."""

    root: Path
    repro_output: str  # what `dvc repro` printed, stdout and stderr

    def copy_to(self, target: Path) -> Path:
        shutil.copytree(self.root, target, symlinks=True)
        return target

    def seed_cache(self, project: Path) -> None:
        """Give `project` (a clone of this repository, same pipeline code and tiny params)
        the trained DVC cache: its `dvc repro` runs every stage as written, each restored
        from DVC's run-cache ("Stage ... is cached - skipping run") instead of training."""
        shutil.copytree(self.root / ".dvc" / "cache", project / ".dvc" / "cache",
                        dirs_exist_ok=True)


def _build(root: Path) -> str:
    root.mkdir(parents=True)
    for item in PIPELINE_FILES:
        source, target = REPO_ROOT / item, root / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(backup_after_train=True)))
    env = pipeline_env()

    def sh(*cmd: str) -> str:
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (cmd, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout + done.stderr

    for command in (("git", "init", "-q", "-b", "main"), ("git", "config", "user.name", "T"),
                    ("git", "config", "user.email", "t@example.invalid"), ("dvc", "init", "-q")):
        sh(*command)
    return sh("dvc", "repro")


@pytest.fixture(scope="session")
def trained_heart(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> TrainedHeart:
    pytest.importorskip("keras")  # `dvc repro` trains: the `pipeline` extra
    shared = shared_tmp(tmp_path_factory, worker_id)
    root, output = shared / "trained-heart", shared / "trained-heart.out"
    with FileLock(shared / "trained-heart.lock"):
        if not output.exists():
            shutil.rmtree(root, ignore_errors=True)  # a build that failed half-way
            output.write_text(_build(root))
    return TrainedHeart(root, output.read_text())
