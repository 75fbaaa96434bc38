"""Opening DVC (datastore/session.py): what DVC refuses as it opens the repository is exit 7
with DVC's reason in one line, no traceback, nothing made."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdversion.datastore.session import DvcSession
from hdversion.errors import ConfigurationError
from tests.conftest import Project
from tests.test_errors import assert_clean_failure


def test_an_invalid_dvc_config_is_named(project: Project) -> None:
    """DVC reads `.dvc/config` before hdversion passes it the remotes."""
    (project.root / ".dvc" / "config").write_text("[core]\n    nosuchoption = 1\n")
    for command in (["backup"], ["status"]):
        assert_clean_failure(project.cli(*command), 7, "DVC cannot open the repository",
                             "nosuchoption")
    assert project.git("tag") == ""


def test_an_invalid_dvc_config_is_named_before_dvc_is_opened(project: Project) -> None:
    """The remotes' settings are read on their own (is_object_store), and may be asked for
    before any Repo is opened: the same refusal, not DVC's exception."""
    (project.root / ".dvc" / "config").write_text("[core]\n    nosuchoption = 1\n")
    with pytest.raises(ConfigurationError, match=r"DVC cannot open the repository.*nosuchoption"):
        DvcSession(project.root, "local").is_object_store("local")


def test_a_repository_dvc_cannot_open_is_named(project: Project, tmp_path: Path) -> None:
    """A `.dvc/.gitignore` that leads out of the repository: DVC's config reads well, and
    its Repo refuses as it opens (it keeps its own files ignored by git)."""
    outside = tmp_path / "elsewhere.gitignore"
    outside.write_text("/config.local\n")
    ignore = project.root / ".dvc" / ".gitignore"
    ignore.unlink()
    ignore.symlink_to(outside)
    result = project.cli("backup")
    assert_clean_failure(result, 7, "DVC cannot open the repository",
                         "is outside of git repository")
    assert project.git("tag") == ""
