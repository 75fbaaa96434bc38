"""hdversion key init | add | list | remove"""

from __future__ import annotations

from pathlib import Path

from hdversion.cli import records
from hdversion.cli.lazy import api
from hdversion.cli.options import JSON, argument, option

REMOTE = argument("REMOTE", "The remote (a DVC remote's name).")
KEY_FILE = option(None, "--key-file", metavar="PATH",
                  help="A key file: used if it exists, else a new one is written there "
                  "(mode 0600).")
PASSPHRASE = option(False, "--passphrase",
                    help="A new passphrase: from HDVERSION_NEW_PASSPHRASE, else asked twice "
                    "(never on the command line).")
AGE_RECIPIENT = option(None, "--age-recipient", metavar="RECIPIENT",
                       help="An age X25519 recipient (age1...); its identity file opens it "
                       "(HDVERSION_AGE_IDENTITY).")


def init(
    remote: str = REMOTE,
    key_file: Path | None = KEY_FILE,
    passphrase: bool = PASSPHRASE,
    age_recipient: str | None = AGE_RECIPIENT,
    as_json: bool = JSON,
) -> None:
    """Make an empty remote encrypted: everything hdversion writes there is encrypted from
    now on. Its first key: by default a new key file in ~/.config/hdversion/keys/."""
    from hdversion.cli import render_keys

    result = api.key_init(remote, key_file=key_file, passphrase=passphrase,
                          age_recipient=age_recipient)
    if as_json:
        records.emit_result(render_keys.result_json(result), None)
    else:
        render_keys.result_summary(result, "made; the remote is encrypted")
    if result.key_file:
        render_keys.new_key_file_warning(result.key_file, remote)


def add(
    remote: str = REMOTE,
    key_file: Path | None = KEY_FILE,
    passphrase: bool = PASSPHRASE,
    age_recipient: str | None = AGE_RECIPIENT,
    as_json: bool = JSON,
) -> None:
    """Add a key to an encrypted remote (opened first with a key you hold): nothing is
    encrypted again."""
    from hdversion.cli import render_keys

    result = api.key_add(remote, key_file=key_file, passphrase=passphrase,
                         age_recipient=age_recipient)
    if as_json:
        records.emit_result(render_keys.result_json(result), None)
    else:
        render_keys.result_summary(result, "added")
    if result.key_file:
        render_keys.new_key_file_warning(result.key_file, remote)


def list_keys(remote: str = REMOTE, as_json: bool = JSON) -> None:
    """The keys of an encrypted remote, and which one opened it."""
    from hdversion.cli import render_keys

    listed = api.key_list(remote)
    if as_json:
        records.emit_result(render_keys.list_json(listed), None)
    else:
        render_keys.list_summary(listed)


def remove(
    remote: str = REMOTE,
    key_id: str = argument("ID", "The key's id (16 hex digits; `key list` shows them)."),
    as_json: bool = JSON,
) -> None:
    """Remove a key: whoever holds only that key can no longer open the remote. The last
    key, and the key that opened the remote unless you supply another, are kept."""
    from hdversion.cli import render_keys

    result = api.key_remove(remote, key_id=key_id)
    if as_json:
        records.emit_result(render_keys.result_json(result), None)
    else:
        render_keys.result_summary(result, "removed")
