"""Exporting a backup to one archive (`.tar.gz`/`.tgz`, `.tar.zst`/`.tzst` or `.tar`: what
the name says, any other name refused before any work): `manifest.json` first (both parts of
the backup's manifest), then every file of the backup, DVC objects and git-stored files
alike, so that the archive alone rebuilds the backup on a machine with no remote. With
`encrypt`, the whole archive is age-encrypted (util/agefile.py) to recipients or a
passphrase as it is written, and its name ends in `.age` (`b.tar.gz.age`), as the name
says or refused: no plaintext copy is ever written.

Every object is re-hashed in the cache first (fetched from the remote when missing or
corrupt) and hashed again on its way into the archive; the archive is written beside its
final name and renamed into place only when whole."""

from __future__ import annotations

import calendar
import contextlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

from hdversion.datastore.store import KeyMissing, VerifiedReader
from hdversion.errors import HdversionError, UsageError, VerificationError, WriteError
from hdversion.model.archive import MANIFEST_MEMBER, ArchiveManifest, member_name
from hdversion.model.catalog import Backup
from hdversion.model.manifest import FileEntry
from hdversion.ops.catalog import catalog_with, files_of
from hdversion.ops.operation import locked_operation
from hdversion.ops.outputs import check_folder_takes_files, check_output_file
from hdversion.ops.project import Project
from hdversion.ops.sources import fallback_order, fill_cache, git_files
from hdversion.paths import FILE_LIST, TEMP_PREFIX
from hdversion.util.agefile import Sealing, check_recipients, encrypting
from hdversion.util.atomic import place_new_file
from hdversion.util.clock import now_utc
from hdversion.util.pausepoints import PausePoint, pause_point
from hdversion.util.progress import SILENT, Advance, Reporter
from hdversion.util.tarstream import AGE_SUFFIX, archive_kind, tar_writer


@dataclass
class ExportResult:
    backup: Backup
    output: Path
    compression: str  # "gz", "zst" or "none" (a plain .tar)
    files: int
    data_size: int  # bytes of the backup's files
    archive_size: int  # bytes of the archive
    quarantined: list[str] = field(default_factory=list)
    encrypted: str | None = None  # "recipients" or "passphrase" (age); None: not encrypted

    def failure(self) -> HdversionError | None:
        return None  # anything that did not happen was raised: no archive was written


def export(ref: str, *, out: Path, repo: Path | None = None, remote: str | None = None,
           force: bool = False, reporter: Reporter = SILENT, wait: float = 0,
           offline: bool = False, config: Path | None = None, encrypt: bool = False,
           recipients: Sequence[str] = (), passphrase: str | None = None) -> ExportResult:
    """Write backup `ref` of the project at `repo` into the archive `out`; with `encrypt`,
    age-encrypted to `recipients` (`age1...` keys) or with `passphrase`."""
    output = out.absolute()
    _check_output(output, force, encrypt)
    sealing = _sealing(encrypt, tuple(recipients), passphrase)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "export", wait, timestamp=ref, output=str(output)):
        catalog = catalog_with(project, ref, offline)
        backup = catalog.get(ref, now=now_utc())
        result = export_backup(project, backup, output, remote, force, reporter, sealing)
        project.journal("export", "ok", tag=backup.tag, output=str(output),
                        files=result.files, size=result.archive_size)
        return result


def export_backup(project: Project, backup: Backup, output: Path, remote: str | None,
                  force: bool, reporter: Reporter, sealing: Sealing | None = None
                  ) -> ExportResult:
    compression, _ = archive_kind(output.name)
    files = files_of(project.git, backup)
    manifest = _archive_manifest(project, backup)
    read = git_files(project, backup, [f for f in files if f.store == "git"])
    if read.bad:
        raise VerificationError(f"backup {backup.tag}: its commit's {read.bad[0].path} does "
                                "not match the manifest; no archive was written")
    dvc_entries = [f for f in files if f.store == "dvc"]
    if dvc_entries and remote is not None:
        project.store.ensure_remote(remote)
    remotes = fallback_order(project, remote) if dvc_entries else []
    # Every object re-hashed in the cache, a damaged one quarantined and brought again from
    # the remotes in turn; then each read from the cache, hashed again on its way.
    check = fill_cache(project, dvc_entries, remotes, reporter)
    if (failure := check.failure(remote, remotes)) is not None:
        raise failure
    if check.bad:
        asked = ", ".join(f"'{r}'" for r in remotes if r not in check.unusable_remotes)
        raise VerificationError(
            f"cannot export {backup.tag}, no archive was written; missing or corrupt in the "
            f"cache and in remote(s) {asked}: " + ", ".join(e.path for e in check.bad),
            hint="try another remote (--remote / --storage) or another backup")
    cache = project.store.cache()
    mtime = calendar.timegm(time.strptime(backup.timestamp, "%Y%m%d_%H%M%S"))
    advance = reporter.bytes(f"writing {output.name}", sum(f.size for f in files))
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=output.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as stream:
            with (contextlib.nullcontext(stream) if sealing is None
                  else encrypting(stream, sealing)) as sink, \
                    tar_writer(sink, compression) as tar:
                _add(tar, MANIFEST_MEMBER, io.BytesIO(manifest), len(manifest), mtime)
                for entry in files:
                    try:
                        with (contextlib.nullcontext(io.BytesIO(read.found[entry.path]))
                              if entry.store == "git" else cache.open(entry.md5)) as source:
                            _add_verified(tar, entry, source, mtime, advance)
                    except KeyMissing:
                        raise VerificationError(f"{entry.path} changed while exporting (gone "
                                                "from the cache); no archive was written"
                                                ) from None
                    if entry is files[0]:
                        pause_point(project.root, PausePoint.BETWEEN_ARCHIVE_MEMBERS)
            stream.flush()
            os.fsync(stream.fileno())
        place_new_file(tmp, output, force)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise WriteError(f"could not write {output}: {exc.strerror or exc}; no archive was "
                         "written") from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return ExportResult(backup, output, compression, len(files), sum(f.size for f in files),
                        output.stat().st_size, check.quarantined,
                        None if sealing is None else
                        "passphrase" if sealing.passphrase is not None else "recipients")


def _check_output(output: Path, force: bool, encrypt: bool) -> None:
    """UsageError (exit 2), before any work, for a name that says no archive type (or says
    encrypted when the archive is not, or the reverse) or a file that may not be
    written."""
    _, encrypted = archive_kind(output.name)
    if encrypt and not encrypted:
        raise UsageError(f"{output.name!r} does not say it is encrypted: an encrypted "
                         f"archive's name ends in {AGE_SUFFIX}; nothing was written",
                         hint=f"name it {output.name}{AGE_SUFFIX}")
    if encrypted and not encrypt:
        raise UsageError(f"{output.name!r} says it is encrypted ({AGE_SUFFIX}) but --encrypt "
                         "was not given; nothing was written",
                         hint="pass --encrypt with --recipient, --recipients-file or "
                         f"--passphrase, or drop {AGE_SUFFIX} from the name")
    check_output_file(output)
    if output.exists() and not force:
        raise UsageError(f"{output} exists; nothing was written",
                         hint="pass --overwrite to replace it, or choose another name")
    check_folder_takes_files(output)


def _sealing(encrypt: bool, recipients: tuple[str, ...], passphrase: str | None
             ) -> Sealing | None:
    """Who may open the archive: UsageError (exit 2), before any work, unless `encrypt`
    comes with recipients or a passphrase, not both, and not without it."""
    if not encrypt:
        if recipients or passphrase is not None:
            raise UsageError("recipients or a passphrase were given without --encrypt; "
                             "nothing was written")
        return None
    if bool(recipients) == (passphrase is not None):
        raise UsageError("--encrypt needs age recipients (--recipient, --recipients-file) "
                         "or --passphrase, one of the two; nothing was written")
    if passphrase is not None and not passphrase:
        raise UsageError("an empty passphrase; nothing was written")
    check_recipients(recipients)
    return Sealing(recipients, passphrase)


def _archive_manifest(project: Project, backup: Backup) -> bytes:
    """Both parts of the backup's manifest, as the tag and the commit hold them."""
    records = [r for r in project.git.tags(backup.tag) if r.name == backup.tag]
    if not records:
        raise VerificationError(f"backup {backup.tag} disappeared while exporting")
    file_list = None
    if backup.manifest.inline_files is None:
        file_list = project.git.read_files([(backup.commit, FILE_LIST)])[0]
    return ArchiveManifest.build(backup.tag, backup.commit, records[0].message,
                                 file_list).to_bytes()


def _info(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info


def _add(tar: tarfile.TarFile, name: str, data: BinaryIO, size: int, mtime: int) -> None:
    tar.addfile(_info(name, size, mtime), data)


class _Counted:
    """A reader that reports the bytes passing through it."""

    def __init__(self, raw: VerifiedReader, advance: Advance) -> None:
        self.raw, self.advance = raw, advance

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.advance(len(data))
        return data


def _add_verified(tar: tarfile.TarFile, entry: FileEntry, source: IO[bytes], mtime: int,
                  advance: Advance) -> None:
    """Add a file, verified on the way (`VerifiedReader`: its size and md5 are the
    manifest's): the cache copy re-hashed moments ago might have changed since."""
    reader = VerifiedReader(source, entry.md5, entry.size, entry.path)
    try:
        tar.addfile(_info(member_name(entry.path), entry.size, mtime),
                    cast(BinaryIO, _Counted(reader, advance)))
        reader.read()  # the end: the tar took the manifest's size, now its md5 is checked
    except VerificationError:
        raise _changed(entry, shorter=reader.count < entry.size) from None
    except OSError as exc:
        if "unexpected end of data" in str(exc):  # the tar's own check of the size
            raise _changed(entry, shorter=True) from None
        raise


def _changed(entry: FileEntry, shorter: bool) -> VerificationError:
    how = "shorter than the manifest" if shorter else "md5 differs from the manifest"
    return VerificationError(f"{entry.path} changed while exporting ({how}); no archive was "
                             "written")
