"""`list` and `restore` from a remote alone (`--remote-url`): their options, the options
they refuse, and the two command bodies (the API calls and the rendering)."""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import records
from hdversion.cli.handler import finish
from hdversion.cli.lazy import api, progress, render, render_bucket
from hdversion.cli.options import option
from hdversion.errors import UsageError

REMOTE_URL = option(
    None, "--remote-url", metavar="URL",
    help="Read the backups from this remote alone (s3://bucket/prefix, azure://container/"
    "prefix, gs://bucket/prefix or a directory): no clone, no git needed.")
ENDPOINT_URL = option(
    None, "--endpoint-url", metavar="URL",
    help="With --remote-url: the S3 or GCS endpoint (MinIO, an emulator...).")
CREDENTIALS = option(
    None, "--credentials", metavar="FILE",
    help="With --remote-url: credentials in config/cloud_credentials.json's format "
    "(default: the environment, as each SDK reads it).")


def refuse(remote_url: str | None, endpoint_url: str | None, credentials: Path | None,
           **others: object) -> None:
    """UsageError (exit 2) for options that make no sense with (or without) --remote-url.
    `others`: option name (without dashes) -> its value, refused when set."""
    if remote_url is None:
        given = [n for n, v in (("--endpoint-url", endpoint_url),
                                ("--credentials", credentials)) if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} go with --remote-url")
        return
    given = ["--" + name.replace("_", "-") for name, value in others.items() if value]
    if given:
        raise UsageError(f"--remote-url reads a remote alone: {', '.join(given)} cannot be "
                         "used with it")


def list_bucket(remote_url: str, endpoint_url: str | None, credentials: Path | None,
                as_json: bool) -> None:
    listed = api.list_bucket(remote_url, endpoint_url=endpoint_url, credentials=credentials)
    if as_json:
        render.emit_json([render_bucket.bucket_record(listed, b)
                          for b in listed.catalog.backups])
    else:
        render_bucket.bucket_list(listed)
    render_bucket.skipped(listed.catalog.invalid)


def restore_bucket(remote_url: str, timestamp: str | None, target: Path | None,
                   endpoint_url: str | None, credentials: Path | None, dry_run: bool,
                   as_json: bool) -> None:
    if target is None:
        raise UsageError("--remote-url needs --target DIR (a new or empty directory): there "
                         "is no workspace to restore into")
    with progress.reporter_for(as_json) as reporter:
        result = api.restore_from_bucket(remote_url, target=target, ref=timestamp,
                                         endpoint_url=endpoint_url, credentials=credentials,
                                         dry_run=dry_run, reporter=reporter)
    if as_json:
        records.emit_result(render_bucket.restore_json(result), result.failure())
    else:
        render_bucket.restore_summary(result)
    finish(result.failure())
