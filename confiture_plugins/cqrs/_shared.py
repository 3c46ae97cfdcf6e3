"""The cqrs rules' naming convention: which names are the write side, which are read models, and their refresh."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pglast import ast

from confiture_core.errors import ConfigError
from confiture_core.lint.astutil import strings
from confiture_core.sql import Statement

DEFAULTS: dict[str, list[str]] = {
    "write_tables": ["tb_*"],
    "views": ["v_*"],
    "read_tables": ["tv_*"],
    "refresh_functions": ["refresh_{name}", "fn_refresh_{name}"],
}

#: The keys of ``[lint.cqrs]`` (every cqrs rule's ``settings``: another key is a configuration error).
SETTINGS = frozenset({*DEFAULTS, "sources"})


def _patterns(config: Mapping[str, Any], key: str) -> list[str]:
    value = config.get(key, DEFAULTS[key])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[lint.cqrs] {key} must be a list of names or patterns like [\"tb_*\"], got {value!r}")
    return list(value)


def _entity(name: str, pattern: str) -> str | None:
    """What the ``*`` of a one-wildcard pattern matches in ``name`` (``tb_user``, ``tb_*``: ``user``)."""
    if pattern.count("*") != 1 or "?" in pattern or "[" in pattern:
        return None
    prefix, suffix = pattern.split("*")
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix):len(name) - len(suffix)]
    return None


class Names:
    """The convention of one run (``[lint.cqrs]``, see the package's docstring).

    :raises ConfigError: a setting of the wrong type (the run stops: exit 2).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.write = _patterns(config, "write_tables")
        self.views = _patterns(config, "views")
        self.tables = _patterns(config, "read_tables")
        self.refresh = _patterns(config, "refresh_functions")
        sources = config.get("sources", {})
        if not isinstance(sources, Mapping) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in sources.values()):
            raise ConfigError("[lint.cqrs] sources must map write tables to lists of read models, "
                              "e.g. {tb_user = [\"tv_user_profile\"]}")
        self.sources = {str(k): list(v) for k, v in sources.items()}

    @staticmethod
    def _any(name: str | None, patterns: Sequence[str]) -> bool:
        return name is not None and any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def is_write(self, name: str | None) -> bool:
        """Whether ``name`` is a write-side table."""
        return self._any(name, self.write)

    def is_read_table(self, name: str | None) -> bool:
        """Whether ``name`` is a table-backed read model."""
        return self._any(name, self.tables)

    def is_read_model(self, name: str | None) -> bool:
        """Whether ``name`` is a read model (a view or a table-backed one)."""
        return self._any(name, self.views) or self.is_read_table(name)

    def entity(self, name: str, patterns: Sequence[str]) -> str | None:
        """The entity a name stands for under one of ``patterns`` (``tv_user``: ``user``)."""
        for p in patterns:
            found = _entity(name, p)
            if found is not None:
                return found
        return None

    def refresh_functions(self, read_table: str) -> list[str]:
        """The names the refresh function of the table-backed read model ``read_table`` may have, in the
        order of ``refresh_functions`` (the first is the one messages suggest)."""
        entity = self.entity(read_table, self.tables) or read_table
        found = [p.replace("{name}", read_table).replace("{entity}", entity) for p in self.refresh]
        return list(dict.fromkeys(found))

    def is_refresh_function(self, name: str) -> bool:
        """Whether ``name`` is the refresh function of some table-backed read model."""
        for p in self.refresh:
            for t in self.tables:
                pattern = p.replace("{name}", t).replace("{entity}", "*")
                if fnmatch.fnmatchcase(name, pattern):
                    return True
        return False

    def read_tables_of(self, write_table: str) -> list[str]:
        """The table-backed read models built from ``write_table``: the one of the same entity (under each
        ``read_tables`` pattern with one ``*``) and those listed in ``sources``."""
        out = [m for m in self.sources.get(write_table, []) if self.is_read_table(m)]
        entity = self.entity(write_table, self.write)
        if entity is not None:
            for p in self.tables:
                if p.count("*") == 1 and "?" not in p and "[" not in p:
                    name = p.replace("*", entity)
                    if name not in out:
                        out.append(name)
        return out


def names(config: Mapping[str, Any], memo: dict[str, Any]) -> Names:
    """The run's :class:`Names`, built once per file (kept in the rule's ``ctx.state``)."""
    found = memo.get("cqrs.names")
    if found is None:
        found = memo["cqrs.names"] = Names(config)
    assert isinstance(found, Names)
    return found


def called_functions(node: ast.Node) -> Iterator[str]:
    """The names (without schema) of the functions a ``SELECT f(...)`` target list or ``CALL p(...)`` calls."""
    if isinstance(node, ast.CallStmt) and node.funccall is not None:
        parts = strings(node.funccall.funcname)
        if parts:
            yield parts[-1]
    if isinstance(node, ast.SelectStmt):
        for target in node.targetList or ():
            value = target.val if isinstance(target, ast.ResTarget) else None
            if isinstance(value, ast.FuncCall):
                parts = strings(value.funcname)
                if parts:
                    yield parts[-1]
        for item in node.fromClause or ():  # SELECT * FROM refresh_tv_user()
            if isinstance(item, ast.RangeFunction):
                for f in item.functions or ():
                    call = f[0] if isinstance(f, tuple) and f else None
                    if isinstance(call, ast.FuncCall):
                        parts = strings(call.funcname)
                        if parts:
                            yield parts[-1]


def created_functions(statements: Sequence[Statement]) -> Iterator[str]:
    """The names (without schema) of the functions and procedures a file creates."""
    for s in statements:
        if isinstance(s.node, ast.CreateFunctionStmt):
            parts = strings(s.node.funcname)
            if parts:
                yield parts[-1]
