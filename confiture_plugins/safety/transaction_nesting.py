"""CF119 safety.transaction-nesting: BEGIN/COMMIT inside a migration the runner wraps in a transaction."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import TransactionStmtKind

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


class TransactionNesting(LintRule):
    code = "CF119"
    name = "safety.transaction-nesting"
    groups = ("safety",)
    squawk = "transaction-nesting"
    summary = "BEGIN/COMMIT inside a migration that the runner already wraps in a transaction"
    explanation = (
        "Confiture runs each migration in its own transaction (together with its hooks and its tracking "
        "row). A `BEGIN` inside it only warns, but a `COMMIT` or `ROLLBACK` ends the runner's transaction "
        "early: the rest runs outside it, and a failure can no longer be rolled back as a whole.\n\n"
        "Instead: remove the transaction statements. A migration that must control its own transactions "
        "starts with `-- confiture: no-transaction`."
    )
    node_types = (ast.TransactionStmt,)
    _NESTING = frozenset({
        TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START,
        TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK,
        TransactionStmtKind.TRANS_STMT_PREPARE, TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED,
        TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED,
    })

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.TransactionStmt)
        if not ctx.in_transaction or node.kind not in self._NESTING:
            return
        word = statement.sql.split(None, 1)[0].upper() if statement.sql.strip() else "BEGIN"
        yield self.violation(
            statement, ctx,
            f"{word} inside a migration the runner already wraps in a transaction: COMMIT/ROLLBACK end the "
            "runner's transaction early and BEGIN is ignored; remove it, or put '-- confiture: no-transaction' "
            "at the top of the file")
