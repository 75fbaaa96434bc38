"""The keys of an encrypted archive, from where a user gives them: recipients on the
command line or in a file, a passphrase from HDVERSION_PASSPHRASE or asked on the terminal
(never an option: a command line shows in `ps` and in shell history), an identity file
from --identity or HDVERSION_AGE_IDENTITY."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from hdversion.errors import HdversionError, KeyUnavailableError, UsageError
from hdversion.util.agefile import MAGIC, is_age, read_header, read_key_lines

PASSPHRASE_ENV = "HDVERSION_PASSPHRASE"
IDENTITY_ENV = "HDVERSION_AGE_IDENTITY"


def recipients_of(recipients: list[str] | None, recipients_file: Path | None
                  ) -> list[str]:
    return list(recipients or []) + (
        list(read_key_lines(recipients_file, "recipients")) if recipients_file else [])


def new_passphrase() -> str:
    """For export: the environment's, or asked twice on a terminal."""
    if (given := os.environ.get(PASSPHRASE_ENV)) is not None:
        return given
    _need_terminal()
    first = getpass.getpass("passphrase for the archive: ")
    if getpass.getpass("the same passphrase again: ") != first:
        raise UsageError("the two passphrases differ; nothing was written")
    return first


def keys_for(archive: Path, identity: Path | None) -> tuple[Path | None, str | None]:
    """For import: the identity file and passphrase to try. The terminal is asked only for
    an archive encrypted with a passphrase, and only when the environment has none."""
    identity = identity or (Path(env) if (env := os.environ.get(IDENTITY_ENV)) else None)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None and identity is None and _wants_passphrase(archive):
        _need_terminal()
        passphrase = getpass.getpass(f"passphrase for {archive.name}: ")
    return identity, passphrase


def _wants_passphrase(archive: Path) -> bool:
    """Whether the archive is age-encrypted with a passphrase (anything else, a file that
    cannot be read or a malformed header included, is for import itself to say)."""
    try:
        with archive.open("rb") as raw:
            if not is_age(raw.read(len(MAGIC))):
                return False
            raw.seek(0)
            return read_header(raw, archive.name).passphrase
    except (OSError, HdversionError):
        return False


def _need_terminal() -> None:
    if not sys.stdin.isatty():
        raise KeyUnavailableError("a passphrase is needed and there is no terminal to ask "
                                  "it on; nothing was written",
                                  hint=f"set {PASSPHRASE_ENV}")
