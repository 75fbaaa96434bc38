"""Typed errors, each mapped to a documented exit code (see docs/exit-codes in README)."""

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
    INTERRUPTED = 130


class HdversionError(Exception):
    """An expected failure: the CLI prints its message (no traceback) and exits with its code."""

    exit_code: ExitCode = ExitCode.UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(HdversionError):
    """Bad arguments: a malformed timestamp, an unknown storage name, conflicting options."""

    exit_code = ExitCode.USAGE


class PartialError(HdversionError):
    """Part of the work succeeded (e.g. the local backup) and part failed (e.g. a cloud push)."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint=hint)
        self.result = result


class BackupNotFoundError(HdversionError):
    exit_code = ExitCode.NO_SUCH_BACKUP


class VerificationError(HdversionError):
    """Data does not match its recorded checksum; nothing in the workspace was changed."""

    exit_code = ExitCode.VERIFICATION_FAILED


class LockedError(HdversionError):
    exit_code = ExitCode.LOCKED


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


class RemoteError(HdversionError):
    """A storage remote could not be reached or refused the operation."""

    exit_code = ExitCode.CONFIGURATION


class InterruptedRunError(HdversionError):
    exit_code = ExitCode.INTERRUPTED
