"""The wizard's screen of a migration that failed in the preflight does not call it safe: the failing
statement (an ``ALTER TABLE ... SET NOT NULL`` on a column holding NULLs takes ACCESS EXCLUSIVE) was never
measured, so its risk is not known."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from confiture_core.dryrun import MigrationReport, StatementReport
from confiture_core.migrations import discover
from confiture_core.risk import Risk
from confiture_core.wizard.rewrites import rewrite
from confiture_core.wizard.screen import draw

from ..conftest import write


def test_a_migration_that_failed_in_the_preflight_is_not_called_safe(tmp_path: Path) -> None:
    write(tmp_path / "migrations", "3_nn.up.sql", "SELECT 1;\nALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n")
    m = discover(tmp_path / "migrations")[0]
    ran = StatementReport(1, "SELECT 1", "SelectStmt", True, duration_ms=0.1, rows=1, locks=[], risk=Risk.SAFE,
                          reasons=[])
    error = 'migrations/3_nn.up.sql:2: column "note" of relation "orders" contains null values [23502]'
    report = MigrationReport(3, "nn", "failed", statements=[ran], error=error)
    out = io.StringIO()
    draw(Console(file=out, width=80, no_color=True, force_terminal=False), m, (1, 1), report, [],
         rewrite(m.sql("up").statements))
    text = out.getvalue()
    assert "risk: safe" not in text, text
    flat = " ".join(text.split())  # a long line is wrapped at 80 columns
    assert "risk: not known: it failed in the preflight (what ran before the failure: safe)" in flat, text
    assert "contains null values" in flat, text
    assert all(len(line) <= 80 for line in text.splitlines()), text
