"""The transaction policy is what the runner is given: the same Runner keeps its work under
CommitEach and keeps nothing under the dry run's RollbackAll. In-process, on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import psycopg

from confiture_core import hookspecs
from confiture_core.config import load_config
from confiture_core.dryrun import RollbackAll
from confiture_core.hookcaller import Hooks
from confiture_core.hookspecs import HookContext, hookimpl
from confiture_core.runner import CommitEach, Runner

from ..conftest import REPO, write


class Spy:
    """Remembers the rolled-back flag each per-migration hook saw."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    @hookimpl
    def confiture_after_migration(self, context: HookContext) -> None:
        self.seen.append(context.dry_run)


def runner(project: Path, conn: psycopg.Connection[Any], policy: Any, spy: Spy) -> Runner:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(spy, name="spy")
    return Runner(conn, load_config(None, cwd=project), Hooks(pm), policy=policy)


def tables(db: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def test_the_policy_decides_what_is_kept(project: Path, database_url: str, db: psycopg.Connection[Any]) -> None:
    write(project / "migrations", "1_a.up.sql", "CREATE TABLE a (id int);\n")
    write(project / "migrations", "2_b.py", "def up(conn):\n    conn.execute('CREATE TABLE b (id int)')\n")
    spy = Spy()
    with psycopg.connect(database_url, autocommit=True) as conn:
        rehearsal = runner(project, conn, RollbackAll(), spy).up()
        assert [r.status for r in rehearsal.results] == ["applied", "applied"]
        assert rehearsal.rolled_back and spy.seen == [True, True]
        assert tables(db) == []  # not even the tracking table
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        spy.seen.clear()
        real = runner(project, conn, CommitEach(), spy)
        assert [m.version for m in real.plan_up(None)] == [1, 2]
        result = real.up()
        assert [r.status for r in result.results] == ["applied", "applied"]
        assert not result.rolled_back and spy.seen == [False, False]
        assert tables(db) == ["a", "b", "confiture_migrations"]
        assert real.plan_up(None) == []


def test_nothing_under_runner_mentions_the_dry_run() -> None:
    """The runner has no dry-run flag or branch: the transaction policy it is given decides."""
    found = [f"{p.name}:{n}" for p in sorted((REPO / "confiture_core" / "runner").glob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if "dry" in line.lower()]
    assert found == []
