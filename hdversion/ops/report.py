"""The report page: what the catalog, the pins and each remote say about every backup,
gathered into plain records, rendered by a function the caller passes (the command line's
HTML renderer) and written atomically.

Everything gathered from tags and pins is untrusted text: the renderer escapes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hdversion import __version__
from hdversion.errors import (
    ConfigurationError,
    HdversionError,
    ManifestError,
    PartialError,
    RemoteError,
    UsageError,
    VerificationError,
    WriteError,
)
from hdversion.model.aliases import aliases_by_tag
from hdversion.model.catalog import Backup, Catalog
from hdversion.model.pins import Pin
from hdversion.model.retention import metric_names, metric_value, unknown_metric
from hdversion.ops.backup_refs import read_pins
from hdversion.ops.catalog import catalog_with, files_of, files_of_many
from hdversion.ops.outputs import check_folder_takes_files, check_output_file
from hdversion.ops.project import Project
from hdversion.ops.remotes import completeness
from hdversion.paths import DEFAULT_METRIC
from hdversion.util.atomic import atomic_write_bytes
from hdversion.util.clock import now_utc
from hdversion.util.redact import redact

HTML_SUFFIXES = (".html", ".htm")
# An existing file is replaced only if it starts like an HTML document (case-insensitive,
# after blanks): a report written over a model or a config by a slip of `-o` is data lost.
_HTML_STARTS = (b"<!doctype html", b"<html")


@dataclass(frozen=True)
class PinInfo:
    reason: str
    pinned_at: str
    by: str


@dataclass(frozen=True)
class BackupRow:
    """One backup as the page shows it; every text field comes from a tag."""

    tag: str
    timestamp: str
    created_at: str
    kind: str  # "backup" or "safety"
    message: str
    host: str
    user: str
    branch: str | None
    total_files: int
    total_size: int
    missing: tuple[str, ...]
    metric: float | None
    pin: PinInfo | None
    # remote -> objects lacking there; None: unknown (remote unreachable, file list invalid)
    lacking: dict[str, int | None]
    invalid_files: str | None = None  # why its file list is not trusted
    aliases: tuple[str, ...] = ()  # the aliases that name it


@dataclass(frozen=True)
class RemoteSummary:
    name: str
    reachable: bool
    detail: str  # why it could not be read
    complete: int  # backups whole there
    incomplete: int  # backups lacking objects there


@dataclass(frozen=True)
class ReportData:
    project: str  # the repository's folder name
    generated_at: str
    hdversion_version: str
    metric: str
    backups: list[BackupRow]  # newest first
    remotes: list[RemoteSummary]
    skipped_tags: list[tuple[str, str]]  # (tag, why) that the catalog could not read
    metric_names: list[str] = field(default_factory=list)  # numeric metrics some backup has

    @property
    def points(self) -> list[BackupRow]:
        """Backups with the metric, oldest first (the chart's order)."""
        return [b for b in reversed(self.backups) if b.metric is not None]

    @property
    def lacking_metric(self) -> int:
        return sum(1 for b in self.backups if b.metric is None)


@dataclass(frozen=True)
class ReportResult:
    output: Path
    size: int  # bytes written
    data: ReportData

    def failure(self) -> HdversionError | None:
        invalid = [b.tag for b in self.data.backups if b.invalid_files]
        if invalid:
            return VerificationError(
                f"the page was written to {self.output}, but the file list of "
                f"{', '.join(invalid)} does not match its tag: where it is whole is unknown",
                hint="a backup tag may have been forged or damaged; the page marks it")
        down = [r for r in self.data.remotes if not r.reachable]
        if down:
            named = "; ".join(f"{r.name}: {r.detail}" for r in down)
            return PartialError(
                f"the page was written to {self.output}, but {len(down)} remote(s) could "
                f"not be read and are marked unknown there: {named}",
                hint="`hdversion remote test NAME` checks a remote; run the report again "
                     "when it answers")
        return None


Renderer = Callable[[ReportData], str]


def report(out: Path, *, render: Renderer, metric: str | None = None,
           remotes: Iterable[str] = (), offline: bool = False, repo: Path | None = None,
           config: Path | None = None) -> ReportResult:
    """Write the report page to `out`: the catalog (fetched from the git remote first
    unless `offline`), the pins, `metric` (default: `list.metric` in the settings) per
    backup, and how complete each backup is in each remote (default: the local remote).
    `render` turns the data into the page."""
    if metric is not None and not metric.removeprefix("-"):
        raise UsageError("--metric needs a name, e.g. ensemble.roc_auc")
    output = Path(out)
    check_output(output)
    project = Project.open(repo, strict=False, config=config)
    # A metric someone chose (--metric, list.metric) that no backup records is a typo to
    # refuse; the default one is this project's, which another repository simply lacks.
    chosen = metric is not None or project.settings.list_metric != DEFAULT_METRIC
    metric = metric if metric is not None else project.settings.list_metric
    names = list(dict.fromkeys(remotes)) or [project.settings.local_remote]
    configured = {r.name for r in project.store.remotes()}
    unknown = [n for n in names if n not in configured]
    if unknown:
        # A misspelt name is a mistake to fix, not a remote that is down.
        raise ConfigurationError(f"no DVC remote named {', '.join(map(repr, unknown))}",
                                 hint="see `hdversion remote list`")
    catalog = catalog_with(project, None, offline)
    data = gather(project, catalog, metric, names)
    if chosen and data.backups and data.metric_names and not data.points:
        raise unknown_metric(metric, data.metric_names, "nothing was written")
    # The page is a file people pass around: no secret in it (an SDK's error text may
    # quote a key), as in everything hdversion prints or journals.
    page = redact(render(data)).encode("utf-8")
    check_output(output)  # again: the gathering took a while
    try:
        atomic_write_bytes(output, page)
    except OSError as exc:
        raise WriteError(f"cannot write {output}: {exc.strerror or exc}") from None
    result = ReportResult(output, len(page), data)
    failure = result.failure()
    project.journal("report", "ok" if failure is None else "partial"
                    if isinstance(failure, PartialError) else "error",
                    output=str(output), backups=len(data.backups), metric=metric,
                    remotes={r.name: r.reachable for r in data.remotes})
    return result


def check_output(output: Path) -> None:
    """UsageError (exit 2) unless `output` is an HTML file name in an existing folder, and is
    absent or a regular file that holds an HTML document; WriteError (exit 1) unless the
    folder takes a file."""
    if output.suffix.lower() not in HTML_SUFFIXES:
        raise UsageError(f"the report is an HTML page: name it *.html, not {str(output)!r}")
    check_output_file(output)
    if output.exists():
        _check_replaceable(output)
    check_folder_takes_files(output)


def _check_replaceable(output: Path) -> None:
    try:
        with output.open("rb") as stream:
            head = stream.read(512).lstrip().lower()
    except OSError as exc:
        raise UsageError(f"cannot read {str(output)!r}: {exc.strerror or exc}") from None
    if head and not head.startswith(_HTML_STARTS):
        raise UsageError(f"{str(output)!r} exists and is not an HTML page; not replacing it",
                         hint="choose another name, or remove the file first")


def gather(project: Project, catalog: Catalog, metric: str, remotes: list[str]) -> ReportData:
    pins = read_pins(project.git)
    invalid = _invalid_file_lists(project, catalog.backups)
    good = [b for b in catalog.backups if b.tag not in invalid]
    lacking: dict[str, dict[str, int]] = {}
    summaries: list[RemoteSummary] = []
    for name in remotes:
        try:
            lacking[name] = completeness(project, name, good) if good else {}
        except RemoteError as exc:
            summaries.append(RemoteSummary(name, False, exc.message, 0, 0))
            continue
        counts = lacking[name].values()
        summaries.append(RemoteSummary(name, True, "", sum(1 for n in counts if n == 0),
                                       sum(1 for n in counts if n)))
    aliases = aliases_by_tag(catalog.aliases)
    rows = [replace(_row(b, metric, pins.get(b.tag), {n: lacking[n].get(b.tag) if n in lacking
                                                     else None for n in remotes},
                         invalid.get(b.tag)), aliases=tuple(aliases.get(b.tag, ())))
            for b in catalog.backups]
    return ReportData(
        project=project.root.name,
        generated_at=now_utc().isoformat(timespec="seconds"),
        hdversion_version=__version__,
        metric=metric,
        backups=rows,
        remotes=summaries,
        skipped_tags=list(catalog.invalid),
        metric_names=metric_names(b.manifest.metrics for b in catalog.backups),
    )


def _row(backup: Backup, metric: str, pin: Pin | None, lacking: dict[str, int | None],
         invalid: str | None) -> BackupRow:
    manifest = backup.manifest
    return BackupRow(
        tag=backup.tag, timestamp=backup.timestamp, created_at=manifest.created_at,
        kind=manifest.kind, message=manifest.message, host=manifest.host, user=manifest.user,
        branch=manifest.branch, total_files=manifest.total_files,
        total_size=manifest.total_size, missing=manifest.missing,
        metric=metric_value(manifest.metrics, metric),
        pin=None if pin is None else PinInfo(pin.reason, pin.pinned_at, pin.by),
        lacking=lacking, invalid_files=invalid)


def _invalid_file_lists(project: Project, backups: list[Backup]) -> dict[str, str]:
    """Tag -> why, for the backups whose file list does not match their tag. One git call
    when all are good (the usual case); one per backup only to find the bad ones."""
    try:
        files_of_many(project.git, backups)
        return {}
    except ManifestError:
        pass
    invalid: dict[str, str] = {}
    for backup in backups:
        try:
            files_of(project.git, backup)
        except ManifestError as exc:
            invalid[backup.tag] = exc.message
    return invalid

