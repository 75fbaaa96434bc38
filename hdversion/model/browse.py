"""What `ls`, `cat`, `get` and `find` read from a user and from a backup's file list, as pure
rules: which files a PATH names, which a glob or an md5 matches, and how an untrusted path
is shown.

Paths come from a manifest, which is untrusted (a forged tag, a hostile bucket): the file
list's validation already refuses `..`, absolute paths, NUL and duplicates; what it lets
through (a newline, an escape sequence, a right-to-left override) is escaped before it
reaches a terminal (`shown`)."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterable

from hdversion.errors import UsageError
from hdversion.model.manifest import FileEntry, within

# The shortest md5 prefix `find --md5` takes: 8 hex digits, as git abbreviates; shorter
# would match by chance in a store of thousands of objects.
MIN_MD5_PREFIX = 8
_HEX_RE = re.compile(r"[0-9a-f]+")
# A PATH or PATTERN of the command line: longer than any sane path, short enough to show.
MAX_ARGUMENT = 4096


def shown(path: str) -> str:
    """`path` safe to print: control, format, line and paragraph separator characters (and
    the backslash, so that an escape cannot be forged) written as Python escapes."""
    out = []
    for char in path:
        if char == "\\" or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            code = ord(char)
            out.append("\\\\" if char == "\\" else
                       f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def is_printable(name: str) -> bool:
    return shown(name) == name


def checked_argument(text: str, what: str) -> str:
    """A PATH or PATTERN given on the command line: bounded, without NUL."""
    if len(text) > MAX_ARGUMENT or "\0" in text:
        raise UsageError(f"{what} is too long or holds a NUL character")
    return text


def normalized_path(text: str) -> str:
    """A PATH as the user may write it (`./models/`, `models/`) as the manifest writes it;
    its components are compared exactly, never as a glob."""
    path = checked_argument(text, "PATH")
    while path.startswith("./"):
        path = path[2:]
    path = path.rstrip("/")
    if not path or path == ".":
        return ""  # the whole backup
    return path


def under(files: Iterable[FileEntry], path: str) -> list[FileEntry]:
    """The files `path` names: the file itself, or every file in the folder `path` (whole
    components: `models/a` does not name `models/ab`); all of them for ""."""
    return [f for f in files if not path or within(f.path, path)]


def the_file(files: Iterable[FileEntry], path: str) -> FileEntry | None:
    """The one file at exactly `path`; None when `path` is a folder or names nothing."""
    return next((f for f in files if f.path == path), None)


def matches(path: str, pattern: str) -> bool:
    """fnmatch's glob over the whole path, case-sensitive: `*` and `?` match `/` too
    (`*.joblib` finds the file in any folder), `[...]` a set of characters."""
    return fnmatch.fnmatchcase(path, pattern)


def md5_query(text: str) -> str:
    """`find --md5`: the md5 of the bytes wanted (32 hex digits, or a prefix of at least
    MIN_MD5_PREFIX), in lower case."""
    md5 = text.strip().lower()
    if not _HEX_RE.fullmatch(md5) or not MIN_MD5_PREFIX <= len(md5) <= 32:
        raise UsageError(f"--md5 takes an md5 (32 hex digits) or a prefix of at least "
                         f"{MIN_MD5_PREFIX}: {shown(text[:40])!r}")
    return md5
