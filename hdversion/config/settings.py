"""hdversion's settings: the `backup` section of config/config.yaml, with defaults.

The file is optional: hdversion works in any DVC repository. Without it (or without
`git_tracked_files`), the critical git-tracked files are the defaults that exist; a file the
settings name explicitly must exist.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hdversion.errors import ConfigurationError
from hdversion.paths import CONFIG_PATH, DEFAULT_GIT_TRACKED, DEFAULT_LOCAL_REMOTE, JOURNAL


@dataclass(frozen=True)
class Settings:
    git_tracked_files: tuple[str, ...] = DEFAULT_GIT_TRACKED
    # False when git_tracked_files are the defaults: then a missing one is skipped.
    git_tracked_explicit: bool = False
    local_remote: str = DEFAULT_LOCAL_REMOTE
    git_remote: str | None = "origin"  # None: backup tags stay local
    journal: str = JOURNAL

    @classmethod
    def load(cls, root: Path) -> Settings:
        path = root / CONFIG_PATH
        if not path.exists():
            return cls(git_remote=_git_remote({}))
        import yaml  # only when there is a file to read

        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{CONFIG_PATH} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{CONFIG_PATH}: the file must hold a mapping")
        section = data.get("backup") or {}
        if not isinstance(section, dict):
            raise ConfigurationError(f"{CONFIG_PATH}: 'backup' must be a mapping")
        explicit = "git_tracked_files" in section
        tracked = section.get("git_tracked_files", list(DEFAULT_GIT_TRACKED))
        if not isinstance(tracked, list) or not all(isinstance(p, str) for p in tracked):
            raise ConfigurationError(f"{CONFIG_PATH}: backup.git_tracked_files must be a list")
        return cls(
            git_tracked_files=tuple(tracked),
            git_tracked_explicit=explicit,
            local_remote=str(section.get("local_remote", DEFAULT_LOCAL_REMOTE)),
            git_remote=_git_remote(section),
            journal=str(section.get("journal", JOURNAL)),
        )


def _git_remote(section: dict[str, object]) -> str | None:
    """HDVERSION_GIT_REMOTE overrides the file; empty (or null in the file) keeps tags local."""
    value = os.environ.get("HDVERSION_GIT_REMOTE", section.get("git_remote", "origin"))
    return str(value) if value else None
