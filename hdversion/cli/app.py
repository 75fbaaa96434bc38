"""The command line's entry point: the global options, then one command, found in the table
(cli/commands.py), its module imported and its arguments read by the one parser
(cli/parser.py). The top-level help and `--version` import no command at all."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from hdversion import __version__
from hdversion.cli import commands, verbosity
from hdversion.cli.commands import Command
from hdversion.cli.handler import fail, handled
from hdversion.errors import ConfigurationError, HdversionError, UsageError


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
    try:
        run(sys.argv[1:])
    except SystemExit as done:
        _exit_now(done.code)
    _exit_now(0)


def run(args: list[str]) -> None:
    """Run `hdversion ARGS`; exits (SystemExit) with the command's code when it fails."""
    try:
        rest, level = _global_options(args)
        if not rest:
            print(commands.usage())
            raise SystemExit(0 if args and args[-1] in commands.HELP_NAMES else 2)
        from hdversion.cli import parser  # not for the top-level help
        entry = _command(rest[0], commands.COMMANDS)
        rest = rest[1:]
        prog = f"hdversion {entry.name}"
        if entry.subcommands:
            if not rest or rest[0] in commands.HELP_NAMES:
                print(commands.group_usage(entry))
                raise SystemExit(0 if rest else 2)
            group, entry = entry, _command(rest[0], entry.subcommands, entry.name)
            rest = rest[1:]
            prog = f"hdversion {group.name} {entry.name}"
        function = commands.function_of(entry)
        description = (function.__doc__ or entry.help).strip()
        built = parser.build(prog, function, description, entry.example)
        values, command_level = parser.parse(built, rest)
    except HdversionError as refused:
        fail(refused, _json_asked(args))
    verbosity.set_level(command_level or level)
    setup()
    _call(function, values)


def _json_asked(args: list[str]) -> bool:
    """Whether the command line asks for JSON, read without a parse (which may be what
    failed): a refusal is then a JSON line on stdout too."""
    return "--json" in args[:args.index("--")] if "--" in args else "--json" in args


def _global_options(args: list[str]) -> tuple[list[str], int]:
    """The arguments from the command on, and the verbosity the options before it ask for."""
    level = 0
    while args and args[0].startswith("-"):
        option, _, value = args[0].partition("=")
        if option in commands.HELP_NAMES:
            return [], 0
        if option == "--version":
            print(f"hdversion {__version__}")
            raise SystemExit(0)
        if option in commands.QUIET or option in commands.VERBOSE:
            level = -1 if option in commands.QUIET else 1
            args = args[1:]
        elif option == commands.CONFIG:
            if not value:
                if len(args) < 2 or not args[1]:
                    raise UsageError(f"{commands.CONFIG} needs a FILE")
                value, args = args[1], args[1:]
            if not os.path.isfile(value):
                raise ConfigurationError(f"{commands.CONFIG} {value}: no such file",
                                         hint="name hdversion's settings file (YAML)")
            # The settings are read deep in the API: the environment carries the choice there
            # (and to hooks, which run hdversion again).
            os.environ["HDVERSION_CONFIG"] = os.path.abspath(value)
            args = args[1:]
        else:
            raise UsageError(f"no such option {option} before the command",
                             hint="see `hdversion --help`")
    return args, level


def _command(name: str, table: tuple[Command, ...], group: str | None = None) -> Command:
    entry = commands.find(name, table)
    if entry is not None:
        return entry
    where = f"hdversion {group}" if group else "hdversion"
    import difflib

    close = difflib.get_close_matches(name, [c.name for c in table], n=3, cutoff=0.6)
    raise UsageError(f"no such command {name!r}",
                     hint=(f"did you mean {' or '.join(close)}? " if close else "")
                     + f"see `{where} --help`")


def _call(function: Callable[..., Any], values: dict[str, Any]) -> None:
    try:
        handled(function)(**values)
    except BrokenPipeError:
        # Nobody reads any more (`| head`): exit 1 without a word, as click does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def whole_parser() -> Any:
    """Every command's parser under one root, for shell completion (which needs them all,
    so imports every command's module)."""
    import argparse

    from hdversion.cli import parser

    root = argparse.ArgumentParser(prog="hdversion", description=commands.SUMMARY)
    root.add_argument("--version", action="version", version=f"hdversion {__version__}")
    root.add_argument(commands.CONFIG, metavar="FILE", help=commands.CONFIG_HELP)

    def add(into: Any, table: tuple[Command, ...], prefix: str) -> None:
        subparsers = into.add_subparsers(dest=f"{prefix.replace(' ', '_')}_command")
        for entry in table:
            if entry.subcommands:
                group = subparsers.add_parser(entry.name, help=entry.help)
                add(group, entry.subcommands, f"{prefix} {entry.name}")
                continue
            function = commands.function_of(entry)
            built = parser.build(f"{prefix} {entry.name}", function, entry.help, None)
            subparsers.add_parser(entry.name, help=entry.help, parents=[built],
                                  add_help=False)

    add(root, commands.COMMANDS, "hdversion")
    return root


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
