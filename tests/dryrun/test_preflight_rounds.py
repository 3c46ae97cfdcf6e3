"""The preflight's timed applies go on past five rounds only while a scaled statement's per-row part is unresolved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from confiture_core.config import load_config
from confiture_core.dryrun import measure as measure_module
from confiture_core.dryrun import preflight
from confiture_core.dryrun.measure import no_plugins
from confiture_core.dryrun.sample import SampleSpec
from confiture_core.dryrun.shadow import ShadowServer
from confiture_core.migrations import discover

from ..conftest import Server, write


@pytest.mark.parametrize(("per_row_resolved", "rounds"), [(False, 3), (True, 2)])
def test_rounds_follow_the_resolution(project: Path, database_url: str, pg_server: Server,
                                      db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch,
                                      per_row_resolved: bool, rounds: int) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 3000) g")
    db.execute("ANALYZE t")
    write(project / "migrations", "001_a.up.sql", "UPDATE t SET a = a + 1;\nCREATE TABLE x (id int);\n")
    config = load_config(cwd=project)
    asked: list[tuple[int, int]] = []
    applies: list[int] = []
    real = measure_module.timed_apply

    def judged(full: Sequence[float], empty: Sequence[float]) -> bool:
        asked.append((len(full), len(empty)))
        return per_row_resolved

    def counted(*args: Any, **kwargs: Any) -> dict[tuple[int, int], float]:
        applies.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(preflight, "REPEATS", 2)
    monkeypatch.setattr(preflight, "MAX_REPEATS", 3)
    monkeypatch.setattr(preflight, "resolved", judged)
    monkeypatch.setattr(measure_module, "timed_apply", counted)
    report = preflight.shadow_dry_run(db, database_url, ShadowServer(pg_server.url("postgres"), "test server"),
                                      config, no_plugins(), spec=SampleSpec(percent=50.0), spec_text="50%",
                                      migrations=discover(config.migrations_dir))
    assert len(applies) == 4 * rounds  # four sample sizes per round
    # only the UPDATE (a table the sample thins) is judged, with the full sample's and the emptied copy's repeats
    assert asked == [(2, 2)]  # asked once after the two rounds; with three done, the bound ends it unasked
    update = report.migrations[0].statements[0]
    assert update.predicted_ms is not None and update.target_rows == 3000


def test_a_statement_that_does_not_rewrite_is_not_waited_for(project: Path, database_url: str, pg_server: Server,
                                                             db: psycopg.Connection[Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # ADD COLUMN with a constant default is of the rewrite kind but does not rewrite (the dry run says so): it
    # has no per-row part, and extra rounds asked for it would all be spent in vain
    db.execute("CREATE TABLE t (id int PRIMARY KEY, a int)")
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 3000) g")
    db.execute("ANALYZE t")
    write(project / "migrations", "001_a.up.sql",
          "ALTER TABLE t ADD COLUMN b int DEFAULT 0;\nUPDATE t SET a = a + 1;\n")
    config = load_config(cwd=project)
    seen: list[set[tuple[int, int]]] = []
    real = preflight._measured_sizes

    def spy(*args: Any) -> Any:
        seen.append(set(args[-1]))
        return real(*args)

    monkeypatch.setattr(preflight, "REPEATS", 1)
    monkeypatch.setattr(preflight, "MAX_REPEATS", 1)
    monkeypatch.setattr(preflight, "_measured_sizes", spy)
    preflight.shadow_dry_run(db, database_url, ShadowServer(pg_server.url("postgres"), "test server"), config,
                             no_plugins(), spec=SampleSpec(percent=50.0), spec_text="50%",
                             migrations=discover(config.migrations_dir))
    assert seen == [{(1, 1)}]
