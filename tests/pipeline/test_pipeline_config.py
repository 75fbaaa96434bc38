"""params.yaml, config/config.yaml and dvc.yaml: parsing, validation and consistency."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hdversion.pipeline.config import Params, load_params, load_paths
from hdversion.pipeline.errors import ConfigError
from hdversion.pipeline.stages import STAGES
from tests.pipeline.conftest import CONFIG_FILE, REPO_ROOT


def dvc_stages() -> dict[str, Any]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    assert isinstance(stages, dict)
    return stages


def declared_files(stage: dict[str, Any], kind: str) -> list[str]:
    """Paths under outs/metrics/plots/deps, whether listed plainly or with options."""
    files: list[str] = []
    for entry in stage.get(kind, []):
        files.extend([entry] if isinstance(entry, str) else list(entry))
    return files


def test_repo_params_yaml_is_valid_and_works_offline() -> None:
    params = load_params(REPO_ROOT / "params.yaml")
    assert params.data.source == "synthetic"
    assert params.seed == Params().seed


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"tune": {"sklearn_trails": 3}}, "unknown parameter(s): tune.sklearn_trails"),
        ({"seed": "42"}, "seed must be of type int"),
        ({"seed": True}, "seed must be of type int"),
        ({"data": {"source": "ftp"}}, "data.source must be one of synthetic, path, url"),
        ({"prepare": {"test_size": 0.5, "val_size": 0.5}}, "must be below 1"),
        ({"tune": {"keras_trials": 0}}, "tune.keras_trials must be positive"),
        ({"data": "synthetic"}, "data must be a mapping"),
    ],
)
def test_invalid_params_are_rejected(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Params().with_overrides(override)
    assert message in str(excinfo.value)


def test_overrides_merge_into_nested_sections() -> None:
    params = Params().with_overrides({"tune": {"keras_trials": 1}, "data": {"timeout_seconds": 5}})
    assert params.tune.keras_trials == 1
    assert params.tune.sklearn_trials == Params().tune.sklearn_trials
    # An integer where a float is expected is fine (YAML writes 5, not 5.0).
    assert isinstance(params.data.timeout_seconds, float)


def test_threshold_out_of_range_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"evaluate\.threshold"):
        Params().with_overrides({"evaluate": {"threshold": 1.0}})


def test_paths_resolve_against_the_given_root(tmp_path: Path) -> None:
    paths = load_paths(CONFIG_FILE, root=tmp_path)
    assert paths.raw_data == tmp_path / "data" / "raw" / "heart.csv"
    assert paths.keras_model.suffix == ".h5"
    assert all(path.is_relative_to(tmp_path) for path in paths.all().values())


def test_missing_config_and_keys_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_paths(tmp_path / "nope.yaml")
    incomplete = tmp_path / "config.yaml"
    incomplete.write_text("paths:\n  raw_data: data/raw/heart.csv\n")
    with pytest.raises(ConfigError, match="missing key"):
        load_paths(incomplete)


def test_dvc_yaml_declares_exactly_the_configured_artifacts() -> None:
    stages = dvc_stages()
    declared = {
        path
        for stage in stages.values()
        for kind in ("outs", "metrics", "plots")
        for path in declared_files(stage, kind)
    }
    configured = set(yaml.safe_load(CONFIG_FILE.read_text())["paths"].values())
    assert declared == configured
    assert declared_files(stages["evaluate"], "metrics") == ["metrics.json"]
    assert declared_files(stages["evaluate"], "plots") == ["plots/roc_curve.png"]


def test_dvc_yaml_stages_run_the_stage_modules_and_cache_everything() -> None:
    stages = dvc_stages()
    assert tuple(stages) == STAGES
    known_params = set(yaml.safe_load((REPO_ROOT / "params.yaml").read_text()))
    for name, stage in stages.items():
        assert stage["cmd"] == f"python -m hdversion.pipeline.{name}"
        assert f"hdversion/pipeline/{name}.py" in stage["deps"]
        assert set(stage["params"]) <= known_params
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                # DVC's default is cache: true; every artifact must be restorable from it.
                assert isinstance(entry, str) or all(
                    options.get("cache", True) for options in entry.values()
                )


def test_dvc_yaml_stages_depend_on_the_previous_stage_outputs() -> None:
    stages = dvc_stages()
    for previous, current in itertools.pairwise(STAGES):
        outputs = set(declared_files(stages[previous], "outs"))
        assert outputs & set(stages[current]["deps"]), (previous, current)


def test_importing_the_package_is_cheap_and_pins_the_keras_backend() -> None:
    code = (
        "import os, sys; os.environ.pop('KERAS_BACKEND', None); import hdversion.pipeline; "
        "heavy = ['keras', 'jax', 'sklearn', 'optuna', 'pandas', 'matplotlib', 'tensorflow']; "
        "print([m for m in heavy if m in sys.modules]); print(os.environ['KERAS_BACKEND'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.split("\n")[:2] == ["[]", "jax"]
