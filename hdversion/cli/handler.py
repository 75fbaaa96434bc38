"""From an error to an exit code, in one place: every failure is an HdversionError that
carries its code (hdversion/errors.py); this prints its message (and JSON with --json) and
exits with that code. Commands never pick a code themselves.

A refusal of the arguments themselves (cli/parser.py) is printed the same way (`fail`)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from hdversion.errors import ExitCode, HdversionError
from hdversion.util.redact import redact

F = TypeVar("F", bound=Callable[..., Any])


class _AfterOutput(Exception):
    """A failure found after the command printed its result: the result already says it
    (as JSON, too), so only the message goes to stderr."""

    def __init__(self, error: HdversionError) -> None:
        super().__init__(error.message)
        self.error = error


def finish(failure: HdversionError | None) -> None:
    """End a command whose result is printed: exit with the failure's code, if any."""
    if failure is not None:
        raise _AfterOutput(failure)


def handled(command: F) -> F:
    """Map expected failures to their exit codes with a message and no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return command(*args, **kwargs)
        except _AfterOutput as done:
            _fail(done.error.message, done.error.hint, int(done.error.exit_code), False)
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


def fail(error: HdversionError, as_json: bool) -> NoReturn:
    _fail(error.message, error.hint, int(error.exit_code), as_json)


def _fail(message: str, hint: str | None, code: int, as_json: bool) -> NoReturn:
    message, hint = redact(message), redact(hint) if hint else None
    if as_json:
        # The envelope of every command's JSON (cli/records.emit_result), with the error.
        print(json.dumps({"ok": False, "exit_code": code, "error": message, "hint": hint}))
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    raise SystemExit(code)
