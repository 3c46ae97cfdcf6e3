"""The console script's garbage-collector tuning for a lint process (``gctune.for_lint_process``, ``settle``)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from confiture_core.lint import gctune
from confiture_core.lint.replay import is_lint


def test_settle_does_nothing_in_a_process_not_tuned() -> None:
    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    gctune.settle()
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before


def test_a_lint_process_collects_nothing_until_settled_then_leaves_start_up_out() -> None:
    # a process of its own: the tuning is for a whole process, never for this test run
    code = (
        "import gc; from confiture_core.lint import gctune\n"
        "gctune.for_lint_process()\n"
        "assert not gc.isenabled()\n"
        "import confiture_core.lint.engine\n"
        "gctune.settle()\n"
        "assert gc.isenabled() and gc.get_threshold()[0] == gctune.GC_THRESHOLD, gc.get_threshold()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "n = gc.get_freeze_count(); gctune.settle(); assert gc.get_freeze_count() == n  # once\n"
        "with gctune.relaxed_gc():\n"
        "    assert gc.get_threshold()[0] == gctune.GC_THRESHOLD\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_relaxed_gc_restores_the_thresholds() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with gctune.relaxed_gc():
            assert gc.get_threshold() == (gctune.GC_THRESHOLD, 10, 10)
            with gctune.relaxed_gc():  # nested: already relaxed, left as it is
                assert gc.get_threshold() == (gctune.GC_THRESHOLD, 10, 10)
            assert gc.get_threshold() == (gctune.GC_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
        with pytest.raises(KeyError), gctune.relaxed_gc():
            raise KeyError("x")
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*saved)


@pytest.mark.parametrize(("argv", "lint"), [
    (["lint"], True), (["-C", "proj", "lint", "--no-cache"], True), (["--project=p", "-v", "lint"], True),
    (["--config", "lint", "migrate", "up"], False), (["migrate", "new", "lint"], False), (["-p", "lint"], False),
    (["-p", "m", "lint"], True), ([], False),
])
def test_is_lint_reads_the_command_word(argv: list[str], lint: bool) -> None:
    assert is_lint(argv) is lint
