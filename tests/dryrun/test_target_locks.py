"""Dry run on the target: no over-report from stored expressions, non-volatile functions or a renamed table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from ..conftest import write
from .test_exact_locks import lockset, migration, real_locks, run_dry


def test_stored_expressions_and_non_volatile_functions_are_not_code_we_cannot_see(
        project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    """A CREATE TABLE whose default calls a volatile function stores it (no row to compute it for); an index
    expression's function is IMMUTABLE (it cannot lock anything but ACCESS SHARE): neither gets every lock
    the run holds (lemmy 20250801000057 and 202603131236500000 over-reported so)."""
    db.execute("CREATE TABLE t (id serial PRIMARY KEY, n int, at timestamptz DEFAULT now()); "
               "INSERT INTO t (n) VALUES (1), (2); CREATE TABLE other (id int)")
    m = project / "migrations"
    write(m, "1_lock.up.sql", "ALTER TABLE other ADD COLUMN z int;\nALTER TABLE t ADD COLUMN z int;\n")
    write(m, "2_functions.up.sql",
          "CREATE FUNCTION changeme() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT md5(random()::text) $$;\n"
          "CREATE FUNCTION rev(x timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
          "$$ SELECT 1 - extract(epoch FROM x)::bigint $$;\n")
    write(m, "3_table.up.sql", "CREATE TABLE fresh (id int, ap text NOT NULL DEFAULT changeme());\n")
    write(m, "4_index.up.sql", "CREATE INDEX t_rev ON t (rev(at));\n")
    rep = run_dry(project, database_url)
    assert rep.ok, rep.error
    assert not [lk for s in migration(rep, 3).statements for lk in s.locks if lk.inferred]
    assert {(lk.relation, lk.mode) for s in migration(rep, 4).statements for lk in s.locks
            if lk.kind == "table"} == {("t", "SHARE")}
    real = real_locks(project, database_url)
    for v in (3, 4):
        assert lockset(migration(rep, v)) == real[v], v


def test_a_lock_inferred_once_per_migration_even_across_a_rename(project: Path, database_url: str,
                                                                  db: psycopg.Connection[Any]) -> None:
    """ACCESS EXCLUSIVE held since migration 1 is inferred for the first statement of migration 2 that asks
    for it, and not again (under the new name) by the RENAME after it, as a real apply reports it once."""
    db.execute("CREATE TABLE t (id int)")
    m = project / "migrations"
    write(m, "1_a.up.sql", "ALTER TABLE t ADD COLUMN a int;\n")
    write(m, "2_b.up.sql", "ALTER TABLE t ADD COLUMN b int;\nALTER TABLE t RENAME TO t2;\n")
    rep = run_dry(project, database_url)
    assert rep.ok, rep.error
    assert lockset(migration(rep, 2)) == {("t", "ACCESS EXCLUSIVE")} == real_locks(project, database_url)[2]


def test_a_rewrite_reports_its_index_rebuild_even_when_held_since_an_earlier_migration(
        project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    """ALTER COLUMN TYPE rewrites the table and rebuilds every index (SHARE on the table, ACCESS EXCLUSIVE on
    each index); an earlier rewrite in the run already holds them: still reported (ente 18, 99; lemmy)."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, n int, s int); CREATE INDEX t_n ON t (n); "
               "INSERT INTO t SELECT g, g, g FROM generate_series(1, 10) g")
    m = project / "migrations"
    write(m, "1_first.up.sql", "ALTER TABLE t ALTER COLUMN n TYPE bigint;\n")
    write(m, "2_second.up.sql", "ALTER TABLE t ALTER COLUMN s TYPE bigint;\n")
    rep = run_dry(project, database_url)
    assert rep.ok, rep.error
    assert {("t", "SHARE"), ("t_pkey", "ACCESS EXCLUSIVE"), ("t_n", "ACCESS EXCLUSIVE")} <= lockset(migration(rep, 2))
    real = real_locks(project, database_url)
    assert lockset(migration(rep, 1)) == real[1]
    assert lockset(migration(rep, 2)) == real[2]


def test_what_a_dropped_column_or_constraint_takes_with_it_is_reported(
        project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    """DROP COLUMN drops the column's index and its foreign key's triggers on the referenced table, DROP CONSTRAINT a
    unique constraint's index: ACCESS EXCLUSIVE on each, reported though the run held them since an earlier
    migration (ente 58/73, lemmy remove_community_creator...); a still-referenced parent is not."""
    db.execute("CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); "
               "CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES parent, o int REFERENCES other, "
               "q int REFERENCES other, u int CONSTRAINT child_u UNIQUE); CREATE INDEX child_p ON child (p)")
    m = project / "migrations"
    write(m, "1_hold.up.sql", "ALTER TABLE parent ADD COLUMN x int;\nALTER TABLE other ADD COLUMN x int;\n"
                              "ALTER TABLE child ALTER COLUMN id TYPE bigint;\n")
    write(m, "2_drop.up.sql", "ALTER TABLE child DROP COLUMN p;\nALTER TABLE child DROP COLUMN o;\n"
                              "ALTER TABLE child DROP CONSTRAINT child_u;\n")
    rep = run_dry(project, database_url)
    assert rep.ok, rep.error
    got = lockset(migration(rep, 2))
    assert {("parent", "ACCESS EXCLUSIVE"), ("child_p", "ACCESS EXCLUSIVE"), ("child_u", "ACCESS EXCLUSIVE")} <= got
    assert ("other", "ACCESS EXCLUSIVE") not in got  # q still references it: which trigger went is not known
    real = real_locks(project, database_url)
    assert got <= real[2] and lockset(migration(rep, 1)) == real[1]
