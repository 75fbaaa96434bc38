"""The backup with the best recorded metric: what a notebook or a deployment script asks for
("the model of the best run"), read from the manifests as `list --metric` and `prune
--keep-best` read them (model/retention.py's `metric_value`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hdversion.errors import BackupNotFoundError, HdversionError, UsageError
from hdversion.model.catalog import Backup
from hdversion.model.retention import metric_names, metric_value, unknown_metric
from hdversion.ops.catalog import catalog_with
from hdversion.ops.project import Project
from hdversion.util.clock import now_utc


@dataclass(frozen=True)
class BestResult:
    backup: Backup
    metric: str  # the dotted name, without a leading "-"
    value: float  # the metric in `backup`
    higher_is_better: bool
    compared: int  # regular backups that record the metric (the candidates)
    lacking: tuple[str, ...]  # tags of regular backups that do not record it, newest first

    @property
    def ref(self) -> str:
        """The backup's name for every other function (`restore(ref=...)`, `show(...)`)."""
        return self.backup.timestamp

    def failure(self) -> HdversionError | None:
        return None


def best(*, metric: str | None = None, higher_is_better: bool = True,
         repo: Path | None = None, offline: bool = False, now: datetime | None = None,
         config: Path | None = None) -> BestResult:
    """The regular backup whose `metric` is best: highest, or lowest when
    `higher_is_better` is False (a leading "-", as `prune --metric -loss` takes it, says the
    same). `metric` None: the settings' `list.metric` (list's column). Safety backups and
    backups dated in the future at `now` never count (as for "latest"); a tie goes to the
    newer backup, as `--keep-best` ranks. No backup at all: exit 4; none that records the
    metric: exit 2, naming the metrics they do record."""
    project = Project.open(repo, strict=False, config=config)
    name = metric if metric is not None else project.settings.list_metric
    if name.startswith("-"):
        if not higher_is_better:
            raise UsageError(f"metric {name!r} with higher_is_better=False: say lower is "
                             "better once (a leading '-' or higher_is_better=False)")
        name, higher_is_better = name[1:], False
    if not name:
        raise UsageError("best needs a metric name, e.g. ensemble.roc_auc")
    catalog = catalog_with(project, None, offline)
    moment = now or now_utc()
    candidates = catalog.present(moment)
    if not candidates:
        catalog.latest(moment)  # its refusal: none yet, or only ones dated in the future
        raise BackupNotFoundError("there are no backups yet")  # not reached
    values = {b.tag: metric_value(b.manifest.metrics, name) for b in candidates}
    scored = [b for b in candidates if values[b.tag] is not None]
    if not scored:
        raise unknown_metric(name, metric_names(b.manifest.metrics for b in candidates),
                             "no backup can be the best by it")
    sign = 1.0 if higher_is_better else -1.0
    # `candidates` is newest first and max() keeps the first of equals: a tie goes to the
    # newer backup.
    chosen = max(scored, key=lambda b: sign * (values[b.tag] or 0.0))
    value = values[chosen.tag]
    assert value is not None
    result = BestResult(chosen, name, value, higher_is_better, len(scored),
                        tuple(b.tag for b in candidates if values[b.tag] is None))
    project.journal("best", "ok", tag=chosen.tag, metric=name, value=value)
    return result
