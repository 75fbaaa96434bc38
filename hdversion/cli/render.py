"""Rendering results: rich tables for people, JSON for machines."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Re-exported: every command renders JSON through `render`; `list --json` imports records alone.
from hdversion.cli import verbosity
from hdversion.cli.records import backup_record as backup_record
from hdversion.cli.records import emit_json as emit_json
from hdversion.model.catalog import Catalog
from hdversion.model.pins import Pin
from hdversion.model.retention import metric_names, metric_value
from hdversion.model.storages import RemoteInfo
from hdversion.model.timestamps import tag_for
from hdversion.paths import DEFAULT_METRIC, QUARANTINE
from hdversion.util.clock import now_utc
from hdversion.util.redact import redact

if TYPE_CHECKING:
    from hdversion.api import (
        AutoResult,
        BackupResult,
        CopyReport,
        FileReport,
        PinResult,
        ProbeReport,
        PruneResult,
        RestoreResult,
        ScheduleResult,
        SyncReport,
        VerifyResult,
    )
    from hdversion.model.retention import Decision

# -q: what a person would read is not printed (errors and warnings still are, on stderr).
console = Console(highlight=False, quiet=verbosity.quiet())
# Bound to the real stderr: the DVC seam redirects sys.stderr while DVC runs.
err_console = Console(file=sys.stderr, highlight=False)


# Tables in a pipe or a file: ASCII rules under the header and between sections, no frame
# (restic's style), so `grep`, `awk '{print $1}'` and a mail read them. On a terminal, rich's
# default box. rich drops colour by itself where stdout is not a terminal.
PIPE_BOX = box.Box("    \n    \n -- \n    \n -- \n -- \n    \n    \n", ascii=True)


def new_table(title: str | None = None) -> Table:
    """Every table the CLI prints: framed on a terminal, plain ASCII elsewhere."""
    if console.is_terminal:
        return Table(title=title)
    return Table(title=title, box=PIPE_BOX, show_edge=False)



def warn(text: str) -> None:
    """A warning on stderr; the text (from tags, remotes) is never read as markup."""
    err_console.print(f"[yellow]warning:[/] {escape(text)}")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def age(created_at: str) -> str:
    try:
        seconds = (now_utc() - datetime.fromisoformat(created_at)).total_seconds()
    except ValueError:
        return "?"
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{int(seconds // length)}{unit}"
    return f"{int(max(seconds, 0))}s"


def catalog_table(catalog: Catalog, lacking: dict[str, int] | None = None,
                  remote: str | None = None, pins: dict[str, Pin] | None = None,
                  metric: str = DEFAULT_METRIC,
                  aliases: dict[str, list[str]] | None = None) -> Table:
    """The backups, newest first, with `metric` in a column when any of them records it, and
    each backup's aliases (tag -> names) before its message."""
    pins = pins or {}
    aliases = aliases or {}
    values = {b.tag: metric_value(b.manifest.metrics, metric) for b in catalog.backups}
    table = new_table(f"{len(catalog.backups)} backup(s), newest first")
    # The timestamp is what a user copies into restore/show: never cut, wrapped or folded.
    table.add_column("timestamp", no_wrap=True, min_width=len("YYYYMMDD_HHMMSS"))
    table.add_column("age", no_wrap=True)
    table.add_column("files", justify="right", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    if any(value is not None for value in values.values()):
        table.add_column(metric_header(metric), no_wrap=True)
    else:
        values = {}
    # The one column that gives way on a narrow screen: one line a backup, a long message
    # cut with an ellipsis (`show` has it whole).
    table.add_column("message")
    if lacking is not None:
        table.add_column(f"in {remote}", no_wrap=True)
    for backup in catalog.backups:
        # Tag messages come from the git remote: never markup.
        message = escape(backup.manifest.message)
        if backup.manifest.kind == "safety":
            message = f"[yellow]safety[/] {message}"
        if backup.manifest.missing:
            message += f" [red]({len(backup.manifest.missing)} missing)[/]"
        if backup.tag in pins:
            reason = pins[backup.tag].reason
            message = f"[cyan]pinned{': ' + escape(reason) if reason else ''}[/] {message}"
        if backup.tag in aliases:
            named = " ".join(f"@{name}" for name in aliases[backup.tag])  # MLflow's notation
            message = f"[bold magenta]{escape(named)}[/] {message}"
        row: list[str | Text] = [backup.timestamp, age(backup.manifest.created_at),
               str(backup.manifest.total_files), human_size(backup.manifest.total_size)]
        if values:
            value = values[backup.tag]
            row.append("-" if value is None else f"{value:.4g}")
        line = Text.from_markup(message, overflow="ellipsis")
        line.no_wrap = True
        row.append(line)
        if lacking is not None:
            missing = lacking[backup.tag]
            row.append("[green]complete[/]" if not missing else f"[red]{missing} missing[/]")
        table.add_row(*row)
    return table


def metric_header(metric: str) -> str:
    """A metric's column header: its last name (`roc_auc` of `ensemble.roc_auc`), which
    leaves the message room at 80 columns."""
    return metric.removeprefix("-").rpartition(":")[2].rpartition(".")[2] or metric


def list_summary(catalog: Catalog, lacking: dict[str, int] | None, remote: str | None,
                 pins: dict[str, Pin], metric: str, chosen: bool,
                 aliases: dict[str, list[str]] | None = None) -> None:
    """`list`'s table; a metric `chosen` by --metric that no listed backup records is said
    so on stderr (a typo, most likely), with the names they do record."""
    console.print(catalog_table(catalog, lacking, remote, pins, metric, aliases))
    manifests = [b.manifest.metrics for b in catalog.backups]
    if chosen and manifests and all(metric_value(m, metric) is None for m in manifests):
        names = metric_names(manifests)
        warn(f"no listed backup records the metric {metric!r}"
             + (f"; they record: {', '.join(names[:6])}" if names else ""))


def backup_summary(result: BackupResult) -> None:
    for pointer in result.added:
        console.print(f"added: {escape(pointer)} (commit it with git)")
    if result.skipped:
        console.print(f"unchanged since {result.backup.tag}: no backup made")
        return
    manifest = result.backup.manifest
    console.print(
        f"[green]backup {result.backup.tag}[/] {manifest.total_files} files, "
        f"{human_size(manifest.total_size)}"
        + (f", [red]missing: {', '.join(manifest.missing)}[/]" if manifest.missing else "")
    )
    for outcome in result.remotes:
        colour = "green" if outcome.ok else "red"
        status = "ok" if outcome.ok else f"FAILED: {outcome.detail}"
        console.print(f"  remote {outcome.name}: [{colour}]{status}[/]")
    if result.git_remote is not None:
        colour = "green" if result.git_remote.ok else "yellow"
        detail = result.git_remote.detail or ("pushed" if result.git_remote.ok else "")
        where = f" to {result.git_remote.name}" if result.git_remote.name else ""
        console.print(f"  git tag{where}: [{colour}]{detail}[/]")
    if note := result.copies.note():
        console.print(f"[yellow]{escape(note)}[/]")


def backup_json(result: BackupResult) -> dict[str, Any]:
    return {
        **backup_record(result.backup),
        "files": [vars(f) for f in result.files],
        # skipped: `tag` is the newest backup, which already holds this state.
        "ok": result.failure() is None,
        "skipped": result.skipped,
        "complete": result.complete,
        "remotes": [vars(r) for r in result.remotes],
        "manifests": [vars(r) for r in result.manifests],
        "git_remote": vars(result.git_remote) if result.git_remote else None,
        "offsite": result.copies.offsite,  # null: an offsite remote could not be asked
        "added": list(result.added),  # pointer files `--add` wrote
    }


def restore_summary(result: RestoreResult, verbose: bool = False) -> None:
    """What a restore did: one line that counts every file, then the files it changed (or
    would change); `verbose` lists the unchanged ones too."""
    if result.latest:
        console.print(f"restoring the latest backup, {result.backup.tag} "
                      f"({age(result.backup.manifest.created_at)} old)")
    if result.safety_backup:
        console.print(
            f"[yellow]unsaved changes were backed up first as {result.safety_backup.tag}[/]"
        )
    if result.would_make_safety_backup:
        console.print("[yellow]unsaved changes would be backed up first in a safety backup[/]")
    if result.quarantined:
        console.print(
            f"[yellow]{len(result.quarantined)} corrupt cache object(s) moved to "
            f"{QUARANTINE}/ and fetched again: {', '.join(result.quarantined)}[/]"
        )
    for name, count in result.fetched_from.items():
        console.print(f"{count} object(s) fetched from remote '{escape(name)}'")
    for name, why in result.unusable_remotes.items():
        err_console.print(f"[yellow]warning:[/] remote '{escape(name)}' skipped: {escape(why)}")
    verb = "would restore" if result.dry_run else "restored"
    unchanged = sum(1 for f in result.files if f.action == "unchanged")
    console.print(escape(f"{verb} {result.backup.tag} into {result.target}"))
    table = restore_table(result, every=verbose, titled=False)
    if table.row_count:
        console.print(table)
    console.print(restore_counts(result)
                  + (" (-v lists every file)" if unchanged and not verbose else ""))


# Each action of a restore as its summary line counts it, in this order; restored (or to
# restore) and unchanged are always counted, the others where there are some.
_COUNTED = {"restored": "restored", "would restore": "to restore", "removed": "removed",
            "would remove": "to remove", "extra, kept": "extra kept", "unchanged": "unchanged"}


def restore_counts(result: RestoreResult) -> str:
    """`1 restored, 14 unchanged`; a dry run: `1 to restore, 14 unchanged`."""
    counts = Counter(f.action for f in result.files)
    always = {"would restore" if result.dry_run else "restored", "unchanged"}
    return ", ".join(f"{counts[action]} {label}" for action, label in _COUNTED.items()
                     if counts[action] or action in always)


def restore_table(result: RestoreResult, source: str = "", every: bool = True,
                  titled: bool = True) -> Table:
    """The files of a restore (or an import, from `source`); without `every`, only those it
    changed or would change. Every path escaped, as paths come from tags, manifests and
    archives."""
    verb = ("would " if result.dry_run else "") + ("import" if source else "restore")
    verb += "d" if not result.dry_run else ""
    table = new_table(escape(f"{verb} {result.backup.tag}"
                             + (f" from {source}" if source else "")
                             + f" into {result.target}") if titled else None)
    for column in ("file", "size", "action", "verified"):
        table.add_column(column)
    listed = [f for f in result.files if every or f.action != "unchanged"]
    for path, count, size, action, verified in _grouped_rows(listed):
        shown = escape(path) + (f" ({count:,} files)" if count > 1 else "")
        mark = {None: "-", True: "[green]ok[/]", False: "[red]MISMATCH[/]"}[verified]
        table.add_row(shown, human_size(size), action, mark)
    return table


# More files than this in one folder, alike in action and verdict, make one row: a directory
# output of 10,000 files is a line, not a screenfuls (`--json` keeps every file).
GROUP_OVER = 10


def _grouped_rows(files: list[FileReport]) -> list[tuple[str, int, int, str, bool | None]]:
    groups: dict[tuple[str, str, bool | None], list[FileReport]] = {}
    for report in files:
        folder = report.path.rpartition("/")[0]
        groups.setdefault((folder, report.action, report.verified), []).append(report)
    rows: list[tuple[str, int, int, str, bool | None]] = []
    for report in files:
        folder = report.path.rpartition("/")[0]
        members = groups.get((folder, report.action, report.verified))
        if members is None:
            continue  # already shown as a group
        if len(members) > GROUP_OVER and report.verified is not False:
            del groups[(folder, report.action, report.verified)]
            rows.append((folder + "/", len(members), sum(m.size for m in members),
                         report.action, report.verified))
        else:
            rows.append((report.path, 1, report.size, report.action, report.verified))
    return rows


def restore_json(result: RestoreResult) -> dict[str, Any]:
    return {
        "tag": result.backup.tag,
        "timestamp": result.backup.timestamp,
        "target": str(result.target),
        "dry_run": result.dry_run,
        "latest": result.latest,
        # A dry run verifies nothing: it says so rather than claiming success.
        "verified": None if result.dry_run else result.all_verified,
        "safety_backup": result.safety_backup.tag if result.safety_backup else None,
        "would_make_safety_backup": result.would_make_safety_backup,
        "quarantined_objects": result.quarantined,
        "fetched_from": result.fetched_from,
        "unusable_remotes": result.unusable_remotes,
        "files": [vars(f) for f in result.files],
    }


def sync_summary(report: SyncReport) -> None:
    console.print(f"{len(report.already_complete)} backup(s) already complete in "
                  f"{report.remote}")
    for tag, outcome in report.pushed.items():
        status = "[green]pushed[/]" if outcome.ok else f"[red]FAILED: {outcome.detail}[/]"
        console.print(f"  {tag}: {status}")
    for tag, outcome in report.manifests.items():
        status = "[green]written[/]" if outcome.ok else f"[red]FAILED: {escape(outcome.detail)}[/]"
        console.print(f"  manifest of {tag}: {status}")
    console.print(f"  git tags to {report.git_remote.name}: {report.git_remote.detail}")


def sync_json(report: SyncReport) -> dict[str, Any]:
    return {"remote": report.remote, "ok": report.ok,
            "already_complete": report.already_complete,
            "pushed": {tag: vars(o) for tag, o in report.pushed.items()},
            "manifests": {tag: vars(o) for tag, o in report.manifests.items()},
            "aliases": vars(report.aliases) if report.aliases else None,
            "git_remote": vars(report.git_remote)}


def remotes_table(infos: list[RemoteInfo]) -> Table:
    table = new_table("DVC remotes")
    for column in ("name", "url", "type", "default", "verify"):
        # A URL folds onto more lines rather than lose its end: it is what the user checks.
        table.add_column(column, overflow="fold" if column == "url" else "ellipsis")
    for info in infos:
        table.add_row(info.name, info.url, info.scheme, "yes" if info.default else "",
                      "on" if info.verify else "off")
    return table


def probe_summary(report: ProbeReport) -> None:
    for step, ok, detail in report.steps:
        console.print(f"  {step}: " + ("[green]ok[/]" if ok else "[red]FAILED[/]")
                      + (f" {escape(detail)}" if detail else ""))
    if report.lock is not None:
        for fact in report.lock.lines():
            console.print(f"  {escape(fact)}")
    elif report.lock_error:
        console.print(f"  object lock: [yellow]unknown[/] {escape(report.lock_error)}")
    if report.at_rest is not None:
        for fact in report.at_rest.lines():
            console.print(f"  {escape(fact)}")
    elif report.at_rest_error:
        console.print(f"  encryption at rest: [yellow]unknown[/] "
                      f"{escape(report.at_rest_error)}")
    verdict = "[green]works[/]" if report.ok else "[red]does not work[/]"
    console.print(f"remote {report.remote} {verdict}")


def prune_table(result: PruneResult) -> Table:
    verb = "would remove" if result.dry_run else "removed"
    removed = len(result.plan.removed)
    table = new_table(f"{len(result.plan.decisions)} backup(s): keep "
                  f"{len(result.plan.kept)}, {verb} {removed} "
                  f"(policy: {escape(result.plan.policy.describe())})")
    metric = result.plan.policy.metric
    for column in ("timestamp", "age", *([metric.removeprefix("-")] if metric else []),
                   "decision", "reason"):
        table.add_column(column)
    gone = "[red]remove[/]" if result.dry_run else "[red]removed[/]"
    for run in _decision_runs(result.plan.decisions):
        first, last = run[0], run[-1]
        manifest = first.backup.manifest
        safety = " [yellow]safety[/]" if manifest.kind == "safety" else ""
        if len(run) == 1:
            row = [first.backup.timestamp + safety, age(manifest.created_at)]
            if metric:
                row.append("-" if first.metric is None else f"{first.metric:.4g}")
        else:
            row = [f"{last.backup.timestamp} .. {first.backup.timestamp}{safety} "
                   f"({len(run):,} backups)",
                   f"{age(last.backup.manifest.created_at)} .. {age(manifest.created_at)}"]
            if metric:
                row.append("..")
        row += ["[green]keep[/]" if first.keep else gone, escape("; ".join(first.reasons))]
        table.add_row(*row)
    return table


# rich lays a table out at about 0.1 ms a cell: 100,000 backups took minutes to draw. A long
# table shows runs of alike decisions as one row (--json lists every backup).
_LONG_TABLE, _RUN = 50, 10


def _decision_runs(decisions: list[Decision]) -> list[list[Decision]]:
    """The decisions one per row; in a table longer than _LONG_TABLE, each run of _RUN or
    more consecutive backups of one kind with the same decision and reasons as one row."""
    if len(decisions) <= _LONG_TABLE:
        return [[decision] for decision in decisions]
    runs: list[list[Decision]] = []
    for decision in decisions:
        key = (decision.keep, decision.backup.manifest.kind, tuple(decision.reasons))
        last = runs[-1] if runs else None
        if last and (last[0].keep, last[0].backup.manifest.kind,
                     tuple(last[0].reasons)) == key:
            last.append(decision)
        else:
            runs.append([decision])
    rows: list[list[Decision]] = []
    for run in runs:
        rows += [run] if len(run) >= _RUN else [[decision] for decision in run]
    return rows


def prune_summary(result: PruneResult) -> None:
    console.print(prune_table(result))
    for note in result.plan.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    verb = "would free" if result.dry_run else "freed"
    for sweep in result.stores:
        if sweep.skipped or sweep.busy:
            why = sweep.skipped or sweep.busy
            console.print(f"{sweep.store.name}: [yellow]not swept[/]: {escape(why)}")
            continue
        done = len(sweep.garbage) if result.dry_run else sweep.deleted
        line = (f"{sweep.store.name}: {verb} {human_size(sweep.bytes)} "
                f"({done} object(s))")
        if sweep.recent:
            line += f"; {sweep.recent} unused object(s) younger than the grace period kept"
        console.print(line)
        if sweep.locked:
            console.print(f"{sweep.store.name}: {len(sweep.locked)} object(s) locked "
                          f"{_until(sweep.locked_until)}, swept on a later run")
    if result.git_remote is not None and result.git_remote.ok and result.removed_tags:
        console.print(f"tags deleted on git remote {result.git_remote.name}")
    if result.removed_tags and not result.dry_run and not result.keep_deleted_within.is_zero:
        console.print(f"removed backups can be brought back for "
                      f"{result.keep_deleted_within}: `hdversion undelete T` "
                      "(`hdversion list --deleted`)")


def _until(moment: datetime | None) -> str:
    if moment is None:
        return "under a legal hold"
    return f"until {moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"


def prune_json(result: PruneResult) -> dict[str, Any]:
    return {
        "dry_run": result.dry_run,
        "policy": result.plan.policy.describe(),
        "now": result.plan.now.isoformat(timespec="seconds"),
        "backups": [{"tag": d.backup.tag, "timestamp": d.backup.timestamp,
                     "kind": d.backup.manifest.kind, "keep": d.keep,
                     "reasons": list(d.reasons), "metric": d.metric}
                    for d in result.plan.decisions],
        "removed": result.removed_tags,
        "notes": result.plan.notes,
        "warnings": result.warnings,
        "stores": [{"store": s.store.name, "url": s.store.url, "shared": s.store.shared,
                    "objects": len(s.garbage), "bytes": s.bytes, "deleted": s.deleted,
                    "kept_recent": s.recent, "skipped": s.skipped or None,
                    "locked": len(s.locked),
                    "locked_until": None if s.locked_until is None
                    else s.locked_until.astimezone(UTC).isoformat(timespec="seconds"),
                    "busy": s.busy or None}
                   for s in result.stores],
        "git_remote": None if result.git_remote is None else vars(result.git_remote),
        "incomplete": result.incomplete,
        "manifests_deleted": result.manifests_deleted,
        "keep_deleted_within": str(result.keep_deleted_within),
        "deleted_kept": result.deleted_kept,
        "tombstones_expired": result.tombstones_expired,
    }


def pin_summary(result: PinResult) -> None:
    tag = f"backup/{result.pin.timestamp}"
    if result.pinned:
        reason = f": {escape(result.pin.reason)}" if result.pin.reason else ""
        console.print(f"[cyan]pinned[/] {tag}{reason}")
    else:
        console.print(f"unpinned {tag}")


def pin_json(result: PinResult) -> dict[str, Any]:
    return {"tag": tag_for(result.pin.timestamp), "timestamp": result.pin.timestamp,
            "pinned": result.pinned,
            "reason": result.pin.reason, "git_remote": vars(result.git_remote)}


def auto_line(result: AutoResult) -> None:
    """One line, for a cron log: what was made and what was removed."""
    parts = []
    if result.backup is not None:
        manifest = result.backup.backup.manifest
        if result.backup.skipped:
            parts.append(f"unchanged since {result.backup.backup.tag}: no backup made")
        else:
            parts.append(f"backup {result.backup.backup.tag} ({manifest.total_files} "
                         f"files, {human_size(manifest.total_size)})")
    else:
        parts.append("no backup")
    if result.prune is not None:
        freed = sum(s.bytes for s in result.prune.stores if not s.skipped)
        parts.append(f"pruned {len(result.prune.removed_tags)} backup(s), "
                     f"freed {human_size(freed)}")
    failure = result.failure()
    # The reason in the line itself: cron mails and logs may keep stdout alone, and a
    # reader of both streams should not have to match a stderr line to it.
    parts.append("ok" if failure is None else
                 f"exit {int(failure.exit_code)}: {_short(redact(failure.message))}")
    console.print(escape("; ".join(parts)), soft_wrap=True)


def _short(message: str, limit: int = 200) -> str:
    """A message's first line, cut to `limit` characters: one line stays one line."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[:limit - 1] + "…"


def auto_json(result: AutoResult) -> dict[str, Any]:
    failure = result.failure()
    return {
        "tag": result.backup.backup.tag if result.backup else None,
        "ok": failure is None,
        "skipped": bool(result.backup and result.backup.skipped),
        "backup": None if result.backup is None else {
            "complete": result.backup.complete,
            "remotes": [vars(r) for r in result.backup.remotes],
            "git_remote": vars(result.backup.git_remote) if result.backup.git_remote else None},
        "backup_error": result.backup_error.message if result.backup_error else None,
        "removed": result.prune.removed_tags if result.prune else [],
        "freed": {s.store.name: s.bytes for s in result.prune.stores if not s.skipped}
        if result.prune else {},
        "prune_error": result.prune_error.message if result.prune_error else None,
        "exit_code": 0 if failure is None else int(failure.exit_code),
        "error": failure.message if failure else None,
    }


def schedule_summary(result: ScheduleResult) -> None:
    if result.units:
        for name, content in result.units.items():
            if result.action == "printed":
                console.print(f"[bold]# {name}[/]\n{escape(content)}", soft_wrap=True)
        if result.action == "written":
            console.print(f"wrote {len(result.units)} unit(s) to {result.where}; enable them "
                          "with: systemctl --user daemon-reload && systemctl --user enable "
                          f"--now {' '.join(n for n in result.units if n.endswith('.timer'))}",
                          soft_wrap=True)
        elif result.action == "uninstalled":
            console.print(f"removed {len(result.units)} unit(s) from {result.where}")
        return
    if result.action == "uninstalled":
        console.print("removed this repository's lines from the crontab")
        return
    for line in result.lines:
        console.print(escape(line), soft_wrap=True, highlight=False)
    if result.action == "installed":
        err_console.print(f"installed in the crontab ({result.schedule.describe})")


def schedule_json(result: ScheduleResult) -> dict[str, Any]:
    return {"action": result.action, "schedule": result.schedule.describe,
            "lines": result.lines, "units": result.units, "where": result.where}


def copy_summary(report: CopyReport) -> None:
    for tag, outcome in report.copied.items():
        state = "[green]copied[/]" if outcome.ok else f"[red]FAILED[/]: {escape(outcome.detail)}"
        console.print(f"{tag}: {state}")
    for tag in report.damaged:
        console.print(f"{tag}: [red]no good copy to copy[/]")
    for tag, outcome in report.manifests.items():
        status = "[green]written[/]" if outcome.ok else f"[red]FAILED: {escape(outcome.detail)}[/]"
        console.print(f"manifest of {tag}: {status}")
    console.print(f"{len(report.copied)} backup(s) copied from {report.source} to "
                  f"{report.target}; {len(report.already)} were there already")


def copy_json(report: CopyReport) -> dict[str, Any]:
    # "from"/"to" as the options say: "target" is a folder everywhere else (restore, import)
    return {"from": report.source, "to": report.target, "already": report.already,
            "copied": {t: vars(o) for t, o in report.copied.items()},
            "manifests": {t: vars(o) for t, o in report.manifests.items()},
            "damaged": report.damaged}


def verify_summary(result: VerifyResult) -> None:
    if result.read_data:
        how = "read back and hashed"
        if result.subset is not None:
            how += f", subset {escape(result.subset.text)}"
            if result.seed is not None:
                how += f" (seed {result.seed}; repeat with --seed {result.seed})"
    else:
        how = "present at their size in the listing (--read-data hashes them)"
    console.print(f"remote '{escape(result.remote)}': {result.objects} object(s) {how}"
                  + (f"; {result.read} read, {human_size(result.bytes_read)}"
                     if result.read_data else ""))
    table = new_table("verified backups")
    for column in ("backup", "objects", "read", "verdict"):
        table.add_column(column, no_wrap=column == "backup", min_width=len("backup/") + 15
                         if column == "backup" else None)
    for check in result.checks:
        if check.error:
            verdict = f"[red]INVALID: {escape(check.error)}[/]"
        elif check.objects_ok and check.problems:
            verdict = f"[yellow]repaired {len(check.repaired)} object(s)[/]"
        elif check.problems:
            left = [p for p in check.problems if p.md5 not in check.repaired]
            missing = sum(1 for p in left if p.missing)
            verdict = f"[red]{missing} missing, {len(left) - missing} damaged[/]" + (
                f" ({len(check.repaired)} repaired)" if check.repaired else "")
        else:
            verdict = "[green]ok[/]" if check.manifest_ok else ""
        if check.manifest == "written":
            verdict += "; [yellow]manifest written[/]"
        elif not check.manifest_ok:
            verdict += ("; " if verdict else "") + "[red]no manifest[/]"
        table.add_row(check.backup.tag, str(check.objects),
                      str(check.read) if result.read_data else "-", verdict)
    console.print(table)
    for check in result.checks:
        for problem in check.problems:
            fixed = " [green](repaired)[/]" if problem.md5 in check.repaired else ""
            err_console.print(f"  {check.backup.tag}: {escape(', '.join(problem.paths))} "
                              f"({problem.md5}): {escape(problem.problem)}{fixed}")
        if not check.manifest_ok:
            err_console.print(f"  {check.backup.tag}: no manifest in remote "
                              f"'{escape(result.remote)}' ({escape(check.manifest)}): it "
                              "cannot list or restore this backup alone")


def verify_json(result: VerifyResult) -> dict[str, Any]:
    return {
        "remote": result.remote, "ok": result.ok, "read_data": result.read_data,
        "repair": result.repair,
        "subset": result.subset.text if result.subset else None, "seed": result.seed,
        "objects": result.objects, "read": result.read, "bytes_read": result.bytes_read,
        "backups": [{
            "tag": c.backup.tag, "ok": c.ok, "objects": c.objects, "read": c.read,
            "error": c.error, "manifest": c.manifest,
            "problems": [{"md5": p.md5, "paths": list(p.paths), "problem": p.problem,
                          "missing": p.missing, "repaired": p.md5 in c.repaired}
                         for p in c.problems],
        } for c in result.checks],
    }
