"""Built-in lint rules, group ``safety`` (CF1xx): statements that lock, rewrite or break.

On by default. The catalogue follows squawk's (each rule's ``squawk`` attribute
names the equivalent squawk rule) and adds VACUUM FULL/CLUSTER and identifier
length. Lock levels are from the PostgreSQL documentation, chapter 13.3
"Explicit Locking" (table-level lock modes and which commands take them) and the
reference page of each command (``ALTER TABLE``, ``CREATE INDEX``...).

Statements on a table created earlier in the same file are not reported by the
rules about locks and rewrites: nobody else can see or hold that table yet.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence

from pglast import ast
from pglast.enums import (
    AlterTableType,
    ConstrType,
    DropBehavior,
    NullTestType,
    ObjectType,
    ReindexObjectType,
    TransactionStmtKind,
)
from pglast.parser import ParseError, scan

from confiture_core.hookspecs import hookimpl
from confiture_core.lint.astutil import (
    ADDED_COLUMN_SUBTYPES,
    CHANGED_TYPE_SUBTYPES,
    NEW_CONSTRAINT_SUBTYPES,
    added_columns,
    alter_cmds,
    changed_column_types,
    column_constraints,
    defined_columns,
    display,
    new_constraints,
    strings,
    table_key,
    type_name,
    walk,
)
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

PG_LOCKS = "https://www.postgresql.org/docs/current/explicit-locking.html"


_existing_memo: tuple[object, object, int, str | None] = (None, None, -1, None)


def _existing_table(node: ast.Node, ctx: LintContext) -> str | None:
    """``schema.table`` of an ALTER TABLE's target unless created earlier in the file.

    Computed once per statement: a dozen rules ask for the same statement in turn.
    """
    global _existing_memo
    memo = _existing_memo
    if memo[0] is node and memo[1] is ctx and memo[2] == len(ctx.created_tables):
        return memo[3]
    found: str | None = None
    if isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE:
        key = table_key(node.relation)
        if key is not None and not ctx.table_created_earlier(*key):
            found = display(key)
    _existing_memo = (node, ctx, len(ctx.created_tables), found)
    return found


class ConcurrentIndex(LintRule):
    code = "CF101"
    name = "safety.concurrent-index"
    groups = ("safety",)
    squawk = "require-concurrent-index-creation"
    summary = "CREATE INDEX without CONCURRENTLY blocks writes to the table while the index builds"
    explanation = (
        "A plain `CREATE INDEX` takes a SHARE lock on the table (PostgreSQL docs, CREATE INDEX, "
        "\"Building Indexes Concurrently\"): reads go on but every INSERT, UPDATE and DELETE waits until "
        "the build finishes, which on a large table means minutes of failed writes.\n\n"
        "Instead: `CREATE INDEX CONCURRENTLY`, alone in its migration (it cannot run in a transaction "
        "block, so Confiture runs such a file in autocommit). If it fails it leaves an INVALID index: "
        "drop it and retry. An index on a table created earlier in the same file is not reported."
    )
    node_types = (ast.IndexStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.IndexStmt)
        key = table_key(node.relation)
        if node.concurrent or key is None or ctx.table_created_earlier(*key):
            return
        idx = f"index {node.idxname} " if node.idxname else "an index "
        yield self.violation(
            statement, ctx,
            f"creating {idx}on {display(key)} without CONCURRENTLY takes a SHARE lock that blocks all writes "
            f"to the table until the build ends; use CREATE INDEX CONCURRENTLY in a migration of its own",
        )


class ConcurrentIndexDrop(LintRule):
    code = "CF102"
    name = "safety.concurrent-index-drop"
    groups = ("safety",)
    squawk = "require-concurrent-index-deletion"
    summary = "DROP INDEX without CONCURRENTLY blocks reads and writes of the table"
    explanation = (
        "`DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table (PostgreSQL docs, DROP INDEX), "
        "so it waits for every running query on the table and blocks all new ones meanwhile.\n\n"
        "Instead: `DROP INDEX CONCURRENTLY`, alone in its migration (not in a transaction block)."
    )
    node_types = (ast.DropStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropStmt)
        if node.removeType != ObjectType.OBJECT_INDEX or node.concurrent:
            return
        names = ", ".join(".".join(strings(o)) for o in node.objects or ())
        yield self.violation(
            statement, ctx,
            f"DROP INDEX {names} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on its table, blocking "
            f"reads and writes; use DROP INDEX CONCURRENTLY in a migration of its own",
        )


class ConcurrentReindex(LintRule):
    code = "CF103"
    name = "safety.concurrent-reindex"
    groups = ("safety",)
    summary = "REINDEX without CONCURRENTLY blocks writes (and reads that use the index)"
    explanation = (
        "`REINDEX` locks out writes to the table and takes an ACCESS EXCLUSIVE lock on each index it "
        "rebuilds (PostgreSQL docs, REINDEX).\n\nInstead: `REINDEX ... CONCURRENTLY` (PostgreSQL 12+), "
        "alone in its migration. Before 12: `CREATE INDEX CONCURRENTLY` a copy, then "
        "`DROP INDEX CONCURRENTLY` the old one."
    )
    node_types = (ast.ReindexStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.ReindexStmt)
        if any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ()):
            return
        if node.kind == ReindexObjectType.REINDEX_OBJECT_SYSTEM:
            return  # system catalogs cannot be reindexed concurrently
        fix = ("use REINDEX ... CONCURRENTLY in a migration of its own" if ctx.pg_version >= 12 else
               "before PostgreSQL 12 build a copy with CREATE INDEX CONCURRENTLY and drop the old index "
               "with DROP INDEX CONCURRENTLY")
        yield self.violation(statement, ctx, f"REINDEX without CONCURRENTLY blocks writes to the table; {fix}")


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


def _default_volatility(expr: ast.Node | None) -> str | None:
    """``None`` when a default is constant or non-volatile, else the offending function's name."""
    if isinstance(expr, ast.A_Const):  # a literal (the usual default): nothing to walk
        return None
    for n in walk(expr):
        if isinstance(n, ast.FuncCall):
            fname = (strings(n.funcname) or ["?"])[-1].lower()
            if fname in VOLATILE_FUNCTIONS or fname not in NON_VOLATILE_FUNCTIONS:
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
        "`clock_timestamp()`, `nextval()`), a stored generated column, and any default before 11 make "
        "PostgreSQL rewrite the whole table under an ACCESS EXCLUSIVE lock.\n\n"
        "Instead: add the column without a default (or with a constant one), set the default with "
        "`ALTER COLUMN ... SET DEFAULT` for new rows, and backfill existing rows in batches."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = ADDED_COLUMN_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for _cmd, col in added_columns(statement.node):
            for c in column_constraints(col):
                if c.contype == ConstrType.CONSTR_GENERATED:
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


def _is_not_null_check(expr: ast.Node | None) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``, else ``None``."""
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == NullTestType.IS_NOT_NULL \
            and isinstance(expr.arg, ast.ColumnRef):
        parts = strings(expr.arg.fields)
        return parts[-1] if parts else None
    return None


class SetNotNull(LintRule):
    code = "CF105"
    name = "safety.set-not-null"
    groups = ("safety",)
    squawk = "adding-not-nullable-field"
    summary = "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ALTER COLUMN ... SET NOT NULL` checks every row while holding an ACCESS EXCLUSIVE lock. Since "
        "PostgreSQL 12 the scan is skipped when a valid CHECK constraint proves the column has no NULLs "
        "(ALTER TABLE docs, SET/DROP NOT NULL).\n\nInstead (PostgreSQL 12+): "
        "`ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID`; `VALIDATE CONSTRAINT c` (a weaker SHARE "
        "UPDATE EXCLUSIVE lock); then `SET NOT NULL`; then `DROP CONSTRAINT c`. No finding is reported "
        "when such a validated check precedes SET NOT NULL in the same file. PostgreSQL 18 can also "
        "add `NOT NULL ... NOT VALID` constraints directly."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_AddConstraint, AlterTableType.AT_ValidateConstraint,
                                AlterTableType.AT_SetNotNull})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.AlterTableStmt)
        key = table_key(node.relation)
        pending: dict[str, tuple[object, str]] = ctx.state.setdefault("pending", {})
        validated: set[tuple[object, str]] = ctx.state.setdefault("validated", set())
        tkey = key[1] if key else None
        for cmd in alter_cmds(node):
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype == ConstrType.CONSTR_CHECK:
                col = _is_not_null_check(cmd.def_.raw_expr)
                if col is not None:
                    if cmd.def_.skip_validation:
                        if cmd.def_.conname:
                            pending[cmd.def_.conname] = (tkey, col)
                    else:
                        validated.add((tkey, col))
            elif cmd.subtype == AlterTableType.AT_ValidateConstraint and cmd.name in pending:
                validated.add(pending[cmd.name])
        table = _existing_table(node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(node):
            if cmd.subtype != AlterTableType.AT_SetNotNull or cmd.name is None:
                continue
            if ctx.pg_version >= 12 and (tkey, cmd.name) in validated:
                continue
            if ctx.pg_version >= 12:
                fix = (f"first ADD CONSTRAINT ... CHECK ({cmd.name} IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it, "
                       "then SET NOT NULL (no scan on PostgreSQL 12+) and drop the check")
            else:
                fix = ("before PostgreSQL 12 no constraint avoids the scan: keep a validated "
                       f"CHECK ({cmd.name} IS NOT NULL) NOT VALID constraint instead of NOT NULL")
            yield self.violation(
                statement, ctx,
                f"SET NOT NULL on {table}.{cmd.name} scans every row under an ACCESS EXCLUSIVE lock that blocks "
                f"reads and writes; {fix}")


class AddRequiredColumn(LintRule):
    code = "CF106"
    name = "safety.required-column"
    groups = ("safety",)
    squawk = "adding-required-field"
    summary = "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows"
    explanation = (
        "Existing rows get NULL in a new column, so `NOT NULL` without a `DEFAULT` makes the statement "
        "fail as soon as the table has a row (ALTER TABLE docs, ADD COLUMN).\n\nInstead: add the column "
        "nullable (or with a constant default), backfill it, then make it NOT NULL as CF105 explains."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = ADDED_COLUMN_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for _cmd, col in added_columns(statement.node):
            kinds = {c.contype for c in column_constraints(col)}
            if ConstrType.CONSTR_NOTNULL in kinds or ConstrType.CONSTR_PRIMARY in kinds:
                if kinds & {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}:
                    continue
                if type_name(col.typeName) in ("serial", "bigserial", "smallserial", "serial4", "serial8",
                                               "serial2"):
                    continue
                yield self.violation(
                    statement, ctx,
                    f"adding {col.colname} NOT NULL without a DEFAULT to {table} fails if the table has any row; "
                    "add it nullable or with a constant DEFAULT, backfill, then set NOT NULL safely")


class UniqueConstraint(LintRule):
    code = "CF107"
    name = "safety.unique-constraint"
    groups = ("safety",)
    squawk = "disallowed-unique-constraint"
    summary = "Adding a UNIQUE or PRIMARY KEY constraint builds its index under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ADD CONSTRAINT ... UNIQUE` (or `PRIMARY KEY`) builds a new index while holding an ACCESS "
        "EXCLUSIVE lock, blocking reads and writes for the whole build (ALTER TABLE docs, ADD "
        "table_constraint).\n\nInstead: `CREATE UNIQUE INDEX CONCURRENTLY i ON t (...)` in one migration, "
        "then `ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX i` (a quick catalog change)."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for c, col in new_constraints(statement.node):
            if c.contype not in (ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY) or c.indexname:
                continue
            kind = "UNIQUE" if c.contype == ConstrType.CONSTR_UNIQUE else "PRIMARY KEY"
            what = f"column {col.colname} with {kind}" if col is not None else f"{kind} constraint"
            yield self.violation(
                statement, ctx,
                f"adding a {what} to {table} builds its index under an ACCESS EXCLUSIVE lock that blocks reads "
                f"and writes; CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... {kind} USING INDEX",
                location=c.location)


class ForeignKeyNotValid(LintRule):
    code = "CF108"
    name = "safety.foreign-key-not-valid"
    groups = ("safety",)
    squawk = "adding-foreign-key-constraint"
    summary = "Adding a FOREIGN KEY without NOT VALID checks every row while blocking writes on both tables"
    explanation = (
        "Adding a foreign key takes SHARE ROW EXCLUSIVE locks on the table and on the referenced table and "
        "checks every existing row before it commits (ALTER TABLE docs, ADD table_constraint, and "
        "\"Notes\").\n\nInstead: `ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID` (new rows are checked at "
        "once), then `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later transaction: validation takes "
        "only a SHARE UPDATE EXCLUSIVE lock."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for c, col in new_constraints(statement.node):
            if c.contype != ConstrType.CONSTR_FOREIGN or c.skip_validation:
                continue
            ref = display(table_key(c.pktable))
            if col is not None:
                fix = (f"add {col.colname} without REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ({col.colname}) "
                       f"REFERENCES {ref} NOT VALID and VALIDATE CONSTRAINT it in a later transaction")
            else:
                fix = "add it with NOT VALID, then VALIDATE CONSTRAINT it in a later transaction"
            yield self.violation(
                statement, ctx,
                f"adding a foreign key from {table} to {ref} checks every row while holding SHARE ROW EXCLUSIVE "
                f"locks that block writes to both tables; {fix}", location=c.location)


class CheckNotValid(LintRule):
    code = "CF109"
    name = "safety.check-not-valid"
    groups = ("safety",)
    squawk = "constraint-missing-not-valid"
    summary = "Adding a CHECK constraint without NOT VALID scans the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`ADD CONSTRAINT ... CHECK (...)` verifies every row while holding an ACCESS EXCLUSIVE lock "
        "(ALTER TABLE docs).\n\nInstead: `ADD CONSTRAINT ... CHECK (...) NOT VALID`, then "
        "`VALIDATE CONSTRAINT` in a later transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on)."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = NEW_CONSTRAINT_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for c, _col in new_constraints(statement.node):
            if c.contype != ConstrType.CONSTR_CHECK or c.skip_validation:
                continue
            yield self.violation(
                statement, ctx,
                f"adding CHECK constraint {c.conname + ' ' if c.conname else ''}to {table} scans every row under "
                "an ACCESS EXCLUSIVE lock that blocks reads and writes; add it NOT VALID, then VALIDATE "
                "CONSTRAINT in a later transaction", location=c.location)


class ColumnTypeChange(LintRule):
    code = "CF110"
    name = "safety.column-type-change"
    groups = ("safety",)
    squawk = "changing-column-type"
    summary = "ALTER COLUMN TYPE usually rewrites the table and its indexes under an ACCESS EXCLUSIVE lock"
    explanation = (
        "Changing a column's type rewrites the table and rebuilds its indexes while holding an ACCESS "
        "EXCLUSIVE lock, unless the old type is binary-coercible to the new one (e.g. `varchar(n)` to "
        "`text` or a larger `varchar`) (ALTER TABLE docs, SET DATA TYPE and \"Notes\").\n\nInstead: add "
        "a new column, write both from the application, backfill in batches, then switch reads and drop "
        "the old column."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = CHANGED_TYPE_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd, col in changed_column_types(statement.node):
            yield self.violation(
                statement, ctx,
                f"changing the type of {table}.{cmd.name} to {type_name(col.typeName)} rewrites the table and "
                "its indexes under an ACCESS EXCLUSIVE lock (unless binary-coercible); add a new column, "
                "backfill it in batches and switch over instead")


class RenameColumn(LintRule):
    code = "CF111"
    name = "safety.rename-column"
    groups = ("safety",)
    squawk = "renaming-column"
    summary = "Renaming a column breaks every client still using the old name"
    explanation = (
        "The rename itself is quick, but application instances deployed before it still query the old "
        "name and fail until they are replaced.\n\nInstead: add the new column, write both, backfill, "
        "move readers, then drop the old column in a later release (or expose the new name through a "
        "view)."
    )
    node_types = (ast.RenameStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.RenameStmt)
        if node.renameType != ObjectType.OBJECT_COLUMN or node.relationType != ObjectType.OBJECT_TABLE:
            return
        key = table_key(node.relation)
        if key is not None and ctx.table_created_earlier(*key):
            return
        yield self.violation(
            statement, ctx,
            f"rename of column {display(key)}.{node.subname} to {node.newname}: running application code "
            "that uses the old name breaks; add the new column, migrate readers and writers, then drop the old one")


class RenameTable(LintRule):
    code = "CF112"
    name = "safety.rename-table"
    groups = ("safety",)
    squawk = "renaming-table"
    summary = "Renaming a table breaks every client still using the old name"
    explanation = (
        "Queries from application instances deployed before the rename fail until they are replaced.\n\n"
        "Instead: create the table under its new name (or rename it and leave a view with the old name), "
        "move the application over, then drop the old name."
    )
    node_types = (ast.RenameStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.RenameStmt)
        if node.renameType != ObjectType.OBJECT_TABLE:
            return
        key = table_key(node.relation)
        if key is not None and ctx.table_created_earlier(*key):
            return
        yield self.violation(
            statement, ctx,
            f"rename of table {display(key)} to {node.newname}: running application code that uses the old name "
            "breaks; rename in steps (new table or compatibility view, move the application, drop the old name)")


class DropColumn(LintRule):
    code = "CF113"
    name = "safety.drop-column"
    groups = ("safety",)
    squawk = "ban-drop-column"
    summary = "Dropping a column loses its data and breaks clients that still read it"
    explanation = (
        "The data is gone for good and application code still selecting the column fails.\n\nInstead: "
        "stop reading and writing the column in a release first, then drop it in a later migration and "
        "mark the statement with `-- confiture: noqa CF113` once reviewed."
    )
    node_types = (ast.AlterTableStmt,)
    alter_subtypes = frozenset({AlterTableType.AT_DropColumn})

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        table = _existing_table(statement.node, ctx)
        if table is None:
            return
        for cmd in alter_cmds(statement.node):
            if cmd.subtype == AlterTableType.AT_DropColumn:
                yield self.violation(
                    statement, ctx,
                    f"dropping column {table}.{cmd.name} deletes its data and breaks code that still uses it; "
                    "remove all uses in an earlier release, then drop it (noqa CF113 once reviewed)")


class DropTable(LintRule):
    code = "CF114"
    name = "safety.drop-table"
    groups = ("safety",)
    squawk = "ban-drop-table"
    summary = "Dropping a table loses its data and breaks clients that still use it"
    explanation = (
        "`DROP TABLE` deletes the data and fails every query still using the table.\n\nInstead: stop "
        "using the table in a release first (or rename it aside and keep it for a while), then drop it."
    )
    node_types = (ast.DropStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropStmt)
        if node.removeType != ObjectType.OBJECT_TABLE:
            return
        for obj in node.objects or ():
            parts = strings(obj)
            if not parts:
                continue
            schema, table = (parts[-2] if len(parts) > 1 else None), parts[-1]
            if ctx.table_created_earlier(schema, table):
                continue
            yield self.violation(
                statement, ctx,
                f"dropping table {'.'.join(parts)} deletes its data and breaks code that still uses it; stop "
                "using it in an earlier release, then drop it (noqa CF114 once reviewed)")


class DropDatabase(LintRule):
    code = "CF115"
    name = "safety.drop-database"
    groups = ("safety",)
    squawk = "ban-drop-database"
    summary = "DROP DATABASE in a migration destroys a whole database"
    explanation = (
        "`DROP DATABASE` removes the database and everything in it, irrecoverably (DROP DATABASE docs).\n\n"
        "Instead: remove the statement; dropping a database is an operations task done by hand."
    )
    node_types = (ast.DropdbStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.DropdbStmt)
        yield self.violation(
            statement, ctx,
            f"DROP DATABASE {node.dbname} destroys every table and row in it; do this by hand, not in a migration")


class TruncateCascade(LintRule):
    code = "CF116"
    name = "safety.truncate-cascade"
    groups = ("safety",)
    squawk = "ban-truncate-cascade"
    summary = "TRUNCATE ... CASCADE also empties every table that references these, recursively"
    explanation = (
        "`CASCADE` truncates all tables with foreign keys to the named ones, and theirs in turn (TRUNCATE "
        "docs), taking ACCESS EXCLUSIVE locks on all of them.\n\nInstead: name every table to empty "
        "explicitly, without CASCADE."
    )
    node_types = (ast.TruncateStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.TruncateStmt)
        if node.behavior == DropBehavior.DROP_CASCADE:
            names = ", ".join(display(table_key(r)) for r in node.relations or () if isinstance(r, ast.RangeVar))
            yield self.violation(
                statement, ctx,
                f"TRUNCATE {names} CASCADE also empties every table referencing them, recursively; list the "
                "tables to truncate explicitly and drop CASCADE")


class VacuumFull(LintRule):
    code = "CF117"
    name = "safety.vacuum-full"
    groups = ("safety",)
    summary = "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`VACUUM FULL` copies the whole table and its indexes while holding an ACCESS EXCLUSIVE lock "
        "(VACUUM docs), blocking reads and writes for the duration.\n\nInstead: plain `VACUUM` (no "
        "blocking), or an online tool such as pg_repack / pg_squeeze outside migrations."
    )
    node_types = (ast.VacuumStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        node = statement.node
        assert isinstance(node, ast.VacuumStmt)
        if node.is_vacuumcmd and any(isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ()):
            yield self.violation(
                statement, ctx,
                "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock that blocks reads and writes; "
                "use plain VACUUM, or pg_repack outside the migration")


class Cluster(LintRule):
    code = "CF118"
    name = "safety.cluster"
    groups = ("safety",)
    summary = "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock"
    explanation = (
        "`CLUSTER` rewrites the table in index order while holding an ACCESS EXCLUSIVE lock (CLUSTER "
        "docs).\n\nInstead: pg_repack (`--order-by`) outside migrations."
    )
    node_types = (ast.ClusterStmt,)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        yield self.violation(
            statement, ctx,
            "CLUSTER rewrites the whole table under an ACCESS EXCLUSIVE lock that blocks reads and writes; "
            "use pg_repack --order-by outside the migration")


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


#: The statement classes :func:`_strong_lock` may find a lock for.
_LOCKING_NODES: tuple[type[ast.Node], ...] = (
    ast.AlterTableStmt, ast.IndexStmt, ast.DropStmt, ast.TruncateStmt, ast.ClusterStmt, ast.RenameStmt,
    ast.CreateTrigStmt, ast.ReindexStmt, ast.VacuumStmt,
)


def _strong_lock(node: ast.Node, ctx: LintContext) -> str | None:
    """The lock a statement takes on an existing table, when it blocks writes (or reads)."""
    if isinstance(node, ast.AlterTableStmt):
        if node.objtype == ObjectType.OBJECT_TABLE and _existing_table(node, ctx) is None:
            return None
        return "an ACCESS EXCLUSIVE lock (most ALTER TABLE forms)"
    if isinstance(node, ast.IndexStmt) and not node.concurrent:
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "a SHARE lock"
    if isinstance(node, ast.DropStmt) and not node.concurrent and node.removeType in (
            ObjectType.OBJECT_TABLE, ObjectType.OBJECT_INDEX, ObjectType.OBJECT_VIEW,
            ObjectType.OBJECT_MATVIEW, ObjectType.OBJECT_TRIGGER):
        return "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.TruncateStmt | ast.ClusterStmt):
        return "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.RenameStmt) and node.relation is not None:
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "an ACCESS EXCLUSIVE lock"
    if isinstance(node, ast.CreateTrigStmt):
        key = table_key(node.relation)
        return None if key is None or ctx.table_created_earlier(*key) else "a SHARE ROW EXCLUSIVE lock"
    if isinstance(node, ast.ReindexStmt) and not any(
            isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ()):
        return "a SHARE lock and ACCESS EXCLUSIVE locks on the indexes"
    if isinstance(node, ast.VacuumStmt) and any(
            isinstance(o, ast.DefElem) and o.defname == "full" for o in node.options or ()):
        return "an ACCESS EXCLUSIVE lock"
    return None


class LockTimeout(LintRule):
    code = "CF120"
    name = "safety.lock-timeout"
    groups = ("safety",)
    severity = "warning"
    squawk = "require-timeout-settings"
    summary = "A statement takes a strong lock with no lock_timeout set before it"
    explanation = (
        "A statement waiting for a lock holds its own place in the lock queue: while an `ALTER TABLE` "
        "waits behind a long-running query, every later query on that table waits behind the ALTER "
        "(PostgreSQL docs 13.3, \"Explicit Locking\"; `lock_timeout` in 20.11, \"Client Connection "
        "Defaults\"). Without `lock_timeout` that can stall the application for as long as the slowest "
        "transaction runs.\n\nInstead: `SET lock_timeout = '2s';` at the top of the migration (or "
        "`lock_timeout` in `confiture.toml`, which the runner sets before every migration) and retry on "
        "timeout. Reported once per file, on the first such statement."
    )
    node_types = _LOCKING_NODES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        if ctx.lock_timeout_set or ctx.state.get("reported"):
            return
        lock = _strong_lock(statement.node, ctx)
        if lock is None:
            return
        ctx.state["reported"] = True
        yield self.violation(
            statement, ctx,
            f"this statement takes {lock} with no lock_timeout set: while it waits behind a long query, all "
            "other queries on the table queue behind it; start the file with SET lock_timeout = '2s' (or set "
            "lock_timeout in confiture.toml) and retry on timeout")


_SERIAL = {"serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
           "smallserial": "smallint", "serial2": "smallint"}


#: The ``ALTER TABLE`` command subtypes :func:`_typed_columns` reads.
_TYPED_SUBTYPES = ADDED_COLUMN_SUBTYPES | CHANGED_TYPE_SUBTYPES

_typed_memo: tuple[object, list[tuple[str, ast.TypeName, int, str]]] = (None, [])


def _typed_columns(node: ast.Node) -> list[tuple[str, ast.TypeName, int, str]]:
    """(column name, type, location, :func:`type_name`) of each column a statement defines or retypes.

    Computed once per statement (the four column-type rules share it); do not modify the list.
    """
    global _typed_memo
    if _typed_memo[0] is node:
        return _typed_memo[1]
    out = []
    for col in defined_columns(node):
        tn = col.typeName
        if tn is not None:
            loc = col.location
            out.append((col.colname or "?", tn, loc if loc is not None else -1, type_name(tn)))
    for cmd, col in changed_column_types(node):
        tn = col.typeName
        if tn is not None:
            out.append((cmd.name or "?", tn, tn.location or -1, type_name(tn)))
    _typed_memo = (node, out)
    return out


class PreferIdentity(LintRule):
    code = "CF121"
    name = "safety.prefer-identity"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-identity"
    summary = "serial columns: prefer GENERATED ... AS IDENTITY"
    explanation = (
        "`serial` creates a separately owned sequence with its own permissions and odd behaviour on "
        "copy and dump; identity columns are the SQL-standard replacement (CREATE TABLE docs, "
        "GENERATED ... AS IDENTITY).\n\nInstead: `id bigint GENERATED ALWAYS AS IDENTITY`."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = _TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, _tn, loc, t in _typed_columns(statement.node):
            if t in _SERIAL:
                yield self.violation(
                    statement, ctx,
                    f"column {col} is {t}: serial's sequence has its own owner and permissions; use "
                    f"bigint GENERATED ALWAYS AS IDENTITY instead", location=loc)


class PreferBigint(LintRule):
    code = "CF122"
    name = "safety.prefer-bigint"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-bigint-over-int"
    summary = "integer/smallint columns can run out of values; prefer bigint"
    explanation = (
        "An `integer` key runs out at 2,147,483,647 (Data Types docs, 8.1 Numeric Types), and widening "
        "it later is a full table rewrite (CF110).\n\nInstead: `bigint` (8 bytes instead of 4)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = _TYPED_SUBTYPES
    _SMALL = {"int4": "integer", "int2": "smallint", "integer": "integer", "smallint": "smallint",
              "int": "integer", "serial": "serial", "serial4": "serial", "smallserial": "smallserial",
              "serial2": "smallserial"}

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, tn, loc, t in _typed_columns(statement.node):
            if t in self._SMALL and not tn.arrayBounds:
                yield self.violation(
                    statement, ctx,
                    f"column {col} is {self._SMALL[t]} (32 bits or less): it can run out of values and widening "
                    "it later rewrites the table; use bigint", location=loc)


class PreferText(LintRule):
    code = "CF123"
    name = "safety.prefer-text"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-text-field"
    summary = "char(n)/varchar(n) columns: prefer text with a CHECK on length"
    explanation = (
        "`varchar(n)` is no faster than `text`, and changing n later needs an ACCESS EXCLUSIVE lock "
        "(and a rewrite when shrinking); `char(n)` pads with spaces (Data Types docs, 8.3 Character "
        "Types).\n\nInstead: `text`, with `CHECK (length(col) <= n)` when a limit matters (a constraint "
        "can be replaced NOT VALID without a rewrite)."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = _TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, tn, loc, t in _typed_columns(statement.node):
            if t == "bpchar" or t == "char":
                yield self.violation(
                    statement, ctx,
                    f"column {col} is char(n): values are blank-padded and changing the length locks the table; "
                    "use text with a CHECK on length", location=loc)
            elif t == "varchar" and tn.typmods:
                yield self.violation(
                    statement, ctx,
                    f"column {col} is varchar(n): changing n later takes an ACCESS EXCLUSIVE lock; use text "
                    "with CHECK (length(...) <= n)", location=loc)


class PreferTimestamptz(LintRule):
    code = "CF124"
    name = "safety.prefer-timestamptz"
    groups = ("safety",)
    severity = "warning"
    squawk = "prefer-timestamptz"
    summary = "timestamp (without time zone) columns: prefer timestamptz"
    explanation = (
        "`timestamp` stores wall-clock time without a zone, so values from sessions with different "
        "TimeZone settings cannot be compared (Data Types docs, 8.5.1.3 Time Stamps).\n\nInstead: "
        "`timestamptz`, which stores an absolute instant."
    )
    node_types = (ast.CreateStmt, ast.AlterTableStmt)
    alter_subtypes = _TYPED_SUBTYPES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for col, _tn, loc, t in _typed_columns(statement.node):
            if t == "timestamp":
                yield self.violation(
                    statement, ctx,
                    f"column {col} is timestamp without time zone: instants from different time zones get "
                    "mixed up; use timestamptz", location=loc)


def identifiers(node: ast.Node) -> Iterator[tuple[str, str, int]]:
    """(kind, name, location) of each identifier a DDL statement defines.

    Covers relations, columns, constraints, indexes, renames, triggers, functions,
    types, schemas, sequences and views. ``location`` is -1 when unknown.
    """
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        yield "table", node.relation.relname or "", node.relation.location or -1
    if isinstance(node, ast.CreateSeqStmt) and node.sequence is not None:
        yield "sequence", node.sequence.relname or "", node.sequence.location or -1
    if isinstance(node, ast.ViewStmt) and node.view is not None:
        yield "view", node.view.relname or "", node.view.location or -1
    if isinstance(node, ast.CreateTableAsStmt) and node.into is not None and node.into.rel is not None:
        yield "table", node.into.rel.relname or "", node.into.rel.location or -1
    if isinstance(node, ast.IndexStmt) and node.idxname:
        yield "index", node.idxname, -1
    if isinstance(node, ast.CreateStmt | ast.AlterTableStmt):
        for col in defined_columns(node):
            yield "column", col.colname or "", col.location if col.location is not None else -1
        constraints: list[ast.Constraint] = []
        if isinstance(node, ast.CreateStmt):
            for el in node.tableElts or ():
                if isinstance(el, ast.Constraint):
                    constraints.append(el)
                elif isinstance(el, ast.ColumnDef):
                    constraints.extend(column_constraints(el))
        else:
            constraints.extend(c for c, _ in new_constraints(node))
        for c in constraints:
            if c.conname:
                yield "constraint", c.conname, c.location if c.location is not None else -1
    if isinstance(node, ast.RenameStmt) and node.newname:
        yield "name", node.newname, -1
    if isinstance(node, ast.CreateTrigStmt) and node.trigname:
        yield "trigger", node.trigname, -1
    if isinstance(node, ast.CreateFunctionStmt):
        parts = strings(node.funcname)
        if parts:
            yield ("procedure" if node.is_procedure else "function"), parts[-1], -1
    if isinstance(node, ast.CreateEnumStmt | ast.CompositeTypeStmt | ast.CreateDomainStmt):
        names = strings(node.typeName if isinstance(node, ast.CreateEnumStmt) else
                        node.domainname if isinstance(node, ast.CreateDomainStmt) else ())
        if isinstance(node, ast.CompositeTypeStmt) and node.typevar is not None:
            names = [node.typevar.relname or ""]
        if names:
            yield "type", names[-1], -1
    if isinstance(node, ast.CreateSchemaStmt) and node.schemaname:
        yield "schema", node.schemaname, -1


IDENTIFIER_NODES: tuple[type[ast.Node], ...] = (
    ast.CreateStmt, ast.CreateSeqStmt, ast.ViewStmt, ast.CreateTableAsStmt, ast.IndexStmt, ast.AlterTableStmt,
    ast.RenameStmt, ast.CreateTrigStmt, ast.CreateFunctionStmt, ast.CreateEnumStmt, ast.CompositeTypeStmt,
    ast.CreateDomainStmt, ast.CreateSchemaStmt,
)
#: The ``ALTER TABLE`` command subtypes :func:`identifiers` reads.
IDENTIFIER_SUBTYPES: frozenset[int] = ADDED_COLUMN_SUBTYPES | NEW_CONSTRAINT_SUBTYPES


#: Runs of characters an unquoted identifier may contain (PostgreSQL's scanner: letters, digits,
#: ``_``, ``$`` and every non-ASCII character); an identifier of more than 63 bytes lies in such a
#: run of at least 16 characters.
_IDENT_RUN = re.compile(r"[A-Za-z0-9_$\u0080-\U0010FFFF]{16,}")
#: The same for ASCII text, where one character is one byte: a run of more than 63, found as
#: :data:`_ASCII_LONG_RUN` in the text's bytes translated by :data:`_ASCII_IDENT_MASK` (identifier
#: characters to ``a``, any other byte to a space): a substring search instead of a regular expression
#: tried at every character.
_ASCII_IDENT_MASK = bytes(0x61 if chr(b) in string.ascii_letters + string.digits + "_$" else 0x20
                          for b in range(256))
_ASCII_LONG_RUN = b"a" * 64


class IdentifierLength(LintRule):
    code = "CF125"
    name = "safety.identifier-length"
    groups = ("safety",)
    severity = "warning"
    summary = "Identifiers longer than 63 bytes are silently truncated"
    explanation = (
        "PostgreSQL keeps at most NAMEDATALEN-1 = 63 bytes of an identifier and truncates longer ones "
        "with only a NOTICE (SQL Syntax docs, 4.1.1 \"Identifiers and Key Words\"), so two long names "
        "that differ after byte 63 collide, and tools that compare names see a different one.\n\n"
        "Instead: a name of at most 63 bytes (UTF-8)."
    )
    node_types = IDENTIFIER_NODES

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        # PostgreSQL's scanner truncates long identifiers before the parser sees them,
        # so the AST only holds the truncated name: look at the tokens instead.
        if len(statement.sql) < 64:
            return
        sql = statement.sql
        if '"' not in sql and (
                _ASCII_LONG_RUN not in sql.encode().translate(_ASCII_IDENT_MASK) if sql.isascii()
                else not any(len(m.group().encode("utf-8")) > 63 for m in _IDENT_RUN.finditer(sql))):
            return  # no quoted identifier, and no run of identifier characters long enough: skip the scan
        try:
            tokens = scan(statement.sql)
        except ParseError:
            return
        seen: set[str] = set()
        for tok in tokens:
            if tok.name != "IDENT":
                continue
            raw = statement.sql[tok.start : tok.end + 1]
            ident = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
            n = len(ident.encode("utf-8"))
            if n <= 63 or ident in seen:
                continue
            seen.add(ident)
            cut = ident.encode("utf-8")[:63].decode("utf-8", "ignore")
            yield self.violation(
                statement, ctx,
                f"identifier {ident} is {n} bytes; PostgreSQL silently truncates it to {cut!r} (63 bytes), so "
                "names that differ only after that collide; use a name of at most 63 bytes",
                location=statement.offset + tok.start)


def _newer_syntax(node: ast.Node, in_transaction: bool) -> Iterator[tuple[int, str]]:
    """(first major version that has it, what) for each feature of ``node`` newer than some server."""
    if isinstance(node, ast.ReindexStmt):
        if any(isinstance(p, ast.DefElem) and p.defname == "concurrently" for p in node.params or ()):
            yield 12, "REINDEX ... CONCURRENTLY"
    elif isinstance(node, ast.MergeStmt):
        yield 15, "MERGE"
    elif isinstance(node, ast.IndexStmt):
        if node.nulls_not_distinct:
            yield 15, "NULLS NOT DISTINCT"
        if node.indexIncludingParams:
            yield 11, "CREATE INDEX ... INCLUDE"
    elif isinstance(node, ast.CreateFunctionStmt):
        if node.is_procedure:
            yield 11, "CREATE PROCEDURE"
    elif isinstance(node, ast.AlterEnumStmt):
        if in_transaction and not node.oldVal:
            yield 12, "ALTER TYPE ... ADD VALUE inside a transaction block"
    if isinstance(node, ast.CreateStmt | ast.AlterTableStmt):
        if isinstance(node, ast.CreateStmt) and node.partspec is not None:
            yield 10, "CREATE TABLE ... PARTITION BY"
        for n in walk(node.tableElts if isinstance(node, ast.CreateStmt) else node.cmds):
            if isinstance(n, ast.Constraint):
                if n.contype == ConstrType.CONSTR_IDENTITY:
                    yield 10, "GENERATED ... AS IDENTITY"
                elif n.contype == ConstrType.CONSTR_GENERATED:
                    yield 12, "generated columns (GENERATED ALWAYS AS (...) STORED)"
                if n.nulls_not_distinct:
                    yield 15, "NULLS NOT DISTINCT"
            elif isinstance(n, ast.PartitionCmd) and n.concurrent:
                yield 14, "DETACH PARTITION ... CONCURRENTLY"


class NewerSyntax(LintRule):
    code = "CF126"
    name = "safety.newer-syntax"
    groups = ("safety",)
    summary = "Syntax the target PostgreSQL version does not have yet"
    explanation = (
        "The migration uses a feature added in a later PostgreSQL major version than the target "
        "(`--pg-version`, `[lint] pg_version`, or the connected server), so it fails on that server. "
        "Versions from the PostgreSQL release notes (https://www.postgresql.org/docs/release/): "
        "table partitioning and identity columns (10); "
        "CREATE PROCEDURE and covering indexes, `INCLUDE` (11); `REINDEX CONCURRENTLY`, generated "
        "columns, and `ALTER TYPE ... ADD VALUE` inside a transaction block (12); `DETACH PARTITION "
        "... CONCURRENTLY` (14); `MERGE` and `NULLS NOT DISTINCT` (15).\n\n"
        "Instead: upgrade the server first, or write it the older way (e.g. before 12, build a copy with "
        "`CREATE INDEX CONCURRENTLY` and drop the old index instead of `REINDEX CONCURRENTLY`; run "
        "`ALTER TYPE ... ADD VALUE` in a `-- confiture: no-transaction` migration)."
    )
    node_types = (ast.ReindexStmt, ast.MergeStmt, ast.IndexStmt, ast.CreateFunctionStmt, ast.AlterEnumStmt,
                  ast.CreateStmt, ast.AlterTableStmt)
    max_pg_version = 14  # the newest feature checked is from 15

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        seen: set[str] = set()
        for version, what in _newer_syntax(statement.node, ctx.in_transaction):
            if version > ctx.pg_version and what not in seen:
                seen.add(what)
                yield self.violation(
                    statement, ctx,
                    f"{what} needs PostgreSQL {version} or later; the target is PostgreSQL {ctx.pg_version}: "
                    "upgrade first or write it the older way")


RULES: Sequence[type[LintRule]] = (
    ConcurrentIndex, ConcurrentIndexDrop, ConcurrentReindex, AddColumnDefault, SetNotNull, AddRequiredColumn,
    UniqueConstraint, ForeignKeyNotValid, CheckNotValid, ColumnTypeChange, RenameColumn, RenameTable,
    DropColumn, DropTable, DropDatabase, TruncateCascade, VacuumFull, Cluster, TransactionNesting,
    LockTimeout, PreferIdentity, PreferBigint, PreferText, PreferTimestamptz, IdentifierLength, NewerSyntax,
)


@hookimpl
def confiture_lint_rules() -> Sequence[type[LintRule]]:
    """The safety rules (CF101-CF126)."""
    return list(RULES)
