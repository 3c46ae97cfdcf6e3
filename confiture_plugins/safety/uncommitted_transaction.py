"""CF134 safety.uncommitted-transaction: a BEGIN with no COMMIT or ROLLBACK after it."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import TransactionStmtKind

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

_BEGINS = frozenset({TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START})
_ENDS = frozenset({TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
                   TransactionStmtKind.TRANS_STMT_PREPARE})


def _unfinished_begin(ctx: LintContext) -> int | None:
    """The index of the last ``BEGIN``/``START TRANSACTION`` that no ``COMMIT``/``ROLLBACK`` follows."""
    last: int | None = None
    for st in ctx.statements:
        node = st.node
        if isinstance(node, ast.TransactionStmt):
            if node.kind in _BEGINS:
                last = st.index
            elif node.kind in _ENDS:
                last = None
    return last


class UncommittedTransaction(LintRule):
    code = "CF134"
    name = "safety.uncommitted-transaction"
    groups = ("safety",)
    squawk = "ban-uncommitted-transaction"
    summary = "BEGIN with no COMMIT or ROLLBACK after it in the file"
    explanation = (
        "A transaction the file opens and never ends is left to whoever uses the connection next: in a "
        "`-- confiture: no-transaction` migration the runner's following statements (its tracking row) "
        "run inside it, and when the session ends PostgreSQL rolls it back (BEGIN docs; COMMIT docs), so "
        "the migration's work is silently lost or committed by accident. In a file the runner wraps in its "
        "own transaction the BEGIN is ignored (CF119) and the file's intent is unclear; it is reported too, "
        "as squawk does.\n\nInstead: end every "
        "`BEGIN`/`START TRANSACTION` with `COMMIT` (or `ROLLBACK`) in the same file, or drop the "
        "transaction statements and let the runner wrap the file in its own transaction."
    )
    node_types = (ast.TransactionStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.TransactionStmt)
        if node.kind not in _BEGINS:
            return
        if "open" not in ctx.state:
            ctx.state["open"] = _unfinished_begin(ctx)
        if ctx.state["open"] != statement.index:
            return
        if ctx.in_transaction:
            why = ("inside the runner's transaction BEGIN is ignored, so the file's own transaction boundaries "
                   "are not what they say; remove BEGIN (the runner commits the file) or end it with COMMIT")
        else:
            why = ("its work is lost (rolled back when the session ends) or committed by accident with whatever "
                   "runs next on the connection; add COMMIT at the end")
        yield self.violation(statement, ctx, f"this transaction is never committed or rolled back in the file: {why}")
