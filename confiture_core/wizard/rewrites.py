"""Safe rewrites of risky migration statements, built on pglast's AST and deparser (no click, no database).

Each rewrite follows the PostgreSQL documentation: ``CREATE INDEX CONCURRENTLY`` ("Building
Indexes Concurrently"), ``ADD CONSTRAINT ... NOT VALID`` then ``VALIDATE CONSTRAINT`` (ALTER
TABLE, "Notes": validation takes only SHARE UPDATE EXCLUSIVE), ``SET NOT NULL`` skipping its
table scan when a valid ``CHECK (c IS NOT NULL)`` proves it (ALTER TABLE, PostgreSQL 12 and
later), a volatile default evaluated for every existing row rewrites the table (ALTER TABLE
ADD COLUMN, "Notes"). Renames and drops get the expand/contract recipe as guidance only.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pglast import ast, parse_sql
from pglast.enums import AlterTableType, ConstrType, ObjectType
from pglast.stream import RawStream, maybe_double_quote_name
from pglast.visitors import Visitor

from ..sql import Statement
from ..words import count

#: functions whose value differs per row (a default calling one rewrites the table when added)
VOLATILE_FUNCTIONS = frozenset({"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v4",
                                "clock_timestamp", "timeofday", "nextval", "setseed", "txid_current"})

#: rows per batch of a generated backfill
BATCH_ROWS = 1000

NO_TRANSACTION = "-- confiture: no-transaction\n"


@dataclass
class Step:
    """One migration of a rewrite, in order.

    :ivar slug: the name part of its file (``<version>_<slug>.up.sql``).
    :ivar kind: ``"sql"`` or ``"python"``.
    :ivar up: the file's text.
    :ivar down: the down file's text, or ``None`` (none written).
    :ivar promise: the strongest table lock it holds on an existing table while it scans or writes rows
        (a SQL lock-mode name); a brief ACCESS EXCLUSIVE without a scan is said in ``what``.
    :ivar what: one line saying what it does, for the screen.
    """

    slug: str
    kind: str
    up: str
    down: str | None
    promise: str
    what: str


@dataclass
class Rewrite:
    """The safe form of one migration: the statements it keeps (rewritten), then later migrations.

    :ivar first: the text of the migration itself once rewritten (same version), or ``None`` when
        nothing stays in it (then the first of ``steps`` takes its version).
    :ivar first_promise: the strongest lock ``first`` holds while scanning (see :attr:`Step.promise`).
    :ivar steps: the later migrations, in order.
    :ivar changes: one line per statement rewritten.
    :ivar guidance: expand/contract advice for renames and drops (not rewritten).
    """

    first: str | None
    first_promise: str = "ACCESS EXCLUSIVE"
    steps: list[Step] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    guidance: list[str] = field(default_factory=list)

    @property
    def rewrites(self) -> bool:
        """Whether anything is rewritten (guidance alone changes no file)."""
        return bool(self.changes)


def deparse(node: ast.Node) -> str:
    """``node`` as SQL text (pglast's deparser), ending with ``;``."""
    return str(RawStream()(node)).rstrip() + ";"


def _q(name: str) -> str:
    return str(maybe_double_quote_name(name))


def _table(rv: ast.RangeVar | None) -> str:
    if rv is None:
        return "?"
    return ".".join(_q(p) for p in (rv.schemaname, rv.relname) if p)


def _slug(*parts: str | None) -> str:
    text = "_".join(p.strip('"').lower() for p in parts if p)
    return "".join(c if c.isalnum() else "_" for c in text)[:60].strip("_")


def _alter(rv: ast.RangeVar, *cmds: ast.AlterTableCmd) -> ast.AlterTableStmt:
    return ast.AlterTableStmt(relation=copy.deepcopy(rv), cmds=tuple(cmds), objtype=ObjectType.OBJECT_TABLE)


def _cmd(subtype: AlterTableType, name: str | None = None, def_: ast.Node | None = None) -> ast.AlterTableCmd:
    return ast.AlterTableCmd(subtype=subtype, name=name, def_=def_, behavior=0)


def _expr(sql_text: str) -> ast.Node:
    """The expression of ``SELECT <sql_text>`` (parsed, so it is valid SQL)."""
    stmt = parse_sql(f"SELECT {sql_text}")[0].stmt
    assert isinstance(stmt, ast.SelectStmt) and stmt.targetList
    val: ast.Node = stmt.targetList[0].val
    return val


def _not_null_check(column: str) -> ast.Node:
    return ast.NullTest(arg=ast.ColumnRef(fields=(ast.String(sval=column),)), nulltesttype=1, argisrow=False)


def _volatile(node: ast.Node | None) -> bool:
    if node is None:
        return False
    found = False

    def visit(n: object) -> None:
        nonlocal found
        if isinstance(n, ast.FuncCall) and n.funcname:
            if getattr(n.funcname[-1], "sval", "") in VOLATILE_FUNCTIONS:
                found = True
        if isinstance(n, ast.Node):
            for attr in n:
                visit(getattr(n, attr))
        elif isinstance(n, tuple | list):
            for x in n:
                visit(x)

    visit(node)
    return found


def _created_tables(statements: Sequence[Statement]) -> set[str]:
    out: set[str] = set()
    for st in statements:
        node: Any = st.node
        if isinstance(node, ast.CreateStmt):
            out.add(_table(node.relation))
        elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
            out.add(_table(node.into.rel))
    return out


class _Builder:
    """Walks one migration's statements and collects its rewrite."""

    def __init__(self, statements: Sequence[Statement], keys: dict[str, str], large: set[int]) -> None:
        self.statements = statements
        self.keys = keys
        self.large = large
        self.created = _created_tables(statements)
        self.first: list[str] = []
        self.first_promise = "ROW EXCLUSIVE"
        self.indexes: list[Step] = []
        self.backfills: list[Step] = []
        self.validate: list[tuple[ast.RangeVar, str]] = []
        self.not_null: list[tuple[ast.RangeVar, str, str]] = []
        self.changes: list[str] = []
        self.guidance: list[str] = []

    def keep(self, st: Statement, promise: str = "ACCESS EXCLUSIVE") -> None:
        self.first.append(st.sql.rstrip().rstrip(";") + ";")
        if promise == "ACCESS EXCLUSIVE" or self.first_promise == "ROW EXCLUSIVE":
            self.first_promise = promise

    def run(self) -> Rewrite:
        for st in self.statements:
            node = st.node
            if isinstance(node, ast.IndexStmt) and not node.concurrent and _table(node.relation) not in self.created:
                self.index(st, node)
            elif isinstance(node, ast.AlterTableStmt) and node.objtype == ObjectType.OBJECT_TABLE \
                    and _table(node.relation) not in self.created:
                self.alter(st, node)
            elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt) and (node.whereClause is None
                                                                        or st.index in self.large):
                self.batched(st, node)
            else:
                self.advise(st, node)
                self.keep(st, "ROW EXCLUSIVE" if isinstance(node, ast.InsertStmt | ast.SelectStmt
                                                            | ast.VariableSetStmt) else "ACCESS EXCLUSIVE")
        steps = list(self.indexes) + list(self.backfills)
        if self.validate:
            rv = self.validate[0][0]
            body = "\n".join(deparse(_alter(r, _cmd(AlterTableType.AT_ValidateConstraint, name=c)))
                             for r, c in self.validate)
            steps.append(Step(_slug("validate_constraints", rv.relname), "sql",
                              body + "\n", "-- VALIDATE CONSTRAINT changes no schema: nothing to revert (the "
                              "statement below keeps\n-- `migrate down` from refusing an empty file)\nSELECT 1;\n",
                              "SHARE UPDATE EXCLUSIVE",
                              f"validate {count(len(self.validate), 'constraint')} (scans {_table(rv)} under "
                              "SHARE UPDATE EXCLUSIVE: reads and writes go on)"))
        if self.not_null:
            # two statements: in one ALTER TABLE PostgreSQL drops the check before SET NOT NULL could use it,
            # and scans the table under ACCESS EXCLUSIVE (ALTER TABLE docs, SET NOT NULL)
            up = "\n".join(f"{deparse(_alter(rv, _cmd(AlterTableType.AT_SetNotNull, name=col)))}\n"
                           f"{deparse(_alter(rv, _cmd(AlterTableType.AT_DropConstraint, name=chk)))}"
                           for rv, col, chk in self.not_null)
            down = "\n".join(deparse(_alter(rv, _cmd(AlterTableType.AT_DropNotNull, name=col)))
                             for rv, col, _ in self.not_null)
            cols = [c for _, c, _ in self.not_null]
            steps.append(Step(_slug("set_not_null", *cols), "sql", up + "\n", down + "\n", "ACCESS EXCLUSIVE",
                              f"SET NOT NULL on {', '.join(cols)} (no scan: the validated check proves it; "
                              "ACCESS EXCLUSIVE for an instant), then drop the check"))
        first = "\n".join(self.first) + "\n" if self.first else None
        return Rewrite(first, self.first_promise, steps, self.changes, self.guidance)

    # ----------------------------------------------------------------- the rewrites

    def index(self, st: Statement, node: ast.IndexStmt) -> None:
        new = copy.deepcopy(node)
        new.concurrent = True
        name = node.idxname or _slug(node.relation.relname if node.relation else "t", "idx")
        new.idxname = name
        drop = ast.DropStmt(objects=((ast.String(sval=name),) if not (node.relation and node.relation.schemaname)
                                     else (ast.String(sval=node.relation.schemaname), ast.String(sval=name)),),
                            removeType=ObjectType.OBJECT_INDEX, behavior=0, missing_ok=True, concurrent=True)
        self.indexes.append(Step(_slug("index", name), "sql", NO_TRANSACTION + deparse(new) + "\n",
                                 NO_TRANSACTION + deparse(drop) + "\n", "SHARE UPDATE EXCLUSIVE",
                                 f"CREATE INDEX CONCURRENTLY {name} (SHARE UPDATE EXCLUSIVE: reads and writes "
                                 "go on), in a migration of its own, outside a transaction"))
        self.changes.append(f"line {st.line}: CREATE INDEX {name} -> CREATE INDEX CONCURRENTLY, in a migration "
                            "of its own")

    def alter(self, st: Statement, node: ast.AlterTableStmt) -> None:
        rv = node.relation
        assert rv is not None
        table = _table(rv)
        kept: list[ast.AlterTableCmd] = []
        changed = False
        promise = "SHARE ROW EXCLUSIVE"
        for cmd in node.cmds or ():
            d = cmd.def_
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(d, ast.Constraint) \
                    and d.contype in (ConstrType.CONSTR_FOREIGN, ConstrType.CONSTR_CHECK) and not d.skip_validation:
                new = copy.deepcopy(cmd)
                c = new.def_
                if not c.conname:
                    cols = [getattr(a, "sval", "") for a in (c.fk_attrs or ())]
                    c.conname = f"{rv.relname}_{'_'.join(cols) or 'check'}_{'fkey' if cols else 'ok'}"[:63]
                c.skip_validation, c.initially_valid = True, False
                kept.append(new)
                self.validate.append((rv, c.conname))
                kind = "FOREIGN KEY" if c.contype == ConstrType.CONSTR_FOREIGN else "CHECK"
                if kind == "CHECK":
                    promise = "ACCESS EXCLUSIVE"
                self.changes.append(f"line {st.line}: ADD {kind} {c.conname} -> NOT VALID, then VALIDATE "
                                    "CONSTRAINT in a later migration")
                changed = True
            elif cmd.subtype == AlterTableType.AT_SetNotNull and cmd.name:
                chk = f"{rv.relname}_{cmd.name}_not_null_check"[:63]
                check = ast.Constraint(contype=ConstrType.CONSTR_CHECK, conname=chk, raw_expr=_not_null_check(cmd.name),
                                       skip_validation=True, initially_valid=False, is_enforced=True)
                kept.append(_cmd(AlterTableType.AT_AddConstraint, def_=check))
                self.validate.append((rv, chk))
                self.not_null.append((rv, cmd.name, chk))
                promise = "ACCESS EXCLUSIVE"
                self.changes.append(f"line {st.line}: SET NOT NULL on {cmd.name} -> CHECK ({cmd.name} IS NOT NULL) "
                                    "NOT VALID, VALIDATE, SET NOT NULL, drop the check, across migrations")
                changed = True
            elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(d, ast.ColumnDef) and \
                    self.volatile_default(d) is not None:
                kept.extend(self.add_column(st, rv, cmd, d))
                promise = "ACCESS EXCLUSIVE"
                changed = True
            else:
                self.advise_cmd(table, cmd)
                kept.append(cmd)
                promise = "ACCESS EXCLUSIVE"
        if not changed:
            self.keep(st)
            return
        if kept:
            new_node = copy.deepcopy(node)
            new_node.cmds = tuple(kept)
            self.first.append(deparse(new_node))
            if promise == "ACCESS EXCLUSIVE" or self.first_promise == "ROW EXCLUSIVE":
                self.first_promise = promise

    @staticmethod
    def volatile_default(col: ast.ColumnDef) -> ast.Constraint | None:
        for c in col.constraints or ():
            if isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_DEFAULT and _volatile(c.raw_expr):
                return c
        return None

    def add_column(self, st: Statement, rv: ast.RangeVar, cmd: ast.AlterTableCmd,
                   col: ast.ColumnDef) -> list[ast.AlterTableCmd]:
        default = self.volatile_default(col)
        assert default is not None and col.colname
        new_col = copy.deepcopy(col)
        not_null = any(isinstance(c, ast.Constraint) and c.contype == ConstrType.CONSTR_NOTNULL
                       for c in col.constraints or ())
        new_col.constraints = tuple(c for c in col.constraints or ()
                                    if not (isinstance(c, ast.Constraint)
                                            and c.contype in (ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_NOTNULL)))
        new_col.is_not_null = False
        add = copy.deepcopy(cmd)
        add.def_ = new_col
        set_default = _cmd(AlterTableType.AT_ColumnDefault, name=col.colname, def_=copy.deepcopy(default.raw_expr))
        expr = str(RawStream()(cast(ast.Node, default.raw_expr)))
        table = _table(rv)
        target = ast.UpdateStmt(relation=copy.deepcopy(rv),
                                targetList=(ast.ResTarget(name=col.colname, val=copy.deepcopy(default.raw_expr)),))
        self.backfills.append(self.backfill_step(
            f"backfill_{rv.relname}_{col.colname}", table, target, f"{_q(col.colname)} IS NULL", key=None,
            what=f"backfill {table}.{col.colname} = {expr} in batches of {BATCH_ROWS} rows (ROW EXCLUSIVE, each "
                 "batch committed)"))
        out = [add, set_default]
        if not_null:
            chk = f"{rv.relname}_{col.colname}_not_null_check"[:63]
            self.validate.append((rv, chk))
            self.not_null.append((rv, col.colname, chk))
            self.backfills.append(Step(
                _slug("check", rv.relname, col.colname, "not_null"), "sql",
                deparse(_alter(rv, _cmd(AlterTableType.AT_AddConstraint, def_=ast.Constraint(
                    contype=ConstrType.CONSTR_CHECK, conname=chk, raw_expr=_not_null_check(col.colname),
                    skip_validation=True, initially_valid=False, is_enforced=True)))) + "\n",
                # IF EXISTS: the SET NOT NULL step drops the check once it has served, and its down does not add
                # it back (a SET NOT NULL the user wrote keeps its check in the original migration)
                deparse(_alter(rv, ast.AlterTableCmd(subtype=AlterTableType.AT_DropConstraint, name=chk,
                                                     behavior=0, missing_ok=True))) + "\n",
                "ACCESS EXCLUSIVE", f"CHECK ({col.colname} IS NOT NULL) NOT VALID (no scan; ACCESS EXCLUSIVE for an "
                                    "instant)"))
        self.changes.append(f"line {st.line}: ADD COLUMN {col.colname} with the volatile default {expr} -> added "
                            "without it, the default set for new rows, existing rows backfilled in batches"
                            + (", then NOT NULL through a validated check" if not_null else ""))
        return out

    def batched(self, st: Statement, node: ast.UpdateStmt | ast.DeleteStmt) -> None:
        rv = node.relation
        table = _table(rv)
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        key = self.keys.get(table) or self.keys.get(rv.relname or "" if rv else "")
        if isinstance(node, ast.UpdateStmt) and key is None:
            self.guidance.append(f"line {st.line}: UPDATE of the whole of {table}: no single-column primary key to "
                                 "walk it in batches; run it in batches by hand (WHERE id BETWEEN ...)")
            self.keep(st)
            return
        where = str(RawStream()(node.whereClause)) if node.whereClause is not None else None
        if isinstance(node, ast.UpdateStmt) and _reads_row(node):
            self.guidance.append(
                f"line {st.line}: the batched UPDATE of {table} sets values computed from the row itself: if it is "
                "interrupted, running it again starts from the first key and changes the rows already done a "
                "second time; after an interruption, fix those rows by hand before `confiture migrate repair`")
        self.backfills.append(self.backfill_step(
            f"batched_{verb.lower()}_{rv.relname if rv else 't'}", table, node, where, key=key,
            what=f"{verb} {table} in batches of {BATCH_ROWS} rows (ROW EXCLUSIVE, each batch committed)"))
        self.changes.append(f"line {st.line}: {verb} of {'the whole of ' if where is None else ''}{table} -> "
                            f"batches of {BATCH_ROWS} rows, each committed, in a migration of its own")

    def backfill_step(self, slug: str, table: str, node: ast.UpdateStmt | ast.DeleteStmt, pending: str | None,
                      key: str | None, what: str) -> Step:
        """A non-transactional Python migration running ``node`` on ``BATCH_ROWS`` rows at a time.

        The rows of a batch: those matching ``pending`` (rows not done yet: each batch makes progress),
        or, for an UPDATE with no such condition, the next ``key`` values (keyset).
        """
        select_where = f"WHERE {pending}" if pending else ""
        if isinstance(node, ast.UpdateStmt) and key is not None:
            k = _q(key)
            queries = []
            for after in ("", f" AND {k} > $1"):
                where = f"WHERE ({pending}){after}" if pending else (f"WHERE {after[5:]}" if after else "")
                inner: Any = parse_sql(f"SELECT {k} FROM {table} {where} ORDER BY {k} LIMIT {BATCH_ROWS}")[0].stmt
                batch = copy.deepcopy(node)
                batch.whereClause = _expr(f"{k} IN ({RawStream()(inner)})")
                returning: Any = parse_sql(f"UPDATE t SET a = 1 RETURNING {k}")[0].stmt
                for attr in returning:  # RETURNING's attribute is named after the parser's version
                    if attr.startswith("returning"):
                        setattr(batch, attr, getattr(returning, attr))
                queries.append(str(RawStream()(batch)))
            body = _keyset_python(queries[0], queries[1])
        else:
            sel = parse_sql(f"SELECT ctid FROM {table} {select_where} LIMIT {BATCH_ROWS}")[0].stmt
            whole = copy.deepcopy(node)
            whole.whereClause = _expr(f"ctid = ANY (ARRAY ({RawStream()(cast(ast.Node, sel))!s}))")
            body = _until_zero_python(str(RawStream()(whole)))
        header = f'"""{what} (written by `confiture migrate up --interactive`)."""\n\n'
        return Step(_slug(slug), "python", header + body, None, "ROW EXCLUSIVE", what)

    # ----------------------------------------------------------------- guidance (no rewrite)

    def advise(self, st: Statement, node: ast.Node) -> None:
        if isinstance(node, ast.RenameStmt) and node.relation is not None:
            what = "column" if node.renameType == ObjectType.OBJECT_COLUMN else "table"
            old = node.subname if what == "column" else node.relation.relname
            self.guidance.append(
                f"line {st.line}: RENAME {what} {old} -> {node.newname}: the running application still uses "
                f"{old}. Expand/contract: add {node.newname} (and a view or trigger keeping both in step), "
                f"move readers and writers to it over deploys, then drop {old} in a later migration")
        elif isinstance(node, ast.DropStmt) and node.removeType in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_VIEW):
            self.guidance.append(
                f"line {st.line}: DROP: deploy the application that no longer reads or writes it first "
                "(contract after expand); keep a backup; DROP ... IF EXISTS in a migration of its own")

    def advise_cmd(self, table: str, cmd: ast.AlterTableCmd) -> None:
        if cmd.subtype == AlterTableType.AT_DropColumn:
            self.guidance.append(
                f"DROP COLUMN {table}.{cmd.name}: expand/contract: stop reading and writing it in the application "
                "(deploy), then drop it in a later migration; the drop itself is instant (no rewrite)")
        elif cmd.subtype == AlterTableType.AT_AlterColumnType:
            self.guidance.append(
                f"ALTER COLUMN {table}.{cmd.name} TYPE rewrites the table under ACCESS EXCLUSIVE: expand/contract: "
                "add a new column of the new type, backfill it in batches, switch the application, drop the old")


def _reads_row(node: ast.UpdateStmt) -> bool:
    """Whether an UPDATE's SET values read columns (``v = v + 1``): running it twice on a row is not the same
    as once."""
    found: list[ast.ColumnRef] = []

    class _Refs(Visitor):
        def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
            found.append(node)

    for target in node.targetList or ():
        _Refs()(target.val)
    return bool(found)


def _keyset_python(first_sql: str, next_sql: str) -> str:
    return (
        "transactional = False  # each batch commits on its own: no long lock\n"
        "# after an interruption the batches start again from the first key: rows already done are\n"
        "# changed again when they still match (harmless when the SET writes the same value twice)\n\n"
        f"FIRST = {first_sql!r}\n"
        f"NEXT = {next_sql!r}  # $1: the last key of the batch before\n\n\n"
        "def up(conn):\n"
        "    import psycopg\n\n"
        "    rows = psycopg.RawCursor(conn).execute(FIRST).fetchall()\n"
        "    while rows:\n"
        "        rows = psycopg.RawCursor(conn).execute(NEXT, [max(r[0] for r in rows)]).fetchall()\n"
    )


def _until_zero_python(batch_sql: str) -> str:
    return (
        "transactional = False  # each batch commits on its own: no long lock; it resumes where it\n"
        "# stopped, as the rows a batch changed no longer match\n\n"
        f"BATCH = {batch_sql!r}\n\n\n"
        "def up(conn):\n"
        "    while conn.execute(BATCH).rowcount:\n"
        "        pass\n"
    )


def rewrite(statements: Sequence[Statement], keys: dict[str, str] | None = None,
            large: set[int] | None = None) -> Rewrite:
    """The safe rewrite of a migration's ``up`` statements.

    :param statements: the parsed statements (:func:`confiture_core.sql.parse_sql_text`).
    :param keys: single-column primary key per table (``"orders"`` or ``"shop.orders"``), for batched
        UPDATEs; a table missing here gets guidance instead.
    :param large: indexes of UPDATE/DELETE statements with a WHERE that still touch many rows (the dry
        run counted them): batched too.
    :returns: the :class:`Rewrite`; its ``changes`` are empty when nothing needs rewriting.
    """
    return _Builder(statements, keys or {}, large or set()).run()
