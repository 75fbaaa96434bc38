"""The API, the renderer and the progress display, loaded on first use: `--help` and
`--version` need none of them, and loading them costs more than the help itself.

For mypy they are the real modules; at run time each is a module whose code runs the first
time one of its names is read (importlib's LazyLoader)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING


def _lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from hdversion import api
    from hdversion.cli import (
        progress,
        render,
        render_archive,
        render_bucket,
        render_inspect,
        render_report,
    )
else:
    api = _lazy("hdversion.api")
    render = _lazy("hdversion.cli.render")
    progress = _lazy("hdversion.cli.progress")
    render_archive = _lazy("hdversion.cli.render_archive")
    render_bucket = _lazy("hdversion.cli.render_bucket")
    render_inspect = _lazy("hdversion.cli.render_inspect")
    render_report = _lazy("hdversion.cli.render_report")

__all__ = ["api", "progress", "render", "render_archive", "render_bucket", "render_inspect",
           "render_report"]
