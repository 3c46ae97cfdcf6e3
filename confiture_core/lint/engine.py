"""The lint engine: runs lint rules over the statements of files (:func:`lint_text`, :class:`Linter`).

Flow for one file: read it (:func:`confiture_core.migrations.read_text`), parse it
(:func:`confiture_core.sql.parse_sql_text`), decide whether the runner wraps it in
a transaction (:func:`confiture_core.migrations.sql_transaction_mode`, the rule
:meth:`~confiture_core.migrations.Migration.is_transactional` applies), run
every selected rule over every statement, then apply ``noqa`` comments
(:mod:`confiture_core.lint.noqa`).

Problems of the file itself are findings, never crashes (:mod:`confiture_core.lint.codes`):

- ``CF000`` (core.syntax-error): PostgreSQL's parser rejects the file (file, line, column).
- ``CF001`` (core.internal-error): a rule raised; the other rules still ran.
- ``CF002`` (core.unused-noqa): a ``noqa`` comment suppresses nothing.
- ``CF003`` (core.file-error): unreadable file, invalid UTF-8, or a file that mixes
  statements needing autocommit with others (the runner refuses it).

Results are cached under ``<project>/.confiture/lint-cache`` (:mod:`confiture_core.lint.cache`).

Speed: files are parsed in batches inside :func:`confiture_core.sql.trusted_parsing`
(pglast's per-attribute validation skipped, same AST), then linted; with more
than :data:`PARALLEL_MIN_FILES` files, this process and forked children share the
work (:mod:`confiture_core.lint.pool`).
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pglast import ast
from pglast.enums import VariableSetKind

from ..errors import ConfigError, MigrationFileError, SqlSyntaxError
from ..migrations import read_text, sql_transaction_mode
from ..sql import SqlFile, Statement, parse_sql_text, trusted_parsing
from . import pool
from .astutil import created_table
from .cache import ResultCache, ruleset_fingerprint
from .codes import meta_violation
from .files import collect_files
from .gctune import relaxed_gc
from .noqa import apply_noqa, find_noqa
from .options import LintOptions
from .results import FileResult, LintReport
from .rule import LintContext, LintRule, Violation

#: Names of the public lint-rule API (docs/writing-a-lint-rule-plugin.md) kept importable from here.
__all__ = ["CHUNKS_PER_PROCESS", "PARALLEL_MIN_FILES", "PARSE_BATCH", "LintOptions", "Linter", "lint_paths_batch",
           "lint_text"]

#: Fewer files than this are linted in-process (a pool costs more than it saves).
PARALLEL_MIN_FILES = 48

#: Chunks per process sharing a run (see :mod:`confiture_core.lint.pool`): enough for the
#: processes to finish together on a busy machine, few enough to keep hand-overs cheap.
CHUNKS_PER_PROCESS = 6


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
    :raises ConfigError: a rule found its settings (``[lint.<group>]``) unusable.
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
        return FileResult(path, [meta_violation(
            "CF000", path, exc.line, exc.column,
            f"SQL syntax error: {msg}; PostgreSQL would reject this file, so no rule could check it",
        )] if "CF000" not in options.ignore_meta else [])
    sql_file = parsed
    statements = sql_file.statements
    found: list[Violation] = []
    in_tx, refusal = sql_transaction_mode(sql_file, mixed=options.mixed)  # as the runner decides
    if refusal and "CF003" not in options.ignore_meta:
        line, _, why = refusal.partition(": ")  # "<line>: <reason>"
        found.append(meta_violation("CF003", path, int(line), 1, why))
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
            except ConfigError:  # a bad [lint.<group>] setting the rule read: the run stops (exit 2)
                raise
            except Exception as exc:  # a rule bug must not stop the lint run
                slots[i] = _BROKEN
                if "CF001" not in options.ignore_meta:
                    rule = rules[i]
                    found.append(meta_violation(
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
    kept = apply_noqa(found, statements, find_noqa(text, statements), path, known_codes or codes, codes)
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
                texts.append(FileResult(str(path), [meta_violation("CF003", str(path), 1, 1,
                                                                   str(exc).split(": ", 1)[-1])]))
        with trusted_parsing():
            parsed = [_parse(t, str(p)) if isinstance(t, str) else None for p, t in zip(batch, texts, strict=True)]
        for path, text, tree in zip(batch, texts, parsed, strict=True):
            if isinstance(text, FileResult):
                out.append(text)
            else:
                assert tree is not None
                out.append(_lint_parsed(text, str(path), tree, rules, options, known_codes, plan))
    return out


# ------------------------------------------------------------------ spawned workers

#: Where ``fork`` does not exist: the state of a spawned worker (:meth:`Linter._run_spawned`).
_worker_state: tuple[list[LintRule], LintOptions, frozenset[str]] | None = None


def _init_worker(rules: list[type[LintRule]], options: LintOptions, known: frozenset[str]) -> None:
    global _worker_state
    _worker_state = ([r() for r in rules], options, known)


def _lint_chunk(paths: list[str]) -> list[FileResult]:
    assert _worker_state is not None
    rules, options, known = _worker_state
    return lint_paths_batch([Path(p) for p in paths], rules, options, known)


# ------------------------------------------------------------------ linter


class Linter:
    """Runs a set of rules over files, with cache and process pool.

    :param rules: the selected rule classes (see :func:`~confiture_core.lint.selection.select_rules`).
    :param options: target version and configuration.
    :param cache_dir: where to cache results, or ``None`` for no cache.
    :param jobs: worker processes; ``None``: the CPUs this process may use that are idle
        (:func:`~confiture_core.lint.pool.idle_cpus`); ``1``: in-process.
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
        self.jobs = jobs if jobs is not None else pool.idle_cpus()
        self.cache = (ResultCache(cache_dir, ruleset_fingerprint(self.rules, self.options, self.known_codes))
                      if cache_dir else None)

    def lint_paths(self, paths: Sequence[Path], *, skip_down: bool = False, skipped: list[Path] | None = None,
                   folders: list[str] | None = None,
                   keep: Callable[[list[Path]], list[Path]] | None = None) -> LintReport:
        """Lint the given files (see :func:`collect_files` for folders, ``skip_down``, ``skipped`` and
        ``folders``).

        :param keep: when given, chooses the files to lint among those found (e.g. those changed since a
            git revision: :func:`confiture_core.lint.diff.only_changed`).
        :raises ConfigError: a path that does not exist.
        """
        with relaxed_gc():
            return self._lint_paths(paths, skip_down, skipped, folders, keep)

    def _lint_paths(self, paths: Sequence[Path], skip_down: bool = False, skipped: list[Path] | None = None,
                    folders: list[str] | None = None,
                    keep: Callable[[list[Path]], list[Path]] | None = None) -> LintReport:
        files = collect_files(paths, folders, skip_down=skip_down, skipped=skipped)
        if keep is not None:
            files = keep(files)
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
