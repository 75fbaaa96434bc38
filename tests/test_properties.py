"""Properties that must hold for any input, not only the ones we thought of (hypothesis):
manifest path validation and the timestamp grammar."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdversion.errors import ManifestError, UsageError
from hdversion.model.manifest import FileEntry, FileList, Manifest, OutputEntry, check_path
from hdversion.model.timestamps import (
    format_timestamp,
    is_timestamp,
    next_second,
    parse_timestamp,
    tag_for,
    timestamp_of,
)
from hdversion.util.hashing import md5_bytes

# Characters that make paths interesting: separators, dots, a backslash, NUL, spaces, Unicode.
PATH_TEXT = st.text(alphabet=st.sampled_from(list("ab./\\\0 é-_~:")), max_size=24)
SEGMENT = st.text(alphabet=st.sampled_from(list("abcdé _-.0")), min_size=1, max_size=8)


@given(PATH_TEXT)
@settings(max_examples=2000)
def test_an_accepted_path_stays_inside_any_root(path: str) -> None:
    try:
        checked = check_path(path)
    except ValueError:
        return
    assert checked == path and not path.startswith("/")
    assert "\\" not in path and "\0" not in path
    assert posixpath.normpath(path) == path
    root = "/srv/workspace"
    joined = posixpath.normpath(posixpath.join(root, path))
    assert joined.startswith(root + "/")


@given(st.lists(SEGMENT, min_size=1, max_size=5))
def test_plain_relative_paths_are_accepted(segments: list[str]) -> None:
    path = "/".join(segments)
    if any(s in (".", "..") for s in segments):
        with pytest.raises(ValueError):
            check_path(path)
    else:
        assert check_path(path) == path


@given(PATH_TEXT)
def test_a_manifest_never_carries_an_unsafe_path(path: str) -> None:
    entry = {"path": path, "md5": "0" * 32, "size": 1, "store": "dvc"}
    output = {**entry, "nfiles": 1}
    listing = FileList((FileEntry("a", "0" * 32, 1),)).to_bytes()
    data = {"schema": "hdversion/manifest", "version": 2, "timestamp": "20250101_000000",
            "created_at": "x", "host": "h", "user": "u", "hdversion_version": "0",
            "dvc_version": "0", "outputs": [output], "total_files": 1, "total_size": 1,
            "files_md5": md5_bytes(listing)}
    try:
        check_path(path)
        safe = True
    except ValueError:
        safe = False
    if safe:
        assert Manifest.from_dict(data).outputs[0].path == path
    else:
        with pytest.raises(ManifestError, match="unsafe file path"):
            Manifest.from_dict(data)


MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31),
                       timezones=st.just(UTC))


@given(MOMENTS)
def test_a_timestamp_round_trips(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert is_timestamp(text)
    assert parse_timestamp(text) == moment.replace(microsecond=0)
    assert timestamp_of(tag_for(text)) == text


@given(MOMENTS, MOMENTS)
def test_timestamps_sort_as_time_does(first: datetime, second: datetime) -> None:
    a, b = format_timestamp(first), format_timestamp(second)
    assert (a < b) == (first.replace(microsecond=0) < second.replace(microsecond=0))


@given(MOMENTS)
def test_the_next_second_is_one_second_later(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert parse_timestamp(next_second(text)) == parse_timestamp(text) + timedelta(seconds=1)


@given(st.text(max_size=20))
def test_anything_else_is_a_usage_error_not_a_crash(text: str) -> None:
    if is_timestamp(text):
        parse_timestamp(text)
    else:
        with pytest.raises(UsageError):
            parse_timestamp(text)
        assert timestamp_of(tag_for(text)) is None


@given(st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False) | st.integers(),
                       max_size=4),
       st.lists(st.tuples(SEGMENT, st.integers(0, 10**12), st.integers(0, 10**6)),
                max_size=4, unique_by=lambda t: t[0]))
def test_a_manifest_round_trips(metrics: dict[str, float], outputs: list[tuple[str, int, int]]
                                ) -> None:
    entries = tuple(OutputEntry(f"o-{name}", "1" * 32 + ".dir", size, n)
                    for name, size, n in outputs if name not in (".", ".."))
    manifest = Manifest(
        timestamp="20250331_120000", created_at="2025-03-31T12:00:00+00:00", host="h",
        user="u", hdversion_version="0", dvc_version="0", base_commit=None, branch=None,
        message="m", outputs=entries, total_files=0, total_size=0, files_md5="2" * 32,
        metrics={"metrics.json": metrics})
    assert Manifest.from_json(manifest.to_json()) == manifest
