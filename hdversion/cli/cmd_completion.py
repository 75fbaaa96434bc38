"""hdversion completion"""

from __future__ import annotations

from hdversion.cli.options import argument
from hdversion.errors import UsageError

SHELLS = ("bash", "zsh", "tcsh")


def completion(shell: str = argument("SHELL", f"One of {', '.join(SHELLS)}.")) -> None:
    """Print a completion script for SHELL (made by shtab from the same parsers that read
    the commands, as DVC's `dvc completion` is). Install it where your shell looks for one,
    e.g. for bash ~/.bash_completion (read by bash-completion) or a file that ~/.bashrc
    sources."""
    if shell not in SHELLS:
        raise UsageError(f"no completion for shell {shell!r}: choose one of "
                         f"{', '.join(SHELLS)}")
    import shtab

    from hdversion.cli.app import whole_parser

    print(shtab.complete(whole_parser(), shell=shell))
