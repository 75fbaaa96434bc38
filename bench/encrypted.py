"""Issue 27's rows: backup and restore of the first table's artifacts (by default 1 GiB: one
512 MiB file and 1,024 files of 512 KiB) to and from an encrypted local remote, each against
the same command on a plain one, interleaved in the same run (target: at most 1.3x)."""

from __future__ import annotations

import os
from pathlib import Path

from common import Context, Timing, hdversion, header, medians, sh, size_text
from projects import CACHE, REMOTE, backup_tags, expect_tree, forget_hashes, remove
from rows import OUTPUTS, make_project

MIB = 1 << 20


def forget_backups_but_keys(root: Path) -> None:
    """Back to before the first backup, the remote's encryption records kept."""
    tags = backup_tags(root)
    if tags:
        sh("git", "tag", "-d", *tags, cwd=root)
    remove(root / CACHE, root / REMOTE / "files", root / REMOTE / "hdversion" / "backups",
           root / REMOTE / "hdversion" / "locks")


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    work = ctx.scratch("encrypted")
    keys = work / "user-config"
    os.environ["XDG_CONFIG_HOME"] = str(keys)  # where `key init` writes the key file
    plain, sealed = work / "plain", work / "sealed"
    for root in (plain, sealed):
        make_project(root, args.size_mib, args.files)
        (root / REMOTE).mkdir(exist_ok=True)
    sh(*hdversion("key", "init", "local"), cwd=sealed)
    header(f"encrypted: {args.size_mib} MiB = one {size_text(args.size_mib * MIB // 2)} file "
           f"+ {args.files} files, an encrypted local remote against a plain one; median of "
           f"{args.repeat}")

    def backup(root: Path) -> Timing:
        def setup() -> None:
            forget_backups_but_keys(root)
            forget_hashes(root / p for p in OUTPUTS)
        return Timing(lambda: sh(*hdversion("backup"), cwd=root), setup=setup)

    first = "first backup, encrypted local remote"
    with results.group(first):
        seconds = medians(args.repeat, sealed=backup(sealed), plain=backup(plain))
        results.add(first, seconds["sealed"], "the same, plain", seconds["plain"], 1.3,
                    "artifacts never hashed, cache empty")

    def restore(root: Path) -> Timing:
        def setup() -> None:
            remove(root / CACHE, *(root / p for p in OUTPUTS))
        return Timing(lambda: sh(*hdversion("restore", "--force"), cwd=root), setup=setup,
                      check=expect_tree(root, OUTPUTS))

    cold = "restore, empty cache, encrypted local remote"
    with results.group(cold):
        for root in (plain, sealed):  # a backup to restore
            sh(*hdversion("backup"), cwd=root)
        seconds = medians(args.repeat, sealed=restore(sealed), plain=restore(plain))
        results.add(cold, seconds["sealed"], "the same, plain", seconds["plain"], 1.3,
                    "outputs and cache deleted")
