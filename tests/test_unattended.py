"""Running without a person: one JSON line per run (so that `>> logs/cron.jsonl` is a JSON
Lines file), a journal line with its duration for every run, waiting for the lock."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import HDVERSION, Project

# A bare environment keeps the package the tests run (cron's and systemd's would not have it).
PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_json_output_is_one_line_per_run_and_appends_as_json_lines(project: Project,
                                                                  tmp_path: Path) -> None:
    runs = [
        ("backup", "--json", "-m", "nightly"),
        ("list", "--json"),
        ("restore", "--json", "--target", str(tmp_path / "out"), "--only", "models"),
        ("prune", "--json", "--keep", "1", "--dry-run"),
        ("restore", "--json", "-t", "19990101_000000"),  # an error is one line too
        ("remote", "list", "--json"),
    ]
    cron_log = tmp_path / "cron.jsonl"
    with cron_log.open("a") as log:
        for args in runs:
            result = project.cli(*args)
            assert result.stdout.count("\n") == 1, (args, result.stdout)
            log.write(result.stdout)
    records = [json.loads(line) for line in cron_log.read_text().splitlines()]
    assert len(records) == len(runs)
    assert records[0]["tag"].startswith("backup/")
    assert records[4]["exit_code"] == 4

    journal = [json.loads(line) for line in
               (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()]
    assert [j["operation"] for j in journal] == ["backup", "list", "restore", "prune",
                                                 "restore"]
    for entry in journal:
        assert isinstance(entry["duration_s"], float) and entry["duration_s"] >= 0, entry
    assert journal[0]["duration_s"] > 0.1  # a backup does real work
    restored = journal[2]
    assert restored["target"] == str(tmp_path / "out") and restored["only"] == ["models"]
    assert journal[4]["exit_code"] == 4 and journal[4]["only"] == []


def test_list_and_restore_fetch_the_catalog_first(project: Project, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    other = Project(tmp_path / "other")
    subprocess.run(["git", "clone", "-q", str(origin), str(other.root)], check=True)

    def listed(*args: str) -> list[str]:
        result = other.cli("list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return [b["tag"] for b in json.loads(result.stdout)]

    first = json.loads(project.cli("backup", "--json", check=True).stdout)
    assert listed("--offline") == []
    assert listed() == [first["tag"]]  # fetched from origin first
    project.retrain(2)
    second = json.loads(project.cli("backup", "--json", check=True).stdout)
    assert project.cli("pin", second["timestamp"], "-m", "prod").returncode == 0
    project.cli("prune", "--keep", "1", check=True)
    # The other clone learns of the pin and of the pruned backup (its tombstone).
    result = other.cli("list", "--json")
    assert [(b["tag"], (b["pinned"] or {}).get("reason")) for b in json.loads(result.stdout)] \
        == [(second["tag"], "prod")]

    # A git remote that does not answer is a warning: the clone lists what it knows.
    other.git("remote", "set-url", "origin", str(tmp_path / "gone.git"))
    result = other.cli("list", "--json")
    assert result.returncode == 0, result.stderr
    assert "warning: could not fetch backup tags" in result.stderr
    assert [b["tag"] for b in json.loads(result.stdout)] == [second["tag"]]
    restored = other.cli("restore", "--json", "--offline", "-t", "19990101_000000")
    assert restored.returncode == 4 and "warning" not in restored.stderr


def test_a_fetch_never_replaces_a_backup_tag_here(project: Project, tmp_path: Path) -> None:
    """Two machines that tagged the same second: each keeps its own backup."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    mine = json.loads(project.cli("backup", "--json", check=True).stdout)
    # Origin gets another backup under the same name.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    subprocess.run(["git", "-C", str(other), "tag", "-f", "-a", "-m", "other machine",
                    mine["tag"], "HEAD"], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(other), "push", "-q", "-f", "origin",
                    f"refs/tags/{mine['tag']}"], check=True)
    result = project.cli("list", "--json")
    assert result.returncode == 0, result.stderr
    assert "would clobber" in result.stderr or "rejected" in result.stderr, result.stderr
    assert project.git("rev-parse", f"{mine['tag']}^{{commit}}").strip() == mine["commit"]


def hooks_config(project: Project, body: str) -> None:
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        "hooks:\n" + textwrap.indent(textwrap.dedent(body), "  "))


RECORD = ('echo "$HDVERSION_EVENT $HDVERSION_RESULT $HDVERSION_EXIT_CODE $HDVERSION_TAG" '
          '>> hooks.log; printf "%s\\n" "$HDVERSION_JSON" >> hooks.jsonl; echo noise')


def test_hooks_hear_each_outcome_and_never_change_it(project: Project, tmp_path: Path) -> None:
    hdversion = Path(sys.executable).with_name("hdversion")
    hooks_config(project, f"""\
        on_success:
          - '{RECORD}'
          - '{hdversion} list --json --offline > listed.json'
        on_failure: ['{RECORD}']
        timeout: 20
        """)
    made = project.cli("backup", "--json")
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("\n") == 1  # the hook's "noise" went to stderr
    tag = json.loads(made.stdout)["tag"]
    failed = project.cli("restore", "--json", "-t", "19990101_000000")
    assert failed.returncode == 4
    assert project.cli("prune", "--keep", "1", "--dry-run").returncode == 0  # no hook
    lines = (project.root / "hooks.log").read_text().splitlines()
    assert lines == [f"backup success 0 {tag}", "restore failure 4 "]
    reported = [json.loads(line) for line in
                (project.root / "hooks.jsonl").read_text().splitlines()]
    assert reported[0]["operation"] == "backup" and reported[0]["tag"] == tag
    assert reported[1]["exit_code"] == 4 and "no backup" in reported[1]["error"]
    # A hook may run hdversion: the lock is free by then.
    assert [b["tag"] for b in json.loads((project.root / "listed.json").read_text())] == [tag]


def test_a_failing_or_hanging_hook_is_a_warning_not_a_failure(project: Project) -> None:
    hooks_config(project, """\
        on_success: ['exit 3', 'sleep 60']
        timeout: 1
        """)
    made = project.cli("backup", "--json")
    assert made.returncode == 0, made.stderr
    assert "hook 'exit 3' failed (exit 3)" in made.stderr
    assert "hook 'sleep 60' failed (timed out after 1 s)" in made.stderr
    tag = json.loads(made.stdout)["tag"]
    assert tag in project.git("tag")
    journal = [json.loads(line) for line in
               (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()]
    assert [(j["operation"], j["result"]) for j in journal] == [
        ("backup", "ok"), ("hook", "error"), ("hook", "error")]
    assert journal[2]["command"] == "sleep 60" and journal[2]["exit_code"] is None


def test_the_next_backup_pushes_the_tags_whose_push_failed(project: Project,
                                                          tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(tmp_path / "not-yet.git"))
    failed = project.cli("backup", "--json")
    assert failed.returncode == 3, failed.stderr  # made, but its tag is not on origin
    first = json.loads(failed.stdout)["tag"]
    project.git("remote", "set-url", "origin", str(origin))
    project.retrain(2)
    second = json.loads(project.cli("backup", "--json", check=True).stdout)["tag"]
    on_origin = subprocess.run(["git", "ls-remote", "--tags", str(origin)], check=True,
                               capture_output=True, text=True).stdout
    assert f"refs/tags/{first}" in on_origin and f"refs/tags/{second}" in on_origin


def test_auto_backs_up_then_prunes_in_one_line(project: Project) -> None:
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        f"retention:\n  keep_last: 2\n  keep_deleted_within: 0\n"
        f"hooks:\n  on_success: ['{RECORD}']\n"
        f"  on_failure: ['{RECORD}']\n")
    tags = []
    for seed in (2, 3, 4):
        project.retrain(seed)
        result = project.cli("auto", "--json")
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("\n") == 1
        data = json.loads(result.stdout)
        tags.append(data["tag"])
        assert data["exit_code"] == 0 and data["error"] is None
    assert data["removed"] == [tags[0]] and data["freed"]["local"] > 0
    assert set(project.git("tag").split()) == set(tags[1:])
    quiet = project.cli("auto", "--always")  # unchanged: auto would skip the backup
    assert quiet.returncode == 0 and quiet.stdout.count("\n") == 1, quiet.stdout
    assert quiet.stdout.startswith("backup backup/") and "pruned 1 backup(s)" in quiet.stdout

    # A backup that fails prunes nothing, and the exit code is the backup's.
    (project.root / "models" / "keras_mlp_model.h5").unlink()
    before = set(project.git("tag").split())
    failed = project.cli("auto", "--json")
    assert failed.returncode == 7, failed.stderr
    assert json.loads(failed.stdout)["backup_error"].startswith("missing critical artifact")
    assert set(project.git("tag").split()) == before
    journal = [json.loads(line) for line in
               (project.root / "logs" / "hdversion.jsonl").read_text().splitlines()]
    assert [(j["operation"], j["exit_code"]) for j in journal] == [("auto", 0)] * 4 + [
        ("auto", 7)]
    hooks = (project.root / "hooks.log").read_text().splitlines()
    assert hooks[-1] == "auto failure 7 " and hooks[0].startswith("auto success 0 backup/")



def test_auto_keeps_its_backup_when_the_settings_name_a_metric_no_backup_records(
        project: Project) -> None:
    made = [json.loads(project.cli("backup", "--json", check=True).stdout)["tag"]]
    project.retrain(2)
    made.append(json.loads(project.cli("backup", "--json", check=True).stdout)["tag"])
    (project.root / "config" / "config.yaml").write_text(
        "backup:\n  git_tracked_files: [config/config.yaml, params.yaml, dvc.yaml]\n"
        "retention:\n  keep_last: 1\n  keep_best: 2\n  metric: ensemble.roc_acu\n")
    project.retrain(3)
    result = project.cli("auto", "--json")
    assert result.returncode == 7, result.stderr
    data = json.loads(result.stdout)
    refusal = ("config/config.yaml: retention.metric: no backup records the metric "
               "'ensemble.roc_acu'; nothing was removed")
    assert data["tag"] and data["backup_error"] is None
    assert data["prune_error"] == refusal and data["error"] == refusal
    assert data["exit_code"] == 7 and data["removed"] == []
    assert set(project.git("tag").split()) == {*made, data["tag"]}
    journal = json.loads((project.root / "logs" / "hdversion.jsonl").read_text()
                         .splitlines()[-1])
    assert (journal["operation"], journal["exit_code"], journal["tag"]) == (
        "auto", 7, data["tag"])
    assert journal["error"] == refusal
    # The text line (cron's log) says the same: the backup, then the refused prune.
    project.retrain(4)
    line = project.cli("auto")
    assert line.returncode == 7
    assert line.stdout.startswith("backup backup/")
    # The reason too: a human reading stdout, and a log of both streams, see why.
    assert line.stdout.rstrip().endswith(f"; exit 7: {refusal}"), line.stdout
    assert refusal in line.stderr



TYPOS = "hooks:\n  on_succes: [true]\nretention:\n  keep_dialy: 7\n"
WARNED = ("hooks has unknown key(s): on_succes", "retention has unknown key(s): keep_dialy")


def test_a_mistake_in_hooks_or_retention_stops_the_writers_not_reads_or_restores(
        project: Project, tmp_path: Path) -> None:
    made = json.loads(project.cli("backup", "--json", check=True).stdout)
    stamp = made["timestamp"]
    config = project.root / "config" / "config.yaml"
    with_typos = ("backup:\n  git_tracked_files: [config/config.yaml, params.yaml, "
                  "dvc.yaml]\n" + TYPOS)
    config.write_text(with_typos)
    archive = tmp_path / "b.tar.gz"
    # What changes no store, or only recovers, warns and goes on.
    for args in (("list",), ("list", "--json"), ("show", stamp), ("diff", stamp),
                 ("status",), ("verify", stamp), ("export", stamp, "-o", str(archive)),
                 ("import", str(archive), "--target", str(tmp_path / "imported")),
                 ("report", "-o", str(tmp_path / "r.html")), ("pin", stamp),
                 ("unpin", stamp), ("remote", "add", "spare", str(tmp_path / "spare")),
                 ("remote", "list"), ("restore", "--force", "-t", stamp)):
        result = project.cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert all(f"warning: config/config.yaml: {w}" in result.stderr for w in WARNED), \
            (args, result.stderr)
        assert "that section is not used by this command" in result.stderr
        config.write_text(with_typos)  # restore put the backup's settings back
    assert (tmp_path / "imported" / "models" / "keras_mlp_model.h5").is_file()
    # What writes to the stores refuses, naming the mistake.
    tags = set(project.git("tag").split())
    for args in (("backup",), ("auto",), ("prune",), ("sync", "--remote", "spare"),
                 ("copy", "--from", "local", "--to", "spare"),
                 ("verify", stamp, "--repair"), ("schedule",)):
        result = project.cli(*args)
        assert result.returncode == 7, (args, result.stderr)
        assert result.stderr.startswith("error: config/config.yaml: ") and any(
            w in result.stderr for w in WARNED), (args, result.stderr)
    assert set(project.git("tag").split()) == tags
    assert not (tmp_path / "spare").exists()


FAKE_CRONTAB = """#!/bin/sh
# Debian's crontab, as far as hdversion uses it (-l, -), kept in $HOME.
f="$HOME/crontab.txt"
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for $(id -un)" >&2; exit 1; fi ;;
  -) cat > "$f" ;;
  *) exit 2 ;;
esac
"""


def crontab_env(tmp_path: Path) -> dict[str, str]:
    """A fake of Debian's crontab (-l, -) keeping its table in a temporary HOME. The real
    program writes the user's table under /var/spool/cron whatever HOME is, so it is used
    only where asked (HDVERSION_TEST_REAL_CRONTAB=1, on a throwaway machine)."""
    home = tmp_path / "home"
    home.mkdir()
    real = shutil.which("crontab")
    if real and os.environ.get("HDVERSION_TEST_REAL_CRONTAB") == "1":
        return {"HOME": str(home), "HDVERSION_CRONTAB": real}
    fake = tmp_path / "crontab"
    fake.write_text(FAKE_CRONTAB)
    fake.chmod(0o755)
    return {"HOME": str(home), "HDVERSION_CRONTAB": str(fake)}


def test_schedule_installs_its_lines_once_and_removes_only_them(project: Project,
                                                                tmp_path: Path) -> None:
    env = crontab_env(tmp_path)
    crontab = Path(env["HDVERSION_CRONTAB"])
    subprocess.run([str(crontab), "-"], input="0 1 * * * /usr/bin/true  # the user's own\n",
                   text=True, env={**os.environ, **env}, check=True)

    def installed() -> list[str]:
        return subprocess.run([str(crontab), "-l"], capture_output=True, text=True,
                              env={**os.environ, **env}, check=True).stdout.splitlines()

    printed = project.cli("schedule", "--every", "6h", "--json", env=env)
    assert printed.returncode == 0, printed.stderr
    lines = json.loads(printed.stdout)["lines"]
    assert installed() == ["0 1 * * * /usr/bin/true  # the user's own"]  # printing changes nothing
    for _ in range(2):  # a second install changes nothing
        assert project.cli("schedule", "--every", "6h", "--install", env=env).returncode == 0
        assert installed() == ["0 1 * * * /usr/bin/true  # the user's own", *lines]
    assert lines[0].startswith("0 */6 * * * cd ") and " auto --json >> logs/backup_cron.log" \
        in lines[0]
    # What cron would run, with cron's bare environment: a backup, logged as a JSON line.
    # git ignores logs/: a fresh clone, `git clean -X` or a journal kept elsewhere has none.
    shutil.rmtree(project.root / "logs")
    command = lines[0].split(" ", 5)[5]
    # What hdversion says on stderr (a warning, a lock wait) goes to its own file: the log
    # stays JSON Lines. A wrapper that warns first stands in for hdversion to show it.
    wrapper = tmp_path / "hdversion-that-warns"
    wrapper.write_text(f"#!/bin/sh\necho 'warning: a lock wait' >&2\nexec {HDVERSION} \"$@\"\n")
    wrapper.chmod(0o755)
    assert HDVERSION in command
    ran = subprocess.run(["/bin/sh", "-c", command.replace(HDVERSION, str(wrapper))],
                         env={"PATH": "/usr/bin:/bin", "HOME": env["HOME"], **PYTHONPATH},
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    logged = (project.root / "logs" / "backup_cron.log").read_text().splitlines()
    assert [json.loads(line) for line in logged][-1]["tag"] in project.git("tag")
    errors = (project.root / "logs" / "backup_cron.err").read_text()
    assert "warning: a lock wait" in errors

    assert project.cli("schedule", "--uninstall", env=env).returncode == 0
    assert installed() == ["0 1 * * * /usr/bin/true  # the user's own"]



def test_schedule_every_takes_minutes_or_hours_and_no_bare_m(project: Project,
                                                             tmp_path: Path) -> None:
    env = crontab_env(tmp_path)
    printed = project.cli("schedule", "--every", "30min", "--json", env=env)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["lines"][0].startswith("*/30 * * * * cd ")
    refused = project.cli("schedule", "--every", "30m", env=env)
    assert refused.returncode == 2 and "ambiguous --every '30m'" in refused.stderr
    assert "write 30min for minutes" in refused.stderr
    for empty in ("--at", "--every"):  # given empty: malformed, not the default
        result = project.cli("schedule", empty, "", env=env)
        assert result.returncode == 2 and f"malformed {empty} ''" in result.stderr


def test_schedule_writes_systemd_user_units(project: Project, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = project.cli("schedule", "--systemd", "--at", "04:15", "--prune-weekly",
                         "--install", "--json", env=env)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "config" / "systemd" / "user"
    units = sorted(p.name for p in folder.iterdir())
    assert units == ["hdversion-project-backup.service", "hdversion-project-backup.timer",
                     "hdversion-project-prune.service", "hdversion-project-prune.timer"]
    assert "OnCalendar=*-*-* 04:15:00" in (folder / units[1]).read_text()
    service = (folder / units[0]).read_text()
    assert f"WorkingDirectory={project.root}" in service
    # What systemd would run, in a repository without logs/ (git ignores it).
    shutil.rmtree(project.root / "logs")
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    ran = subprocess.run(shlex.split(exec_start.removeprefix("ExecStart=")), cwd=project.root,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **PYTHONPATH},
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    logged = (project.root / "logs" / "backup_cron.log").read_text().splitlines()
    assert json.loads(logged[-1])["tag"] in project.git("tag")
    assert project.cli("schedule", "--systemd", "--at", "04:15", "--prune-weekly",
                       "--uninstall", env=env).returncode == 0
    assert not list(folder.iterdir())
    for bad, phrase in ((("--at", "7pm"), "malformed --at"), (("--every", "7h"), "divide 24"),
                        (("--at", "01:00", "--every", "6h"), "not both")):
        refused = project.cli("schedule", *bad)
        assert refused.returncode == 2 and phrase in refused.stderr, refused.stderr


def test_a_tag_name_taken_on_origin_moves_to_the_next_free_second(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from datetime import timedelta

    from hdversion import api
    from hdversion.model.timestamps import format_timestamp
    from hdversion.ops import backup
    from hdversion.util.clock import now_utc

    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    # Another machine took every name of the next half minute on origin.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    start = now_utc()
    taken = [f"backup/{format_timestamp(start + timedelta(seconds=s))}" for s in range(-2, 30)]
    for tag in taken:
        subprocess.run(["git", "-C", str(other), "tag", "-a", "-m", "other machine", tag],
                       check=True, capture_output=True)
    subprocess.run(["git", "-C", str(other), "push", "-q", "origin", "--tags"], check=True)

    def origin_tags() -> dict[str, str]:
        out = subprocess.run(["git", "ls-remote", "--tags", "--refs", str(origin)],
                             check=True, capture_output=True, text=True).stdout
        return {ref.removeprefix("refs/tags/"): sha for sha, ref in
                (line.split("\t") for line in out.splitlines())}

    before = origin_tags()
    # The backup's clock stands at `start`, however long the tags above took to make.
    monkeypatch.setattr(backup, "now_utc", lambda: start)
    made = api.backup(repo=project.root).backup
    assert made.tag == f"backup/{format_timestamp(start + timedelta(seconds=30))}"
    assert "was taken on the git remote" in caplog.text
    after = origin_tags()
    assert {t: after[t] for t in taken} == before  # nobody's tag overwritten
    assert made.tag in after
    assert project.git("rev-parse", f"{made.tag}^{{commit}}").strip() == made.commit
    assert project.git("tag", "-l", "backup/*").split() == [made.tag]  # no stale name
    listed = json.loads(project.cli("list", "--json", "--offline").stdout)
    assert [b["tag"] for b in listed] == [made.tag]


def test_a_forged_tombstone_on_origin_buries_nothing(project: Project, tmp_path: Path) -> None:
    """Tombstones come from origin: one that does not name the very tag object (or does not
    parse) neither deletes the tag in another clone nor makes its prune delete it there."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    made = json.loads(project.cli("backup", "--json", check=True).stdout)
    other = Project(tmp_path / "other")
    subprocess.run(["git", "clone", "-q", str(origin), str(other.root)], check=True)
    assert [b["tag"] for b in json.loads(other.cli("list", "--json").stdout)] == [made["tag"]]
    # Someone pushes tombstones for it: one naming another object, one that is not JSON.
    forged = json.dumps({"schema": "hdversion/pruned", "tag_object": "0" * 40})
    for body, name in ((forged, made["timestamp"]), ("rm -rf", "20000101_000000")):
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=project.root, input=body, text=True,
            capture_output=True, check=True).stdout.strip()
        project.git("push", "-q", "origin", f"{blob}:refs/hdversion/pruned/{name}")
    listed = other.cli("list", "--json")
    assert [b["tag"] for b in json.loads(listed.stdout)] == [made["tag"]], listed.stderr
    assert made["tag"] in other.git("tag")
    other.cli("prune", "--keep", "1", "--allow-incomplete", check=True)
    on_origin = subprocess.run(["git", "ls-remote", "--tags", str(origin)], check=True,
                               capture_output=True, text=True).stdout
    assert f"refs/tags/{made['tag']}" in on_origin


def test_a_backup_never_pushes_back_a_backup_pruned_in_another_clone(
        project: Project, tmp_path: Path) -> None:
    """Clone A backs up X and Y, clone B prunes X (its tombstone goes to origin): A's next
    backup, which also pushes A's tags that origin lacks, must not bring X back there."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    shared = tmp_path / "shared-remote"  # one directory remote for both clones
    assert project.dvc("remote", "add", "local", str(shared)).returncode == 0
    project.git("add", ".dvc/config")
    project.git("commit", "-q", "-m", "a shared local remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    x = json.loads(project.cli("backup", "--json", check=True).stdout)
    project.retrain(2)
    y = json.loads(project.cli("backup", "--json", check=True).stdout)
    other = Project(tmp_path / "other")
    shutil.copytree(project.root, other.root, symlinks=True)  # the same data, another clone
    pruned = json.loads(other.cli("prune", "--json", "--keep", "1", "--grace", "0",
                                  check=True).stdout)
    assert pruned["removed"] == [x["tag"]]

    project.retrain(3)
    z = project.cli("backup", "--json")
    assert z.returncode == 0, z.stderr
    made = json.loads(z.stdout)

    def origin_tags() -> set[str]:
        out = subprocess.run(["git", "ls-remote", "--refs", str(origin)], check=True,
                             capture_output=True, text=True).stdout
        return {line.split("\t")[1].removeprefix("refs/tags/") for line in out.splitlines()
                if "\trefs/tags/" in line}

    assert origin_tags() == {y["tag"], made["tag"]}
    # A's own tag of X goes too: its data is gone, and it was named as such.
    assert project.git("tag", "-l", "backup/*").split() == [y["tag"], made["tag"]]
    assert f"{x['tag']} was pruned in another clone" in z.stderr
    fresh = Project(tmp_path / "fresh")
    subprocess.run(["git", "clone", "-q", str(origin), str(fresh.root)], check=True)
    assert x["tag"] not in fresh.git("tag")
    listed = json.loads(fresh.cli("list", "--json", "--offline", check=True).stdout)
    assert [b["tag"] for b in listed] == [made["tag"], y["tag"]]
    # The same holds for `sync`, the other command that pushes tags.
    assert project.cli("sync", "--remote", "local", check=True).returncode == 0
    assert origin_tags() == {y["tag"], made["tag"]}


def test_restore_offline_keeps_its_safety_backup_here_until_a_backup_pushes_it(
        project: Project, tmp_path: Path) -> None:
    """--offline asks no git remote: the safety backup's tag is not pushed then (a push
    that has not read the remote's tombstones could bring back a pruned backup)."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "origin", "main")
    made = json.loads(project.cli("backup", "--json", check=True).stdout)
    project.damage("models/keras_mlp_model.h5")
    restored = project.cli("restore", "--json", "--offline", "-t", made["timestamp"])
    assert restored.returncode == 0, restored.stderr
    safety = json.loads(restored.stdout)["safety_backup"]

    def origin_tags() -> set[str]:
        out = subprocess.run(["git", "ls-remote", "--tags", "--refs", str(origin)],
                             check=True, capture_output=True, text=True).stdout
        return {line.split("\t")[1].removeprefix("refs/tags/") for line in out.splitlines()}

    assert safety in project.git("tag", "-l", "backup/*").split()
    assert origin_tags() == {made["tag"]}
    project.retrain(2)
    later = json.loads(project.cli("backup", "--json", check=True).stdout)
    assert origin_tags() == {made["tag"], safety, later["tag"]}


@pytest.mark.parametrize("named_by", ["--config", "HDVERSION_CONFIG"])
def test_schedule_keeps_the_settings_file_it_was_given(project: Project, tmp_path: Path,
                                                       named_by: str) -> None:
    """cron's bare environment has no HDVERSION_CONFIG and no --config: the scheduled line
    must name the file, or the runs use the repository's default settings (other hooks,
    other retention)."""
    settings = tmp_path / "elsewhere" / "hdversion.yaml"
    settings.parent.mkdir()
    settings.write_text("hooks:\n  on_success:\n    - 'touch scheduled-hook-ran'\n")
    env = crontab_env(tmp_path)
    if named_by == "--config":
        printed = project.cli("--config", str(settings), "schedule", "--json", env=env)
    else:
        printed = project.cli("schedule", "--json", env={**env, "HDVERSION_CONFIG":
                                                          str(settings)})
    assert printed.returncode == 0, printed.stderr
    line = json.loads(printed.stdout)["lines"][0]
    assert f" --config {settings} auto " in line
    ran = subprocess.run(["/bin/sh", "-c", line.split(" ", 5)[5]],
                         env={"PATH": "/usr/bin:/bin", "HOME": env["HOME"], **PYTHONPATH},
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert (project.root / "scheduled-hook-ran").exists()
    # Without a named file the line names none: the repository's own file is found by cron.
    plain = json.loads(project.cli("schedule", "--json", env=env).stdout)["lines"][0]
    assert "--config" not in plain
