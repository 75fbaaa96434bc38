"""Shared fixtures: throw-away projects (real git + real DVC) and a CLI runner."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hdversion.paths import PAUSE_MARKER
from hdversion.util.hashing import md5_file
from hdversion.util.pausepoints import PausePoint

# A test run started in the background under `make` (a CI job, `make test &`) can start with
# SIGINT ignored, and every process it starts inherits that: the Ctrl-C tests would wait for
# an hdversion that never hears its SIGINT. The default handler is what a user's terminal
# gives, so the tests restore it for themselves and for what they start.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Before anything imports DVC, keras or gcsfs.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# Or every test repository leaves state under /var/tmp/dvc.
if "DVC_SITE_CACHE_DIR" not in os.environ:
    _SITE = tempfile.mkdtemp(prefix="hdversion-dvc-site-")
    os.environ["DVC_SITE_CACHE_DIR"] = _SITE
    atexit.register(shutil.rmtree, _SITE, True)

# Keys of encrypted remotes (config/key_sources.py): no test reads the user's keys or
# writes a key file into the real ~/.config; a test that needs keys sets them itself.
CONFIG_HOME = os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="hdversion-xdg-")
atexit.register(shutil.rmtree, CONFIG_HOME, True)
for _variable in ("HDVERSION_KEY_FILE", "HDVERSION_PASSPHRASE", "HDVERSION_PASSPHRASE_FILE",
                  "HDVERSION_AGE_IDENTITY", "HDVERSION_NEW_PASSPHRASE"):
    os.environ.pop(_variable, None)

pytest_plugins = ["tests.cloud_fixtures", "tests.heart_project", "tests.histories"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_HEART_CSV = REPO_ROOT.parent / "shared" / "data" / "heart.csv"

# A tiny stand-in for the ML pipeline: the same kinds of outputs (files in several folders,
# a directory output, metrics), made in milliseconds from a seed.
MAKE_ARTIFACTS = textwrap.dedent(
    """
    import json, random, sys, pathlib, yaml
    seed = yaml.safe_load(open("params.yaml"))["seed"]
    rng = random.Random(seed)
    def write(path, size):
        p = pathlib.Path(path); p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    write("models/keras_mlp_model.h5", 40_000)
    write("models/sklearn_mlp_model.joblib", 20_000)
    write("data/processed/processed_data.npz", 30_000)
    for i in range(3):
        write(f"models/optuna/study_{i}.pkl", 5_000)
    json.dump({"ensemble": {"roc_auc": round(0.8 + seed / 1000, 4)}}, open("metrics.json", "w"))
    """
)


@dataclass
class Project:
    root: Path

    def cli(self, *args: str, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        return run_cli(self.root, *args, env=env, check=check)

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True,
                              text=True).stdout

    def dvc(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).with_name("dvc")), *args],
                              cwd=self.root, capture_output=True, text=True)

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def damage(self, path: str, data: bytes = b"damaged") -> None:
        file = self.root / path
        file.chmod(0o644)
        file.write_bytes(data)

    def retrain(self, seed: int) -> None:
        (self.root / "params.yaml").write_text(f"seed: {seed}\n")
        result = self.dvc("repro", "-q")
        assert result.returncode == 0, result.stderr


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    # The console script, as a user runs it (`python -m` would put the cwd on sys.path).
    result = subprocess.run([HDVERSION, *args], cwd=cwd,
                            capture_output=True, text=True, env={**os.environ, **(env or {})},
                            timeout=300)
    if check:
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result


HDVERSION = str(Path(sys.executable).with_name("hdversion"))


def start_paused(cwd: Path, point: PausePoint, *args: str,
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `hdversion ARGS` and return once it waits at pause point `point`
    (see hdversion/util/pausepoints.py); delete the marker file to let it go on."""
    full_env = {**os.environ, **(env or {}),
                "HDVERSION_TEST_PAUSE": f"{PausePoint(point).value}:120"}
    proc = subprocess.Popen([HDVERSION, *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    marker = pause_marker(cwd)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"hdversion never reached {point}: {out}{err}")
        time.sleep(0.02)
    return proc



def watch_renames_into_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> list[str]:
    """Watch every rename into `cache`'s objects in this process (without changing it); the
    list returned fills with the names of objects renamed in whose bytes do not hash to
    their name, checked before the rename happens."""
    damaged: list[str] = []
    objects = cache / "files" / "md5"

    def watched(real: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def move(src: Any, dst: Any) -> None:
            dst_path = Path(os.fspath(dst))
            if dst_path.is_relative_to(objects) and Path(src).is_file():
                name = dst_path.parent.name + dst_path.name
                if md5_file(Path(src))[0] != name.removesuffix(".dir"):
                    damaged.append(name)
            real(src, dst)
        return move

    monkeypatch.setattr(os, "replace", watched(os.replace))
    monkeypatch.setattr(os, "rename", watched(os.rename))
    return damaged


def pause_marker(cwd: Path) -> Path:
    return cwd / PAUSE_MARKER


def _build_template(root: Path) -> None:
    def sh(*cmd: str) -> None:
        subprocess.run(cmd, cwd=root, check=True, capture_output=True)

    root.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main")
    sh("git", "config", "user.name", "Test")
    sh("git", "config", "user.email", "test@example.invalid")
    sh(str(Path(sys.executable).with_name("dvc")), "init", "-q")
    (root / "make_artifacts.py").write_text(MAKE_ARTIFACTS)
    (root / "params.yaml").write_text("seed: 1\n")
    (root / "config").mkdir()
    # An undelete window of 0: prune sweeps a removed backup's data at once, as the tests
    # written before issue 25 expect; tests/test_undelete.py judges the default window.
    # (`backup:` last: tests append keys to it.)
    (root / "config" / "config.yaml").write_text(
        "retention:\n  keep_deleted_within: 0\n"
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
    )
    (root / "dvc.yaml").write_text(textwrap.dedent(f"""\
        stages:
          train:
            cmd: {sys.executable} make_artifacts.py
            deps: [make_artifacts.py]
            params: [seed]
            outs:
              - models/keras_mlp_model.h5
              - models/sklearn_mlp_model.joblib
              - models/optuna
              - data/processed/processed_data.npz
            metrics:
              - metrics.json
        """))
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "heart.csv").write_text("age,target\n63,1\n")
    sh(str(Path(sys.executable).with_name("dvc")), "add", "-q", "data/raw/heart.csv")
    sh(str(Path(sys.executable).with_name("dvc")), "repro", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-q", "-m", "project")


def shared_tmp(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this run sees (each worker's own tmp folders are
    below it): a template built there once, under a file lock, serves them all."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "project"
    _build_template(root)
    return root


@pytest.fixture
def project(project_template: Path, tmp_path: Path) -> Iterator[Project]:
    root = tmp_path / "project"
    shutil.copytree(project_template, root, symlinks=True)
    yield Project(root)


# Tests parametrized over the three cloud backends where the backend-specific part (the SDK's
# errors, listings, sizes and times) is what is tested: every backend runs in the fast tier.
# The other cloud tests exercise hdversion's own logic, which is the same on every backend:
# S3 runs in the fast tier, Azure and GCS in `make reliability` (docs/reliability.md).
EVERY_BACKEND_IN_THE_FAST_TIER = {
    "test_backup_list_restore_through_the_cloud",
    "test_wrong_credentials_are_refused_before_any_work_and_never_printed",
    "test_missing_bucket_is_named",
    "test_push_pull_roundtrip",  # tests/gcs_emulator.py keeps every byte
    "test_remote_test_and_list",
    "test_dry_run_bytes_then_grace_then_exact_deletion_in_each_backend",
    # issue 27's proof: nothing stored reveals an artifact, on an Azure remote too
    "test_backup_restore_verify_cat_and_prune_on_an_encrypted_remote",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        backend = params.get("cloud_backend") or params.get("vault")  # encrypted remotes
        if backend not in (None, "s3", "directory") and \
                getattr(item, "originalname", item.name) not in EVERY_BACKEND_IN_THE_FAST_TIER:
            item.add_marker(pytest.mark.reliability)
