"""Benchmark: wall-clock time of the dry runs a user gets against the real apply of the same migrations. (Not a test.)

The dry run's cost per migration must not grow with the migrations before it
(issue 13, "linear cost"; target: dry / real <= 1.5x at 1,000 synthetic
migrations, and on lemmy up to where its rolled-back dry run stops: an enum value
added and used in one transaction). Three ways of dry-running, as the CLI does
them (``confiture_core.cli.dryrun.measure``), each against the real apply of the
same migrations (``Runner.up``, committed per migration):

- ``copy``: the default on the embedded development server: a template copy of
  the database, each migration committed on it, the copy dropped
  (:func:`~confiture_core.dryrun.devcopy.dev_copy_dry_run`); one measured pass.
- ``target``: ``--on-target`` (and the development server's fallback when another
  session is connected): the whole run in one transaction, rolled back.
- ``shadow``: the default on any other server: the whole shadow preflight
  (catalog read, pg_dump, sample, post-data, VACUUM, then the timed dry runs that
  the predictions need, each on its own copy: :data:`~confiture_core.dryrun.preflight.REPEATS`
  rounds over the sample and its thinned copies, up to ``MAX_REPEATS`` while a statement's
  per-row part is within the noise, see docs/dry-run.md). Its ratio is
  printed with the cost of its one reported pass (``pass``: the linear-cost
  target applies to one measured pass; the repeats are the prediction's price).

Each measurement is on a fresh database of an embedded PostgreSQL 18 server (or
``CONFITURE_BENCH_SERVER_URL``); the modes alternate with the real apply (R C T S
R C T S ...) ``--repeat`` times and the medians are compared. Dry runs use the
CLI's second connection that watches for blockers. Each measurement starts after a
``CHECKPOINT`` (see :func:`checkpoint`): the copy's ``DROP DATABASE`` forces one
and waits for it, and would otherwise write out the previous measurement's pages.
The copy mode's line also gives the run on the copy alone (what is left is the
``CREATE DATABASE ... TEMPLATE`` and the ``DROP DATABASE``: a cost per dry run, not per migration).

The synthetic migrations (see :func:`synthetic`) mix what real projects do:
tables created with a serial key and rows, columns added, indexes built, rows
updated, foreign keys, views, comments; later migrations touch tables created
by earlier ones and 20 tables that existed before the run.

Run: ``python bench/dryrun_speed.py [--sizes 125,250,500,1000] [--repeat 3]
[--modes copy,target,shadow] [--corpus lemmy] [--facts OUT.json]``. ``--facts``
writes the corpus dry run's report without durations, to compare the reported
facts of two versions of the observer (``diff`` the files).
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
from confiture_core.dryrun import DryRunReport, devcopy, dry_run, preflight
from confiture_core.dryrun.devcopy import dev_copy_dry_run
from confiture_core.dryrun.preflight import shadow_dry_run
from confiture_core.dryrun.sample import SampleSpec
from confiture_core.dryrun.shadow import ShadowServer
from confiture_core.errors import ConfitureError
from confiture_core.migrations import discover
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


#: seconds of each copy-mode dry run on the copy itself (without making and dropping the copy)
COPY_RUN: list[float] = []
#: the issue's target for one measured dry-run pass
TARGET = 1.5
MODES = ("copy", "target", "shadow")


def _dry(mode: str, conn: psycopg.Connection[Any], url: str, cfg: Any, admin: str, migrations: Path,
         last: int | None) -> tuple[DryRunReport, float]:
    """One dry run in ``mode`` on the database ``url``; (its report, seconds of its measured pass(es))."""
    if mode == "target":
        t = time.perf_counter()
        rep = dry_run(conn, cfg, hooks(), target=last, lock_timeout="2s", watch_url=url)
        return rep, time.perf_counter() - t
    if mode == "copy":
        t = time.perf_counter()
        inner = devcopy.dry_run

        def timed_copy(*a: Any, **kw: Any) -> DryRunReport:
            t0 = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                COPY_RUN.append(time.perf_counter() - t0)

        devcopy.dry_run = timed_copy  # type: ignore[assignment]
        try:
            got, why = dev_copy_dry_run(conn, url, cfg, hooks(), version=last)
        finally:
            devcopy.dry_run = inner  # type: ignore[assignment]
        if got is None:
            raise SystemExit(f"no copy: {why}")
        return got, time.perf_counter() - t
    passes: list[float] = []
    real_dry_run = preflight.dry_run

    def timed(*a: Any, **kw: Any) -> DryRunReport:
        t0 = time.perf_counter()
        try:
            return real_dry_run(*a, **kw)
        finally:
            passes.append(time.perf_counter() - t0)

    preflight.dry_run = timed  # type: ignore[assignment]
    try:
        rep = shadow_dry_run(conn, url, ShadowServer(admin, "the bench server"), cfg, hooks(),
                             spec=SampleSpec(percent=1.0), spec_text="1%", version=last,
                             migrations=discover(migrations))
    finally:
        preflight.dry_run = real_dry_run  # type: ignore[assignment]
    return rep, passes[-1] if passes else 0.0


def _measure(make_db: Callable[[str], str], admin: str, proj: Path, migrations: Path, repeat: int,
             last: int | None, modes: list[str]) -> tuple[list[float], dict[str, list[float]],
                                                          dict[str, list[float]], dict[str, DryRunReport]]:
    """Alternate real applies (up to ``last``) and dry runs in each mode (R C T S R C T S ...) on fresh databases.

    :returns: (real apply seconds, each mode's seconds, each mode's seconds of its reported pass, each mode's
        last report).
    """
    real: list[float] = []
    dry: dict[str, list[float]] = {m: [] for m in modes}
    one: dict[str, list[float]] = {m: [] for m in modes}
    reps: dict[str, DryRunReport] = {}
    for k in range(repeat):
        for which in ("real", *list(modes)):
            if which != "real" and which not in modes:
                continue
            url = make_db(f"speed_{which}_{k}")
            checkpoint(admin)
            (proj / "confiture.toml").write_text(f'database_url = "{url}"\nmigrations_dir = "{migrations}"\n')
            cfg = load_config(cwd=proj)
            with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
                t = time.perf_counter()
                if which == "real":
                    Runner(conn, cfg, hooks()).up(last)
                    real.append(time.perf_counter() - t)
                    continue
                try:
                    reps[which], single = _dry(which, conn, url, cfg, admin, migrations, last)
                except ConfitureError as exc:  # the shadow needs the target's extensions on its server
                    print(f"{'':>14}  {which}: could not run: {str(exc)[:200]}", flush=True)
                    modes = [m for m in modes if m != which]
                    dry.pop(which, None)
                    one.pop(which, None)
                    continue
                dry[which].append(time.perf_counter() - t)
                one[which].append(single)
    return real, dry, one, reps


def checkpoint(admin: str) -> None:
    """``CHECKPOINT`` before a measurement: the dirty buffers of the database just made (and of the measurement
    before) are written now, not by the next ``DROP DATABASE`` (which forces a checkpoint and waits for it: the
    copy's drop would otherwise pay for the real apply's writes). Best effort (it needs pg_checkpoint)."""
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:
        pass


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


def _lines(label: str, real: list[float], dry: dict[str, list[float]], one: dict[str, list[float]],
           reps: dict[str, DryRunReport]) -> list[str]:
    r = statistics.median(real)
    out = [f"{label:>14}: real apply {r:7.2f} s (median of {len(real)})"]
    for mode, times in dry.items():
        d, p = statistics.median(times), statistics.median(one[mode])
        rep = reps[mode]
        reached = sum(m.status != "pending" for m in rep.migrations)
        # --on-target is opt-in (one rolled-back transaction whose lock reads grow with the run: docs/dry-run.md,
        # "Modes and cost"); the target is held by the default modes, a copy and the shadow's copy
        verdict = ("meets" if p / r <= TARGET else "MISSES") if mode != "target" else "opt-in mode, not held to it"
        extra = (f"  (whole preflight {d:7.2f} s = {d / r:5.2f}x)" if mode == "shadow" else "")
        if mode == "copy" and COPY_RUN:
            run = statistics.median(COPY_RUN)
            extra = (f"  (of which the run on the copy {run:7.2f} s = {run / r:5.2f}x; the rest: CREATE and DROP "
                     "DATABASE)")
            COPY_RUN.clear()
        out.append(f"{'':>14}  {mode:6s} dry/real {p / r:5.2f}x  [target <= {TARGET}x: {verdict}]  "
                   f"pass {p:7.2f} s{extra}  {reached} reached, ok={rep.ok}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default="125,250,500,1000", help="synthetic run sizes ('' for none)")
    ap.add_argument("--repeat", type=int, default=3, help="alternated runs per size (medians)")
    ap.add_argument("--modes", default=",".join(MODES), help="dry-run modes: copy, target, shadow")
    ap.add_argument("--corpus", default="lemmy", help="a shared corpus ('' for none)")
    ap.add_argument("--facts", help="write the corpus dry run's report (without durations) to this JSON file")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in MODES for m in modes):
        raise SystemExit(f"--modes: expected some of {', '.join(MODES)}")
    with bench_server("confiture-dryrun-speed-") as (admin, url_of, tmp):
        proj = tmp / "proj"
        proj.mkdir()
        prelude = tmp / "prelude.sql"
        prelude.write_text(synthetic_prelude())
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            migs = tmp / f"synthetic_{n}"
            write_synthetic(migs, n)
            res = _measure(lambda name: fresh(admin, name, url_of, prelude), admin, proj, migs, args.repeat,
                           None, modes)
            print("\n".join(_lines(f"synthetic {n}", *res)), flush=True)
        if args.corpus:
            src = CORPUS / args.corpus

            def make(name: str) -> str:
                return fresh(admin, name, url_of, src / "prelude.sql")

            last = stop_version(make, proj, src / "migrations")
            res = _measure(make, admin, proj, src / "migrations", args.repeat, last, modes)
            print("\n".join(_lines(args.corpus, *res)), flush=True)
            print(f"{'':>14}  (up to migration {last}: where its rolled-back dry run stops)" if last else "")
            if args.facts and "target" in res[3]:
                Path(args.facts).write_text(json.dumps(_strip(res[3]["target"].as_json()), indent=1,
                                                       sort_keys=True))


if __name__ == "__main__":
    main()
