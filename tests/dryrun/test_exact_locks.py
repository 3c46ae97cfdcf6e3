"""Exact locks per migration in a whole-run dry run, against a real apply of each migration alone (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import psycopg
import pytest

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.dryrun import DryRunReport, LockBlocked, MeasuringObserver, MigrationReport, dry_run, lock_pairs
from confiture_core.hookcaller import Hooks
from confiture_core.runner import Runner

from ..conftest import write


def hooks() -> Hooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return Hooks(pm)


def run_dry(project: Path, url: str, **kw: Any) -> DryRunReport:
    with psycopg.connect(url, autocommit=True) as conn:
        return dry_run(conn, load_config(None, cwd=project), hooks(), **kw)


def migration(rep: DryRunReport, version: int) -> MigrationReport:
    [m] = [m for m in rep.migrations if m.version == version]
    return m


def lockset(m: MigrationReport | None) -> set[tuple[str, str]]:
    return lock_pairs(m)


def real_locks(project: Path, url: str) -> dict[int, set[tuple[str, str]]]:
    """Apply every pending migration for real, one at a time, each measured alone."""
    out: dict[int, set[tuple[str, str]]] = {}
    cfg = load_config(None, cwd=project)
    with psycopg.connect(url, autocommit=True) as conn:
        for m in Runner(conn, cfg, hooks()).plan_up(None):
            obs = MeasuringObserver(conn)
            obs.begin()
            res = Runner(conn, cfg, hooks(), observer=obs).up(m.version)
            assert not res.failed, res.results[-1].error
            out[m.version] = lockset(obs.reports.get(m.version))
    return out


@pytest.fixture
def seeded(project: Path, database_url: str, db: psycopg.Connection[Any]) -> Path:
    """Tables t (with rows and an index) and gone (to drop) existing before the run."""
    db.execute("CREATE TABLE t (id serial PRIMARY KEY, n int, s text); "
               "INSERT INTO t (n, s) SELECT g, 'x' FROM generate_series(1, 20) g; "
               "CREATE TABLE gone (id int PRIMARY KEY)")
    return project


def test_locks_held_by_earlier_migrations_are_the_documented_mode_and_match_a_real_apply(
        seeded: Path, database_url: str) -> None:
    """A plain UPDATE is ROW EXCLUSIVE, a CREATE INDEX is SHARE, even when an earlier migration of the same
    dry run holds ACCESS EXCLUSIVE on the table (the defect: every held mode was reported, "inferred")."""
    m = seeded / "migrations"
    write(m, "1_alter.up.sql", "ALTER TABLE t ADD COLUMN c int;\n")
    write(m, "2_update.up.sql", "UPDATE t SET n = n + 1 WHERE id < 5;\n")
    write(m, "3_index.up.sql", "CREATE INDEX t_n ON t (n);\n")
    write(m, "4_update_again.up.sql", "UPDATE t SET n = n + 1 WHERE id < 3;\n")
    write(m, "5_index_again.up.sql", "CREATE INDEX t_s ON t (s);\n")
    write(m, "6_new.up.sql", "CREATE TABLE fresh (id bigserial PRIMARY KEY, t_id int REFERENCES t (id));\n"
                             "INSERT INTO fresh (t_id) VALUES (1);\n")
    write(m, "7_fresh_again.up.sql", "INSERT INTO fresh (t_id) VALUES (2);\nALTER TABLE fresh ADD COLUMN z int;\n")
    rep = run_dry(seeded, database_url)
    assert rep.ok, rep.error
    on_t = {v: {(lk.mode, lk.inferred) for s in migration(rep, v).statements for lk in s.locks if lk.relation == "t"}
            for v in (2, 3, 4, 5)}
    assert on_t[2] == {("ROW EXCLUSIVE", False)}
    assert on_t[3] == {("SHARE", False)}
    assert on_t[4] == {("ROW EXCLUSIVE", True)}  # held since migration 2: the documented mode, not ACCESS EXCLUSIVE
    assert on_t[5] == {("SHARE", True)}
    assert [migration(rep, v).risk.label for v in range(1, 8)] == [
        "blocks-reads-writes", "safe", "blocks-writes", "safe", "blocks-writes", "blocks-writes", "safe"]
    assert all("destructive" not in r for v in (2, 4) for r in migration(rep, v).reasons)
    # every migration's locks equal those of a real apply of that migration alone, nothing more
    real = real_locks(seeded, database_url)
    for v in range(1, 8):
        assert lockset(migration(rep, v)) == real[v], v


def test_no_transient_rows_and_dropped_relations_keep_their_names(seeded: Path, database_url: str) -> None:
    """A rewrite's transient copy is not a row "(dropped relation, oid N)" of kind "?"; a dropped table is named."""
    m = seeded / "migrations"
    write(m, "1_retype.up.sql", "ALTER TABLE t ALTER COLUMN n TYPE bigint;\n")
    write(m, "2_drop.up.sql", "DROP TABLE gone;\n")
    write(m, "3_made_and_dropped.up.sql", "CREATE TABLE tmp_x AS SELECT id FROM t;\nDROP TABLE tmp_x;\n")
    rep = run_dry(seeded, database_url)
    assert rep.ok, rep.error
    locks = [lk for mig in rep.migrations for s in mig.statements for lk in s.locks]
    assert locks and not [lk for lk in locks if lk.relation.startswith("(dropped") or lk.kind == "?"]
    assert migration(rep, 1).statements[0].rewritten == ["t"]
    dropped = {(lk.relation, lk.kind, lk.mode, lk.preexisting) for lk in migration(rep, 2).statements[0].locks}
    assert ("gone", "table", "ACCESS EXCLUSIVE", True) in dropped
    assert ("gone_pkey", "index", "ACCESS EXCLUSIVE", True) in dropped  # its index existed before the run too
    assert migration(rep, 2).risk.label == "destructive"
    assert migration(rep, 3).risk.label == "safe"  # a table of its own making


def test_skipped_statement_on_a_table_created_earlier_in_the_run_is_not_preexisting(
        seeded: Path, database_url: str) -> None:
    """CREATE TABLE then VACUUM FULL on it (not executed in a dry run): not blocks-reads-writes; on t it is."""
    m = seeded / "migrations"
    write(m, "1_new.up.sql", "CREATE TABLE fresh (id int);\n")
    write(m, "2_vacuum_fresh.up.sql", "VACUUM FULL fresh;\n")
    write(m, "3_vacuum_t.up.sql", "VACUUM FULL t;\n")
    rep = run_dry(seeded, database_url)
    assert rep.ok, rep.error
    [fresh] = migration(rep, 2).statements[0].locks
    assert (fresh.relation, fresh.mode, fresh.preexisting) == ("fresh", "ACCESS EXCLUSIVE", False)
    assert migration(rep, 2).risk.label == "safe"
    [on_t] = migration(rep, 3).statements[0].locks
    assert (on_t.relation, on_t.mode, on_t.preexisting) == ("t", "ACCESS EXCLUSIVE", True)
    assert migration(rep, 3).risk.label == "blocks-reads-writes"


@pytest.fixture
def holder(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """Another session, in an open transaction (rolled back at the end)."""
    with psycopg.connect(database_url) as conn:
        yield conn
        conn.rollback()


@pytest.mark.parametrize("watched", [True, False], ids=["with-blocker-watch", "without"])
def test_a_migration_stopped_by_a_lock_wait_is_rated_by_the_lock_it_asked_for(
        seeded: Path, database_url: str, holder: psycopg.Connection[Any], watched: bool) -> None:
    """Another session reads t: ALTER TABLE waits for ACCESS EXCLUSIVE, gives up at lock_timeout; never `safe`."""
    m = seeded / "migrations"
    write(m, "1_alter.up.sql", "ALTER TABLE t ADD COLUMN z int;\n")
    holder.execute("SELECT count(*) FROM t")  # ACCESS SHARE until the end of its transaction
    with pytest.raises(LockBlocked) as caught:
        run_dry(seeded, database_url, lock_timeout="300ms", watch_url=database_url if watched else None)
    rep = caught.value.report
    assert rep is not None
    mig = migration(rep, 1)
    assert mig.status == "failed"
    [st] = mig.statements
    assert {(lk.relation, lk.mode, lk.preexisting) for lk in st.locks} == {("t", "ACCESS EXCLUSIVE", True)}
    assert mig.risk.label == "blocks-reads-writes" and rep.risk.label == "blocks-reads-writes"
    assert mig.reasons == ["waited for ACCESS EXCLUSIVE on t (lock_timeout)"]


def test_a_create_index_stopped_by_a_writer_is_blocks_writes(
        seeded: Path, database_url: str, holder: psycopg.Connection[Any]) -> None:
    """A writer holds ROW EXCLUSIVE on t: CREATE INDEX waits for SHARE and is rated blocks-writes."""
    m = seeded / "migrations"
    write(m, "1_index.up.sql", "CREATE INDEX t_s ON t (s);\n")
    holder.execute("UPDATE t SET n = n WHERE id = 1")
    with pytest.raises(LockBlocked) as caught:
        run_dry(seeded, database_url, lock_timeout="300ms", watch_url=database_url)
    rep = caught.value.report
    assert rep is not None
    assert migration(rep, 1).risk.label == "blocks-writes"
    assert lockset(migration(rep, 1)) == {("t", "SHARE")}
