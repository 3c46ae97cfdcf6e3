"""CF125 safety.identifier-length: identifiers longer than 63 bytes are silently truncated."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from pglast.parser import ParseError, scan

from confiture_core.lint.rule import LintContext, LintRule, Violation
from confiture_core.sql import Statement

#: Runs of characters an unquoted identifier may contain (PostgreSQL's scanner: letters, digits,
#: ``_``, ``$`` and every non-ASCII character); an identifier of more than 63 bytes lies in such a
#: run of at least 16 characters. Written as the complement of the other ASCII characters: the same
#: set as ``[A-Za-z0-9_$\u0080-\U0010FFFF]`` (a test compares them on every code point), compiled in
#: ~0.2 ms instead of ~3-5 ms at every lint start-up.
IDENT_RUN = re.compile(r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]{16,}")


#: The same for ASCII text, where one character is one byte: a run of more than 63, found as
#: :data:`_ASCII_LONG_RUN` in the text's bytes translated by :data:`_ASCII_IDENT_MASK` (identifier
#: characters to ``a``, any other byte to a space): a substring search instead of a regular expression
#: tried at every character.
_ASCII_IDENT_MASK = bytes(0x61 if chr(b) in string.ascii_letters + string.digits + "_$" else 0x20
                          for b in range(256))


_ASCII_LONG_RUN = b"a" * 64

_QUOTE_RUNS = re.compile(rb'"+')


def may_hold_long_quoted(data: bytes) -> bool:
    """Whether the UTF-8 text ``data`` may hold a quoted identifier of more than 63 bytes (``False``: it
    cannot, whatever its strings and comments hold).

    A quoted identifier is an opening ``"``, its characters (a ``"`` written ``""``) and a closing ``"``;
    no ``"`` comes right before or after it (that would be a ``""`` inside it). So the run of ``"`` that
    holds its opening quote starts with it and has odd length (1 + 2 per ``""`` that follows), as does
    the run that holds its closing quote, and every run between them is even. Those are two consecutive
    odd runs of the text, at least 66 bytes apart for more than 63 bytes between the quotes; or, for an
    identifier made of ``""`` alone, one run of at least 130.
    """
    opening = -1  # where the last odd run started
    for m in _QUOTE_RUNS.finditer(data):
        start, end = m.span()
        if end - start >= 130:
            return True
        if (end - start) % 2:
            if opening >= 0 and end - opening >= 66:
                return True
            opening = start
    return False


class IdentifierLength(LintRule):
    code = "CF125"
    name = "safety.identifier-length"
    groups = ("safety",)
    squawk = "identifier-too-long"
    severity = "warning"
    summary = "Identifiers longer than 63 bytes are silently truncated"
    explanation = (
        "PostgreSQL keeps at most NAMEDATALEN-1 = 63 bytes of an identifier and truncates longer ones "
        "with only a NOTICE (SQL Syntax docs, 4.1.1 \"Identifiers and Key Words\"), so two long names "
        "that differ after byte 63 collide, and tools that compare names see a different one.\n\n"
        "Instead: a name of at most 63 bytes (UTF-8)."
    )
    # every statement: a long name is truncated wherever it appears (DROP TABLE, ALTER ... RENAME, SELECT)

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        # PostgreSQL's scanner truncates long identifiers before the parser sees them,
        # so the AST only holds the truncated name: look at the tokens instead.
        sql = statement.sql
        if len(sql) < 64 and (sql.isascii() or len(sql.encode("utf-8")) < 64):
            return  # fewer than 64 bytes: no identifier in it can be longer than 63 bytes
        data = sql.encode("utf-8")
        if (_ASCII_LONG_RUN not in data.translate(_ASCII_IDENT_MASK) if sql.isascii()
                else not any(len(m.group().encode("utf-8")) > 63 for m in IDENT_RUN.finditer(sql))) \
                and (b'"' not in data or not may_hold_long_quoted(data)):
            return  # no run of identifier characters long enough, no quotes far enough apart: skip the scan
        try:
            tokens = scan(statement.sql)
        except ParseError:
            return
        seen: set[str] = set()
        for tok in tokens:
            if tok.name != "IDENT":
                continue
            raw = statement.sql[tok.start : tok.end + 1]
            ident = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
            n = len(ident.encode("utf-8"))
            if n <= 63 or ident in seen:
                continue
            seen.add(ident)
            cut = ident.encode("utf-8")[:63].decode("utf-8", "ignore")
            yield self.violation(
                statement, ctx,
                f"identifier {ident} is {n} bytes; PostgreSQL silently truncates it to {cut!r} (63 bytes), so "
                "names that differ only after that collide; use a name of at most 63 bytes",
                location=statement.offset + tok.start)
