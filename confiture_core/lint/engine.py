"""The lint engine: rule selection, per-file linting, noqa, the result cache, parallelism.

Flow for one file: read it (:func:`confiture_core.migrations.read_text`), parse it
(:func:`confiture_core.sql.parse_sql_text`), decide whether the runner wraps it in
a transaction (:func:`confiture_core.migrations.sql_transaction_mode`, the rule
:meth:`~confiture_core.migrations.Migration.is_transactional` applies), run
every selected rule over every statement, then apply ``noqa`` comments.

Problems of the file itself are findings, never crashes:

- ``CF000`` (core.syntax-error): PostgreSQL's parser rejects the file (file, line, column).
- ``CF001`` (core.internal-error): a rule raised; the other rules still ran.
- ``CF002`` (core.unused-noqa): a ``noqa`` comment suppresses nothing.
- ``CF003`` (core.file-error): unreadable file, invalid UTF-8, or a file that mixes
  statements needing autocommit with others (the runner refuses it).

Suppression comments (SQL ``--`` or ``/* */`` comments, found with PostgreSQL's own
scanner so text inside strings never counts):

- ``-- confiture: noqa CF101`` (or ``CF101,CF104``; no codes = every code)
  inside a statement, on the line of its end, or on the lines just before it.
- ``-- confiture: noqa-file CF101`` anywhere: for the whole file.

Results are cached under ``<project>/.confiture/lint-cache`` keyed by the file's
content and path, the rule set (codes, names, the source of every loaded module
of each rule's top-level package, the set of known rule codes), the source of
Confiture's own lint and SQL modules, the options, and the Confiture and pglast
versions; a file whose size, mtime, ctime, inode and device match its entry is
answered without being read.

Speed: files are parsed in batches inside :func:`confiture_core.sql.trusted_parsing`
(pglast's per-attribute validation skipped, same AST), then linted; with more
than :data:`PARALLEL_MIN_FILES` files, this process and forked children share the
work (:mod:`confiture_core.lint.pool`).
"""

from __future__ import annotations

import gc
import json
import operator
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pglast
from pglast import ast
from pglast.enums import VariableSetKind
from pglast.parser import ParseError, scan

from .. import __version__
from ..errors import ConfigError, MigrationFileError, SqlSyntaxError
from ..migrations import read_text, refuse_not_a_file, sql_transaction_mode
from ..sql import SqlFile, Statement, parse_sql_text, trusted_parsing
from . import pool
from .astutil import created_table
from .rule import NEWEST_PG_VERSION, LintContext, LintRule, Severity, Violation

#: Bump when the engine's output for the same input changes (invalidates caches).
ENGINE_VERSION = "2"

#: Engine-level codes (not rules): code -> (name, severity, summary).
META_CODES: dict[str, tuple[str, Severity, str]] = {
    "CF000": ("core.syntax-error", "error", "PostgreSQL's parser rejects the file"),
    "CF001": ("core.internal-error", "error", "a lint rule crashed on this file"),
    "CF002": ("core.unused-noqa", "warning", "a noqa comment suppresses nothing"),
    "CF003": ("core.file-error", "error", "the file cannot be read, or cannot run as written"),
}

#: Groups enabled when neither ``--select`` nor ``[lint] select`` is given.
DEFAULT_GROUPS = ("safety",)

#: Fewer files than this are linted in-process (a pool costs more than it saves).
PARALLEL_MIN_FILES = 48

#: Chunks per process sharing a run (see :mod:`confiture_core.lint.pool`): enough for the
#: processes to finish together on a busy machine, few enough to keep hand-overs cheap.
CHUNKS_PER_PROCESS = 6

_NOQA_RE = re.compile(
    r"confiture:\s*noqa(?P<file>-file)?\b(?:\s*:?\s*(?P<codes>[A-Z][A-Z0-9]*\d{3}(?:[\s,]+[A-Z][A-Z0-9]*\d{3})*))?"
)
_CODE_IN_RE = re.compile(r"[A-Z][A-Z0-9]*\d{3}")


class SelectionError(ConfigError):
    """A ``--select``/``--ignore`` item names no rule, group or code (exit 2)."""


# ------------------------------------------------------------------ selection


def _matches(rule: type[LintRule], item: str) -> bool:
    if item.upper() == "ALL":
        return True
    if item == rule.name or item in rule.groups:
        return True
    up = item.upper()
    return bool(_CODE_IN_RE.fullmatch(up) and up == rule.code) or (
        len(up) >= 2 and up[0].isalpha() and rule.code.startswith(up) and up != rule.code and up[-1].isdigit()
    )


def split_items(values: Iterable[str] | str | None) -> list[str]:
    """Flatten ``--select a,b --select c`` (or a config list) into ``["a", "b", "c"]``."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


def select_rules(
    available: Sequence[type[LintRule]],
    select: Sequence[str] | None,
    ignore: Sequence[str] = (),
) -> list[type[LintRule]]:
    """The rules to run.

    :param available: every known rule class.
    :param select: codes (``CF101``), code prefixes (``CF1``), groups (``safety``),
        dotted names (``safety.concurrent-index``) or ``ALL``; ``None`` or empty:
        the rules with ``default_enabled`` (the ``safety`` group for built-ins).
    :param ignore: same forms; removed from the selection. Engine codes
        (``CF000``-``CF003``) are accepted and handled by :class:`Linter`.
    :returns: the selected rule classes, sorted by code.
    :raises SelectionError: an item matching no rule, group, name or code.
    """
    for item in [*(select or ()), *ignore]:
        if item.upper() in META_CODES or item.lower() == "core":
            continue
        if not any(_matches(r, item) for r in available):
            known_groups = sorted({g for r in available for g in r.groups})
            raise SelectionError(
                f"--select/--ignore {item!r} matches no rule; use a code like CF101, a group "
                f"({', '.join(known_groups)}), a dotted rule name, or ALL"
            )
    if select:
        chosen = [r for r in available if any(_matches(r, i) for i in select)]
    else:
        chosen = [r for r in available if r.default_enabled]
    chosen = [r for r in chosen if not any(_matches(r, i) for i in ignore)]
    return sorted(set(chosen), key=lambda r: r.code)


def check_rule_classes(rules: Sequence[type[LintRule]]) -> list[type[LintRule]]:
    """Validate rule classes and reject duplicate codes or names.

    :raises ConfigError: a class that is not a :class:`LintRule` subclass, bad
        attributes, or two different classes with the same code or name.
    """
    seen_code: dict[str, type[LintRule]] = {}
    seen_name: dict[str, type[LintRule]] = {}
    out: list[type[LintRule]] = []
    for r in rules:
        if not (isinstance(r, type) and issubclass(r, LintRule)):
            raise ConfigError(f"lint rule {r!r} is not a LintRule subclass")
        try:
            r.validate_class()
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
        if r.code in META_CODES:
            raise ConfigError(f"{r.__module__}.{r.__qualname__}: code {r.code} is reserved by the engine")
        for key, seen in ((r.code, seen_code), (r.name, seen_name)):
            other = seen.get(key)
            if other is not None and other is not r:
                raise ConfigError(
                    f"lint rules {other.__module__}.{other.__qualname__} and {r.__module__}.{r.__qualname__} "
                    f"both use {key!r}; rule codes and names must be unique"
                )
            seen[key] = r
        if r not in out:
            out.append(r)
    return out


# ------------------------------------------------------------------ results


@dataclass
class FileResult:
    """The outcome of linting one file.

    :ivar path: the file (``str``).
    :ivar violations: its findings after ``noqa``, sorted by line.
    :ivar statements: how many statements it has (0 when it does not parse).
    :ivar cached: ``True`` when the result came from the cache.
    :ivar rendered: ``(key, text)``: the findings already laid out for an output format by the
        :class:`Linter`'s ``prepare`` function, in the process that linted the file (see
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


# ------------------------------------------------------------------ options


@dataclass(frozen=True)
class LintOptions:
    """Settings that affect findings (and so are part of the cache key).

    :ivar pg_version: target PostgreSQL major version.
    :ivar lint_config: the raw ``[lint]`` table (rules read their sub-tables).
    :ivar runner_lock_timeout: the project's ``lock_timeout`` setting, which the
        runner applies before every migration (``None`` when unset).
    :ivar ignore_meta: engine codes (``CF000``...) not to report.
    :ivar mixed: the project's ``mixed`` setting: a file mixing statements that need
        autocommit with others runs in autocommit instead of being refused (``CF003``).
    """

    pg_version: int = NEWEST_PG_VERSION
    lint_config: Mapping[str, Any] = field(default_factory=dict)
    runner_lock_timeout: str | None = None
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


# ------------------------------------------------------------------ noqa


@dataclass
class _Noqa:
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


def _find_noqa(text: str, statements: Sequence[Statement]) -> list[_Noqa]:
    if "noqa" not in text:
        return []
    out: list[_Noqa] = []
    spans = [(s.offset, s.offset + len(s.sql)) for s in statements]
    for start, _end, body in _comments(text):
        for m in _NOQA_RE.finditer(body):
            pos = start + m.start()
            line = text.count("\n", 0, pos) + 1
            codes = frozenset(_CODE_IN_RE.findall(m["codes"])) if m["codes"] else None
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
            out.append(_Noqa(line, codes, bool(m["file"]), target))
    return out


def _apply_noqa(
    violations: list[Violation],
    statements: Sequence[Statement],
    directives: list[_Noqa],
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
                kept.append(_meta("CF002", path, d.line, 1,
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
            kept.append(_meta("CF002", path, d.line, 1, msg))
    return kept


def _statement_at(statements: Sequence[Statement], line: int) -> int:
    found = -1
    for i, s in enumerate(statements):
        if s.line <= line:
            found = i
        else:
            break
    return found


def _meta(code: str, path: str, line: int, column: int, message: str, excerpt: str = "") -> Violation:
    name, severity, _ = META_CODES[code]
    return Violation._make(code, message, path, line, column, severity, excerpt, name)


# ------------------------------------------------------------------ one file


def lint_text(
    text: str,
    path: str,
    rules: Sequence[LintRule],
    options: LintOptions,
    known_codes: frozenset[str] | None = None,
) -> FileResult:
    """Lint one file's text.

    :param text: the file's text (``str``, BOM and CRLF already normalised).
    :param path: the name used in findings.
    :param rules: rule instances to run (already filtered by selection and version).
    :param options: target version and configuration.
    :param known_codes: every rule code known (selected or not), for unused-noqa
        messages; default: the codes of ``rules``.
    :returns: a :class:`FileResult`; never raises for bad SQL or a crashing rule.
    """
    return _lint_parsed(text, path, _parse(text, path), rules, options, known_codes)


#: A rule to call: its index in the run's rules, and its bound ``check``.
_Call = tuple[int, Callable[[Statement, LintContext], Iterable[Violation]]]


class _Plan:
    """Per run (not per file): each rule's configuration, and which rules look at which statements."""

    def __init__(self, rules: Sequence[LintRule], options: LintOptions) -> None:
        self.configs = [options.rule_config(type(r)) for r in rules]
        self.checks = [r.check for r in rules]
        self.dispatch = [tuple(getattr(r, "node_types", ())) for r in rules]
        self.alter_subtypes = [frozenset(getattr(r, "alter_subtypes", ())) for r in rules]
        self.codes = frozenset(r.code for r in rules)
        #: :meth:`for_node` of the classes met, but ``ALTER TABLE`` (which depends on its commands)
        self.by_type: dict[type, list[_Call]] = {}
        self._by_alter: dict[tuple[type, Any], list[_Call]] = {}

    def for_node(self, node: ast.Node) -> list[_Call]:
        """The rules to call for ``node``: those whose ``node_types`` it matches (none: every node)
        and, for an ``ALTER TABLE``, whose ``alter_subtypes`` one of its commands has (none: any)."""
        cls = type(node)
        found = self.by_type.get(cls)
        if found is not None:
            return found
        if not isinstance(node, ast.AlterTableStmt):
            found = self.by_type[cls] = self._select(cls, None)
            return found
        cmds = node.cmds or ()
        if len(cmds) == 1 and isinstance(cmds[0], ast.AlterTableCmd):  # the usual case: no set to build
            key: tuple[type, Any] = (cls, cmds[0].subtype)
        else:
            key = (cls, frozenset([c.subtype for c in cmds if isinstance(c, ast.AlterTableCmd)]))
        found = self._by_alter.get(key)
        if found is None:
            subtypes = key[1] if isinstance(key[1], frozenset) else frozenset([key[1]])
            found = self._by_alter[key] = self._select(cls, subtypes)
        return found

    def _select(self, cls: type, subtypes: frozenset[Any] | None) -> list[_Call]:
        return [(i, self.checks[i]) for i, types in enumerate(self.dispatch)
                if (not types or issubclass(cls, types))
                and (subtypes is None or not self.alter_subtypes[i] or not subtypes.isdisjoint(self.alter_subtypes[i]))]


def _plan(rules: Sequence[LintRule], options: LintOptions) -> _Plan:
    return _Plan(rules, options)


def _parse(text: str, path: str) -> SqlFile | SqlSyntaxError:
    try:
        return parse_sql_text(text, path)
    except SqlSyntaxError as exc:
        return exc


#: The order of a file's findings.
_BY_POSITION = operator.attrgetter("line", "column", "code")
#: A rule's slot in :func:`_lint_parsed` once it raised on the file.
_BROKEN: tuple[dict[str, Any], dict[str, Any]] = ({}, {})


def _lint_parsed(
    text: str,
    path: str,
    parsed: SqlFile | SqlSyntaxError,
    rules: Sequence[LintRule],
    options: LintOptions,
    known_codes: frozenset[str] | None = None,
    plan: _Plan | None = None,
) -> FileResult:
    """:func:`lint_text` once the text is parsed (``parsed``: the file or its syntax error)."""
    if isinstance(parsed, SqlSyntaxError):
        exc = parsed
        msg = str(exc).split(": SQL syntax error: ", 1)[-1]
        return FileResult(path, [_meta(
            "CF000", path, exc.line, exc.column,
            f"SQL syntax error: {msg}; PostgreSQL would reject this file, so no rule could check it",
        )] if "CF000" not in options.ignore_meta else [])
    sql_file = parsed
    statements = sql_file.statements
    found: list[Violation] = []
    in_tx, refusal = sql_transaction_mode(sql_file, mixed=options.mixed)  # as the runner decides
    if refusal and "CF003" not in options.ignore_meta:
        line, _, why = refusal.partition(": ")  # "<line>: <reason>"
        found.append(_meta("CF003", path, int(line), 1, why))
    plan = _plan(rules, options) if plan is None else plan
    # per rule that runs on this file: a copy of its configuration and its state (made on its first call);
    # _BROKEN once it raised
    slots: list[tuple[dict[str, Any], dict[str, Any]] | None] = [None] * len(plan.checks)
    configs = plan.configs
    ctx = LintContext(path=path, text=text, statements=statements, index=0, in_transaction=in_tx,
                      pg_version=options.pg_version, config={},
                      lock_timeout_set=options.runner_lock_timeout is not None)
    by_type = plan.by_type
    memo = ctx.memo
    for stmt in statements:
        ctx.index = stmt.index
        if memo:
            memo.clear()
        node = stmt.node
        todo = by_type.get(type(node))
        for i, check in plan.for_node(node) if todo is None else todo:
            slot = slots[i]
            if slot is None:
                slot = slots[i] = (dict(configs[i]), {})
            elif slot is _BROKEN:
                continue
            ctx.config, ctx.state = slot
            try:
                found.extend(check(stmt, ctx))
            except Exception as exc:  # a rule bug must not stop the lint run
                slots[i] = _BROKEN
                if "CF001" not in options.ignore_meta:
                    rule = rules[i]
                    found.append(_meta(
                        "CF001", path, stmt.line, stmt.column,
                        f"internal error: rule {rule.code} ({rule.name}) raised {type(exc).__name__}: {exc}; "
                        f"it was skipped for the rest of this file; report this to the rule's authors "
                        f"({type(rule).__module__})",
                        stmt.sql,
                    ))
        key = created_table(node)
        if key is not None:
            ctx.created_tables.add(key)
        if isinstance(node, ast.VariableSetStmt) and (node.name or "").lower() == "lock_timeout" \
                and node.kind == VariableSetKind.VAR_SET_VALUE:
            ctx.lock_timeout_set = True
    found.sort(key=_BY_POSITION)
    codes = plan.codes
    kept = _apply_noqa(found, statements, _find_noqa(text, statements), path, known_codes or codes, codes)
    if kept is not found:  # suppression comments: findings left out, CF002 findings added
        kept.sort(key=_BY_POSITION)
    if "CF002" in options.ignore_meta:
        kept = [v for v in kept if v.code != "CF002"]
    return FileResult(path, kept, len(statements))


#: Files parsed in one :func:`~confiture_core.sql.trusted_parsing` block (bounds memory).
PARSE_BATCH = 128


def lint_paths_batch(paths: Sequence[Path], rules: Sequence[LintRule], options: LintOptions,
                     known_codes: frozenset[str] | None = None) -> list[FileResult]:
    """Read and lint files (an unreadable file gives a ``CF003`` finding): each batch is parsed first
    (the fast way), then linted.

    :param paths: the files.
    :param rules: rule instances to run.
    :param options: target version and configuration.
    :param known_codes: see :func:`lint_text`.
    """
    out: list[FileResult] = []
    plan = _plan(rules, options)
    for k in range(0, len(paths), PARSE_BATCH):
        batch = paths[k : k + PARSE_BATCH]
        texts: list[str | FileResult] = []
        for path in batch:
            try:
                texts.append(read_text(path))
            except MigrationFileError as exc:
                texts.append(FileResult(str(path), [_meta("CF003", str(path), 1, 1, str(exc).split(": ", 1)[-1])]))
        with trusted_parsing():
            parsed = [_parse(t, str(p)) if isinstance(t, str) else None for p, t in zip(batch, texts, strict=True)]
        for path, text, tree in zip(batch, texts, parsed, strict=True):
            if isinstance(text, FileResult):
                out.append(text)
            else:
                assert tree is not None
                out.append(_lint_parsed(text, str(path), tree, rules, options, known_codes, plan))
    return out


# ------------------------------------------------------------------ files


def collect_files(paths: Iterable[Path], folders: list[str] | None = None, *, skip_down: bool = False,
                  skipped: list[Path] | None = None) -> list[Path]:
    """The files to lint: each file as given; every ``*.sql`` below each folder.

    Hidden files and folders (``.git``, ``.confiture``) are skipped. Order: as
    given, each folder's files sorted by path; duplicates removed.

    :param folders: when given, every folder walked is appended to it (the run
        memo stamps them: a file added to one changes its stamp).
    :param skip_down: leave out the ``*.down.sql`` files found below folders (a file
        given by name is kept); each one left out is appended to ``skipped``.
    :raises ConfigError: a path that does not exist, or a folder that cannot be read.
    """
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        if p.is_dir():
            found = _sql_below(str(p), folders)
            if skip_down:
                kept = [(f, real) for f, real in found if not f.endswith(".down.sql")]
                if skipped is not None and len(kept) < len(found):
                    skipped.extend(Path(f) for f, _ in found if f.endswith(".down.sql"))
                found = kept
        elif p.exists():
            found = [(str(p), None)]
        else:
            raise ConfigError(f"{p}: no such file or folder")
        for f, real in found:
            key = real or os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                out.append(Path(f))
    return out


def _sql_below(root: str, folders: list[str] | None = None) -> list[tuple[str, str | None]]:
    """``(path, real path or None)`` of every ``*.sql`` file below ``root``; ``path`` starts with ``root``.

    What ``sorted(Path(root).rglob("*.sql"))`` filtered by ``is_file()`` and
    non-hidden parts gives, in the same order (by path components), with
    ``os.scandir``: symlinked folders are not entered; a file that is not a
    symlink gets its real path from its folder's (``None``: resolve it).
    """
    found: list[tuple[tuple[str, ...], str, str | None]] = []

    def walk(folder: str, parts: tuple[str, ...], real: str | None) -> None:
        if folders is not None:
            folders.append(folder)
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:  # skipping it would lint nothing and pass
            raise ConfigError(f"{folder}: cannot read the folder: {exc.strerror}; fix its permissions or give "
                              "other PATHS") from None
        real_prefix = None if real is None else real if real.endswith(os.sep) else real + os.sep
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
                if is_dir and not e.is_symlink():
                    walk(e.path, (*parts, name), real_prefix + name if real_prefix else None)
                    continue
                if name.endswith(".sql") and not is_dir and e.is_file():
                    file_real = real_prefix + name if real_prefix and not e.is_symlink() else None
                    found.append(((*parts, name), e.path, file_real))
                elif name.endswith(".sql") and not e.is_file():
                    _refuse_not_a_file(Path(e.path))
            except OSError:  # a symbolic link loop, for one
                if name.endswith(".sql"):
                    _refuse_not_a_file(Path(e.path))
                continue

    walk(root, (), os.path.realpath(root))
    found.sort(key=lambda t: t[0])
    return [(path, real) for _, path, real in found]


def _refuse_not_a_file(path: Path) -> None:
    """A ``*.sql`` entry that is not a file (a dangling or looping symbolic link, a FIFO): an error, as
    ``migrate`` makes it, rather than a lint that passes over a migration it never read.

    :raises ConfigError: naming the entry and what to do.
    """
    try:
        refuse_not_a_file(path)
    except MigrationFileError as exc:
        raise ConfigError(str(exc)) from None


# ------------------------------------------------------------------ cache


_source_hashes: dict[str, str] = {}


def _source_hash(src: str) -> str:
    import hashlib  # only with the result cache: a --no-cache run never hashes

    if src not in _source_hashes:
        try:
            _source_hashes[src] = hashlib.sha256(Path(src).read_bytes()).hexdigest()
        except OSError:
            _source_hashes[src] = src
    return _source_hashes[src]


def _module_source(mod: Any) -> str | None:
    src = getattr(mod, "__file__", None)
    if isinstance(src, str) and src.endswith(".py") and os.path.exists(src):
        return src
    import inspect  # slow to import; rarely needed (a module without a .py file)

    try:
        return inspect.getsourcefile(mod)
    except TypeError:
        return None


def _package_hash(package: str) -> list[tuple[str, str]]:
    """``(module, source hash)`` of every loaded module of ``package`` (the package itself and below):
    a rule's helpers count as much as the module defining it."""
    out = []
    for name, mod in sorted(sys.modules.items()):
        if mod is None or not (name == package or name.startswith(package + ".")):
            continue
        src = _module_source(mod)
        out.append((name, _source_hash(src) if src is not None else name))
    return out


#: The parts of Confiture whose source decides findings (hashed into the fingerprint: an
#: edit of the engine invalidates caches without a bump of :data:`ENGINE_VERSION`).
_CORE_SOURCES = ("lint", "sql", "sql.py", "migrations.py", "errors.py")


def _core_hash() -> str:
    import hashlib  # only with the result cache: a --no-cache run never hashes

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for part in _CORE_SOURCES:
        p = root / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else []
        for f in files:
            h.update(f"{f.relative_to(root)}\0{_source_hash(str(f))}\0".encode())
    return h.hexdigest()


def ruleset_fingerprint(rules: Sequence[type[LintRule]], options: LintOptions,
                        known_codes: Iterable[str] = ()) -> str:
    """A hex digest of everything besides the file that determines findings."""
    import hashlib

    packages = sorted({r.__module__.split(".")[0] for r in rules})
    data = {
        "engine": ENGINE_VERSION,
        "core": _core_hash(),
        "confiture": __version__,
        "pglast": pglast.__version__,
        "python": sys.version_info[:2],
        "rules": sorted((r.code, r.name, r.__module__, r.__qualname__) for r in rules),
        "sources": {p: _package_hash(p) for p in packages},
        "known_codes": sorted(set(known_codes)),
        "pg_version": options.pg_version,
        "config": options.lint_config,
        "lock_timeout": options.runner_lock_timeout,
        "ignore_meta": sorted(options.ignore_meta),
        "mixed": options.mixed,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


#: A file's stat is trusted by the cache only if the file was last modified at least this
#: long before it was hashed (a later edit in the same mtime tick would go unseen).
STAT_SETTLE_NS = 2_000_000_000


def _stat_stamp(st: os.stat_result) -> list[int] | None:
    """``[size, mtime_ns, ctime_ns, inode, device]``, ``None`` when too recent to be trusted.

    The ctime (which no tool can set back), inode and device catch a same-size edit
    whose mtime was restored (``touch -d``, ``cp -p``, ``rsync -a``)."""
    if max(st.st_mtime_ns, st.st_ctime_ns) > time.time_ns() - STAT_SETTLE_NS:
        return None
    return _stat_fields(st)


def _stat_fields(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class ResultCache:
    """Per-file results on disk, one manifest per rule set: ``<dir>/<fingerprint>.json``.

    The manifest maps each file's path to ``[key, statements, findings, stat]`` (stat:
    see :func:`_stat_stamp`, or ``None``) where ``key`` is the SHA-256 of the fingerprint, the path and the
    file's bytes; a changed file (or rule set, options, versions) simply misses.
    A file whose stat matches the entry's is not read at all
    (:meth:`lookup`). One file per rule set keeps a
    warm run to one read and one write. Concurrent runs may drop each other's new
    entries (last writer wins); results are never wrong, only recomputed.

    :param directory: the cache folder (created on first write), normally
        ``<project>/.confiture/lint-cache``.
    :param fingerprint: :func:`ruleset_fingerprint` of this run.
    """

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.fingerprint = fingerprint
        self.file = directory / f"{fingerprint[:32]}.json"
        self._entries: dict[str, list[Any]] | None = None
        self._dirty = False

    def key(self, path: str, data: bytes) -> str:
        """The cache key of a file's path and bytes."""
        import hashlib

        h = hashlib.sha256(self.fingerprint.encode())
        h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        return h.hexdigest()

    def _load(self) -> dict[str, list[Any]]:
        if self._entries is None:
            try:
                raw = json.loads(self.file.read_text("utf-8"))
                self._entries = raw if isinstance(raw, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def lookup(self, path: str, st: os.stat_result) -> FileResult | None:
        """The stored result for ``path`` when the file's size, mtime, ctime, inode and device
        are the ones recorded with it: an unchanged file is answered without reading it.

        Stats are only recorded for files not modified in the last :data:`STAT_SETTLE_NS`
        before they were hashed, so an edit in the same clock tick cannot be missed.
        """
        entry = self._load().get(path)
        if not entry or len(entry) != 4 or entry[3] is None:
            return None
        if entry[3] != _stat_fields(st):
            return None
        return self._result(path, entry)

    def get(self, path: str, key: str, st: os.stat_result | None = None) -> FileResult | None:
        """The stored result for ``path`` if its key matches, else ``None``.

        :param st: the file's stat taken before its bytes were read; recorded with
            the entry (see :meth:`lookup`) when it had none.
        """
        entry = self._load().get(path)
        if not entry or entry[0] != key:
            return None
        result = self._result(path, entry)
        if result is not None and st is not None and (len(entry) != 4 or entry[3] is None):
            stamp = _stat_stamp(st)
            if stamp is not None:
                self._entries[path] = [*entry[:3], stamp]  # type: ignore[index]
                self._dirty = True
        return result

    @staticmethod
    def _result(path: str, entry: list[Any]) -> FileResult | None:
        try:
            stmts, rows = entry[1], entry[2]
            return FileResult(path, [Violation._make(c, m, p, int(ln), int(col),
                                                     "warning" if s == "warning" else "error", e, n)
                                     for c, m, p, ln, col, s, e, n in rows],
                              int(stmts), cached=True)
        except (ValueError, TypeError, IndexError):
            return None

    def put(self, path: str, key: str, result: FileResult, st: os.stat_result | None = None) -> None:
        """Remember a result (written by :meth:`save`); ``st``: the file's stat taken before reading it."""
        rows = [[v.code, v.message, v.path, v.line, v.column, v.severity, v.excerpt, v.name]
                for v in result.violations]
        self._load()[path] = [key, result.statements, rows, _stat_stamp(st) if st is not None else None]
        self._dirty = True

    def save(self) -> None:
        """Write the manifest atomically; I/O errors are ignored (the cache is an optimisation)."""
        if not self._dirty or self._entries is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._entries, separators=(",", ":")), "utf-8")
            os.replace(tmp, self.file)
        except OSError:
            pass


# ------------------------------------------------------------------ worker pool

_worker_state: tuple[list[LintRule], LintOptions, frozenset[str]] | None = None


def _init_worker(rules: list[type[LintRule]], options: LintOptions, known: frozenset[str]) -> None:
    global _worker_state
    _worker_state = ([r() for r in rules], options, known)


def _lint_chunk(paths: list[str]) -> list[FileResult]:
    assert _worker_state is not None
    rules, options, known = _worker_state
    return lint_paths_batch([Path(p) for p in paths], rules, options, known)


#: Allocations between two young-generation collections while linting (CPython's default: 700).
#: Parsing builds hundreds of thousands of short-lived, acyclic AST objects; with the default
#: the cyclic collector runs thousands of times and takes ~15% of the run.
GC_THRESHOLD = 50_000


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Run the cyclic garbage collector less often inside the block (thresholds restored after)."""
    saved = gc.get_threshold()
    if saved[0] == 0 or saved[0] >= GC_THRESHOLD:  # collector disabled by threshold, or already relaxed
        yield
        return
    gc.set_threshold(GC_THRESHOLD, *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------ linter


class Linter:
    """Runs a set of rules over files, with cache and process pool.

    :param rules: the selected rule classes (see :func:`select_rules`).
    :param options: target version and configuration.
    :param cache_dir: where to cache results, or ``None`` for no cache.
    :param jobs: worker processes; ``None``: every CPU this process may use;
        ``1``: in-process.
    :param known_codes: every rule code known (for unused-noqa messages).
    :param prepare: called with each result a file gave, in the process that linted it, before
        the result is sent back (e.g. :func:`confiture_core.lint.reporters.prepare_json`, which lays
        out the findings there so the output is made by every process); not called on cached results.
    """

    def __init__(
        self,
        rules: Sequence[type[LintRule]],
        options: LintOptions | None = None,
        *,
        cache_dir: Path | None = None,
        jobs: int | None = None,
        known_codes: Iterable[str] = (),
        prepare: Callable[[FileResult], None] | None = None,
    ) -> None:
        self.prepare = prepare
        self.options = options or LintOptions()
        self.rules = [r for r in rules if r.applies_to(self.options.pg_version)]
        self.known_codes = frozenset(known_codes) | {r.code for r in rules}
        self.jobs = jobs if jobs is not None else _cpu_count()
        self.cache = (ResultCache(cache_dir, ruleset_fingerprint(self.rules, self.options, self.known_codes))
                      if cache_dir else None)

    def lint_paths(self, paths: Sequence[Path], *, skip_down: bool = False, skipped: list[Path] | None = None,
                   folders: list[str] | None = None) -> LintReport:
        """Lint the given files (see :func:`collect_files` for folders, ``skip_down``, ``skipped`` and
        ``folders``).

        :raises ConfigError: a path that does not exist.
        """
        with relaxed_gc():
            return self._lint_paths(paths, skip_down, skipped, folders)

    def _lint_paths(self, paths: Sequence[Path], skip_down: bool = False, skipped: list[Path] | None = None,
                    folders: list[str] | None = None) -> LintReport:
        files = collect_files(paths, folders, skip_down=skip_down, skipped=skipped)
        results: dict[int, FileResult] = {}
        todo: list[tuple[int, Path, str | None]] = []
        stats: dict[int, os.stat_result] = {}
        for i, f in enumerate(files):
            key = None
            if self.cache is not None:
                name = str(f)
                try:
                    st = os.stat(name)
                    hit = self.cache.lookup(name, st)
                    if hit is None:
                        key = self.cache.key(name, f.read_bytes())
                        hit = self.cache.get(name, key, st)
                    stats[i] = st
                except OSError:
                    key = hit = None
                if hit is not None:
                    results[i] = hit
                    continue
            todo.append((i, f, key))
        for (i, f, key), res in zip(todo, self._run([f for _, f, _ in todo]), strict=True):
            results[i] = res
            if self.cache is not None and key is not None:
                self.cache.put(str(f), key, res, stats.get(i))
        if self.cache is not None:
            self.cache.save()
        return LintReport([results[i] for i in range(len(files))], list(self.rules), self.options.pg_version)

    def _run(self, files: list[Path]) -> list[FileResult]:
        rules = [r() for r in self.rules]

        def work(chunk: list[Path]) -> list[FileResult]:
            results = lint_paths_batch(chunk, rules, self.options, self.known_codes)
            if self.prepare is not None:
                for result in results:
                    self.prepare(result)
            return results

        if self.jobs <= 1 or len(files) < PARALLEL_MIN_FILES:
            return work(files)
        if pool.can_fork():
            return pool.share(files, work, self.jobs, self.jobs * CHUNKS_PER_PROCESS)
        return self._run_spawned(files)

    def _run_spawned(self, files: list[Path]) -> list[FileResult]:
        """Where ``fork`` does not exist: a pool of spawned workers (each imports and loads the rules)."""
        n_chunks = self.jobs * CHUNKS_PER_PROCESS
        chunks = [[str(f) for f in files[k::n_chunks]] for k in range(n_chunks)]
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context(),
            initializer=_init_worker,
            initargs=(self.rules, self.options, self.known_codes),
        ) as executor:
            chunk_results = list(executor.map(_lint_chunk, chunks))
        by_path: dict[str, FileResult] = {}
        for chunk, res in zip(chunks, chunk_results, strict=True):
            for p, r in zip(chunk, res, strict=True):
                by_path[p] = r
        return [by_path[str(f)] for f in files]
