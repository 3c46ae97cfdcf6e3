"""Confiture's lint engine: rules come from plugins (``confiture_lint_rules``).

Public API: :class:`~confiture_core.lint.rule.LintRule`,
:class:`~confiture_core.lint.rule.Violation`,
:class:`~confiture_core.lint.rule.LintContext` (rule authors), and
:class:`~confiture_core.lint.engine.Linter` (running rules over files).
"""

from .rule import LintContext, LintRule, Violation

__all__ = ["LintContext", "LintRule", "Violation"]
