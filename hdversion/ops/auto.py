"""Unattended runs: back up, then apply the retention policy, under one lock, reported as
one outcome (one journal line, one hook event, the worse exit code of the two steps)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hdversion.errors import HdversionError, InterruptedAfterBackupError
from hdversion.model.durations import Duration
from hdversion.model.retention import Policy
from hdversion.ops.backup import BackupResult, configured_remotes, create_backup
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project
from hdversion.ops.prune import DEFAULT_GRACE, PruneResult, prune_project, resolve_policy
from hdversion.util.clock import now_utc


@dataclass
class AutoResult:
    backup: BackupResult | None  # None: the backup failed (`backup_error`), no prune ran
    prune: PruneResult | None  # None: it failed (`prune_error`) or did not run
    backup_error: HdversionError | None = None
    prune_error: HdversionError | None = None

    def failure(self) -> HdversionError | None:
        """The worse of the two steps' failures: a partial backup (exit 3) counts less than
        any other failure."""
        found = [f for f in (self.backup_error,
                             self.backup.failure() if self.backup else None,
                             self.prune_error,
                             self.prune.failure() if self.prune else None) if f is not None]
        if not found:
            return None
        return max(found, key=lambda f: 0 if int(f.exit_code) == 3 else 1)


def auto(
    *,
    repo: Path | None = None,
    message: str = "",
    remotes: tuple[str, ...] | None = None,
    policy: Policy | None = None,
    safety_within: Duration | None = None,
    fetch_tags: bool = True,
    grace: Duration = DEFAULT_GRACE,
    wait: float = 0,
    require_cloud: bool = False,
    skip_if_unchanged: bool = True,
    config: Path | None = None,
    keep_deleted_within: Duration | None = None,
) -> AutoResult:
    """Back up, then prune with the policy (default: the settings' `retention:`, else keep
    the last 5) in the local stores and in the first cloud remote. A backup that fails
    stops the run before any prune; a partial one (a remote failed) is still pruned after.
    `remotes` (cloud remotes) None: the settings' `backup.remotes`; each is pruned too.
    `skip_if_unchanged`: no backup when the newest one holds this state; the prune runs all
    the same (a policy changed since, or a backup aged out of --keep-within).
    `keep_deleted_within`: the undelete window (default: the settings', else 7 days)."""
    project = Project.open(repo, config=config)
    cloud_remotes = configured_remotes(project, remotes, require_cloud)
    chosen = resolve_policy(project, policy, safety_within)
    with locked_operation(project, "auto", wait, message=message):
        result = AutoResult(None, None)
        try:
            result.backup = create_backup(project, message or "auto",
                                          cloud_remotes=cloud_remotes,
                                          skip_if_unchanged=skip_if_unchanged,
                                          fetch_tags=fetch_tags, wait=wait)
        except HdversionError as exc:
            result.backup_error = exc
        if result.backup is not None:
            try:
                # The first run removes the tags and sweeps the local stores; each further
                # remote is then swept of what nothing keeps.
                for remote in cloud_remotes or (None,):
                    pruned = prune_project(project, chosen, remote, dry_run=False,
                                           fetch_tags=fetch_tags, grace=grace,
                                           allow_incomplete=False, now=now_utc(),
                                           from_settings=policy is None,
                                           keep_deleted_within=keep_deleted_within)
                    if result.prune is None:
                        result.prune = pruned
                    else:
                        result.prune.stores += [s for s in pruned.stores
                                                if s.store.name == remote]
            except HdversionError as exc:
                result.prune_error = exc
            except KeyboardInterrupt:
                # Prune resumes where it stopped; the backup must still be named.
                tag = result.backup.backup.tag
                raise InterruptedAfterBackupError(
                    f"interrupted while pruning (no backup made: unchanged since {tag})"
                    if result.backup.skipped else
                    f"interrupted while pruning, after backup {tag} was made", tag,
                    hint="run `hdversion prune` with the same policy to finish the prune"
                    ) from None
        failure = result.failure()
        project.journal(
            "auto", "ok" if failure is None else
            ("partial" if int(failure.exit_code) == 3 else "error"),
            exit_code=0 if failure is None else int(failure.exit_code),
            error=failure.message if failure else None,
            tag=result.backup.backup.tag if result.backup else
            getattr(result.backup_error, "tag", None),
            skipped=bool(result.backup and result.backup.skipped),
            removed=result.prune.removed_tags if result.prune else [],
            policy=chosen.describe())
        return result
