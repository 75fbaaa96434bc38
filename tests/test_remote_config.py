"""`remote add` and `remote test` on what a remote's configuration can get wrong: every scheme
hdversion offers, a DVC plugin that is not installed, a remote without a name or a bucket, a
directory remote that is a file (issue 22, follow-ups)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hdversion.model.storages import DVC_SCHEMES
from tests.conftest import Project

DVC = str(Path(sys.executable).with_name("dvc"))


def test_every_scheme_offered_is_added_and_dvc_lists_it(project: Project) -> None:
    # Adding a remote asks no server, so no scheme needs a network here.
    failed = {}
    for scheme in DVC_SCHEMES:
        name = f"r-{scheme}"
        added = project.cli("remote", "add", name, f"{scheme}://h/p")
        if added.returncode != 0:
            failed[scheme] = added.stderr.strip()
    assert not failed, failed
    listed = subprocess.run([DVC, "remote", "list"], cwd=project.root, capture_output=True,
                            text=True, check=True).stdout
    assert {f"r-{s}" for s in DVC_SCHEMES} <= {ln.split()[0] for ln in listed.splitlines()}
    # hdversion's own reading of the config (with verify on every remote) takes them too.
    remotes = json.loads(project.cli("remote", "list", "--json", check=True).stdout)
    assert all(r["verify"] for r in remotes)


def test_the_schemes_offered_are_those_dvc_takes_with_verify() -> None:
    from dvc.config_schema import REMOTE_SCHEMAS

    def takes_verify(schema: dict) -> bool:
        return str in schema or any(str(key) == "verify" for key in schema)

    # "": a path; hdfs: DVC has no `verify` for it, so downloads could not be re-hashed.
    assert set(DVC_SCHEMES) == {s for s, schema in REMOTE_SCHEMAS.items()
                                if s and takes_verify(schema)}
    assert "hdfs" not in DVC_SCHEMES


def _plugin_missing() -> None:
    if importlib.util.find_spec("dvc_gdrive") is not None:
        pytest.skip("dvc-gdrive is installed")


MISSING = "remote 'g' needs DVC's plugin for gdrive:// URLs: pip install dvc-gdrive"


def test_remote_add_warns_that_the_plugin_is_not_installed(project: Project) -> None:
    _plugin_missing()
    added = project.cli("remote", "add", "g", "gdrive://folder-id")
    assert added.returncode == 0, added.stderr  # the user may install it next
    assert "warning: " + MISSING in added.stderr
    assert "g" in {r["name"] for r in json.loads(project.cli("remote", "list", "--json").stdout)}
    # A plugin that is there is not warned about.
    assert "warning" not in project.cli("remote", "add", "nas", "s3://b/p").stderr


@pytest.mark.parametrize("argv", [("remote", "test", "g"), ("backup", "--remote", "g"),
                                  ("copy", "--from", "local", "--to", "g")],
                         ids=["remote test", "backup --remote", "copy --to"])
def test_a_missing_plugin_is_a_configuration_error(project: Project,
                                                   argv: tuple[str, ...]) -> None:
    _plugin_missing()
    project.cli("remote", "add", "g", "gdrive://folder-id", check=True)
    if argv[0] == "copy":
        project.cli("backup", check=True)
    before = set(project.git("tag").split())
    result = project.cli(*argv)
    assert result.returncode == 7, result.stderr
    assert result.stderr.startswith("error: " + MISSING), result.stderr
    assert "ImportError" not in result.stderr and "unexpected" not in result.stderr
    assert set(project.git("tag").split()) == before


@pytest.mark.parametrize(("name", "url", "phrase"), [
    ("", "/tmp/somewhere", "a remote needs a name"),
    ("x", "s3://", "remote URL 's3://' names no bucket or host"),
    ("x", "s3:///prefix", "remote URL 's3:///prefix' names no bucket or host"),
    ("x", "ssh://", "remote URL 'ssh://' names no bucket or host"),
])
def test_remote_add_refuses_no_name_and_no_bucket(project: Project, name: str, url: str,
                                                  phrase: str) -> None:
    before = (project.root / ".dvc" / "config").read_text()
    result = project.cli("remote", "add", name, url)
    assert result.returncode == 2, result.stderr
    assert phrase in result.stderr, result.stderr
    assert (project.root / ".dvc" / "config").read_text() == before


def test_remote_test_of_a_file_says_it_is_not_a_folder(project: Project,
                                                       tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    project.cli("remote", "add", "f", str(afile), check=True)
    probe = project.cli("remote", "test", "f", "--json")
    assert probe.returncode == 7, probe.stderr
    steps = json.loads(probe.stdout)["steps"]
    assert steps == [{"step": "folder", "ok": False,
                      "detail": f"'{afile}' is a file, not a folder"}]
    text = project.cli("remote", "test", "f")
    assert f"remote f does not work: folder failed: '{afile}' is a file, not a folder" \
        in text.stderr
    assert "NotADirectoryError" not in text.stdout + text.stderr
    assert "hdversion-probe" not in text.stdout + text.stderr
    # Below a file, the file is named too.
    project.cli("remote", "add", "under", str(afile / "sub"), check=True)
    under = project.cli("remote", "test", "under")
    assert under.returncode == 7
    assert f"'{afile}' is a file, not a folder" in under.stderr, under.stderr
    assert afile.read_text() == "not a folder\n"


def test_dvc_transfers_say_a_missing_plugin_too(project: Project) -> None:
    # DVC's own push and fetch (a remote that is neither a directory nor a bucket) make the
    # file system inside them; no command reaches them before its preflight, so in-process.
    _plugin_missing()
    from hdversion.errors import ConfigurationError, RemoteError
    from hdversion.ops.project import Project as Opened

    project.cli("remote", "add", "g", "gdrive://folder-id", check=True)
    store = Opened.open(project.root, strict=False).store
    empty = "d41d8cd98f00b204e9800998ecf8427e"  # push names its objects (issue 23)
    for move in (lambda: store.fetch("g", {empty: 0}), lambda: store.push("g", {empty: 0})):
        with pytest.raises(ConfigurationError) as caught:
            move()
        assert not isinstance(caught.value, RemoteError)
        assert caught.value.message == MISSING
