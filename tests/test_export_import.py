"""hdversion export / import: round trips (gzip and zstd, into a directory, into the workspace
with its safety backup, into a second clone with no remote at all) and hostile archives, each
refused with its exit code before anything is written."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from hdversion import api
from hdversion.errors import HdversionError, WriteError
from hdversion.model.archive import MANIFEST_MEMBER
from hdversion.model.manifest import FileEntry, FileList
from hdversion.ops.catalog import read_catalog
from hdversion.ops.export import export_backup
from hdversion.ops.project import Project as OpenProject
from hdversion.paths import TEMP_PREFIX
from hdversion.util import tarstream
from hdversion.util.pausepoints import PausePoint
from hdversion.util.progress import SILENT
from tests.conftest import Project, run_cli, start_paused

MODEL = "models/keras_mlp_model.h5"
SKIP = (".git", "logs")  # the journal is written by every run, refused or not


@dataclass
class Exported:
    project: Project
    tag: str
    timestamp: str
    files: dict[str, tuple[str, int]]  # path -> (md5, size) of the backup
    data: dict[str, bytes]  # path -> bytes of the backup
    gz: Path
    zst: Path


@pytest.fixture(scope="module")
def exported(project_template: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Exported:
    base = tmp_path_factory.mktemp("export")
    root = base / "project"
    shutil.copytree(project_template, root, symlinks=True)
    made = api.backup(repo=root, message="to carry", remotes=())
    backup = made.backup
    files = {f.path: (f.md5, f.size) for f in made.files}
    data = {path: (root / path).read_bytes() for path in files}
    gz = api.export(backup.timestamp, out=base / "carry.tar.gz", repo=root, offline=True).output
    zst = api.export(backup.timestamp, out=base / "carry.tar.zst", repo=root, offline=True).output
    return Exported(Project(root), backup.tag, backup.timestamp, files, data, gz, zst)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a tree but git's and the journal, by content."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in SKIP or path.is_dir():
            continue
        found[relative] = path.read_bytes() if not path.is_symlink() else b"->"
    return found


def workspace_copy(exported: Exported, tmp_path: Path) -> Project:
    root = tmp_path / "work"
    shutil.copytree(exported.project.root, root, symlinks=True)
    return Project(root)


# -- round trips ---------------------------------------------------------------------------

def test_archive_starts_with_both_parts_of_the_manifest(exported: Exported) -> None:
    with tarfile.open(exported.gz) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST_MEMBER).read())  # type: ignore[union-attr]
    assert names[0] == MANIFEST_MEMBER
    assert sorted(names[1:]) == sorted(f"files/{p}" for p in exported.files)
    assert manifest["tag"] == exported.tag
    listing = manifest["file_list"].encode()
    assert hashlib.md5(listing).hexdigest() == manifest["manifest"]["files_md5"]
    # git-stored files travel too: the archive alone rebuilds every file of the backup
    assert {"dvc.lock", "params.yaml", "config/config.yaml"} <= set(exported.files)


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_round_trip_into_an_empty_directory(exported: Exported, tmp_path: Path,
                                            kind: str) -> None:
    archive = exported.gz if kind == "gz" else exported.zst
    magic = b"\x28\xb5\x2f\xfd" if kind == "zst" else b"\x1f\x8b"
    assert archive.read_bytes().startswith(magic)
    target = tmp_path / "carried"
    result = api.import_archive(archive, target=target, repo=tmp_path)  # no repository
    assert result.failure() is None
    assert {f.path for f in result.restore.files} == set(exported.files)
    assert all(f.verified for f in result.restore.files)
    assert snapshot(target) == exported.data  # byte-identical, nothing else (no temp files)


def test_export_refuses_an_existing_file_and_an_unknown_backup(exported: Exported) -> None:
    before = exported.gz.read_bytes()
    refused = run_cli(exported.project.root, "export", exported.timestamp, "-o",
                      str(exported.gz), "--offline")
    assert refused.returncode == 2, refused.stderr
    assert "exists" in refused.stderr
    assert exported.gz.read_bytes() == before
    unknown = run_cli(exported.project.root, "export", "20200101_000000", "-o",
                      str(exported.gz.with_name("none.tar.gz")), "--offline")
    assert unknown.returncode == 4, unknown.stderr
    assert not exported.gz.with_name("none.tar.gz").exists()
    assert not list(exported.gz.parent.glob(".hdversion-tmp-*"))


def test_export_checks_its_output_folder_as_report_does(exported: Exported,
                                                        tmp_path: Path) -> None:
    # A typo in a mount point must not write the archive to the root disk: no folder made.
    missing = run_cli(exported.project.root, "export", exported.timestamp, "-o",
                      str(tmp_path / "no" / "such" / "x.tar.gz"), "--offline")
    assert missing.returncode == 2, missing.stderr
    assert "folder" in missing.stderr and "does not exist" in missing.stderr
    assert not (tmp_path / "no").exists()
    # A folder nothing can be created in (root ignores modes; /proc refuses even root):
    # refused before any work, as a write error, not through the bug path.
    unwritable = run_cli(exported.project.root, "export", exported.timestamp, "-o",
                         "/proc/x.tar.gz", "--offline")
    assert unwritable.returncode == 1, unwritable.stderr
    assert "cannot write into folder '/proc'" in unwritable.stderr
    assert "unexpected error" not in unwritable.stderr


def test_export_a_folder_gone_unwritable_meanwhile_is_a_write_error(
        exported: Exported) -> None:
    # export_backup is past the up-front check: the folder it writes in is refused as if
    # it had become unwritable after that check.
    project = OpenProject.open(exported.project.root)
    backup = read_catalog(project.git).get(exported.timestamp)
    with pytest.raises(WriteError, match="no archive was written"):
        export_backup(project, backup, Path("/proc/x.tar.gz"), None, False, SILENT)


def test_export_force_replaces_and_is_reproducible(exported: Exported, tmp_path: Path) -> None:
    over = tmp_path / "old.tar.gz"
    over.write_bytes(b"an older archive, or anything else")
    api.export(exported.timestamp, out=over, repo=exported.project.root, force=True,
               offline=True)
    assert over.read_bytes() == exported.gz.read_bytes()  # same backup, same bytes
    assert list(tmp_path.iterdir()) == [over]  # no temporary file left beside it


def test_import_into_the_workspace_keeps_unsaved_changes_in_a_safety_backup(
        exported: Exported, tmp_path: Path) -> None:
    project = workspace_copy(exported, tmp_path)
    project.damage(MODEL, b"retrained, never backed up")
    (project.root / "params.yaml").write_text("seed: 99\n")
    result = api.import_archive(exported.zst, repo=project.root)
    assert result.failure() is None and result.cached
    safety = result.restore.safety_backup
    assert safety is not None and all(f.verified for f in result.restore.files)
    for path, data in exported.data.items():
        assert project.read(path) == data, path
    # the replaced content is kept in the safety backup
    kept = json.loads(project.git("show", f"{safety.tag}:.hdversion/manifest.json"))
    md5s = {f["path"]: f["md5"] for f in kept["files"]}
    assert md5s[MODEL] == hashlib.md5(b"retrained, never backed up").hexdigest()
    assert md5s["params.yaml"] == hashlib.md5(b"seed: 99\n").hexdigest()


def test_import_on_a_second_clone_with_no_remote(exported: Exported, tmp_path: Path) -> None:
    """The runbook: carry a backup to an air-gapped machine (a clone without the backup's
    tags, its DVC cache or any remote)."""
    clone = tmp_path / "airgapped"
    subprocess.run(["git", "clone", "-q", "--no-tags", str(exported.project.root), str(clone)],
                   check=True, capture_output=True)
    subprocess.run(["git", "remote", "remove", "origin"], cwd=clone, check=True)
    for name in ("user.name", "user.email"):
        subprocess.run(["git", "config", name, "x@example.invalid"], cwd=clone, check=True)
    project = Project(clone)
    assert not (clone / MODEL).exists()
    result = project.cli("import", str(exported.gz))
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    for path, data in exported.data.items():
        assert project.read(path) == data, path
    # the workspace is sane: DVC sees no change, and a backup of it is made here
    status = project.dvc("status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout or "{}") == {}, status.stdout
    made = project.cli("backup", "--json")
    assert made.returncode == 0, made.stderr
    backed = json.loads(made.stdout)
    assert {(f["path"], f["md5"]) for f in backed["files"]} >= {
        (p, md5) for p, (md5, _) in exported.files.items()}


# -- hostile archives ----------------------------------------------------------------------

def members_of(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def build(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def zstd(archive: Path) -> bytes:
    """The same tar stream, compressed with zstd instead of gzip."""
    return zstandard.ZstdCompressor().compress(gzip.decompress(archive.read_bytes()))


def info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = ""
         ) -> tarfile.TarInfo:
    made = tarfile.TarInfo(name)
    made.size, made.type, made.linkname, made.mode = size, kind, link, 0o644
    return made


def replaced(good: list[tuple[tarfile.TarInfo, bytes]], name: str,
             new: tuple[tarfile.TarInfo, bytes | None]) -> list:
    return [new if m.name == name else (m, d) for m, d in good]


def forged_manifest(good: list[tuple[tarfile.TarInfo, bytes]], extra: FileEntry,
                    data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """A self-consistent archive (summary, list and md5s agree) that smuggles in a path."""
    manifest = json.loads(good[0][1])
    listing = json.loads(manifest["file_list"])
    listing["files"].append(vars(extra))
    entries = tuple(FileEntry(**f) for f in listing["files"])
    raw = FileList(entries).to_bytes()
    manifest["file_list"] = raw.decode()
    manifest["manifest"].update(files_md5=hashlib.md5(raw).hexdigest(),
                                total_files=len(entries),
                                total_size=sum(e.size for e in entries))
    body = json.dumps(manifest).encode()
    return [(info(MANIFEST_MEMBER, len(body)), body), *good[1:],
            (info(f"files/{extra.path}", len(data)), data)]


BOMB = 50 * 1024 * 1024

HOSTILE: dict[str, tuple[Callable[[list, Path], Path], str]] = {
    "absolute path": (lambda g, p: build(p, [*g, (info("/tmp/evil", 4), b"evil")]),
                      "absolute path"),
    "dot-dot": (lambda g, p: build(p, [*g, (info("files/../../evil", 4), b"evil")]), "'..'"),
    "symlink": (lambda g, p: build(p, replaced(g, f"files/{MODEL}", (
        info(f"files/{MODEL}", kind=tarfile.SYMTYPE, link="/etc/passwd"), None))), "a link"),
    "hardlink": (lambda g, p: build(p, replaced(g, f"files/{MODEL}", (
        info(f"files/{MODEL}", kind=tarfile.LNKTYPE, link="files/params.yaml"), None))),
        "a link"),
    "fifo": (lambda g, p: build(p, replaced(g, f"files/{MODEL}", (
        info(f"files/{MODEL}", kind=tarfile.FIFOTYPE), None))), "device or FIFO"),
    "device": (lambda g, p: build(p, replaced(g, f"files/{MODEL}", (
        info(f"files/{MODEL}", kind=tarfile.CHRTYPE), None))), "device or FIFO"),
    "directory": (lambda g, p: build(p, [*g, (info("files/models/x", kind=tarfile.DIRTYPE),
                                              None)]), "a directory"),
    "name not in the manifest": (lambda g, p: build(p, [*g, (info("files/models/extra.pkl", 4),
                                                             b"evil")]), "not in the"),
    "member twice": (lambda g, p: build(p, [*g, g[-1]]), "twice"),
    "gzip bomb": (lambda g, p: build(p, replaced(g, f"files/{MODEL}", (
        info(f"files/{MODEL}", BOMB), bytes(BOMB)))), f"holds {BOMB} bytes"),
    "changed byte": (lambda g, p: build(p, [(m, d[:-1] + bytes([d[-1] ^ 1])
                                              if m.name == f"files/{MODEL}" else d)
                                             for m, d in g]), "does not match its manifest"),
    "file list not matching its summary": (lambda g, p: build(p, [(info(
        MANIFEST_MEMBER, len(d := g[0][1].replace(b'\\"size\\":40000', b'\\"size\\":40001'))),
        d), *g[1:]]), "does not match its tag"),
    "manifest not first": (lambda g, p: build(p, [*g[1:], g[0]]), "first member"),
    "missing file": (lambda g, p: build(p, [x for x in g if x[0].name != f"files/{MODEL}"]),
                     "lacks 1 file"),
    "truncated": (lambda g, p: (p.write_bytes(build(p, g).read_bytes()[:-3000]), p)[1],
                  "damaged or truncated"),
    "truncated zstd": (lambda g, p: (p.write_bytes(zstd(build(p, g))[:-3000]), p)[1],
                       "damaged or truncated"),
    "not an archive": (lambda g, p: (p.write_bytes(b"PK\x03\x04 a zip"), p)[1],
                       "not a .tar.gz or .tar.zst"),
    "forged path into .git": (lambda g, p: build(p, forged_manifest(
        g, FileEntry(".git/hooks/post-checkout", hashlib.md5(b"#!/bin/sh\n").hexdigest(), 10,
                     "git"), b"#!/bin/sh\n")), "inside .git"),
    "forged path outside the outputs": (lambda g, p: build(p, forged_manifest(
        g, FileEntry("elsewhere.sh", hashlib.md5(b"#!/bin/sh\n").hexdigest(), 10, "dvc"),
        b"#!/bin/sh\n")), "neither a DVC output"),
}


@pytest.fixture
def read_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The decompressed bytes every archive read yielded, run by run."""
    counts: list[int] = []
    original = tarstream.BoundedReader.read

    def read(self: tarstream.BoundedReader, size: int = -1) -> bytes:
        data = original(self, size)
        counts.append(len(data))
        return data

    monkeypatch.setattr(tarstream.BoundedReader, "read", read)
    yield counts


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused_before_anything_is_written(
        exported: Exported, tmp_path: Path, case: str, read_counter: list[int]) -> None:
    make, phrase = HOSTILE[case]
    archive = make(members_of(exported.gz), tmp_path / "hostile.tar.gz")
    root = exported.project.root
    before = snapshot(root)
    target = tmp_path / "target"
    for where in (target, None):  # a fresh directory, and the workspace
        read_counter.clear()
        started = time.monotonic()
        with pytest.raises(HdversionError) as refused:
            api.import_archive(archive, target=where, repo=root)
        assert refused.value.exit_code == 5, refused.value.message
        assert phrase in refused.value.message, refused.value.message
        if case == "gzip bomb":  # refused at the member's header, not after inflating it
            assert sum(read_counter) < 1024 * 1024 and time.monotonic() - started < 5
    assert not target.exists()
    assert snapshot(root) == before  # every file byte-identical, no temp file left
    assert not list((root / ".dvc" / "tmp").glob("hdversion-import-*"))


def test_hostile_archive_through_the_cli(exported: Exported, tmp_path: Path) -> None:
    archive = HOSTILE["dot-dot"][0](members_of(exported.gz), tmp_path / "evil.tar.gz")
    result = run_cli(tmp_path, "import", str(archive), "--target", str(tmp_path / "t"),
                     "--json")
    assert result.returncode == 5, result.stderr
    assert json.loads(result.stdout)["exit_code"] == 5
    assert "'..'" in result.stderr and not (tmp_path / "t").exists()


def test_import_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(HdversionError) as refused:
        api.import_archive(tmp_path / "nothing.tar.gz", target=tmp_path / "t", repo=tmp_path)
    assert refused.value.exit_code == 2


def test_gzip_archive_reads_back_with_plain_tar(exported: Exported, tmp_path: Path) -> None:
    """No lock-in: the archive is an ordinary tarball."""
    with gzip.open(exported.gz) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
        names = [m.name for m in tar]
    assert names[0] == MANIFEST_MEMBER


# -- export's own failures -----------------------------------------------------------------

def cache_object(root: Path, md5: str) -> Path:
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_export_refetches_a_corrupt_object_and_refuses_when_no_good_copy(
        exported: Exported, tmp_path: Path) -> None:
    project = workspace_copy(exported, tmp_path)
    md5 = exported.files[MODEL][0]
    obj = cache_object(project.root, md5)
    obj.chmod(0o644)
    obj.write_bytes(b"bit rot")
    result = api.export(exported.timestamp, out=tmp_path / "a.tar.gz", repo=project.root,
                        offline=True)
    assert result.quarantined == [md5]
    assert result.output.read_bytes() == exported.gz.read_bytes()  # the good bytes
    # now damaged in the cache and in the local remote: no archive at all
    for damaged in (cache_object(project.root, md5),
                    project.root / "backups" / "files" / "md5" / md5[:2] / md5[2:]):
        damaged.chmod(0o644)
        damaged.write_bytes(b"bit rot")
    with pytest.raises(HdversionError) as refused:
        api.export(exported.timestamp, out=tmp_path / "b.tar.gz", repo=project.root, offline=True)
    assert refused.value.exit_code == 5 and MODEL in refused.value.message
    assert not (tmp_path / "b.tar.gz").exists()
    assert not list(tmp_path.glob(".hdversion-tmp-*"))


def test_interrupted_export_leaves_no_archive(exported: Exported, tmp_path: Path) -> None:
    """Ctrl-C (a real SIGINT) with the archive half written beside its final name: neither
    the archive nor its temporary file is left."""
    project = workspace_copy(exported, tmp_path)  # the pause marker stays in the copy
    out = tmp_path / "out"
    out.mkdir()
    proc = start_paused(project.root, PausePoint.BETWEEN_ARCHIVE_MEMBERS, "export",
                        exported.timestamp, "-o", str(out / "c.tar.gz"), "--offline")
    assert [p.name[:len(TEMP_PREFIX)] for p in out.iterdir()] == [TEMP_PREFIX]  # half-way
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert list(out.iterdir()) == []  # neither the archive nor its temporary file


@pytest.mark.parametrize("into", ["target", "workspace"])
def test_interrupted_import_leaves_nothing(exported: Exported, tmp_path: Path,
                                           into: str) -> None:
    """Ctrl-C (a real SIGINT) once every file is extracted, verified and staged, none renamed
    yet: no file changed, no staged file, no extraction folder, and a target the import
    created is gone."""
    project = workspace_copy(exported, tmp_path)
    project.damage(MODEL, b"retrained")
    target = tmp_path / "target"
    where = ["--target", str(target)] if into == "target" else ["--force"]
    before = snapshot(project.root)
    proc = start_paused(project.root, PausePoint.BEFORE_RENAME, "import", str(exported.gz),
                        *where)
    staged = [p for p in (target if into == "target" else project.root).rglob(TEMP_PREFIX + "*")
              if ".git" not in p.parts]
    assert staged  # it was stopped with its files staged
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert not target.exists()  # nor the folders its staged files were in

    def outside_tmp(files: dict[str, bytes]) -> dict[str, bytes]:  # the lock, the marker
        return {k: v for k, v in files.items() if not k.startswith(".dvc/tmp/")}
    assert outside_tmp(snapshot(project.root)) == outside_tmp(before)
    assert not list((project.root / ".dvc" / "tmp").glob("*hdversion-import-*"))


def test_an_archive_damaged_between_its_two_passes_writes_nothing(exported: Exported,
                                                                   tmp_path: Path) -> None:
    """The second pass puts each member into the import's private store, which checks the
    bytes against the manifest as they are written: an archive swapped for one with a
    damaged member (same size, same manifest) after the first pass is refused there, and no
    object of it is left for a source to read."""
    from hdversion.ops.import_archive import extract, scan

    archive = tmp_path / "a.tar.gz"
    shutil.copyfile(exported.gz, archive)
    scanned = scan(archive)
    good = members_of(exported.gz)
    name, data = next((m.name, d) for m, d in good if m.name.endswith(MODEL))
    damaged = bytes([data[0] ^ 0xFF]) + data[1:]
    build(archive, replaced(good, name, (next(m for m, _ in good if m.name == name),
                                         damaged)))
    folder = tmp_path / "work"
    folder.mkdir()
    wanted = [f for f in scanned.manifest.files if f.path == MODEL]
    with pytest.raises(HdversionError, match=f"{MODEL} in the archive does not match its "
                       "manifest .*data hashes to .*; no file was changed"):
        extract(archive, scanned, wanted, folder, SILENT)
    assert [p for p in folder.rglob("*") if p.is_file()] == []


# -- the archive is what its name says (issue 24) ------------------------------------------

TAR_MAGIC_AT = 257


@pytest.mark.parametrize("name, magic", [
    ("b.tar", None), ("b.tgz", b"\x1f\x8b"), ("b.tzst", b"\x28\xb5\x2f\xfd"),
    ("B.TAR.GZ", b"\x1f\x8b"),
])
def test_export_writes_what_its_name_says(exported: Exported, tmp_path: Path, name: str,
                                          magic: bytes | None) -> None:
    result = run_cli(exported.project.root, "export", exported.timestamp, "-o",
                     str(tmp_path / name), "--offline", "--json")
    assert result.returncode == 0, result.stderr
    data = (tmp_path / name).read_bytes()
    if magic is None:  # a plain tar, as `tar -tf` reads it
        assert data[TAR_MAGIC_AT:TAR_MAGIC_AT + 5] == b"ustar"
        assert json.loads(result.stdout)["compression"] == "none"
        with tarfile.open(tmp_path / name, mode="r:") as tar:
            assert tar.getnames()[0] == MANIFEST_MEMBER
        # the same tar stream as the gzip archive's
        assert data == gzip.decompress(exported.gz.read_bytes())
    else:
        assert data.startswith(magic)


def test_a_plain_tar_round_trips(exported: Exported, tmp_path: Path) -> None:
    archive = api.export(exported.timestamp, out=tmp_path / "carry.tar",
                         repo=exported.project.root, offline=True).output
    target = tmp_path / "carried"
    result = api.import_archive(archive, target=target, repo=tmp_path)
    assert result.failure() is None and all(f.verified for f in result.restore.files)
    assert snapshot(target) == exported.data


def test_import_knows_an_archive_by_its_bytes_not_its_name(exported: Exported,
                                                           tmp_path: Path) -> None:
    """A gzip archive named .tar and a plain tar named .tar.zst import all the same."""
    misnamed = tmp_path / "really-gzip.tar"
    shutil.copyfile(exported.gz, misnamed)
    plain = tmp_path / "really-plain.tar.zst"
    plain.write_bytes(gzip.decompress(exported.gz.read_bytes()))
    for archive in (misnamed, plain):
        target = tmp_path / archive.stem
        result = api.import_archive(archive, target=target, repo=tmp_path)
        assert result.failure() is None
        assert snapshot(target) == exported.data


@pytest.mark.parametrize("name", ["b.zip", "b.gz", "b.zst", "b.tar.bz2", "b", "params.yaml"])
def test_export_refuses_a_name_that_says_no_archive_before_any_work(
        exported: Exported, tmp_path: Path, name: str) -> None:
    """Exit 2 naming the accepted suffixes, nothing written; before the project is even
    opened (from a folder that is no project, the name is what is refused)."""
    for cwd, force in ((exported.project.root, ["--overwrite"]), (tmp_path, [])):
        out = tmp_path / name
        before = out.read_bytes() if out.exists() else None
        result = run_cli(cwd, "export", exported.timestamp, "-o", str(out), "--offline",
                         *force)
        assert result.returncode == 2, result.stderr
        assert f"'{name}' is not an archive name: end it with one of .tar.gz, .tgz, .tar.zst, " \
            ".tzst, .tar; nothing was written" in result.stderr
        assert (out.read_bytes() if out.exists() else None) == before
        assert list(tmp_path.iterdir()) == ([out] if before is not None else [])
    # --overwrite does not make a settings file an archive
    params = exported.project.root / "params.yaml"
    before = params.read_bytes()
    result = run_cli(exported.project.root, "export", exported.timestamp, "-o", str(params),
                     "--overwrite", "--offline")
    assert result.returncode == 2 and "not an archive name" in result.stderr
    assert params.read_bytes() == before


def test_an_archive_carries_the_json_line_not_the_human_line(exported: Exported,
                                                              tmp_path: Path) -> None:
    message = exported.project.git("for-each-ref", "--format=%(contents)",
                                   f"refs/tags/{exported.tag}").strip()
    human, _, json_line = message.split("\n")
    assert human == "to carry"
    with tarfile.open(exported.gz) as tar:
        carried = json.loads(tar.extractfile(MANIFEST_MEMBER).read())  # type: ignore[union-attr]
    assert carried["manifest"] == json.loads(json_line)


PLAIN_CASES = [c for c in HOSTILE if c not in ("truncated", "truncated zstd")]


def plain(archive: Path) -> Path:
    """The same archive as a plain tar, under the same name (the bytes decide)."""
    data = archive.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        archive.write_bytes(gzip.decompress(data))
    return archive


@pytest.mark.parametrize("case", [*PLAIN_CASES, "truncated plain tar"])
def test_a_hostile_plain_tar_is_refused_as_a_compressed_one(
        exported: Exported, tmp_path: Path, case: str) -> None:
    if case == "truncated plain tar":
        archive = plain(build(tmp_path / "hostile.tar", members_of(exported.gz)))
        data = archive.read_bytes()
        archive.write_bytes(data[:len(data) // 2])
        phrases = ("damaged or truncated", "lacks")
    else:
        make, phrase = HOSTILE[case]
        archive = plain(make(members_of(exported.gz), tmp_path / "hostile.tar"))
        phrases = (phrase,)
    root = exported.project.root
    before = snapshot(root)
    target = tmp_path / "target"
    for where in (target, None):
        with pytest.raises(HdversionError) as refused:
            api.import_archive(archive, target=where, repo=root)
        assert refused.value.exit_code == 5, refused.value.message
        assert any(p in refused.value.message for p in phrases), refused.value.message
    assert not target.exists()
    assert snapshot(root) == before
    assert not list((root / ".dvc" / "tmp").glob("hdversion-import-*"))
