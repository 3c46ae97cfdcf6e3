"""Finding codes: the engine's own (``CF000``-``CF003``: findings about a file) and the form of a rule code."""

from __future__ import annotations

import re

from .rule import Severity, Violation

#: Engine-level codes (not rules): code -> (name, severity, summary).
META_CODES: dict[str, tuple[str, Severity, str]] = {
    "CF000": ("core.syntax-error", "error", "PostgreSQL's parser rejects the file"),
    "CF001": ("core.internal-error", "error", "a lint rule crashed on this file"),
    "CF002": ("core.unused-noqa", "warning", "a noqa comment suppresses nothing"),
    "CF003": ("core.file-error", "error", "the file cannot be read, or cannot run as written"),
}

#: A rule code (``CF101``, ``EX001``) anywhere in a text.
CODE_RE = re.compile(r"[A-Z][A-Z0-9]*\d{3}")


def meta_violation(code: str, path: str, line: int, column: int, message: str, excerpt: str = "") -> Violation:
    """A finding of an engine code (a key of :data:`META_CODES`) at ``line`` and ``column`` (1-based)."""
    name, severity, _ = META_CODES[code]
    return Violation._make(code, message, path, line, column, severity, excerpt, name)
