"""Bad input, as a table: each case's exit code and message, run through the real CLI.

docs/reliability.md holds the same table; each case checks that its row there is current,
so the documentation cannot drift from what hdversion does. After a deliberate change,
`HDVERSION_WRITE_TABLE=1 pytest tests/test_bad_input.py` writes the new rows to
build/bad-input.md, to paste into the documentation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hdversion import api
from hdversion.util.pausepoints import PausePoint
from tests.conftest import Project, pause_marker, run_cli, start_paused
from tests.test_errors import HOLD_DVC_LOCK, HOLD_HDVERSION_LOCK, lock_held
from tests.test_restore import MODEL, backup, corrupt, object_path
from tests.test_status import forge as forge_dated
from tests.test_trust import EVIL, forge, put_in_cache

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
TABLE_OUT = Path(__file__).resolve().parents[1] / "build" / "bad-input.md"
DVC = str(Path(sys.executable).with_name("dvc"))


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    code: int
    phrase: str  # what the message must say
    setup: Callable[[Project], None] | None = None
    lock: str | None = None  # run while this lock holder script holds its lock
    # done to the project while the run waits at this pause point
    meanwhile: tuple[PausePoint, Callable[[Project], None]] | None = None
    env: dict[str, str] | None = None  # the run's environment, besides the test's


def config(text: str, path: str = "config/config.yaml") -> Callable[[Project], None]:
    def write(project: Project) -> None:
        (project.root / path).write_text(text)
    return write


def credentials(text: str, tracked: bool = False) -> Callable[[Project], None]:
    def write(project: Project) -> None:
        path = project.root / "config" / "cloud_credentials.json"
        path.write_text(text)
        path.chmod(0o600)
        if tracked:
            project.git("add", "-f", str(path))
        else:
            with (project.root / ".gitignore").open("a") as ignore:
                ignore.write("config/cloud_credentials.json\n")
    return write


def made(extra: Callable[[Project, dict], None] | None = None) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        data = backup(project)
        if extra:
            extra(project, data)
    return setup


def both(*setups: Callable[[Project], None]) -> Callable[[Project], None]:
    def setup(project: Project) -> None:
        for each in setups:
            each(project)
    return setup


def forged_git_config(project: Project, data: dict) -> None:
    md5 = put_in_cache(project, EVIL)
    forge(project, data, "20240101_000000", 2,
          [*data["files"], {"path": ".git/config", "md5": md5, "size": len(EVIL),
                            "store": "dvc"}])


def forged_git_inside_an_output(project: Project, data: dict) -> None:
    md5 = put_in_cache(project, EVIL)
    forge(project, data, "20240101_000000", 2,
          [*data["files"], {"path": "models/optuna/.git/config", "md5": md5,
                            "size": len(EVIL), "store": "dvc"}])


def invalid_manifest(project: Project, data: dict) -> None:
    project.git("tag", "-a", "-m", '{"schema": "hdversion/manifest", "version": 2}',
                "backup/20240101_000000", data["commit"])


def manifests_gone(project: Project, data: dict) -> None:
    """The local remote as `dvc push` (or hdversion's `copy` before issue 22) leaves one."""
    shutil.rmtree(project.root / "backups" / "hdversion")


def corrupt_everywhere(project: Project, data: dict) -> None:
    md5 = next(f["md5"] for f in data["files"] if f["path"] == MODEL)
    corrupt(object_path(project.root / ".dvc" / "cache", md5))
    corrupt(object_path(project.root / "backups", md5))
    project.damage(MODEL)


def models_link_out(project: Project, data: dict) -> None:
    outside = project.root.parent / "outside"
    outside.mkdir()
    shutil.rmtree(project.root / "models")
    (project.root / "models").symlink_to(outside)


def directory_in_place(project: Project, data: dict) -> None:
    project.damage(MODEL)
    blocked = project.root / "models" / "sklearn_mlp_model.joblib"
    blocked.unlink()
    blocked.mkdir()


def damaged(path: str, data: bytes) -> Callable[[Project], None]:
    def write(project: Project) -> None:
        (project.root / path).write_bytes(data)
    return write


def sealed_archive(name: str, cut: bool = False) -> Callable[[Project, dict], None]:
    """The backup exported encrypted with the passphrase "p" (cut short: its last 3000
    bytes gone)."""
    def export(project: Project, data: dict) -> None:
        out = api.export("latest", out=project.root / name, repo=project.root, offline=True,
                         encrypt=True, passphrase="p").output
        if cut:
            out.write_bytes(out.read_bytes()[:-3000])
    return export


def and_changed_work(project: Project) -> None:
    # Work that no backup holds: the restore's safety backup asks DVC about the workspace.
    project.damage(MODEL, b"retrained by hand")


def remote_blocked(project: Project) -> None:
    backup(project)
    project.damage(MODEL, b"new")
    from hdversion.util.hashing import md5_bytes
    folder = object_path(project.root / "backups", md5_bytes(b"new")).parent
    shutil.rmtree(folder, ignore_errors=True)
    folder.write_text("not a folder")


def unreachable_s3(project: Project) -> None:
    run_cli(project.root, "remote", "add", "s3", "s3://bucket/p", "--endpoint-url",
            "http://127.0.0.1:9", check=True)


def remote_in_proc(project: Project) -> None:
    # Root ignores modes: /proc refuses even root.
    run_cli(project.root, "remote", "add", "bad", "/proc/hdversion-remote", check=True)


def gdrive_remote(project: Project) -> None:
    # dvc-gdrive is not installed (nor in constraints.txt): DVC knows the scheme, lacks the
    # plugin.
    run_cli(project.root, "remote", "add", "g", "gdrive://folder-id", check=True)


def remote_is_a_file(project: Project) -> None:
    afile = project.root.parent / "afile"
    afile.write_text("not a folder\n")
    run_cli(project.root, "remote", "add", "f", str(afile), check=True)


def not_git(project: Project) -> None:
    shutil.rmtree(project.root / ".git")


def not_dvc(project: Project) -> None:
    shutil.rmtree(project.root / ".dvc")


def nothing_tracked(project: Project) -> None:
    for name in ("dvc.yaml", "dvc.lock", "data/raw/heart.csv.dvc"):
        (project.root / name).unlink()


def missing(path: str) -> Callable[[Project], None]:
    def remove(project: Project) -> None:
        (project.root / path).unlink()
    return remove


def tmp_is_a_file(project: Project) -> None:
    shutil.rmtree(project.root / ".dvc" / "tmp", ignore_errors=True)
    (project.root / ".dvc" / "tmp").write_text("x")


def origin_gone(project: Project) -> None:
    backup(project)
    project.git("remote", "add", "origin", str(project.root.parent / "no-such-origin.git"))


def lost_everywhere(project: Project, data: dict) -> None:
    md5 = next(f["md5"] for f in data["files"] if f["path"] == MODEL)
    object_path(project.root / ".dvc" / "cache", md5).unlink()
    object_path(project.root / "backups", md5).unlink()


def truncated_everywhere(project: Project, data: dict) -> None:
    md5 = next(f["md5"] for f in data["files"] if f["path"] == MODEL)
    for top in (project.root / ".dvc" / "cache", project.root / "backups"):
        stored = object_path(top, md5)
        stored.chmod(0o644)
        stored.write_bytes(stored.read_bytes()[:-1])


def rewritten_before(project: Project) -> None:
    # With links, DVC caches the bytes itself: the ones it hashed are then never cached.
    assert project.dvc("config", "cache.type", "hardlink").returncode == 0
    project.damage(MODEL, b"first version")


def rewrite(project: Project) -> None:
    project.damage(MODEL, b"other version")


def stores(root: Path) -> set[Path]:
    """Every object in the cache and the local remote."""
    return {p for top in (root / ".dvc" / "cache", root / "backups")
            for p in top.glob("files/md5/*/*")}


def tags_dated(*timestamps: str) -> Callable[[Project], None]:
    """One backup, then more tags of it dated `timestamps` (another clone's, or a clock gone
    wrong): names that do not depend on when the test runs."""
    def setup(project: Project) -> None:
        backup(project)
        catalog, _, _ = api.list_backups(repo=project.root, offline=True)
        for timestamp in timestamps:
            forge_dated(project, catalog.backups[0], timestamp, "backup")
    return setup


GOOD_CONFIG = "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"


def pruned_and_swept(project: Project) -> None:
    """Two backups, the older pruned with an undelete window of 0 (its data swept at once),
    then the default window (7 days) in the settings: its data is gone within its window.
    (Seeds 2 and 3: the branch's commit holds seed 1's data.)"""
    project.retrain(2)
    backup(project)
    project.retrain(3)
    backup(project)
    result = project.cli("prune", "--keep", "1", "--keep-deleted-within", "0")
    assert result.returncode == 0, result.stderr
    config(GOOD_CONFIG)(project)

CASES = [
    # 2: usage
    Case("timestamp with dashes", ("restore", "-t", "2025-03-31"), 2, "malformed timestamp"),
    Case("timestamp with month 13", ("restore", "-t", "20251399_120000"), 2,
         "invalid date or time"),
    Case("empty timestamp", ("restore", "-t", ""), 2, "malformed timestamp"),
    Case("unknown storage", ("backup", "--storage", "dropbox"), 2, "unknown storage"),
    Case("--cloud without a storage", ("backup", "--cloud"), 2, "--cloud needs --storage"),
    Case("--storage and --remote", ("backup", "--storage", "s3", "--remote", "x"), 2,
         "not both"),
    Case("sync without a remote", ("sync",), 2, "sync needs --storage"),
    Case("remote s3 with a gs:// URL", ("remote", "add", "s3", "gs://b/p"), 2,
         "must be a s3:// URL"),
    Case("remote URL without a scheme", ("remote", "add", "x", "bucket"), 2,
         "needs a scheme"),
    Case("remote URL with a scheme DVC lacks", ("remote", "add", "x", "ftp://h/p"), 2,
         "unsupported URL scheme 'ftp'"),
    Case("remote URL hdfs:// (DVC has no verify for it)", ("remote", "add", "x", "hdfs://h/p"),
         2, "unsupported URL scheme 'hdfs'"),
    Case("remote without a name", ("remote", "add", "", "/tmp/x"), 2,
         "a remote needs a name"),
    Case("remote URL without a bucket", ("remote", "add", "x", "s3://"), 2,
         "names no bucket or host"),
    Case("a secret as a remote option",
         ("remote", "add", "s3", "s3://b/p", "-o", "secret_access_key=abcdef"), 2,
         "refusing to write secret"),
    Case("an SSE-C key as a remote option",
         ("remote", "add", "s3", "s3://b/p", "-o", "sse_customer_key=c2VjcmV0"), 2,
         "refusing to write secret option(s) sse_customer_key"),
    Case("remote option without =", ("remote", "add", "x", "/tmp/x", "-o", "novalue"), 2,
         "KEY=VALUE"),
    # S3 Object Lock: refused before anything is written (a bucket without Object Lock, exit
    # 7, is in tests/test_object_lock.py: it needs the server).
    Case("--lock on a directory remote", ("remote", "add", "nas", "/tmp/x", "--lock", "30d"),
         2, "--lock is for an S3 bucket with Object Lock"),
    Case("--lock on an Azure remote", ("remote", "add", "azure", "azure://c/p", "--lock",
                                       "30d"), 2, "--lock is for an S3 bucket"),
    Case("-o lock= on a directory remote", ("remote", "add", "nas", "/tmp/x", "-o",
                                            "lock=30d"), 2, "--lock is for an S3 bucket"),
    Case("--lock of zero", ("remote", "add", "s3", "s3://b/p", "--lock", "0d"), 2,
         "a lock needs a retention longer than 0"),
    Case("--lock with a bare m", ("remote", "add", "s3", "s3://b/p", "--lock", "1m"), 2,
         "ambiguous duration '1m'"),
    Case("--lock-mode unknown", ("remote", "add", "s3", "s3://b/p", "--lock", "30d",
                                 "--lock-mode", "strict"), 2, "unknown lock mode 'strict'"),
    Case("--lock-mode without --lock", ("remote", "add", "s3", "s3://b/p", "--lock-mode",
                                        "compliance"), 2, "--lock-mode needs --lock"),
    Case("--only a path the backup lacks", ("restore", "--only", "no/such/file"), 2,
         "has no file", made()),
    # 4: no such backup
    Case("prune keeping nothing", ("prune", "--keep", "0"), 2, "keeps no backup"),
    Case("prune with a negative count", ("prune", "--keep", "-1"), 2, "cannot be negative"),
    # One parser: a typo is refused, naming the closest names, never read as anything else.
    Case("an option with a typo", ("prune", "--keep-lats", "3"), 2,
         "no such option --keep-lats for `hdversion prune`"),
    Case("a command with a typo", ("prnue", "--keep-last", "3"), 2, "no such command 'prnue'"),
    Case("a value that is no number", ("prune", "--keep-last", "three"), 2,
         "--keep-last: 'three' is not a whole number"),
    Case("--storage local", ("list", "--storage", "local"), 2,
         "the local remote is --remote local"),
    Case("restore naming two backups", ("restore", "20261201_000000", "-t", "20261202_000000"),
         2, "two backups named"),
    Case("export --force (the safety-backup flag)", ("export", "19990101_000000", "-o", "b.tar",
                                                     "--force"), 2,
         "no such option --force for `hdversion export`"),
    Case("prune --keep-best without --metric", ("prune", "--keep-best", "2"), 2,
         "needs --metric"),
    Case("prune with a malformed duration", ("prune", "--keep-within", "7x"), 2,
         "malformed duration"),
    # A bare `m` is minutes to cron and months to restic: refused everywhere.
    Case("status --max-age with a bare m", ("status", "--max-age", "30m"), 2,
         "ambiguous duration '30m'"),
    Case("prune --keep-within with a bare m", ("prune", "--keep-within", "6m"), 2,
         "ambiguous duration '6m'"),
    Case("prune --grace with a bare m", ("prune", "--grace", "30m"), 2,
         "ambiguous duration '30m'"),
    Case("prune --keep-safety-within with a bare m",
         ("prune", "--keep-safety-within", "1m"), 2, "ambiguous duration '1m'"),
    Case("auto --keep-within with a bare m", ("auto", "--keep-within", "6m"), 2,
         "ambiguous duration '6m'"),
    Case("schedule --every with a bare m", ("schedule", "--every", "30m"), 2,
         "ambiguous --every '30m'"),
    Case("schedule --every in months", ("schedule", "--every", "1mo"), 2,
         "--every 1mo: a schedule repeats within a day"),
    Case("schedule --every in seconds", ("schedule", "--every", "30s"), 2,
         "--every 30s: a schedule runs on whole minutes"),
    Case("schedule --at empty", ("schedule", "--at", ""), 2, "malformed --at ''"),
    Case("schedule --every empty", ("schedule", "--every", ""), 2, "malformed --every ''"),
    Case("prune --keep-best by a metric no backup records",
         ("prune", "--keep-best", "2", "--metric", "ensemble.roc_acu"), 2,
         "no backup records the metric 'ensemble.roc_acu'; nothing was removed", made()),
    Case("pin a malformed timestamp", ("pin", "2025-03-31"), 2, "malformed timestamp"),
    Case("undelete a glob", ("undelete", "2026*"), 2, "malformed timestamp '2026*'"),
    Case("list --deleted --kind", ("list", "--deleted", "--kind", "safety"), 2,
         "--kind does not go with --deleted"),
    Case("prune --keep-deleted-within with a bare m", ("prune", "--keep-deleted-within", "7m"),
         2, "ambiguous duration '7m'"),
    Case("a backup name as a glob", ("pin", "2026*"), 2, "malformed timestamp '2026*'"),
    Case("a prefix naming several backups", ("show", "19990101"), 2,
         "'19990101' names 2 backups: 19990101_103000, 19990101_100000",
         tags_dated("19990101_100000", "19990101_103000")),
    Case("export over an existing file", ("export", "19990101_000000", "-o", "old.tar.gz"),
         2, "exists; nothing was written", damaged("old.tar.gz", b"an older archive")),
    Case("export to a name of no archive type", ("export", "19990101_000000", "-o", "b.zip"),
         2, "is not an archive name: end it with one of .tar.gz, .tgz, .tar.zst, .tzst, .tar"),
    Case("export --overwrite over a file that is no archive",
         ("export", "19990101_000000", "-o", "params.yaml", "--overwrite"), 2,
         "'params.yaml' is not an archive name"),
    Case("export into a folder that does not exist",
         ("export", "19990101_000000", "-o", "no/such/dir/x.tar.gz"), 2,
         "no/such/dir' does not exist"),
    Case("export into a path under a file",
         ("export", "19990101_000000", "-o", "params.yaml/x.tar.gz"), 2,
         "params.yaml' is a file, not a folder; nothing was written"),
    Case("report into a path under a file", ("report", "-o", "params.yaml/sub/r.html"), 2,
         "params.yaml' is a file, not a folder; nothing was written"),
    Case("import an archive that does not exist", ("import", "no-such.tar.gz"), 2,
         "no archive"),
    Case("export --encrypt to a name without .age",
         ("export", "19990101_000000", "-o", "b.tar.gz", "--encrypt", "--passphrase"), 2,
         "'b.tar.gz' does not say it is encrypted: an encrypted archive's name ends in .age"),
    Case("export to a .age name without --encrypt",
         ("export", "19990101_000000", "-o", "b.tar.gz.age"), 2,
         "'b.tar.gz.age' says it is encrypted (.age) but --encrypt was not given"),
    Case("export --encrypt without a key", ("export", "19990101_000000", "-o", "b.tar.age",
                                            "--encrypt"), 2,
         "--encrypt needs age recipients (--recipient, --recipients-file) or --passphrase"),
    Case("export to a recipient that is no age key",
         ("export", "19990101_000000", "-o", "b.tar.age", "--encrypt", "--recipient",
          "age1nope"), 2, "'age1nope' is not an age recipient"),
    Case("restore with no backups", ("restore",), 4, "no backups yet"),
    Case("pin an unknown backup", ("pin", "19990101_000000"), 4, "no backup"),
    Case("a prefix naming no backup", ("show", "1998"), 4,
         "no backup has a timestamp starting with '1998'"),
    Case("restore latest when every backup is dated in the future",
         ("restore", "-t", "latest"), 4,
         "no backup is older than now; dated in the future: backup/20990101_000000",
         both(tags_dated("20990101_000000"), lambda p: p.git("tag", "-d", *[
             t for t in p.git("tag").split() if not t.endswith("20990101_000000")]))),
    Case("unpin a backup that is not pinned", ("unpin", "19990101_000000"), 4,
         "is not pinned"),
    Case("undelete a backup that was never deleted", ("undelete", "19990101_000000"), 4,
         "no deleted backup backup/19990101_000000"),
    Case("undelete a backup that is not deleted", ("undelete", "19990101_000000"), 4,
         "backup/19990101_000000 is not deleted: it is a backup here",
         tags_dated("19990101_000000")),
    Case("undelete a prefix that only a live backup has", ("undelete", "1999"), 4,
         "no backup among the deleted backups has a timestamp starting with '1999'",
         tags_dated("19990101_000000")),
    Case("restore an unknown timestamp", ("restore", "-t", "19990101_000000"), 4,
         "no backup backup/19990101_000000", made()),
    Case("export an unknown timestamp", ("export", "19990101_000000", "-o", "x.tar.gz",
                                         "--offline"), 4, "no backup backup/19990101_000000"),
    Case("list --remote-url: objects, no manifest", ("list", "--remote-url", "backups"), 4,
         "holds DVC objects but no backup manifest", made(manifests_gone)),
    Case("restore --remote-url: objects, no manifest",
         ("restore", "--remote-url", "backups", "--target", "out"), 4,
         "holds DVC objects but no backup manifest", made(manifests_gone)),
    # 5: verification
    Case("undelete a backup whose data was swept", ("undelete", "latest"), 5,
         "is gone", pruned_and_swept),
    Case("a forged tag writing .git/config", ("restore", "--force", "-t", "20240101_000000"),
         5, "'.git/config'", made(forged_git_config)),
    Case("a forged tag writing .git inside a directory output",
         ("restore", "--force", "-t", "20240101_000000"), 5,
         "'models/optuna/.git/config', which is inside .git or .dvc",
         made(forged_git_inside_an_output)),
    Case("a tag with an invalid manifest", ("restore", "-t", "20240101_000000"), 5,
         "exists but its manifest is invalid", made(invalid_manifest)),
    Case("an object corrupt in the cache and the remote", ("restore", "--force"), 5,
         "no workspace file was changed", made(corrupt_everywhere)),
    Case("prune: a kept backup lacks data in every store", ("prune",), 5,
         "lack data in every store", made(lost_everywhere)),
    Case("prune: a kept backup's object truncated in every store", ("prune",), 5,
         "lack data in every store", made(truncated_everywhere)),
    Case("models/ a symlink leading out", ("restore", "--force"), 5, "symbolic link",
         made(models_link_out)),
    Case("import a file that is not an archive", ("import", "params.yaml"), 5,
         "not a .tar.gz or .tar.zst archive"),
    Case("import an encrypted archive cut short", ("import", "cut.tar.gz.age"), 5,
         "cut.tar.gz.age fails its age authentication: damaged or truncated",
         made(sealed_archive("cut.tar.gz.age", cut=True)), env={"HDVERSION_PASSPHRASE": "p"}),
    # 6: locked
    Case("another hdversion holds the lock", ("backup", "--wait", "0"), 6,
         "holds the repository lock",
         lock="hdversion"),
    Case("prune while another hdversion holds the lock", ("prune", "--wait", "0"), 6,
         "holds the repository lock", made(), lock="hdversion"),
    Case("dvc repro holds DVC's lock (backup)", ("backup",), 6, "dvc command is running",
         lock="dvc"),
    Case("dvc repro holds DVC's lock (restore)", ("restore", "--force"), 6,
         "dvc command is running", made(), lock="dvc"),
    # 7: configuration and repository state
    Case("not a git repository", ("backup",), 7, "not a git repository", not_git),
    Case("import an encrypted archive with a wrong passphrase", ("import", "p.tar.gz.age"), 7,
         "p.tar.gz.age: the passphrase does not open it (the passphrase given); nothing was "
         "written", made(sealed_archive("p.tar.gz.age")),
         env={"HDVERSION_PASSPHRASE": "not it"}),
    Case("not a DVC repository", ("backup",), 7, "not a DVC repository", not_dvc),
    Case("nothing tracked by DVC", ("backup",), 7, "nothing to back up", nothing_tracked),
    Case("an artifact missing", ("backup",), 7, "missing critical artifact", missing(MODEL)),
    Case("a configured git-tracked file missing", ("backup",), 7, "params.yaml",
         missing("params.yaml")),
    Case("settings: invalid YAML", ("backup",), 7, "not valid YAML at line",
         config("backup:\n  local_remote: [a\n")),
    # Not a mapping: in the project's config/config.yaml, the project's own (tests/test_settings.py)
    Case("settings: .hdversion.yaml not a mapping", ("backup",), 7, "must hold a mapping",
         config("- a\n", ".hdversion.yaml")),
    Case("settings: backup not a mapping in .hdversion.yaml", ("backup",), 7,
         "'backup' must be a mapping", config("backup: [1]\n", ".hdversion.yaml")),
    Case("settings: git_tracked_files not a list", ("backup",), 7, "must be a list",
         config("backup:\n  git_tracked_files: params.yaml\n")),
    Case("settings: an absolute git-tracked path", ("backup",), 7, "relative",
         config("backup:\n  git_tracked_files: [/etc/passwd]\n")),
    Case("settings: a git-tracked path with ..", ("backup",), 7, "inside it",
         config("backup:\n  git_tracked_files: [../secrets.yaml]\n")),
    Case("settings: a typo in local_remote", ("backup",), 7, "no remote of that name",
         config(GOOD_CONFIG + "  local_remote: lcoal\n")),
    Case("settings: a typo in a backup key", ("backup",), 7, "unknown key(s): local_remot",
         config(GOOD_CONFIG + "  local_remot: nas\n")),
    Case("settings: a section given twice", ("backup",), 7, "the key 'backup' is given twice",
         config(GOOD_CONFIG + "backup:\n  local_remote: nas\n")),
    Case("settings: a typo in retention", ("prune",), 7, "unknown key(s): keep_dialy",
         config(GOOD_CONFIG + "retention:\n  keep_dialy: 7\n")),
    Case("settings: a retention that keeps nothing", ("prune",), 7, "keeps no backup",
         config(GOOD_CONFIG + "retention:\n  keep_last: 0\n")),
    Case("settings: a typo in hooks", ("backup",), 7, "unknown key(s): on_succes",
         config(GOOD_CONFIG + "hooks:\n  on_succes: [true]\n")),
    Case("settings: a typo in list", ("backup",), 7, "list has unknown key(s): metrik",
         config(GOOD_CONFIG + "list:\n  metrik: f1\n")),
    Case("settings: a list metric that is not a name", ("backup",), 7,
         "list.metric must be a name", config(GOOD_CONFIG + "list:\n  metric: [f1]\n")),
    Case("settings: a retention duration with a bare m", ("prune",), 7,
         "retention: ambiguous duration '6m'",
         config(GOOD_CONFIG + "retention:\n  keep_within: 6m\n")),
    Case("settings: a typo in a section of .hdversion.yaml", ("backup",), 7,
         "unknown key(s): retnetion", config("retnetion:\n  keep_daily: 7\n", ".hdversion.yaml")),
    Case("settings: a retention in .hdversion.yaml that is not a mapping", ("prune",), 7,
         "retention must be a mapping", config("retention: 30\n", ".hdversion.yaml")),
    Case("settings: $HDVERSION_CONFIG names no file", ("list",), 7,
         "(named by $HDVERSION_CONFIG) does not exist", env={"HDVERSION_CONFIG": "nowhere.yaml"}),
    Case("settings: a retention metric no backup records", ("prune",), 7,
         "retention.metric: no backup records the metric 'ensemble.roc_acu'",
         both(made(), config(GOOD_CONFIG + "retention:\n  keep_best: 2\n"
                                           "  metric: ensemble.roc_acu\n"))),
    Case("prune --cloud with no such remote", ("prune", "--cloud", "--storage", "s3"), 7,
         "no DVC remote named 's3'"),
    Case("prune, the git remote unreachable", ("prune",), 7, "--offline", origin_gone),
    Case("backup --remote that does not exist", ("backup", "--remote", "typo"), 7,
         "no DVC remote named 'typo'"),
    Case("backup --cloud with no such remote", ("backup", "--cloud", "--storage", "s3"), 7,
         "no DVC remote named 's3'"),
    Case("restore --remote that does not exist", ("restore", "--remote", "nosuch"), 7,
         "no DVC remote named 'nosuch'", made()),
    Case("backup --cloud, endpoint unreachable", ("backup", "--cloud", "--storage", "s3"), 7,
         "cannot reach remote 's3'", unreachable_s3),
    Case("list --remote-url of a file", ("list", "--remote-url", "params.yaml"), 7,
         "/params.yaml is a file, not a directory"),
    Case("remote test of an unknown remote", ("remote", "test", "nosuch"), 7,
         "no DVC remote named 'nosuch'"),
    Case("remote test of a folder that cannot be made", ("remote", "test", "bad"), 7,
         "cannot make folder '/proc/hdversion-remote'", remote_in_proc),
    Case("remote test of a file", ("remote", "test", "f"), 7, "is a file, not a folder",
         remote_is_a_file),
    Case("remote test, its DVC plugin not installed", ("remote", "test", "g"), 7,
         "pip install dvc-gdrive", gdrive_remote),
    Case("backup --remote, its DVC plugin not installed", ("backup", "--remote", "g"), 7,
         "pip install dvc-gdrive", gdrive_remote),
    Case("copy --to, its DVC plugin not installed",
         ("copy", "--from", "local", "--to", "g"), 7, "pip install dvc-gdrive",
         made(lambda project, _data: gdrive_remote(project))),
    Case("credentials file tracked by git", ("backup",), 7, "tracked by git",
         credentials("{}", tracked=True)),
    Case("credentials file not JSON", ("backup",), 7, "not valid JSON", credentials("{")),
    Case("credentials file with an unknown key", ("backup",), 7, "unknown key(s) aws_key",
         credentials('{"aws_key": "x"}')),
    Case(".dvc/tmp is a file", ("backup",), 7, ".dvc/tmp", tmp_is_a_file),
    Case("dvc.lock emptied (backup)", ("backup",), 7, "dvc.lock is damaged (empty)",
         damaged("dvc.lock", b"")),
    Case("dvc.lock emptied (status)", ("status",), 7, "dvc.lock is damaged (empty)",
         both(made(), damaged("dvc.lock", b""))),
    Case("dvc.lock emptied (restore)", ("restore",), 7, "dvc.lock is damaged (empty)",
         both(made(), damaged("dvc.lock", b""), and_changed_work)),
    Case("a .dvc file emptied (backup)", ("backup",), 7,
         "data/raw/heart.csv.dvc is damaged (empty)", damaged("data/raw/heart.csv.dvc", b"")),
    Case("a .dvc file cut short (restore)", ("restore",), 7,
         "data/raw/heart.csv.dvc is damaged (not valid YAML)",
         both(made(), damaged("data/raw/heart.csv.dvc", b"outs:\n- md5: [5e1b\n"),
              and_changed_work)),
    # 8: monitoring
    Case("status --require-offsite, every copy on this disk", ("status", "--require-offsite"),
         8, "has no copy off this disk", made()),
    # 1: write errors
    Case("an artifact rewritten during the backup", ("backup",), 1,
         f"changed during the backup, no backup was made: {MODEL}\n", rewritten_before,
         meanwhile=(PausePoint.AFTER_DVC_SAVE, rewrite)),
    Case("a directory where a file should be", ("restore", "--force"), 1,
         "a directory is in its place", made(directory_in_place)),
    Case("export into a folder that takes no file",
         ("export", "19990101_000000", "-o", "/proc/x.tar.gz"), 1,
         "cannot write into folder '/proc'"),
    Case("the local remote cannot take a file", ("backup",), 1,
         "cannot write to the local remote", remote_blocked),
]

HOLDERS = {"hdversion": HOLD_HDVERSION_LOCK, "dvc": HOLD_DVC_LOCK}


def row(case: Case, message: str) -> str:
    shown = message.replace("|", "\\|")
    argv = " ".join(arg or "''" for arg in case.argv)  # an empty argument, visible
    return f"| {case.name} | `hdversion {argv}` | {case.code} | {shown} |"


def first_line(stderr: str, root: Path, case: Case) -> str:
    """The error line, with what differs from run to run (paths, pids, backup times) named."""
    line = next((ln for ln in stderr.splitlines() if ln.startswith("error: ")), "")
    line = line.removeprefix("error: ").replace(str(root), "<repo>")
    line = line.replace(str(root.parent), "<tmp>")
    line = re.sub(r"pid \d+ on \S+ since \S+\)", "pid <pid> on <host> since <time>)", line)
    return re.sub(r"\b\d{8}_\d{6}\b",
                  lambda m: m.group(0) if m.group(0) in " ".join(case.argv) else "<T>", line)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(project: Project, case: Case) -> None:
    if case.setup:
        case.setup(project)
    before = set(project.git("tag").split()) if (project.root / ".git").exists() else set()
    objects = stores(project.root)
    if case.lock:
        with lock_held(HOLDERS[case.lock], project.root, 60):
            result = project.cli(*case.argv)
    elif case.meanwhile:
        point, act = case.meanwhile
        proc = start_paused(project.root, point, *case.argv)
        act(project)
        pause_marker(project.root).unlink()
        out, err = proc.communicate(timeout=120)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    else:
        result = project.cli(*case.argv, env=case.env)
    assert result.returncode == case.code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error: ")
    assert case.phrase in result.stderr, result.stderr
    writers = ("backup", "prune", "pin", "unpin", "undelete")
    if case.argv[0] in writers and (project.root / ".git").exists():
        # A failed backup leaves no tag; a failed prune removes none, and no data.
        assert set(project.git("tag").split()) == before
    if case.argv[0] == "prune":
        assert stores(project.root) == objects
    expected = row(case, first_line(result.stderr, project.root, case))
    if os.environ.get("HDVERSION_WRITE_TABLE"):
        TABLE_OUT.parent.mkdir(parents=True, exist_ok=True)
        with TABLE_OUT.open("a") as stream:
            stream.write(expected + "\n")
    assert expected in DOC.read_text(), f"docs/reliability.md lacks the current row:\n{expected}"


def test_the_table_has_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    documented = [ln for ln in DOC.read_text().splitlines() if ln.startswith("| ")
                  and "`hdversion" in ln]
    assert len(documented) == len(CASES)


