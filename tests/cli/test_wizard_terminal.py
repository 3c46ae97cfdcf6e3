"""`migrate up --interactive` (the wizard) in a pseudo-terminal at 80 columns: every choice, NO_COLOR, Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ..conftest import write
from .terminal import Session, Terminal

CHOICES = rb"\[q\] quit \? "
CONFIRM = rb"\[y/N\] "


def risky_index(project: Path, db: psycopg.Connection[Any]) -> Path:
    db.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint); "
               "INSERT INTO orders SELECT g, g % 100 FROM generate_series(1, 5000) g")
    return write(project / "migrations", "10_index_orders.up.sql",
                 "CREATE INDEX orders_customer ON orders (customer_id);\n")


def drive(term: Terminal, steps: list[tuple[bytes, str]]) -> Session:
    """Start the wizard, and for each (pattern, key): wait for the pattern, press the key."""
    args = ["migrate", "up", "--interactive"]
    child = term.spawn(*args)
    seen = b""
    for pattern, key in steps:
        child.expect(pattern)
        seen += (child.before or b"") + child.after
        if key == "^C":
            child.sendintr()
        else:
            child.send(key)  # one key, no Enter: [y/N] too
    return term.finish(child, args, seen)


@pytest.mark.parametrize("no_color", [False, True])
def test_every_choice_then_the_rewrite_applies(project: Path, db: psycopg.Connection[Any], no_color: bool) -> None:
    path = risky_index(project, db)
    s = drive(Terminal(project, cols=80, no_color=no_color), [
        (CHOICES, "s"), (CHOICES, "d"), (CHOICES, "x"), (CHOICES, "r"), (CONFIRM, "n"),
        (CHOICES, "r"), (CONFIRM, "y"), (CHOICES, "a")])
    s.assert_sane(no_color=no_color)
    s.assert_on_screen("1/1 · 10 index_orders", "risk: blocks-writes", "SHARE on orders",
                       "[a] apply", "[r] rewrite safely", "[s] show SQL", "[d] details", "[q] quit",
                       "CREATE INDEX orders_customer ON orders (customer_id);",  # [s]
                       "locks: SHARE on orders",  # [d]
                       "press one of:",  # a wrong key
                       "+CREATE INDEX CONCURRENTLY orders_customer ON orders (customer_id);",  # the diff
                       "preflight of the rewrite", "promised: at most SHARE UPDATE EXCLUSIVE",
                       "rewrite discarded: the migrations folder is unchanged",
                       "wrote 10_index_orders.up.sql", "risk: safe", "applied 10 index_orders",
                       "summary", "rewritten: 10 index_orders -> 10",
                       "a pipeline applies the migrations folder with: confiture migrate up --yes")
    assert path.read_text().startswith("-- confiture: no-transaction\nCREATE INDEX CONCURRENTLY")
    assert not (project / ".confiture" / "wizard" / "10").exists()  # the draft is gone
    assert db.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'orders_customer'::regclass"
                      ).fetchone() == (True,)


def test_quit_leaves_everything_pending(project: Path, db: psycopg.Connection[Any]) -> None:
    path = risky_index(project, db)
    before = path.read_text()
    s = drive(Terminal(project, cols=80, no_color=True), [(CHOICES, "q")])
    s.assert_sane(no_color=True)
    s.assert_on_screen("applied: none", "left pending: 10 index_orders")
    assert path.read_text() == before
    assert db.execute("SELECT to_regclass('orders_customer')").fetchone() == (None,)


def test_ctrl_c_at_the_choice(project: Path, db: psycopg.Connection[Any]) -> None:
    risky_index(project, db)
    s = drive(Terminal(project, cols=80), [(CHOICES, "^C")])
    s.assert_sane(expect_code=1)
    s.assert_on_screen("left pending: 10 index_orders", "cancelled, nothing changed")
    assert db.execute("SELECT to_regclass('orders_customer')").fetchone() == (None,)


def test_guidance_for_a_rename_and_no_rewrite_offered(project: Path, db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE TABLE orders (id bigint, legacy text)")
    write(project / "migrations", "10_rename.up.sql", "ALTER TABLE orders RENAME COLUMN legacy TO code;\n")
    s = drive(Terminal(project, cols=80), [(CHOICES, "r"), (CHOICES, "a")])
    s.assert_sane()
    s.assert_on_screen("expand/contract (no automatic rewrite):", "no safe rewrite for this migration",
                       "applied 10 rename")
    assert "[r] rewrite safely" not in s.screen


def test_interactive_with_json_is_a_usage_error(project: Path, db: psycopg.Connection[Any]) -> None:
    from ..conftest import run_cli

    risky_index(project, db)
    r = run_cli("migrate", "up", "--interactive", "--format", "json", cwd=project)
    assert r.code == 2 and "does not go with --format json" in r.stderr


def test_ctrl_c_after_an_apply_says_what_was_applied_and_what_is_left(project: Path,
                                                                     db: psycopg.Connection[Any]) -> None:
    """Regression: the summary said "left pending: none" and the error "nothing was applied" / "the one in
    progress rolled back" after some migrations were applied and none was running."""
    risky_index(project, db)
    write(project / "migrations", "20_drop.up.sql", "DROP TABLE IF EXISTS audit_log;\n")
    s = drive(Terminal(project, cols=80), [(CHOICES, "a"), (CHOICES, "^C")])
    s.assert_sane(expect_code=1)
    s.assert_on_screen("applied: 10 index_orders", "left pending: 20 drop",
                       "cancelled: 1 migration applied before it")
    assert "rolled back" not in s.screen and "nothing was applied" not in s.screen
