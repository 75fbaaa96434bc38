"""Byte progress: one line that never wraps, in binary units; the bytes counted at the
stores' doors add up to each step's total, once each; nothing shown on a pipe or with
--json."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from hdversion.cli.progress_bar import RichReporter, progress_line
from hdversion.util.pausepoints import PausePoint
from hdversion.util.progress import Advance, Transferred
from tests.conftest import HDVERSION, Project, pause_marker
from tests.storage_servers import StorageServer

MiB = 1024 * 1024
LONG = "pushing 12 object(s) to remote 'an-offsite-bucket-with-a-rather-long-name'"
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")


# -- the line ----------------------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 40])
def test_a_step_is_one_line_that_never_wraps(width: int) -> None:
    """Drawn by rich on a terminal of that width, through the reporter: every kind of step,
    from empty to a long text over terabytes at a high rate, is one line within the width."""
    clock = [0.0]
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system="truecolor")
    reporter = RichReporter(console, get_time=lambda: clock[0])
    cases: list[tuple[str, int | None]] = [
        ("committing artifacts to the DVC cache", None), (LONG, None), (LONG, 0),
        ("x", 5), (LONG, 3 * 1024**4 + 7), ("hashing 3 new file(s)", 64 * MiB)]
    for text, total in cases:
        for done_fraction in (0, 0.5, 1):
            if total is None:
                reporter.step(text)
            else:
                advance = reporter.bytes(text, total)
                for _ in range(3):  # samples a second apart: a rate, and a time left
                    clock[0] += 1
                    advance(int(total * done_fraction / 3))
            out.truncate(0)
            out.seek(0)
            console.print(reporter.renderable())
            lines = ANSI.sub("", out.getvalue()).splitlines()
            assert len(lines) == 1, (width, text, total, lines)
            assert cell_len(lines[0]) <= width, (width, lines[0])
    # The widest case kept its numbers at 80 columns, and the text was what gave way.
    advance = reporter.bytes(LONG, 64 * MiB)
    clock[0] += 1
    advance(16 * MiB)
    clock[0] += 1
    advance(16 * MiB)
    out.truncate(0)
    out.seek(0)
    console.print(reporter.renderable())
    line = ANSI.sub("", out.getvalue()).rstrip("\n")
    assert "50%" in line and "32.0 MiB/64.0 MiB" in line, line
    if width == 80:
        assert "16.0 MiB/s" in line and "ETA 0:02" in line and "━" in line, line
        assert LONG not in line and "…" in line, line


@pytest.mark.parametrize("width", range(1, 121))
def test_no_width_wraps_and_narrower_drops_parts(width: int) -> None:
    for text in ("", "hashing", LONG):
        for total, done, speed in ((64 * MiB, 12 * MiB, 3.5 * MiB), (5, 5, 1e12),
                                   (1024**5, 1, 0.5), (10, 0, None)):
            line = progress_line(text, done, total, speed, width)
            assert cell_len(line) <= width, (width, line)
            assert "\n" not in line


def test_units_are_binary_like_the_tables() -> None:
    line = progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 120)
    assert line.endswith(" 30% 3.0 MiB/10.0 MiB 1.5 MiB/s ETA 0:05"), line
    assert progress_line("x", 512, 2048, 1024, 120).endswith(
        " 25% 512 B/2.0 KiB 1.0 KiB/s ETA 0:02")
    assert "3.0 GiB/1024.0 GiB" in progress_line("x", 3 * 1024**3, 1024**4, None, 120)
    assert "ETA 1:01:01" in progress_line("x", 0, 3661, 1, 120)
    for line in (progress_line("x", n, 10**12, 10**9, 120) for n in (0, 10**9, 10**12)):
        assert not re.search(r"\d (kB|MB|GB|TB)\b", line), line


def test_narrower_drops_the_rate_then_the_time_left_then_the_bytes() -> None:
    wide = progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 80)
    assert "━" in wide and "MiB/s" in wide and "ETA" in wide
    assert progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 49) \
        == "⠋ hashing 30% 3.0 MiB/10.0 MiB 1.5 MiB/s ETA 0:05"
    assert progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 48) \
        == "⠋ hashing 30% 3.0 MiB/10.0 MiB ETA 0:05"
    assert progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 30) \
        == "⠋ hashing 30% 3.0 MiB/10.0 MiB"
    assert progress_line("hashing", 3 * MiB, 10 * MiB, 1.5 * MiB, 20) == "⠋ hashing 30%"


# -- counting ----------------------------------------------------------------------------
def test_bytes_sent_again_after_a_failed_request_are_counted_once() -> None:
    counted: list[int] = []
    sent = Transferred(counted.append)
    sent.add(8 * MiB)
    sent.add(8 * MiB)
    sent.add(-8 * MiB)  # s3transfer: a part failed, its bytes undone
    sent.add(8 * MiB)  # ... and sent again
    sent.add(4 * MiB)
    assert counted == [8 * MiB, 8 * MiB, 4 * MiB]
    again = Transferred(counted.append)
    counted.clear()
    for value in (MiB, 2 * MiB, 0, MiB, 2 * MiB, 3 * MiB):  # fsspec: a file started again
        again.reach(value)
    assert counted == [MiB, MiB, MiB]


@dataclass
class Step:
    text: str
    total: int | None
    chunks: list[int] = field(default_factory=list)


class Recorder:
    """A Reporter that keeps every step and every chunk counted (from any thread)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.lock = threading.Lock()

    def step(self, text: str) -> None:
        self.steps.append(Step(text, None))

    def bytes(self, text: str, total: int) -> Advance:
        step = Step(text, total)
        self.steps.append(step)

        def advance(size: int) -> None:
            with self.lock:
                step.chunks.append(size)
        return advance

    def counted(self, prefix: str) -> list[Step]:
        return [s for s in self.steps if s.total is not None and s.text.startswith(prefix)]

    def check(self) -> None:
        """Each byte step: every chunk adds (done never goes back) and done == total."""
        for step in self.steps:
            if step.total is not None:
                assert all(size > 0 for size in step.chunks), step
                assert sum(step.chunks) == step.total, step


def _objects_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "files" / "md5").rglob("*") if p.is_file())


def _new_artifacts(project: Project) -> int:
    """Fresh bytes DVC has never hashed, several chunks long: their total size."""
    sizes = {"models/keras_mlp_model.h5": 3 * MiB + 17,
             "models/optuna/study_7.pkl": 2 * MiB + 5, "models/optuna/study_8.pkl": 1000}
    for path, size in sizes.items():
        file = project.root / path
        file.unlink(missing_ok=True)
        file.write_bytes(os.urandom(size))
    return sum(sizes.values())


def test_a_backup_sync_and_copy_count_every_byte_once(project: Project, tmp_path: Path
                                                      ) -> None:
    """Through the API: the hashing step reads each new byte once (teed into the cache and
    the local remote, counted once), the push to a second directory remote counts exactly
    what lands there, and so do sync and copy into a third and a fourth."""
    from hdversion import api

    for name in ("offsite", "mirror", "copy"):
        project.cli("remote", "add", name, str(tmp_path / name), check=True)
    new = _new_artifacts(project)
    recorder = Recorder()
    result = api.backup(repo=project.root, remotes=("offsite",), reporter=recorder)
    assert result.complete
    recorder.check()
    [hashing] = recorder.counted("hashing")
    dvc_files = {f.path: f.size for f in result.files if f.store == "dvc"}
    # Every cached output's file is new to this copy of the project (its inodes are).
    assert hashing.total == sum(dvc_files.values()) and hashing.total > new
    assert len(hashing.chunks) > 6  # by chunk, not one call per file
    [offsite] = recorder.counted("pushing")[-1:]
    assert "'offsite'" in offsite.text
    assert offsite.total == _objects_bytes(tmp_path / "offsite")

    recorder = Recorder()
    api.sync(repo=project.root, remote="mirror", reporter=recorder)
    recorder.check()
    assert sum(s.total or 0 for s in recorder.counted("pushing")) \
        == _objects_bytes(tmp_path / "mirror") > new

    recorder = Recorder()
    api.copy(source="offsite", target="copy", repo=project.root, reporter=recorder)
    recorder.check()
    assert sum(s.total or 0 for s in recorder.counted("pushing")) \
        == _objects_bytes(tmp_path / "copy") > new


def test_a_restore_says_it_waits_for_the_disk_once_every_byte_is_written(
        project: Project) -> None:
    """A big file's flush takes seconds after its last byte: the bar must not sit at 100%
    meanwhile, but say what it waits for, after the bytes and only then."""
    from hdversion import api

    api.backup(repo=project.root)
    for path in ("models/keras_mlp_model.h5", "config/config.yaml"):
        (project.root / path).unlink()
    recorder = Recorder()
    api.restore(repo=project.root, reporter=recorder)
    recorder.check()
    texts = [step.text for step in recorder.steps]
    [writing] = [n for n, text in enumerate(texts) if text.startswith("writing 2 file(s)")]
    assert texts[writing + 1:] == ["making the 2 file(s) durable on disk"]


@pytest.mark.cloud
@pytest.mark.parametrize("cloud_backend", ["s3", "gcp"], indirect=True)
def test_a_bucket_push_and_fetch_count_the_bytes_sent_and_received(
        project: Project, cloud_backend: StorageServer, bucket: str, tmp_path: Path) -> None:
    """S3 through s3transfer's threads, GCS through fsspec's bulk put: the push counts what
    the bucket then holds; with neither cache nor local remote, a restore counts what it
    streams into the files it writes, a copy what it fetches into the cache."""
    import shutil

    from hdversion import api
    from tests.test_cloud import PREFIX, configure

    configure(project, cloud_backend, bucket)
    new = _new_artifacts(project)
    recorder = Recorder()
    result = api.backup(repo=project.root, remotes=(cloud_backend.name,), reporter=recorder)
    assert result.complete
    recorder.check()
    [pushed] = [s for s in recorder.counted("pushing") if f"'{cloud_backend.name}'" in s.text]
    objects = [k for k in cloud_backend.list_keys(bucket, f"{PREFIX}/files/md5/")]
    held = sum(len(cloud_backend.read_object(bucket, key)) for key in objects)
    assert pushed.total == held > new

    shutil.rmtree(project.root / ".dvc" / "cache" / "files")
    shutil.rmtree(project.root / "backups")
    recorder = Recorder()
    restored = api.restore(repo=project.root, target=tmp_path / "out", remote=cloud_backend.name,
                           reporter=recorder)
    assert restored.all_verified
    recorder.check()
    # Streamed from the bucket into the files written: git's files and DVC's alike.
    [written] = recorder.counted("writing")
    assert written.total == sum(f.size for f in result.files) > new

    project.cli("remote", "add", "offsite", str(tmp_path / "offsite"), check=True)
    shutil.rmtree(project.root / ".dvc" / "cache" / "files", ignore_errors=True)
    recorder = Recorder()
    api.copy(source=cloud_backend.name, target="offsite", repo=project.root, reporter=recorder)
    recorder.check()
    [fetched] = recorder.counted("fetching")  # into the cache, then on to the target
    assert fetched.total == sum({f.md5: f.size for f in result.files
                                 if f.store == "dvc"}.values()) > new


# -- the command line --------------------------------------------------------------------
def _no_progress(text: str, colours: bool = False) -> None:
    """No frame of a display in `text`; no escape code at all unless colours were asked for
    (then only colours: SGR codes)."""
    left = re.sub(r"\x1b\[[0-9;]*m", "", text) if colours else text
    assert "\x1b" not in left and "\r" not in left, text
    for mark in ("━", "ETA", "MiB/s", "KiB/s", "B/s", "⠋", "hashing", "pushing"):
        assert mark not in text, (mark, text)


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize("colours", [False, True])
def test_nothing_of_the_progress_on_a_pipe(project: Project, as_json: bool, colours: bool
                                           ) -> None:
    """Also where the environment asks for colours on a pipe (a CI job's FORCE_COLOR, which
    rich takes to mean a terminal): a log gets no frames of a display."""
    _new_artifacts(project)
    asked = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"} if colours else {}
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color", **asked}
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        if name not in asked:
            env.pop(name, None)
    result = subprocess.run([HDVERSION, "backup", *(["--json"] if as_json else [])],
                            cwd=project.root, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    _no_progress(result.stdout, colours)
    _no_progress(result.stderr, colours)


def _backup_on_a_terminal(project: Project, columns: int, *args: str) -> tuple[str, str]:
    """`hdversion backup ARGS` whose stderr is a terminal of `columns` (stdout a pipe),
    held at the pause point before its tag while the display shows the local push: what
    the terminal and the pipe received."""
    _new_artifacts(project)
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "24", "TERM": "xterm-256color",
           "HDVERSION_TEST_PAUSE": f"{PausePoint.BEFORE_TAG.value}:120"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([HDVERSION, "backup", *args], cwd=project.root, env=env,
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = bytearray()

    def read_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    return
                if not chunk:
                    return
                seen.extend(chunk)

    try:
        marker = pause_marker(project.root)
        while not marker.exists() and proc.poll() is None:
            read_for(0.05)
        read_for(0.5)  # the display redraws 8 times a second: a few frames while held
        marker.unlink(missing_ok=True)
        stdout, _ = proc.communicate(timeout=300)
        read_for(0.2)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, seen.decode(errors="replace")
    return seen.decode(errors="replace"), stdout


@pytest.mark.parametrize("columns", [80, 40])
def test_on_a_terminal_progress_is_drawn_within_its_width(project: Project, columns: int
                                                          ) -> None:
    terminal, stdout = _backup_on_a_terminal(project, columns)
    assert "pushing" in terminal and "%" in terminal, terminal  # the local push's step
    for line in re.split(r"[\r\n]", ANSI.sub("", terminal)):
        assert cell_len(line) <= columns, (columns, line)
    _no_progress(stdout)


def test_on_a_terminal_json_shows_no_progress(project: Project) -> None:
    terminal, stdout = _backup_on_a_terminal(project, 80, "--json")
    _no_progress(terminal)
    _no_progress(stdout)
