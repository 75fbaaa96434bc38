"""The Python API: one function per command, each opening the project at `path` (default:
the current directory), holding the repository lock where it writes, and journaling its
outcome. The CLI calls these and renders the results; programs and notebooks can too."""

from hdversion.ops.auto import AutoResult, auto
from hdversion.ops.backup import BackupResult, backup
from hdversion.ops.bucket_recovery import (
    BucketCatalog,
    BucketRestoreResult,
    list_bucket,
    restore_from_bucket,
)
from hdversion.ops.copy import CopyReport, copy
from hdversion.ops.export import ExportResult, export
from hdversion.ops.import_archive import ImportResult, import_archive
from hdversion.ops.inspect import DiffResult, ShowResult, diff, show
from hdversion.ops.listing import list_backups
from hdversion.ops.pins import PinResult, pin, unpin
from hdversion.ops.prune import PruneResult, prune
from hdversion.ops.remotes import ProbeReport, remote_add, remote_list, remote_test
from hdversion.ops.report import BackupRow, ReportData, ReportResult, report
from hdversion.ops.restore import FileReport, RestoreResult, restore
from hdversion.ops.schedule import ScheduleResult, schedule
from hdversion.ops.status import StatusResult, status
from hdversion.ops.sync import SyncReport, sync
from hdversion.ops.verify import VerifyResult, verify

__all__ = [
    "AutoResult", "BackupResult", "BackupRow", "BucketCatalog", "BucketRestoreResult",
    "CopyReport", "DiffResult", "ExportResult", "FileReport", "ImportResult", "PinResult",
    "ProbeReport",
    "PruneResult", "ReportData", "ReportResult", "RestoreResult", "ScheduleResult",
    "ShowResult", "StatusResult", "SyncReport", "VerifyResult",
    "auto", "backup", "copy", "diff", "export", "import_archive", "list_backups",
    "list_bucket", "pin", "prune", "remote_add", "remote_list", "remote_test", "report",
    "restore", "restore_from_bucket", "schedule", "show", "status", "sync", "unpin", "verify",
]
