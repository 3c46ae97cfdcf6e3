"""Benchmark: ``confiture migrate status`` on the embedded dev server vs. on a server given by URL (not a test).

Run::

    python bench/devserver_bench.py [--repeat 15]

In a temporary copy of ``examples/shop`` (no database URL configured), the first
``confiture migrate up --yes`` starts the project's embedded dev server (timed once:
``initdb`` and start) and applies the migrations; an untimed ``migrate status``
follows. Then, alternated A B A B, ``--repeat`` times each, wall clock of the whole
process:

- A, embedded: ``confiture migrate status`` (finds the recorded server, checks
  that it answers, uses it);
- B, external: ``confiture --database-url URL migrate status`` to the same
  database of the same, already running server (what a command costs when the
  server is simply given).

Prints the medians and the ratio A/B; the target from issue 10 is <= 1.5x. The
dev server is stopped (``confiture server stop``) and the folder removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "confiture")
ENV = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL")}


def run(project: Path, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run confiture in ``project``; (wall seconds, the finished process). Exits on failure."""
    start = time.perf_counter()
    proc = subprocess.run([EXE, *args], cwd=project, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"confiture {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each variant (default 15)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="confiture-devserver-bench-"))
    project = tmp / "shop"
    shutil.copytree(REPO / "examples" / "shop", project, ignore=shutil.ignore_patterns(".confiture"))
    try:
        cold, _ = run(project, "migrate", "up", "--yes")
        _, status = run(project, "server", "status", "--format", "json")
        url = json.loads(status.stdout)["url"]
        migrations = len(json.loads(run(project, "migrate", "status", "--format", "json")[1].stdout)["migrations"])
        variants = {"embedded": ["migrate", "status"], "external": ["--database-url", url, "migrate", "status"]}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, argv in variants.items():
                times[name].append(run(project, *argv)[0])
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"examples/shop ({migrations} migrations), {args.repeat} runs each, alternated, median wall time")
        print(f"  first command (initdb, start, migrate up): {cold * 1000:7.0f} ms (one run)")
        print(f"  A embedded dev server: migrate status     {med['embedded'] * 1000:7.0f} ms")
        print(f"  B --database-url (same running server)    {med['external'] * 1000:7.0f} ms")
        ratio = med["embedded"] / med["external"]
        print(f"  ratio A/B: {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
    finally:
        subprocess.run([EXE, "server", "stop"], cwd=project, env=ENV, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
