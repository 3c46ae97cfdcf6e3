"""A lint baseline: the findings accepted today, so that a run fails only on new ones.

``confiture lint --write-baseline FILE`` records every finding of the run;
``confiture lint --baseline FILE`` then leaves out each finding the file holds and
reports (and fails on) the others. A finding is matched by **rule, file and
statement**, never by line, so that lines added above a statement do not turn its
old findings into new ones.

The file is JSON (UTF-8, sorted, one finding per entry, readable in a diff)::

    {
      "version": 1,
      "tool": "confiture lint",
      "findings": [
        {
          "code": "CF101",
          "path": "migrations/0003_add_index.up.sql",
          "statement": "3f1c9a0b6e2d4f17",
          "count": 1,
          "line": 4,
          "excerpt": "CREATE INDEX orders_by_customer ON orders (customer_id)"
        }
      ]
    }

- ``code``: the rule's code; ``path``: the file relative to the project folder (POSIX
  separators), else as given;
- ``statement``: the statement's fingerprint, the first 16 hex digits of the SHA-256 of its
  tokens as PostgreSQL's scanner reads them (``pglast.parser.scan``), comments left out,
  keywords and unquoted identifiers in lower case, joined by one space: moving a statement,
  re-indenting it or editing its comments keeps its fingerprint; changing its SQL does not.
  A finding without a statement (a syntax error, ``CF000``) is fingerprinted by its message;
- ``count``: how many findings share code, path and statement (a rule may flag one statement
  twice); a run with more of them reports the extra ones;
- ``line`` and ``excerpt``: where the first one was when recorded, for people; not matched.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError
from .reporters import relative_path
from .results import LintReport
from .rule import Violation

FORMAT_VERSION = 1
TOOL = "confiture lint"
#: Token names of comments (``pglast.parser.scan``): left out of a fingerprint.
_COMMENTS = frozenset({"SQL_COMMENT", "C_COMMENT"})
#: Excerpt characters kept in the file, for people.
_EXCERPT_CHARS = 120

Key = tuple[str, str, str]


def fingerprint(sql: str) -> str:
    """The statement's fingerprint (16 hex digits), independent of its position, layout and comments.

    :param sql: one statement's text.
    :returns: the first 16 hex digits of the SHA-256 of its normalised tokens; text the scanner
        rejects is fingerprinted with its whitespace collapsed.
    """
    from pglast.parser import ParseError, scan

    try:
        parts = []
        for t in scan(sql):
            if t.name in _COMMENTS:
                continue
            text = sql[t.start:t.end + 1]
            if t.kind != "NO_KEYWORD" or (t.name == "IDENT" and not text.startswith('"')):
                text = text.lower()
            parts.append(text)
        normal = " ".join(parts).rstrip(" ;")
    except ParseError:
        normal = " ".join(sql.split())
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def finding_key(v: Violation, base: Path | None) -> Key:
    """``(code, path, statement fingerprint)`` of a finding (see the module's docstring)."""
    return v.code, relative_path(v.path, base), fingerprint(v.excerpt or v.message)


def render(violations: Iterable[Violation], base: Path | None) -> str:
    """The baseline file's text for these findings."""
    counts: Counter[Key] = Counter()
    first: dict[Key, Violation] = {}
    for v in violations:
        key = finding_key(v, base)
        counts[key] += 1
        first.setdefault(key, v)
    findings = []
    for key in sorted(counts, key=lambda k: (k[1], first[k].line, k[0], k[2])):
        code, path, statement = key
        excerpt = " ".join(first[key].excerpt.split())
        if len(excerpt) > _EXCERPT_CHARS:
            excerpt = excerpt[:_EXCERPT_CHARS - 3] + "..."
        findings.append({"code": code, "path": path, "statement": statement, "count": counts[key],
                         "line": first[key].line,
                         "excerpt": excerpt})
    return json.dumps({"version": FORMAT_VERSION, "tool": TOOL, "findings": findings}, indent=2,
                      ensure_ascii=False) + "\n"


def write(path: Path, violations: Iterable[Violation], base: Path | None) -> int:
    """Write the baseline file (replaced as a whole, never left half-written); returns the findings recorded.

    :raises ConfigError: the file cannot be written.
    """
    violations = list(violations)
    text = render(violations, base)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"--write-baseline {path}: cannot write it: {exc.strerror}; give a writable path") \
            from None
    return len(violations)


def load(path: Path) -> Counter[Key]:
    """The findings a baseline file accepts, with their counts.

    :raises ConfigError: the file is missing, unreadable, not JSON, or not a baseline (exit 2).
    """
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--baseline {path}: no such file; create it with --write-baseline {path}") from None
    except OSError as exc:
        raise ConfigError(f"--baseline {path}: cannot read it: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--baseline {path}: not a baseline file (not JSON: {exc}); "
                          "write it again with --write-baseline") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION or not isinstance(doc.get("findings"), list):
        raise ConfigError(f"--baseline {path}: not a version {FORMAT_VERSION} baseline file; "
                          "write it again with --write-baseline")
    out: Counter[Key] = Counter()
    for i, f in enumerate(doc["findings"]):
        fields = [f.get(k) for k in ("code", "path", "statement")] if isinstance(f, dict) else []
        count = f.get("count", 1) if isinstance(f, dict) else None
        if len(fields) != 3 or not all(isinstance(x, str) for x in fields) \
                or not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ConfigError(f"--baseline {path}: finding {i + 1} needs code, path, statement (strings) and "
                              "count (a positive integer); write the file again with --write-baseline")
        out[(str(fields[0]), str(fields[1]), str(fields[2]))] += count
    return out


def subtract(report: LintReport, accepted: Counter[Key], base: Path | None) -> tuple[LintReport, int]:
    """The report without the findings the baseline accepts, and how many were left out.

    Findings are taken in file order; for each key, the first ``count`` ones are accepted.
    """
    left = Counter(accepted)
    files = []
    dropped = 0
    for f in report.files:
        kept = []
        for v in f.violations:
            key = finding_key(v, base)
            if left[key] > 0:
                left[key] -= 1
                continue
            kept.append(v)
        if len(kept) != len(f.violations):
            dropped += len(f.violations) - len(kept)
            f = replace(f, violations=kept, rendered=None)
        files.append(f)
    return LintReport(files, report.rules, report.pg_version), dropped
