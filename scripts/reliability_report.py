"""Print the figures of a `make reliability` run (build/reliability.jsonl) as the Markdown
table that docs/reliability.md records."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def main(path: str) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, "
          f"{len(rows)} scenario(s).\n")
    print("| scenario | operation | runs | killed | finished first | backups checked | "
          "every invariant held |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        scenario = (f"pause point `{row['point']}`" if row["kind"] == "pause-point"
                    else f"random instants (seed {row['seed']}, span {row['span_s']} s)")
        runs = row.get("runs", 1)
        killed = row.get("killed", 1)
        finished = row.get("finished", 0)
        print(f"| {scenario} | {row['operation']} | {runs} | {killed} | {finished} | "
              f"{row['backups']} | {'yes' if row['ok'] else 'NO'} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/reliability.jsonl")
