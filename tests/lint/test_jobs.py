"""How many processes a lint run uses by default: the idle CPUs (``pool.idle_cpus``)."""

from __future__ import annotations

import os

import pytest

from confiture_core.lint import pool
from confiture_core.lint.engine import Linter


@pytest.mark.parametrize(("cpus", "load", "jobs"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 11.0, 1), (8, 3.2, 5), (8, 0.0, 8), (1, 0.0, 1),
])
def test_idle_cpus(monkeypatch: pytest.MonkeyPatch, cpus: int, load: float, jobs: int) -> None:
    monkeypatch.setattr(pool, "cpu_count", lambda: cpus)
    monkeypatch.setattr(pool, "runnable_now", lambda: None)  # no instant count: the minute's average
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert pool.idle_cpus() == jobs


def test_unknown_load_uses_every_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def unknown() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(pool, "cpu_count", lambda: 4)
    monkeypatch.setattr(pool, "runnable_now", lambda: None)  # no instant count: the minute's average
    monkeypatch.setattr(os, "getloadavg", unknown)
    assert pool.idle_cpus() == 4
    monkeypatch.delattr(os, "getloadavg")
    assert pool.idle_cpus() == 4


def test_linter_default_and_explicit_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "idle_cpus", lambda: 3)
    assert Linter([]).jobs == 3
    assert Linter([], jobs=1).jobs == 1
