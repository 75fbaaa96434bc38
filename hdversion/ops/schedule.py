"""Scheduling unattended runs: the crontab lines (or systemd user units) that run
`hdversion auto` from this repository, printed, installed or removed. Installing is
idempotent: our lines carry a mark naming the repository, and only those are replaced."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hdversion.config.settings_file import ENV as SETTINGS_ENV
from hdversion.config.settings_file import locate
from hdversion.errors import ConfigurationError, WriteError
from hdversion.model.schedule import Schedule, cron_lines, systemd_units, without_ours
from hdversion.ops.project import Project


@dataclass
class ScheduleResult:
    schedule: Schedule
    lines: list[str]  # crontab lines
    units: dict[str, str] = field(default_factory=dict)  # systemd: file name -> content
    action: str = "printed"  # printed, installed, uninstalled, written
    where: str = ""


def schedule(*, repo: Path | None = None, at: str | None = None, every: str | None = None,
             prune_weekly: bool = False, remote: str | None = None, install: bool = False,
             uninstall: bool = False, systemd: bool = False, config: Path | None = None
             ) -> ScheduleResult:
    when = Schedule.parse(at, every)
    project = Project.open(repo, config=config)
    if remote:
        project.store.ensure_remote(remote)
    root = str(project.root)
    args = ["--remote", remote] if remote else []
    # The settings this command read, when named (--config, $HDVERSION_CONFIG): cron's bare
    # environment would otherwise run with the repository's default file, other retention
    # rules and hooks than the ones the user scheduled with.
    named = locate(project.root, config) if config or os.environ.get(SETTINGS_ENV) else None
    settings_args = ["--config", str(named.path)] if named and named.path else []
    lines = cron_lines(root, _hdversion(), when, args, prune_weekly, settings_args)
    result = ScheduleResult(when, lines)
    if systemd:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", project.root.name) or "project"
        result.units = systemd_units(root, _hdversion(), when, args, prune_weekly,
                                      settings_args, name)
        if install or uninstall:
            folder = _systemd_folder()
            result.where = str(folder)
            for file_name, content in result.units.items():
                target = folder / file_name
                if uninstall:
                    target.unlink(missing_ok=True)
                else:
                    folder.mkdir(parents=True, exist_ok=True)
                    target.write_text(content)
            result.action = "uninstalled" if uninstall else "written"
    elif install or uninstall:
        current = _read_crontab()
        kept = without_ours(current, root)
        new = kept + ([] if uninstall else lines)
        _write_crontab("\n".join(new) + "\n" if new else "")
        result.action, result.where = ("uninstalled" if uninstall else "installed"), "crontab"
    project.journal("schedule", result.action, lines=lines if not systemd else
                    sorted(result.units))
    return result


def _hdversion() -> str:
    """This hdversion, by absolute path: cron's PATH has no virtual environment."""
    beside = Path(sys.executable).with_name("hdversion")
    return str(beside) if beside.exists() else (shutil.which("hdversion") or "hdversion")


def _crontab() -> str:
    program = os.environ.get("HDVERSION_CRONTAB") or shutil.which("crontab")
    if not program:
        raise ConfigurationError("no crontab program here",
                                 hint="install cron (apt install cron), or use --systemd")
    return program


def _read_crontab() -> str:
    done = subprocess.run([_crontab(), "-l"], capture_output=True, text=True)
    if done.returncode == 0:
        return done.stdout
    # Only "no crontab for <user>" means empty: any other failure must not make us write a
    # crontab that lacks the user's own lines.
    if "no crontab" in done.stderr.lower():
        return ""
    raise ConfigurationError(f"cannot read the crontab: {done.stderr.strip()}")


def _write_crontab(text: str) -> None:
    done = subprocess.run([_crontab(), "-"], input=text, capture_output=True, text=True)
    if done.returncode != 0:
        raise WriteError(f"cannot install the crontab: {done.stderr.strip()}")


def _systemd_folder() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"
