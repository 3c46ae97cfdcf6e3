"""Lint options: the settings besides the rules that decide findings (:class:`LintOptions`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .rule import NEWEST_PG_VERSION, LintRule


@dataclass(frozen=True)
class LintOptions:
    """Settings that affect findings (and so are part of the cache key).

    :ivar pg_version: target PostgreSQL major version.
    :ivar lint_config: the raw ``[lint]`` table (rules read their sub-tables).
    :ivar runner_lock_timeout: the project's ``lock_timeout`` setting, which the
        runner applies before every migration (``None`` when unset).
    :ivar runner_statement_timeout: the project's ``statement_timeout`` setting, which the
        runner applies before every migration (``None`` when unset or ``0``).
    :ivar ignore_meta: engine codes (``CF000``...) not to report.
    :ivar mixed: the project's ``mixed`` setting: a file mixing statements that need
        autocommit with others runs in autocommit instead of being refused (``CF003``).
    """

    pg_version: int = NEWEST_PG_VERSION
    lint_config: Mapping[str, Any] = field(default_factory=dict)
    runner_lock_timeout: str | None = None
    runner_statement_timeout: str | None = None
    ignore_meta: frozenset[str] = frozenset()
    mixed: bool = False

    def rule_config(self, rule: type[LintRule]) -> dict[str, Any]:
        """``[lint.<group>]`` tables of the rule's groups merged, then ``[lint.<code>]``."""
        merged: dict[str, Any] = {}
        for key in (*rule.groups, rule.code, rule.name):
            table = self.lint_config.get(key)
            if isinstance(table, dict):
                merged.update(table)
        return merged


def check_rule_settings(lint_config: Mapping[str, Any], rules: Sequence[type[LintRule]], where: str) -> None:
    """Refuse a key of a ``[lint.<group, code or name>]`` table that none of the rules it is for reads.

    A table is checked when every rule it is for (by group, code or dotted name, among ``rules``:
    every rule known, selected or not) declares its :attr:`~.rule.LintRule.settings`.

    :param lint_config: the ``[lint]`` table.
    :param rules: every rule class known.
    :param where: the configuration file, for the message.
    :raises ConfigError: an unknown key (one line naming the file, the table and the key; exit 2).
    """
    for table, value in lint_config.items():
        if not isinstance(value, Mapping):
            continue
        concerned = [r for r in rules if table in r.groups or table in (r.code, r.name)]
        if not concerned or any(r.settings is None for r in concerned):
            continue
        known = set().union(*(r.settings or () for r in concerned))
        unknown = sorted(str(k) for k in value if k not in known)
        if unknown:
            raise ConfigError(f"{where}: [lint.{table}] has no setting {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(sorted(known)) or 'none'}")


def unused_rule_tables(lint_config: Mapping[str, Any], rules: Sequence[type[LintRule]]) -> list[str]:
    """The ``[lint.<name>]`` tables that name no known rule: no group, code or dotted name of ``rules`` (a typo
    such as ``[lint.saftey]``, or the table of a rule pack that is not loaded); their settings are read by nothing.

    :param lint_config: the ``[lint]`` table.
    :param rules: every rule class known.
    :returns: the names of those tables, sorted.
    """
    return sorted(table for table, value in lint_config.items() if isinstance(value, Mapping)
                  and not any(table in r.groups or table in (r.code, r.name) for r in rules))
