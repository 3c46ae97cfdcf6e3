"""A before_migration hook and the deferred BEGIN: a hook that sends nothing costs nothing (the BEGIN rides with the
body); one that queries sends the BEGIN first, with the commit guard's arming and its SAVEPOINT, so what it does is
inside the migration's transaction and isolated as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from confiture_core.hookspecs import HookContext, hookimpl

from ..conftest import write
from .test_lazy_begin import applied, with_plugin

Conn = Any


class Writer:
    """Writes a row before each migration."""

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        context.connection.execute("INSERT INTO seen VALUES (%s)", [context.migration.version])


class Committer:
    """Ends the runner's transaction: must be caught, nothing of the migration applied."""

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        context.connection.execute("SELECT 1")
        context.connection.execute("COMMIT")


class Failing:
    """Writes, then fails: its write is rolled back to its savepoint, the migration fails (fatal plugin)."""

    @hookimpl
    def confiture_before_migration(self, context: HookContext) -> None:
        context.connection.execute("INSERT INTO seen VALUES (99)")
        raise RuntimeError("no")


def test_a_querying_hook_sends_the_begin_with_its_savepoint(project: Path, database_url: str, db: Conn) -> None:
    db.execute("CREATE TABLE seen (v bigint)")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.up.sql", "CREATE TABLE b (id int);\nSELECT nope;\n")
    result, trips = with_plugin(project, database_url, Writer())
    assert [r.status for r in result.results] == ["applied", "failed"]
    opening = [t for t in trips if "SAVEPOINT" in t and "BEGIN" in t]
    assert len(opening) == 2, trips  # one per migration: reset, BEGIN, the guard's arming, SAVEPOINT
    for t in opening:
        assert t.index("BEGIN") < t.index("confiture_commit_guard") < t.index("SAVEPOINT"), t
    assert not [t for t in trips if t.endswith("BEGIN")], trips  # no BEGIN of its own
    # the hook's write of migration 2 was rolled back with it: it ran inside the migration's transaction
    assert [r[0] for r in db.execute("SELECT v FROM seen ORDER BY 1")] == [1]
    assert applied(db) == [1]


@pytest.mark.parametrize("plugin", [Committer(), Failing()], ids=["commits", "fails"])
def test_a_hook_that_breaks_the_rules_is_still_caught(project: Path, database_url: str, db: Conn,
                                                       plugin: object) -> None:
    db.execute("CREATE TABLE seen (v bigint)")
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    result, _ = with_plugin(project, database_url, plugin)
    assert [r.status for r in result.results] == ["failed"]
    err = result.results[0].error or ""
    assert "confiture_before_migration" in err and "p" in err, err
    assert [r[0] for r in db.execute("SELECT v FROM seen")] == []
    assert db.execute("SELECT to_regclass('a')").fetchone() == (None,)
    assert applied(db) == []
