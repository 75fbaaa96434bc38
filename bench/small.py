"""Issue 28's small-files table: one directory output of many 4 KiB files (by default 20,000)
backed up and restored by hdversion, restic and plain DVC, side by side in one run.

Each tool has its own copy of the same files (hdversion's project, a twin DVC project, a
plain folder for restic), so that one tool's changes and caches never touch another's. The
targets are against restic (issue 28); DVC's column has none."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from common import DVC, KIB, Context, Timing, hdversion, header, medians, sh
from peers import NOFSYNC, OPEN_DVC, Restic
from projects import (
    CACHE,
    REMOTE,
    commit_all,
    expect_tree,
    forget_backups,
    forget_hashes,
    new_project,
    remove,
    set_aside,
    write_files,
)

from hdversion.paths import HASHED_STATS

DATA = "data"
DVC_REMOTE = "dvc-remote"
# (row, target against restic): the four rows, and the first backup as a user of
# plain DVC makes it (`dvc add`, then `hdversion backup`), whose target the issue lets
# `hdversion add` meet.
FIRST_WITH_DVC_ADD = "first backup after dvc add"
# The same as two commands (`hdversion add`, then `hdversion backup`): a second start-up.
FIRST_IN_TWO = "first backup as add, then backup"
# What an unchanged backup cannot go below while it asks DVC what it tracks (issue 12).
DVC_FLOOR = "floor: DVC's import and Repo alone"
ROWS = (("first backup", 2.0), (FIRST_IN_TWO, None), (FIRST_WITH_DVC_ADD, None),
        ("unchanged backup", 1.0),
        ("one file changed", 1.0), ("restore, empty cache", 2.0))
# The same restore with its fsyncs and syncfs turned off (bench/nofsync.py): the floor of
# the durability restic does not promise, measured in the same run.
NO_FLUSH = "restore without fsync or syncfs (floor)"
# The first backup's least work, timed beside it (bench/twocopies.py): each file read,
# hashed and written as two objects (the cache's and the local remote's), nothing else.
TWO_COPIES_FLOOR = "floor: each file read, hashed and written twice"
TWO_COPIES = (sys.executable, str(Path(__file__).with_name("twocopies.py")))


def row_name(count: int, row: str, peer: str) -> str:
    return f"small {count:,}: {row} / {peer}"


class Changer:
    """Rewrites one file of a folder with new bytes, a different file each call."""

    def __init__(self, folder: Path) -> None:
        self.files = sorted(folder.iterdir())
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        target = self.files[(self.calls * 7919) % len(self.files)]
        target.write_bytes(os.urandom(4 * KIB))


def run(ctx: Context) -> None:
    for count in ctx.args.small_files:
        measure(ctx, ctx.scratch(f"small-{count}"), count)


def measure(ctx: Context, work: Path, count: int) -> None:
    args, results = ctx.args, ctx.results
    ours = new_project(work / "hdversion")
    twin = new_project(work / "dvc")
    plain = work / "restic-data"
    sh(DVC, "remote", "add", "-q", "-d", "local", work / DVC_REMOTE, cwd=twin)
    commit_all(twin, "remote")
    write_files(ours / DATA, count, 4 * KIB, seed=28)
    shutil.copytree(ours / DATA, twin / DATA)
    shutil.copytree(ours / DATA, plain / DATA)
    restic = Restic(work, plain) if shutil.which("restic") else None
    version = restic("version").strip() if restic else "restic is not installed"
    header(f"small: one directory output of {count:,} files of 4 KiB; {version}; "
           f"median of {args.repeat}")
    names = [row_name(count, row, "restic") for row, _ in (*ROWS, (NO_FLUSH, None))]
    names += [row_name(count, DVC_FLOOR, "restic"), row_name(count, TWO_COPIES_FLOOR, "restic")]
    if restic is None:
        for name in names:
            results.skip(name, "restic is not installed (apt-get install restic)")

    def hd_first() -> None:
        # A user's first backup of a new output in a generic repository, as restic's
        # `backup PATH`: what `dvc add` writes, read once and teed into the local remote,
        # then the backup (which takes the new pointer file as it is, uncommitted).
        sh(*hdversion("backup", "--add", DATA), cwd=ours)

    def hd_first_in_two() -> None:
        sh(*hdversion("add", DATA), cwd=ours)
        sh(*hdversion("backup"), cwd=ours)

    def hd_first_dvc_add() -> None:
        sh(DVC, "add", "-q", DATA, cwd=ours)
        sh(*hdversion("backup"), cwd=ours)

    # Each first backup's previous stores are moved aside, not deleted: deleting 40,000
    # objects just before a run slowed hdversion's next run by seconds on this disk (ext4
    # with online discard) and the floor's not (bench/README.md, session 17), whichever
    # deleted. What is set aside goes with the scratch folder at the end, untimed.
    trash = work / "set-aside"

    def hd_first_setup() -> None:
        set_aside(trash, ours / CACHE, ours / REMOTE)
        forget_backups(ours)
        remove(ours / f"{DATA}.dvc", ours / ".gitignore", ours / HASHED_STATS)
        forget_hashes([ours / DATA])

    def dvc_first_setup() -> None:
        set_aside(trash, twin / CACHE, twin / DVC_REMOTE)
        remove(twin / f"{DATA}.dvc", twin / ".gitignore")
        forget_hashes([twin / DATA])

    def dvc_backup() -> None:
        sh(DVC, "add", "-q", DATA, cwd=twin)
        sh(DVC, "push", "-q", cwd=twin)

    def hd_backup() -> None:
        sh(*hdversion("backup"), cwd=ours)

    timings: dict[str, Timing] = {
        "hdversion": Timing(hd_first, setup=hd_first_setup),
        "hdversion_in_two": Timing(hd_first_in_two, setup=hd_first_setup),
        "hdversion_dvc_add": Timing(hd_first_dvc_add, setup=hd_first_setup),
        "dvc": Timing(dvc_backup, setup=dvc_first_setup)}
    copies = (work / "floor-cache", work / "floor-remote")
    if restic:
        def restic_first_setup() -> None:
            set_aside(trash, restic.repo, Path(restic.env["RESTIC_CACHE_DIR"]))
            restic("init", "--quiet")

        timings["restic"] = Timing(lambda: restic("backup", "--quiet", DATA),
                                   setup=restic_first_setup)
        timings["two_copies"] = Timing(lambda: sh(*TWO_COPIES, ours / DATA, *copies, cwd=work),
                                       setup=lambda: set_aside(trash, *copies))
    with results.group(*names):
        add_rows(ctx, count, "first backup", medians(args.repeat, **timings))
        for row, change_ours, change_twin, change_plain in (
                ("unchanged backup", None, None, None),
                ("one file changed", Changer(ours / DATA), Changer(twin / DATA),
                 Changer(plain / DATA))):
            timings = {"hdversion": Timing(hd_backup, setup=change_ours),
                       "dvc": Timing(dvc_backup, setup=change_twin)}
            if restic:
                timings["restic"] = Timing(lambda: restic("backup", "--quiet", DATA),
                                           setup=change_plain)
                if change_ours is None:
                    timings["dvc_floor"] = Timing(lambda: sh(*OPEN_DVC, ours, cwd=ours))
            add_rows(ctx, count, row, medians(args.repeat, **timings))

        check = expect_tree(ours, [DATA])
        timings = {
            "hdversion": Timing(lambda: sh(*hdversion("restore", "--force"), cwd=ours),
                                setup=lambda: remove(ours / CACHE, ours / DATA), check=check),
            "dvc": Timing(lambda: sh(DVC, "pull", "-q", cwd=twin),
                          setup=lambda: remove(twin / CACHE, twin / DATA),
                          check=expect_tree(twin, [DATA]))}
        if restic:
            target = work / "restic-restore"
            timings["restic"] = Timing(
                lambda: restic("restore", "latest", "--quiet", "--verify", "--target", target),
                setup=lambda: remove(target), check=expect_tree(plain, [DATA], at=target))
            timings["nofsync"] = Timing(lambda: sh(*NOFSYNC, "restore", "--force", cwd=ours),
                                        setup=lambda: remove(ours / CACHE, ours / DATA),
                                        check=check)
        seconds = medians(args.repeat, **timings)
        add_rows(ctx, count, "restore, empty cache", seconds)
        if restic:
            results.add(row_name(count, NO_FLUSH, "restic"), seconds["nofsync"],
                        "restic restore --verify", seconds["restic"], None, "bench/nofsync.py")
    remove(work)


def add_rows(ctx: Context, count: int, row: str, seconds: dict[str, float]) -> None:
    target = dict(ROWS)[row]
    detail = "restic restore --verify" if row.startswith("restore") else "restic backup"
    if "restic" in seconds:
        ctx.results.add(row_name(count, row, "restic"), seconds["hdversion"], detail,
                        seconds["restic"], target)
        if "dvc_floor" in seconds:
            ctx.results.add(row_name(count, DVC_FLOOR, "restic"), seconds["dvc_floor"],
                            f"{detail}, unchanged", seconds["restic"], None,
                            "python -c 'Repo(root)'")
        if "two_copies" in seconds:
            ctx.results.add(row_name(count, TWO_COPIES_FLOOR, "restic"), seconds["two_copies"],
                            detail, seconds["restic"], None, "bench/twocopies.py")
        if "hdversion_in_two" in seconds:
            ctx.results.add(row_name(count, FIRST_IN_TWO, "restic"),
                            seconds["hdversion_in_two"], detail, seconds["restic"], None)
        if "hdversion_dvc_add" in seconds:
            ctx.results.add(row_name(count, FIRST_WITH_DVC_ADD, "restic"),
                            seconds["hdversion_dvc_add"], detail, seconds["restic"],
                            dict(ROWS)[FIRST_WITH_DVC_ADD])
    dvc = "dvc pull" if row.startswith("restore") else "dvc add + dvc push"
    ctx.results.add(row_name(count, row, "dvc"), seconds["hdversion"], dvc, seconds["dvc"],
                    None)

