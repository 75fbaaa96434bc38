"""A command's arguments read without typer, from the same `Opt` declarations that typer is
given (cli/options.py), for the forms where there is nothing to judge: each token an option
of the command, each value one that typer would take as it is. Anything else (--help, an
unknown option, `--`, a value to convert or refuse) is left to typer, which then reads the
whole command line itself: its answers and its error messages stay the only ones."""

from __future__ import annotations

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
    for param, opt, annotation in _parameters(function):
        kind = _kind(annotation)
        if not isinstance(opt, Opt) or kind is None or (kind is bool and opt.default):
            return None
        values[param] = opt.default
        for name in (opt.name, *opt.aliases):
            options[name] = (param, kind, opt)
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


def _parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Each parameter's name, default and annotation, read off the function itself: inspect
    (with ast and dis, which it loads) costs more than the parse. A parameter without a
    default, or one that is positional only, *args or **kwargs, gets no Opt: typer's."""
    code = function.__code__
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    defaults = dict(zip(names[code.co_argcount - len(function.__defaults__ or ()):],
                        function.__defaults__ or (), strict=False))
    defaults.update(function.__kwdefaults__ or {})
    if code.co_posonlyargcount or code.co_flags & (_VARARGS | _VARKEYWORDS):
        return [("", None, None)]
    return [(name, defaults.get(name), function.__annotations__.get(name))
            for name in names]


_VARARGS, _VARKEYWORDS = 0x04, 0x08  # inspect.CO_VARARGS, inspect.CO_VARKEYWORDS
# The annotations of a module with `from __future__ import annotations` are strings.
_NAMED: dict[str, Any] = {"bool": bool, "int": int, "float": float, "str": str, "Path": Path,
                          "list[str]": list[str]}


def _kind(annotation: Any) -> Any:
    """bool, int, float, str, Path or list[str] (a repeatable option), alone or with None;
    None for anything else."""
    if isinstance(annotation, str):
        kinds = [part.strip() for part in annotation.split("|") if part.strip() != "None"]
        return _NAMED.get(kinds[0]) if len(kinds) == 1 else None
    if isinstance(annotation, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else None
    return annotation if annotation in _KINDS else None
