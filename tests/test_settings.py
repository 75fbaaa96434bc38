"""The settings (config/settings.py): a mistake in them is refused with one clear line before
any work; where they are (config/settings_file.py): the file named, $HDVERSION_CONFIG,
.hdversion.yaml, config/config.yaml, and which keys of the project's own file are hdversion's."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hdversion import api
from hdversion.config import settings_file
from hdversion.config.settings import Settings
from hdversion.config.settings_file import ENV, RETENTION_KEYS
from hdversion.errors import ConfigurationError
from hdversion.model.retention import BUCKETS
from hdversion.paths import CONFIG_PATH, JOURNAL, OWN_CONFIG_PATH
from tests.conftest import Project
from tests.test_errors import assert_clean_failure


@pytest.fixture(autouse=True)
def _each_test_a_run() -> None:
    """The warning about the project's own sections is said once per run (process); each
    test here is a run of its own."""
    settings_file._WARNED.clear()


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


# --- where the settings are (config/settings_file.py) ---------------------------------------

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def journal_in(name: str) -> str:
    return f"backup:\n  journal: logs/{name}.jsonl\n"


def test_each_location_in_its_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "repo"
    assert Settings.load(root).journal == JOURNAL  # no file: the defaults
    write(root / CONFIG_PATH, journal_in("project"))
    assert (Settings.load(root).journal, Settings.load(root).source) == (
        "logs/project.jsonl", "config/config.yaml")
    write(root / OWN_CONFIG_PATH, journal_in("own"))  # found before config/config.yaml
    assert (Settings.load(root).journal, Settings.load(root).source) == (
        "logs/own.jsonl", ".hdversion.yaml")
    write(tmp_path / "env.yaml", journal_in("env"))
    monkeypatch.setenv(ENV, "env.yaml")  # relative to the current directory
    assert Settings.load(root).journal == "logs/env.jsonl"
    named = write(tmp_path / "elsewhere" / "named.yaml", journal_in("named"))
    assert (Settings.load(root, config=named).journal, Settings.load(root, config=named)
            .source) == ("logs/named.jsonl", str(named))
    monkeypatch.setenv(ENV, "")  # empty: unset
    assert Settings.load(root).journal == "logs/own.jsonl"


def test_the_environment_and_the_api_name_the_file_for_every_command(
        project: Project, tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "hd.yaml", journal_in("elsewhere"))
    project.cli("backup", env={ENV: str(elsewhere)}, check=True)
    assert (project.root / "logs" / "elsewhere.jsonl").is_file()
    assert not (project.root / JOURNAL).exists()
    api.status(repo=project.root, config=write(tmp_path / "api.yaml", journal_in("api")))
    assert "status" in (project.root / "logs" / "api.jsonl").read_text()


@pytest.mark.parametrize("how", ["env", "api"])
def test_a_named_file_that_does_not_exist_is_refused(project: Project, how: str) -> None:
    # Exit 7, as any settings the command cannot use: never a silent fall back to defaults.
    if how == "env":
        result = project.cli("list", env={ENV: "nowhere.yaml"})
        assert_clean_failure(result, 7, "the settings file nowhere.yaml (named by "
                             "$HDVERSION_CONFIG) does not exist")
    else:
        with pytest.raises(ConfigurationError) as caught:
            api.list_backups(repo=project.root, offline=True, config=Path("nowhere.yaml"))
        assert caught.value.exit_code == 7
        assert caught.value.message == ("the settings file nowhere.yaml (named by --config) "
                                        "does not exist")
    folder = project.cli("list", env={ENV: str(project.root / "config")})
    assert_clean_failure(folder, 7, "(named by $HDVERSION_CONFIG) is not a file")


HYDRA = """\
    defaults:
      - _self_
      - model: mlp
    seed: 42
    retention: 30
    hooks: [wandb, tensorboard]
    trainer:
      max_epochs: 10
    """
FOREIGN = ("warning: config/config.yaml: 'retention:', 'hooks:' are not hdversion's settings "
           "(the project's own), ignored")


def test_a_hydra_projects_own_keys_stop_no_command(project: Project, tmp_path: Path) -> None:
    write(project.root / CONFIG_PATH, HYDRA)
    project.git("commit", "-qam", "hydra config")
    first = project.cli("backup", "--json")
    assert first.returncode == 0, first.stderr
    stamp = json.loads(first.stdout)["timestamp"]
    project.retrain(2)
    for args in (("backup",), ("list",), ("list", "--json"), ("status",), ("show", stamp),
                 ("diff", stamp), ("verify", stamp), ("export", stamp, "-o",
                 str(tmp_path / "b.tar.gz")), ("report", "-o", str(tmp_path / "r.html")),
                 ("pin", stamp), ("unpin", stamp), ("remote", "list"),
                 ("prune", "--dry-run"), ("auto",), ("restore", "--force", "-t", stamp),
                 ("sync", "--remote", "local"), ("schedule",)):
        result = project.cli(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert result.stderr.count(FOREIGN) == 1, (args, result.stderr)  # one warning
    # hdversion's own file beside it: config/config.yaml is not read at all.
    write(project.root / OWN_CONFIG_PATH, "")
    quiet = project.cli("status", check=True)
    assert "warning" not in quiet.stderr


@pytest.mark.parametrize(("section", "refusal"), [
    ("30", "must be a mapping"), ("[keep_daily]", "must be a mapping"),
    ("{days: 30}", "unknown key(s): days"), ("true", "must be a mapping")])
def test_a_section_not_shaped_as_hdversions_is_the_projects_in_its_config_only(
        tmp_path: Path, section: str, refusal: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    write(tmp_path / CONFIG_PATH, f"retention: {section}\nbackup: {section}\n")
    with caplog.at_level("WARNING", logger="hdversion"):
        settings = Settings.load(tmp_path)
    assert settings.retention is None and settings.journal == JOURNAL
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "config/config.yaml: 'backup:', 'retention:' are not hdversion's settings (the "
        "project's own), ignored"]
    # In hdversion's own file, the same is a mistake.
    write(tmp_path / OWN_CONFIG_PATH, f"retention: {section}\n")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(tmp_path)
    assert caught.value.message.startswith(".hdversion.yaml: retention")
    assert refusal in caught.value.message


@pytest.mark.parametrize(("text", "message", "guess", "readers"), [
    pytest.param("retnetion:\n  keep_daily: 7\n", ".hdversion.yaml has unknown key(s): "
                 "retnetion", "did you mean retnetion -> retention?", True, id="a-section"),
    pytest.param("backup:\n  local_remot: nas\n", ".hdversion.yaml: backup has unknown "
                 "key(s): local_remot", "local_remot -> local_remote", True, id="a-backup-key"),
    # As in config/config.yaml: what only reads warns of a mistake in `retention:`.
    pytest.param("retention:\n  keep_dialy: 7\n", ".hdversion.yaml: retention has unknown "
                 "key(s): keep_dialy", "keep_dialy -> keep_daily", False,
                 id="a-retention-key"),
])
def test_a_typo_in_hdversions_own_file_is_refused_naming_the_key(
        project: Project, text: str, message: str, guess: str, readers: bool) -> None:
    write(project.root / OWN_CONFIG_PATH, text)
    assert_clean_failure(project.cli("backup"), 7, message, guess)
    for args in (("list",), ("status",)):
        result = project.cli(*args)
        if readers:
            assert_clean_failure(result, 7, message, guess)
        else:
            assert result.returncode == 0 and f"warning: {message}" in result.stderr
    assert project.git("tag") == ""


@pytest.mark.parametrize("text", [
    "retention:\n  keep_dialy: 7\n", "retention:\n  keep_daily: 7\n  days: 30\n",
    "backup:\n  local_remot: nas\n", "hooks:\n  on_succes: [true]\n"])
def test_a_typo_in_hdversions_section_of_the_projects_file_is_still_refused(
        tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A section with one of hdversion's keys, or a near miss of one, is hdversion's.
    monkeypatch.delenv(ENV, raising=False)
    write(tmp_path / CONFIG_PATH, "seed: 42\n" + text)
    with pytest.raises(ConfigurationError, match="unknown key"):
        Settings.load(tmp_path)


def test_the_retention_keys_are_the_policys() -> None:
    assert set(RETENTION_KEYS) == {"keep_last", "keep_best", "metric", "keep_within",
                                   "keep_safety_within", "keep_deleted_within",
                                   *(f"keep_{b}" for b in BUCKETS)}


def test_the_undelete_window_is_a_retention_setting_of_its_own(tmp_path: Path) -> None:
    from hdversion.model.durations import Duration

    (tmp_path / ".hdversion.yaml").write_text("retention:\n  keep_deleted_within: 3d\n")
    alone = Settings.load(tmp_path)
    assert (alone.retention, alone.keep_deleted_within) == (None, Duration(days=3))
    (tmp_path / ".hdversion.yaml").write_text(
        "retention:\n  keep_last: 2\n  keep_deleted_within: 0\n")
    both = Settings.load(tmp_path)
    assert both.retention is not None and both.retention.last == 2
    assert both.keep_deleted_within == Duration()
    (tmp_path / ".hdversion.yaml").write_text("retention:\n  keep_deleted_within: 7m\n")
    with pytest.raises(ConfigurationError) as refused:
        Settings.load(tmp_path)
    assert "retention.keep_deleted_within: ambiguous duration '7m'" in refused.value.message
