"""The commands: each declares its options, calls hdversion.api and renders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from hdversion.errors import ExitCode, UsageError

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
CLOUD = typer.Option(False, "--cloud", help="Also use a cloud remote (see --storage).")
STORAGE = typer.Option(None, "--storage", help="Cloud storage: s3, azure or gcp.")
REMOTE = typer.Option(None, "--remote", help="Any DVC remote by name (instead of --storage).")
WAIT = typer.Option(0.0, "--wait", min=0, metavar="SECONDS",
                    help="Wait this long for another hdversion run to finish (default: fail "
                    "at once with exit 6).")
STORAGES = ("s3", "azure", "gcp")


def cloud_remote(cloud: bool, storage: str | None, remote: str | None) -> str | None:
    """The DVC remote named by --cloud/--storage/--remote, or None for the local one only."""
    if storage is not None and storage not in STORAGES:
        raise UsageError(f"unknown storage {storage!r}: choose one of {', '.join(STORAGES)}")
    if remote and storage:
        raise UsageError("give --storage or --remote, not both")
    if cloud and not (storage or remote):
        raise UsageError("--cloud needs --storage=s3|azure|gcp (or --remote NAME)")
    return remote or storage


def register(app: typer.Typer, handled: Callable[[Any], Any]) -> None:
    app.add_typer(remote_app(handled), name="remote")

    @app.command("backup")
    @handled
    def backup(
        message: str = typer.Option("", "-m", "--message", help="Say why (kept in the tag)."),
        allow_missing: bool = typer.Option(
            False, "--allow-missing", help="Record missing artifacts instead of failing."
        ),
        cloud: bool = CLOUD,
        storage: str | None = STORAGE,
        remote: str | None = REMOTE,
        wait: float = WAIT,
        as_json: bool = JSON,
    ) -> None:
        """Back up every critical artifact: DVC cache + local remote, then a git tag."""
        from hdversion import api
        from hdversion.cli import render
        from hdversion.cli.progress import reporter_for

        extra = cloud_remote(cloud, storage, remote)
        with reporter_for(as_json) as reporter:
            result = api.backup(message=message, allow_missing=allow_missing,
                                cloud_remotes=(extra,) if extra else (), reporter=reporter,
                                wait=wait)
        if as_json:
            render.emit_json(render.backup_json(result))
        else:
            render.backup_summary(result)
        if not result.complete:
            raise typer.Exit(int(ExitCode.PARTIAL))

    @app.command("list")
    @handled
    def list_(
        cloud: bool = CLOUD,
        storage: str | None = STORAGE,
        remote: str | None = REMOTE,
        as_json: bool = JSON,
    ) -> None:
        """List backups, newest first; with a remote, whether each is complete there."""
        from hdversion import api
        from hdversion.cli import render

        where = cloud_remote(cloud, storage, remote)
        catalog, lacking = api.list_backups(remote=where)
        if as_json:
            records = [render.backup_record(b) for b in catalog.backups]
            if lacking is not None:
                for record in records:
                    record["remote"] = where
                    record["missing_objects"] = lacking[record["tag"]]
                    record["complete"] = lacking[record["tag"]] == 0
            render.emit_json(records)
        else:
            render.console.print(render.catalog_table(catalog, lacking, where))
        for tag, why in catalog.invalid:
            render.err_console.print(f"[yellow]warning:[/] skipped tag {tag}: {why}")

    @app.command("sync")
    @handled
    def sync(
        storage: str | None = STORAGE,
        remote: str | None = REMOTE,
        wait: float = WAIT,
        as_json: bool = JSON,
    ) -> None:
        """Push every backup that a remote lacks (checked against the remote's own listing)."""
        from hdversion import api
        from hdversion.cli import render

        if not (storage or remote):
            raise UsageError("sync needs --storage=s3|azure|gcp (or --remote NAME)")
        where = cloud_remote(True, storage, remote)
        assert where is not None
        report = api.sync(remote=where, wait=wait)
        if as_json:
            render.emit_json(render.sync_json(report))
        else:
            render.sync_summary(report)
        if not report.ok:
            raise typer.Exit(int(ExitCode.PARTIAL))

    @app.command("restore")
    @handled
    def restore(
        timestamp: str | None = typer.Option(
            None, "--timestamp", "-t", help="YYYYMMDD_HHMMSS (UTC); default: the latest."
        ),
        target: Path | None = typer.Option(
            None, "--target", help="Restore into this directory; the workspace is left alone."
        ),
        only: list[str] | None = typer.Option(
            None, "--only", help="Restore only this path (file or directory); repeatable."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Say what would change."),
        force: bool = typer.Option(
            False, "--force", help="Skip the safety backup of unsaved workspace changes."
        ),
        cloud: bool = CLOUD,
        storage: str | None = STORAGE,
        remote: str | None = REMOTE,
        wait: float = WAIT,
        as_json: bool = JSON,
    ) -> None:
        """Restore a backup, verified: nothing is touched until every object checks out."""
        from hdversion import api
        from hdversion.cli import render
        from hdversion.cli.progress import reporter_for

        source = cloud_remote(cloud, storage, remote)
        with reporter_for(as_json) as reporter:
            result = api.restore(timestamp=timestamp, target=target, only=tuple(only or ()),
                                 dry_run=dry_run, force=force, remote=source, reporter=reporter,
                                 wait=wait)
        if as_json:
            render.emit_json(render.restore_json(result))
        else:
            if result.safety_backup:
                render.console.print(
                    f"[yellow]unsaved changes were backed up first as "
                    f"{result.safety_backup.tag}[/]"
                )
            render.console.print(render.restore_table(result))
        if not result.all_verified:
            raise typer.Exit(int(ExitCode.VERIFICATION_FAILED))


def remote_app(handled: Callable[[Any], Any]) -> typer.Typer:
    group = typer.Typer(help="Storage remotes (DVC remotes): add, list, test.",
                        no_args_is_help=True)

    @group.command("add")
    @handled
    def add(
        name: str = typer.Argument(..., help="s3, azure, gcp, or any name."),
        url: str = typer.Argument(..., help="s3://bucket/prefix, azure://container/prefix, "
                                  "gs://bucket/prefix or a directory."),
        endpoint_url: str | None = typer.Option(None, "--endpoint-url",
                                                help="S3/GCS-compatible endpoint."),
        option: list[str] | None = typer.Option(
            None, "--option", "-o", help="Another DVC remote option KEY=VALUE (not a secret)."
        ),
        as_json: bool = JSON,
    ) -> None:
        """Add (or replace) a remote in .dvc/config, with download verification on."""
        from hdversion import api
        from hdversion.cli import render

        options: dict[str, str] = {}
        for item in option or ():
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"--option wants KEY=VALUE, got {item!r}")
            options[key] = value
        info = api.remote_add(name, url, endpoint_url, options)
        if as_json:
            render.emit_json(vars(info))
        else:
            render.console.print(f"remote [bold]{info.name}[/] -> {info.url} (verify on)")

    @group.command("list")
    @handled
    def list_(as_json: bool = JSON) -> None:
        """List the DVC remotes hdversion can use."""
        from hdversion import api
        from hdversion.cli import render

        infos = api.remote_list()
        if as_json:
            render.emit_json([vars(i) for i in infos])
        else:
            render.console.print(render.remotes_table(infos))

    @group.command("test")
    @handled
    def test(name: str = typer.Argument(...), as_json: bool = JSON) -> None:
        """Write, read back and delete a probe object: a clear verdict on a remote."""
        from hdversion import api
        from hdversion.cli import render

        report = api.remote_test(name)
        if as_json:
            render.emit_json({"remote": name, "ok": report.ok,
                              "steps": [{"step": s, "ok": ok, "detail": d}
                                        for s, ok, d in report.steps]})
        else:
            render.probe_summary(report)
        if not report.ok:
            raise typer.Exit(int(ExitCode.CONFIGURATION))

    return group
