"""config/cloud_credentials.json: refused when tracked, warned about when exposed, redacted."""

from __future__ import annotations

import json
from pathlib import Path

from hdversion.util.redact import redact, register_secret
from tests.conftest import Project

CREDENTIALS = "config/cloud_credentials.json"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def write(project: Project, mode: int = 0o600, **values: str) -> None:
    path = project.root / CREDENTIALS
    path.write_text(json.dumps(values or {"aws_access_key_id": "AKIDEXAMPLE",
                                          "aws_secret_access_key": SECRET}))
    path.chmod(mode)


def ignore(project: Project) -> None:
    (project.root / ".gitignore").write_text(CREDENTIALS + "\n")


def test_tracked_credentials_file_is_refused(project: Project) -> None:
    write(project)
    project.git("add", "-f", CREDENTIALS)
    for command in (["backup"], ["list"], ["restore"], ["remote", "list"]):
        result = project.cli(*command)
        assert result.returncode == 7, result.stderr
        assert "tracked by git" in result.stderr and "git rm --cached" in result.stderr
        assert SECRET not in result.stdout + result.stderr
    assert project.git("tag") == ""


def test_readable_by_others_warns(project: Project) -> None:
    ignore(project)
    write(project, mode=0o644)
    result = project.cli("list")
    assert result.returncode == 0
    assert "readable by other users" in result.stderr and "chmod 600" in result.stderr


def test_not_ignored_warns(project: Project) -> None:
    write(project)
    result = project.cli("list")
    assert result.returncode == 0 and "not git-ignored" in result.stderr


def test_bad_credentials_file_is_a_configuration_error(project: Project) -> None:
    ignore(project)
    (project.root / CREDENTIALS).write_text("{not json")
    result = project.cli("list")
    assert result.returncode == 7 and "not valid JSON" in result.stderr
    write(project, aws_secret_key="typo")
    result = project.cli("list")
    assert result.returncode == 7 and "unknown key(s) aws_secret_key" in result.stderr


def test_a_bucket_in_the_credentials_file_stands_for_a_missing_remote(project: Project) -> None:
    ignore(project)
    write(project, s3_bucket="team-models", azure_container="backups",
          azure_connection_string=f"AccountName=a;AccountKey={SECRET};")
    remotes = json.loads(project.cli("remote", "list", "--json", check=True).stdout)
    by_name = {r["name"]: r for r in remotes}
    assert by_name["s3"]["url"] == "s3://team-models/hdversion"
    assert by_name["azure"]["url"] == "azure://backups/hdversion"
    assert "gcp" not in by_name
    assert all(r["verify"] for r in remotes)
    assert SECRET not in (project.root / ".dvc" / "config").read_text()


def test_remote_add_refuses_secrets_in_tracked_config(project: Project) -> None:
    result = project.cli("remote", "add", "s3", "s3://b/p", "-o", f"secret_access_key={SECRET}")
    assert result.returncode == 2 and "refusing to write secret" in result.stderr
    assert SECRET not in (project.root / ".dvc" / "config").read_text()
    assert project.cli("remote", "add", "s3", "azure://c/p").returncode == 2
    assert project.cli("remote", "add", "x", "no-scheme").returncode == 2


def test_remote_add_refuses_a_scheme_dvc_lacks_before_asking_dvc(project: Project) -> None:
    before = (project.root / ".dvc" / "config").read_text()
    result = project.cli("remote", "add", "x", "ftp://h/p")
    assert result.returncode == 2, result.stderr
    assert "unsupported URL scheme 'ftp'" in result.stderr and "DVC:" not in result.stderr
    assert (project.root / ".dvc" / "config").read_text() == before
    # Any scheme DVC takes is written (not reached: adding a remote asks no server).
    assert project.cli("remote", "add", "box", "ssh://h/p").returncode == 0


def test_remote_test_of_a_folder_not_made_yet_says_the_first_write_makes_it(
        project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "nas" / "hdversion"
    project.cli("remote", "add", "nas", str(folder), check=True)
    probe = project.cli("remote", "test", "nas", "--json")
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["ok"] is True
    assert [s["step"] for s in report["steps"]] == ["folder", "write", "read back", "delete"]
    assert report["steps"][0]["detail"] == (f"{folder} does not exist yet: the first write "
                                           "(backup, copy, sync) makes it")
    assert not (tmp_path / "nas").exists()  # the probe leaves nothing, folders included
    # What it said: the first write makes it.
    project.cli("backup", check=True)
    copied = project.cli("copy", "--from", "local", "--to", "nas")
    assert copied.returncode == 0, copied.stderr
    assert list((folder / "files" / "md5").iterdir())


def test_remote_test_of_a_folder_that_cannot_be_made(project: Project) -> None:
    # Root ignores modes: /proc refuses even root.
    project.cli("remote", "add", "bad", "/proc/hdversion-remote", check=True)
    probe = project.cli("remote", "test", "bad")
    assert probe.returncode == 7, probe.stderr
    assert "remote bad does not work: write failed: cannot make folder " \
           "'/proc/hdversion-remote'" in probe.stderr


def test_redact_hides_registered_secrets_and_account_keys() -> None:
    register_secret(SECRET)
    text = f"failed with key {SECRET} in DefaultEndpointsProtocol=http;AccountKey=abc123=="
    redacted = redact(text)
    assert SECRET not in redacted and "abc123" not in redacted
    assert redacted.count("***") == 2
