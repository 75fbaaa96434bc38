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
    add_hourly_tags,
    backup_tags,
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
LIST_OUTPUT = "hdversion-list-output"  # the whole output's (ops/list_output.py), beside it
LIST_COLD = "list --json, cache cold"
CLONE_LIST = "clone + first list --json"
# (measure, its baseline, the target of their ratio): a row of the backups table, each at
# every count; the growth column is the measure over itself at the smallest count.
TAG_MEASURES = (("list --json", "python -c pass", 3.0), (LIST_COLD, "python -c pass", 10.0),
                ("list --last 20", "python -c pass", None), ("show T", "python -c pass", None),
                ("backup", "python -c pass", None), ("restore T", "python -c pass", None),
                ("prune --dry-run", "python -c pass", None), ("status", "python -c pass", None),
                (CLONE_LIST, "git clone", None))
# What no `list --json` can go under (bench/README.md): git reading the tags' names and ids,
# then the output written; and, cold, every tag message read and validated (no cache).
FLOOR_WARM = "floor: tag ids + the output"
FLOOR_COLD = "floor: every manifest validated"
VALIDATE_ALL = ("from pathlib import Path\nfrom hdversion.gitrepo import GitRepo\n"
                "from hdversion.model.catalog import Catalog\n"
                "Catalog.from_tags(GitRepo.open(Path('.')).tags('backup/'))\n")
# (measure, its baseline, the target of their ratio): a column pair of the files table.
FILE_MEASURES = (("backup", "dvc add", None), ("unchanged backup", "dvc commit", 1.2),
                 ("restore", "dvc checkout", 2.0))


def run(ctx: Context) -> None:
    args = ctx.args
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
        add_hourly_tags(listing, tag, count - have, start=have - 1)
        have = max(have, count)
        tags[count] = tag_point(ctx, listing, tag, count)
    remove(listing)
    table = markdown(files, tags)
    print("\n" + table, flush=True)
    if args.chart:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        chart(files, tags, args.chart)
        args.chart.with_suffix(".md").write_text(table)
        print(f"chart: {args.chart}, table: {args.chart.with_suffix('.md')}", flush=True)


def tag_point(ctx: Context, listing: Path, tag: str, count: int) -> dict[str, float]:
    """One point of the backups curves: `count` hourly backups (bench/projects.py
    add_hourly_tags) of a three-file project, the real one the newest."""
    args, results = ctx.args, ctx.results
    names = {measure: f"curve: {measure}, {count} backups" for measure, _, _ in TAG_MEASURES}
    point: dict[str, float] = {}
    timestamp = tag.removeprefix("backup/")

    def python_pass() -> Timing:
        return Timing(lambda: sh(*PYTHON_PASS, cwd=listing))

    def run(*command: str) -> Timing:
        return Timing(lambda: sh(*hdversion(*command), cwd=listing))

    with results.group(*names.values()):
        lister = Listing(listing, len(backup_tags(listing)))
        # Warm: the caches of the whole output and of rendered records (ops/list_output.py,
        # ops/list_cache.py) made by a listing before, as a user who lists twice has them.
        # Cold: no cache of hdversion's at all (both files removed: every tag read and
        # validated, the caches written).
        lister.run()
        cold = Timing(lister.run, check=lister.check,
                      setup=lambda: remove(listing / ".git" / LIST_CACHE,
                                           listing / ".git" / LIST_OUTPUT))
        listed = listing.parent / "listed.json"
        listed.write_text(lister.output)
        ids_and_output = Timing(lambda: sh(
            "sh", "-c", "git for-each-ref --format='%(objectname) %(refname)' "
            f"refs/tags/backup/ >/dev/null && cat {listed}", cwd=listing))
        point.update(medians(args.repeat, **{
            FLOOR_WARM: ids_and_output,
            FLOOR_COLD: Timing(lambda: sh(*PYTHON_PASS[:2], VALIDATE_ALL, cwd=listing)),
            "list --json": lister.timing(), LIST_COLD: cold,
            "list --last 20": Timing(lambda: sh(*hdversion("list", "--last", "20"),
                                                cwd=listing)),
            "show T": run("show", timestamp), "python -c pass": python_pass()}))
        # Each backup adds a tag (nothing changed: the same data, a new backup).
        point.update(medians(args.repeat, **{
            "backup": run("backup"),
            "restore T": Timing(lambda: sh(*hdversion("restore", timestamp, "--force"),
                                           cwd=listing),
                                setup=lambda: remove(listing / "models" / "model.bin"),
                                check=expect_tree(listing, ["models"])),
            "prune --dry-run": run("prune", "--dry-run"), "status": run("status")}))
        clone = listing.parent / "clone"
        cloned = Listing(clone, len(backup_tags(listing)))

        def clone_only() -> None:
            sh("git", "clone", "-q", "--no-local", str(listing), str(clone), cwd=listing.parent)

        def clone_and_list() -> None:
            clone_only()
            cloned.run()
        point.update(medians(args.repeat, **{
            CLONE_LIST: Timing(clone_and_list, setup=lambda: remove(clone),
                               check=cloned.check),
            "git clone": Timing(clone_only, setup=lambda: remove(clone))}))
        remove(clone)
        remove(listed)
        for measure, baseline, target in TAG_MEASURES:
            results.add(names[measure], point[measure], baseline, point[baseline], target)
        for floor in (FLOOR_WARM, FLOOR_COLD):
            results.add(f"curve: {floor}, {count} backups", point[floor], "python -c pass",
                        point["python -c pass"], None)
    return point


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
    # One row per measure, one column pair per count: flat reads as the same seconds along
    # the row; growth is the largest count's time over the smallest's.
    counts = list(tags)
    names_of_commands = {m for m, _, _ in TAG_MEASURES} - {CLONE_LIST}
    lines += ["", "| measure (hourly backups) | baseline | " + " | ".join(
        f"{n:,} (s) | ratio" for n in counts) + " | growth |",
        "|---" * (3 + 2 * len(counts)) + "|"]
    for measure, baseline, _ in (*TAG_MEASURES, (FLOOR_WARM, "python -c pass", None),
                                 (FLOOR_COLD, "python -c pass", None)):
        row = [f"`{measure}`" if measure in names_of_commands else measure, f"`{baseline}`"]
        for n in counts:
            point = tags[n]
            row += ([f"{point[measure]:.3f}", f"{point[measure] / point[baseline]:.2f}"]
                    if measure in point and baseline in point else ["failed", "-"])
        ends = [tags[n].get(measure) for n in (counts[0], counts[-1])] if counts else []
        row.append(f"{ends[1] / ends[0]:.2f}" if ends and None not in ends else "-")
        lines.append("| " + " | ".join(row) + " |")
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
    for i, name in enumerate([*(m for m, _, _ in TAG_MEASURES), "python -c pass"]):
        xs = [n for n, point in tags.items() if name in point]
        by_tags.plot(xs, [tags[n][name] for n in xs], "--" if name == "python -c pass" else
                     "-", marker="o", color=f"C{i}", label=name)
    for axes, xlabel, title in ((by_files, "files of 4 KiB in one directory output",
                                 "backup, unchanged backup, restore"),
                                (by_tags, "backups (hourly)", "many backups")):
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
