"""astutil.transactions / same_transaction: which statements of a file share a transaction."""

from __future__ import annotations

from confiture_core.lint.astutil import same_transaction, transactions
from confiture_core.lint.rule import LintContext
from confiture_core.sql import parse_sql_text


def _ctx(sql: str, in_transaction: bool) -> LintContext:
    stmts = parse_sql_text(sql, "1_m.up.sql").statements
    return LintContext(path="1_m.up.sql", text=sql, statements=stmts, index=0, in_transaction=in_transaction,
                       pg_version=18, config={})


def test_runner_transaction_spans_the_file_until_a_commit() -> None:
    ctx = _ctx("SELECT 1; BEGIN; SELECT 2; COMMIT; SELECT 3; SELECT 4;", True)
    assert transactions(ctx) == [0, 0, 0, 0, None, None]
    assert same_transaction(ctx, 0, 2) and not same_transaction(ctx, 2, 4) and not same_transaction(ctx, 4, 5)


def test_autocommit_file_with_explicit_transactions() -> None:
    ctx = _ctx("SELECT 1; BEGIN; SELECT 2; BEGIN; COMMIT; SELECT 3; START TRANSACTION; SELECT 4; ROLLBACK;", False)
    assert transactions(ctx) == [None, 1, 1, 1, 1, None, 2, 2, 2]
    assert same_transaction(ctx, 1, 4) and not same_transaction(ctx, 2, 7) and not same_transaction(ctx, 0, 5)
    assert same_transaction(ctx, 5, 5)


def test_answer_follows_the_file_and_its_mode() -> None:
    sql = "SELECT 1; SELECT 2;"
    assert transactions(_ctx(sql, True)) == [0, 0]
    assert transactions(_ctx(sql, False)) == [None, None]
