"""The report page as one self-contained HTML document: inline CSS, an SVG chart drawn here,
no script, no fetch of anything (a Content-Security-Policy forbids every source but inline
styles, so even a slip in escaping could not run a script or reach the network).

A pure function of the report's data. Every text that comes from a tag or a pin (messages,
hosts, users, branches, pin reasons, metric names, skipped tags) is untrusted: it goes
through `_e` (HTML-escaped, quotes included) and never into a URL or a style."""

from __future__ import annotations

import html
import math
from typing import Any

from rich.markup import escape

from hdversion.api import BackupRow, ReportData, ReportResult
from hdversion.cli.render import console, human_size
from hdversion.model.timestamps import parse_timestamp

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

# The chart's drawing box (SVG user units).
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 20, 50

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#1d2430;
  padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta,.note{color:#5a6472}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#f4f6f8;font-weight:600}
td.num{text-align:right;white-space:nowrap}
tr.safety{background:#fff8e6}tr.pinned td:first-child{border-left:4px solid #1b7fbf}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;font-weight:600}
.badge.safety{background:#f5b83d;color:#3d2a00}.badge.pin{background:#1b7fbf;color:#fff}
.badge.alias{background:#6b3fa0;color:#fff}
.badge.regular{background:#e3e6ea;color:#1d2430}
.complete{color:#1a7f37}.lacking{color:#c62828;font-weight:600}.unknown{color:#8a6d00}
.bar{height:6px;background:#7aa7d6;border-radius:3px;margin-top:3px}
.message{max-width:360px;overflow-wrap:anywhere}
ul.remotes li.down{color:#c62828}
svg text{font:12px system-ui,sans-serif;fill:#5a6472}
svg .axis{stroke:#9aa3ad}svg .grid{stroke:#eceff2}
svg .line{fill:none;stroke:#1b7fbf;stroke-width:2}
svg .point,svg .mark{fill:#1b7fbf;stroke:#fff;stroke-width:1.5}
svg .point.safety,svg .mark.safety{fill:#f5b83d}
svg .pin-ring{fill:none;stroke:#0d4f7a;stroke-width:2}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(data: ReportData) -> str:
    """The whole page for `data`."""
    title = f"Backups of {data.project}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} (hdversion)</title>",
        f"<style>{STYLE}</style></head><body>",
        f'<header><h1>{_e(title)}</h1><p class="meta">{len(data.backups)} backup(s), '
        f"newest first; generated {_e(data.generated_at)} by hdversion "
        f"{_e(data.hdversion_version)}</p></header>",
        _remotes(data),
        _chart(data),
        _timeline(data),
        _skipped(data),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _remotes(data: ReportData) -> str:
    items = []
    for remote in data.remotes:
        if remote.reachable:
            total = remote.complete + remote.incomplete
            state = f"{remote.complete} of {total} backup(s) complete"
            if remote.incomplete:
                state += f", <span class=\"lacking\">{remote.incomplete} incomplete</span>"
            items.append(f'<li class="remote up" data-remote="{_e(remote.name)}">'
                         f"<b>{_e(remote.name)}</b>: {state}</li>")
        else:
            items.append(f'<li class="remote down" data-remote="{_e(remote.name)}">'
                         f"<b>{_e(remote.name)}</b>: could not be read ({_e(remote.detail)});"
                         " what it holds is unknown</li>")
    return ('<section id="remotes"><h2>Remotes</h2><ul class="remotes">'
            + "".join(items) + "</ul></section>")


def _chart(data: ReportData) -> str:
    metric = data.metric.removeprefix("-")
    heading = f'<section id="chart"><h2>{_e(metric)} across backups</h2>'
    lacking = data.lacking_metric
    note = (f'<p class="note" id="metric-missing" data-count="{lacking}">'
            + (f"{lacking} of {len(data.backups)} backup(s) do not record {_e(metric)} and "
               "are not drawn." if lacking else f"Every backup records {_e(metric)}.")
            + "</p>")
    points = data.points
    if not points:
        why = "There are no backups yet." if not data.backups else \
            f"No backup records {_e(metric)}."
        return f'{heading}<p class="note" id="no-chart">{why}</p>{note}</section>'
    return heading + _svg(points, metric) + note + (
        '<p class="note">Points are evenly spaced in time order (oldest left); '
        "orange: safety backup; ringed: pinned.</p></section>")


def _svg(points: list[BackupRow], metric: str) -> str:
    values = [p.metric for p in points if p.metric is not None]
    low, high = min(values), max(values)
    # A margin, so that no point sits on the frame; a flat series gets a band around it.
    pad = (high - low) * 0.08 if not math.isclose(low, high) else max(abs(low) * 0.01, 0.01)
    low, high = low - pad, high + pad
    if not math.isfinite((high - low) * 4):
        return '<p class="note" id="no-chart">The values are too far apart to draw.</p>'
    digits = max(0, 1 - math.floor(math.log10((high - low) / 4)))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (inner_w / 2 if len(points) == 1 else i * inner_w / (len(points) - 1))

    def y(value: float) -> float:
        return TOP + inner_h * (high - value) / (high - low)

    out = [f'<svg id="metric-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" '
           f'data-points="{len(points)}" aria-label="{_e(metric)} per backup">']
    for step in range(5):
        value = low + (high - low) * step / 4
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                   f'y2="{y(value):.1f}"/><text x="{LEFT - 8}" y="{y(value) + 4:.1f}" '
                   f'text-anchor="end">{value:.{digits}f}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" '
               f'y2="{HEIGHT - BOTTOM}"/><line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
               f'y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}"/>')
    coords = [(x(i), y(p.metric)) for i, p in enumerate(points) if p.metric is not None]
    if len(coords) > 1:
        line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        out.append(f'<polyline class="line" points="{line}"/>')
    labelled = {0, len(points) - 1}
    for i, (point, (cx, cy)) in enumerate(zip(points, coords, strict=True)):
        classes = "point" + (" safety" if point.kind == "safety" else "") + (
            " pinned" if point.pin else "")
        if point.pin:
            out.append(f'<circle class="pin-ring" cx="{cx:.1f}" cy="{cy:.1f}" r="9"/>')
        out.append(
            f'<circle id="point-{i}" class="{classes}" cx="{cx:.1f}" cy="{cy:.1f}" r="5" '
            f'data-tag="{_e(point.tag)}" data-value="{point.metric!r}">'
            f"<title>{_e(point.tag)}: {_e(metric)} = {point.metric:.4g}"
            f"{' (safety)' if point.kind == 'safety' else ''}"
            f"{' (pinned)' if point.pin else ''}</title></circle>")
        if i in labelled:
            anchor = "start" if i == 0 and len(points) > 1 else (
                "end" if i else "middle")
            out.append(f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 20}" '
                       f'text-anchor="{anchor}">{_when(point.timestamp)}</text>')
    out.append("</svg>")
    return "".join(out)


def _timeline(data: ReportData) -> str:
    if not data.backups:
        return ('<section id="timeline"><h2>Timeline</h2><p class="note">There are no '
                "backups yet: <code>hdversion backup</code> makes one.</p></section>")
    return ('<section id="timeline"><h2>Timeline</h2>' + _strip(data.backups)
            + _table(data) + "</section>")


def _strip(backups: list[BackupRow]) -> str:
    """Every backup at its time on one axis (the chart spaces them evenly; this shows the
    gaps)."""
    moments = [parse_timestamp(b.timestamp).timestamp() for b in backups]
    first, last = min(moments), max(moments)
    inner = WIDTH - LEFT - RIGHT
    middle = 26
    out = [f'<svg id="timeline-strip" role="img" viewBox="0 0 {WIDTH} 60" width="{WIDTH}" '
           f'height="60" aria-label="backups in time">'
           f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{middle}" '
           f'y2="{middle}"/>']
    for backup, moment in zip(backups, moments, strict=True):
        cx = LEFT + (inner / 2 if last == first else inner * (moment - first) / (last - first))
        classes = "mark" + (" safety" if backup.kind == "safety" else "") + (
            " pinned" if backup.pin else "")
        if backup.pin:
            out.append(f'<circle class="pin-ring" cx="{cx:.1f}" cy="{middle}" r="9"/>')
        out.append(f'<circle class="{classes}" cx="{cx:.1f}" cy="{middle}" r="5" '
                   f'data-tag="{_e(backup.tag)}"><title>{_e(backup.tag)}'
                   f"{' (safety)' if backup.kind == 'safety' else ''}"
                   f"{' (pinned)' if backup.pin else ''}</title></circle>")
    oldest, newest = backups[-1].timestamp, backups[0].timestamp
    out.append(f'<text x="{LEFT}" y="52" text-anchor="start">{_when(oldest)}</text>')
    if newest != oldest:
        out.append(f'<text x="{WIDTH - RIGHT}" y="52" text-anchor="end">{_when(newest)}'
                   "</text>")
    return "".join(out) + "</svg>"


def _table(data: ReportData) -> str:
    metric = data.metric.removeprefix("-")
    # No column for a metric no backup records (a repository with other metrics, or none).
    shown = bool(data.points)
    largest = max(b.total_size for b in data.backups) or 1
    head = ["time (UTC)", "kind", *([metric] if shown else []), "files", "size",
            *(f"in {r.name}" for r in data.remotes), "message", "host"]
    rows = []
    for backup in data.backups:
        classes = "backup" + (" safety" if backup.kind == "safety" else "") + (
            " pinned" if backup.pin else "")
        kind = ('<span class="badge safety">safety</span>' if backup.kind == "safety"
                else '<span class="badge regular">backup</span>')
        if backup.pin:
            kind += (' <span class="badge pin">pinned</span>'
                     + (f'<div class="pin-reason">{_e(backup.pin.reason)}</div>'
                        if backup.pin.reason else ""))
        kind += "".join(f' <span class="badge alias">{_e(name)}</span>'
                        for name in backup.aliases)
        value = "&ndash;" if backup.metric is None else f"{backup.metric:.4g}"
        width = 100 * backup.total_size / largest
        size = (f'{_e(human_size(backup.total_size))}'
                f'<div class="bar" style="width:{width:.0f}%"></div>')
        message = _e(backup.message)
        if backup.missing:
            message += (f' <span class="lacking">({len(backup.missing)} missing: '
                        f"{_e(', '.join(backup.missing))})</span>")
        cells = [f'<td><span class="when">{_when(backup.timestamp)}</span></td>',
                 f"<td>{kind}</td>", *([f'<td class="num">{value}</td>'] if shown else []),
                 f'<td class="num">{backup.total_files}</td>', f'<td class="num">{size}</td>',
                 *(_remote_cell(backup, r.name) for r in data.remotes),
                 f'<td class="message">{message}</td>', f"<td>{_e(backup.host)}</td>"]
        rows.append(f'<tr class="{classes}" data-tag="{_e(backup.tag)}" '
                    f'data-kind="{_e(backup.kind)}">' + "".join(cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>")


def _remote_cell(backup: BackupRow, remote: str) -> str:
    lacking = backup.lacking.get(remote)
    if backup.invalid_files:
        return (f'<td class="unknown" data-remote="{_e(remote)}" title="'
                f'{_e(backup.invalid_files)}">file list invalid</td>')
    if lacking is None:
        return f'<td class="unknown" data-remote="{_e(remote)}">unknown</td>'
    if lacking == 0:
        return f'<td class="complete" data-remote="{_e(remote)}">complete</td>'
    return (f'<td class="lacking" data-remote="{_e(remote)}" data-lacking="{lacking}">'
            f"lacks {lacking} object(s)</td>")


def _skipped(data: ReportData) -> str:
    if not data.skipped_tags:
        return ""
    items = "".join(f"<li><code>{_e(tag)}</code>: {_e(why)}</li>"
                    for tag, why in data.skipped_tags)
    return (f'<section id="skipped"><h2>Tags that are not readable backups</h2>'
            f"<ul>{items}</ul></section>")


def _when(timestamp: str) -> str:
    # The timestamp passed the tag grammar (YYYYMMDD_HHMMSS); escaped all the same.
    return _e(f"{timestamp[:4]}-{timestamp[4:6]}-{timestamp[6:8]} "
              f"{timestamp[9:11]}:{timestamp[11:13]}:{timestamp[13:15]}")


def result_json(result: ReportResult) -> dict[str, Any]:
    """What `report --json` prints: what was written, and what the page says."""
    data = result.data
    return {
        "output": str(result.output), "bytes": result.size, "backups": len(data.backups),
        "metric": data.metric, "points": len(data.points),
        "lacking_metric": data.lacking_metric,
        "pinned": [b.tag for b in data.backups if b.pin],
        "aliases": {name: b.tag for b in data.backups for name in b.aliases},
        "safety": [b.tag for b in data.backups if b.kind == "safety"],
        "invalid_file_lists": [b.tag for b in data.backups if b.invalid_files],
        "remotes": [vars(r) for r in data.remotes],
        "skipped_tags": len(data.skipped_tags),
    }


def summary(result: ReportResult) -> None:
    data = result.data
    console.print(f"[green]wrote {escape(str(result.output))}[/] ({human_size(result.size)}): "
                  f"{len(data.backups)} backup(s), {len(data.points)} point(s) of "
                  f"{escape(data.metric)}"
                  + (f" ({data.lacking_metric} without it)" if data.lacking_metric else ""))
    for remote in data.remotes:
        if remote.reachable:
            colour = "green" if not remote.incomplete else "yellow"
            console.print(f"  {escape(remote.name)}: [{colour}]{remote.complete} complete, "
                          f"{remote.incomplete} incomplete[/]")
        else:
            console.print(f"  {escape(remote.name)}: [red]could not be read[/] "
                          f"({escape(remote.detail)})")
