"""The chain of verified sources (`ops/sources.py`): a backup's git-stored files are read
from its commit and checked against the manifest by one reader, which restore and export
share."""

from __future__ import annotations

import pytest

from tests.conftest import Project
from tests.test_errors import assert_clean_failure
from tests.test_hardening import forge
from tests.test_restore import MODEL, backup, workspace_state

FORGED = "20240101_000000"


def forged_with_a_wrong_git_file(project: Project, path: str) -> dict:
    """A backup whose manifest records other bytes for `path` than its commit holds (same
    size): only the md5 check can tell."""
    made = backup(project)
    files = [{**f, "md5": "0" * 32} if f["path"] == path else f for f in made["files"]]
    assert any(f["path"] == path and f["store"] == "git" for f in made["files"])
    forge(project, made, FORGED, 2, files)
    return made


@pytest.mark.parametrize("path, refusal", [
    ("params.yaml", "params.yaml (git blob of backup/" + FORGED + ")"),
    ("dvc.lock", "its commit's dvc.lock does not match the manifest; no file was changed"),
])
def test_restore_refuses_a_git_stored_file_that_is_not_the_manifest_s(
        project: Project, path: str, refusal: str) -> None:
    forged_with_a_wrong_git_file(project, path)
    project.damage(MODEL)
    state = workspace_state(project)
    result = project.cli("restore", "--force", "--timestamp", FORGED)
    assert_clean_failure(result, 5, refusal)
    assert workspace_state(project) == state


def test_export_refuses_a_git_stored_file_that_is_not_the_manifest_s(project: Project) -> None:
    forged_with_a_wrong_git_file(project, "params.yaml")
    output = project.root.parent / "out.tar.gz"
    result = project.cli("export", FORGED, "-o", str(output))
    assert_clean_failure(result, 5, "its commit's params.yaml does not match the manifest; "
                         "no archive was written")
    assert not output.exists()
