"""A command's arguments read without typer, from the same `Opt` declarations that typer is
given (cli/options.py), for the forms where there is nothing to judge: each token an option
of the command, each value one that typer would take as it is. Anything else (--help, an
unknown option, `--`, a value to convert or refuse) is left to typer, which then reads the
whole command line itself: its answers and its error messages stay the only ones."""

from __future__ import annotations

import inspect
import os
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from hdversion.cli.commands import Command, function_of
from hdversion.cli.handler import handled
from hdversion.cli.options import Opt

_KINDS: tuple[Any, ...] = (bool, int, float, str, Path, list[str])
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def run_plain(entry: Command, args: list[str]) -> bool:
    """Run the command without typer if its arguments are plain; False when typer must."""
    function = function_of(entry)
    values = parse(function, args)
    if values is None:
        return False
    try:
        handled(function)(**values)
    except BrokenPipeError:
        # Nobody reads any more (`| head`): exit 1 without a word, as typer (click) does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    return True


def parse(function: Callable[..., Any], args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would call `function` with, or None to leave it to
    typer."""
    values: dict[str, Any] = {}
    options: dict[str, tuple[str, Any, Opt]] = {}
    for param in inspect.signature(function, eval_str=True).parameters.values():
        opt, kind = param.default, _kind(param.annotation)
        if not isinstance(opt, Opt) or kind is None or (kind is bool and opt.default):
            return None
        values[param.name] = opt.default
        for name in (opt.name, *opt.aliases):
            options[name] = (param.name, kind, opt)
    tokens = iter(args)
    for token in tokens:
        name, inline, text = token.partition("=")
        if name not in options or (inline and not name.startswith("--")):
            return None  # click reads `-m=x` as the value "=x": left to it
        key, kind, opt = options[name]
        if kind is bool:
            if inline:
                return None
            values[key] = True
            continue
        value = text if inline else next(tokens, None)
        if not value or value.startswith("-"):
            return None
        if kind is int:
            if not (value.isascii() and value.isdigit()) or value != str(int(value)):
                return None
            if opt.min is not None and int(value) < opt.min:
                return None
            values[key] = int(value)
        elif kind is float:
            if not _DECIMAL.fullmatch(value) or (opt.min is not None and float(value) < opt.min):
                return None
            values[key] = float(value)
        elif kind == list[str]:
            values[key] = [*(values[key] or []), value]
        else:
            values[key] = kind(value)
    return values


def _kind(annotation: Any) -> Any:
    """bool, int, float, str, Path or list[str] (a repeatable option), alone or with None;
    None for anything else."""
    if isinstance(annotation, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else None
    return annotation if annotation in _KINDS else None
