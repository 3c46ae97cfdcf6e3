"""``confiture_core.lint.pool``: chunks shared between this process and forked children."""

from __future__ import annotations

import os

import pytest

from confiture_core.lint import engine, pool
from confiture_core.lint.engine import Linter
from tests.lint.helpers import ALL_RULES, CORPUS

pytestmark = pytest.mark.skipif(not pool.can_fork(), reason="needs os.fork")


def test_results_come_back_in_item_order_whoever_computed_them() -> None:
    items = list(range(1000))
    out = pool.share(items, lambda chunk: [i * i for i in chunk], processes=3, chunks=17)
    assert out == [i * i for i in items]


def test_chunks_of_a_failing_child_are_redone_here() -> None:
    parent = os.getpid()

    def work(chunk: list[int]) -> list[int]:
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return [i + 1 for i in chunk]

    assert pool.share(list(range(300)), work, processes=2, chunks=12) == list(range(1, 301))


def test_a_child_that_dies_is_replaced_by_this_process() -> None:
    parent = os.getpid()

    def work(chunk: list[int]) -> list[int]:
        if os.getpid() != parent:
            os._exit(3)
        return [-i for i in chunk]

    assert pool.share(list(range(50)), work, processes=3, chunks=50) == [-i for i in range(50)]


def test_one_process_and_few_items() -> None:
    assert pool.share([1, 2, 3], lambda c: [x * 2 for x in c], processes=1, chunks=8) == [2, 4, 6]
    assert pool.share([], lambda c: c, processes=2, chunks=8) == []


def test_spawned_pool_where_fork_is_missing_gives_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CORPUS / "ente" / "migrations"
    forked = Linter(ALL_RULES, jobs=2).lint_paths([folder])
    monkeypatch.setattr(pool, "can_fork", lambda: False)
    monkeypatch.setattr(engine, "PARALLEL_MIN_FILES", 2)
    spawned = Linter(ALL_RULES, jobs=2).lint_paths([folder])
    assert spawned.violations == forked.violations and len(spawned.files) == len(forked.files)
