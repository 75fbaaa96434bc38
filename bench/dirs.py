"""A directory output of many small files (by default 10,000 of 4 KiB), against the DVC
command that does the same work: restore against `dvc checkout`, an unchanged backup against
`dvc commit`."""

from __future__ import annotations

from common import (
    DVC,
    KIB,
    Context,
    Timing,
    hdversion,
    header,
    medians,
    sh,
)
from projects import (
    commit_all,
    expect_tree,
    new_project,
    remove,
    write_files,
)


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    root = new_project(ctx.scratch("dirs") / "project")
    header(f"dirs: a directory output of {args.dir_files} files of 4 KiB, cache warm; "
           f"median of {args.repeat}")
    data = root / "data"
    write_files(data, args.dir_files, 4 * KIB)
    sh(DVC, "add", "-q", "data", cwd=root)
    commit_all(root, "data")

    unchanged, restore = "dir: unchanged backup", "dir: restore"
    with results.group(unchanged, restore):
        sh(*hdversion("backup"), cwd=root)
        seconds = medians(args.repeat,
                          backup=Timing(lambda: sh(*hdversion("backup"), cwd=root)),
                          commit=Timing(lambda: sh(DVC, "commit", "-q", "-f", "data.dvc",
                                                   cwd=root)))
        results.add(unchanged, seconds["backup"], "dvc commit", seconds["commit"], 1.2)

        def deleted() -> None:
            remove(data)
        check = expect_tree(root, ["data"])
        seconds = medians(args.repeat,
                          restore=Timing(lambda: sh(*hdversion("restore", "--force"), cwd=root),
                                         setup=deleted, check=check),
                          checkout=Timing(lambda: sh(DVC, "checkout", "-q", "data.dvc", cwd=root),
                                          setup=deleted, check=check))
        results.add(restore, seconds["restore"], "dvc checkout", seconds["checkout"], 2.0,
                    "output deleted")
