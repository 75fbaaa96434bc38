"""The first table of issue 12: one big file plus a directory output of many files (by
default 1 GiB: one 512 MiB file and 1,024 files of 512 KiB), each measure against the
hash-and-copy limit or DVC, in the same run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common import (
    DVC,
    MIB,
    PYTHON_PASS,
    CommandFailed,
    Context,
    Timing,
    hdversion,
    header,
    medians,
    sh,
    size_text,
)
from projects import (
    REMOTE,
    CacheStash,
    Listing,
    add_tags,
    backup_tags,
    commit_all,
    expect_tree,
    files_under,
    forget_backups,
    forget_hashes,
    new_project,
    remove,
    stored_bytes,
    three_file_project,
    tree_sizes,
    write_files,
    write_random,
)

OUTPUTS = ("models/big.bin", "models/shards")


def make_project(root: Path, size_mib: int, files: int) -> None:
    """Half the bytes in one file, half in `files` files of a directory output, tracked
    with `dvc add --no-commit`: hashed by DVC but not in its cache."""
    new_project(root)
    half = size_mib * MIB // 2
    write_random(root / OUTPUTS[0], half)
    write_files(root / OUTPUTS[1], files, half // files)
    sh(DVC, "add", "-q", "--no-commit", *OUTPUTS, cwd=root)
    commit_all(root, "artifacts")


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    work = ctx.scratch("rows")
    root = work / "project"
    make_project(root, args.size_mib, args.files)
    outputs = [root / p for p in OUTPUTS]
    expected = tree_sizes(root, OUTPUTS)
    shard = size_text(args.size_mib * MIB // 2 // args.files)
    header(f"rows: {args.size_mib} MiB = one {size_text(args.size_mib * MIB // 2)} file + "
           f"{args.files} files of {shard} in a directory output; median of {args.repeat}")
    copy = work / "copy"

    def md5sum(*paths: Path) -> None:
        # Through find: --files 100000 would not fit on one command line.
        sh("find", *paths, "-type", "f", "-exec", "md5sum", "{}", "+", cwd=root)

    def hash_and_copy() -> None:
        md5sum(*outputs)
        copy.mkdir()
        sh("cp", "-r", *outputs, copy, cwd=root)

    def copy_and_hash() -> None:
        copy.mkdir()
        sh("cp", "-r", *outputs, copy, cwd=root)
        md5sum(copy)

    with results.group("first backup"):
        def never_backed_up() -> None:
            forget_backups(root)
            forget_hashes(outputs)
        seconds = medians(args.repeat,
                          backup=Timing(lambda: sh(*hdversion("backup"), cwd=root),
                                        setup=never_backed_up),
                          baseline=Timing(hash_and_copy, setup=lambda: remove(copy)))
        results.add("first backup", seconds["backup"], "md5sum + cp", seconds["baseline"], 1.5,
                    "artifacts never hashed, cache empty")

    with results.group("unchanged backup"):
        seconds = medians(args.repeat,
                          backup=Timing(lambda: sh(*hdversion("backup"), cwd=root)),
                          status=Timing(lambda: sh(DVC, "status", "-q", cwd=root)))
        results.add("unchanged backup", seconds["backup"], "dvc status", seconds["status"], 1.2)

    warm, cold = "restore, cache warm, verified", "restore, empty cache"
    with results.group(warm, cold):
        stash = CacheStash(root, work / "warm-cache")

        def restoring(cache_state: Callable[[], None]) -> Timing:
            def setup() -> None:
                cache_state()
                remove(*outputs)
            return Timing(lambda: sh(*hdversion("restore", "--force"), cwd=root), setup=setup,
                          check=expect_tree(root, OUTPUTS))
        seconds = medians(args.repeat, warm=restoring(stash.warm), cold=restoring(stash.empty),
                          baseline=Timing(copy_and_hash, setup=lambda: remove(copy)))
        stash.warm()
        results.add(warm, seconds["warm"], "cp + md5sum", seconds["baseline"], 1.5,
                    "outputs deleted")
        results.add(cold, seconds["cold"], "cp + md5sum", seconds["baseline"], 2.0,
                    "outputs and cache deleted, from the local remote")

    backups = len(backup_tags(root))
    if backups:
        results.add_storage(stored_bytes(root / REMOTE), sum(expected.values()),
                            f"local remote after {backups} backups")
    else:
        results.fail("storage", "no backup was made")
    remove(copy)
    list_rows(ctx, root)


def list_rows(ctx: Context, root: Path) -> None:
    """`list` of many backups of the big project's outputs, and of a three-file project, and
    `--help`: each against starting Python and doing nothing."""
    args, results = ctx.args, ctx.results
    big_list, small_list = "list --json, directory-output backups", "list --json, 3-file backups"
    command_help = "restore --help (a command's parser built)"
    with results.group(big_list, small_list, "--help", command_help):
        tags = backup_tags(root)
        if not tags:
            raise CommandFailed("no backup was made to copy the tags of")
        add_tags(root, tags[-1], max(0, args.tags - len(tags)))
        big = Listing(root, max(args.tags, len(tags)))
        three = ctx.work / "rows" / "three"
        add_tags(three, three_file_project(three), args.tags - 1)
        small = Listing(three, args.tags)
        # The warm case, as a user who lists more than once has it: the first listing makes
        # the cache of rendered records (bench/curves.py measures the cold one too).
        big.run()
        small.run()
        seconds = medians(args.repeat, big=big.timing(), small=small.timing(),
                          help=Timing(lambda: sh(*hdversion("--help"), cwd=root)),
                          command_help=Timing(lambda: sh(*hdversion("restore", "--help"),
                                                         cwd=root)),
                          python=Timing(lambda: sh(*PYTHON_PASS, cwd=root)))
        files = len(files_under(root / p for p in OUTPUTS))
        results.add(big_list, seconds["big"], "python -c pass", seconds["python"], 3.0,
                    f"{big.expected} backups of {files} files")
        results.add(small_list, seconds["small"], "python -c pass", seconds["python"], 3.0,
                    f"{small.expected} backups")
        results.add("--help", seconds["help"], "python -c pass", seconds["python"], 3.0)
        results.add(command_help, seconds["command_help"], "python -c pass",
                    seconds["python"], 3.0)
