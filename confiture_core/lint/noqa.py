"""Suppression comments: finding ``-- confiture: noqa`` directives and applying them to findings.

- ``-- confiture: noqa CF101`` (or ``CF101,CF104``; no codes = every code)
  inside a statement, on the line of its end, or on the lines just before it.
- ``-- confiture: noqa-file CF101`` anywhere: for the whole file.

Comments are found with PostgreSQL's own scanner, so text inside strings never counts.
An unused directive gives a ``CF002`` finding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pglast.parser import ParseError, scan

from ..sql import Statement
from .codes import CODE_RE, META_CODES, meta_violation
from .rule import Violation

_NOQA_RE = re.compile(
    r"confiture:\s*noqa(?P<file>-file)?\b(?:\s*:?\s*(?P<codes>[A-Z][A-Z0-9]*\d{3}(?:[\s,]+[A-Z][A-Z0-9]*\d{3})*))?"
)


@dataclass
class Noqa:
    line: int
    codes: frozenset[str] | None  # None = every code
    whole_file: bool
    target: int | None  # statement index, None when attached to nothing
    used: set[str] = field(default_factory=set)


def _comments(text: str) -> list[tuple[int, int, str]]:
    """(start, end exclusive, text) of every comment holding a directive."""
    try:
        tokens = scan(text)
    except ParseError:
        return [(m.start(), m.end(), m.group()) for m in re.finditer(r"--[^\n]*", text)]
    return [
        (t.start, t.end + 1, text[t.start : t.end + 1])
        for t in tokens
        if t.name in ("SQL_COMMENT", "C_COMMENT") and "confiture:" in text[t.start : t.end + 1]
    ]


def find_noqa(text: str, statements: Sequence[Statement]) -> list[Noqa]:
    if "noqa" not in text:
        return []
    out: list[Noqa] = []
    spans = [(s.offset, s.offset + len(s.sql)) for s in statements]
    for start, _end, body in _comments(text):
        for m in _NOQA_RE.finditer(body):
            pos = start + m.start()
            line = text.count("\n", 0, pos) + 1
            codes = frozenset(CODE_RE.findall(m["codes"])) if m["codes"] else None
            target: int | None = None
            if not m["file"]:
                for i, (s, e) in enumerate(spans):
                    if s <= pos < e:
                        target = i
                        break
                    if e <= pos and "\n" not in text[e:pos]:
                        target = i  # trailing comment on the statement's last line
                        break
                    if s > pos:
                        target = i  # comment just before the statement
                        break
            out.append(Noqa(line, codes, bool(m["file"]), target))
    return out


def apply_noqa(
    violations: list[Violation],
    statements: Sequence[Statement],
    directives: list[Noqa],
    path: str,
    known_codes: frozenset[str],
    selected_codes: frozenset[str],
) -> list[Violation]:
    if not directives:
        return violations
    line_to_stmt: dict[int, int] = {}
    kept: list[Violation] = []
    for v in violations:
        stmt_index = line_to_stmt.get(v.line)
        if stmt_index is None:
            stmt_index = _statement_at(statements, v.line)
            line_to_stmt[v.line] = stmt_index
        suppressed = False
        for d in directives:
            if v.code in ("CF000", "CF003"):
                continue
            if (d.whole_file or d.target == stmt_index) and (d.codes is None or v.code in d.codes):
                d.used.add(v.code)
                suppressed = True
        if not suppressed:
            kept.append(v)
    for d in directives:
        form = "noqa-file" if d.whole_file else "noqa"
        if d.codes is None:
            if not d.used:
                kept.append(meta_violation("CF002", path, d.line, 1,
                                  f"'confiture: {form}' suppresses no finding here; remove the comment"))
            continue
        for code in sorted(d.codes - d.used):
            if code not in known_codes and code not in META_CODES:
                msg = f"'confiture: {form} {code}' names an unknown rule code; fix or remove it"
            elif code in selected_codes:
                msg = (f"'confiture: {form} {code}' suppresses no {code} finding "
                       f"{'in this file' if d.whole_file else 'on this statement'}; remove {code} from it")
            else:
                continue  # the rule did not run: cannot tell
            kept.append(meta_violation("CF002", path, d.line, 1, msg))
    return kept


def _statement_at(statements: Sequence[Statement], line: int) -> int:
    found = -1
    for i, s in enumerate(statements):
        if s.line <= line:
            found = i
        else:
            break
    return found
