"""The preflight classifies each scaled statement once, from its parse tree; one rule says what has nothing to scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from confiture_core.config import load_config
from confiture_core.dryrun.facts import read_target_facts
from confiture_core.dryrun.predict import scales
from confiture_core.dryrun.preflight import scaled_statements
from confiture_core.migrations import discover

from ..conftest import write


def test_scaled_statements_give_each_key_its_work_kind(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 3000) g")
    db.execute("ANALYZE t")
    write(project / "migrations", "001_a.up.sql",
          "ALTER TABLE t ADD COLUMN b int DEFAULT 0;\nCREATE INDEX t_a ON t (a);\nCREATE TABLE x (id int);\n"
          "UPDATE t SET a = a + 1;\n")
    config = load_config(cwd=project)
    facts = read_target_facts(db)
    keys = scaled_statements(db, config, None, facts, set(), discover(config.migrations_dir))
    assert keys is not None
    assert sorted(keys.items()) == [((1, 0), "rewrite"), ((1, 1), "index"), ((1, 3), "update")]


def test_only_a_rewrite_that_did_not_rewrite_has_nothing_to_scale() -> None:
    assert not scales("rewrite", False)
    assert scales("rewrite", True)
    for kind in ("index", "validate", "update", "scan"):
        assert scales(kind, False) and scales(kind, True)
