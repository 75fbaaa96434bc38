"""hdversion find"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import bucket, records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api
from hdversion.cli.options import JSON, OFFLINE, argument, option

PATTERN = argument("PATTERN", "A glob over the whole path, case-sensitive: * and ? match "
                   "across folders too ('*.joblib', 'models/*'); quote it for the shell.",
                   required=False)
MD5 = option(None, "--md5", metavar="HASH",
             help="Instead of PATTERN: the backups that hold these bytes (an md5, or a "
             "prefix of at least 8 hex digits naming one).")


def find(
    pattern: str | None = PATTERN,
    md5: str | None = MD5,
    offline: bool = OFFLINE,
    as_json: bool = JSON,
    remote_url: str | None = bucket.REMOTE_URL,
    endpoint_url: str | None = bucket.ENDPOINT_URL,
    credentials: Path | None = bucket.CREDENTIALS,
) -> None:
    """Every backup holding a file whose path matches PATTERN (or whose bytes have the md5
    given), newest first, with size and md5. Nothing found is exit 4 (as `git grep` exits 1):
    a script tells "none" from "some" by the code; --json says `found: []` too."""
    bucket.refuse(remote_url, endpoint_url, credentials, offline=offline)
    from hdversion.cli import render_browse

    result = api.find_files(pattern, md5=md5, offline=offline, remote_url=remote_url,
                            endpoint_url=endpoint_url, credentials=credentials)
    if as_json:
        records.emit_result(render_browse.find_json(result), result.failure())
    else:
        render_browse.find_table(result)
    finish(result.failure())
