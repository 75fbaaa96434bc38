"""The workspace as DVC tracks it: outputs, committing them to the cache, metrics and params."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hdversion.datastore.session import DvcSession
from hdversion.errors import DataStoreError
from hdversion.util.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from dvc.repo import Repo


@dataclass(frozen=True)
class Output:
    """A DVC-tracked artifact: a stage output of dvc.yaml or the target of a .dvc file."""

    path: str  # relative to the repo root
    pointer_file: str  # dvc.lock or the .dvc file that records its hash
    cached: bool = True  # False for `cache: false` outputs, which git is meant to keep


@dataclass(frozen=True)
class TrackedFile:
    path: str
    md5: str
    size: int


@dataclass(frozen=True)
class TrackedOutput:
    """A committed output as a whole: its DVC hash (`<md5>.dir` for a directory)."""

    path: str
    md5: str
    size: int
    nfiles: int


@dataclass(frozen=True)
class Snapshot:
    """What a backup records from DVC: the files, and the pointer files that describe them."""

    outputs: tuple[TrackedOutput, ...]
    files: tuple[TrackedFile, ...]
    missing: tuple[str, ...]
    pointer_files: dict[str, bytes]


class Workspace:
    def __init__(self, session: DvcSession) -> None:
        self.session = session
        self.root = session.root

    def outputs(self) -> list[Output]:
        with self.session.open() as repo:
            return [self._output(out) for out in repo.index.outs]

    def _output(self, out: Any) -> Output:
        path = Path(out.fs_path).relative_to(self.root).as_posix()
        dvcfile = Path(out.stage.path)
        pointer = dvcfile.with_name("dvc.lock") if dvcfile.name == "dvc.yaml" else dvcfile
        return Output(path=path, pointer_file=pointer.relative_to(self.root).as_posix(),
                      cached=bool(out.use_cache))

    def snapshot(self, outputs: list[Output]) -> Snapshot:
        """Commit the workspace's outputs to the cache and describe them, file by file.

        DVC's state database spares unchanged files a re-hash. The pointer files are restored
        to their bytes afterwards: a backup leaves the working tree as it found it.
        """
        from dvc.exceptions import DvcException

        pointer_paths = sorted({o.pointer_file for o in outputs})
        before = {p: _read_or_none(self.root / p) for p in pointer_paths}
        missing = tuple(o.path for o in outputs if not (self.root / o.path).exists())
        try:
            with self.session.open() as repo:
                # allow_missing: the caller has already decided about missing files.
                # relink=False: with the default (copy) link type, relinking would rewrite
                # every workspace file from the cache.
                repo.commit(None, force=True, allow_missing=True, relink=False)
            with self.session.open() as repo:
                after = {p: (self.root / p).read_bytes() for p in pointer_paths}
                described = list(self._describe(repo, skip=set(missing)))
        except DvcException as exc:
            raise DataStoreError(f"DVC could not commit the artifacts: {exc}") from None
        finally:
            for path, data in before.items():
                current = _read_or_none(self.root / path)
                if current != data:
                    _restore_bytes(self.root / path, data)
        return Snapshot(
            outputs=tuple(output for output, _ in described),
            files=tuple(file for _, files in described for file in files),
            missing=missing, pointer_files=after,
        )

    def _describe(self, repo: Repo, skip: set[str]
                  ) -> Iterator[tuple[TrackedOutput, list[TrackedFile]]]:
        cache = repo.cache.local
        for out in repo.index.outs:
            if not out.use_cache:
                continue
            path = Path(out.fs_path).relative_to(self.root).as_posix()
            if path in skip or out.hash_info is None or not out.hash_info.value:
                continue
            if out.hash_info.isdir:
                files = [
                    TrackedFile(PurePosixPath(path, *key).as_posix(), info.value,
                                os.path.getsize(cache.oid_to_path(info.value)))
                    for key, _meta, info in out.get_obj()
                ]
            else:
                md5 = out.hash_info.value
                files = [TrackedFile(path, md5, os.path.getsize(cache.oid_to_path(md5)))]
            total = sum(f.size for f in files)
            yield TrackedOutput(path, out.hash_info.value, total, len(files)), files

    def metrics(self) -> dict[str, Any]:
        with self.session.open() as repo:
            return _flatten_show(repo.metrics.show())

    def params(self) -> dict[str, Any]:
        with self.session.open() as repo:
            return _flatten_show(repo.params.show())


def _flatten_show(shown: dict[str, Any]) -> dict[str, Any]:
    """DVC's show() nests {rev: {"data": {file: {"data": ...}}}}; keep {file: data}."""
    workspace = shown.get("", {}).get("data", {})
    return {name: entry.get("data", {}) for name, entry in workspace.items() if "data" in entry}


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _restore_bytes(path: Path, data: bytes | None) -> None:
    if data is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, data)
