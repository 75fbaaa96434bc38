"""hdversion.api called in-process, as a program or a notebook calls it: `best`, the silence
of the surface (nothing printed: results are returned, progress goes to a reporter), and
the pipeline's train stage as the API's first user (`backup_after_train`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from hdversion import api
from hdversion.errors import ExitCode
from hdversion.pipeline.backup_hook import backup_after_train
from hdversion.pipeline.config import Params
from hdversion.util.clock import now_utc
from tests.conftest import Project
from tests.heart_project import TrainedHeart, pipeline_env


def backups_by_seed(project: Project, *seeds: int) -> dict[int, str]:
    """One backup per seed (metrics.json's ensemble.roc_auc is 0.8 + seed / 1000)."""
    made = {}
    for seed in seeds:
        project.retrain(seed)
        made[seed] = api.backup(repo=project.root, message=f"seed {seed}").backup.tag
    return made


def test_best_picks_the_backup_with_the_best_recorded_metric(project: Project) -> None:
    made = backups_by_seed(project, 3, 9, 5)
    best = api.best(metric="ensemble.roc_auc", repo=project.root, offline=True)
    assert isinstance(best, api.BestResult)
    assert best.backup.tag == made[9] and best.value == pytest.approx(0.809)
    assert best.ref == best.backup.timestamp and best.compared == 3 and best.lacking == ()
    lowest = api.best(metric="ensemble.roc_auc", higher_is_better=False, repo=project.root,
                      offline=True)
    assert lowest.backup.tag == made[3] and not lowest.higher_is_better
    # `-name` says lower is better, as `prune --metric -loss` reads it.
    assert api.best(metric="-ensemble.roc_auc", repo=project.root,
                    offline=True).backup.tag == made[3]
    # The default metric is the settings' `list.metric` (ensemble.roc_auc here).
    assert api.best(repo=project.root, offline=True).backup.tag == made[9]
    # What it names, restore takes: the best model back into a folder of its own.
    restored = api.restore(ref=best.ref, target=project.root / "best", repo=project.root,
                           offline=True)
    assert restored.backup.tag == made[9] and restored.all_verified


def test_best_ties_go_to_the_newer_backup_and_unrecorded_ones_are_listed(
        project: Project) -> None:
    first = backups_by_seed(project, 4)[4]
    (project.root / "metrics.json").write_text('{"other": 1}')
    project.git("add", "-A")  # the metric is gone in the next backup, not the file
    lacking = api.backup(repo=project.root, message="no roc", allow_missing=True).backup.tag
    again = backups_by_seed(project, 4)[4]  # the same value as `first`, newer
    best = api.best(metric="ensemble.roc_auc", repo=project.root, offline=True)
    assert best.backup.tag == again != first
    assert best.compared == 2 and best.lacking == (lacking,)


def test_best_refuses_a_metric_no_backup_records_naming_those_recorded(
        project: Project) -> None:
    backups_by_seed(project, 2)
    with pytest.raises(api.UsageError) as refused:
        api.best(metric="ensemble.roc_uac", repo=project.root, offline=True)
    assert refused.value.exit_code == ExitCode.USAGE
    assert "no backup records the metric 'ensemble.roc_uac'" in refused.value.message
    assert "ensemble.roc_auc" in (refused.value.hint or "")
    with pytest.raises(api.UsageError, match="say lower is better once"):
        api.best(metric="-loss", higher_is_better=False, repo=project.root, offline=True)


def test_best_without_a_backup_is_exit_4_and_ignores_the_future(project: Project) -> None:
    with pytest.raises(api.BackupNotFoundError) as none:
        api.best(repo=project.root, offline=True)
    assert none.value.exit_code == ExitCode.NO_SUCH_BACKUP
    assert none.value.message == "there are no backups yet"
    backups_by_seed(project, 1)
    # Seen from a day ago, the one backup is dated in the future: never "the best".
    with pytest.raises(api.BackupNotFoundError, match="dated in the future"):
        api.best(repo=project.root, offline=True, now=now_utc() - timedelta(days=1))


def test_nothing_in_the_api_prints(project: Project, tmp_path: Path,
                                   capfd: pytest.CaptureFixture[str],
                                   caplog: pytest.LogCaptureFixture) -> None:
    """Every function returns its result and prints nothing, on stdout or stderr (git's and
    DVC's output included: capfd reads the file descriptors). Warnings would go to the
    `hdversion` logger, the documented channel: here there are none."""
    capfd.readouterr()
    root = project.root
    with caplog.at_level(logging.WARNING):
        first = api.backup(repo=root, message="first")
        project.retrain(7)
        second = api.backup(repo=root, message="second")
        capfd.readouterr()  # retrain's `dvc repro` ran in between: not the API's output
        listed = api.list_backups(repo=root, offline=True)
        shown = api.show(first.backup.timestamp, repo=root, offline=True)
        status = api.status(repo=root, offline=True)
        verified = api.verify(repo=root, every=True, offline=True)
        restored = api.restore(ref=first.backup.timestamp, target=tmp_path / "restored",
                               repo=root, offline=True)
        planned = api.prune(repo=root, policy=api.Policy(last=1), dry_run=True,
                            fetch_tags=False)
        best = api.best(repo=root, offline=True)
        changed = api.diff(first.backup.timestamp, new=second.backup.timestamp, repo=root,
                           offline=True)
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == "", printed
    assert [r.getMessage() for r in caplog.records if r.name.startswith("hdversion")] == []
    assert [b.tag for b in listed.catalog.backups] == [second.backup.tag, first.backup.tag]
    assert shown.backup.tag == first.backup.tag and status.latest is not None
    assert verified.failure() is None and restored.all_verified
    assert [b.tag for b in planned.plan.removed] == [first.backup.tag]
    assert best.backup.tag == second.backup.tag and changed.comparison is not None


def test_the_api_raises_typed_errors_with_exit_codes(project: Project) -> None:
    with pytest.raises(api.BackupNotFoundError) as missing:
        api.show("20200101_000000", repo=project.root, offline=True)
    assert isinstance(missing.value, api.HdversionError)
    assert missing.value.exit_code == ExitCode.NO_SUCH_BACKUP == 4
    with pytest.raises(api.UsageError) as malformed:
        api.restore(ref="not a name!", repo=project.root, offline=True)
    assert malformed.value.exit_code == 2


def test_backup_after_train_backs_up_through_the_api(project: Project) -> None:
    """The pipeline's train stage, the API's first user: off by default; on, one backup
    whose message names the seed; unchanged since, the same backup is named."""
    assert backup_after_train(Params(), repo=project.root, environ={}) is None
    assert project.git("tag", "-l", "backup/*") == ""
    on = Params().with_overrides({"backup_after_train": True, "seed": 5})
    tag = backup_after_train(on, repo=project.root, environ={})
    assert tag is not None and project.git("tag", "-l", "backup/*").split() == [tag]
    shown = api.show(tag, repo=project.root, offline=True)
    assert shown.backup.manifest.message == "after train (seed 5)"
    assert backup_after_train(on, repo=project.root, environ={}) == tag  # nothing changed


def test_backup_after_train_under_dvc_repro_warns_and_makes_none(
        project: Project, caplog: pytest.LogCaptureFixture) -> None:
    on = Params().with_overrides({"backup_after_train": True})
    with caplog.at_level(logging.WARNING, logger="hdversion.pipeline"):
        made = backup_after_train(on, repo=project.root, environ={"DVC_STAGE": "train"})
    assert made is None and project.git("tag", "-l", "backup/*") == ""
    assert "backup_after_train skipped under `dvc repro`" in caplog.text


def test_backup_after_train_failing_fails_the_stage_naming_hdversion_s_reason(
        project: Project) -> None:
    from hdversion.pipeline.errors import PipelineError

    (project.root / ".hdversion.yaml").write_text("backup: [not, a, mapping]\n")
    on = Params().with_overrides({"backup_after_train": True})
    with pytest.raises(PipelineError, match=r"^backup_after_train: .*\(exit 7 from hdversion"):
        backup_after_train(on, repo=project.root, environ={})


@pytest.mark.pipeline
def test_the_train_stage_backs_up_outside_dvc_repro_and_warns_under_it(
        trained_heart: TrainedHeart, tmp_path: Path) -> None:
    """The real stage on a tiny budget: under `dvc repro` (the session's, made with
    `backup_after_train: true`: tests/heart_project.py) the hook warns and makes nothing (DVC
    holds its lock); run as `python -m hdversion.pipeline.train` it backs up."""
    import subprocess
    import sys

    import yaml

    root = trained_heart.copy_to(tmp_path / "heart")
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["backup_after_train"] is True

    def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(cmd, cwd=root, env=pipeline_env(), check=False, capture_output=True,
                           text=True)
        assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
        return r

    assert "backup_after_train skipped under `dvc repro`" in trained_heart.repro_output
    assert sh("git", "tag", "-l", "backup/*").stdout == ""
    trained = sh(sys.executable, "-m", "hdversion.pipeline.train")
    tags = sh("git", "tag", "-l", "backup/*").stdout.split()
    assert len(tags) == 1 and f"backed up as {tags[0]}" in trained.stderr
    shown = api.show(tags[0], repo=root, offline=True)
    assert shown.backup.manifest.message == f"after train (seed {params['seed']})"
    assert {"models/keras_mlp_model.h5", "models/sklearn_mlp_model.joblib"} <= {
        f.path for f in shown.files}
