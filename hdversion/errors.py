"""Every expected failure, each carrying its documented exit code (README, "Exit codes").

Exit codes are decided here and nowhere else: a command raises (or returns) one of these and
the CLI's handler prints its message and exits with its code. Errors raised by the seams
(git, DVC) and the model (manifests) are subclasses too, so each maps to its real code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    PARTIAL = 3
    NO_SUCH_BACKUP = 4
    VERIFICATION_FAILED = 5
    LOCKED = 6
    CONFIGURATION = 7
    STALE = 8
    INTERRUPTED = 130


class HdversionError(Exception):
    """An expected failure: the CLI prints its message (no traceback) and exits with its code.

    Raised as such, it is a failure of the "another reason" kind (exit 1): a write error,
    DVC or git refusing.
    """

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class WriteError(HdversionError):
    """A file could not be written (a full disk, no permission); nothing was left half-done."""


class DataStoreError(HdversionError):
    """DVC refused an operation (a broken dvc.yaml, an output it cannot hash...)."""


class ChangedDuringBackupError(HdversionError):
    """An artifact changed while it was being backed up: the cache might hold bytes that do
    not match their checksum, so no backup was made."""

    def __init__(self, paths: str) -> None:
        super().__init__(
            f"artifact(s) changed during the backup, no backup was made: {paths}",
            hint="wait until whatever writes them (training, dvc repro) is done, then run "
                 "hdversion backup again",
        )


class GitError(HdversionError):
    """A git command failed; `stderr` holds what git said."""

    def __init__(self, command: str, stderr: str) -> None:
        super().__init__(f"git {command} failed: {stderr}")
        self.stderr = stderr


class UsageError(HdversionError):
    """Bad arguments: a malformed timestamp, an unknown storage name, conflicting options."""

    exit_code = ExitCode.USAGE


class PartialError(HdversionError):
    """Part of the work succeeded (e.g. the local backup) and part failed (e.g. a cloud push).
    The message names what stands."""

    exit_code = ExitCode.PARTIAL


class InterruptedAfterBackupError(HdversionError):
    """Ctrl-C or SIGTERM after the backup's tag was made: the backup stands (in the cache and
    the local remote); what came after it (cloud push, tag push, manifests) may not have
    finished. The message names the backup."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, tag: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.tag = tag


class BackupNotFoundError(HdversionError):
    exit_code = ExitCode.NO_SUCH_BACKUP


class NoSuchFileError(BackupNotFoundError):
    """A backup has no file at the path named (`ls`, `cat`, `get`), or no backup holds a
    file that matches (`find`): exit 4, as for a backup that does not exist."""


class VerificationError(HdversionError):
    """Data does not match its recorded checksum; nothing in the workspace was changed."""

    exit_code = ExitCode.VERIFICATION_FAILED


class DamagedObjectError(VerificationError):
    """A remote holds an object that is damaged (DVC could not read it back)."""


class TamperedError(VerificationError):
    """Sealed bytes of an encrypted remote failed their authentication: altered, truncated,
    put under another name, or sealed with another remote's key. Never written anywhere."""


class ManifestError(VerificationError):
    """A backup's manifest does not parse or does not agree with itself: it is not trusted."""


class UnsafePathError(VerificationError):
    """A backup asks to write a path it does not protect: the restore is refused whole."""

    def __init__(self, backup: str | None, path: str, why: str) -> None:
        source = f"backup {backup}" if backup else "the restore"
        super().__init__(
            f"refusing to restore: {source} would write {path!r}, which is {why}; "
            "no file was changed",
            hint="a backup tag may have been forged or damaged; restore another backup",
        )
        self.path = path


class LockedError(HdversionError):
    exit_code = ExitCode.LOCKED


class AliasMovedError(LockedError):
    """Another clone moved an alias between this run's read of it and its own move: the
    other move stands, nothing changed here (exit 6, as a lock held by another writer)."""


class ConfigurationError(HdversionError):
    """The repository, its configuration or its credentials are not usable as they are."""

    exit_code = ExitCode.CONFIGURATION


class NotARepositoryError(ConfigurationError):
    pass


class MissingArtifactError(ConfigurationError):
    def __init__(self, paths: list[str]) -> None:
        listed = ", ".join(paths)
        super().__init__(
            f"missing critical artifact(s): {listed}",
            hint="run the pipeline (dvc repro), fix backup.git_tracked_files in "
            "config/config.yaml, or pass --allow-missing to record them as missing",
        )
        self.paths = paths


class DamagedPointerFileError(ConfigurationError):
    """DVC cannot read a pointer file (dvc.lock, a .dvc file) of the workspace: emptied, cut
    short, not YAML. Nothing that asks DVC about the workspace can run until it is put back,
    and `dvc repro` cannot remake it, so the message names the ways to put it back."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} is damaged ({reason}): DVC cannot read it",
            hint=f"restore the newest backup's copy with `hdversion restore --only {path}`, "
                 f"or git's with `git checkout -- {path}`",
        )
        self.path = path


class RemoteError(ConfigurationError):
    """A storage remote (or the git remote) could not be reached or refused the operation."""


class KeyUnavailableError(ConfigurationError):
    """An encrypted remote's data cannot be opened: no key was supplied, or none supplied
    opens it (a wrong passphrase, another remote's key file)."""


class DeletionRefusedError(RemoteError):
    """The remote refuses these credentials the right to delete (a backup-only key)."""


class StaleBackupError(HdversionError):
    """For monitoring (`status --max-age`): the newest complete backup is older than the
    allowed age, or there is none."""

    exit_code = ExitCode.STALE
