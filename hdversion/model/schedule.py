"""When unattended runs happen: crontab lines and systemd timers, made from a few options.
Plain text, no I/O: the ops layer reads and writes the crontab."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass

from hdversion.errors import UsageError
from hdversion.model.durations import AmbiguousDuration, Duration

CRON_LOG = "logs/backup_cron.log"  # where the original scheduled_backup.py logged
# stderr (warnings, a lock wait, a crash's traceback) apart: the log stays JSON Lines.
CRON_ERRORS = "logs/backup_cron.err"
MARK = "# hdversion-schedule "  # every line we write ends with this and the repository


@dataclass(frozen=True)
class Schedule:
    minute: str
    hour: str
    calendar: str  # systemd OnCalendar=
    describe: str

    @classmethod
    def parse(cls, at: str | None, every: str | None) -> Schedule:
        """None: not given. An empty value is given, and malformed (not the default)."""
        if at is not None and every is not None:
            raise UsageError("give --at or --every, not both")
        if every is not None:
            return cls._every(every.strip())
        text = "02:30" if at is None else at
        match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text.strip())
        if not match:
            raise UsageError(f"malformed --at {text!r}: write it like 02:30 (24-hour clock)")
        hour, minute = int(match.group(1)), int(match.group(2))
        return cls(str(minute), str(hour), f"*-*-* {hour:02d}:{minute:02d}:00",
                   f"daily at {hour:02d}:{minute:02d}")

    @classmethod
    def _every(cls, every: str) -> Schedule:
        """`--every` in the duration grammar, then as cron can repeat it: a whole number of
        minutes that divides the hour, or of hours that divides the day."""
        try:
            span = Duration.parse(every)
        except AmbiguousDuration:
            raise UsageError(f"ambiguous --every {every!r}: 'm' could be minutes or "
                             "months", hint=f"write {every[:-1]}min for minutes (a "
                             "schedule takes min or h)" if every.endswith("m") else
                             "a schedule takes min or h (30min, 6h)") from None
        except UsageError:
            raise UsageError(f"malformed --every {every!r}: write it like 6h or 30min"
                             ) from None
        seconds = span.fixed_seconds
        if seconds is None or seconds >= 86400:
            raise UsageError(f"--every {every}: a schedule repeats within a day: write "
                             "minutes or hours (e.g. 30min, 6h)",
                             hint="for a daily run, --at HH:MM (the default: 02:30)")
        if seconds % 60:
            raise UsageError(f"--every {every}: a schedule runs on whole minutes (cron's "
                             "smallest step): write it like 1min, 30min or 6h")
        hours = seconds > 0 and not seconds % 3600
        count, limit, unit = (seconds // 3600, 24, "h") if hours else (seconds // 60, 60, "min")
        if not 0 < count < limit or limit % count:
            examples = ("1h, 2h, 3h, 4h, 6h, 8h, 12h" if unit == "h" else
                        "5min, 10min, 30min")
            raise UsageError(f"--every {every}: the number must divide {limit} "
                             f"(e.g. {examples})")
        if unit == "h":
            return cls("0", f"*/{count}", f"*-*-* 00/{count}:00:00", f"every {count}h")
        return cls(f"*/{count}", "*", f"*-*-* *:00/{count}:00", f"every {count}min")


def commands(hdversion: str, remote_args: list[str], prune_weekly: bool,
             settings_args: list[str]) -> list[tuple[str, str]]:
    """(name, command line) of each scheduled run: `auto`, or `backup` plus a weekly `prune`.
    Neither backs up a state the newest backup holds (auto skips it by default): unchanged
    runs would otherwise push the one distinct backup out of --keep-last N. `settings_args`
    (`--config FILE`) go before the command, where the global option is read."""
    runs = [("backup", ["--skip-if-unchanged"]), ("prune", [])] if prune_weekly else [
        ("auto", [])]
    return [(verb, shlex.join([hdversion, *settings_args, verb, *remote_args, *flags,
                               "--json"]))
            for verb, flags in runs]


def logged(command: str) -> str:
    """`command` appending its JSON output to CRON_LOG and its stderr to CRON_ERRORS (a
    warning in the log would break every reader of its JSON lines). The folder is made
    first: git ignores logs/, so a fresh clone (or `git clean -X`) has none, and the
    shell's redirect would fail before hdversion starts, at every run."""
    return (f"mkdir -p {posixpath.dirname(CRON_LOG)} && {command} >> {CRON_LOG} "
            f"2>> {CRON_ERRORS}")


def cron_lines(root: str, hdversion: str, schedule: Schedule, remote_args: list[str],
               prune_weekly: bool, settings_args: list[str]) -> list[str]:
    lines = []
    for name, command in commands(hdversion, remote_args, prune_weekly, settings_args):
        when = f"{schedule.minute} {schedule.hour} * * *" if name != "prune" else "0 3 * * 0"
        lines.append(f"{when} cd {shlex.quote(root)} && {logged(command)} {MARK}{root}")
    return lines


def without_ours(crontab: str, root: str) -> list[str]:
    """The crontab's lines except the ones we wrote for this repository."""
    return [line for line in crontab.splitlines() if not line.endswith(f"{MARK}{root}")]


def systemd_units(root: str, hdversion: str, schedule: Schedule, remote_args: list[str],
                  prune_weekly: bool, settings_args: list[str], name: str
                  ) -> dict[str, str]:
    """File name -> content of a user service and timer per scheduled run."""
    units: dict[str, str] = {}
    for run, command in commands(hdversion, remote_args, prune_weekly, settings_args):
        unit = f"hdversion-{name}-{run}"
        calendar = schedule.calendar if run != "prune" else "Sun *-*-* 03:00:00"
        units[f"{unit}.service"] = (
            f"[Unit]\nDescription=hdversion {run} of {root}\n\n[Service]\nType=oneshot\n"
            f"WorkingDirectory={root}\n"
            f"ExecStart=/bin/sh -c {shlex.quote(logged(command))}\n")
        units[f"{unit}.timer"] = (
            f"[Unit]\nDescription=hdversion {run} of {root}, {schedule.describe}\n\n"
            f"[Timer]\nOnCalendar={calendar}\nPersistent=true\n\n"
            "[Install]\nWantedBy=timers.target\n")
    return units
