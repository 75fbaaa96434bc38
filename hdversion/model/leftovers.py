"""What a killed write leaves among a store's objects: the one rule that tells such a file
from an object, for every reader of a store (listings, verify, prune's sweep, copy, sync,
the bucket-alone listing) and for the cleanup that removes them."""

from __future__ import annotations

import re

from hdversion.paths import TEMP_PREFIX

# dvc_objects' `tmp_fname`: `<name>.<token_urlsafe(16)>.tmp`, a download or an upload to a
# directory not yet renamed to its name. hdversion names its own downloads the same way.
_DVC_PARTIAL = re.compile(r"\.[A-Za-z0-9_-]{22}\.tmp\Z")


def is_partial_name(name: str) -> bool:
    """Whether a file name (the last part of a path or key) is a write not yet renamed into
    place: DVC's partial transfer, or hdversion's copy staged beside its target
    (`.hdversion-tmp-*`). Never an object, whatever its bytes and whichever folder holds it."""
    # endswith first: asked of every object of a listing, and a search scans the name.
    return name.startswith(TEMP_PREFIX) or (
        name.endswith(".tmp") and _DVC_PARTIAL.search(name) is not None)
