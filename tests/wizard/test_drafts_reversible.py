"""A migration that could be reverted still can after the wizard's safe rewrite: the VALIDATE step's down holds
a statement (a comment-only down file is refused by ``migrate down``), the batched Python migrations moved out
of it get a down() that does nothing (the original's down reverts it, as before), and a migration that became
a ``.py`` file takes its ``.down.sql`` in as down() (a version cannot be both: every command refused it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.migrations import discover
from confiture_core.wizard.drafts import diff, put_in_place, stage
from confiture_core.wizard.rewrites import rewrite

from ..conftest import invoke, write
from ..plugins.helpers import applied


def _accounts(project: Path) -> Path:
    folder = project / "migrations"
    write(folder, "1_acc.up.sql", "CREATE TABLE acc (id bigint PRIMARY KEY, plan text);\n"
                                  "INSERT INTO acc SELECT g, 'free' FROM generate_series(1, 2500) g;\n")
    write(folder, "1_acc.down.sql", "DROP TABLE acc;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    return folder


def _rewrite_in_place(project: Path, folder: Path, version: int) -> str:
    m = next(x for x in discover(folder) if x.version == version)
    rw = rewrite(m.sql("up").statements, {"acc": "id"})
    assert rw.rewrites, rw
    draft = stage(project, folder, m, rw, [x.version for x in discover(folder)])
    shown = diff(draft, folder)
    put_in_place(draft, folder)
    return shown


def test_the_chain_a_rewrite_makes_can_be_reverted(project: Path, db: psycopg.Connection[Any]) -> None:
    folder = _accounts(project)
    write(folder, "2_token.up.sql", "ALTER TABLE acc ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();\n"
                                    "UPDATE acc SET plan = 'paid';\n")
    write(folder, "2_token.down.sql", "ALTER TABLE acc DROP COLUMN token;\n")
    _rewrite_in_place(project, folder, 2)
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert len(applied(db)) > 3  # the backfill, the check, the batched update, validate, set not null
    r = invoke("migrate", "down", "--to", "1", cwd=project)
    assert r.code == 0, r.stderr
    assert applied(db) == [1]
    assert db.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'acc' "
                      "AND column_name = 'token'").fetchone() == (0,)


def test_a_migration_that_became_python_takes_its_down_file_in(project: Path, db: psycopg.Connection[Any]) -> None:
    folder = _accounts(project)
    write(folder, "2_paid.up.sql", "UPDATE acc SET plan = 'paid';\n")
    write(folder, "2_paid.down.sql", "UPDATE acc SET plan = 'free';\nUPDATE acc SET plan = plan || '';\n")
    shown = _rewrite_in_place(project, folder, 2)
    assert "--- a/2_paid.down.sql" in shown and "+++ /dev/null" in shown  # the diff says it goes
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("2_")) == ["2_paid.py"]
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert db.execute("SELECT DISTINCT plan FROM acc").fetchall() == [("paid",)]
    r = invoke("migrate", "down", cwd=project)
    assert r.code == 0, r.stderr
    assert applied(db) == [1]
    assert db.execute("SELECT DISTINCT plan FROM acc").fetchall() == [("free",)]
