"""Running git: one subprocess per command, nothing else imported (GitPython alone costs more
than a `list` of a thousand backups).

Output is in English (messages are matched, e.g. "already exists"), nobody is asked for a
password (cron has no terminal), and a timeout kills git with everything it started (ssh, a
remote helper): a dead server must not hang a run.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hdversion.errors import GitError


def run_git(root: Path, args: Sequence[str], env: Mapping[str, str] | None = None,
            stdin: bytes | None = None, timeout: float | None = None) -> bytes:
    """git's stdout, run in `root`; GitError (with what git said) when it fails or outlives
    `timeout` seconds."""
    full_env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    if "GIT_SSH_COMMAND" not in os.environ:
        full_env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    full_env.update(env or {})
    # With a timeout, git gets a process group of its own, so that the group can be killed.
    own_group = timeout is not None
    proc = subprocess.Popen(["git", *args], cwd=root, env=full_env,
                            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=own_group)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, own_group)
        raise GitError(args[0], f"no answer within {timeout:.0f} s") from None
    except BaseException:  # Ctrl-C, SIGTERM: git must not outlive us
        _kill(proc, own_group)
        raise
    if proc.returncode != 0:
        raise GitError(args[0], os.fsdecode(err).strip())
    return out


def as_text(out: bytes) -> str:
    """git's output as text, without its final newline."""
    text = os.fsdecode(out)
    return text[:-1] if text.endswith("\n") else text


def _kill(proc: subprocess.Popen[bytes], own_group: bool) -> None:
    try:
        if own_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.communicate()
