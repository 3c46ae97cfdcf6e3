"""Lint options: the settings besides the rules that decide findings (:class:`LintOptions`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
