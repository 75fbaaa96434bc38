"""hdversion verify"""

from __future__ import annotations

import typer

from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render
from hdversion.cli.options import CLOUD, JSON, OFFLINE, REMOTE, STORAGE, WAIT, cloud_remote


def verify(
    timestamps: list[str] | None = typer.Argument(
        None, metavar="[TIMESTAMP]...", help="Backups to check (default: the latest)."),
    every: bool = typer.Option(False, "--all", help="Check every backup."),
    cloud: bool = CLOUD,
    storage: str | None = STORAGE,
    remote: str | None = REMOTE,
    read_data: bool = typer.Option(
        False, "--read-data", help="Read every object back and hash it (finds a corruption "
        "that keeps the size; costs a download of everything)."),
    subset: str | None = typer.Option(
        None, "--read-data-subset", metavar="N%|n/t",
        help="Read back only a part: 10% at random (the seed is printed), or 2/7, the 2nd "
        "of 7 groups by hash (seven runs read everything once)."),
    seed: int | None = typer.Option(None, "--seed", min=0,
                                    help="Repeat a random subset (the seed a run printed)."),
    repair: bool = typer.Option(
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
        result = api.verify(timestamps=tuple(timestamps or ()), every=every, remote=where,
                            read_data=read_data, subset=subset, seed=seed, offline=offline,
                            reporter=reporter, repair=repair, wait=wait)
    if as_json:
        render.emit_json(render.verify_json(result))
    else:
        render.verify_summary(result)
    finish(result.failure())
