"""The shipped GitHub workflow, run as GitHub runs it: its own `run:` steps, in order, with
bash, in a fresh clone of a project that has what a user's repository has (this
repository's CI files, .gitignore and settings committed; the pipeline's outputs made by the
workflow's own `dvc repro`), against the local S3 server and a throwaway bare origin. The
file a user copies is the file that is tested, not a script beside it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, Project
from tests.storage_servers import StorageServer
from tests.test_cloud import PREFIX

pytestmark = pytest.mark.cloud

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
# Every workflow the repository ships is run by a test here.
TESTED_WORKFLOWS = {"backup.yml"}

# What a user's clone of this repository holds besides the pipeline (the stand-in pipeline
# of tests/conftest.py replaces the one that trains models for minutes).
USER_FILES = [".gitignore", ".dvc/config", "config/config.yaml", "scripts/ci_backup.sh",
              *(str(p.relative_to(REPO_ROOT)) for p in sorted(WORKFLOWS.glob("*.yml")))]

# Steps not run as written, each with what stands in for it: a new step of the workflow is
# never skipped silently.
NOT_RUN = {
    "uses: actions/checkout@v4",  # the fresh clone of the origin, every tag (fetch-depth 0)
    "uses: actions/setup-python@v5",  # this test's Python
    "run: make install",  # .venv/bin/ linked to this environment's hdversion and dvc
    "uses: actions/upload-artifact@v4",  # checked: its `path` holds the job's lines
}
# Step keys this runner understands; anything else (shell:, working-directory:, ...) must be
# taught to it first.
STEP_KEYS = {"name", "run", "uses", "with", "env", "if"}
SECRET = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def test_every_shipped_workflow_is_run_by_a_test() -> None:
    assert {p.name for p in WORKFLOWS.iterdir()} == TESTED_WORKFLOWS


def step_name(step: dict[str, Any]) -> str:
    return f"uses: {step['uses']}" if "uses" in step else f"run: {step['run'].strip()}"


def with_secrets(value: str, secrets: dict[str, str]) -> str:
    text = SECRET.sub(lambda m: secrets[m.group(1)], value)
    assert "${{" not in text, f"an expression this runner does not know: {value}"
    return text


def users_repository(project: Project, tmp_path: Path) -> tuple[Path, Path]:
    """The user's repository pushed to a bare origin, and a fresh clone of it (what
    actions/checkout makes): no pipeline output, no cache, nothing git ignores."""
    for name in USER_FILES:
        target = project.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO_ROOT / name).read_bytes())
        target.chmod((REPO_ROOT / name).stat().st_mode)
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "the repository's CI files")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("push", "-q", str(origin), "main")
    clone = tmp_path / "runner" / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    return origin, clone


def run_steps(steps: list[dict[str, Any]], workspace: Path, env: dict[str, str],
              secrets: dict[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Each `run:` step in order as GitHub's default shell runs it (`bash -e`), stopping at
    the first failure as the job does; the names of the steps not run."""
    skipped, ran = [], []
    for step in steps:
        assert set(step) <= STEP_KEYS, f"a step key this runner does not know: {step}"
        name = step_name(step)
        if name in NOT_RUN:
            skipped.append(name)
            continue
        assert "uses" not in step, f"an action this test does not stand in for: {name}"
        assert step.get("if") in (None, "success()"), f"a condition to interpret: {step}"
        step_env = {key: with_secrets(str(value), secrets)
                    for key, value in (step.get("env") or {}).items()}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-e", "-c",
                               with_secrets(step["run"], secrets)],
                              cwd=workspace, env={**env, **step_env},
                              capture_output=True, text=True, timeout=600)
        ran.append({"step": name, "code": done.returncode, "stderr": done.stderr})
        assert done.returncode == 0, f"step {name!r} failed: {done.stderr}"
    return skipped, ran


def test_the_backup_workflow_backs_up_from_a_fresh_clone(
        project: Project, s3_server: StorageServer,
        bucket_factory: Callable[[StorageServer], str], tmp_path: Path) -> None:
    workflow = yaml.safe_load((WORKFLOWS / "backup.yml").read_text())
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert "env" not in workflow and "env" not in job and "defaults" not in job
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # as the fresh clone here: every tag

    origin, clone = users_repository(project, tmp_path)
    assert not (clone / "logs").exists()  # git-ignored: no clone has it
    venv_bin = clone / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for program in ("hdversion", "dvc"):
        (venv_bin / program).symlink_to(Path(sys.executable).with_name(program))

    bucket = bucket_factory(s3_server)
    public, credentials = s3_server.dvc_remote_config(bucket)
    secrets = {"HDVERSION_S3_URL": s3_server.url_for(bucket, PREFIX),
               "AWS_ACCESS_KEY_ID": credentials["access_key_id"],
               "AWS_SECRET_ACCESS_KEY": credentials["secret_access_key"]}
    used = {m for step in steps for value in (step.get("env") or {}).values()
            for m in SECRET.findall(str(value))}
    assert used == set(secrets)
    home = tmp_path / "home"  # a runner's: no git identity, no DVC settings
    home.mkdir()
    runner = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GIT_"))},
              "HOME": str(home), "CI": "true", "GITHUB_ACTIONS": "true",
              "GITHUB_WORKSPACE": str(clone), "GITHUB_SHA": "0123abc",
              "GITHUB_REF_NAME": "main",
              # The one thing a real runner lacks: where the S3 stand-in listens.
              "HDVERSION_S3_ENDPOINT": public["endpointurl"]}

    skipped, ran = run_steps(steps, clone, runner, secrets)
    assert set(skipped) == NOT_RUN and len(skipped) == len(NOT_RUN)
    assert len(ran) == len(steps) - len(NOT_RUN)

    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload.get("if") == "always()"  # the lines of a failed job are uploaded too
    lines = (clone / upload["with"]["path"] / "ci.jsonl").read_text().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["exit_code"] == 0 and data["backup"]["remotes"] == [
        {"name": "s3", "ok": True, "detail": ""}]
    assert data["backup"]["complete"] and data["backup"]["git_remote"]["ok"]
    tag = data["tag"]
    on_origin = subprocess.run(["git", "ls-remote", "--tags", str(origin)], check=True,
                               capture_output=True, text=True).stdout
    assert f"refs/tags/{tag}" in on_origin
    # The workflow's own `dvc repro` made what was backed up.
    manifest = json.loads(subprocess.run(
        ["git", "for-each-ref", "--format=%(contents)", f"refs/tags/{tag}"], cwd=clone,
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    assert "models/keras_mlp_model.h5" in {o["path"] for o in manifest["outputs"]}
    assert any(key.startswith(f"{PREFIX}/files/md5/") for key in s3_server.list_keys(bucket))
