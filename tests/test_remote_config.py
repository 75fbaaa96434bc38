"""`remote add` and `remote test` on what a remote's configuration can get wrong: every scheme
hdversion offers, a DVC plugin that is not installed, a remote without a name or a bucket, a
directory remote that is a file (issue 22, follow-ups)."""

from __future__ import annotations

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
