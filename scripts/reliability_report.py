"""Print the figures of a `make reliability` run (build/reliability.jsonl) as the Markdown
tables that docs/reliability.md records."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def main(path: str) -> None:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
    kills = [r for r in rows if r.get("kind") in ("pause-point", "random")]
    damage = [r for r in rows if r.get("kind") == "corruption"]
    # the writers-and-prune stress tests (tests/test_prune_leases.py) name themselves
    stress = [r for r in rows if str(r.get("test", "")).startswith("lease-stress")]
    print(f"Machine: {platform.machine()}, {len(rows)} scenario(s), Python "
          f"{platform.python_version()}.\n")
    print("| kill -9 | operation | runs | killed | finished first | backups checked | "
          "every invariant held |")
    print("|---|---|---|---|---|---|---|")
    for row in kills:
        scenario = (f"pause point `{row['point']}`" if row["kind"] == "pause-point"
                    else f"random instants (seed {row['seed']}, span {row['span_s']} s)")
        print(f"| {scenario} | {row['operation']} | {row.get('runs', 1)} | "
              f"{row.get('killed', 1)} | {row.get('finished', 0)} | {row['backups']} | "
              f"{'yes' if row['ok'] else 'NO'} |")
    if damage:
        print("\n| damage | object | store | outcome |")
        print("|---|---|---|---|")
        for row in damage:
            print(f"| {row['damage']} | {row['object']} | {row['store']} | {row['outcome']} |")
    if stress:
        print("\n| writer and pruner | backups | reusing bytes | prune rounds | store busy | "
              "tags restored |")
        print("|---|---|---|---|---|---|")
        for row in stress:
            print(f"| {row['test']} | {row['backups']} | {row['reused']} | "
                  f"{row['prune_rounds']} | {row['busy_rounds']} | {row['tags_checked']} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/reliability.jsonl")
