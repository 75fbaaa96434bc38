"""The command line's entry point. The commands are in one table (cli/commands.py) and the
typer app is built from it (cli/typer_app.py); the top-level help, `--version` and the plain
forms of the commands marked `plain` (list, backup, restore, status, auto, prune) are answered
before typer is even imported: typer (which loads pydantic) and rich cost several times
Python's own start-up, more than listing a thousand backups."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import NoReturn

from hdversion import __version__
from hdversion.cli import commands


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    # cron and CI stop jobs with SIGTERM: treat it like Ctrl-C, so that the run unwinds (staged
    # files removed, the lock released, the journal written) and exits 130.
    raise KeyboardInterrupt


def setup() -> None:
    """What every command needs: SIGTERM handled, warnings on stderr."""
    from hdversion.util.log import to_stderr

    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    to_stderr("warning: %(message)s")


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in commands.HELP_NAMES:
        print(commands.usage())
        sys.exit(0 if args else 2)  # as typer's no_args_is_help: no command is a usage error
    if args[0] == "--version":
        print(f"hdversion {__version__}")
        sys.exit(0)
    setup()
    try:
        _run(args)
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def _run(args: list[str]) -> None:
    entry = commands.find(args[0])
    if entry is not None and entry.plain:
        from hdversion.cli.argv import run_plain

        if run_plain(entry, args[1:]):
            return
    from hdversion.cli.typer_app import app

    app()


def _exit_now(code: str | int | None) -> NoReturn:
    """Exit as Python would, but without tearing the interpreter down: with DVC loaded,
    freeing every module's objects one by one takes about 0.15 s, more than an unchanged
    backup's own git work. What exit must still do is done: atexit's functions (logging's
    flush among them) and stdout and stderr flushed. A thread still running is waited for
    the usual way."""
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive()
           for t in threading.enumerate()):
        sys.exit(code)
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"), as Python prints it
        print(code, file=sys.stderr)
        status = 1
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        status = status or 120  # what Python exits with when stdout cannot be flushed
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(status)
