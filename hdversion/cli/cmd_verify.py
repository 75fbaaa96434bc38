"""hdversion verify"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import (
    CLOUD,
    JSON,
    OFFLINE,
    REMOTE,
    STORAGE,
    WAIT,
    argument,
    cloud_remote,
    option,
)


def verify(
    timestamps: list[str] | None = argument(
        "T", "Backups to check (default: the latest).", required=False),
    every: bool = option(False, "--all", help="Check every backup."),
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    read_data: bool = option(
        False, "--read-data", help="Read every object back and hash it (finds a corruption "
        "that keeps the size; costs a download of everything)."),
    subset: str | None = option(
        None, "--read-data-subset", metavar="N%|n/t",
        help="Read back only a part: 10% at random (the seed is printed), or 2/7, the 2nd "
        "of 7 groups by hash (seven runs read everything once)."),
    seed: int | None = option(None, "--seed", min=0, metavar="N",
                              help="Repeat a random subset (the seed a run printed)."),
    repair: bool = option(
        False, "--repair", help="Replace each missing or damaged object in that remote by a "
        "good copy from the cache or another remote (re-hashed), then read it back."),
    offline: bool = OFFLINE,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Check that backups can be restored from a remote (default: the local one): every
    object present at its size, and with --read-data, read back and hashed. Exit 5 when
    any object is missing or damaged (and was not repaired)."""
    where = cloud_remote(cloud, storage, remote)
    with progress.reporter_for(as_json) as reporter:
        result = api.verify(refs=tuple(timestamps or ()), every=every, remote=where,
                            read_data=read_data, subset=subset, seed=seed, offline=offline,
                            reporter=reporter, repair=repair, wait=wait)
    if as_json:
        records.emit_result(render.verify_json(result), result.failure())
    else:
        render.verify_summary(result)
    finish(result.failure())
