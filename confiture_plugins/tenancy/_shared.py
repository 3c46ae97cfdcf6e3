"""The tenancy rules' settings and the tables they look at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pglast import ast

from confiture_core.lint.astutil import is_plain_table, table_key
from confiture_core.lint.rule import TableKey

#: The tenant column when ``[lint.tenancy] column`` is not set.
DEFAULT_COLUMN = "tenant_id"


def settings(config: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``(tenant column, exempt tables)`` from the rule's ``[lint.tenancy]`` settings."""
    column = str(config.get("column", DEFAULT_COLUMN))
    exempt = [str(e) for e in config.get("exempt", [])]
    return column, exempt


def _exempt(key: TableKey, exempt: list[str]) -> bool:
    schema, table = key
    for e in exempt:
        if "." in e:
            s, t = e.rsplit(".", 1)
            if t == table and (schema is None or s == schema):
                return True
        elif e == table:
            return True
    return False


def candidate(node: ast.Node, exempt: list[str]) -> TableKey | None:
    """The table a ``CREATE TABLE`` makes when it should hold tenant data (not temporary, a partition,
    typed, or exempt), else ``None``."""
    if not isinstance(node, ast.CreateStmt) or not is_plain_table(node):
        return None
    key = table_key(node.relation)
    if key is None or _exempt(key, exempt):
        return None
    return key


def columns(node: ast.CreateStmt) -> list[str]:
    """The names of the columns a ``CREATE TABLE`` defines."""
    return [el.colname for el in node.tableElts or () if isinstance(el, ast.ColumnDef) and el.colname]
