"""README.md, run as written: every command of its ```bash blocks, in order, in a scratch
clone of this repository with a throwaway bare origin, the bucket being the local S3 server.
Each line's exit code must be the one its comment names (`# exit 8`), else 0, so a claim
that goes false fails here. A line that cannot run in a test is in NOT_RUN with the reason
and what runs instead; a value of the reader's own world (a bucket, a disk, a backup's
timestamp) is in PLACEHOLDERS. The README's links are checked too, and its length."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hdversion.util.hashing import md5_file
from tests.conftest import REPO_ROOT
from tests.heart_project import TrainedHeart, tiny_params
from tests.storage_servers import StorageServer
from tests.test_unattended import crontab_env

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
MAX_LINES = 250
MODEL = "models/keras_mlp_model.h5"

# Lines not run as written, each with why and what runs instead. Keep it short: a line
# that can run here, runs.
NOT_RUN = {
    "make demo": "trains the full pipeline for minutes: test_make_demo_as_written runs it "
                 "in the reliability tier",
    "make test": "the suite this test is part of (.ci/run runs it: "
                 "test_ci_runs_the_readme_test_command)",
    '.venv/bin/pytest -m "not pipeline and not cloud"': "a part of `make test`",
    "make reliability": "the long tier itself (kills at random instants, for minutes)",
    "pip install -c constraints.txt .": "would install over the package under test",
    "pip install -c constraints.txt '.[pipeline]'": "would install over the package under test",
}
# Lines run as written once a stand-in has made what they need.
STAND_INS = {
    "make install": "STANDIN_VENV: `make install`'s .venv in seconds, which make finds done",
}

# The README's example backup is the first one its commands make (`backup -m "baseline"`):
# the oldest backup tag, as backup/YYYYMMDD_HHMMSS sorts by time.
EXAMPLE_T = "20261126_101500"
FIRST_BACKUP = "$(git tag -l 'backup/*' | head -n 1 | cut -d/ -f2)"
# The reader's values, and what stands for each here.
PLACEHOLDERS = {
    "s3://my-bucket/": "a new bucket on the local S3 server (AWS_ENDPOINT_URL points there)",
    "/mnt/backup-disk/": "a folder of the test's own",
    EXAMPLE_T: FIRST_BACKUP,
}

# Where a block starts, by the heading above it; any other block runs in the scratch clone.
START = {"Recover on a new machine": "new-machine", "Install the tool alone": "elsewhere"}

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_HEADING = re.compile(r"^(#{1,6}) (.+)$")


@dataclass
class Block:
    heading: str
    lines: list[str]


def command_of(line: str) -> str:
    """The line without its trailing comment (the README puts none inside quotes)."""
    return re.sub(r"\s+#\s.*$", "", line).strip()


def expected_code(line: str) -> int:
    match = re.search(r"#\s*exit (\d+)", line)
    return int(match.group(1)) if match else 0


def outside_fences(text: str) -> str:
    return _FENCE.sub("", text)


def headings(text: str, level: int = 6) -> list[str]:
    return [m.group(2) for ln in outside_fences(text).splitlines()
            if (m := _HEADING.match(ln)) and len(m.group(1)) <= level]


def bash_blocks(text: str = "") -> list[Block]:
    """Every ```bash block of the README, in order, under the heading it follows."""
    text = text or README.read_text()
    blocks, heading, pos = [], "", 0
    for fence in _FENCE.finditer(text):
        for ln in text[pos:fence.start()].splitlines():
            if match := _HEADING.match(ln):
                heading = match.group(2)
        pos = fence.end()
        if fence.group(1) == "bash":
            lines = [ln for ln in fence.group(2).splitlines()
                     if ln.strip() and not ln.lstrip().startswith("#")]
            blocks.append(Block(heading, lines))
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- what the README says, checked without running it -----------------------------------

def test_every_readme_command_runs_or_says_why_not() -> None:
    commands = [command_of(ln) for block in bash_blocks() for ln in block.lines]
    stale = set(NOT_RUN) - set(commands)
    assert not stale, f"NOT_RUN names lines the README no longer has: {stale}"
    assert set(START) <= set(headings(README.read_text()))
    assert all(placeholder in README.read_text() for placeholder in PLACEHOLDERS)
    # The fast part of the README runs: most of its lines are not in NOT_RUN.
    assert len([c for c in commands if c not in NOT_RUN]) >= 25


def test_ci_runs_the_readme_test_command() -> None:
    (two,) = [b for b in bash_blocks() if b.heading == "Two commands"]
    ci = [ln.strip() for ln in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.lstrip().startswith("#")]
    assert ci[-1] in [command_of(ln) for ln in two.lines], "CI runs what the README says"


def test_readme_is_short_and_its_links_lead_somewhere() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= MAX_LINES
    own = {slug(h) for h in headings(text)}
    toc = text[text.index("**Contents:**"):text.index("\n## ")]
    assert {slug(h) for h in headings(text, level=3)[1:]} <= \
        set(re.findall(r"\]\(#([^)]+)\)", toc)), "a section the contents do not list"
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        body = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", outside_fences(body)):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                anchors = own if linked == README else \
                    {slug(h) for h in headings(linked.read_text())}
                assert anchor in anchors, f"{page.name}: {target}"


# -- the README, run ----------------------------------------------------------------------

STANDIN_VENV = """#!/bin/sh
# `make install`'s result, made in seconds: .venv/bin runs this environment's programs, and
# its stamp tells make the install is done.
set -e
mkdir -p .venv/bin
for program in python dvc hdversion; do
    printf '#!/bin/sh\\nexec "%s/%s" "$@"\\n' "{bin}" "$program" > ".venv/bin/$program"
    chmod +x ".venv/bin/$program"
done
printf 'export PATH="%s/.venv/bin:$PATH"\\n' "$PWD" > .venv/bin/activate
touch .venv/.installed
"""


def standin_venv_script(tmp_path: Path) -> Path:
    script = tmp_path / "standin-venv"
    script.write_text(STANDIN_VENV.replace("{bin}", str(Path(sys.executable).parent)))
    script.chmod(0o755)
    return script


def scratch_clone(tmp_path: Path, tiny: bool = True) -> tuple[Path, Path]:
    """This repository cloned, its `main` pushed to a throwaway bare origin (never the real
    upstream); with `tiny`, the pipeline's budget cut as tests/pipeline does, and committed."""
    origin = tmp_path / "origin.git"
    clone = tmp_path / "heart-disease"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    # No tags: a developer's own backups of this clone (after `make demo`) are not the
    # project's, and their data is not in the scratch clone.
    subprocess.run(["git", "clone", "-q", "--no-local", "--no-tags", str(REPO_ROOT),
                    str(clone)], check=True)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=clone, check=True, capture_output=True)

    git("checkout", "-q", "-B", "main")
    git("remote", "set-url", "origin", str(origin))
    if tiny:
        (clone / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
        git("-c", "user.name=Test", "-c", "user.email=test@example.invalid",
            "commit", "-q", "-am", "a tiny training budget")
    git("push", "-q", "-u", "origin", "main")
    return origin, clone


def run_block(block: Block, cwd: Path, env: dict[str, str],
              substitutes: dict[str, str], standin_venv: Path) -> None:
    """One block in one shell (a `cd` carries over to its next lines), each line's exit
    code recorded and compared with its comment's."""
    codes_file = cwd.parent / ".readme-codes"
    script = []
    for line in block.lines:
        command = command_of(line)
        if command in NOT_RUN:
            continue
        for text, value in substitutes.items():
            command = command.replace(text, value)
        if any(command.startswith(needs) for needs in STAND_INS):
            script.append(str(standin_venv))
        script.append(f'{command}\necho $? >> "{codes_file}"')
    ran = [ln for ln in block.lines if command_of(ln) not in NOT_RUN]
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    codes = [int(c) for c in codes_file.read_text().split()] if codes_file.exists() else []
    codes_file.unlink(missing_ok=True)
    assert codes == [expected_code(ln) for ln in ran], (
        block.heading, list(zip(ran, codes, strict=False)), (done.stdout + done.stderr)[-6000:])


def reader_env(tmp_path: Path, origin: Path, **extra: str) -> dict[str, str]:
    """The reader's shell: this environment's programs first, a new HOME (the reader's git
    identity, a crontab of its own, no ~/.aws), GIT_URL the throwaway origin."""
    env = {**os.environ, **crontab_env(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_URL": str(origin), **extra}
    env.pop("HDVERSION_GIT_REMOTE", None)
    subprocess.run(["git", "config", "--global", "user.name", "Reader"], env=env, check=True)
    subprocess.run(["git", "config", "--global", "user.email", "reader@example.invalid"],
                   env=env, check=True)
    return env


def first_backup(clone: Path) -> str:
    return subprocess.run(["git", "tag", "-l", "backup/*"], cwd=clone, capture_output=True,
                          text=True, check=True).stdout.split()[0]


def backed_up_md5(clone: Path, tag: str, path: str) -> str:
    manifest = subprocess.run(["git", "show", f"{tag}:.hdversion/manifest.json"], cwd=clone,
                              capture_output=True, text=True, check=True).stdout
    return str(next(f["md5"] for f in json.loads(manifest)["files"] if f["path"] == path))


# The walk below (offsite copies, restores, checks, a new machine, prune) is some 30 commands
# of 1-3 s each: the long tier runs it; the fast tier runs the README's first backup and the
# tool alone, as written (test_the_readme_s_first_backups_as_written).
FIRST_STEPS = ("Back up after training", "Install the tool alone")


@pytest.mark.pipeline
def test_the_readme_s_first_backups_as_written(tmp_path: Path,
                                               trained_heart: TrainedHeart) -> None:
    origin, clone = scratch_clone(tmp_path)
    trained_heart.seed_cache(clone)  # as in test_the_readme_as_written
    env = reader_env(tmp_path, origin)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    blocks = [block for block in bash_blocks() if block.heading in FIRST_STEPS]
    assert {block.heading for block in blocks} == set(FIRST_STEPS)
    assert START[FIRST_STEPS[1]] == "elsewhere"
    standin = standin_venv_script(tmp_path)
    try:
        for block in blocks:
            run_block(block, elsewhere if block.heading in START else clone, env, {}, standin)
    finally:
        shutil.rmtree(clone / "tests", ignore_errors=True)  # as in test_the_readme_as_written
    first = first_backup(clone)
    assert md5_file(clone / MODEL)[0] == backed_up_md5(clone, first, MODEL)
    pushed = subprocess.run(["git", "tag", "-l", "backup/*"], cwd=origin, capture_output=True,
                            text=True, check=True).stdout.split()
    assert pushed == [first]
    assert subprocess.run(["git", "tag", "-l", "backup/*"], cwd=elsewhere / "my-project",
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.reliability
@pytest.mark.cloud
@pytest.mark.pipeline
def test_the_readme_as_written(tmp_path: Path, s3_server: StorageServer,
                               bucket_factory: Callable[[StorageServer], str],
                               trained_heart: TrainedHeart) -> None:
    origin, clone = scratch_clone(tmp_path)
    # The README's `dvc repro` runs as written, every stage restored from DVC's run-cache:
    # the session trained the same code on the same params once (tests/heart_project.py).
    trained_heart.seed_cache(clone)
    bucket = bucket_factory(s3_server)
    disk = tmp_path / "backup-disk"
    public, secrets = s3_server.dvc_remote_config(bucket)
    # The reader's AWS is this S3 server: every SDK call goes to its endpoint.
    env = reader_env(tmp_path, origin, AWS_ENDPOINT_URL=public["endpointurl"],
                     AWS_DEFAULT_REGION=public["region"],
                     AWS_ACCESS_KEY_ID=secrets["access_key_id"],
                     AWS_SECRET_ACCESS_KEY=secrets["secret_access_key"])
    substitutes = {"s3://my-bucket/": f"s3://{bucket}/", "/mnt/backup-disk/": f"{disk}/",
                   EXAMPLE_T: FIRST_BACKUP}
    assert set(substitutes) == set(PLACEHOLDERS)
    text = README.read_text()
    standin = standin_venv_script(tmp_path)
    starts = {"new-machine": tmp_path / "new-machine", "elsewhere": tmp_path / "elsewhere"}
    for path in starts.values():
        path.mkdir()

    try:
        for block in bash_blocks(text):
            if block.heading == "Restore one file or an older version":
                (clone / MODEL).unlink()  # the file the block brings back
            cwd = starts[START[block.heading]] if block.heading in START else clone
            run_block(block, cwd, env, substitutes, standin)
    finally:
        # The clones hold this repository's own tests, whose constants include the storage
        # servers' keys: no leak, but the session's leak check would say so. Anything a
        # command wrote (journals, configs, tags) stays and is checked.
        for copy in (clone, starts["new-machine"] / "heart-disease"):
            shutil.rmtree(copy / "tests", ignore_errors=True)

    # What the commands claimed, seen from outside.
    first = first_backup(clone)
    model_md5 = backed_up_md5(clone, first, MODEL)
    assert md5_file(clone / MODEL)[0] == model_md5
    assert md5_file(starts["new-machine"] / "heart-disease" / MODEL)[0] == model_md5
    assert any(key.startswith("heart-disease/files/md5/") for key in s3_server.list_keys(bucket))
    assert any((disk / "heart-disease" / "files" / "md5").rglob("*"))
    pushed = subprocess.run(["git", "tag", "-l", "backup/*"], cwd=origin, capture_output=True,
                            text=True, check=True).stdout.split()
    assert first in pushed
    crontab = subprocess.run([env["HDVERSION_CRONTAB"], "-l"], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert f"cd {clone}" in crontab and " auto " in crontab
    assert subprocess.run(["git", "tag", "-l", "backup/*"], cwd=starts["elsewhere"] / "my-project",
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.reliability
@pytest.mark.pipeline
def test_make_demo_as_written(tmp_path: Path) -> None:
    """`make demo` in a scratch clone: the full pipeline trains (minutes), so it runs in the
    long tier; the install is stood in for (`make` finds it done), the rest is the demo."""
    pytest.importorskip("keras")
    _, clone = scratch_clone(tmp_path, tiny=False)
    subprocess.run([str(standin_venv_script(tmp_path))], cwd=clone, check=True)
    try:
        done = subprocess.run(["make", "demo"], cwd=clone, capture_output=True, text=True,
                              timeout=1800)
    finally:
        # As above: the clone's own tests hold the storage servers' keys (no leak, but the
        # session's leak check, run by the cloud tests after this one, would say so).
        shutil.rmtree(clone / "tests", ignore_errors=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "pip install" not in done.stdout  # make found the stand-in installed
    assert f"OK: {MODEL} restored" in done.stdout
    assert (clone / ".venv" / "bin" / "hdversion").exists()
