"""`hdversion report`: one self-contained HTML page, checked in a real browser (headless
Chromium reads the rendered DOM and takes a screenshot), and its refusals.

One history is built per module, in-process: a pinned backup, a backup whose message is a
script, a safety backup (a restore over unsaved work), a backup without the metric, a forged
tag whose host and metric names are markup, and a skipped tag whose name is markup. Two
remotes: the local one (complete) and `spare`, a copy of it lacking one object."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hdversion import api
from hdversion.cli import render_report
from hdversion.errors import ExitCode, HdversionError
from hdversion.paths import TEMP_PREFIX
from hdversion.util.redact import register_secret
from tests.conftest import Project
from tests.storage_servers import StorageServer
from tests.test_cloud import configure

HOSTILE_MESSAGE = "<script>alert(1)</script>"
HOSTILE_HOST = '"><img src=x onerror=alert(2)>'
HOSTILE_METRIC = "<svg onload=alert(3)>"
HOSTILE_REASON = "<b>production</b> & friends"
FORGED = "20200101_000000"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0")


@dataclass
class History:
    project: Project
    tags: dict[str, str]  # role -> tag
    page: Path  # written by the CLI
    summary: dict  # its --json line

    @property
    def root(self) -> Path:
        return self.project.root


def _forge(project: Project, source_tag: str) -> None:
    """A tag another clone could push: a real backup's commit and file list under a message
    whose host and metric names are markup."""
    message = json.loads(project.git("cat-file", "-p", source_tag).strip().splitlines()[-1])
    message.update(timestamp=FORGED, host=HOSTILE_HOST, message="forged",
                   metrics={"metrics.json": {"ensemble": {"roc_auc": 0.5},
                                             HOSTILE_METRIC: 1}})
    body = project.root / ".git" / "forged-message"
    body.write_text(json.dumps(message, sort_keys=True, separators=(",", ":")))
    commit = project.git("rev-parse", f"{source_tag}^{{commit}}").strip()
    project.git("tag", "-a", "--cleanup=verbatim", "-F", str(body), f"backup/{FORGED}", commit)
    project.git("tag", "backup/<img_src=y_onerror=alert(4)>", commit)


@pytest.fixture(scope="module")
def history(project_template: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    base = tmp_path_factory.mktemp("report")
    root = base / "project"
    shutil.copytree(project_template, root, symlinks=True)
    project = Project(root)
    tags: dict[str, str] = {}
    first = api.backup(repo=root, message="seed 1")
    tags["pinned"] = first.backup.tag
    project.retrain(2)
    second = api.backup(repo=root, message=HOSTILE_MESSAGE)
    tags["hostile"] = second.backup.tag
    project.retrain(3)
    restored = api.restore(repo=root, ref=first.backup.timestamp)  # seed 3 is in no backup: saved
    assert restored.safety_backup is not None
    tags["safety"] = restored.safety_backup.tag
    (root / "metrics.json").write_text('{"loss": 0.25}\n')
    tags["no_metric"] = api.backup(repo=root, message="no metric").backup.tag
    api.pin(first.backup.timestamp, reason=HOSTILE_REASON, repo=root)
    _forge(project, first.backup.tag)
    tags["forged"] = f"backup/{FORGED}"
    # `spare`: the local remote without one object that only the second backup has.
    shutil.copytree(root / "backups", base / "spare")
    # Seeded random bytes: seed 2's objects are in no other backup.
    md5 = sorted({f.md5 for f in second.files if f.store == "dvc"}
                 - {f.md5 for f in first.files})[0]
    (base / "spare" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    api.remote_add("spare", url=str(base / "spare"), repo=root)
    # Nothing listens on port 9 of the loopback: connection refused at once.
    api.remote_add("dead", url="s3://bucket/x", endpoint_url="http://127.0.0.1:9", repo=root)
    page = base / "backups.html"
    result = project.cli("report", "-o", str(page), "--json", "--remote", "local",
                         "--remote", "spare")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert len(result.stdout.strip().splitlines()) == 1
    return History(project, tags, page, json.loads(result.stdout))


# --- the browser ---------------------------------------------------------------------------

def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the browser test "
                        "(.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed: apt-get install chromium (CI installs it)")
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def console_errors(stderr: str) -> list[str]:
    """What the page said on the console (script errors, console.* calls, refused loads and
    policy violations), from Chromium's log."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line or "net::ERR_" in line]


class Dom(HTMLParser):
    """The elements of a rendered page (tag, attributes) and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        """Elements `tag` having every class in `cls` (space-separated)."""
        wanted = set((cls or "").split())
        return [a for t, a in self.elements
                if t == tag and wanted <= set(a.get("class", "").split())]


@pytest.fixture(scope="module")
def rendered(history: History, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Dom, list[str]]:
    result = chromium("--dump-dom", history.page.as_uri(),
                      profile=tmp_path_factory.mktemp("chromium-profile"))
    assert result.returncode == 0, result.stderr[-2000:]
    return Dom(result.stdout), console_errors(result.stderr)


def test_the_browser_draws_one_point_per_backup_with_the_metric(
        history: History, rendered: tuple[Dom, list[str]]) -> None:
    dom, errors = rendered
    assert errors == []
    points = dom.find("circle", "point")
    # pinned, hostile, safety, forged; "no metric" lacks it.
    assert len(points) == 4
    assert {p["data-tag"] for p in points} == {history.tags[r] for r in
                                               ("pinned", "hostile", "safety", "forged")}
    assert [float(p["data-value"]) for p in points] == [0.5, 0.801, 0.802, 0.803]
    assert [p["data-tag"] for p in dom.find("circle", "point safety")] == [history.tags["safety"]]
    assert [p["data-tag"] for p in dom.find("circle", "point pinned")] == [history.tags["pinned"]]
    assert dom.find("svg")[0]["data-points"] == "4"
    missing = [a for t, a in dom.elements if a.get("id") == "metric-missing"]
    assert missing[0]["data-count"] == "1"
    # The strip above the table: every backup at its time, the forged 2020 one included.
    marks = dom.find("circle", "mark")
    assert len(marks) == 5 and {m["data-tag"] for m in marks} == set(history.tags.values())


def test_the_timeline_marks_pins_safety_backups_and_what_each_remote_holds(
        history: History, rendered: tuple[Dom, list[str]]) -> None:
    dom, _ = rendered
    rows = {r["data-tag"]: r["class"].split() for r in dom.find("tr", "backup")}
    assert len(rows) == 5
    assert "pinned" in rows[history.tags["pinned"]]
    assert "safety" in rows[history.tags["safety"]]
    assert sum("pinned" in c for c in rows.values()) == 1
    assert sum("safety" in c for c in rows.values()) == 1
    text = "".join(dom.text)
    assert HOSTILE_REASON in text  # the pin's reason, as text
    cells = [(a["data-remote"], a["class"]) for a in dom.find("td") if "data-remote" in a]
    assert cells.count(("local", "complete")) == 5
    assert cells.count(("spare", "lacking")) == 1
    lacking = [a for a in dom.find("td", "lacking")]
    assert lacking[0]["data-lacking"] == "1"
    assert {a["data-remote"] for a in dom.find("li", "remote")} == {"local", "spare"}


def test_markup_from_tags_stays_text(history: History, rendered: tuple[Dom, list[str]]
                                     ) -> None:
    dom, _ = rendered
    tags = {t for t, _ in dom.elements}
    assert "script" not in tags and "img" not in tags and "b" in tags  # <b> is our own
    assert [a["id"] for a in dom.find("svg")] == ["metric-chart", "timeline-strip"]
    assert not any(k.startswith("on") for _, a in dom.elements for k in a)
    assert dom.find("b") and all(a == {} for a in dom.find("b"))
    text = "".join(dom.text)
    for hostile in (HOSTILE_MESSAGE, HOSTILE_HOST, "backup/<img_src=y_onerror=alert(4)>"):
        assert hostile in text
    raw = history.page.read_text()
    assert HOSTILE_MESSAGE not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


def test_the_page_is_self_contained(history: History) -> None:
    raw = history.page.read_text()
    assert "http://" not in raw and "https://" not in raw
    dom = Dom(raw)
    assert not [a for _, a in dom.elements if "src" in a or "href" in a]
    assert not dom.find("link") and not dom.find("script")
    csp = [a for a in dom.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_the_screenshot_is_a_real_picture(history: History, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2000",
                      "--hide-scrollbars", history.page.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert console_errors(result.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert len(data) > 20_000  # a blank 1280x2000 page compresses to a few KiB


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><p>x</p>"
                      "<script>console.error('boom'); notDefined();</script></body></html>")
    result = chromium("--dump-dom", broken.as_uri(), profile=tmp_path / "profile")
    errors = console_errors(result.stderr)
    assert any("boom" in e for e in errors) and any("notDefined" in e for e in errors)


# --- what the command says -----------------------------------------------------------------

def test_json_describes_what_was_written(history: History) -> None:
    summary = history.summary
    assert summary["output"] == str(history.page)
    assert summary["bytes"] == history.page.stat().st_size
    assert (summary["backups"], summary["points"], summary["lacking_metric"]) == (5, 4, 1)
    assert summary["metric"] == "ensemble.roc_auc"
    assert summary["pinned"] == [history.tags["pinned"]]
    assert summary["safety"] == [history.tags["safety"]]
    remotes = {r["name"]: r for r in summary["remotes"]}
    assert remotes["local"] == {"name": "local", "reachable": True, "detail": "",
                                "complete": 5, "incomplete": 0}
    assert (remotes["spare"]["complete"], remotes["spare"]["incomplete"]) == (4, 1)
    assert summary["skipped_tags"] == 1


def test_an_unreachable_remote_is_shown_and_the_exit_is_partial(history: History,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = api.report(out, render=render_report.page, remotes=("local", "dead"), offline=True,
                        repo=history.root)
    failure = result.failure()
    assert failure is not None and failure.exit_code == ExitCode.PARTIAL
    assert "dead" in failure.message
    dead = next(r for r in result.data.remotes if r.name == "dead")
    assert not dead.reachable and "127.0.0.1:9" in dead.detail
    assert all(b.lacking["dead"] is None for b in result.data.backups)
    raw = out.read_text()
    assert 'class="remote down" data-remote="dead"' in raw
    assert raw.count('<td class="unknown" data-remote="dead">unknown</td>') == 5


def test_another_metric_is_charted(history: History, tmp_path: Path) -> None:
    result = api.report(tmp_path / "loss.html", render=render_report.page, metric="loss",
                        offline=True, repo=history.root)
    assert [b.tag for b in result.data.points] == [history.tags["no_metric"]]
    assert result.data.lacking_metric == 4 and result.failure() is None
    # The forged tag's metric name is markup: charted, it stays text.
    out = tmp_path / "hostile.html"
    result = api.report(out, render=render_report.page, metric=HOSTILE_METRIC, offline=True,
                        repo=history.root)
    assert [b.tag for b in result.data.points] == [history.tags["forged"]]
    dom = Dom(out.read_text())
    assert [a["id"] for a in dom.find("svg")] == ["metric-chart", "timeline-strip"]
    assert HOSTILE_METRIC in "".join(dom.text) and HOSTILE_METRIC not in out.read_text()


def refused(history: History, out: Path, code: ExitCode, **kwargs: object) -> str:
    with pytest.raises(HdversionError) as caught:
        api.report(out, render=render_report.page, offline=True, repo=history.root,
                   **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == code, caught.value.message
    return caught.value.message + (caught.value.hint or "")


def no_leftovers(folder: Path) -> None:
    assert not list(folder.glob(TEMP_PREFIX + "*"))


def test_refusals_write_nothing(history: History, tmp_path: Path) -> None:
    assert "*.html" in refused(history, tmp_path / "notes.txt", ExitCode.USAGE)
    assert "does not exist" in refused(history, tmp_path / "nowhere" / "r.html",
                                       ExitCode.USAGE)
    assert "cannot write into folder '/proc'" in refused(history, Path("/proc/r.html"),
                                                         ExitCode.UNEXPECTED)
    (tmp_path / "folder.html").mkdir()
    assert "not a regular file" in refused(history, tmp_path / "folder.html",
                                           ExitCode.USAGE)
    model = tmp_path / "model.html"
    model.write_bytes(b"\x89HDF\r\n model weights")
    assert "not an HTML page" in refused(history, model, ExitCode.USAGE)
    assert model.read_bytes() == b"\x89HDF\r\n model weights"
    assert "no DVC remote named 'nosuch'" in refused(
        history, tmp_path / "r.html", ExitCode.CONFIGURATION, remotes=("nosuch",))
    hint = refused(history, tmp_path / "r.html", ExitCode.USAGE, metric="ensembel.roc_auc")
    assert "ensemble.roc_auc" in hint and "loss" in hint
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "notes.txt").exists()
    no_leftovers(tmp_path)


def test_an_old_page_is_replaced_whole_and_a_failed_render_leaves_it(
        history: History, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("<!doctype html><p>last week's report</p>")

    def broken(data: api.ReportData) -> str:
        raise RuntimeError("renderer bug")

    with pytest.raises(RuntimeError):
        api.report(out, render=broken, offline=True, repo=history.root)
    assert out.read_text() == "<!doctype html><p>last week's report</p>"
    no_leftovers(tmp_path)
    api.report(out, render=render_report.page, offline=True, repo=history.root)
    assert out.read_text().startswith("<!DOCTYPE html>") and "last week" not in out.read_text()
    no_leftovers(tmp_path)


def test_no_backups_yet_is_a_page_that_says_so(project: Project, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "empty.html"
    result = api.report(out, render=render_report.page, repo=project.root)
    assert result.failure() is None and result.data.backups == []
    assert "There are no backups yet" in out.read_text()
    render_report.summary(result)
    # rich wraps a long temporary path anywhere, even inside a name: compare without spaces.
    said = "".join(capsys.readouterr().out.split())
    assert f"wrote{out}" in said and "0backup(s)" in said and "local:0complete" in said


# --- the renderer alone ---------------------------------------------------------------------

def row(timestamp: str, metric: float | None, **changes: object) -> api.BackupRow:
    fields: dict = dict(tag=f"backup/{timestamp}", timestamp=timestamp, created_at="",
                        kind="backup", message="m", host="h", user="u", branch=None,
                        total_files=1, total_size=10, missing=(), metric=metric, pin=None,
                        lacking={})
    return api.BackupRow(**{**fields, **changes})


def data_of(*rows: api.BackupRow) -> api.ReportData:
    return api.ReportData("p", "now", "0", "ensemble.roc_auc", list(rows), [], [])


@pytest.mark.parametrize(("rows", "points", "note"), [
    ((), 0, "no backups yet"),
    ((row("20260101_000000", 0.9),), 1, "Every backup records"),
    ((row("20260102_000000", 0.9), row("20260101_000000", 0.9)), 2, "Every backup"),
    ((row("20260102_000000", None),), 0, "No backup records"),
    ((row("20260102_000000", 1e308), row("20260101_000000", -1e308)), 0, "too far apart"),
])
def test_the_chart_of_edge_cases(rows: tuple[api.BackupRow, ...], points: int, note: str
                                 ) -> None:
    html = render_report.page(data_of(*rows))
    dom = Dom(html)
    assert len(dom.find("circle", "point")) == points
    assert note in html and "nan" not in html.lower() and "inf" not in html.lower()
    for circle in dom.find("circle"):
        assert all(float(circle[k]) == float(circle[k]) for k in ("cx", "cy"))


def test_a_backup_whose_file_list_is_not_its_own_is_marked_and_exit_5(
        history: History, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(history.root, root, symlinks=True)
    project = Project(root)
    message = json.loads(project.git("cat-file", "-p", history.tags["pinned"])
                         .strip().splitlines()[-1])  # the manifest, after the human line
    message.update(timestamp="20200202_000000", files_md5="0" * 32)
    body = tmp_path / "message"
    body.write_text(json.dumps(message, sort_keys=True, separators=(",", ":")))
    project.git("tag", "-a", "--cleanup=verbatim", "-F", str(body), "backup/20200202_000000",
                f"{history.tags['pinned']}^{{commit}}")
    out = tmp_path / "r.html"
    result = api.report(out, render=render_report.page, offline=True, repo=root)
    failure = result.failure()
    assert failure is not None and failure.exit_code == ExitCode.VERIFICATION_FAILED
    assert "backup/20200202_000000" in failure.message
    rows = {b.tag: b for b in result.data.backups}
    assert rows["backup/20200202_000000"].invalid_files
    assert rows["backup/20200202_000000"].lacking == {"local": None}
    assert all(rows[t].lacking == {"local": 0} for t in history.tags.values())
    assert out.read_text().count(">file list invalid</td>") == 1


@pytest.mark.reliability  # three backends: the long tier
@pytest.mark.cloud
def test_what_a_cloud_remote_holds(history: History, cloud_backend: StorageServer,
                                   bucket: str, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(history.root, root, symlinks=True)
    project = Project(root)
    configure(project, cloud_backend, bucket)
    copied = history.tags["hostile"].removeprefix("backup/")
    assert api.copy(source="local", target=cloud_backend.name, refs=(copied,),
                    repo=root).failure() is None
    out = tmp_path / "r.html"
    result = api.report(out, render=render_report.page, remotes=(cloud_backend.name,), offline=True,
                        repo=root)
    assert result.failure() is None
    [remote] = result.data.remotes
    assert (remote.reachable, remote.complete, remote.incomplete) == (True, 1, 4)
    cells = {b.tag: b.lacking[cloud_backend.name] for b in result.data.backups}
    assert cells.pop(history.tags["hostile"]) == 0
    assert all(n for n in cells.values())
    cloud_backend.stop()
    try:
        down = api.report(out, render=render_report.page, remotes=(cloud_backend.name,),
                          offline=True, repo=root)
    finally:
        cloud_backend.start()
    assert down.failure() is not None and down.failure().exit_code == ExitCode.PARTIAL
    assert "could not be read" in out.read_text()


def test_no_secret_reaches_the_page(history: History, tmp_path: Path) -> None:
    secret = "Sup3rSecretKeyValue"
    register_secret(secret)
    out = tmp_path / "r.html"
    api.report(out, render=lambda data: f"<!DOCTYPE html><p>error: key {secret} refused</p>",
               offline=True, repo=history.root)
    assert secret not in out.read_text() and "key *** refused" in out.read_text()
