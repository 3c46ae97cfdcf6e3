"""The sample sizes are measured alternated (A B A B): each repeat applies on a copy of every size in turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun import measure as measure_module
from confiture_core.dryrun.measure import measure_alternated
from confiture_core.dryrun.shadow import ShadowServer, database_of, scratch_database

from ..conftest import Server, write


def test_each_repeat_visits_every_size(project: Path, database_url: str, pg_server: Server,
                                       db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 500) g")
    write(project / "migrations", "001_two.up.sql", "UPDATE t SET a = a + 1;\nCREATE INDEX t_a ON t (a);\n")
    config = load_config(cwd=project)
    db.close()  # a template database must have no other connection
    server = ShadowServer(pg_server.url("postgres"), "test server")
    seen: list[int] = []
    real = measure_module.timed_apply

    def recording(conn: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> dict[tuple[int, int], float]:
        row = conn.execute("SELECT count(*) FROM t").fetchone()
        seen.append(int(row[0]) if row else -1)  # which size this copy is of
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(measure_module, "timed_apply", recording)
    with scratch_database(server, template=database_of(database_url)) as small:
        with psycopg.connect(small, autocommit=True) as conn:
            conn.execute("DELETE FROM t WHERE id > 100")
        out = measure_alternated(server, [database_url, small], config, None, repeats=3)
    assert seen == [500, 100, 500, 100, 500, 100]
    assert [{k: len(v) for k, v in d.items()} for d in out] == [{(1, 0): 3, (1, 1): 3}] * 2
    with psycopg.connect(database_url, autocommit=True) as conn:  # the sources themselves are untouched
        assert conn.execute("SELECT count(*) FROM t WHERE a = id").fetchone() == (500,)
