"""config/config.yaml (config/settings.py): a mistake in it is refused with one clear line
before any work."""

from __future__ import annotations

from tests.conftest import Project
from tests.test_errors import assert_clean_failure


def test_a_typo_in_the_local_remote_setting_is_refused(project: Project) -> None:
    config = project.root / "config" / "config.yaml"
    config.write_text(config.read_text() + "  local_remote: lcoal\n")
    result = project.cli("backup")
    assert_clean_failure(result, 7, "'lcoal'", "no remote of that name")
    assert project.git("tag") == ""
    assert not (project.root / "backups").exists()


def test_invalid_yaml_in_the_settings_is_one_line_with_its_position(project: Project) -> None:
    (project.root / "config" / "config.yaml").write_text("backup:\n  local_remote: [a\n")
    result = project.cli("backup")
    assert_clean_failure(result, 7, "config/config.yaml is not valid YAML at line 3")
    assert len(result.stderr.splitlines()) == 2  # the error and its hint


def test_an_absolute_path_in_the_settings_is_refused(project: Project) -> None:
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [/etc/passwd]\n")
    assert_clean_failure(project.cli("backup"), 7, "'/etc/passwd'", "relative")
