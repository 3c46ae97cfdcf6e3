"""The wizard ended by Ctrl-D or Ctrl-C at a question: cancelled cleanly, saying what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import write
from .terminal import Terminal
from .test_wizard_terminal import CHOICES, CONFIRM, drive, risky_index

CTRL_D = "\x04"


@pytest.mark.parametrize("key", [CTRL_D, "^C"])
def test_ctrl_d_or_ctrl_c_at_the_choice_cancels_nothing_changed(project: Path, db: psycopg.Connection[Any],
                                                                key: str) -> None:
    path = risky_index(project, db)
    before = path.read_text()
    s = drive(Terminal(project, cols=80, no_color=True), [(CHOICES, key)])
    s.assert_sane(no_color=True, expect_code=1)
    s.assert_on_screen("applied: none", "left pending: 10 index_orders", "error: cancelled, nothing changed")
    assert "interrupted" not in s.screen and "no answer at the prompt" not in s.screen
    assert path.read_text() == before
    assert db.execute("SELECT to_regclass('orders_customer')").fetchone() == (None,)


def test_ctrl_d_after_an_apply_says_what_was_applied(project: Path, db: psycopg.Connection[Any]) -> None:
    risky_index(project, db)
    write(project / "migrations", "20_drop.up.sql", "DROP TABLE IF EXISTS audit_log;\n")
    s = drive(Terminal(project, cols=80), [(CHOICES, "a"), (CHOICES, CTRL_D)])
    s.assert_sane(expect_code=1)
    s.assert_on_screen("applied: 10 index_orders", "left pending: 20 drop",
                       "cancelled: 1 migration applied before it")
    assert "nothing changed" not in s.screen and "interrupted" not in s.screen
    assert db.execute("SELECT count(*) FROM confiture_migrations WHERE success").fetchone() == (1,)


def test_ctrl_d_at_the_rewrite_question_discards_the_draft(project: Path, db: psycopg.Connection[Any]) -> None:
    path = risky_index(project, db)
    before = sorted(p.name for p in (project / "migrations").iterdir())
    s = drive(Terminal(project, cols=80), [(CHOICES, "r"), (CONFIRM, CTRL_D)])
    s.assert_sane(expect_code=1)
    s.assert_on_screen("error: cancelled, nothing changed")
    assert sorted(p.name for p in (project / "migrations").iterdir()) == before
    assert path.read_text() == "CREATE INDEX orders_customer ON orders (customer_id);\n"
    assert not (project / ".confiture" / "wizard" / "10").exists()
