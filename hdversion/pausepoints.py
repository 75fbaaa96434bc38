"""Named points where a test can freeze a run, to kill or interrupt it at a known step.

HDVERSION_TEST_PAUSE=<point>:<seconds> makes the run write .dvc/tmp/hdversion-paused and
wait there until the test deletes that file or the seconds pass. Points:
- before-tag: data committed and pushed to the local remote, no tag yet;
- before-cloud-push: tagged, the cloud remote not yet pushed;
- before-rename: restore has staged every file and renamed none.
Unset, a pause point costs one environment lookup.
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
    deadline = time.monotonic() + float(seconds or 30)
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
