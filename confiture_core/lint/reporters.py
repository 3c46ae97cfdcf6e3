"""Output formats of ``confiture lint``: text, json, sarif (2.1.0) and github.

Every reporter takes a :class:`~confiture_core.lint.results.LintReport` and
returns the whole output as ``str`` (the command writes it to stdout).
Paths are shown relative to ``base`` (the project folder) when below it.

- ``text``: for people, rendered with rich: ``path:line:col CODE [severity]
  message``, a short excerpt of the offending statement, and a summary.
- ``json``: one document: ``{"version": 1, "pg_version", "files", "rules",
  "violations": [...], "summary": {...}}``.
- ``sarif``: SARIF 2.1.0 (OASIS standard, schema
  ``sarif-schema-2.1.0.json``), as GitHub code scanning reads it.
- ``github``: GitHub Actions workflow commands, one line per finding:
  ``::error file=PATH,line=N,col=N,title=CF101::message`` (``::warning`` for
  warnings), as documented in GitHub's "Workflow commands" page.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..hanging import print_hanging
from ..words import count
from .codes import META_CODES
from .results import FileResult, LintReport
from .rule import Violation

FORMATS = ("text", "json", "sarif", "github")
EXCERPT_LINES = 4
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULE_DOCS = "docs/lint-rules.md"
#: the indent of a finding's lines after its first, at a terminal (columns)
_HANG = 4


_rel_memo: dict[tuple[str, str], str] = {}


def relative_path(path: str, base: Path | None) -> str:
    """``path`` relative to ``base`` (POSIX separators) when below it, else as given (memoised)."""
    if base is None:
        return path
    key = (path, str(base))
    if key not in _rel_memo:
        _rel_memo[key] = _relative(path, key[1])
    return _rel_memo[key]


_rel = relative_path


def _relative(path: str, base: str) -> str:
    full, root = os.path.abspath(path), os.path.abspath(base)
    if os.sep == "/":  # string form of Path(full).relative_to(root).as_posix(), without pathlib's cost
        if full == root:
            return "."
        prefix = root if root.endswith("/") else root + "/"
        return full[len(prefix):] if full.startswith(prefix) else path
    try:
        return Path(full).relative_to(root).as_posix()
    except ValueError:
        return path


def _dumps(doc: Any, end: str = "") -> str:
    """``json.dumps(doc, indent=2) + end``, same text, faster on lists of flat objects.

    The standard library's C encoder is not used when ``indent`` is set; here
    the strings and numbers go through the C functions and only the layout is
    done in Python.
    """
    out: list[str] = []
    _dump(doc, out, "\n")
    out.append(end)
    return "".join(out)


_enc_str = json.encoder.encode_basestring_ascii


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return _enc_str(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if type(v) is int:
        return int.__repr__(v)
    return json.dumps(v)


class _Rows:
    """A list of objects that all have the same keys and scalar values, held as one tuple per object.

    Laid out by :meth:`render` as ``indent=2`` lays out the list of objects: each string through the
    C function :func:`json.encoder.encode_basestring_ascii`, with no per-object ``dict``.

    :param keys: the objects' keys, in order.
    :param rows: one tuple of values per object, in the order of ``keys``.
    """

    def __init__(self, keys: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        self.keys = keys
        self.rows = rows

    def render(self, pad: str) -> str:
        """The list's text when it starts at indentation ``pad`` (a newline and spaces)."""
        return "[" + self.objects(pad) + pad + "]" if self.rows else "[]"

    def objects(self, pad: str) -> str:
        """The objects' text, comma-separated, without the brackets (``""`` for no rows).

        Encoded a column at a time (one C call per value, no Python frame), then one
        ``%`` formatting per object.
        """
        if not self.rows:
            return ""
        inner = pad + "  "
        member = "," + inner + "  "
        template = (inner + "{" + inner + "  "
                    + member.join(_enc_str(k).replace("%", "%%") + ": %s" for k in self.keys) + inner + "}")
        columns = [_encoded(list(col), inner + "  ") for col in zip(*self.rows, strict=True)]
        return ",".join([template % values for values in zip(*columns, strict=True)])


class _Joined:
    """A list of objects whose text was made in parts (:meth:`_Rows.objects` at :data:`_VIOLATIONS_PAD`)."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = [p for p in parts if p]

    def render(self, pad: str) -> str:
        """The list's text; ``pad`` must be the one the parts were made for."""
        out: list[str] = []
        self.write(out, pad)
        return "".join(out)

    def write(self, out: list[str], pad: str) -> None:
        """Append the list's text to ``out`` part by part: the document is joined once, at the end,
        instead of the whole list being copied into a new string at each step (on lemmy's 3.5 MB of
        findings, ~8 copies and their page faults cost ~8 ms)."""
        if pad != _VIOLATIONS_PAD:
            raise ValueError(f"parts made for indentation {_VIOLATIONS_PAD!r}, not {pad!r}")
        if not self.parts:
            out.append("[]")
            return
        out.append("[")
        sep = ""
        for part in self.parts:
            out.append(sep)
            out.append(part)
            sep = ","
        out.append(pad + "]")


def _encoded(values: list[Any], pad: str) -> list[str]:
    """Each value's JSON text as a member of an object whose members start at indentation ``pad``."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(_enc_str, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    return [_member_value(v, pad) for v in values]


def _member_value(v: Any, pad: str) -> str:
    """A value's JSON text: a list, tuple or dict (a rule pack may put one in a finding) laid out by
    :func:`_dump` at ``pad``, as ``indent=2`` does; anything else by :func:`_scalar`."""
    if isinstance(v, dict | list | tuple | _Rows | _Joined):
        out: list[str] = []
        _dump(v, out, pad)
        return "".join(out)
    return _scalar(v)


def _key(k: Any) -> str:
    """An object key's JSON text, converted as :func:`json.dumps` converts it (it must be a string)."""
    if isinstance(k, str):
        return _enc_str(k)
    if k is True or k is False or k is None:
        return _enc_str(_scalar(k))
    if isinstance(k, float):
        return _enc_str(json.dumps(k))
    if isinstance(k, int):
        return _enc_str(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _dump(obj: Any, out: list[str], pad: str) -> None:
    if isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        inner = pad + "  "
        out.append("{")
        sep = inner
        for k, v in obj.items():
            out.append(sep)
            sep = "," + inner
            if isinstance(v, _Joined):
                out.append(_key(k) + ": ")
                v.write(out, inner)
            else:
                out.append(_key(k) + ": " + _member_value(v, inner))
        out.append(pad + "}")
    elif isinstance(obj, _Joined):
        obj.write(out, pad)
    elif isinstance(obj, _Rows):
        out.append(obj.render(pad))
    elif isinstance(obj, list | tuple):
        if not obj:
            out.append("[]")
            return
        inner = pad + "  "
        out.append("[")
        sep = inner
        for v in obj:
            out.append(sep)
            sep = "," + inner
            out.append(_member_value(v, inner))
        out.append(pad + "]")
    else:
        out.append(_scalar(obj))


def excerpt(v: Violation, lines: int = EXCERPT_LINES) -> list[str]:
    """The first ``lines`` lines of the statement, from the violation's line on when inside it."""
    text = v.excerpt.splitlines()
    if not text:
        return []
    shown = text[:lines]
    if len(text) > lines:
        shown.append("...")
    return shown


def render_text(report: LintReport, base: Path | None = None, *, color: bool = False,
                width: int | None = None) -> str:
    """Human-readable findings with excerpts and a one-line summary.

    :param report: the lint result.
    :param base: folder that paths are shown relative to.
    :param color: emit ANSI styles (``True`` on a terminal without ``NO_COLOR``).
    :param width: the terminal's width in columns: a finding is wrapped between words to fit it, its lines
        after the first indented by 4 columns, and each excerpt line is cut with an ellipsis; ``None`` (a pipe or
        a file): each finding stays on one line, however long.
    """
    from rich.console import Console  # only the text format needs rich
    from rich.markup import escape
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, no_color=not color, width=width or 120, highlight=False,
                      soft_wrap=width is None, color_system="auto" if color else None)

    def hanging(markup: str) -> None:
        if width is None:
            console.print(markup)
            return
        print_hanging(console, Text.from_markup(markup), _HANG, width)

    for v in report.violations:
        style = "bold red" if v.severity == "error" else "yellow"
        hanging(
            f"[bold]{escape(_rel(v.path, base))}:{v.line}:{v.column}[/bold]: "
            f"[{style}]{v.code}[/{style}] [{style}]{v.severity}[/{style}] "
            f"[dim]({escape(v.name)})[/dim] {escape(v.message)}"
        )
        for i, line in enumerate(excerpt(v)):
            text = f"  [dim]{v.line + i if line != '...' else '':>5} |[/dim] {escape(line)}"
            if width is None:
                console.print(text)
            else:
                console.print(text, no_wrap=True, overflow="ellipsis")
    n_err, n_warn = report.count("error"), report.count("warning")
    files = count(len(report.files), "file")
    stmts = count(sum(f.statements for f in report.files), "statement")
    rules = count(len(report.rules), "rule")
    if n_err or n_warn:
        hanging(
            f"[bold]Found {count(n_err, 'error')} and {count(n_warn, 'warning')}[/bold] in {files} "
            f"({stmts}, {rules}, PostgreSQL {report.pg_version}); "
            f"rule details: confiture lint --explain CODE or {RULE_DOCS}"
        )
    else:
        hanging(f"[bold green]No findings[/bold green] in {files} ({stmts}, {rules}, PostgreSQL {report.pg_version})")
    return buf.getvalue()


def _rule_table(report: LintReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"code": r.code, "name": r.name, "groups": list(r.groups), "severity": r.severity, "summary": r.summary,
         "source": r.__module__}
        for r in report.rules
    ]
    rows += [{"code": c, "name": n, "groups": ["core"], "severity": s, "summary": t, "source": "confiture_core"}
             for c, (n, s, t) in META_CODES.items()]
    return rows


_VIOLATION_KEYS = ("code", "message", "path", "line", "column", "severity", "excerpt", "name")
#: The indentation of the JSON document's ``violations`` list (a member of the top-level object).
_VIOLATIONS_PAD = "\n  "


def _json_key(base: Path | None) -> str:
    return f"json {base}"


def _violation_objects(result: FileResult, base: Path | None) -> str:
    """The JSON text of a file's findings as members of the ``violations`` list (``""``: none); the text
    :func:`prepare_json` made where the file was linted when there is one for this ``base``."""
    if result.rendered is not None and result.rendered[0] == _json_key(base):
        return result.rendered[1]
    found = result.violations
    if not found:
        return ""
    text = _usual_violation_objects(found, base)
    if text is not None:
        return text
    rows = [(v.code, v.message, _rel(v.path, base), v.line, v.column, v.severity, v.excerpt, v.name)
            for v in found]
    return _Rows(_VIOLATION_KEYS, rows).objects(_VIOLATIONS_PAD)


#: One finding's object in the ``violations`` list, as :meth:`_Rows.objects` lays it out at
#: :data:`_VIOLATIONS_PAD`, with a ``%s`` for each value's JSON text.
_VIOLATION_TEMPLATE = (_VIOLATIONS_PAD + "  {" + _VIOLATIONS_PAD + "    "
                       + ("," + _VIOLATIONS_PAD + "    ").join(_enc_str(k) + ": %s" for k in _VIOLATION_KEYS)
                       + _VIOLATIONS_PAD + "  }")


def _usual_violation_objects(found: list[Violation], base: Path | None) -> str | None:
    """:func:`_violation_objects`' text for findings whose fields have their usual types (``str``, and
    ``int`` line and column), one ``%`` formatting per finding, the file's path encoded once: the same
    text as :class:`_Rows` makes, in about half the time (lemmy's 5,000 findings: ~14 ms less);
    ``None`` for anything else (a rule pack's own value types), which :class:`_Rows` lays out."""
    if not all(type(v.line) is int and type(v.column) is int for v in found):
        return None
    first = found[0].path
    enc = _enc_str
    try:
        path = enc(_rel(first, base))
        return ",".join([_VIOLATION_TEMPLATE % (
            enc(v.code), enc(v.message), path if v.path == first else enc(_rel(v.path, base)), v.line, v.column,
            enc(v.severity), enc(v.excerpt), enc(v.name)) for v in found])
    except TypeError:  # a value that is not a str
        return None


def prepare_json(base: Path | None = None) -> Callable[[FileResult], None]:
    """A ``prepare`` function for :class:`~confiture_core.lint.engine.Linter`: each file's findings are
    laid out as :func:`render_json` lays them out (for the same ``base``) by the process that linted
    the file, so that work is shared between processes; :func:`render_json` then joins the parts."""
    key = _json_key(base)

    def prepare(result: FileResult) -> None:
        result.rendered = (key, _violation_objects(result, base))

    return prepare


def render_json(report: LintReport, base: Path | None = None) -> str:
    """One JSON document (``version`` 1) with every finding, the rules that ran and a summary."""
    violations = report.violations
    doc = {
        "version": 1,
        "tool": {"name": "confiture", "version": __version__},
        "pg_version": report.pg_version,
        "files": _Rows(("path", "statements", "cached"),
                       [(_rel(f.path, base), f.statements, f.cached) for f in report.files]),
        "rules": _rule_table(report),
        "violations": _Joined([_violation_objects(f, base) for f in report.files]),
        "summary": {
            "files": len(report.files),
            "statements": sum(f.statements for f in report.files),
            "errors": sum(1 for v in violations if v.severity == "error"),
            "warnings": sum(1 for v in violations if v.severity == "warning"),
            "cache_hits": report.cache_hits,
        },
    }
    return _dumps(doc, "\n")


def render_sarif(report: LintReport, base: Path | None = None) -> str:
    """A SARIF 2.1.0 log with one run; results point at ``%SRCROOT%``-relative files."""
    rules = _rule_table(report)
    index = {r["code"]: i for i, r in enumerate(rules)}
    driver_rules = []
    for r in rules:
        cls = next((c for c in report.rules if c.code == r["code"]), None)
        full = (cls.explanation if cls is not None and cls.explanation else r["summary"])
        driver_rules.append({
            "id": r["code"],
            "name": r["name"],
            "shortDescription": {"text": r["summary"]},
            "fullDescription": {"text": full},
            "help": {"text": full, "markdown": full},
            "defaultConfiguration": {"level": r["severity"]},
            "properties": {"tags": r["groups"]},
        })
    results = []
    for v in report.violations:
        region: dict[str, Any] = {"startLine": v.line, "startColumn": v.column}
        if v.excerpt:
            region["snippet"] = {"text": v.excerpt}
        results.append({
            "ruleId": v.code,
            "ruleIndex": index.get(v.code, 0),
            "level": v.severity,
            "message": {"text": v.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _rel(v.path, base), "uriBaseId": "%SRCROOT%"},
                    "region": region,
                }
            }],
        })
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "confiture",
            "version": __version__,
            "informationUri": "https://pypi.org/project/confiture/",
            "rules": driver_rules,
        }},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if base is not None:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": base.resolve().as_uri() + "/"}}
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


def _gh_escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(s: str) -> str:
    return _gh_escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render_github(report: LintReport, base: Path | None = None) -> str:
    """GitHub Actions annotation commands, one line per finding."""
    out = []
    for v in report.violations:
        level = "error" if v.severity == "error" else "warning"
        out.append(
            f"::{level} file={_gh_escape_prop(_rel(v.path, base))},line={v.line},col={v.column},"
            f"title={_gh_escape_prop(v.code)}::{_gh_escape_data(f'{v.code} ({v.name}): {v.message}')}"
        )
    return "".join(line + "\n" for line in out)


RENDERERS: dict[str, Callable[[LintReport, Path | None], str]] = {
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
}
