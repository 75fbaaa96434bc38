"""hdversion's settings: the `backup` section of config/config.yaml, with defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from hdversion.errors import ConfigurationError

CONFIG_PATH = "config/config.yaml"
DEFAULT_GIT_TRACKED = ("config/config.yaml", "params.yaml", "dvc.yaml")


@dataclass(frozen=True)
class Settings:
    git_tracked_files: tuple[str, ...] = DEFAULT_GIT_TRACKED
    local_remote: str = "local"
    git_remote: str | None = "origin"  # None: backup tags stay local
    journal: str = "logs/hdversion.jsonl"

    @classmethod
    def load(cls, root: Path) -> Settings:
        path = root / CONFIG_PATH
        if not path.exists():
            return cls()
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{CONFIG_PATH} is not valid YAML: {exc}") from None
        section = data.get("backup") or {}
        if not isinstance(section, dict):
            raise ConfigurationError(f"{CONFIG_PATH}: 'backup' must be a mapping")
        tracked = section.get("git_tracked_files", list(DEFAULT_GIT_TRACKED))
        if not isinstance(tracked, list) or not all(isinstance(p, str) for p in tracked):
            raise ConfigurationError(f"{CONFIG_PATH}: backup.git_tracked_files must be a list")
        return cls(
            git_tracked_files=tuple(tracked),
            local_remote=str(section.get("local_remote", "local")),
            git_remote=_git_remote(section),
            journal=str(section.get("journal", "logs/hdversion.jsonl")),
        )


def _git_remote(section: dict[str, object]) -> str | None:
    """HDVERSION_GIT_REMOTE overrides the file; empty (or null in the file) keeps tags local."""
    value = os.environ.get("HDVERSION_GIT_REMOTE", section.get("git_remote", "origin"))
    return str(value) if value else None
