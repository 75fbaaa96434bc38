"""The command line: parse, call hdversion.api, render. Nothing here holds logic the API lacks.

Heavy modules (DVC, GitPython) load inside commands, so `--help` and `--version` stay fast.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from hdversion import __version__
from hdversion.cli import commands
from hdversion.errors import ExitCode, HdversionError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="hdversion",
    help="Verified backups of the Heart Disease Prediction project's models and data "
    "(DVC + git).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def handled(command: F) -> F:
    """Map expected failures to their exit codes with a message and no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except HdversionError as exc:
            _fail(exc.message, exc.hint, int(exc.exit_code), as_json)
        except KeyboardInterrupt:
            _fail("interrupted", None, int(ExitCode.INTERRUPTED), as_json)
        except Exception as exc:
            if os.environ.get("HDVERSION_DEBUG"):
                raise
            _fail(f"unexpected error: {type(exc).__name__}: {exc}",
                  "set HDVERSION_DEBUG=1 for a traceback; the journal has the details",
                  int(ExitCode.UNEXPECTED), as_json)

    return wrapper  # type: ignore[return-value]


def _fail(message: str, hint: str | None, code: int, as_json: bool) -> None:
    from hdversion.credentials import redact

    message, hint = redact(message), redact(hint) if hint else None
    if as_json:
        print(json.dumps({"error": message, "hint": hint, "exit_code": code}))
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    raise typer.Exit(code)


commands.register(app, handled)


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
