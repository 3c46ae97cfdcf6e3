"""Confiture's lint engine: rules come from plugins (``confiture_lint_rules``).

Public API: :class:`~confiture_core.lint.rule.LintRule`,
:class:`~confiture_core.lint.rule.Violation`,
:class:`~confiture_core.lint.rule.LintContext` (rule authors), and
:class:`~confiture_core.lint.engine.Linter` (running rules over files).

The names are loaded on first use, so that importing a light submodule
(:mod:`~confiture_core.lint.replay`, which runs before the CLI) imports neither
pglast nor typing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .rule import LintContext, LintRule, Violation

__all__ = ["LintContext", "LintRule", "Violation"]


def __getattr__(name: str) -> type:
    if name in __all__:
        from . import rule

        found: type = getattr(rule, name)
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
