"""The command line: the typer app, one module per command (cmd_*.py), each registered here
with the shared error handler. Nothing here holds logic the Python API lacks."""

from __future__ import annotations

import logging
import signal
import sys

import typer

from hdversion import __version__
from hdversion.cli import (
    cmd_auto,
    cmd_backup,
    cmd_copy,
    cmd_diff,
    cmd_export,
    cmd_import,
    cmd_list,
    cmd_pin,
    cmd_prune,
    cmd_remote,
    cmd_report,
    cmd_restore,
    cmd_schedule,
    cmd_show,
    cmd_status,
    cmd_sync,
    cmd_verify,
)
from hdversion.cli.handler import handled

app = typer.Typer(
    name="hdversion",
    help="Verified backups of the Heart Disease Prediction project's models and data "
    "(DVC + git).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
remote_app = typer.Typer(help="Storage remotes (DVC remotes): add, list, test.",
                         no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hdversion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Back up, list and restore ML artifacts; every backup is a git tag `backup/<UTC time>`."""


app.command("backup")(handled(cmd_backup.backup))
app.command("list")(handled(cmd_list.list_backups))
app.command("restore")(handled(cmd_restore.restore))
app.command("sync")(handled(cmd_sync.sync))
app.command("copy")(handled(cmd_copy.copy))
app.command("export")(handled(cmd_export.export))
app.command("import")(handled(cmd_import.import_archive))
app.command("prune")(handled(cmd_prune.prune))
app.command("auto")(handled(cmd_auto.auto))
app.command("schedule")(handled(cmd_schedule.schedule))
app.command("show")(handled(cmd_show.show))
app.command("diff")(handled(cmd_diff.diff))
app.command("status")(handled(cmd_status.status))
app.command("pin")(handled(cmd_pin.pin))
app.command("unpin")(handled(cmd_pin.unpin))
app.command("verify")(handled(cmd_verify.verify))
app.command("report")(handled(cmd_report.report))
app.add_typer(remote_app, name="remote")
remote_app.command("add")(handled(cmd_remote.add))
remote_app.command("list")(handled(cmd_remote.list_remotes))
remote_app.command("test")(handled(cmd_remote.test))


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    # cron and CI stop jobs with SIGTERM: treat it like Ctrl-C, so that the run unwinds (staged
    # files removed, the lock released, the journal written) and exits 130.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger("hdversion").addHandler(handler)
    app()
