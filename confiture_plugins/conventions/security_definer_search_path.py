"""CF205 conventions.security-definer-search-path: SECURITY DEFINER function without a pinned search_path."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from confiture_core.lint.astutil import strings
from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement


def _function_options(node: ast.Node) -> list[ast.DefElem]:
    if isinstance(node, ast.CreateFunctionStmt):
        return [o for o in node.options or () if isinstance(o, ast.DefElem)]
    if isinstance(node, ast.AlterFunctionStmt):
        return [o for o in node.actions or () if isinstance(o, ast.DefElem)]
    return []


class SecurityDefinerSearchPath(LintRule):
    code = "CF205"
    name = "conventions.security-definer-search-path"
    groups = ("conventions", "security")
    default_enabled = False
    summary = "SECURITY DEFINER function without a pinned search_path"
    explanation = (
        "A SECURITY DEFINER function runs with its owner's privileges. Unless its `search_path` is fixed, "
        "a caller can create objects in a schema earlier in their path (e.g. `pg_temp` or a writable "
        "schema) and have the function run them as the owner (CREATE FUNCTION docs, \"Writing SECURITY "
        "DEFINER Functions Safely\").\n\nInstead: add `SET search_path = pg_catalog, pg_temp` (and "
        "schema-qualify the objects used), or `SET search_path = ''`."
    )
    node_types = (ast.CreateFunctionStmt, ast.AlterFunctionStmt)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        opts = _function_options(statement.node)
        definer = any(o.defname == "security" and isinstance(o.arg, ast.Boolean) and o.arg.boolval for o in opts)
        if not definer:
            return
        pinned = any(
            o.defname == "set" and isinstance(o.arg, ast.VariableSetStmt)
            and (o.arg.name or "").lower() == "search_path" for o in opts)
        if pinned:
            return
        node = statement.node
        fn = node.funcname if isinstance(node, ast.CreateFunctionStmt) else (
            node.func.objname if isinstance(node, ast.AlterFunctionStmt) and node.func is not None else ())
        yield self.violation(
            statement, ctx,
            f"SECURITY DEFINER function {'.'.join(strings(fn))} has no fixed search_path: a caller can shadow the "
            "objects it uses and run code with its owner's privileges; add SET search_path = pg_catalog, pg_temp")
