"""Named points where a test can freeze a run, to kill or interrupt it at a known step.

HDVERSION_TEST_PAUSE=<point>:<seconds> makes the run write .dvc/tmp/hdversion-paused and
sleep there. Points: before-tag (data pushed, no tag yet), before-rename (restore: all files
staged, none renamed). Unset, a pause point costs one environment lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

MARKER = ".dvc/tmp/hdversion-paused"


def pause_point(root: Path, name: str) -> None:
    spec = os.environ.get("HDVERSION_TEST_PAUSE", "")
    point, _, seconds = spec.partition(":")
    if point != name:
        return
    marker = root / MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    time.sleep(float(seconds or 30))
