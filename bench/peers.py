"""hdversion against the tools a user would pick instead, on one data set (by default 512 MiB:
one 256 MiB file and 1,024 files of 256 KiB): restic (its repository on the same disk) and
plain DVC."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from common import (
    DVC,
    MIB,
    Context,
    Timing,
    hdversion,
    header,
    medians,
    sh,
    size_text,
)
from projects import (
    CACHE,
    REMOTE,
    backup_tags,
    commit_all,
    expect_tree,
    forget_backups,
    new_project,
    remove,
    write_files,
    write_random,
)

OUTPUTS = ("models/big.bin", "models/shards")
BACKUP, UNCHANGED = "peers: backup after dvc add", "peers: unchanged backup"
VS_RESTIC = "peers: restore, empty cache / restic"
VS_PULL = "peers: restore, empty cache / dvc pull"
# Not the product's rows: what the restic rows cannot go below, measured in the same run.
# Every backup asks DVC what it tracks (importing it and opening its Repo), and a restore
# fsyncs every file it writes, which restic does not.
DVC_FLOOR = "peers: floor: DVC's import and Repo alone / restic, unchanged"
NO_FSYNC = "peers: floor: restore without its fsyncs / restic"
RESTIC_ROWS = (BACKUP, UNCHANGED, DVC_FLOOR, VS_RESTIC, NO_FSYNC)
OPEN_DVC = (sys.executable, "-c", "import sys; from dvc.repo import Repo; Repo(sys.argv[1])")
NOFSYNC = (sys.executable, str(Path(__file__).with_name("nofsync.py")))


class Restic:
    """restic with its repository and cache in the scratch folder."""

    def __init__(self, work: Path, root: Path) -> None:
        self.root = root
        self.repo = work / "restic-repo"
        self.env = {"RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(self.repo),
                    "RESTIC_CACHE_DIR": str(work / "restic-cache")}

    def __call__(self, *args: str | Path) -> str:
        return sh("restic", *args, cwd=self.root, env=self.env)

    def fresh_repository(self) -> None:
        remove(self.repo, Path(self.env["RESTIC_CACHE_DIR"]))
        self("init", "--quiet")


def run(ctx: Context) -> None:
    args, results = ctx.args, ctx.results
    work = ctx.scratch("peers")
    root = new_project(work / "project")
    half = args.peer_size_mib * MIB // 2
    write_random(root / OUTPUTS[0], half)
    write_files(root / OUTPUTS[1], args.files, half // args.files)
    sh(DVC, "add", "-q", *OUTPUTS, cwd=root)
    commit_all(root, "artifacts")
    outputs = [root / p for p in OUTPUTS]
    restic = Restic(work, root) if shutil.which("restic") else None
    version = restic("version").strip() if restic else "restic is not installed"
    header(f"peers: {args.peer_size_mib} MiB = one {size_text(half)} file + {args.files} files "
           f"of {size_text(half // args.files)}, after `dvc add`; {version}; "
           f"median of {args.repeat}")
    if restic is None:
        for name in RESTIC_ROWS:
            results.skip(name, "restic is not installed (apt-get install restic)")

    def backup() -> None:
        sh(*hdversion("backup"), cwd=root)

    if restic:
        with results.group(BACKUP, UNCHANGED, DVC_FLOOR):
            seconds = medians(
                args.repeat,
                backup=Timing(backup, setup=lambda: forget_backups(root, keep_cache=True)),
                restic=Timing(lambda: restic("backup", "--quiet", *OUTPUTS),
                              setup=restic.fresh_repository))
            results.add(BACKUP, seconds["backup"], "restic backup", seconds["restic"], 1.0,
                        "to an empty local remote / a new repository")
            seconds = medians(args.repeat, backup=Timing(backup),
                              restic=Timing(lambda: restic("backup", "--quiet", *OUTPUTS)),
                              dvc=Timing(lambda: sh(*OPEN_DVC, root, cwd=root)))
            results.add(UNCHANGED, seconds["backup"], "restic backup, unchanged",
                        seconds["restic"], 1.0)
            results.add(DVC_FLOOR, seconds["dvc"], "restic backup, unchanged",
                        seconds["restic"], None, "python -c 'Repo(root)'")

    with results.group(VS_RESTIC, NO_FSYNC, VS_PULL):
        if not backup_tags(root):  # no restic, or its rows failed before the backup
            backup()
        # `dvc pull` needs the local remote as DVC's default; hdversion reads the same url.
        sh(DVC, "remote", "add", "--local", "-f", "-d", "local", root / REMOTE, cwd=root)

        def empty() -> None:
            remove(root / CACHE, *outputs)
        check = expect_tree(root, OUTPUTS)
        timings = {
            "restore": Timing(lambda: sh(*hdversion("restore", "--force"), cwd=root),
                              setup=empty, check=check),
            "pull": Timing(lambda: sh(DVC, "pull", "-q", cwd=root), setup=empty, check=check),
        }
        if restic:
            target = work / "restic-restore"
            timings["restic"] = Timing(
                lambda: restic("restore", "latest", "--quiet", "--verify", "--target", target),
                setup=lambda: remove(target), check=expect_tree(root, OUTPUTS, at=target))
            timings["nofsync"] = Timing(lambda: sh(*NOFSYNC, "restore", "--force", cwd=root),
                                        setup=empty, check=check)
        seconds = medians(args.repeat, **timings)
        if restic:
            results.add(VS_RESTIC, seconds["restore"], "restic restore --verify",
                        seconds["restic"], 1.0, "outputs and cache deleted")
            results.add(NO_FSYNC, seconds["nofsync"], "restic restore --verify",
                        seconds["restic"], None, "bench/nofsync.py")
        results.add(VS_PULL, seconds["restore"], "dvc pull", seconds["pull"], 1.5,
                    "outputs and cache deleted")
