"""The command line's one parser: argparse, the standard library's (DVC's own command line is
argparse too), built for one command from the `Opt` and `Arg` defaults of its function
(cli/options.py). Only the command that runs is imported and built: `hdversion list --json`
loads the listing and nothing else. Why not typer, which the first versions used: see
docs/design-decisions.md, "One parser".

A refusal is a UsageError (exit 2) with the same message on stderr as any other failure, and
as a JSON line on stdout under --json."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from hdversion.cli.commands import HELP_HELP, HELP_NAMES, QUIET, QUIET_HELP, VERBOSE, VERBOSE_HELP
from hdversion.cli.options import Arg, Opt
from hdversion.errors import UsageError

# Imported where needed, not here: every command's start-up pays for what this module loads
# (dataclasses would load inspect; shutil, bz2 and lzma; difflib, heapq), and `list --json`
# of a thousand backups has a budget of 3x starting Python.

WIDTH = 80  # help fits a terminal of 80 columns, or the terminal when it is narrower
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class Param(NamedTuple):
    """One parameter of a command's function, as the command line sees it."""

    name: str
    kind: type  # bool, int, float, str or Path
    many: bool  # a list[str]: a repeatable option, or several positionals
    declared: Opt | Arg


def params_of(function: Callable[..., Any]) -> list[Param]:
    """The parameters of a command's function, read off its code object and string
    annotations: inspect (with ast and dis, which it loads) costs more than the parse."""
    code = function.__code__
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    defaults = dict(zip(names[code.co_argcount - len(function.__defaults__ or ()):],
                        function.__defaults__ or (), strict=False))
    defaults.update(function.__kwdefaults__ or {})
    params = []
    for name in names:
        declared = defaults.get(name)
        if not isinstance(declared, Opt | Arg):
            raise TypeError(f"{function.__qualname__}: parameter {name!r} is neither an Opt "
                            "nor an Arg")
        kind, many = _kind(function.__annotations__.get(name), f"{function.__qualname__}.{name}")
        params.append(Param(name, kind, many, declared))
    return params


_KINDS: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str, "Path": Path}


def _kind(annotation: object, where: str) -> tuple[type, bool]:
    """bool, int, float, str or Path (alone or with None), or list[str]; anything else is a
    programming error, found by the test that builds every command."""
    if not isinstance(annotation, str):  # modules here use `from __future__ import annotations`
        raise TypeError(f"{where}: annotation {annotation!r} is not a string")
    parts = [p.strip() for p in annotation.split("|") if p.strip() != "None"]
    if parts == ["list[str]"]:
        return str, True
    if len(parts) != 1 or parts[0] not in _KINDS:
        raise TypeError(f"{where}: annotation {annotation!r} is not one the parser reads")
    return _KINDS[parts[0]], False


class _Refused(Exception):
    """argparse refused the arguments; the message is its own, made plainer."""


class _ArgumentParser(argparse.ArgumentParser):
    example: str | None = None

    def error(self, message: str) -> NoReturn:
        raise _Refused(message)

    def format_help(self) -> str:
        text = super().format_help()
        if self.example:
            text += "\nExample:\n\n" + "".join(f"  {line}\n"
                                               for line in self.example.splitlines())
        return text


class _HelpFormatter(argparse.HelpFormatter):
    """At most 80 columns; the description's paragraphs kept, each re-wrapped, and a
    paragraph indented by two spaces (an example in a docstring) kept as it is."""

    def __init__(self, prog: str) -> None:
        width = min(WIDTH, _terminal_columns()) - 1
        super().__init__(prog, width=width, max_help_position=26)

    def add_usage(self, usage: str | None, actions: Any, groups: Any,
                  prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: ")  # as the top-level help says it

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        # `-o, --option KEY=VALUE`, not `-o KEY=VALUE, --option KEY=VALUE`
        return f"{', '.join(action.option_strings)} {self._format_args(action, action.dest)}"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out = []
        first, _, rest = text.strip().partition("\n")  # a docstring: the first line unindented
        for block in re.split(r"\n\s*\n", f"{first}\n{textwrap.dedent(rest)}".strip()):
            lines = block.splitlines()
            if all(line.startswith("  ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(line.strip() for line in lines), width,
                                         initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out)


def _terminal_columns() -> int:
    """shutil.get_terminal_size's answer (COLUMNS, else the terminal, else 80), without
    shutil."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(1).columns
    except OSError:
        return WIDTH


def _whole(minimum: int | None) -> Callable[[str], int]:
    def convert(text: str) -> int:
        # A negative count is read, and refused by whoever knows why it cannot be.
        if not (text.isascii() and text.removeprefix("-").isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        value = int(text)
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value
    return convert


def _decimal(minimum: int | None) -> Callable[[str], float]:
    def convert(text: str) -> float:
        if not _DECIMAL.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 30 "
                                             "or 2.5)")
        value = float(text)
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below the minimum {minimum}")
        return value
    return convert


def _converter(param: Param) -> Callable[[str], Any]:
    assert isinstance(param.declared, Opt | Arg)
    minimum = param.declared.min if isinstance(param.declared, Opt) else None
    if param.kind is int:
        return _whole(minimum)
    if param.kind is float:
        return _decimal(minimum)
    if param.kind is Path:
        return _path
    return _text


def _text(text: str) -> str:
    return text


def _path(text: str) -> Path:
    if not text:  # Path("") is the current folder: `--target ""` must not mean "here"
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def usage_line(prog: str, params: Sequence[Param]) -> str:
    positionals = []
    for p in params:
        if isinstance(p.declared, Arg):
            word = p.declared.metavar + ("..." if p.many else "")
            positionals.append(word if p.declared.required else f"[{word}]")
    return " ".join([prog, "[OPTIONS]", *positionals])


def build(prog: str, function: Callable[..., Any], description: str,
          example: str | None) -> argparse.ArgumentParser:
    """The parser of one command."""
    params = params_of(function)
    parser = _ArgumentParser(prog=prog, usage=usage_line(prog, params),
                             description=description, formatter_class=_HelpFormatter,
                             add_help=False, allow_abbrev=False)
    parser.example = example
    arguments = parser.add_argument_group("arguments")
    options = parser.add_argument_group("options")
    for param in params:
        declared = param.declared
        if isinstance(declared, Arg):
            nargs = ("+" if declared.required else "*") if param.many else \
                (None if declared.required else "?")
            arguments.add_argument(param.name, metavar=declared.metavar, nargs=nargs,
                                   type=_converter(param), help=_escaped(declared.help),
                                   default=[] if param.many else None)
            continue
        names = [*(a for a in declared.aliases if len(a) == 2), declared.name,
                 *(a for a in declared.aliases if len(a) > 2)]
        if param.kind is bool:
            options.add_argument(*names, dest=param.name, action="store_true",
                                 help=_escaped(declared.help))
            continue
        options.add_argument(*names, dest=param.name, default=declared.default,
                             type=_converter(param), required=declared.required,
                             action="append" if param.many else "store",
                             metavar=declared.metavar or _metavar(param),
                             help=_escaped(declared.help))
    common = parser.add_argument_group("common options")
    common.add_argument(*QUIET, dest="_verbosity", action="store_const", const=-1,
                        default=0, help=QUIET_HELP)
    common.add_argument(*VERBOSE, dest="_verbosity", action="store_const", const=1,
                        help=VERBOSE_HELP)
    common.add_argument(*sorted(HELP_NAMES, key=len), action="help", help=HELP_HELP)
    return parser


def _metavar(param: Param) -> str:
    return {int: "N", float: "SECONDS", Path: "PATH"}.get(param.kind, "TEXT")


def parse(parser: argparse.ArgumentParser, args: Sequence[str]) -> tuple[dict[str, Any], int]:
    """The keyword arguments to call the command with, and the verbosity asked for (-1 quiet,
    0, 1 verbose); a UsageError for anything the command does not take."""
    _check_option_names(parser, args)
    try:
        namespace = parser.parse_args(list(args))
    except _Refused as refused:
        raise UsageError(_plainer(str(refused)), hint=f"see `{parser.prog} --help`") from None
    values = vars(namespace)
    verbosity = values.pop("_verbosity")
    return values, verbosity


def _check_option_names(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """An option the command does not have, named with the ones it has that are closest (a
    typo in `prune --keep-lats 3` must never be read as anything else)."""
    known = [s for a in parser._actions for s in a.option_strings]
    for token in args:
        if token == "--":
            return
        name = token.split("=", 1)[0]
        if not name.startswith("-") or name == "-" or _looks_numeric(name) or name in known:
            continue
        if not name.startswith("--") and len(name) > 2 and name[:2] in known:
            continue  # -mVALUE: a short option with its value attached
        import difflib

        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        raise UsageError(f"no such option {name} for `{parser.prog}`",
                         hint=(f"did you mean {' or '.join(close)}? " if close else "")
                         + f"see `{parser.prog} --help`")


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"-[0-9.]+", text))


def _plainer(message: str) -> str:
    """argparse's refusals, in the words of the rest of hdversion."""
    message = re.sub(r"^argument ([^:]+): ", lambda m: f"{_primary(m.group(1))}: ", message)
    message = message.replace("the following arguments are required:",
                              "missing, and required:")
    message = re.sub(r"^(\S+): ignored explicit argument (.*)$", r"\1 takes no value (got \2)",
                     message)
    return message.replace("expected one argument", "needs a value")


def _primary(names: str) -> str:
    """The name an option is declared by: argparse names it by all, short ones first."""
    spelled = names.split("/")
    return next((n for n in spelled if n.startswith("--")), spelled[0])


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %(default)s and the like
