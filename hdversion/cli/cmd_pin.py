"""hdversion pin / unpin"""

from __future__ import annotations

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, render
from hdversion.cli.options import BACKUP, JSON, WAIT, option


def pin(
    timestamp: str = BACKUP,
    message: str = option("", "--message", aliases=("-m",), help="Why (e.g. 'in "
                          "production')."),
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Pin a backup: prune never removes it. The pin is pushed to the git remote."""
    result = api.pin(timestamp, reason=message, wait=wait)
    if as_json:
        records.emit_result(render.pin_json(result), result.failure())
    else:
        render.pin_summary(result)
    finish(result.failure())


def unpin(
    timestamp: str = BACKUP,
    wait: float = WAIT,
    as_json: bool = JSON,
) -> None:
    """Remove a pin, here and on the git remote."""
    result = api.unpin(timestamp, wait=wait)
    if as_json:
        records.emit_result(render.pin_json(result), result.failure())
    else:
        render.pin_summary(result)
    finish(result.failure())
