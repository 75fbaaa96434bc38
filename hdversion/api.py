"""The Python API: one function per command, each opening the project at `repo` (default:
the current directory), holding the repository lock where it writes, and journaling its
outcome. The CLI calls these and renders the results; programs and notebooks can too
(docs/api.md). Each function that opens a project takes `config`, the settings file
(default: $HDVERSION_CONFIG, else `.hdversion.yaml`, else `config/config.yaml`;
config/settings_file.py).

The surface is stable and versioned (docs/api.md, "Stability"): the names of `__all__`,
their signatures and their results' fields are recorded in docs/api-surface.txt, and
tests/test_api_surface.py fails when they change without a CHANGELOG entry. Arguments are
keyword-only but for at most one leading positional (`show(ref)`); a backup is named by
`ref` (`refs` for several), the project's directory by `repo`, a file inside a backup by
`path`, a file a function writes by `out`. Nothing here prints: progress goes to the
`reporter` (a `Reporter`), warnings to the `hdversion` logger. Failures raise
`HdversionError` subclasses, each with its `exit_code`.

Each name is loaded from its operation's module on first use: `hdversion list` then imports
the listing alone, not the backup, prune or archive code (nor what those load).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `X as X`: names this module exports (mypy)
    from hdversion.errors import AliasMovedError as AliasMovedError
    from hdversion.errors import BackupNotFoundError as BackupNotFoundError
    from hdversion.errors import ChangedDuringBackupError as ChangedDuringBackupError
    from hdversion.errors import ConfigurationError as ConfigurationError
    from hdversion.errors import DamagedObjectError as DamagedObjectError
    from hdversion.errors import DamagedPointerFileError as DamagedPointerFileError
    from hdversion.errors import DataStoreError as DataStoreError
    from hdversion.errors import DeletionRefusedError as DeletionRefusedError
    from hdversion.errors import ExitCode as ExitCode
    from hdversion.errors import GitError as GitError
    from hdversion.errors import HdversionError as HdversionError
    from hdversion.errors import InterruptedAfterBackupError as InterruptedAfterBackupError
    from hdversion.errors import KeyUnavailableError as KeyUnavailableError
    from hdversion.errors import LockedError as LockedError
    from hdversion.errors import ManifestError as ManifestError
    from hdversion.errors import MissingArtifactError as MissingArtifactError
    from hdversion.errors import NoSuchFileError as NoSuchFileError
    from hdversion.errors import NotARepositoryError as NotARepositoryError
    from hdversion.errors import PartialError as PartialError
    from hdversion.errors import RemoteError as RemoteError
    from hdversion.errors import StaleBackupError as StaleBackupError
    from hdversion.errors import TamperedError as TamperedError
    from hdversion.errors import UnsafePathError as UnsafePathError
    from hdversion.errors import UsageError as UsageError
    from hdversion.errors import VerificationError as VerificationError
    from hdversion.errors import WriteError as WriteError
    from hdversion.model.catalog import Backup as Backup
    from hdversion.model.catalog import Catalog as Catalog
    from hdversion.model.durations import Duration as Duration
    from hdversion.model.pins import Pin as Pin
    from hdversion.model.retention import Policy as Policy
    from hdversion.model.storages import RemoteInfo as RemoteInfo
    from hdversion.ops.add import AddResult as AddResult
    from hdversion.ops.add import add as add
    from hdversion.ops.aliases import AliasHistory as AliasHistory
    from hdversion.ops.aliases import AliasList as AliasList
    from hdversion.ops.aliases import AliasResult as AliasResult
    from hdversion.ops.aliases import alias_history as alias_history
    from hdversion.ops.aliases import alias_list as alias_list
    from hdversion.ops.aliases import alias_rm as alias_rm
    from hdversion.ops.aliases import alias_set as alias_set
    from hdversion.ops.auto import AutoResult as AutoResult
    from hdversion.ops.auto import auto as auto
    from hdversion.ops.backup import BackupResult as BackupResult
    from hdversion.ops.backup import backup as backup
    from hdversion.ops.best import BestResult as BestResult
    from hdversion.ops.best import best as best
    from hdversion.ops.browse import FileListing as FileListing
    from hdversion.ops.browse import FindResult as FindResult
    from hdversion.ops.browse import FoundFile as FoundFile
    from hdversion.ops.browse import GetResult as GetResult
    from hdversion.ops.browse import VerifiedFile as VerifiedFile
    from hdversion.ops.browse import find_files as find_files
    from hdversion.ops.browse import get as get
    from hdversion.ops.browse import list_files as list_files
    from hdversion.ops.browse import open as open
    from hdversion.ops.browse import read as read
    from hdversion.ops.copy import CopyReport as CopyReport
    from hdversion.ops.copy import copy as copy
    from hdversion.ops.export import ExportResult as ExportResult
    from hdversion.ops.export import export as export
    from hdversion.ops.import_archive import ImportResult as ImportResult
    from hdversion.ops.import_archive import import_archive as import_archive
    from hdversion.ops.inspect import DiffResult as DiffResult
    from hdversion.ops.inspect import ShowResult as ShowResult
    from hdversion.ops.inspect import diff as diff
    from hdversion.ops.inspect import show as show
    from hdversion.ops.keys import KeyInfo as KeyInfo
    from hdversion.ops.keys import KeyList as KeyList
    from hdversion.ops.keys import KeyResult as KeyResult
    from hdversion.ops.keys import key_add as key_add
    from hdversion.ops.keys import key_init as key_init
    from hdversion.ops.keys import key_list as key_list
    from hdversion.ops.keys import key_remove as key_remove
    from hdversion.ops.listing import BackupList as BackupList
    from hdversion.ops.listing import ListOutput as ListOutput
    from hdversion.ops.listing import RenderedList as RenderedList
    from hdversion.ops.listing import list_backups as list_backups
    from hdversion.ops.listing import list_metric as list_metric
    from hdversion.ops.listing import list_output as list_output
    from hdversion.ops.listing import list_rendered as list_rendered
    from hdversion.ops.pins import PinResult as PinResult
    from hdversion.ops.pins import pin as pin
    from hdversion.ops.pins import unpin as unpin
    from hdversion.ops.prune import PruneResult as PruneResult
    from hdversion.ops.prune import prune as prune
    from hdversion.ops.remote_recovery import BucketCatalog as BucketCatalog
    from hdversion.ops.remote_recovery import BucketRestoreResult as BucketRestoreResult
    from hdversion.ops.remote_recovery import list_bucket as list_bucket
    from hdversion.ops.remote_recovery import restore_from_bucket as restore_from_bucket
    from hdversion.ops.remotes import ProbeReport as ProbeReport
    from hdversion.ops.remotes import remote_add as remote_add
    from hdversion.ops.remotes import remote_list as remote_list
    from hdversion.ops.remotes import remote_test as remote_test
    from hdversion.ops.report import BackupRow as BackupRow
    from hdversion.ops.report import ReportData as ReportData
    from hdversion.ops.report import ReportResult as ReportResult
    from hdversion.ops.report import report as report
    from hdversion.ops.restore import FileReport as FileReport
    from hdversion.ops.restore import RestoreResult as RestoreResult
    from hdversion.ops.restore import restore as restore
    from hdversion.ops.schedule import ScheduleResult as ScheduleResult
    from hdversion.ops.schedule import schedule as schedule
    from hdversion.ops.status import StatusResult as StatusResult
    from hdversion.ops.status import status as status
    from hdversion.ops.sync import SyncReport as SyncReport
    from hdversion.ops.sync import sync as sync
    from hdversion.ops.undelete import DeletedBackup as DeletedBackup
    from hdversion.ops.undelete import UndeleteResult as UndeleteResult
    from hdversion.ops.undelete import list_deleted as list_deleted
    from hdversion.ops.undelete import undelete as undelete
    from hdversion.ops.verify import VerifyResult as VerifyResult
    from hdversion.ops.verify import verify as verify
    from hdversion.util.progress import Reporter as Reporter

# Name -> its module under hdversion.ops, or a dotted module (the records and the errors)
# (tests/test_cli_registry.py checks that this and the imports above name the same things).
_HOME = {
    "add": "add", "AddResult": "add",
    "alias_set": "aliases", "alias_rm": "aliases", "alias_list": "aliases",
    "alias_history": "aliases", "AliasResult": "aliases", "AliasList": "aliases",
    "AliasHistory": "aliases",
    "auto": "auto", "AutoResult": "auto",
    "backup": "backup", "BackupResult": "backup",
    "best": "best", "BestResult": "best",
    "list_files": "browse", "open": "browse", "read": "browse", "get": "browse",
    "find_files": "browse", "FileListing": "browse", "VerifiedFile": "browse",
    "GetResult": "browse", "FindResult": "browse", "FoundFile": "browse",
    "list_bucket": "remote_recovery", "restore_from_bucket": "remote_recovery",
    "BucketCatalog": "remote_recovery", "BucketRestoreResult": "remote_recovery",
    "copy": "copy", "CopyReport": "copy",
    "export": "export", "ExportResult": "export",
    "import_archive": "import_archive", "ImportResult": "import_archive",
    "diff": "inspect", "show": "inspect", "DiffResult": "inspect", "ShowResult": "inspect",
    "list_backups": "listing", "BackupList": "listing",
    "list_rendered": "listing", "list_metric": "listing", "RenderedList": "listing",
    "list_output": "listing", "ListOutput": "listing",
    "pin": "pins", "unpin": "pins", "PinResult": "pins",
    "prune": "prune", "PruneResult": "prune",
    "key_init": "keys", "key_add": "keys", "key_list": "keys", "key_remove": "keys",
    "KeyInfo": "keys", "KeyList": "keys", "KeyResult": "keys",
    "remote_add": "remotes", "remote_list": "remotes", "remote_test": "remotes",
    "ProbeReport": "remotes",
    "report": "report", "BackupRow": "report", "ReportData": "report",
    "ReportResult": "report",
    "restore": "restore", "RestoreResult": "restore", "FileReport": "restore",
    "schedule": "schedule", "ScheduleResult": "schedule",
    "status": "status", "StatusResult": "status",
    "sync": "sync", "SyncReport": "sync",
    "undelete": "undelete", "list_deleted": "undelete", "DeletedBackup": "undelete",
    "UndeleteResult": "undelete",
    "verify": "verify", "VerifyResult": "verify",
}

# The exception tree (each class's `exit_code` is the CLI's exit code) and the plain records
# arguments and results are made of.
_HOME.update(dict.fromkeys((
    "AliasMovedError", "BackupNotFoundError", "ChangedDuringBackupError", "ConfigurationError",
    "DamagedObjectError", "DamagedPointerFileError", "DataStoreError",
    "DeletionRefusedError", "ExitCode", "GitError", "HdversionError",
    "InterruptedAfterBackupError", "KeyUnavailableError", "LockedError", "ManifestError",
    "MissingArtifactError", "NoSuchFileError", "NotARepositoryError", "PartialError",
    "RemoteError", "StaleBackupError", "TamperedError", "UnsafePathError", "UsageError",
    "VerificationError", "WriteError"
), "hdversion.errors"))
_HOME.update({"Backup": "hdversion.model.catalog", "Catalog": "hdversion.model.catalog",
              "Duration": "hdversion.model.durations", "Pin": "hdversion.model.pins",
              "Policy": "hdversion.model.retention", "RemoteInfo": "hdversion.model.storages",
              "Reporter": "hdversion.util.progress"})

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = home if "." in home else f"hdversion.ops.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
