"""The Python API is a versioned surface (docs/api.md, "Stability"): every public name of
`hdversion.api`, its signature, and its result's fields are recorded in docs/api-surface.txt.
A change to any of them fails here until the snapshot is updated, and the snapshot is
updated (HDVERSION_UPDATE_API_SURFACE=1) only once CHANGELOG.md's unreleased section names
each changed symbol as `api.NAME`: the two keys of a change a user may notice.

The same file checks the rules the surface follows: keyword-only arguments but for one
leading positional, one naming style, typed results, the exception tree with its exit codes,
and a version that agrees with the CHANGELOG."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import re
from pathlib import Path
from typing import Any

import hdversion
from hdversion import api
from hdversion.errors import ExitCode, HdversionError
from tests.conftest import REPO_ROOT

SNAPSHOT = REPO_ROOT / "docs" / "api-surface.txt"
CHANGELOG = REPO_ROOT / "CHANGELOG.md"
UPDATE = "HDVERSION_UPDATE_API_SURFACE"
HEADER = ("# The public surface of hdversion.api (tests/test_api_surface.py): one line per name.\n"
          "# Regenerate with HDVERSION_UPDATE_API_SURFACE=1 once CHANGELOG.md names each\n"
          "# changed symbol as `api.NAME` in its unreleased section.\n")
# Parameter names the naming rule retired (docs/api.md, "Naming"), each with its successor.
RETIRED = {"timestamp": "ref", "timestamps": "refs", "path": "repo (the project) or a "
           "path inside a backup", "output": "out", "cloud_remotes": "remotes"}


def _default(value: Any) -> str:
    text = repr(value)
    # An object's default repr carries its address: name its class instead.
    return f"<{type(value).__name__}>" if " at 0x" in text else text


def _signature(function: Any) -> str:
    parts = []
    star = False
    for p in inspect.signature(function).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = p.name if p.kind is not p.VAR_KEYWORD else f"**{p.name}"
        if p.annotation is not p.empty:
            text += f": {p.annotation}"
        if p.default is not p.empty:
            text += f" = {_default(p.default)}"
        parts.append(text)
    returned = inspect.signature(function).return_annotation
    return f"({', '.join(parts)}) -> {returned}"


def _fields(cls: type) -> str:
    if dataclasses.is_dataclass(cls):
        return ", ".join(f"{f.name}: {f.type}" for f in dataclasses.fields(cls))
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):  # a NamedTuple
        hints = {n: getattr(a, "__forward_arg__", a) for n, a in cls.__annotations__.items()}
        return ", ".join(f"{n}: {hints[n]}" for n in cls._fields)
    if issubclass(cls, enum.Enum):
        return ", ".join(f"{m.name}={m.value}" for m in cls)
    methods = [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")]
    return ", ".join(f"{n}{_signature(getattr(cls, n))}" for n in sorted(methods))


def surface_line(name: str) -> str:
    value = getattr(api, name)
    if inspect.isclass(value) and issubclass(value, HdversionError):
        parent = value.__mro__[1].__name__
        return f"error {name}({parent}) exit {int(value.exit_code)}"
    if inspect.isclass(value):
        return f"class {name}: {_fields(value)}"
    return f"def {name}{_signature(value)}"


def live_surface() -> dict[str, str]:
    return {name: surface_line(name) for name in api.__all__}


def recorded_surface() -> dict[str, str]:
    lines = [line for line in SNAPSHOT.read_text().splitlines()
             if line and not line.startswith("#")]
    return {line.split(" ")[1].split("(")[0].split(":")[0]: line for line in lines}


def unreleased_section() -> str:
    text = CHANGELOG.read_text()
    start = re.search(r"^## \S+ \(unreleased\)$", text, re.M)
    if start is None:
        return ""
    following = re.search(r"^## ", text[start.end():], re.M)
    return text[start.end():start.end() + following.start() if following else len(text)]


def changed_names(live: dict[str, str], recorded: dict[str, str]) -> list[str]:
    return sorted(n for n in live.keys() | recorded.keys() if live.get(n) != recorded.get(n))


def unnamed_in_changelog(changed: list[str], section: str) -> list[str]:
    return [n for n in changed if not re.search(rf"\bapi\.{re.escape(n)}\b", section)]


def test_the_surface_matches_its_snapshot() -> None:
    live = live_surface()
    changed = changed_names(live, recorded_surface())
    missing = unnamed_in_changelog(changed, unreleased_section())
    if changed and os.environ.get(UPDATE) and not missing:
        SNAPSHOT.write_text(HEADER + "".join(f"{live[n]}\n" for n in sorted(live)))
        return
    assert not changed, (
        f"the public API changed: {', '.join(changed)}. A change users may notice needs "
        f"both: name each changed symbol as `api.NAME` in CHANGELOG.md's unreleased "
        f"section (still missing: {', '.join(missing) or 'none'}; say whether it breaks "
        f"callers), then rerun with {UPDATE}=1 to update docs/api-surface.txt")


def test_a_changed_signature_needs_its_changelog_entry() -> None:
    """The check itself, on a planted change: `show` gains a parameter."""
    live = live_surface()
    planted = dict(live, show=live["show"].replace("offline: bool = False",
                                                   "offline: bool = True"))
    assert changed_names(planted, live) == ["show"]
    assert unnamed_in_changelog(["show"], "### Changed\n- `api.shows` renamed\n") == ["show"]
    assert unnamed_in_changelog(["show"], "### Changed\n- `api.show(ref)`: ...\n") == []
    gone = {n: line for n, line in live.items() if n != "best"}
    assert changed_names(gone, live) == ["best"]


def test_the_snapshot_lists_every_public_name_once() -> None:
    recorded = [line for line in SNAPSHOT.read_text().splitlines()
                if line and not line.startswith("#")]
    assert len(recorded) == len(recorded_surface()) == len(api.__all__)
    assert list(recorded_surface()) == sorted(api.__all__)


def test_arguments_are_keyword_only_but_one_leading_positional() -> None:
    for name in api.__all__:
        value = getattr(api, name)
        if inspect.isclass(value):
            continue
        positional = [p.name for p in inspect.signature(value).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert len(positional) <= 1, f"api.{name} takes {positional} by position"


def retired_names(function: Any) -> list[str]:
    """The parameters of `function` the naming rule retired. `path` stays for a file inside
    a backup, which is what a leading positional `path` names (`open(path, ref=...)`)."""
    parameters = list(inspect.signature(function).parameters.values())
    return [p.name for i, p in enumerate(parameters) if p.name in RETIRED
            and not (p.name == "path" and i == 0 and p.kind is p.POSITIONAL_OR_KEYWORD)]


def test_one_naming_style() -> None:
    """A backup is `ref` (`refs`), the project `repo`, a written file `out` (docs/api.md)."""
    for name in api.__all__:
        value = getattr(api, name)
        if inspect.isclass(value):
            continue
        wrong = retired_names(value)
        assert not wrong, f"api.{name}({wrong[0]}=...): the API calls it {RETIRED[wrong[0]]}"


def test_the_naming_check_sees_a_retired_name() -> None:
    def old_show(timestamp: str, path: Path | None = None) -> None: ...
    def fetch(path: str, *, ref: str = "latest", out: Path | None = None) -> None: ...
    assert retired_names(old_show) == ["timestamp", "path"]
    assert retired_names(fetch) == []


def test_each_function_returns_a_typed_result() -> None:
    for name in api.__all__:
        value = getattr(api, name)
        if inspect.isclass(value):
            continue
        returned = inspect.signature(value).return_annotation
        assert returned not in (inspect.Signature.empty, "Any", "None"), name
        assert not str(returned).startswith("tuple["), f"api.{name} returns a bare tuple"


def test_every_error_class_is_exported_with_its_exit_code() -> None:
    from hdversion import errors

    classes = {n for n, v in vars(errors).items()
               if inspect.isclass(v) and issubclass(v, HdversionError)}
    assert classes <= set(api.__all__)
    for name in classes:
        assert isinstance(getattr(api, name).exit_code, ExitCode)
    assert api.HdversionError is HdversionError
    documented = (REPO_ROOT / "docs" / "api.md").read_text()
    for code in ExitCode:
        if code not in (ExitCode.OK, ExitCode.INTERRUPTED):
            assert re.search(rf"^\| {int(code)} \|", documented, re.M), code


def test_the_version_agrees_with_the_changelog() -> None:
    """Semantic versioning, as a release makes it: while CHANGELOG's top section is
    "X.Y.Z (unreleased)" the package is X.Y.Z.dev0; the release removes both marks."""
    top = re.search(r"^## (\d+\.\d+\.\d+)( \(unreleased\))?$", CHANGELOG.read_text(), re.M)
    assert top is not None, "CHANGELOG.md's first section is not '## X.Y.Z'"
    version, unreleased = top.group(1), bool(top.group(2))
    assert hdversion.__version__ == (f"{version}.dev0" if unreleased else version)
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", hdversion.__version__)
