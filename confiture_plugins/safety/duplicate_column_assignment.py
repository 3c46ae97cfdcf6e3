"""CF135 safety.duplicate-column-assignment: one column assigned or defined twice in a statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pglast import ast

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

#: (column name, location or -1, whether the assignment is to a part: ``a.x`` or ``a[1]``)
_Target = tuple[str, int, bool]


def _truncated(name: str) -> str:
    """``name`` cut to 63 bytes, as PostgreSQL stores identifiers (NAMEDATALEN - 1)."""
    raw = name.encode("utf-8")
    return name if len(raw) <= 63 else raw[:63].decode("utf-8", "ignore")


def _res_targets(items: Iterable[object] | None) -> list[_Target]:
    return [(_truncated(t.name), t.location if t.location is not None else -1, bool(t.indirection))
            for t in items or () if isinstance(t, ast.ResTarget) and t.name]


def _figure_name(node: object) -> str:
    """The name PostgreSQL gives an unnamed select-list entry (``FigureColname`` in its parser): a
    column's or function's name, a few keywords (``case``, ``array``, ``row``...), else ``?column?``."""
    if isinstance(node, ast.ColumnRef):
        last = (node.fields or (None,))[-1]
        return last.sval if isinstance(last, ast.String) and last.sval else "?column?"
    if isinstance(node, ast.FuncCall):
        parts = strings(node.funcname)
        return parts[-1] if parts else "?column?"
    if isinstance(node, ast.A_Indirection):
        names = [i.sval for i in node.indirection or () if isinstance(i, ast.String) and i.sval]
        return names[-1] if names else _figure_name(node.arg)
    if isinstance(node, ast.TypeCast):
        inner = _figure_name(node.arg)
        return inner if inner != "?column?" else (strings(node.typeName.names)[-1:] or ["?column?"])[0] \
            if node.typeName is not None else inner
    for kind, word in ((ast.CaseExpr, "case"), (ast.A_ArrayExpr, "array"), (ast.RowExpr, "row"),
                       (ast.CoalesceExpr, "coalesce")):
        if isinstance(node, kind):
            return word
    return "?column?"


def _first_select(node: object) -> ast.SelectStmt | None:
    """The SELECT whose select list names a query's columns (the leftmost of a UNION)."""
    while isinstance(node, ast.SelectStmt) and node.targetList is None and node.larg is not None:
        node = node.larg
    return node if isinstance(node, ast.SelectStmt) else None


def _output_names(query: object) -> list[_Target]:
    """The column names a query produces, as PostgreSQL names them; ``[]`` when a ``*`` makes them
    unknowable here."""
    select = _first_select(query)
    out: list[_Target] = []
    for t in (select.targetList or ()) if select is not None else ():
        if not isinstance(t, ast.ResTarget):
            continue
        if isinstance(t.val, ast.ColumnRef) and any(isinstance(f, ast.A_Star) for f in t.val.fields or ()):
            return []
        name = t.name or _figure_name(t.val)
        out.append((_truncated(name), t.location if t.location is not None else -1, False))
    return out


def _duplicates(targets: list[_Target]) -> list[_Target]:
    """The targets whose column appears more than once, unless every one assigns a different part."""
    by_name: dict[str, list[_Target]] = {}
    for t in targets:
        by_name.setdefault(t[0], []).append(t)
    dup = [t for ts in by_name.values() if len(ts) > 1 and not all(p for _, _, p in ts) for t in ts]
    return sorted(dup, key=lambda t: t[1])


def _groups(node: object) -> Iterator[tuple[str, list[_Target]]]:
    """(what, targets) for each list of assigned or defined columns in the statement and its WITH
    queries; the rest of the tree (VALUES lists, expressions) is not walked."""
    if isinstance(node, ast.CreateForeignTableStmt):
        node = node.base
    with_clause = getattr(node, "withClause", None)
    if isinstance(with_clause, ast.WithClause):
        for cte in with_clause.ctes or ():
            if isinstance(cte, ast.CommonTableExpr):
                yield from _groups(cte.ctequery)
    if isinstance(node, ast.UpdateStmt):
        yield "assigned", _res_targets(node.targetList)
    elif isinstance(node, ast.InsertStmt):
        yield "assigned", _res_targets(node.cols)
        if node.onConflictClause is not None:
            yield "assigned", _res_targets(node.onConflictClause.targetList)
    elif isinstance(node, ast.MergeStmt):
        for clause in node.mergeWhenClauses or ():
            if isinstance(clause, ast.MergeWhenClause):
                yield "assigned", _res_targets(clause.targetList)
    elif isinstance(node, ast.CreateStmt):
        yield "defined", [(_truncated(c.colname), c.location if c.location is not None else -1, False)
                          for c in node.tableElts or () if isinstance(c, ast.ColumnDef) and c.colname]
    elif isinstance(node, ast.ViewStmt):
        if node.aliases:
            yield "defined", [(_truncated(s), -1, False) for s in strings(node.aliases)]
        else:
            yield "defined", _output_names(node.query)
    elif isinstance(node, ast.CreateTableAsStmt) and node.into is not None:
        if node.into.colNames:
            yield "defined", [(_truncated(s), -1, False) for s in strings(node.into.colNames)]
        else:
            yield "defined", _output_names(node.query)
    elif isinstance(node, ast.SelectStmt) and node.intoClause is not None:
        if node.intoClause.colNames:
            yield "defined", [(_truncated(s), -1, False) for s in strings(node.intoClause.colNames)]
        else:
            yield "defined", _output_names(node)


class DuplicateColumnAssignment(LintRule):
    code = "CF135"
    name = "safety.duplicate-column-assignment"
    groups = ("safety",)
    squawk = "ban-duplicate-column-assignments"
    summary = "A column is assigned or defined more than once in one statement"
    explanation = (
        "`UPDATE ... SET a = 1, a = 2`, `INSERT INTO t (a, a)`, `ON CONFLICT DO UPDATE SET` and `MERGE` "
        "with a column twice fail with \"multiple assignments to same column\", and `CREATE TABLE` / "
        "`CREATE VIEW` / `CREATE TABLE AS` / `SELECT INTO` with a column name twice - written, or given "
        "by PostgreSQL to an unnamed select-list entry (`select 1, 2` names both `?column?`) - fail with "
        "\"column specified more than once\" (UPDATE, INSERT and CREATE TABLE docs) - so the migration "
        "fails when it runs, usually "
        "because of a copy-and-paste slip. Names compare as PostgreSQL stores them: unquoted names folded "
        "to lower case, quoted ones kept, all cut to 63 bytes. Assigning different parts of one column "
        "(`SET a.x = 1, a.y = 2`) is allowed.\n\nInstead: assign or define each column once."
    )

    node_types = (ast.UpdateStmt, ast.InsertStmt, ast.MergeStmt, ast.DeleteStmt, ast.SelectStmt, ast.CreateStmt,
                  ast.CreateForeignTableStmt, ast.ViewStmt, ast.CreateTableAsStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        for what, targets in _groups(statement.node):
            if len(targets) < 2:
                continue
            for name, loc, _ in _duplicates(targets):
                yield self.violation(
                    statement, ctx,
                    f"column {name} is {what} more than once in this statement, which PostgreSQL rejects; keep "
                    "one of them", location=loc if loc >= 0 else None)
