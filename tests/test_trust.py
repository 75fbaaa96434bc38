"""A backup's manifest is untrusted input (ops/trust.py): tags are fetched from `origin` and
anyone can make one, so a restore writes only what the backup itself protects, and never
through a symbolic link that leads out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hdversion.model.manifest import FileEntry, FileList, within
from hdversion.paths import FILE_LIST
from hdversion.util.hashing import md5_bytes
from tests.conftest import Project
from tests.test_errors import assert_clean_failure
from tests.test_restore import (
    MODEL,
    STUDIES,
    backup,
    object_path,
    tag_message,
    workspace_state,
)

V1_FIXTURE = Path(__file__).parent / "fixtures" / "manifest-v1.json"


EVIL = b"[core]\n\tfsmonitor = touch pwned-by-a-forged-backup\n"


def put_in_cache(project: Project, data: bytes) -> str:
    md5 = md5_bytes(data)
    path = object_path(project.root / ".dvc" / "cache", md5)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5


def git_env(project: Project, **extra: str) -> dict[str, str]:
    return {**os.environ, "GIT_INDEX_FILE": str(project.root / ".git" / "forge-index"), **extra}


def forge(project: Project, made: dict, timestamp: str, version: int,
          files: list[dict]) -> None:
    """A hand-made backup tag (as anyone who can push a tag to `origin` can make one) that
    claims `files`, on the real backup's data. A version-2 tag is self-consistent, as a
    careful forger makes it (its totals and each output's file count and size are the file
    list's), so that only the rule about paths can refuse it."""
    entries = [FileEntry(f["path"], f["md5"], f["size"], f["store"]) for f in files]
    if version == 1:
        message = json.loads(V1_FIXTURE.read_text())
        message.update(timestamp=timestamp, files=[vars(e) for e in entries])
        commit = made["commit"]
    else:
        listing = FileList(tuple(entries)).to_bytes()
        env = git_env(project)

        def git(*args: str, data: bytes | None = None) -> str:
            return subprocess.run(["git", *args], cwd=project.root, env=env, input=data,
                                  check=True, capture_output=True).stdout.decode().strip()

        git("read-tree", made["commit"])
        blob = git("hash-object", "-w", "--stdin", data=listing)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{FILE_LIST}")
        commit = git("commit-tree", git("write-tree"), "-p", made["commit"], "-m", "forged")
        message = tag_message(project, made["tag"])
        message.update(timestamp=timestamp, files_md5=md5_bytes(listing),
                       total_files=len(entries), total_size=sum(e.size for e in entries))
        for output in message["outputs"]:
            members = [e for e in entries if within(e.path, output["path"])]
            output.update(nfiles=len(members), size=sum(e.size for e in members))
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", f"backup/{timestamp}",
                    commit], cwd=project.root, check=True, capture_output=True,
                   input=json.dumps(message, separators=(",", ":")).encode())


INSIDE_GIT = "inside .git or .dvc"


NOT_PROTECTED = "neither a DVC output"


@pytest.mark.parametrize("version, path, rule", [
    (2, ".git/config", INSIDE_GIT), (1, ".git/hooks/pre-commit", INSIDE_GIT),
    (2, ".dvc/config", INSIDE_GIT), (1, "models/.git/config", INSIDE_GIT),
    (2, "notes/not-protected.txt", NOT_PROTECTED),
    # Inside a directory output, so that only the rule about .git can refuse it.
    (2, f"{STUDIES}/.git/config", INSIDE_GIT), (1, f"{STUDIES}/.dvc/config", INSIDE_GIT),
])
def test_a_forged_backup_cannot_write_what_it_does_not_protect(
        project: Project, version: int, path: str, rule: str) -> None:
    made = backup(project)
    md5 = put_in_cache(project, EVIL)
    files = [*made["files"], {"path": path, "md5": md5, "size": len(EVIL), "store": "dvc"}]
    forge(project, made, "20240101_000000", version, files)
    project.damage(MODEL)
    guarded = [project.root / p for p in (".git/config", ".dvc/config", path)]
    before = {p: p.read_bytes() if p.exists() else None for p in guarded}
    state = workspace_state(project)
    result = project.cli("restore", "--force", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, f"would write {path!r}, which is {rule}",
                         "no file was changed")
    assert {p: p.read_bytes() if p.exists() else None for p in guarded} == before
    assert workspace_state(project) == state
    assert not (project.root / "pwned-by-a-forged-backup").exists()
    project.git("status")  # git still works, and runs nothing of the attacker's


def test_a_forged_pointer_file_cannot_declare_an_output_outside(project: Project) -> None:
    """The pointer files themselves come from the backup: one that declares `../x` is
    refused too."""
    made = backup(project)
    evil_dvc = b"outs:\n- md5: " + md5_bytes(EVIL).encode() + b"\n  size: 48\n  path: ../../x\n"
    blob_md5 = md5_bytes(evil_dvc)
    env = git_env(project)
    subprocess.run(["git", "read-tree", made["commit"]], cwd=project.root, env=env, check=True)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=project.root, env=env,
                          input=evil_dvc, capture_output=True, check=True).stdout.decode().strip()
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},evil.dvc"],
                   cwd=project.root, env=env, check=True)
    tree = subprocess.run(["git", "write-tree"], cwd=project.root, env=env, capture_output=True,
                          check=True).stdout.decode().strip()
    commit = subprocess.run(["git", "commit-tree", tree, "-m", "forged"], cwd=project.root,
                            env=env, capture_output=True, check=True).stdout.decode().strip()
    forged = {**made, "commit": commit}
    files = [*made["files"], {"path": "evil.dvc", "md5": blob_md5, "size": len(evil_dvc),
                              "store": "git"}]
    forge(project, forged, "20240101_000000", 1, files)
    result = project.cli("restore", "--force", "--timestamp", "20240101_000000")
    assert_clean_failure(result, 5, "outside the workspace")
    assert not (project.root / "evil.dvc").exists()


def test_restore_never_writes_through_a_symlink_that_leads_out(project: Project,
                                                              tmp_path: Path) -> None:
    backup(project)
    outside = tmp_path / "somewhere-else"
    outside.mkdir()
    shutil.rmtree(project.root / "models")
    (project.root / "models").symlink_to(outside)
    result = project.cli("restore", "--force")
    assert_clean_failure(result, 5, "symbolic link", "no file was changed")
    assert list(outside.iterdir()) == []
