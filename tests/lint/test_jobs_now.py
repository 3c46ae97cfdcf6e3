"""The default process count weighs the processes runnable now (``/proc/loadavg``), not the minute's average."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confiture_core.lint import pool


def _loadavg(tmp_path: Path, text: str) -> str:
    f = tmp_path / "loadavg"
    f.write_text(text)
    return str(f)


@pytest.mark.parametrize(("field", "others"), [("1/190", 0), ("2/190", 1), ("9/400", 8), ("0/12", 0)])
def test_runnable_now_leaves_this_process_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str,
                                              others: int) -> None:
    monkeypatch.setattr(pool, "LOADAVG_FILE", _loadavg(tmp_path, f"1.95 1.20 0.80 {field} 6149\n"))
    assert pool.runnable_now() == others


@pytest.mark.parametrize("text", ["", "1.0 2.0\n", "1.0 2.0 3.0 x/10 1\n"])
def test_runnable_now_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(pool, "LOADAVG_FILE", _loadavg(tmp_path, text))
    assert pool.runnable_now() is None
    monkeypatch.setattr(pool, "LOADAVG_FILE", str(tmp_path / "missing"))
    assert pool.runnable_now() is None


def test_the_instant_count_wins_over_the_minute_average(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a bench or a script running commands one after another: the minute's average says one CPU is busy,
    # yet nothing else runs now
    monkeypatch.setattr(pool, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    monkeypatch.setattr(pool, "LOADAVG_FILE", _loadavg(tmp_path, "1.00 1.00 1.00 1/190 6149\n"))
    assert pool.idle_cpus() == 2
    # eight other jobs running now: one process, whatever the average says
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(pool, "LOADAVG_FILE", _loadavg(tmp_path, "0.00 0.00 0.00 9/400 6149\n"))
    assert pool.idle_cpus() == 1


def test_the_minute_average_where_no_instant_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "cpu_count", lambda: 8)
    monkeypatch.setattr(pool, "LOADAVG_FILE", str(tmp_path / "missing"))
    monkeypatch.setattr(os, "getloadavg", lambda: (3.2, 3.2, 3.2))
    assert pool.idle_cpus() == 5
