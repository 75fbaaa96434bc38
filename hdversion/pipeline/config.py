"""Where the artifacts go (config/config.yaml, `paths:`) and how stages behave (params.yaml).

Both are parsed into frozen dataclasses so a typo in a key or a wrong type fails at start-up
with a ConfigError naming the key, instead of deep inside a stage.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdversion.pipeline.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/config.yaml")
DEFAULT_PARAMS_FILE = Path("params.yaml")
DATA_SOURCES = ("synthetic", "path", "url")


@dataclass(frozen=True)
class Paths:
    """Absolute paths of every artifact; built from config/config.yaml's `paths:` section."""

    raw_data: Path
    preprocessor: Path
    splits: Path
    processed_data: Path
    sklearn_study: Path
    keras_study: Path
    sklearn_model: Path
    keras_model: Path
    evaluation: Path
    metrics: Path
    roc_plot: Path

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], root: Path) -> Paths:
        """Resolve the configured (repo-relative) paths against `root`."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in raw]
        if missing:
            raise ConfigError(f"paths: missing key(s): {', '.join(missing)}")
        resolved: dict[str, Path] = {}
        for name in names:
            value = raw[name]
            if not isinstance(value, str) or not value:
                raise ConfigError(f"paths.{name} must be a non-empty string, got {value!r}")
            resolved[name] = (root / value).resolve()
        return cls(**resolved)

    def all(self) -> dict[str, Path]:
        """Every artifact path by its config key."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class DataParams:
    """Stage `data`: where the raw table comes from."""

    # synthetic: seeded generator (works offline); path: a local CSV; url: a download.
    source: str = "synthetic"
    path: str = "../shared/data/heart.csv"
    url: str = (
        "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/"
        "processed.cleveland.data"
    )
    synthetic_rows: int = 303
    # Fewer rows than this cannot give stratified train/validation/test splits worth training.
    min_rows: int = 50
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ConfigError(
                f"data.source must be one of {', '.join(DATA_SOURCES)}, got {self.source!r}"
            )
        _require_positive("data.synthetic_rows", self.synthetic_rows)
        _require_positive("data.min_rows", self.min_rows)
        _require_positive("data.timeout_seconds", self.timeout_seconds)
        if self.source == "path" and not self.path:
            raise ConfigError("data.path must be set when data.source is 'path'")
        if self.source == "url" and not self.url:
            raise ConfigError("data.url must be set when data.source is 'url'")


@dataclass(frozen=True)
class PrepareParams:
    """Stage `prepare`: fractions of all rows held out for validation and test."""

    test_size: float = 0.2
    val_size: float = 0.2

    def __post_init__(self) -> None:
        for name, value in (("test_size", self.test_size), ("val_size", self.val_size)):
            if not 0.0 < value < 1.0:
                raise ConfigError(f"prepare.{name} must be between 0 and 1, got {value}")
        if self.test_size + self.val_size >= 1.0:
            raise ConfigError("prepare.test_size + prepare.val_size must be below 1")


@dataclass(frozen=True)
class TuneParams:
    """Stage `tune`: Optuna budget per model."""

    sklearn_trials: int = 10
    keras_trials: int = 5
    sklearn_max_epochs: int = 200
    keras_epochs: int = 30
    batch_size: int = 32
    patience: int = 10

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _require_positive(f"tune.{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class TrainParams:
    """Stage `train`: final fits with the best hyperparameters, early-stopped on validation."""

    sklearn_max_epochs: int = 300
    keras_epochs: int = 100
    batch_size: int = 32
    patience: int = 10

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _require_positive(f"train.{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class EvaluateParams:
    """Stage `evaluate`: the probability above which a patient is predicted ill."""

    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"evaluate.threshold must be between 0 and 1, got {self.threshold}")


@dataclass(frozen=True)
class Params:
    """Everything in params.yaml. `seed` drives every random choice of every stage."""

    seed: int = 42
    # After `train` writes the models, back the project up through hdversion's API
    # (hdversion/pipeline/train.py, `backup_after_train`). Not a DVC param of any stage:
    # switching it re-runs nothing.
    backup_after_train: bool = False
    data: DataParams = field(default_factory=DataParams)
    prepare: PrepareParams = field(default_factory=PrepareParams)
    tune: TuneParams = field(default_factory=TuneParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Params:
        """Build from a params.yaml-shaped mapping; absent keys keep their defaults."""
        return _build(cls, raw, prefix="")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Params:
        """A copy with `overrides` (same shape as params.yaml, possibly partial) merged in."""
        return Params.from_mapping(deep_merge(self.to_dict(), overrides))


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge nested mappings; values of `overrides` win."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def load_params(path: Path = DEFAULT_PARAMS_FILE) -> Params:
    """Read params.yaml."""
    return Params.from_mapping(_read_yaml_mapping(path))


def load_paths(config_file: Path = DEFAULT_CONFIG_FILE, root: Path | None = None) -> Paths:
    """Read `paths:` from config/config.yaml, relative to `root` (default: the cwd)."""
    config = _read_yaml_mapping(config_file)
    section = config.get("paths")
    if not isinstance(section, Mapping):
        raise ConfigError(f"{config_file}: no `paths:` section")
    return Paths.from_mapping(section, Path.cwd() if root is None else root)


def _read_yaml_mapping(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} not found (run from the repository root)") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"{path} must contain a mapping at the top level")
    return loaded


_T = typing.TypeVar("_T")


def _build(cls: type[_T], raw: Mapping[str, Any], prefix: str) -> _T:
    """Instantiate dataclass `cls` from `raw`, checking keys and scalar types."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'params'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"unknown parameter(s): {', '.join(prefix + k for k in unknown)}")
    values = {name: _coerce(hints[name], raw[name], prefix + name) for name in raw}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, prefix=key + ".")  # type: ignore[arg-type]
    if hint is bool and isinstance(value, bool):
        return value
    # bool is an int subclass, but `seed: true` is a mistake, not 1.
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key} must be of type {hint.__name__}, got {value!r}")


def _require_positive(key: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{key} must be positive, got {value}")
