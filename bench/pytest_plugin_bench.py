"""Benchmark: what the pytest plugin's ``confiture_db`` costs per test, a template copy against a full apply.

For each project (the shop example, 4 migrations; the ente corpus, 124), on one
server, alternating (A B A B ...), ``--repeat`` times (default 7), medians:

* **copy**: what ``confiture_db`` does for a test: ``CREATE DATABASE ... TEMPLATE`` of the
  session's template at head (pytest-postgresql's janitor), connect, drop at the end;
* **apply**: what a test would pay without templates: an empty database, every migration
  applied by Confiture's Runner, drop;

and the ratio apply/copy. The template itself is built once per session (reported too).

Run: ``python bench/pytest_plugin_bench.py [--server-url URL]`` (default: the shop's embedded
server, or ``CONFITURE_TEST_SERVER_URL``). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from confiture_plugins.testing.databases import ConfitureDatabase, Templates
from confiture_plugins.testing.project import ConfitureProject
from confiture_plugins.testing.server import resolve_server

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


def _project(name: str, tmp: Path) -> ConfitureProject:
    if name == "shop":
        return ConfitureProject.load(REPO / "examples" / "shop")
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "confiture.toml").write_text(f'migrations_dir = "{CORPUS / name / "migrations"}"\n')
    return ConfitureProject.load(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server-url", default=None)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--projects", default="shop,ente")
    args = ap.parse_args()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="confiture-bench-"))
    server = resolve_server(args.server_url, REPO / "examples" / "shop" / ".confiture" / "pgdata")
    print(f"server: PostgreSQL {server.major_version()} ({server.source})")
    for name in args.projects.split(","):
        project = _project(name, tmp)
        templates = Templates(server, project)
        t0 = time.perf_counter()
        templates.template(project.head)
        built = time.perf_counter() - t0
        copy: list[float] = []
        apply: list[float] = []
        try:
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                db = templates.database()
                db.conn.execute("SELECT 1")
                templates.drop(db)
                copy.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                empty = ConfitureDatabase(server.new_name(), "", project, 0)
                server.create(empty.name)
                empty.url = server.url(empty.name)
                empty.migrate("up")
                templates.drop(empty)
                apply.append(time.perf_counter() - t0)
        finally:
            templates.drop_all()
        c, a = statistics.median(copy), statistics.median(apply)
        print(f"{name}: {len(project.migrations)} migrations; template built once in {built * 1000:.0f} ms; "
              f"per test: copy {c * 1000:.0f} ms, full apply {a * 1000:.0f} ms, apply/copy {a / c:.1f}x "
              f"(medians of {args.repeat}, alternated)")


if __name__ == "__main__":
    main()
