"""The project hdversion protects: its git repository, DVC data store and settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hdversion.credentials import CREDENTIALS_PATH, CloudCredentials
from hdversion.datastore import DataStore
from hdversion.gitrepo import GitRepo
from hdversion.settings import Settings


@dataclass
class Project:
    root: Path
    git: GitRepo
    store: DataStore
    settings: Settings

    @classmethod
    def open(cls, path: Path | None = None) -> Project:
        git = GitRepo.open((path or Path.cwd()).resolve())
        settings = Settings.load(git.root)
        has_file = (git.root / CREDENTIALS_PATH).exists()
        credentials = CloudCredentials.load(
            git.root,
            is_tracked=has_file and git.is_tracked(CREDENTIALS_PATH),
            is_ignored=not has_file or git.is_ignored(CREDENTIALS_PATH),
        )
        store = DataStore(git.root, settings.local_remote, credentials)
        git.ensure_ignored([Path(settings.journal).parent.as_posix(), "backups"])
        return cls(root=git.root, git=git, store=store, settings=settings)
