"""The keys of an encrypted remote, as the remote holds them (plain, through `Records`):

    hdversion/encryption/config.json        what makes the remote encrypted (its presence)
    hdversion/encryption/keys/<id>.json     one key record per key: the master key, wrapped

`master_key_of(records)` is how every path that opens a remote learns whether it is
encrypted and with which master key: one small read for a plain remote, one unlock per
repository per process for an encrypted one (scrypt costs ~0.4 s)."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
from dataclasses import dataclass

from hdversion.config.key_sources import SuppliedKey, how_to_supply, supplied_keys
from hdversion.crypto.encryption_config import EncryptionConfig, EncryptionConfigError
from hdversion.crypto.keys import (
    MAX_RECORD_BYTES,
    AgeIdentities,
    KeyRecord,
    KeyRecordError,
    Passphrase,
    Supplied,
    is_key_id,
    parse_key_file,
    parse_record,
    unwrap,
    wrap,
)
from hdversion.crypto.master import MasterKey
from hdversion.datastore.records import KeyMissing, Records
from hdversion.errors import KeyUnavailableError, TamperedError, UsageError
from hdversion.model.remote_records import BACKUPS_DIR
from hdversion.util.log import log

ENCRYPTION_DIR = "hdversion/encryption"
CONFIG_KEY = f"{ENCRYPTION_DIR}/config.json"
KEYS_DIR = f"{ENCRYPTION_DIR}/keys"
# What may be in `hdversion/` of a remote that holds no data: the encryption records of an
# attempt that died before its config, leases, the Object Lock record (`remote add --lock`).
_NOT_DATA = {"encryption", "locks", "object-lock.json"}


def key_key(key_id: str) -> str:
    return f"{KEYS_DIR}/{key_id}.json"


@dataclass(frozen=True)
class Unlocked:
    master: MasterKey
    key_id: str  # the record that opened
    source: str  # where the key that opened it came from (never the key)


# One unlock per repository per process: the master key, which record opened it, and how.
_UNLOCKED: dict[str, Unlocked] = {}


def master_key_of(records: Records, name: str = "") -> MasterKey | None:
    """None for a plain remote (config.json absent); the master key of an encrypted one,
    unlocked by a key the user supplied; KeyUnavailableError (exit 7) when none does.
    `name`: the DVC remote's, for messages."""
    ring = Keyring(records, name)
    if not ring.encrypted():
        return None
    return ring.unlock().master


def default_label() -> str:
    with contextlib.suppress(Exception):
        return f"{getpass.getuser()}@{socket.gethostname()}"
    return socket.gethostname()


@dataclass(frozen=True)
class ListedKey:
    id: str
    record: KeyRecord | None  # None when it cannot be read as one
    problem: str  # why not (the rule it breaks)


class Keyring:
    def __init__(self, records: Records, name: str = "") -> None:
        self.records = records
        self.name = name  # the DVC remote's name, for messages ("" when opened by URL)
        self._config: EncryptionConfig | None = None
        self._read = False

    def where(self) -> str:
        return f"'{self.name}' ({self.records.where()})" if self.name else self.records.where()

    # -- the config record -----------------------------------------------------------------
    def _load(self) -> EncryptionConfig | None:
        if not self._read:
            try:
                data = self.records.read(CONFIG_KEY, 4096)
            except KeyMissing:
                data = None
            except ValueError as exc:
                raise TamperedError(f"{self.records.where(CONFIG_KEY)} is not an encryption "
                                    f"config: {exc}") from None
            if data is not None:
                try:
                    self._config = EncryptionConfig.parse(data)
                except EncryptionConfigError as exc:
                    raise TamperedError(f"{self.records.where(CONFIG_KEY)} is not an "
                                        f"encryption config this hdversion reads: {exc}"
                                        ) from None
            self._read = True
        return self._config

    def encrypted(self) -> bool:
        return self._load() is not None

    def config(self) -> EncryptionConfig:
        found = self._load()
        if found is None:
            raise UsageError(f"remote {self.where()} is not encrypted",
                             hint="`hdversion key init REMOTE` encrypts an empty remote")
        return found

    # -- key records -------------------------------------------------------------------------
    def key_ids(self) -> list[str]:
        """The ids of the key records, from a fresh listing."""
        top = self.records.path(KEYS_DIR)
        with self.records._errors("cannot list"):
            if self.records.local:
                try:
                    names = os.listdir(top)
                except (FileNotFoundError, NotADirectoryError):
                    return []
            else:
                self.records.fs.fs.invalidate_cache(top)
                try:
                    names = [str(n).rstrip("/").rsplit("/", 1)[-1]
                             for n in self.records.fs.fs.ls(top, detail=False)]
                except FileNotFoundError:
                    return []
        return sorted(n.removesuffix(".json") for n in names
                      if n.endswith(".json") and is_key_id(n.removesuffix(".json")))

    def listed(self) -> list[ListedKey]:
        found = []
        for key_id in self.key_ids():
            try:
                data = self.records.read(key_key(key_id), MAX_RECORD_BYTES)
                found.append(ListedKey(key_id, parse_record(data, key_id), ""))
            except KeyMissing:
                continue  # removed since the listing
            except (ValueError, KeyRecordError) as exc:
                found.append(ListedKey(key_id, None, str(exc)))
        return found

    def _write_record(self, record: KeyRecord) -> None:
        self.records.write(key_key(record.id), record.to_json())

    def _delete(self, key: str) -> None:
        with self.records._errors("cannot delete from"), \
                contextlib.suppress(FileNotFoundError):
            if self.records.local:
                os.unlink(self.records.path(key))
            else:
                # On a bucket with Object Lock this hides the record behind a delete marker;
                # its locked version stays until its retention ends (docs/configuration.md).
                self.records.fs.fs.rm_file(self.records.path(key))

    # -- making a remote encrypted -------------------------------------------------------------
    def create(self, new_key: Supplied | str, label: str | None = None,
               master: MasterKey | None = None) -> tuple[MasterKey, KeyRecord]:
        """Encrypt an empty remote: a new master key, its first key record, then config.json
        (a crash between them leaves a key record without config, which counts for nothing
        and the next attempt removes)."""
        if self.encrypted():
            raise UsageError(f"remote {self.where()} is already encrypted",
                             hint="`hdversion key add REMOTE ...` adds a key to it")
        self.check_empty()
        for leftover in self.key_ids():
            self._delete(key_key(leftover))
        master = master or MasterKey.new()
        record = wrap(master, new_key, label or default_label())
        self._write_record(record)
        self.records.write(CONFIG_KEY, EncryptionConfig(master.repository).to_json())
        # Two runs encrypting the same remote at once: the last config wins; the other run
        # must not hand out a key that opens nothing.
        written = Keyring(self.records, self.name).config()
        if written.repository != master.repository:
            raise UsageError(f"remote {self.where()} was encrypted meanwhile by another run",
                             hint="`hdversion key list REMOTE` with that run's key")
        self._config, self._read = written, True
        _UNLOCKED[master.repository] = Unlocked(master, record.id, "the new key")
        return master, record

    def check_empty(self) -> None:
        """UsageError (exit 2) unless the remote holds no data: no DVC object, no backup, no
        record of hdversion's but those `_NOT_DATA` names."""
        refusal = ("encrypting a remote that already holds plain data would mix the two: "
                   "encrypt a new, empty remote and `hdversion copy` the backups into it")
        if self.records.holds_objects():
            raise UsageError(f"remote {self.where()} holds DVC objects", hint=refusal)
        if self.records.backup_folders():
            raise UsageError(f"remote {self.where()} holds backups", hint=refusal)
        top = self.records.path("hdversion")
        with self.records._errors("cannot list"):
            try:
                entries = self.records.fs.ls(top, detail=True)
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            for entry in entries:
                path = str(entry["name"]).rstrip("/")
                name = path.rsplit("/", 1)[-1]
                if name in _NOT_DATA or f"hdversion/{name}" == BACKUPS_DIR or \
                        path == top.rstrip("/"):
                    continue
                if entry.get("type") == "directory":
                    try:
                        inside = [i for i in self.records.fs.ls(path, detail=False)
                                  if str(i).rstrip("/") != path]
                    except (FileNotFoundError, NotADirectoryError):
                        inside = []
                    if not inside:
                        continue
                raise UsageError(f"remote {self.where()} holds hdversion's records "
                                 f"(hdversion/{name})", hint=refusal)

    # -- unlocking -------------------------------------------------------------------------------
    def unlock(self) -> Unlocked:
        """The master key, opened by the first key the user supplied that opens a record
        (cached per repository for the process); KeyUnavailableError (exit 7) naming the
        remote, what was tried and how to supply a key."""
        repository = self.config().repository
        cached = _UNLOCKED.get(repository)
        if cached is not None:
            return cached
        supplied = supplied_keys(repository)
        if not supplied:
            raise KeyUnavailableError(f"remote {self.where()} is encrypted and no key was "
                                      "supplied", hint=how_to_supply(repository))
        listed = self.listed()
        records = [k.record for k in listed if k.record is not None]
        failures = []
        for key in supplied:
            opened, why = self._try(key, records, repository)
            if opened is not None:
                for problem in (k.problem for k in listed if k.record is None):
                    log.warning("%s: %s (refused)", self.where(), problem)
                _UNLOCKED[repository] = opened
                return opened
            failures.append(why)
        refused = "".join(f"; {k.problem} (refused)" for k in listed if k.record is None)
        raise KeyUnavailableError(f"no key supplied opens remote {self.where()}: "
                                  + "; ".join(failures) + refused,
                                  hint=how_to_supply(repository))

    def _try(self, key: SuppliedKey, records: list[KeyRecord], repository: str
             ) -> tuple[Unlocked | None, str]:
        try:
            supplied = _supplied(key)
        except KeyRecordError as exc:
            return None, f"{key.source}: {exc}"
        kind_records = [r for r in records if r.kind == key.kind]
        if not kind_records:
            return None, f"{key.source}: the remote has no {key.kind} key"
        for record in kind_records:
            master = unwrap(record, repository, supplied)
            if master is not None:
                return Unlocked(master, record.id, key.source), ""
        if key.kind == "passphrase":
            why = "wrong passphrase"
        elif key.kind == "keyfile":
            why = "this key file is not one of this remote's keys (another remote's, or removed)"
        else:
            why = "this age identity is not one of this remote's keys"
        return None, (f"{key.source}: {why} (it opens none of its {len(kind_records)} "
                      f"{key.kind} key record(s), or they were altered)")

    # -- rotating access ---------------------------------------------------------------------------
    def add(self, new_key: Supplied | str, label: str | None = None) -> KeyRecord:
        """A new key record for the master key (unlocked first by a key already held)."""
        opened = self.unlock()
        record = wrap(opened.master, new_key, label or default_label())
        self._write_record(record)
        return record

    def remove(self, key_id: str) -> KeyRecord | None:
        """Remove one key record. Refused (UsageError, exit 2): the last usable record (the
        backups would be lost), and the record that opened the remote in this run unless
        another supplied key opens another record (restic refuses the key in use)."""
        if not is_key_id(key_id):
            raise UsageError(f"not a key id: {key_id!r} (16 hex digits; `hdversion key list "
                             "REMOTE` shows them)")
        opened = self.unlock()
        listed = self.listed()
        target = next((k for k in listed if k.id == key_id), None)
        if target is None:
            raise UsageError(f"remote {self.where()} has no key {key_id}",
                             hint="`hdversion key list REMOTE` shows its keys")
        others = [k.record for k in listed if k.id != key_id and k.record is not None]
        if not others:
            raise UsageError(f"refusing to remove key {key_id}: it is the last key of remote "
                             f"{self.where()}, and without a key its backups are lost",
                             hint="add another key first (`hdversion key add`)")
        if key_id == opened.key_id and not self._another_opens(others, opened.master):
            raise UsageError(f"refusing to remove key {key_id}: it is the key that opened "
                             f"remote {self.where()} in this run ({opened.source}), and no "
                             "other key supplied opens it",
                             hint="supply another key of the remote too (e.g. "
                                  "HDVERSION_PASSPHRASE), so that losing this one is safe")
        self._delete(key_key(key_id))
        return target.record

    def _another_opens(self, others: list[KeyRecord], master: MasterKey) -> bool:
        for key in supplied_keys(master.repository):
            with contextlib.suppress(KeyRecordError):
                supplied = _supplied(key)
                for record in others:
                    if record.kind == key.kind and unwrap(record, master.repository,
                                                          supplied) is not None:
                        return True
        return False


def _supplied(key: SuppliedKey) -> Supplied:
    """A key as crypto/keys.py takes it; KeyRecordError for a file that is not a key file."""
    if key.kind == "keyfile":
        return parse_key_file(key.data.decode("utf-8", "replace"))
    if key.kind == "passphrase":
        return Passphrase(key.data)
    return AgeIdentities(key.data.decode("utf-8", "replace"))

