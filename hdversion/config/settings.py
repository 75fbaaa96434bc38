"""hdversion's settings: the `backup:`, `retention:` and `hooks:` sections, with defaults.

The file is optional: hdversion works in any DVC repository; where it is, and which of its
keys are hdversion's, settings_file.py decides. Without it (or without `git_tracked_files`),
the critical git-tracked files are the defaults that exist; a file the settings name
explicitly must exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hdversion.config.settings_file import (
    BACKUP_KEYS,
    HOOK_KEYS,
    LIST_KEYS,
    RETENTION_KEYS,
    hdversion_sections,
    locate,
    refuse_unknown,
)
from hdversion.errors import ConfigurationError, UsageError
from hdversion.paths import (
    CONFIG_PATH,
    DEFAULT_GIT_TRACKED,
    DEFAULT_LOCAL_REMOTE,
    DEFAULT_METRIC,
    JOURNAL,
)
from hdversion.util.log import log

if TYPE_CHECKING:
    from hdversion.model.durations import Duration
    from hdversion.model.retention import Policy


_T = TypeVar("_T")


@dataclass(frozen=True)
class Hooks:
    """Commands run (through the shell, in the repository) after a backup, restore, prune or
    auto run, with its outcome in HDVERSION_* environment variables."""

    on_success: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    timeout: float = 60.0  # seconds each hook may take before it is killed


@dataclass(frozen=True)
class Settings:
    git_tracked_files: tuple[str, ...] = DEFAULT_GIT_TRACKED
    # False when git_tracked_files are the defaults: then a missing one is skipped.
    git_tracked_explicit: bool = False
    local_remote: str = DEFAULT_LOCAL_REMOTE
    git_remote: str | None = "origin"  # None: backup tags stay local
    journal: str = JOURNAL
    remotes: tuple[str, ...] = ()  # cloud remotes every backup goes to by default (3-2-1)
    retention: Policy | None = None  # the `retention:` section; None when absent
    # `retention.keep_deleted_within`: the undelete window; None: the default (7 days)
    keep_deleted_within: Duration | None = None
    hooks: Hooks = Hooks()
    list_metric: str = DEFAULT_METRIC  # `list.metric`: list's metric column, report's chart
    source: str = CONFIG_PATH  # the file they were read from, as messages name it

    @classmethod
    def load(cls, root: Path, strict: bool = True, config: Path | str | None = None
             ) -> Settings:
        """The settings of the repository at `root`, from `config` when given (else
        settings_file.locate's order); ConfigurationError (exit 7) for any mistake. With
        `strict` False (a command that changes no store, or only recovers), a mistake in
        `hooks:` or `retention:` is a warning and that section is not used: a typo there
        must not stand between a user and a restore."""
        file = locate(root, config)
        if file.path is None:
            return cls(git_remote=_git_remote({}))
        path, shown = file.path, file.shown
        import yaml  # only when there is a file to read

        try:
            data = yaml.load(path.read_text(), Loader=_loader(yaml)) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            twice = "given twice" in problem
            raise ConfigurationError(
                f"{shown} is not valid YAML{where}: {problem}",
                hint="keep one of them (merge the two into one)" if twice else
                "check the indentation and the quoting there (a tab, or a ':' in an "
                "unquoted value, are the usual causes)",
            ) from None
        sections = hdversion_sections(data, file)
        section = sections["backup"] or {}
        if not isinstance(section, dict):
            raise ConfigurationError(f"{shown}: 'backup' must be a mapping")
        refuse_unknown(section, f"{shown}: backup", list(BACKUP_KEYS))
        explicit = "git_tracked_files" in section
        tracked = section.get("git_tracked_files", list(DEFAULT_GIT_TRACKED))
        if not isinstance(tracked, list) or not all(isinstance(p, str) for p in tracked):
            raise ConfigurationError(f"{shown}: backup.git_tracked_files must be a list")
        for item in tracked:
            parts = item.replace("\\", "/").split("/")
            if item.startswith(("/", "~")) or ".." in parts or (len(item) > 1 and item[1] == ":"):
                raise ConfigurationError(
                    f"{shown}: backup.git_tracked_files holds {item!r}; every entry "
                    "must be a path relative to the repository, inside it",
                    hint="write it relative to the repository root, e.g. config/config.yaml",
                )
        return cls(
            git_tracked_files=tuple(tracked),
            git_tracked_explicit=explicit,
            local_remote=str(section.get("local_remote", DEFAULT_LOCAL_REMOTE)),
            git_remote=_git_remote(section),
            journal=str(section.get("journal", JOURNAL)),
            remotes=_remotes(section.get("remotes"), shown),
            retention=_section(_retention, sections["retention"], shown, None, strict),
            keep_deleted_within=_section(_keep_deleted_within, sections["retention"], shown,
                                         None, strict),
            hooks=_section(_hooks, sections["hooks"], shown, Hooks(), strict),
            list_metric=_section(_list_metric, sections["list"], shown, DEFAULT_METRIC,
                                 strict),
            source=shown,
        )


def _section(read: Callable[[object, str], _T], value: object, shown: str, default: _T,
             strict: bool) -> _T:
    try:
        return read(value, shown)
    except ConfigurationError as exc:
        if strict:
            raise
        log.warning("%s; that section is not used by this command, which changes no store "
                    "(backup, auto, prune, sync, copy, verify --repair and schedule refuse "
                    "it)", exc.message)
        return default


_DURATIONS = {"keep_within": "within", "keep_safety_within": "safety_within"}


def _retention(section: object, shown: str) -> Policy | None:
    """The `retention:` section as a validated policy. An unknown key is refused, not
    ignored: `keep_dialy: 7` would otherwise keep far less than the user meant."""
    if section is None or (isinstance(section, dict)
                           and set(section) == {"keep_deleted_within"}):
        return None  # no rule: the default policy (the undelete window is read apart)
    # Imported only for a `retention:` section with rules: `list` and most runs need no
    # policy.
    from hdversion.model.durations import Duration
    from hdversion.model.retention import BUCKETS, DEFAULT_SAFETY_WITHIN, Policy

    counts = {"keep_last": "last", "keep_best": "best",
              **{f"keep_{name}": name for name in BUCKETS}}
    where = f"{shown}: retention"
    if not isinstance(section, dict):
        raise ConfigurationError(f"{where} must be a mapping (e.g. keep_daily: 7)")
    refuse_unknown(section, where, list(RETENTION_KEYS))
    fields: dict[str, object] = {"safety_within": DEFAULT_SAFETY_WITHIN}
    try:
        for key, name in counts.items():
            if key in section:
                value = section[key]
                if not isinstance(value, int) or isinstance(value, bool):
                    raise UsageError(f"{key} must be a whole number, not {value!r}")
                fields[name] = value
        for key, name in _DURATIONS.items():
            if key in section:
                fields[name] = Duration.parse(str(section[key]))
        metric = section.get("metric")
        if metric is not None:
            if not isinstance(metric, str):
                raise UsageError(f"metric must be a name (e.g. ensemble.roc_auc), not {metric!r}")
            fields["metric"] = metric
        return Policy(**fields).validate()  # type: ignore[arg-type]
    except UsageError as exc:
        raise ConfigurationError(f"{where}: {exc.message}", hint=exc.hint) from None


def _keep_deleted_within(section: object, shown: str) -> Duration | None:
    """`retention.keep_deleted_within`: how long a pruned backup's data stays (undelete)."""
    if not isinstance(section, dict) or "keep_deleted_within" not in section:
        return None  # _retention says what is wrong with a section that is no mapping
    from hdversion.model.durations import Duration

    value = str(section["keep_deleted_within"]).strip()
    try:
        return Duration() if value == "0" else Duration.parse(value)
    except UsageError as exc:
        raise ConfigurationError(f"{shown}: retention.keep_deleted_within: {exc.message}",
                                 hint=exc.hint) from None


def _list_metric(section: object, shown: str) -> str:
    """`list.metric`: the dotted name of a metric (`file:key` picks the file)."""
    where = f"{shown}: list"
    if section is None:
        return DEFAULT_METRIC
    if not isinstance(section, dict):
        raise ConfigurationError(f"{where} must be a mapping (e.g. metric: ensemble.roc_auc)")
    refuse_unknown(section, where, list(LIST_KEYS))
    metric = section.get("metric", DEFAULT_METRIC)
    if not isinstance(metric, str) or not metric.strip():
        raise ConfigurationError(f"{where}.metric must be a name (e.g. ensemble.roc_auc), "
                                 f"not {metric!r}")
    return metric.strip()


def _remotes(value: object, shown: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{shown}: backup.remotes must be a list of DVC "
                                 "remote names (e.g. [s3, gcp])")
    return tuple(dict.fromkeys(value))


def _hooks(section: object, shown: str) -> Hooks:
    where = f"{shown}: hooks"
    if section is None:
        return Hooks()
    if not isinstance(section, dict):
        raise ConfigurationError(f"{where} must be a mapping (on_success, on_failure, timeout)")
    refuse_unknown(section, where, list(HOOK_KEYS))
    commands: dict[str, tuple[str, ...]] = {}
    for key in ("on_success", "on_failure"):
        value = section.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(c, str) and c.strip()
                                                  for c in value):
            raise ConfigurationError(f"{where}.{key} must be a list of shell commands")
        commands[key] = tuple(value)
    timeout = section.get("timeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
            or not 0 < timeout <= 3600:
        raise ConfigurationError(f"{where}.timeout must be a number of seconds, 1 to 3600, "
                                 f"not {timeout!r}")
    return Hooks(commands["on_success"], commands["on_failure"], float(timeout))


def _loader(yaml: Any) -> Any:
    """PyYAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last
    and drops the first without a word (a second `backup:` section would silently replace
    the first)."""

    class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    hash(key)
                except TypeError:
                    continue  # PyYAML's own check names an unhashable key
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _git_remote(section: dict[str, object]) -> str | None:
    """HDVERSION_GIT_REMOTE overrides the file; empty (or null in the file) keeps tags local."""
    value = os.environ.get("HDVERSION_GIT_REMOTE", section.get("git_remote", "origin"))
    return str(value) if value else None
