"""A dry run on a copy builds each message's reports while the server runs the next one, and parses the migration
files on the fast path while its blocker watch runs: the same reports as when built at once."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from confiture_core.dryrun import batched
from confiture_core.dryrun.blockers import BlockerWatch
from confiture_core.sql import builds_no_nodes, trusted_parsing

from ..conftest import write
from .test_batched_copy import MIGRATIONS, _copy, _facts, _real, _seed


def _fast_now() -> bool:
    with trusted_parsing() as fast:
        return fast


def test_trusted_parsing_stays_on_beside_the_blocker_watch_only(database_url: str) -> None:
    assert _fast_now()
    watch = BlockerWatch(database_url, 0)
    try:
        watch.arm()  # starts its thread
        assert threading.active_count() >= 2
        assert _fast_now()
        watch.disarm()
    finally:
        watch.close()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # any other thread might build pglast nodes: the fast path is off
    other.start()
    try:
        assert not _fast_now()
    finally:
        stop.set()
        other.join()
    declared = threading.Thread(target=stop.wait)
    builds_no_nodes(declared)
    stop.clear()
    declared.start()
    try:
        assert _fast_now()
    finally:
        stop.set()
        declared.join()


def _looks(monkeypatch: pytest.MonkeyPatch, meanwhile: bool) -> dict[str, int]:
    """Count the messages looked at while the server ran the next one, and at once; ``meanwhile`` false: never
    while the server runs (every report built at once, at the next statement measured alone or at the end)."""
    seen = {"meanwhile": 0, "flush": 0}
    inside = [False]
    real_look, real_meanwhile = batched.BatchedObserver._look, batched.BatchedObserver.meanwhile

    def look(self: Any, msg: Any) -> None:
        seen["meanwhile" if inside[0] else "flush"] += 1
        real_look(self, msg)

    def during(self: Any, busy: Any) -> None:
        if not meanwhile:
            return
        inside[0] = True
        try:
            real_meanwhile(self, busy)
        finally:
            inside[0] = False

    monkeypatch.setattr(batched.BatchedObserver, "_look", look)
    monkeypatch.setattr(batched.BatchedObserver, "meanwhile", during)
    return seen


def test_reports_built_while_the_server_works_are_those_built_at_once(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url)
    for name, body in MIGRATIONS.items():
        write(project / "migrations", name, body)
    # a slow statement in each message gives the client time to look at the message before
    write(project / "migrations", "6_slow.up.sql", "SELECT pg_sleep(0.2);\nCOMMENT ON TABLE t IS 'y';\n")
    write(project / "migrations", "7_slow.up.sql", "SELECT pg_sleep(0.2);\nUPDATE t SET n = 1 WHERE id = 1;\n")
    write(project / "migrations", "8_slow.up.sql", "SELECT pg_sleep(0.2);\nCREATE INDEX t_n2 ON t (n);\n")
    overlapped = _looks(monkeypatch, meanwhile=True)
    rep = _copy(project, database_url)
    monkeypatch.undo()
    assert rep.ok, rep.error
    assert overlapped["meanwhile"] >= 2  # those of 6 and 7, while 7's and 8's sleep
    at_once = _looks(monkeypatch, meanwhile=False)
    again = _copy(project, database_url)
    monkeypatch.undo()
    assert at_once["meanwhile"] == 0 and at_once["flush"] >= 6
    assert [_facts(m) for m in rep.migrations] == [_facts(m) for m in again.migrations]
    real = _real(project, database_url)
    for m in rep.migrations:
        assert _facts(m) == _facts(real[m.version]), m.version


def test_a_failed_migration_leaves_the_reports_of_those_before_it_complete(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url)
    for i in range(1, 5):
        write(project / "migrations", f"{i}_ok.up.sql",
              f"SELECT pg_sleep(0.05);\nALTER TABLE t ADD COLUMN c{i} int;\nUPDATE t SET n = {i} WHERE id = 1;\n")
    write(project / "migrations", "5_bad.up.sql", "SELECT pg_sleep(0.05);\nUPDATE t SET nope = 1;\n")
    seen = _looks(monkeypatch, meanwhile=True)
    rep = _copy(project, database_url)
    monkeypatch.undo()
    assert not rep.ok
    assert seen["meanwhile"] >= 1
    by = {m.version: m for m in rep.migrations}
    assert [len(by[v].statements) for v in range(1, 6)] == [3, 3, 3, 3, 2]
    assert all(("t", "ACCESS EXCLUSIVE") in {(lk.relation, lk.mode) for lk in by[v].statements[1].locks}
               for v in range(1, 5))
    assert by[5].status == "failed" and (by[5].statements[1].note or "").startswith("failed: ")


def test_an_error_building_reports_meanwhile_is_raised_not_lost(
        project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url)
    for i in range(1, 4):
        write(project / "migrations", f"{i}_slow.up.sql", f"SELECT pg_sleep(0.1);\nCOMMENT ON TABLE t IS '{i}';\n")
    calls = [0]
    inside = [False]
    real_report, real_meanwhile = batched.BatchedObserver._report, batched.BatchedObserver.meanwhile

    def report(self: Any, *a: Any) -> None:
        calls[0] += 1
        if inside[0]:
            raise RuntimeError("broken report")
        real_report(self, *a)

    def during(self: Any, busy: Any) -> None:
        inside[0] = True
        try:
            real_meanwhile(self, busy)
        finally:
            inside[0] = False

    monkeypatch.setattr(batched.BatchedObserver, "_report", report)
    monkeypatch.setattr(batched.BatchedObserver, "meanwhile", during)
    with pytest.raises(RuntimeError, match="broken report"):
        _copy(project, database_url)
    assert calls[0] >= 1
