"""The project hdversion protects: its git repository, DVC data store and settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hdversion.config.credentials import CloudCredentials
from hdversion.config.settings import Settings
from hdversion.datastore import DataStore, check_repository
from hdversion.gitrepo import GitRepo
from hdversion.paths import CREDENTIALS_PATH, LOCAL_REMOTE_DIR
from hdversion.util import journal
from hdversion.util.log import log


@dataclass
class Project:
    root: Path
    git: GitRepo
    settings: Settings
    credentials: CloudCredentials
    started: float = field(default_factory=time.monotonic)  # for each journal line's duration
    # Journal entries of outcomes that hooks hear of, run once the repository lock is free.
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path | None = None, *, strict: bool = True,
             config: Path | str | None = None, profile: str | None = None) -> Project:
        """`strict` False: for a command that changes no store or only recovers, a mistake
        in the settings' `hooks:` or `retention:` is a warning (Settings.load). `config`: the
        settings file (default: $HDVERSION_CONFIG, .hdversion.yaml, config/config.yaml).
        `profile`: an AWS profile for every S3 remote, over their own keys."""
        git = GitRepo.open((path or Path.cwd()).resolve())
        settings = Settings.load(git.root, strict=strict, config=config)
        has_file = (git.root / CREDENTIALS_PATH).exists()
        credentials = CloudCredentials.load(
            git.root,
            is_tracked=has_file and git.is_tracked(CREDENTIALS_PATH),
            is_ignored=not has_file or git.is_ignored(CREDENTIALS_PATH),
        ).with_profile(profile)
        check_repository(git.root)
        git.ensure_ignored([Path(settings.journal).parent.as_posix(), LOCAL_REMOTE_DIR])
        return cls(root=git.root, git=git, settings=settings, credentials=credentials)

    @cached_property
    def store(self) -> DataStore:
        """DVC's side of the project, opened on first use: `list` reads tags alone."""
        return DataStore.open(self.root, self.settings.local_remote, self.credentials)

    def journal(self, operation: str, result: str, **details: object) -> None:
        """One line in the journal. A journal that cannot be written (a full disk) is a
        warning: the outcome of the operation, not of its log line, decides the exit code."""
        entry = {"operation": operation, "result": result, **details}
        try:
            entry = journal.record(self.root, self.settings.journal, operation, result,
                                   duration_s=round(time.monotonic() - self.started, 3),
                                   **details)
        except OSError as exc:
            log.warning("could not write the journal %s: %s", self.settings.journal,
                        exc.strerror or exc)
        self.outcomes.append(entry)
