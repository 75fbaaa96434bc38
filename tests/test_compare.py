"""Table-driven tests of the pure comparison behind `diff` and `status` (model/compare.py),
and of the timestamp argument `show`/`diff` accept. No I/O."""

from __future__ import annotations

from typing import Any

import pytest

from hdversion.model.compare import (
    FileChange,
    FileState,
    MetricDelta,
    ValueChange,
    compare,
    compare_files,
    compare_values,
    flatten,
    flatten_files,
)

A, B = "a" * 32, "b" * 32


@pytest.mark.parametrize(("old", "new", "expected"), [
    ({}, {}, ()),
    ({"m": FileState(A, 1)}, {"m": FileState(A, 1)}, ()),
    ({"m": FileState(A, 1)}, {"m": FileState(B, 2)}, (FileChange("m", "changed", 1, 2),)),
    # Same size, other bytes: still a change (by md5, not size).
    ({"m": FileState(A, 1)}, {"m": FileState(B, 1)}, (FileChange("m", "changed", 1, 1),)),
    ({}, {"n": FileState(A, 3)}, (FileChange("n", "added", None, 3),)),
    ({"o": FileState(A, 4)}, {}, (FileChange("o", "removed", 4, None),)),
    ({"z": FileState(A, 1), "a": FileState(A, 1)}, {"z": FileState(B, 1)},
     (FileChange("a", "removed", 1, None), FileChange("z", "changed", 1, 1))),
])
def test_compare_files(old: dict[str, FileState], new: dict[str, FileState],
                       expected: tuple[FileChange, ...]) -> None:
    assert compare_files(old, new) == expected


@pytest.mark.parametrize(("data", "expected"), [
    ({}, {}),
    ({"a": 1}, {"a": 1}),
    ({"a": {"b": {"c": 1}}, "d": [1, 2]}, {"a.b.c": 1, "d": [1, 2]}),
    ({"a": {}}, {"a": {}}),  # an empty section is a value, not nothing
    (3, {}),
])
def test_flatten(data: Any, expected: dict[str, Any]) -> None:
    assert flatten(data) == expected


def test_flatten_files_prefixes_only_with_several_files() -> None:
    one = {"metrics.json": {"ensemble": {"roc_auc": 0.9}}}
    assert flatten_files(one, one) == ({"ensemble.roc_auc": 0.9}, {"ensemble.roc_auc": 0.9})
    two = {"m1.json": {"auc": 1}}, {"m2.json": {"auc": 2}}
    assert flatten_files(*two) == ({"m1.json:auc": 1}, {"m2.json:auc": 2})


@pytest.mark.parametrize(("old", "new", "expected"), [
    ({"seed": 1}, {"seed": 1}, ()),
    ({"seed": 1}, {"seed": 1.0}, ()),
    ({"flag": True}, {"flag": 1}, (ValueChange("flag", "changed", True, 1),)),
    ({"seed": 1}, {"seed": 2}, (ValueChange("seed", "changed", 1, 2),)),
    ({}, {"lr": 0.1}, (ValueChange("lr", "added", new=0.1),)),
    ({"lr": 0.1}, {}, (ValueChange("lr", "removed", old=0.1),)),
    ({"x": None}, {}, (ValueChange("x", "removed", old=None),)),
])
def test_compare_values(old: dict[str, Any], new: dict[str, Any],
                        expected: tuple[ValueChange, ...]) -> None:
    assert compare_values(old, new) == expected


@pytest.mark.parametrize(("old", "new", "delta"), [
    (0.951, 0.970, 0.019),
    (1, 3, 2.0),
    (None, 0.5, None),
    (0.5, None, None),
    ("n/a", 0.5, None),
    (True, 1, None),
    (float("nan"), 0.5, None),
])
def test_metric_delta(old: Any, new: Any, delta: float | None) -> None:
    result = MetricDelta("k", old, new).delta
    assert result == pytest.approx(delta) if delta is not None else result is None


def test_compare_whole() -> None:
    result = compare({"m": FileState(A, 1)}, {"m": FileState(A, 1)},
                     {"params.yaml": {"seed": 1}}, {"params.yaml": {"seed": 1}},
                     {"metrics.json": {"auc": 0.8}}, {"metrics.json": {"auc": 0.8}})
    assert result.unchanged
    moved = compare({}, {}, {}, {}, {"metrics.json": {"auc": 0.8}},
                    {"metrics.json": {"auc": 0.9}})
    assert not moved.unchanged and moved.metrics[0].key == "auc"
