"""A backup's commit is built in a private index, every blob in one git run: its tree must be
HEAD's tree with exactly the given files written or removed, byte for byte, whatever the
paths are called, and the user's index and working tree untouched."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hdversion.gitrepo.repo import GitRepo


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def _new_repository(root: Path) -> Path:
    """An empty repository at `root` with an identity to commit with."""
    root.mkdir()
    _git(root, "init", "-q")
    _git(root, "config", "user.name", "t")
    _git(root, "config", "user.email", "t@example.invalid")
    return root


def test_snapshot_writes_replaces_and_removes_exactly_the_given_files(tmp_path: Path) -> None:
    root = _new_repository(tmp_path / "repo")
    (root / "keep.txt").write_text("kept\n")
    (root / "old.dvc").write_text("old\n")
    (root / "gone.dvc").write_text("gone\n")
    # A filter that would change what is hashed: blobs must be the bytes given, unfiltered.
    (root / ".gitattributes").write_text("*.dvc text eol=crlf\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    index_before = (root / ".git" / "index").read_bytes()

    files: dict[str, bytes | None] = {
        "old.dvc": b"new\n",
        "gone.dvc": None,
        "dir with space/new file.dvc": b"\x00binary\r\n",
        "models/\u00e9t\u00e9.dvc": b"accent\n",
        "a\nnewline.dvc": b"odd name\n",
    }
    commit = GitRepo(root).commit_snapshot(files, "snapshot")

    listed = _git(root, "ls-tree", "-r", "-z", "--name-only", commit).split("\0")
    assert sorted(p for p in listed if p) == sorted([
        ".gitattributes", "keep.txt", "old.dvc", "dir with space/new file.dvc",
        "models/\u00e9t\u00e9.dvc", "a\nnewline.dvc"])
    for path, data in files.items():
        if data is not None:
            shown = subprocess.run(["git", "cat-file", "blob", f"{commit}:{path}"], cwd=root,
                                   check=True, capture_output=True).stdout
            assert shown == data, path
    assert _git(root, "rev-parse", f"{commit}^") == _git(root, "rev-parse", "HEAD")
    assert (root / ".git" / "index").read_bytes() == index_before
    assert (root / "old.dvc").read_text() == "old\n"
    assert (root / "gone.dvc").exists()


def test_snapshot_of_a_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    _git(root, "init", "-q")
    commit = GitRepo(root).commit_snapshot({"x.dvc": b"x\n", "y.dvc": None}, "first")
    assert _git(root, "ls-tree", "-r", "--name-only", commit).split() == ["x.dvc"]
    assert _git(root, "rev-list", "--count", commit).strip() == "1"


def test_a_linked_worktree_shares_the_git_directory_and_the_exclude_file(
        tmp_path: Path) -> None:
    """hdversion's own files (the list cache) live in the git directory every worktree
    shares; its ignore lines go to the shared exclude file once, and not at all where git
    already ignores the folder."""
    root = _new_repository(tmp_path / "main")
    (root / ".gitignore").write_text("/logs/\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    _git(root, "worktree", "add", "-q", str(tmp_path / "linked"))
    (tmp_path / "linked" / "sub").mkdir()

    linked = GitRepo.open(tmp_path / "linked" / "sub")
    assert linked.root == (tmp_path / "linked").resolve()
    assert linked.git_path("x") == (root / ".git" / "x").resolve()
    assert GitRepo(linked.root).git_path("x") == linked.git_path("x")  # asked of git

    exclude = root / ".git" / "info" / "exclude"
    before = exclude.read_text() if exclude.exists() else ""
    for _ in range(2):
        linked.ensure_ignored(["logs", "backups"])
        GitRepo.open(root).ensure_ignored(["logs", "backups"])
    added = exclude.read_text().removeprefix(before).splitlines()
    assert added == ["/backups/"]  # logs/ is ignored by .gitignore already
    (tmp_path / "linked" / "backups").mkdir()
    (tmp_path / "linked" / "backups" / "f").write_text("x")
    assert _git(tmp_path / "linked", "status", "--porcelain") == ""
