"""Benchmark: wall-clock time of a whole-run dry run against the real apply of the same migrations. (Not a test.)

The dry run's cost per migration must not grow with the migrations before it
(issue 13, "linear cost"): the ratio dry run / real apply is printed for
synthetic runs of 125, 250, 500 and 1,000 migrations (``--sizes``) and for a
shared corpus up to where its whole-run dry run stops (lemmy: an enum value
added and used in one transaction). Each measurement is on a fresh database of
an embedded PostgreSQL 18 server (or ``CONFITURE_BENCH_SERVER_URL``); real and
dry runs alternate (R D R D ...) ``--repeat`` times and the medians are compared.
The dry run is the CLI's: with the second connection that watches for blockers.

The synthetic migrations (see :func:`synthetic`) mix what real projects do:
tables created with a serial key and rows, columns added, indexes built, rows
updated, foreign keys, views, comments; later migrations touch tables created
by earlier ones and 20 tables that existed before the run.

Run: ``python bench/dryrun_speed.py [--sizes 125,250,500,1000] [--repeat 3]
[--corpus lemmy] [--facts OUT.json]``. ``--facts`` writes the corpus dry run's
report without durations, to compare the reported facts of two versions of the
observer (``diff`` the files).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dryrun_accuracy import CORPUS, bench_server, fresh, hooks

from confiture_core.config import load_config
from confiture_core.dryrun import DryRunReport, dry_run
from confiture_core.runner import Runner

#: tables that exist before the synthetic run (created by its prelude)
BASE_TABLES = 20


def synthetic_prelude() -> str:
    """The schema the synthetic migrations start from: ``base_0`` ... ``base_19``, 200 rows each."""
    return "".join(f"CREATE TABLE base_{i} (id bigserial PRIMARY KEY, a int, b text);\n"
                   f"INSERT INTO base_{i} (a, b) SELECT g, 'r' || g FROM generate_series(1, 200) g;\n"
                   for i in range(BASE_TABLES))


def synthetic(i: int) -> str:
    """The body of synthetic migration ``i`` (1-based); migrations ``i % 6 == 1`` create table ``t_i``."""
    made = i - (i - 1) % 6  # the last table created so far
    older = max(1, made - 6 * (i % 5))  # an older one
    base = f"base_{i % BASE_TABLES}"
    kind = i % 6
    if kind == 1:
        return (f"CREATE TABLE t_{i} (id bigserial PRIMARY KEY, a int, b text, base_id bigint REFERENCES "
                f"{base} (id));\nINSERT INTO t_{i} (a, b, base_id) SELECT g, 'x' || g, g FROM "
                "generate_series(1, 50) g;\n")
    if kind == 2:
        return f"ALTER TABLE t_{made} ADD COLUMN c_{i} int;\nCREATE INDEX ix_{i} ON t_{older} (a);\n"
    if kind == 3:
        return f"UPDATE t_{older} SET a = a + 1 WHERE id < 10;\nUPDATE {base} SET a = a + 1 WHERE id < 5;\n"
    if kind == 4:
        return (f"CREATE VIEW v_{i} AS SELECT id, a FROM t_{made};\nCOMMENT ON TABLE t_{made} IS 'm{i}';\n"
                f"INSERT INTO {base} (a, b) VALUES ({i}, 'n');\n")
    if kind == 5:
        return f"ALTER TABLE t_{older} ADD CONSTRAINT ck_{i} CHECK (a > -1000);\nCREATE INDEX ix_{i} ON {base} (b);\n"
    return f"ALTER TABLE t_{made} ALTER COLUMN b SET DEFAULT 'd';\nDELETE FROM t_{older} WHERE id = {i};\n"


def write_synthetic(folder: Path, count: int) -> None:
    """Write ``count`` synthetic migrations into ``folder`` (created)."""
    folder.mkdir(parents=True)
    for i in range(1, count + 1):
        (folder / f"{i}_m{i}.up.sql").write_text(synthetic(i))


def _measure(make_db: Callable[[str], str], proj: Path, migrations: Path, repeat: int, last: int | None,
             ) -> tuple[list[float], list[float], DryRunReport]:
    """Alternate real applies (up to ``last``) and dry runs (R D R D ...) on fresh databases.

    :returns: (real apply seconds, dry run seconds, the last dry run's report).
    """
    real: list[float] = []
    dry: list[float] = []
    rep: DryRunReport | None = None
    for k in range(repeat):
        for which in ("real", "dry"):
            url = make_db(f"speed_{which}_{k}")
            (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{migrations}"\n')
            cfg = load_config(cwd=proj)
            with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
                if which == "dry":
                    t = time.perf_counter()
                    rep = dry_run(conn, cfg, hooks(), lock_timeout="2s", watch_url=url)
                    dry.append(time.perf_counter() - t)
                else:
                    t = time.perf_counter()
                    Runner(conn, cfg, hooks()).up(last)
                    real.append(time.perf_counter() - t)
    assert rep is not None
    return real, dry, rep


def _last_ok(rep: DryRunReport | None) -> int | None:
    """The last migration a whole-run dry run got through (``None``: all of them)."""
    if rep is None or rep.ok:
        return None
    done = [m.version for m in rep.migrations if m.status in ("applied", "not-executed")]
    return done[-1] if done else 0


def stop_version(make_db: Callable[[str], str], proj: Path, migrations: Path) -> int | None:
    """Where a whole-run dry run stops (lemmy: its enum), found by one unmeasured dry run."""
    url = make_db("speed_probe")
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{migrations}"\n')
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        return _last_ok(dry_run(conn, load_config(cwd=proj), hooks(), lock_timeout="2s"))


def _strip(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k != "duration_ms"}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def _line(label: str, real: list[float], dry: list[float], rep: DryRunReport) -> str:
    r, d = statistics.median(real), statistics.median(dry)
    reached = sum(m.status != "pending" for m in rep.migrations)
    return (f"{label:>22}: real {r:7.2f} s  dry {d:7.2f} s  dry/real {d / r:5.2f}x  "
            f"({reached} migrations reached, ok={rep.ok}; medians of {len(real)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default="125,250,500,1000", help="synthetic run sizes ('' for none)")
    ap.add_argument("--repeat", type=int, default=3, help="alternated runs per size (medians)")
    ap.add_argument("--corpus", default="lemmy", help="a shared corpus ('' for none)")
    ap.add_argument("--facts", help="write the corpus dry run's report (without durations) to this JSON file")
    args = ap.parse_args()
    with bench_server("confiture-dryrun-speed-") as (admin, url_of, tmp):
        proj = tmp / "proj"
        proj.mkdir()
        prelude = tmp / "prelude.sql"
        prelude.write_text(synthetic_prelude())
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            migs = tmp / f"synthetic_{n}"
            write_synthetic(migs, n)
            real, dry, rep = _measure(lambda name: fresh(admin, name, url_of, prelude), proj, migs, args.repeat,
                                      None)
            print(_line(f"synthetic {n}", real, dry, rep), flush=True)
        if args.corpus:
            src = CORPUS / args.corpus
            def make(name: str) -> str:
                return fresh(admin, name, url_of, src / "prelude.sql")
            last = stop_version(make, proj, src / "migrations")
            real, dry, rep = _measure(make, proj, src / "migrations", args.repeat, last)
            print(_line(args.corpus, real, dry, rep), flush=True)
            if rep.error:
                print(f"{'':>22}  the dry run stopped there: {rep.error[:150]}")
            if args.facts:
                Path(args.facts).write_text(json.dumps(_strip(rep.as_json()), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
