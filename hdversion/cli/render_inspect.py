"""Rendering `show`, `diff` and `status`: rich text for people, one JSON line for machines.
Everything read from tags, file lists and remotes is escaped: never rich markup."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from hdversion.api import DiffResult, ShowResult, StatusResult
from hdversion.cli.render import age, backup_record, console, human_size, new_table
from hdversion.model.compare import MetricDelta, flatten_files
from hdversion.model.manifest import FileEntry


def _value(value: Any) -> str:
    return escape(str(value))


def _size(size: int | None) -> str:
    return "-" if size is None else human_size(size)


# show

def show_summary(result: ShowResult) -> None:
    backup, manifest = result.backup, result.backup.manifest
    kind = "[yellow]safety backup[/]" if manifest.kind == "safety" else "backup"
    console.print(f"[bold]{escape(backup.tag)}[/]  {kind}")
    if result.pin is not None:
        reason = f": {escape(result.pin.reason)}" if result.pin.reason else ""
        console.print(f"[cyan]pinned{reason}[/]")
    lines = [
        ("message", escape(manifest.message) or "-"),
        ("created", f"{escape(manifest.created_at)} ({age(manifest.created_at)} ago)"),
        ("host", escape(manifest.host)),
        ("user", escape(manifest.user)),
        ("base commit", escape(manifest.base_commit or "-")
         + (f" (branch {escape(manifest.branch)})" if manifest.branch else "")),
        ("backup commit", escape(backup.commit)),
        ("versions", f"hdversion {escape(manifest.hdversion_version)}, "
                     f"DVC {escape(manifest.dvc_version)}"),
        ("totals", f"{manifest.total_files} file(s), {human_size(manifest.total_size)}"),
    ]
    if manifest.missing:
        lines.append(("missing", "[red]" + escape(", ".join(manifest.missing)) + "[/]"))
    for label, text in lines:
        console.print(f"{label + ':':<15}{text}")
    console.print(files_table(result))
    for title, data in (("metrics", manifest.metrics), ("params", manifest.params)):
        flat, _ = flatten_files(data, {})
        console.print(f"[bold]{title}:[/]" + ("" if flat else " -"))
        for key, value in flat.items():
            console.print(f"  {escape(key)} = {_value(value)}")
    if result.remotes:
        console.print("[bold]remotes:[/]")
        for holding in result.remotes:
            state = _holding(holding.error, holding.lacking.get(backup.tag))
            console.print(f"  {escape(holding.remote)}: {state}")


def _holding(error: str | None, lacking: int | None) -> str:
    if error is not None:
        return f"[red]unreachable: {escape(error)}[/]"
    if lacking == 0:
        return "[green]complete[/]"
    return f"[red]incomplete, {lacking} object(s) missing[/]"


def files_table(result: ShowResult) -> Table:
    """Files grouped by DVC output; files that belong to no output (the critical git-tracked
    files, pointer files) last."""
    table = new_table(f"{len(result.files)} file(s)")
    # Paths whole (a user copies them into `restore --only`); the md5 shortened, as git
    # shortens a commit, so that both fit 80 columns (`--json` has every md5 whole).
    table.add_column("path", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("md5", no_wrap=True)
    left = list(result.files)
    for output in result.backup.manifest.outputs:
        members = sorted((f for f in left if output.holds(f.path)), key=lambda f: f.path)
        left = [f for f in left if not output.holds(f.path)]
        store = " (in git)" if output.store == "git" else ""
        if output.is_dir or len(members) != 1 or members[0].path != output.path:
            table.add_row(f"[bold]{escape(output.path)}/[/]{store}", human_size(output.size),
                          _short(output.md5))
            for member in members:
                table.add_row("  " + escape(member.path.removeprefix(output.path + "/")),
                              human_size(member.size), _short(member.md5))
        else:
            table.add_row(f"[bold]{escape(output.path)}[/]{store}", human_size(output.size),
                          _short(output.md5))
    if left:
        table.add_section()
        table.add_row("[dim]other files (kept in git)[/]" if result.backup.manifest.outputs
                      else "[dim]files[/]", "", "")
        for entry in left:
            table.add_row(escape(entry.path), human_size(entry.size), _short(entry.md5))
    return table


SHORT_MD5 = 12


def _short(md5: str) -> str:
    return escape(md5[:SHORT_MD5])


def show_json(result: ShowResult) -> dict[str, Any]:
    record = backup_record(result.backup, result.pin)
    record["files"] = [_file(f) for f in result.files]
    record["remotes"] = [
        {"remote": h.remote, "reachable": h.reachable, "error": h.error,
         "missing_objects": h.lacking.get(result.backup.tag) if h.reachable else None,
         "complete": h.complete(result.backup.tag) if h.reachable else None}
        for h in result.remotes]
    return record


def _file(entry: FileEntry) -> dict[str, Any]:
    return {"path": entry.path, "md5": entry.md5, "size": entry.size, "store": entry.store}


# diff

def diff_summary(result: DiffResult, title: bool = True, every: bool = False) -> None:
    """Files, params and metrics that changed; `every` also the params and metrics that did
    not (a line counts them otherwise)."""
    comparison = result.comparison
    new = "the workspace" if result.new is None else escape(result.new.tag)
    if title:
        console.print(f"[bold]{escape(result.old.tag)} → {new}[/]")
    if comparison.unchanged:
        console.print("no differences")
    if comparison.files:
        counts = {c: sum(1 for f in comparison.files if f.change == c)
                  for c in ("changed", "added", "removed")}
        console.print("[bold]artifacts:[/] " + ", ".join(f"{n} {c}" for c, n in counts.items()
                                                        if n))
        for change in comparison.files:
            colour = {"added": "green", "removed": "red", "changed": "yellow"}[change.change]
            sizes = (_size(change.new_size) if change.change == "added" else
                     _size(change.old_size) if change.change == "removed" else
                     f"{_size(change.old_size)} → {_size(change.new_size)}")
            console.print(f"  [{colour}]{change.change:<8}[/] {escape(change.path)}  {sizes}")
    same_params = comparison.same_params if every else ()
    if comparison.params or same_params:
        console.print("[bold]params:[/]")
        lines = [(p.key, f"{_value(p.old)} → {_value(p.new)}" if p.change == "changed"
                  else f"{p.change}: " + _value(p.new if p.change == "added" else p.old))
                 for p in comparison.params]
        lines += [(key, _value(value)) for key, value in same_params]
        for key, text in sorted(lines):
            console.print(f"  {escape(key)}  {text}")
    metrics = [m for m in comparison.metrics if every or m.old != m.new]
    if metrics:
        console.print("[bold]metrics:[/]")
        for metric in metrics:
            console.print(f"  {escape(metric.key)}  {metric_text(metric)}")
    hidden = _hidden(0 if every else len(comparison.same_params),
                     len(comparison.metrics) - len(metrics))
    if hidden:
        console.print(f"[dim]{hidden} unchanged (--all to show)[/]")
    if result.missing:
        console.print(f"[red]missing in {new}:[/] " + escape(", ".join(result.missing)))


def _hidden(params: int, metrics: int) -> str:
    """`3 params and 14 metrics`, `1 metric`, or '' when nothing was left out."""
    return " and ".join(f"{n} {what}{'s' if n > 1 else ''}"
                        for n, what in ((params, "param"), (metrics, "metric")) if n)


def metric_text(metric: MetricDelta) -> str:
    """`0.951 → 0.970 (+0.019)`; a side without the metric is `-`."""
    old = "-" if metric.old is None else _value(metric.old)
    new = "-" if metric.new is None else _value(metric.new)
    delta = metric.delta
    if delta is None:
        return f"{old} → {new}"
    return f"{old} → {new} ({delta:+.4g})"


def diff_json(result: DiffResult) -> dict[str, Any]:
    comparison = result.comparison
    return {
        "old": result.old.tag,
        "new": "workspace" if result.new is None else result.new.tag,
        "unchanged": comparison.unchanged,
        "files": [{"path": f.path, "change": f.change, "old_size": f.old_size,
                   "new_size": f.new_size} for f in comparison.files],
        "params": [{"key": p.key, "change": p.change,
                    "old": None if p.change == "added" else p.old,
                    "new": None if p.change == "removed" else p.new}
                   for p in comparison.params],
        "metrics": [{"key": m.key, "old": m.old, "new": m.new, "delta": m.delta}
                    for m in comparison.metrics],
        "missing": list(result.missing),
    }


# status

def status_summary(result: StatusResult, every: bool = False) -> None:
    if result.latest is None:
        console.print("[red]no backups yet[/] (hdversion backup makes one)")
    else:
        latest = result.latest
        console.print(f"[bold]latest backup:[/] {escape(latest.tag)} "
                      f"({age(latest.manifest.created_at)} ago)")
    changes = result.changes
    if changes is not None and (changes.comparison.files or changes.comparison.params):
        console.print("[bold]since the latest backup:[/]")
        diff_summary(changes, title=False, every=every)  # names the missing artifacts too
    else:
        if changes is not None:
            console.print("no changes since the latest backup")
        if result.missing:
            console.print("[red]missing artifacts:[/] " + escape(", ".join(result.missing)))
    console.print("[bold]remotes:[/]")
    for remote in result.remotes:
        role = "required" if remote.required else "optional"
        if not remote.checked:
            state = "[dim]not checked (--offline)[/]"
        elif remote.error is not None:
            state = f"[red]unreachable: {escape(remote.error)}[/]"
        else:
            state = ("latest complete: " + escape(remote.latest_complete)
                     if remote.latest_complete else "[red]no complete backup[/]")
        console.print(f"  {escape(remote.remote)} ({role}): {state}")
    newest = result.newest_complete
    line = (f"[bold]newest complete backup:[/] {escape(newest.tag)} "
            f"({age(newest.manifest.created_at)} ago)" if newest else
            "[bold]newest complete backup:[/] [red]none[/]")
    if result.max_age is not None:
        line += (f"  [red]STALE (older than {result.max_age})[/]" if result.stale else
                 f"  [green]OK (within {result.max_age})[/]")
    console.print(line)
    if note := result.copies.note():
        console.print(f"[yellow]{escape(note)}[/]")


def status_json(result: StatusResult) -> dict[str, Any]:
    return {
        "now": result.now.isoformat(timespec="seconds"),
        "latest": result.latest.tag if result.latest else None,
        "changes": diff_json(result.changes) if result.changes else None,
        "missing": list(result.missing),
        "remotes": [{"remote": r.remote, "required": r.required, "checked": r.checked,
                     "reachable": None if not r.checked else r.error is None,
                     "error": r.error, "latest_complete": r.latest_complete}
                    for r in result.remotes],
        "newest_complete": result.newest_complete.tag if result.newest_complete else None,
        "max_age": str(result.max_age) if result.max_age else None,
        "stale": result.stale,
        "offline": result.offline,
        "offsite": result.copies.offsite,  # null: an offsite remote could not be asked
        "require_offsite": result.require_offsite,
    }

