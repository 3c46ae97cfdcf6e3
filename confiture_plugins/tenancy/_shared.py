"""The tenancy rules' settings and the tables they look at."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pglast import ast

from confiture_core.lint.astutil import is_plain_table, table_key
from confiture_core.lint.rule import TableKey

#: The tenant column when ``[lint.tenancy] column`` is not set.
DEFAULT_COLUMN = "tenant_id"


def exempt(key: TableKey, listed: list[str]) -> bool:
    """Whether ``key`` is listed in ``[lint.tenancy] exempt`` (a name without schema matches any schema)."""
    schema, table = key
    for e in listed:
        if "." in e:
            s, t = e.rsplit(".", 1)
            if t == table and (schema is None or s == schema):
                return True
        elif e == table:
            return True
    return False


def tenant_table(node: ast.Node, config: Mapping[str, Any]) -> tuple[TableKey, str, bool] | None:
    """``(table, tenant column, whether the table has it)`` for a ``CREATE TABLE`` of a table that should
    hold tenant data (not temporary, a partition, typed, or in ``[lint.tenancy] exempt``), else ``None``.

    :param config: the rule's ``[lint.tenancy]`` settings (``column``, ``exempt``).
    """
    if not isinstance(node, ast.CreateStmt) or not is_plain_table(node):
        return None
    key = table_key(node.relation)
    if key is None or exempt(key, [str(e) for e in config.get("exempt", [])]):
        return None
    column = str(config.get("column", DEFAULT_COLUMN))
    return key, column, any(isinstance(el, ast.ColumnDef) and el.colname == column for el in node.tableElts or ())
