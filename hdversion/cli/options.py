"""How a command declares what it reads from the command line, and the options several
commands share.

A command is a function whose parameters default to an `Opt` (an option) or an `Arg` (a
positional argument); their annotations give the types. The one parser (cli/parser.py)
builds the command's argparse parser from them: each help line is written once, here or
beside the command."""

from __future__ import annotations

from typing import Any, NamedTuple

from hdversion.errors import UsageError
from hdversion.model.storages import STORAGES

_STORAGE_NAMES = "|".join(STORAGES)


class Opt(NamedTuple):
    """An option: `--name VALUE` (a flag when the parameter is a bool, repeatable when it is
    a list[str]); its type is the parameter's annotation."""

    default: Any
    name: str
    help: str
    metavar: str | None = None
    min: int | None = None
    aliases: tuple[str, ...] = ()  # other names, e.g. a short one ("-m")
    required: bool = False


class Arg(NamedTuple):
    """A positional argument; several when the parameter is a list[str]."""

    metavar: str
    help: str
    required: bool = True


def option(default: Any, name: str, help: str, metavar: str | None = None,
           min: int | None = None, aliases: tuple[str, ...] = (),
           required: bool = False) -> Any:
    """An `Opt`, typed Any: it stands in for the parameter's value."""
    return Opt(default, name, help, metavar, min, aliases, required)


def argument(metavar: str, help: str, required: bool = True) -> Any:
    """An `Arg`, typed Any: it stands in for the parameter's value (None, or an empty list,
    when an optional one is not given)."""
    return Arg(metavar, help, required)


# How every command names one backup (model/names.py reads it).
BACKUP_HELP = ("A backup: its timestamp YYYYMMDD_HHMMSS (UTC), a unique prefix of it "
               "(20261206_11), backup/TIMESTAMP, latest, or an alias (prod).")
BACKUP = argument("T", BACKUP_HELP)


JSON = option(False, "--json", help="Print machine-readable JSON on stdout.")
CLOUD = option(False, "--cloud", help="Also use a cloud remote (see --storage).")
STORAGE = option(None, "--storage", metavar="NAME", help=f"Cloud storage: {', '.join(STORAGES)}.")
STORAGE_LIST = option(None, "--storage", metavar="NAME",
                   help=f"Cloud storage: {', '.join(STORAGES)}; repeat for several "
                   "(3-2-1). Default: backup.remotes in the settings.")
REMOTE = option(None, "--remote", metavar="NAME",
                help="Any DVC remote by name (instead of --storage).")
OFFLINE = option(False, "--offline",
              help="Do not fetch backup tags and pins from the git remote first.")
EVERY_VALUE = option(False, "--all",
                     help="Print every param and metric, not only those that changed.")
WAIT = option(600.0, "--wait", min=0, metavar="SECONDS",
           help="Wait this long for another hdversion run in this repository (and, to "
           "write into a shared store, for a prune there) to finish, saying so; 0 fails "
           "at once with exit 6.")


def cloud_remote(cloud: bool, storage: str | None, remote: str | None) -> str | None:
    """The DVC remote named by --cloud/--storage/--remote, or None for the local one only."""
    _check_storages([storage] if storage is not None else [])
    if remote and storage:
        raise UsageError("give --storage or --remote, not both")
    if cloud and not (storage or remote):
        raise UsageError(f"--cloud needs --storage={_STORAGE_NAMES} (or --remote NAME)")
    return remote or storage


def required_remote(storage: str | None, remote: str | None, command: str) -> str:
    if not (storage or remote):
        raise UsageError(f"{command} needs --storage={_STORAGE_NAMES} (or --remote NAME)")
    where = cloud_remote(True, storage, remote)
    assert where is not None
    return where


def cloud_remotes(cloud: bool, storages: list[str] | None, remote: str | None
                  ) -> tuple[str, ...] | None:
    """The remotes named by --storage (repeatable) and --remote, or None for the configured
    set (`backup.remotes`); `--cloud` alone asks for that set."""
    _check_storages(storages or [])
    if remote and storages:
        raise UsageError("give --storage or --remote, not both")
    names = tuple(dict.fromkeys([*(storages or []), *([remote] if remote else [])]))
    return names or None


def _check_storages(storages: list[str]) -> None:
    for storage in storages:
        if storage == "local":
            raise UsageError("--storage names a cloud storage; the local remote is "
                             "--remote local", hint="use --remote local")
        if storage not in STORAGES:
            raise UsageError(f"unknown storage {storage!r}: choose one of "
                             f"{', '.join(STORAGES)}")
