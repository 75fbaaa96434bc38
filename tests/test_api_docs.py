"""docs/api.md, run as written: each ```python block, in order, by the project's Python in a
scratch clone of this repository (a throwaway bare origin, the pipeline's budget cut as
tests/pipeline does), each block in a fresh process that must exit 0. The first block trains
(`dvc repro`, from the session's run-cache: tests/heart_project.py); the others use its
backup. The fast checks keep the examples and the prose honest without training: every
block parses, every `api.NAME` it uses is public."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion import api
from tests.conftest import REPO_ROOT
from tests.heart_project import TrainedHeart
from tests.test_readme import scratch_clone

DOC = REPO_ROOT / "docs" / "api.md"


def python_blocks(text: str | None = None) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", DOC.read_text() if text is None else text,
                      re.M | re.S)


def test_the_blocks_are_found() -> None:
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nls\n```\n") == ["a = 1\n"]
    assert len(python_blocks()) >= 5


def test_every_block_parses_and_uses_public_names_only() -> None:
    for block in python_blocks():
        tree = ast.parse(block)
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name) and node.value.id == "api"}
        assert used <= set(api.__all__), used - set(api.__all__)


def test_the_prose_names_public_names_only() -> None:
    named = set(re.findall(r"`api\.(\w+)", DOC.read_text())) - {"NAME"}  # the rule's own
    assert named <= set(api.__all__), named - set(api.__all__)


@pytest.mark.pipeline
def test_the_api_docs_as_written(tmp_path: Path, trained_heart: TrainedHeart) -> None:
    _, clone = scratch_clone(tmp_path)
    # The first block's `dvc repro` runs as written, every stage restored from DVC's
    # run-cache: the session trained the same code on the same params once.
    trained_heart.seed_cache(clone)
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    outputs = []
    try:
        for number, block in enumerate(python_blocks(), start=1):
            script = tmp_path / f"block{number}.py"
            script.write_text(block)
            done = subprocess.run([sys.executable, str(script)], cwd=clone, env=env,
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, (number, block, done.stdout, done.stderr[-4000:])
            outputs.append(done.stdout)
    finally:
        # The clone's own tests hold the storage servers' test keys (no leak, but the
        # session's leak check, run by the cloud tests after this one, would say so).
        shutil.rmtree(clone / "tests", ignore_errors=True)
    trained, listed, loaded, opened, prod, failed, progress = outputs[:7]
    assert re.match(r"backup/\d{8}_\d{6}: \d+ files, roc_auc 0\.\d+", trained), trained
    assert "retrained on this week's data" in listed and "best: " in listed
    assert loaded.startswith("MLPClassifier from backup/"), loaded
    assert re.match(r"MLPClassifier from backup/\d{8}_\d{6} md5 [0-9a-f]{32}\n", opened), opened
    assert re.search(r"model\.joblib from backup/\d{8}_\d{6}\nprod -> backup/", prod), prod
    assert "best roc_auc so far" in prod
    assert "(exit 4)" in failed, failed
    assert progress.startswith("1 backups checked;"), progress
    assert outputs[7].startswith("7 carry.tar.zst.age: the passphrase does not open it"), \
        outputs[7]
