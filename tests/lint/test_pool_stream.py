"""``confiture_core.lint.pool``: each child sends every chunk's results as it finishes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from confiture_core.lint import pool

pytestmark = pytest.mark.skipif(not pool.can_fork(), reason="needs os.fork")


def test_results_many_times_the_pipe_come_back_whole() -> None:
    # ~8 MB of results in all: far more than a pipe holds, with this process busy meanwhile
    items = list(range(400))
    out = pool.share(items, lambda chunk: [str(i) * 5000 for i in chunk], processes=3, chunks=40)
    assert out == [str(i) * 5000 for i in items]


def test_the_chunks_a_child_sent_before_dying_are_kept_and_the_rest_redone(tmp_path: Path) -> None:
    parent = os.getpid()
    log = os.path.join(tmp_path, "done-by")

    def work(chunk: list[int]) -> list[tuple[int, int]]:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        if os.getpid() != parent and chunk[0] % 7 == 3:  # a child dies in the middle of its chunks
            os._exit(9)
        return [(i, i * 3) for i in chunk]

    out = pool.share(list(range(60)), work, processes=2, chunks=20)
    assert out == [(i, i * 3) for i in range(60)]
    with open(log) as f:
        runs = f.read().split()
    # every chunk ran once, and once more only for the one the child died in
    assert len(runs) in (20, 21)
