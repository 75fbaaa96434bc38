"""How cost grows: backup, unchanged backup and restore against the number of 4 KiB files in
one directory output, beside `dvc add`, `dvc commit` and `dvc checkout` of the same data (in
a twin repository); `list` against the number of backups, beside `python -c pass`. Written as
a markdown table and a log-log chart."""

from __future__ import annotations

from pathlib import Path

from common import (
    DVC,
    KIB,
    PYTHON_PASS,
    Context,
    Timing,
    hdversion,
    header,
    medians,
    sh,
)
from projects import (
    CACHE,
    Listing,
    add_tags,
    commit_all,
    expect_tree,
    forget_backups,
    forget_hashes,
    new_project,
    remove,
    three_file_project,
    write_files,
)

LIST_CACHE = "hdversion-list-cache"  # in the git directory
LIST_COLD = "list --json, cache cold"
# (measure, its baseline, the target of their ratio): a column pair of the files table.
FILE_MEASURES = (("backup", "dvc add", None), ("unchanged backup", "dvc commit", 1.2),
                 ("restore", "dvc checkout", 2.0))


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    work = ctx.scratch("curves")
    header(f"curves: {', '.join(map(str, args.curve_files))} files of 4 KiB; list of "
           f"{', '.join(map(str, args.curve_tags))} backups; median of {args.repeat}")
    files: dict[int, dict[str, float]] = {}
    for count in args.curve_files:
        files[count] = file_point(ctx, work / f"files-{count}", count)
    tags: dict[int, dict[str, float]] = {}
    listing = work / "listing"
    tag = three_file_project(listing)
    have = 1
    for count in args.curve_tags:
        name = f"curve: list --json, {count} backups"
        with results.group(name):
            add_tags(listing, tag, count - have, start=have)
            have = max(have, count)
            lister = Listing(listing, have)
            # Warm: the cache of rendered records (ops/list_cache.py) made by a listing
            # before, as a user who lists twice has it. Cold: every tag read and validated,
            # the cache written.
            lister.run()
            cold = Timing(lister.run, check=lister.check,
                          setup=lambda: remove(listing / ".git" / LIST_CACHE))
            seconds = medians(args.repeat, list=lister.timing(), cold=cold,
                              python=Timing(lambda: sh(*PYTHON_PASS, cwd=listing)))
            results.add(name, seconds["list"], "python -c pass", seconds["python"], 3.0)
            results.add(f"{name}, cache cold", seconds["cold"], "python -c pass",
                        seconds["python"], None)
            tags[count] = {"list --json": seconds["list"], LIST_COLD: seconds["cold"],
                           "python -c pass": seconds["python"]}
    table = markdown(files, tags)
    print("\n" + table, flush=True)
    if args.chart:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        chart(files, tags, args.chart)
        args.chart.with_suffix(".md").write_text(table)
        print(f"chart: {args.chart}, table: {args.chart.with_suffix('.md')}", flush=True)


def file_point(ctx: Context, folder: Path, count: int) -> dict[str, float]:
    """One point of the files curves: hdversion in one repository, DVC in its twin, on the
    same bytes."""
    args, results = ctx.args, ctx.results
    names = {measure: f"curve: {measure}, {count} files" for measure, _, _ in FILE_MEASURES}
    point: dict[str, float] = {}
    with results.group(*names.values()):
        ours, theirs = new_project(folder / "hdversion"), new_project(folder / "dvc")
        for root in (ours, theirs):
            write_files(root / "data", count, 4 * KIB, seed=count)
        # Declared but not in the cache: the first backup hashes and copies, as `dvc add`.
        sh(DVC, "add", "-q", "--no-commit", "data", cwd=ours)
        commit_all(ours, "data")

        def backup() -> None:
            sh(*hdversion("backup"), cwd=ours)

        def first_backup() -> None:
            forget_backups(ours)
            forget_hashes([ours / "data"])

        def first_add() -> None:
            remove(theirs / CACHE, theirs / "data.dvc")
            forget_hashes([theirs / "data"])
        timings = {
            "backup": Timing(backup, setup=first_backup),
            "dvc add": Timing(lambda: sh(DVC, "add", "-q", "data", cwd=theirs),
                              setup=first_add),
        }
        point.update(medians(args.repeat, **timings))
        point.update(medians(args.repeat, **{
            "unchanged backup": Timing(backup),
            "dvc commit": Timing(lambda: sh(DVC, "commit", "-q", "-f", "data.dvc", cwd=theirs)),
        }))
        point.update(medians(args.repeat, **{
            "restore": Timing(lambda: sh(*hdversion("restore", "--force"), cwd=ours),
                              setup=lambda: remove(ours / "data"),
                              check=expect_tree(ours, ["data"])),
            "dvc checkout": Timing(lambda: sh(DVC, "checkout", "-q", "data.dvc", cwd=theirs),
                                   setup=lambda: remove(theirs / "data"),
                                   check=expect_tree(theirs, ["data"])),
        }))
        for measure, baseline, target in FILE_MEASURES:
            results.add(names[measure], point[measure], baseline, point[baseline], target)
    remove(folder)
    return point


def markdown(files: dict[int, dict[str, float]], tags: dict[int, dict[str, float]]) -> str:
    def cells(point: dict[str, float], measure: str, baseline: str) -> str:
        if measure not in point or baseline not in point:
            return "failed | failed | -"
        return (f"{point[measure]:.3f} | {point[baseline]:.3f} | "
                f"{point[measure] / point[baseline]:.2f}")
    head = "| files (4 KiB) | " + " | ".join(
        f"{m} (s) | `{b}` (s) | ratio" for m, b, _ in FILE_MEASURES) + " |"
    lines = [head, "|---" * (1 + 3 * len(FILE_MEASURES)) + "|"]
    for count, point in files.items():
        lines.append(f"| {count:,} | " + " | ".join(
            cells(point, m, b) for m, b, _ in FILE_MEASURES) + " |")
    lines += ["", "| backups | `list --json` (s) | `python -c pass` (s) | ratio "
              "| cache cold (s) | ratio |", "|---|---|---|---|---|---|"]
    for count, point in tags.items():
        cold = point.get(LIST_COLD)
        lines.append(f"| {count:,} | {cells(point, 'list --json', 'python -c pass')} | "
                     + (f"{cold:.3f} | {cold / point['python -c pass']:.2f} |"
                        if cold is not None else "- | - |"))
    return "\n".join(lines) + "\n"


def chart(files: dict[int, dict[str, float]], tags: dict[int, dict[str, float]],
          path: Path) -> None:
    """Seconds against files and against backups, log-log, one line per measure: hdversion
    solid, its DVC baseline dashed in the same colour."""
    import matplotlib  # only for --chart: the rest of the benchmark does not need it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_files, by_tags) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, (measure, baseline, _) in enumerate(FILE_MEASURES):
        for name, style in ((measure, "-"), (baseline, "--")):
            xs = [n for n, point in files.items() if name in point]
            by_files.plot(xs, [files[n][name] for n in xs], style, marker="o",
                          color=f"C{i}", label=name)
    for name, style in (("list --json", "-"), (LIST_COLD, ":"), ("python -c pass", "--")):
        xs = [n for n, point in tags.items() if name in point]
        by_tags.plot(xs, [tags[n][name] for n in xs], style, marker="o", color="C3",
                     label=name)
    for axes, xlabel, title in ((by_files, "files of 4 KiB in one directory output",
                                 "backup, unchanged backup, restore"),
                                (by_tags, "backups", "list")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("seconds (median)")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
