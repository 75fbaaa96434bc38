"""The keys of an encrypted remote: making an empty remote encrypted (`key init`), and
rotating who may open it without re-encrypting anything (`key add/list/remove`), as restic
does. The keys themselves are records in the remote (datastore/keyring.py); the keys a user
holds are found by config/key_sources.py."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hdversion.config.key_sources import default_key_file, new_passphrase, write_key_file
from hdversion.crypto.keys import (
    KeyFile,
    KeyRecord,
    KeyRecordError,
    Passphrase,
    Supplied,
    check_recipient,
    parse_key_file,
)
from hdversion.crypto.master import MasterKey
from hdversion.errors import UsageError
from hdversion.ops.operation import locked_operation
from hdversion.ops.project import Project

if TYPE_CHECKING:
    from hdversion.datastore.keyring import ListedKey


@dataclass(frozen=True)
class KeyInfo:
    """One key record of an encrypted remote."""

    id: str
    kind: str  # keyfile, passphrase or age
    created: str  # ISO 8601, UTC
    label: str  # who made it, where (user@host)
    opened: bool  # the key that opened the remote in this run
    problem: str | None = None  # a record that cannot be read as one: the rule it breaks


@dataclass(frozen=True)
class KeyResult:
    """What `key init`, `key add` or `key remove` did."""

    remote: str
    repository: str  # the encrypted remote's id
    key: KeyInfo  # the key added or removed
    key_file: str | None = None  # a key file this run wrote (keep it safe: it opens the data)


@dataclass(frozen=True)
class KeyList:
    remote: str
    repository: str
    keys: list[KeyInfo]


@dataclass(frozen=True)
class _NewKey:
    key: Supplied | str  # a key file, a passphrase, or an age recipient (age1...)
    write_to: Path | None  # a new key file to write first; None: nothing to write
    file: KeyFile | None = None


def key_init(remote: str, *, key_file: Path | None = None, passphrase: bool = False,
             age_recipient: str | None = None, repo: Path | None = None,
             config: Path | None = None) -> KeyResult:
    """Make an existing, empty remote encrypted. Its first key: `key_file` (used if it
    exists, else written there), a new passphrase (`passphrase`: HDVERSION_NEW_PASSPHRASE or
    asked twice on a terminal), or an age recipient; by default a new key file in the
    default key folder. UsageError (exit 2) for a remote that holds data already."""
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "key-init", remote=remote):
        result = init_keys(project, remote, key_file, passphrase, age_recipient)
        project.journal("key-init", "ok", remote=remote, key=result.key.id)
        return result


def init_keys(project: Project, remote: str, key_file: Path | None = None,
              passphrase: bool = False, age_recipient: str | None = None) -> KeyResult:
    """`key_init` within an operation already holding the lock (`remote add --encrypt`)."""
    choice = _chosen(key_file, passphrase, age_recipient, required=False)
    ring = project.store.keyring(remote)
    if ring.encrypted():
        ring.config()  # validated: a damaged config is named as such, not "encrypted"
        raise UsageError(f"remote {ring.where()} is already encrypted",
                         hint="`hdversion key add REMOTE ...` adds a key to it")
    ring.check_empty()
    master = MasterKey.new()
    new = _new_key(choice, default_key_file(master.repository))
    written = _write_key_file(new)
    try:
        master, record = ring.create(new.key, master=master)
    except BaseException:
        if written is not None:
            with contextlib.suppress(OSError):
                written.unlink()
        raise
    return KeyResult(remote, master.repository, _info(record, opened=True),
                     None if written is None else str(written))


def key_add(remote: str, *, key_file: Path | None = None, passphrase: bool = False,
            age_recipient: str | None = None, repo: Path | None = None,
            config: Path | None = None) -> KeyResult:
    """Add a key to an encrypted remote, unlocked first by a key already held: a key file
    (`key_file`: used if it exists, else written there), a new passphrase, or an age
    recipient."""
    choice = _chosen(key_file, passphrase, age_recipient, required=True)
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "key-add", remote=remote):
        ring = project.store.keyring(remote)
        repository = ring.config().repository
        ring.unlock()  # before a passphrase is asked for, or a key file written
        new = _new_key(choice, None)
        written = _write_key_file(new)
        try:
            record = ring.add(new.key)
        except BaseException:
            if written is not None:
                with contextlib.suppress(OSError):
                    written.unlink()
            raise
        project.journal("key-add", "ok", remote=remote, key=record.id)
        return KeyResult(remote, repository, _info(record, opened=False),
                         None if written is None else str(written))


def key_list(remote: str, *, repo: Path | None = None, config: Path | None = None
             ) -> KeyList:
    """The key records of an encrypted remote (unlocked first: listing them takes a key,
    as in restic), and which one opened it in this run."""
    project = Project.open(repo, strict=False, config=config)
    ring = project.store.keyring(remote)
    opened = ring.unlock()
    keys = [_listed_info(k, opened.key_id) for k in ring.listed()]
    return KeyList(remote, ring.config().repository, keys)


def key_remove(remote: str, *, key_id: str, repo: Path | None = None,
               config: Path | None = None) -> KeyResult:
    """Remove a key record. Refused (exit 2): the last key, and the key that opened the
    remote in this run unless another key supplied opens it too."""
    project = Project.open(repo, strict=False, config=config)
    with locked_operation(project, "key-remove", remote=remote):
        ring = project.store.keyring(remote)
        opened = ring.unlock()
        record = ring.remove(key_id)
        project.journal("key-remove", "ok", remote=remote, key=key_id)
        info = (_info(record, opened=key_id == opened.key_id) if record is not None
                else KeyInfo(key_id, "", "", "", False))
        return KeyResult(remote, ring.config().repository, info)


@dataclass(frozen=True)
class _Choice:
    key_file: Path | None
    passphrase: bool
    age_recipient: str | None


def _chosen(key_file: Path | None, passphrase: bool, age_recipient: str | None,
            required: bool) -> _Choice:
    given = [name for name, value in (("--key-file", key_file), ("--passphrase", passphrase),
                                      ("--age-recipient", age_recipient)) if value]
    if len(given) > 1:
        raise UsageError(f"give one new key, not {' and '.join(given)}")
    if not given and required:
        raise UsageError("which new key? give --key-file PATH, --passphrase or "
                         "--age-recipient age1...")
    if age_recipient:
        try:
            check_recipient(age_recipient)
        except KeyRecordError as exc:
            raise UsageError(f"--age-recipient {age_recipient!r}: {exc}") from None
    return _Choice(key_file, passphrase, age_recipient)


def _new_key(choice: _Choice, default: Path | None) -> _NewKey:
    """The new key: asked for (a passphrase), read (an existing key file) or made (a new
    key file, written by `_write_key_file` before any record names it)."""
    if choice.passphrase:
        return _NewKey(Passphrase(new_passphrase()), None)
    if choice.age_recipient:
        return _NewKey(choice.age_recipient.strip(), None)
    path = choice.key_file.expanduser() if choice.key_file else default
    assert path is not None
    if choice.key_file and path.exists():
        return _NewKey(read_key_file(path), None)
    made = KeyFile.new()
    return _NewKey(made, path, made)


def read_key_file(path: Path) -> KeyFile:
    """An existing key file given for a new key (UsageError when it is not one)."""
    try:
        return parse_key_file(path.read_text(errors="replace")[:4096])
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except KeyRecordError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _write_key_file(new: _NewKey) -> Path | None:
    if new.write_to is None or new.file is None:
        return None
    try:
        write_key_file(new.write_to, new.file.text())
    except FileExistsError:
        raise UsageError(f"{new.write_to} exists already: not overwritten") from None
    except OSError as exc:
        raise UsageError(f"cannot write the key file {new.write_to}: "
                         f"{exc.strerror or exc}") from None
    return new.write_to


def _info(record: KeyRecord, opened: bool) -> KeyInfo:
    return KeyInfo(record.id, record.kind, record.created, record.label, opened)


def _listed_info(listed: ListedKey, opened_id: str) -> KeyInfo:
    if listed.record is None:
        return KeyInfo(listed.id, "", "", "", False, listed.problem)
    return _info(listed.record, listed.id == opened_id)
