"""How a user names a backup, the same way in every command: its timestamp `YYYYMMDD_HHMMSS`,
its tag `backup/YYYYMMDD_HHMMSS`, `latest`, any unique prefix of a timestamp
(`20261206_11`, `202612`, `backup/202612`), or an alias (`prod`: model/aliases.py).

The text is untrusted (a script's argument, a pasted line): it is matched character by
character against this grammar, never used as a glob or a pattern, and bounded in length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from hdversion.errors import BackupNotFoundError, UsageError
from hdversion.model.timestamps import TAG_PREFIX, parse_timestamp

LATEST = "latest"
# Longer than any name the grammar has (`backup/` and 15 characters) with room for an alias.
MAX_NAME_LENGTH = 100
_MAX_CANDIDATES_SHOWN = 10
_PREFIX_RE = re.compile(r"[0-9]{1,8}(?:_[0-9]{0,6})?")  # fullmatch: `$` allows a newline
_FULL_LENGTH = len("YYYYMMDD_HHMMSS")
_FORMS = ("a backup is named by its timestamp (YYYYMMDD_HHMMSS, UTC), its tag "
          "(backup/YYYYMMDD_HHMMSS), latest, a unique prefix of its timestamp "
          "(e.g. 20261206_11), or an alias (e.g. prod)")
# An alias starts with a lower-case letter: no timestamp, prefix or tag does, so an alias can
# never be read as one of them (and the grammar's other forms are refused by name below).
_ALIAS_RE = re.compile(r"[a-z][a-z0-9._-]{0,62}")  # fullmatch
ALIAS_FORM = "a lower-case letter, then up to 62 of a-z 0-9 . _ -"


def alias_refusal(text: str) -> str | None:
    """Why `text` cannot be an alias (the first rule it breaks), or None when it can."""
    if text == LATEST:
        return "'latest' already names the newest backup"
    if text.startswith(TAG_PREFIX):
        return "it would read as a backup tag"
    if _PREFIX_RE.fullmatch(text) or text[:1].isdigit():
        return "it would read as a timestamp or a prefix of one"
    if not _ALIAS_RE.fullmatch(text):
        return f"an alias is {ALIAS_FORM}"
    if ".." in text or text.endswith((".", ".lock")):
        return "git cannot name a ref so ('..', or a final '.' or '.lock')"
    return None


def check_alias(text: str) -> str:
    """`text` as an alias's name: UsageError (exit 2) naming the rule it breaks."""
    if len(text) > MAX_NAME_LENGTH:
        raise UsageError(f"alias name too long ({len(text)} characters): {text[:20]!r}...")
    why = alias_refusal(text)
    if why is not None:
        raise UsageError(f"{text!r} cannot be an alias: {why}")
    return text


def check_name(text: str) -> str:
    """The name without its tag prefix, once its form is checked (no backup needed): a clear
    UsageError (exit 2) for text that can never name a backup. Commands call it before they
    open anything, as they checked timestamps before."""
    if len(text) > MAX_NAME_LENGTH:
        raise UsageError(f"backup name too long ({len(text)} characters): "
                         f"{text[:20]!r}...", hint=_FORMS)
    name = text.removeprefix(TAG_PREFIX)
    if name == LATEST and name == text:
        return name
    if name == text and alias_refusal(text) is None:
        return text  # an alias: resolved (or not) against the aliases there are
    if len(name) == _FULL_LENGTH or not _PREFIX_RE.fullmatch(name):
        try:
            parse_timestamp(name)
        except UsageError as exc:  # its own message: malformed, or an invalid date
            raise UsageError(exc.message, hint=_FORMS) from None
    return name



def is_prefix(name: str) -> bool:
    """Whether a checked name (check_name's answer) is a prefix: only a prefix needs the
    list of backups to resolve."""
    return name != LATEST and len(name) != _FULL_LENGTH and alias_refusal(name) is not None


@dataclass(frozen=True)
class BackupNames:
    """The backups a command can name, to resolve what the user wrote against.

    `timestamps`: every backup there is (valid or not: a name is a name, and the command says
    what is wrong with the one named). `latest`: what `latest` names here, or raises why
    nothing does (the caller decides which backups count: see Catalog.latest). `aliases`:
    name -> timestamp, the aliases set here (model/aliases.py; none from a bucket alone)."""

    timestamps: Collection[str]
    latest: Callable[[], str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    where: str = ""  # where the backups are, for messages (" in s3://bucket/path")

    def resolve(self, text: str) -> str:
        """The full timestamp `text` names. A full timestamp is returned as it is, whether
        or not a backup has it (the caller's "no such backup" says where it looked); a prefix
        names the one backup whose timestamp starts with it: BackupNotFoundError (exit 4)
        when none does, UsageError (exit 2) listing them when several do."""
        if len(text) <= MAX_NAME_LENGTH and text in self.aliases:
            return self.aliases[text]
        name = check_name(text)
        if name == LATEST:
            return self.latest()
        if name == text and alias_refusal(text) is None:
            # A word names nothing unless it is an alias: a usage error, as it was before
            # aliases (a typo of `latest`, a timestamp pasted wrong).
            raise UsageError(
                f"{text!r} names no backup{self.where}: no alias is called so, and it is "
                "not a timestamp (YYYYMMDD_HHMMSS)",
                hint="`hdversion alias list` shows the aliases" if not self.where else
                "aliases live in git: name the backup by its timestamp here")
        if len(name) == _FULL_LENGTH:
            return name
        matches = sorted((t for t in self.timestamps if t.startswith(name)), reverse=True)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise BackupNotFoundError(f"no backup{self.where} has a timestamp starting with "
                                      f"{name!r}",
                                      hint="`hdversion list` shows the backups there are")
        shown = ", ".join(matches[:_MAX_CANDIDATES_SHOWN])
        more = len(matches) - _MAX_CANDIDATES_SHOWN
        raise UsageError(
            f"{name!r} names {len(matches)} backups{self.where}: {shown}"
            + (f" and {more} more" if more > 0 else ""),
            hint="give more of the timestamp (YYYYMMDD_HHMMSS), or the whole of it")
