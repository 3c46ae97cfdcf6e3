"""Lint results: the findings of one file (:class:`FileResult`) and of a whole run (:class:`LintReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rule import LintRule, Severity, Violation


@dataclass
class FileResult:
    """The outcome of linting one file.

    :ivar path: the file (``str``).
    :ivar violations: its findings after ``noqa``, sorted by line.
    :ivar statements: how many statements it has (0 when it does not parse).
    :ivar cached: ``True`` when the result came from the cache.
    :ivar rendered: ``(key, text)``: the findings already laid out for an output format by the
        :class:`~confiture_core.lint.engine.Linter`'s ``prepare`` function, in the process that linted the file (see
        :func:`confiture_core.lint.reporters.prepare_json`); ``None`` when not made. Not cached.
    """

    path: str
    violations: list[Violation]
    statements: int = 0
    cached: bool = False
    rendered: tuple[str, str] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the cache's)."""
        return {"path": self.path, "statements": self.statements,
                "violations": [v.to_dict() for v in self.violations]}


@dataclass
class LintReport:
    """Everything one ``lint`` run found.

    :ivar files: per-file results, in the order the files were given.
    :ivar rules: the rule classes that ran.
    :ivar pg_version: the target PostgreSQL major version.
    """

    files: list[FileResult]
    rules: list[type[LintRule]]
    pg_version: int

    @property
    def violations(self) -> list[Violation]:
        """All findings, by file then line."""
        return [v for f in self.files for v in f.violations]

    @property
    def cache_hits(self) -> int:
        """How many files were answered from the cache."""
        return sum(1 for f in self.files if f.cached)

    def count(self, severity: Severity) -> int:
        """Number of findings of one severity."""
        return sum(1 for v in self.violations if v.severity == severity)
