"""The typer app, built from the command table (cli/commands.py) one command at a time: a
command's module is imported, and its options made into typer options, only when that command
is looked up (to run it, or to show its help). Building a typer command is not free either
(typer validates each option through pydantic).

Options declared as `Opt` (cli/options.py) become typer options here; commands keep typer's
own `typer.Option`/`typer.Argument` where they need more than an `Opt` says."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from hdversion import __version__
from hdversion.cli import commands
from hdversion.cli.commands import Command
from hdversion.cli.handler import handled
from hdversion.cli.options import Opt


def typer_signature(function: Callable[..., Any]) -> inspect.Signature:
    """`function`'s signature as typer is to read it: each `Opt` default a typer option."""
    signature = inspect.signature(function, eval_str=True)
    return signature.replace(parameters=[
        p.replace(default=typer.Option(p.default.default, *p.default.aliases, p.default.name,
                                       help=p.default.help, metavar=p.default.metavar,
                                       min=p.default.min))
        if isinstance(p.default, Opt) else p for p in signature.parameters.values()])


def _callback(entry: Command) -> Callable[..., Any]:
    """The command's function with the shared error handling, shown to typer through the
    signature typer reads."""
    function = commands.function_of(entry)
    callback = handled(function)
    callback.__signature__ = typer_signature(function)  # type: ignore[attr-defined]
    return callback


def _build(entry: Command) -> Any:
    """The click command (a group for `remote`) of one table entry."""
    if entry.subcommands:
        group = typer.Typer(name=entry.name, help=entry.help, no_args_is_help=True,
                            add_completion=False)
        for sub in entry.subcommands:
            group.command(sub.name, short_help=sub.help)(_callback(sub))
        return typer.main.get_group(group)
    single = typer.Typer(add_completion=False)
    single.command(entry.name, short_help=entry.help)(_callback(entry))
    return typer.main.get_command(single)


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands by name: every name of the table, each built on first
    lookup. typer's own lookups, listings and "Did you mean" suggestions work unchanged."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}
        self._names = [c.name for c in commands.COMMANDS]

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            entry = commands.find(name)
            if entry is None:
                raise KeyError(name)
            self._built[name] = _build(entry)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _Root(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()


app = typer.Typer(
    name="hdversion",
    help=commands.SUMMARY,
    cls=_Root,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": list(commands.HELP_NAMES)},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hdversion {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help=commands.VERSION_HELP),
) -> None:
    """Back up, list and restore ML artifacts; every backup is a git tag `backup/<UTC time>`."""
