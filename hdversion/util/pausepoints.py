"""Named points where a test can freeze a run, to kill or interrupt it at a known step.

HDVERSION_TEST_PAUSE=<point>:<seconds> makes the run write the marker file (paths.PAUSE_MARKER)
and wait there until the test deletes it or the seconds pass. Unset, a pause point costs one
environment lookup.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum
from pathlib import Path

from hdversion.paths import PAUSE_MARKER


class PausePoint(StrEnum):
    AFTER_DVC_SAVE = "after-dvc-save"
    """Backup: DVC has hashed every stage's outputs (stage.save) and put none of them in the
    cache yet (stage.commit)."""
    AFTER_DVC_COMMIT = "after-dvc-commit"
    """Backup: DVC has hashed the outputs into the cache; the pointer files' new bytes exist
    only in memory."""
    BEFORE_TAG = "before-tag"
    """Data committed and pushed to the local remote, no tag yet."""
    BEFORE_CLOUD_PUSH = "before-cloud-push"
    """Tagged, the cloud remote not yet pushed."""
    BEFORE_TAG_PUSH = "before-tag-push"
    """Backup: tagged and pushed to every remote, the tag not yet on the git remote."""
    BETWEEN_UPLOADS = "between-uploads"
    """A verified upload (objects a remote lacks or holds damaged) has sent one object and
    not yet the next."""
    BETWEEN_PARTS = "between-parts"
    """A resumable upload of a large file (S3's parts and Azure's blocks: the loop of
    `datastore/resumable.py`; GCS's chunks: `datastore/gcs_resume.py`) has sent
    a part and not yet every part. Its marker is under the working directory (the uploader
    knows no project): run the command from the project's root."""
    BETWEEN_OBJECT_RENAMES = "between-object-renames"
    """A push into a directory remote has staged every object, made them all durable and
    renamed the first into place, not yet the others. Its marker is under the working
    directory (a store knows no project): run the command from the project's root."""
    BETWEEN_SYNC_PUSHES = "between-sync-pushes"
    """Sync or copy has pushed (and confirmed) one backup and not yet the next."""
    AFTER_TAG_FETCH = "after-tag-fetch"
    """Prune holds its exclusive leases in the shared stores and has read every clone's tags;
    nothing decided yet."""
    BEFORE_TAG_DELETE = "before-tag-delete"
    """Prune has decided, checked every kept backup in the stores and deleted no tag yet."""
    AFTER_TAG_DELETE = "after-tag-delete"
    """Prune has deleted the removed backups' tags (on origin and here) and no data yet."""
    BETWEEN_DELETES = "between-deletes"
    """Prune has deleted one object of a store (a batch, in a cloud remote) and not yet
    the next."""
    AFTER_UNDELETE_PUSH = "after-undelete-push"
    """Undelete has put the tag back on the git remote (its tombstone there replaced by the
    mark) and changed nothing here yet."""
    BEFORE_REMOTE_MANIFEST = "before-remote-manifest"
    """A backup's git-stored files are written into a remote beside its objects, its
    manifest not yet."""
    BEFORE_FLUSH = "before-flush"
    """Restore has staged and verified every file, flushed only the big ones to disk (the
    small ones wait for one syncfs), and renamed none."""
    BEFORE_RENAME = "before-rename"
    """Restore has staged every file and renamed none."""
    BETWEEN_RENAMES = "between-renames"
    """Restore has renamed its first file into place and not yet the others (the
    restore changes two files or more): some files new, the others old."""
    BETWEEN_ARCHIVE_MEMBERS = "between-archive-members"
    """Export has written and verified the first artifact into the temporary archive and not
    yet the others."""
    BEFORE_ALIAS_PUSH = "before-alias-push"
    """`alias set`/`alias rm` has read the alias's record (fetched from origin) and made the
    new one; neither origin nor this clone points the alias at it yet."""
    AFTER_RENAME = "after-rename"
    """Restore has renamed every file into place and not yet hashed them again."""


def pause_point(root: Path, point: PausePoint) -> None:
    spec = os.environ.get("HDVERSION_TEST_PAUSE", "")
    name, _, seconds = spec.partition(":")
    if name != point.value:
        return
    marker = root / PAUSE_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    deadline = time.monotonic() + float(seconds or 30)
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
