"""hdversion status"""

from __future__ import annotations

from hdversion.cli import records, verbosity
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render_inspect
from hdversion.cli.options import EVERY_VALUE, JSON, option
from hdversion.errors import UsageError
from hdversion.model.durations import Duration

MAX_AGE = option(
    None, "--max-age", metavar="DURATION",
    help="For monitoring: exit 8 when the newest backup complete in the local remote and "
    "every backup.remotes remote is older than this (e.g. 90min, 26h, 7d), or there is none.")
OFFLINE = option(
    False, "--offline", help="Do not fetch tags from the git remote, nor list the "
    "storage remotes (--max-age then trusts the catalog alone).")
REQUIRE_OFFSITE = option(
    False, "--require-offsite", help="For monitoring: exit 8 unless the newest complete "
    "backup is also in a remote off this disk (a bucket, or a directory on another disk).")


def status(
    max_age: str | None = MAX_AGE,
    offline: bool = OFFLINE,
    every: bool = EVERY_VALUE,
    require_offsite: bool = REQUIRE_OFFSITE,
    as_json: bool = JSON,
) -> None:
    """What changed since the latest backup, missing artifacts, and what each remote holds."""
    limit = None if max_age is None else Duration.parse(max_age)
    if limit is not None and limit.is_zero:
        raise UsageError("--max-age must be longer than 0 (e.g. 26h)")
    result = api.status(max_age=limit, offline=offline, require_offsite=require_offsite)
    if as_json:
        records.emit_result(render_inspect.status_json(result), result.failure())
    else:
        render_inspect.status_summary(result, every=every or verbosity.verbose())
    finish(result.failure())
