"""Shared helpers for the lint tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from confiture_core.lint.engine import lint_text
from confiture_core.lint.options import LintOptions
from confiture_core.lint.rule import LintRule, Violation
from confiture_plugins import conventions, cqrs, safety, tenancy

REPO = Path(__file__).resolve().parents[2]
CORPUS = (REPO / ".." / "shared" / "corpus").resolve()
ALL_RULES: list[type[LintRule]] = [*safety.confiture_lint_rules(), *conventions.confiture_lint_rules(),
                                   *tenancy.confiture_lint_rules(), *cqrs.confiture_lint_rules()]
BY_CODE = {r.code: r for r in ALL_RULES}


def run(sql: str, rules: Sequence[type[LintRule]] | str, *, pg: int = 18, config: dict[str, Any] | None = None,
        path: str = "1_m.up.sql", lock_timeout: str | None = None) -> list[Violation]:
    """Lint ``sql`` with the given rules (or one code) and return the findings."""
    if isinstance(rules, str):
        rules = [BY_CODE[rules]]
    options = LintOptions(pg_version=pg, lint_config=config or {}, runner_lock_timeout=lock_timeout)
    return lint_text(sql, path, [r() for r in rules], options).violations


def codes(sql: str, rules: Sequence[type[LintRule]] | str, **kw: Any) -> list[str]:
    """The codes found, in order."""
    return [v.code for v in run(sql, rules, **kw)]
