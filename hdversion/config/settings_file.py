"""Where hdversion's settings are, and which keys of that file are hdversion's to judge.

First found: the file the caller names (`--config`, the API's `config`), $HDVERSION_CONFIG,
`.hdversion.yaml` at the repository root, the project's `config/config.yaml`. The first three
are hdversion's own file: every key in it is hdversion's, so an unknown one is a typo and is
refused. `config/config.yaml` is the project's (a Hydra project keeps its own keys there,
`retention: 30` among them): hdversion judges only its own sections there, and passes over,
with one warning, a section whose shape is not hdversion's (docs/design-decisions.md,
"Where the settings are").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdversion.errors import ConfigurationError
from hdversion.paths import CONFIG_PATH, OWN_CONFIG_PATH
from hdversion.util.log import log

ENV = "HDVERSION_CONFIG"
_WARNED: set[tuple[str, tuple[str, ...]]] = set()

BACKUP_KEYS = ("git_tracked_files", "local_remote", "git_remote", "journal", "remotes")
# Settings._retention reads these (tests/test_settings.py keeps them equal to the policy's),
# and Settings.keep_deleted_within the undelete window (model/deleted.py).
RETENTION_KEYS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly",
                  "keep_yearly", "keep_within", "keep_best", "metric", "keep_safety_within",
                  "keep_deleted_within")
HOOK_KEYS = ("on_success", "on_failure", "timeout")
LIST_KEYS = ("metric",)
SECTIONS: dict[str, tuple[str, ...]] = {
    "backup": BACKUP_KEYS, "retention": RETENTION_KEYS, "hooks": HOOK_KEYS,
    "list": LIST_KEYS}


@dataclass(frozen=True)
class SettingsFile:
    path: Path | None  # None: there is none, the defaults hold
    shown: str  # the name messages give it
    own: bool  # hdversion's own file: every key in it is judged


def locate(root: Path, given: Path | str | None = None) -> SettingsFile:
    """The settings file of the repository at `root`. A file named (`given`, else
    $HDVERSION_CONFIG; relative to the current directory) must exist: ConfigurationError
    (exit 7) otherwise, never a silent fall back to the defaults."""
    if given is not None and str(given):
        return _named(str(given), "--config")
    if os.environ.get(ENV):
        return _named(os.environ[ENV], f"${ENV}")
    own = root / OWN_CONFIG_PATH
    if own.is_file():
        return SettingsFile(own, OWN_CONFIG_PATH, own=True)
    shared = root / CONFIG_PATH
    return SettingsFile(shared if shared.is_file() else None, CONFIG_PATH, own=False)


def _named(value: str, how: str) -> SettingsFile:
    path = Path(value).expanduser()
    if not path.is_file():
        why = "is not a file" if path.exists() else "does not exist"
        raise ConfigurationError(
            f"the settings file {value} (named by {how}) {why}",
            hint="name an existing YAML file (relative paths are from the current "
            f"directory), or drop {how} to use {OWN_CONFIG_PATH} or {CONFIG_PATH}")
    return SettingsFile(path.resolve(), value, own=True)


def hdversion_sections(data: object, file: SettingsFile) -> dict[str, object]:
    """The sections of the file's top-level mapping that hdversion reads (None: absent). In
    its own file an unknown top-level key is refused; in the project's file the sections
    that are not hdversion's are left out, with one warning for them all."""
    if file.own:
        if not isinstance(data, dict):
            raise ConfigurationError(f"{file.shown}: the file must hold a mapping")
        refuse_unknown(data, file.shown, list(SECTIONS))
        return {name: data.get(name) for name in SECTIONS}
    if not isinstance(data, dict):
        data = {"": data}  # a file that is not a mapping holds nothing of hdversion's
    sections: dict[str, object] = {}
    foreign: list[str] = []
    for name, keys in SECTIONS.items():
        value = data.get(name)
        if value is None or is_hdversions(value, keys):
            sections[name] = value
        else:
            sections[name] = None
            foreign.append(name)
    # Once per run: a command may read the settings more than once (list: its metric column,
    # then the listing).
    if foreign and (file.shown, tuple(foreign)) not in _WARNED:
        _WARNED.add((file.shown, tuple(foreign)))
        log.warning("%s: %s %s not hdversion's settings (the project's own), ignored; put "
                    "hdversion's settings in %s to keep them apart", file.shown,
                    ", ".join(f"'{name}:'" for name in foreign),
                    "is" if len(foreign) == 1 else "are", OWN_CONFIG_PATH)
    return sections


def is_hdversions(value: object, keys: tuple[str, ...]) -> bool:
    """A section is hdversion's when it is a mapping and any of its keys is, or is a near
    miss of, one of hdversion's keys for it (`keep_dialy` is a typo to refuse, `days` the
    project's own key). An empty mapping is hdversion's: it means "nothing set"."""
    if not isinstance(value, dict):
        return False
    return not value or any(str(key) in keys or _near(str(key), keys) is not None
                            for key in value)


def _near(key: str, keys: Iterable[str]) -> str | None:
    import difflib  # only for a key that is not hdversion's

    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.75)
    return close[0] if close else None


def refuse_unknown(section: dict[Any, Any], where: str, known: list[str]) -> None:
    """An unknown key is refused, not ignored: `local_remot: nas` or `keep_dialy: 7` would
    otherwise run with a default the user did not mean, and say nothing."""
    unknown = sorted(str(key) for key in section if key not in known)
    if unknown:
        guesses = [f"{key} -> {_near(key, known)}" for key in unknown if _near(key, known)]
        guess = f"did you mean {', '.join(guesses)}? " if guesses else ""
        raise ConfigurationError(f"{where} has unknown key(s): {', '.join(unknown)}",
                                 hint=f"{guess}the keys are: {', '.join(known)}")
