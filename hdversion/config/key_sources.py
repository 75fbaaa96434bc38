"""Where a user's keys to encrypted remotes are: the environment, then the default key
folder. Only where and what bytes; what they open is crypto/keys.py's (config imports no
cryptography).

In the order they are tried:

    HDVERSION_KEY_FILE           a key file's path
    HDVERSION_PASSPHRASE         a passphrase
    HDVERSION_PASSPHRASE_FILE    a file whose first line is the passphrase
    HDVERSION_AGE_IDENTITY       an age identity file's path
    $XDG_CONFIG_HOME/hdversion/keys/<repository>.key   (XDG_CONFIG_HOME: ~/.config)

New passphrases (`key init/add --passphrase`) come from HDVERSION_NEW_PASSPHRASE, or are
asked twice on a terminal: never from the command line, where `ps` shows them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hdversion.errors import KeyUnavailableError

KEY_FILE_VAR = "HDVERSION_KEY_FILE"
PASSPHRASE_VAR = "HDVERSION_PASSPHRASE"
PASSPHRASE_FILE_VAR = "HDVERSION_PASSPHRASE_FILE"
AGE_IDENTITY_VAR = "HDVERSION_AGE_IDENTITY"
NEW_PASSPHRASE_VAR = "HDVERSION_NEW_PASSPHRASE"
# Files the environment names are read this far: a key file is one line, an identity file
# a few.
MAX_KEY_SOURCE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SuppliedKey:
    kind: str  # "keyfile", "passphrase" or "age"
    source: str  # where it came from, for messages (a variable, a path): never the secret
    data: bytes  # the key file's, the passphrase's or the identity file's bytes


def key_folder() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hdversion" / "keys"


def default_key_file(repository: str) -> Path:
    return key_folder() / f"{repository}.key"


def supplied_keys(repository: str) -> list[SuppliedKey]:
    """Every key the user supplied for the remote whose id is `repository`, in order.
    KeyUnavailableError when a variable names a file that cannot be read (a typo there must
    not read as "no key")."""
    env = os.environ
    found: list[SuppliedKey] = []
    if env.get(KEY_FILE_VAR):
        found.append(SuppliedKey("keyfile", f"{KEY_FILE_VAR}={env[KEY_FILE_VAR]}",
                                 _read(env[KEY_FILE_VAR], KEY_FILE_VAR)))
    if env.get(PASSPHRASE_VAR):
        found.append(SuppliedKey("passphrase", PASSPHRASE_VAR, env[PASSPHRASE_VAR].encode()))
    if env.get(PASSPHRASE_FILE_VAR):
        text = _read(env[PASSPHRASE_FILE_VAR], PASSPHRASE_FILE_VAR)
        found.append(SuppliedKey("passphrase", f"{PASSPHRASE_FILE_VAR}="
                                 f"{env[PASSPHRASE_FILE_VAR]}", _first_line(text)))
    if env.get(AGE_IDENTITY_VAR):
        found.append(SuppliedKey("age", f"{AGE_IDENTITY_VAR}={env[AGE_IDENTITY_VAR]}",
                                 _read(env[AGE_IDENTITY_VAR], AGE_IDENTITY_VAR)))
    default = default_key_file(repository)
    if default.is_file():
        found.append(SuppliedKey("keyfile", str(default), _read(str(default), "")))
    return found


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].removesuffix(b"\r")


def _read(path: str, variable: str) -> bytes:
    named = f"{variable} names {path}" if variable else str(path)
    try:
        with open(Path(path).expanduser(), "rb") as file:
            data = file.read(MAX_KEY_SOURCE_BYTES + 1)
    except OSError as exc:
        raise KeyUnavailableError(f"{named}, which cannot be read: "
                                  f"{exc.strerror or exc}") from None
    if len(data) > MAX_KEY_SOURCE_BYTES:
        raise KeyUnavailableError(f"{named}, which is over {MAX_KEY_SOURCE_BYTES} bytes: "
                                  "not a key")
    return data


def how_to_supply(repository: str | None) -> str:
    """The hint of every "no key" error."""
    default = (str(default_key_file(repository)) if repository
               else str(key_folder() / "<repository>.key"))
    return (f"supply a key: {KEY_FILE_VAR}=PATH, {PASSPHRASE_VAR}, {PASSPHRASE_FILE_VAR}"
            f"=PATH or {AGE_IDENTITY_VAR}=PATH, or put the key file at {default}")


def new_passphrase() -> bytes:
    """A new passphrase: HDVERSION_NEW_PASSPHRASE, else asked twice on a terminal."""
    import sys

    from hdversion.errors import UsageError

    given = os.environ.get(NEW_PASSPHRASE_VAR)
    if given:
        return given.encode()
    if not sys.stdin.isatty():
        raise UsageError("a new passphrase is asked on a terminal, and this is none",
                         hint=f"set {NEW_PASSPHRASE_VAR} (never on the command line)")
    import getpass

    first = getpass.getpass("New passphrase: ")
    if not first:
        raise UsageError("an empty passphrase protects nothing")
    if getpass.getpass("Again: ") != first:
        raise UsageError("the two passphrases differ; nothing was changed")
    return first.encode()


def write_key_file(path: Path, text: str) -> None:
    """A new key file, 0600 from its first byte, in a folder of mode 0700 (made if needed);
    never over an existing file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
