"""Hooks: the user's commands, run after a backup, restore, prune or auto, and told the
outcome (HDVERSION_EVENT, HDVERSION_RESULT, HDVERSION_EXIT_CODE, HDVERSION_TAG,
HDVERSION_ERROR, HDVERSION_JSON: the journal line).

A hook runs once the repository lock is free (a hook may call hdversion), in the repository,
through the shell, with a time limit; its output goes to stderr, never into `--json`. A hook
that fails or times out is a warning and a journal line: it never changes the outcome, nor
the exit code, of the run it reports on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from hdversion.ops.project import Project
from hdversion.util.log import log

HOOKED = frozenset({"backup", "restore", "prune", "auto"})
# A journal result -> the exit code the run ends with (errors carry theirs).
_CODES = {"ok": 0, "partial": 3, "verification-failed": 5, "interrupted": 130}


@dataclass(frozen=True)
class HookRun:
    command: str
    exit_code: int | None  # None: killed at the time limit
    seconds: float


def exit_code_of(entry: dict[str, Any]) -> int | None:
    """The exit code of the run a journal entry records; None for a dry run."""
    if entry.get("result") == "dry-run":
        return None
    if isinstance(entry.get("exit_code"), int):
        return int(entry["exit_code"])
    return _CODES.get(str(entry.get("result")), 1)


def run_hooks(project: Project) -> list[HookRun]:
    """Run the hooks for the outcomes the operation journaled (and forget them). Nothing a
    hook does can fail the run: even an error here is only a warning."""
    try:
        return _run_all(project)
    except Exception as exc:  # a hook must never change the outcome it reports
        log.warning("hooks could not run: %s: %s", type(exc).__name__, exc)
        return []


def _run_all(project: Project) -> list[HookRun]:
    outcomes, project.outcomes = project.outcomes, []
    runs: list[HookRun] = []
    for entry in outcomes:
        code = exit_code_of(entry)
        if entry.get("operation") not in HOOKED or code is None:
            continue
        hooks = project.settings.hooks
        env = {
            **os.environ,
            "HDVERSION_EVENT": str(entry["operation"]),
            "HDVERSION_RESULT": "success" if code == 0 else "failure",
            "HDVERSION_EXIT_CODE": str(code),
            "HDVERSION_TAG": str(entry.get("tag") or ""),
            "HDVERSION_ERROR": str(entry.get("error") or ""),
            "HDVERSION_JSON": json.dumps(entry, sort_keys=True, default=str),
        }
        for command in hooks.on_success if code == 0 else hooks.on_failure:
            run = _run(project, command, env, hooks.timeout)
            runs.append(run)
            if run.exit_code != 0:
                why = (f"timed out after {hooks.timeout:.0f} s" if run.exit_code is None
                       else f"exit {run.exit_code}")
                log.warning("hook %r failed (%s); the %s itself is not affected", command,
                            why, entry["operation"])
                project.journal("hook", "error", command=command, event=entry["operation"],
                                exit_code=run.exit_code, error=why)
                project.outcomes.clear()  # a hook's own line hears of no hook
    return runs


def _run(project: Project, command: str, env: dict[str, str], timeout: float) -> HookRun:
    start = time.monotonic()
    try:
        # Its own session, so that a time-out kills the whole pipeline it started; its
        # output goes to stderr (fd 2), never into the command's --json line.
        proc = subprocess.Popen(command, shell=True, cwd=project.root, env=env,
                                stdin=subprocess.DEVNULL, stdout=2, stderr=2,
                                start_new_session=True)
    except OSError as exc:
        log.warning("hook %r could not start: %s", command, exc.strerror or exc)
        return HookRun(command, 127, 0.0)
    try:
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    return HookRun(command, code, round(time.monotonic() - start, 3))
