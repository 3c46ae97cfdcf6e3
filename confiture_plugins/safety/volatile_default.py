"""CF104 safety.volatile-default: ADD COLUMN with a volatile default rewrites the table."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import ConstrType

from confiture_core.lint.astutil import ADDED_COLUMN_SUBTYPES, added_columns, column_constraints, strings, walk
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

from ._shared import existing_table

#: Functions whose result does not change within a statement (STABLE or IMMUTABLE
#: in pg_proc.provolatile), so a column default using them is evaluated once and
#: stored in the catalog (PostgreSQL 11+, ALTER TABLE docs, "Notes").
NON_VOLATILE_FUNCTIONS = frozenset({
    "now", "transaction_timestamp", "statement_timestamp", "current_timestamp", "localtimestamp",
    "current_date", "current_time", "current_user", "current_setting", "current_schema", "timezone",
    "to_timestamp", "to_date", "to_char", "make_interval", "make_date", "make_timestamp", "make_timestamptz",
    "lower", "upper", "concat", "coalesce", "jsonb_build_object", "json_build_object", "jsonb_build_array",
    "json_build_array", "to_jsonb", "to_json", "array_fill", "date_trunc", "length", "abs", "greatest",
    "least", "round", "trim", "btrim", "md5", "replace", "substring", "substr", "encode", "decode",
})


#: Functions known to be VOLATILE (pg_proc.provolatile = 'v').
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_generate_v1", "uuid_generate_v1mc",
    "uuid_generate_v4", "clock_timestamp", "timeofday", "nextval", "setseed", "txid_current",
    "gen_random_bytes", "pg_current_xact_id",
})


#: Functions that take no argument: called with one, they do not exist (so nothing is known of them).
_NO_ARGUMENT = frozenset({"now", "transaction_timestamp", "statement_timestamp", "current_schema"})


def _default_volatility(expr: ast.Node | None) -> str | None:
    """``None`` when a default is constant or non-volatile, else the offending function's name."""
    if isinstance(expr, ast.A_Const):  # a literal (the usual default): nothing to walk
        return None
    for n in walk(expr):
        if isinstance(n, ast.FuncCall):
            fname = (strings(n.funcname) or ["?"])[-1].lower()
            if fname in VOLATILE_FUNCTIONS or fname not in NON_VOLATILE_FUNCTIONS \
                    or (fname in _NO_ARGUMENT and n.args):
                return fname
        elif isinstance(n, ast.SubLink):
            return "a subquery"
    return None


class AddColumnDefault(LintRule):
    code = "CF104"
    name = "safety.volatile-default"
    groups = ("safety",)
    squawk = "adding-field-with-default"
    summary = "ADD COLUMN with a volatile default (any default before PostgreSQL 11) rewrites the table"
    explanation = (
        "Since PostgreSQL 11, `ADD COLUMN ... DEFAULT` with a non-volatile default only updates the "
        "catalog (ALTER TABLE docs, \"Notes\"). A volatile default (`random()`, `gen_random_uuid()`, "
        "`clock_timestamp()`, `nextval()`, or a function not known to be stable), a stored generated column, "
        "and any default before 11 make PostgreSQL rewrite the whole table under an ACCESS EXCLUSIVE lock. "
        "A virtual generated column (PostgreSQL 18, the default kind there) is computed when read and "
        "is not reported.\n\n"
        "Instead: add the column without a default (or with a constant one), set the default with "
        "`ALTER COLUMN ... SET DEFAULT` for new rows, and backfill existing rows in batches."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = ADDED_COLUMN_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = existing_table(statement.node, ctx)
        if table is None:
            return
        for _cmd, col in added_columns(statement.node):
            for c in column_constraints(col):
                if c.contype == ConstrType.CONSTR_GENERATED:
                    if c.generated_kind == "v" and ctx.pg_version >= 18:
                        continue  # a virtual column is computed when read: nothing to write
                    yield self.violation(
                        statement, ctx,
                        f"adding the stored generated column {col.colname} computes it for every row: "
                        f"{table} is rewritten under an ACCESS EXCLUSIVE lock that blocks reads and writes; "
                        "add a plain column and backfill it in batches (or a virtual column on PostgreSQL 18)",
                        location=c.location)
                    continue
                if c.contype != ConstrType.CONSTR_DEFAULT or c.raw_expr is None:
                    continue
                if ctx.pg_version < 11:
                    yield self.violation(
                        statement, ctx,
                        f"before PostgreSQL 11, adding {col.colname} with a DEFAULT rewrites {table} under an "
                        "ACCESS EXCLUSIVE lock that blocks reads and writes; add the column without a default, "
                        "then SET DEFAULT and backfill in batches", location=c.location)
                    continue
                fn = _default_volatility(c.raw_expr)
                if fn is not None:
                    known = fn in VOLATILE_FUNCTIONS
                    why = f"the default calls {fn}(), which is {'volatile' if known else 'not known to be stable'}"
                    yield self.violation(
                        statement, ctx,
                        f"adding {col.colname} to {table}: {why}, so PostgreSQL rewrites the table under an "
                        "ACCESS EXCLUSIVE lock that blocks reads and writes; add the column without that "
                        "default, SET DEFAULT afterwards, and backfill existing rows in batches",
                        location=c.location)
