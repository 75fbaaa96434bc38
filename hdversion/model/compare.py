"""Comparing two states of a project (two backups, or a backup and the workspace): which
files were added, removed or changed, which params changed, how each metric moved. Pure
functions over plain data; the operations read the states (ops/inspect.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class FileState:
    md5: str
    size: int


@dataclass(frozen=True)
class FileChange:
    path: str
    change: Change
    old_size: int | None  # None when added
    new_size: int | None  # None when removed


@dataclass(frozen=True)
class ValueChange:
    """A param (or a metric that is not a number) that differs; `old`/`new` are meaningless
    on the side where it is absent (added: old, removed: new)."""

    key: str
    change: Change
    old: Any = None
    new: Any = None


@dataclass(frozen=True)
class MetricDelta:
    key: str
    old: Any  # None when the metric is absent on that side
    new: Any

    @property
    def delta(self) -> float | None:
        """new - old when both are finite numbers; None otherwise."""
        old, new = _number(self.old), _number(self.new)
        return None if old is None or new is None else new - old


@dataclass(frozen=True)
class Comparison:
    files: tuple[FileChange, ...]
    params: tuple[ValueChange, ...]
    metrics: tuple[MetricDelta, ...]  # every metric of either side, changed or not
    # The params equal on both sides (key -> value): `diff --all` shows them, and a
    # summary counts them.
    same_params: tuple[tuple[str, Any], ...] = ()

    @property
    def unchanged(self) -> bool:
        """No file and no param changed, and no metric moved."""
        return not self.files and not self.params and all(
            m.old == m.new for m in self.metrics)


def compare_files(old: Mapping[str, FileState], new: Mapping[str, FileState]
                  ) -> tuple[FileChange, ...]:
    """Files added, removed, and changed (by md5), sorted by path."""
    changes = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before is None and after is not None:
            changes.append(FileChange(path, "added", None, after.size))
        elif after is None and before is not None:
            changes.append(FileChange(path, "removed", before.size, None))
        elif before is not None and after is not None and before.md5 != after.md5:
            changes.append(FileChange(path, "changed", before.size, after.size))
    return tuple(changes)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys ({"a": {"b": 1}} -> {"a.b": 1}); lists and scalars are
    values. An empty dict under a key is kept as a value, so it is not silently lost."""
    if not isinstance(data, Mapping) or (prefix and not data):
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def flatten_files(old: Mapping[str, Any], new: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics or params as DVC reads them ({file: data}) on both sides, as dotted keys.
    With one file (the usual metrics.json / params.yaml) keys are bare (`ensemble.roc_auc`);
    with several, `file:key` (the syntax `prune --keep-best` reads), so that two files'
    keys never merge."""
    files = set(old) | set(new)
    single = len(files) <= 1

    def flat(side: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for file, data in sorted(side.items()):
            for key, value in flatten(data).items():
                result[key if single else f"{file}:{key}"] = value
        return result

    return flat(old), flat(new)


def compare_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ValueChange, ...]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            changes.append(ValueChange(key, "removed", old=old[key]))
        elif key not in old:
            changes.append(ValueChange(key, "added", new=new[key]))
        elif not _same(old[key], new[key]):
            changes.append(ValueChange(key, "changed", old[key], new[key]))
    return tuple(changes)


def same_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple((key, new[key]) for key in sorted(old.keys() & new.keys())
                 if _same(old[key], new[key]))


def metric_deltas(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[MetricDelta, ...]:
    return tuple(MetricDelta(key, old.get(key), new.get(key))
                 for key in sorted(old.keys() | new.keys()))


def compare(old_files: Mapping[str, FileState], new_files: Mapping[str, FileState],
            old_params: Mapping[str, Any], new_params: Mapping[str, Any],
            old_metrics: Mapping[str, Any], new_metrics: Mapping[str, Any]) -> Comparison:
    """Two states compared; params and metrics as DVC reads them ({file: data})."""
    params_before, params_after = flatten_files(old_params, new_params)
    metrics_before, metrics_after = flatten_files(old_metrics, new_metrics)
    return Comparison(compare_files(old_files, new_files),
                      compare_values(params_before, params_after),
                      metric_deltas(metrics_before, metrics_after),
                      same_values(params_before, params_after))


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 are the same param; True and 1 are not (YAML tells them apart).
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
