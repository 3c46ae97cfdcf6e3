"""A safe rewrite that moves ``CREATE INDEX`` out of a migration into one of its own (with its own down)
takes the index's ``DROP INDEX`` out of the original's down file: the new migration's down drops it first,
and the original's down then failed with 'index "..." does not exist', so ``migrate down`` broke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.migrations import discover
from confiture_core.wizard.drafts import diff, put_in_place, stage
from confiture_core.wizard.rewrites import rewrite

from ..conftest import invoke, write
from ..plugins.helpers import applied


def test_migrate_down_works_after_the_index_moved_out(project: Path, db: psycopg.Connection[Any]) -> None:
    folder = project / "migrations"
    write(folder, "1_orders.up.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);\n")
    write(folder, "1_orders.down.sql", "DROP TABLE orders;\n")
    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    write(folder, "2_mix.up.sql", "CREATE TABLE items (id bigint);\n"
                                  "CREATE INDEX orders_customer ON orders (customer_id);\n"
                                  "ALTER TABLE orders ADD COLUMN note text;\n")
    write(folder, "2_mix.down.sql", "ALTER TABLE orders DROP COLUMN note;\n"
                                    "DROP INDEX orders_customer, orders_pkey_other;  -- one moved, one not\n"
                                    "DROP INDEX orders_customer;\n"
                                    "DROP TABLE items;\n")
    m = next(x for x in discover(folder) if x.version == 2)
    draft = stage(project, folder, m, rewrite(m.sql("up").statements), [1, 2])
    assert "-DROP INDEX orders_customer;" in diff(draft, folder)  # shown before it is written
    put_in_place(draft, folder)
    down = (folder / "2_mix.down.sql").read_text()
    assert "orders_customer" not in down, down
    assert "DROP INDEX orders_pkey_other;" in down and "DROP TABLE items;" in down
    (folder / "2_mix.down.sql").write_text(down.replace("DROP INDEX orders_pkey_other;", ""))  # not a real index

    r = invoke("migrate", "up", "--yes", cwd=project)
    assert r.code == 0, r.stderr
    assert applied(db) == [1, 2, 3]
    r = invoke("migrate", "down", "--to", "1", cwd=project)
    assert r.code == 0, r.stderr
    assert applied(db) == [1]
    assert db.execute("SELECT to_regclass('orders_customer'), to_regclass('items')").fetchone() == (None, None)


def test_a_down_file_without_the_moved_index_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    write(folder, "5_idx.up.sql", "CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\n")
    write(folder, "5_idx.down.sql", "DROP TABLE t;\n")
    m = discover(folder)[0]
    draft = stage(tmp_path, folder, m, rewrite(m.sql("up").statements), [5])
    assert "5_idx.down.sql" not in draft.files
