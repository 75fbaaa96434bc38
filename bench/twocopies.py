"""The least a first backup of many small files must do, for bench/small.py only: each file
of a folder read, hashed and written twice (the DVC cache's copy and the local remote's),
each copy staged beside its place and renamed under its md5, on one thread per core, 64
files to a task, with raw descriptors, created read-only; then one `sync`, as the backup
makes the local remote's copies last before its tag (restic fsyncs its packs). No DVC, no
git, no walk of the stats, no record: timed beside restic and `hdversion add` + `backup`,
it shows in the same run what the two copies cost on this disk (docs/design-decisions.md,
"A first backup of many small files").

usage: twocopies.py FOLDER COPY_A COPY_B"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor

BATCH = 64
FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def copy_batch(paths: list[str], serial: int, copies: list[str]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, os.fstat(fd).st_size + 1)
        finally:
            os.close(fd)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        for objects in copies:
            serial += 1
            folder = f"{objects}/{md5[:2]}"
            tmp = f"{folder}/.tmp-{serial}"
            try:
                out = os.open(tmp, FLAGS, 0o444)
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
                out = os.open(tmp, FLAGS, 0o444)
            try:
                os.write(out, data)
            finally:
                os.close(out)
            os.rename(tmp, f"{folder}/{md5[2:]}")


def main() -> None:
    folder, *copies = sys.argv[1:]
    paths = [entry.path for entry in os.scandir(folder) if entry.is_file()]
    batches = [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # Each task its own range of temporary names: two never collide.
        list(pool.map(copy_batch, batches, [i * len(copies) for i in range(0, len(paths),
                                                                           BATCH)],
                      [copies] * len(batches)))
    os.sync()


if __name__ == "__main__":
    main()
