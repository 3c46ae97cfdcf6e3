"""The lint rule contract: :class:`LintRule`, :class:`Violation` and :class:`LintContext`.

A rule is a class (not an instance) returned by a plugin's
``confiture_lint_rules`` hook. The engine instantiates every selected rule once
per run and calls :meth:`LintRule.check` for each statement of each file, in
file order, with a fresh :class:`LintContext` describing where the statement
runs. A rule yields :class:`Violation` objects, normally built with
:meth:`LintRule.violation` so that code, severity, file and line are filled in.

Example::

    from confiture_core.lint.rule import LintRule
    from pglast import ast

    class NoDropSchema(LintRule):
        code = "EX001"
        name = "example.no-drop-schema"
        groups = ("example",)
        summary = "DROP SCHEMA removes every object in the schema"
        explanation = "Drop the objects one by one, in a migration reviewed on its own."

        def check(self, statement, ctx):
            if isinstance(statement.node, ast.DropStmt) and ...:
                yield self.violation(statement, ctx, "DROP SCHEMA ...: do X instead")
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pglast import ast

from ..sql import Statement, redact_secrets

Severity = Literal["error", "warning"]

#: The newest PostgreSQL major version the bundled parser (pglast 8 = libpg_query 18) knows.
NEWEST_PG_VERSION = 18

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*[0-9]{3}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")


@dataclass(frozen=True)
class Violation:
    """One finding of one rule on one statement.

    :ivar code: the rule's code, e.g. ``"CF101"``.
    :ivar message: why the statement is dangerous and what to do instead (one line).
    :ivar path: the file, as given on the command line or found under a folder.
    :ivar line: 1-based line in the file.
    :ivar column: 1-based column in the file.
    :ivar severity: ``"error"`` or ``"warning"``.
    :ivar excerpt: the offending statement's text (may be long; reporters shorten it).
    :ivar name: the rule's dotted name, e.g. ``"safety.concurrent-index"``.
    """

    code: str
    message: str
    path: str
    line: int
    column: int
    severity: Severity
    excerpt: str = ""
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The violation as a JSON-serialisable ``dict`` (the JSON reporter's shape)."""
        return {"code": self.code, "message": self.message, "path": self.path, "line": self.line,
                "column": self.column, "severity": self.severity, "excerpt": self.excerpt, "name": self.name}

    @classmethod
    def _make(cls, code: str, message: str, path: str, line: int, column: int, severity: Severity,
              excerpt: str, name: str) -> Violation:
        """``cls(code, message, ...)``, with every field given: the same instance, built without the
        frozen dataclass's one ``object.__setattr__`` call per field (the engine builds thousands)."""
        v = object.__new__(cls)
        object.__setattr__(v, "__dict__", {"code": code, "message": message, "path": path, "line": line,
                                           "column": column, "severity": severity, "excerpt": excerpt,
                                           "name": name})
        return v


TableKey = tuple[str | None, str]


@dataclass
class LintContext:
    """Where a statement runs, as far as the linter can tell without a database.

    :ivar path: the file being linted (``str``).
    :ivar text: the file's whole text (``str``), for locating nodes.
    :ivar statements: every statement of the file, in order (rules that look
        ahead, e.g. for a ``COMMENT ON TABLE`` later in the file, use it).
    :ivar index: the position of the current statement in :attr:`statements`.
    :ivar in_transaction: ``True`` when the runner wraps the file in one
        transaction (see :meth:`confiture_core.migrations.Migration.is_transactional`);
        ``False`` for ``-- confiture: no-transaction`` files and files whose
        statements all need autocommit.
    :ivar pg_version: target PostgreSQL major version (``int``, e.g. ``16``).
    :ivar config: this rule's settings: the ``[lint.<group>]`` tables of its
        groups merged, then ``[lint.<code>]`` (``{}`` when none).
    :ivar created_tables: ``(schema or None, table)`` of every table created by
        an earlier statement of the same file (names as PostgreSQL folds them).
    :ivar lock_timeout_set: ``True`` once a ``SET lock_timeout`` appeared earlier
        in the file, or when the project's config sets ``lock_timeout`` (the
        runner then sets it before every migration).
    :ivar statement_timeout_set: ``True`` when the project's config sets a ``statement_timeout``
        (the runner sets it before every migration).
    :ivar state: scratch ``dict`` private to this rule for this file.
    :ivar memo: scratch ``dict`` shared by every rule for the current statement only (the engine
        empties it before each statement): a fact several rules compute from the same statement is
        computed once and kept here, under a key that starts with the rule's group
        (``"safety.existing_table"``).
    """

    path: str
    text: str
    statements: Sequence[Statement]
    index: int
    in_transaction: bool
    pg_version: int
    config: Mapping[str, Any]
    created_tables: set[TableKey] = field(default_factory=set)
    lock_timeout_set: bool = False
    statement_timeout_set: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    def table_created_earlier(self, schema: str | None, table: str) -> bool:
        """Whether ``schema.table`` was created earlier in this file.

        A missing schema on either side matches any schema (the search path is
        not known statically).
        """
        for s, t in self.created_tables:
            if t == table and (s is None or schema is None or s == schema):
                return True
        return False

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character ``offset`` into :attr:`text`."""
        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset) + 1
        start = self.text.rfind("\n", 0, offset) + 1
        return line, offset - start + 1


class LintRule:
    """Base class of every lint rule.

    Subclasses set the class attributes and implement :meth:`check`.

    :cvar code: unique code, an upper-case prefix and three digits (``"CF101"``).
    :cvar name: unique dotted name, ``"<group>.<rule>"`` (``"safety.concurrent-index"``).
    :cvar groups: the groups the rule belongs to; ``--select``/``--ignore`` accept them.
    :cvar summary: one line: what the rule finds.
    :cvar explanation: why it is dangerous and the safe alternative (Markdown).
    :cvar severity: ``"error"`` (default) or ``"warning"``.
    :cvar default_enabled: whether the rule runs without ``--select``.
    :cvar min_pg_version: lowest target PostgreSQL major version the rule applies
        to, or ``None``.
    :cvar max_pg_version: highest target PostgreSQL major version, or ``None``.
    :cvar squawk: the equivalent squawk rule, if any (documentation only).
    :cvar node_types: when not empty, :meth:`check` is only called for statements
        whose AST node is an instance of one of these pglast classes (a speed-up).
    :cvar alter_subtypes: when not empty, :meth:`check` is only called for an
        ``ALTER TABLE`` statement (``ast.AlterTableStmt``) that has a command whose
        ``subtype`` (a :class:`pglast.enums.AlterTableType`) is in this set; other
        statements are not affected (a speed-up for rules that read only some commands).
    :cvar settings: the keys the rule reads in its ``[lint.<group>]`` and ``[lint.<code or name>]``
        tables; when every rule a table is for declares them, a key none of them reads is a
        configuration error (exit 2: a misspelt setting would otherwise be ignored without a word).
        ``None`` (the default): not declared, the table is not checked.
    """

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    groups: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    severity: ClassVar[Severity] = "error"
    default_enabled: ClassVar[bool] = True
    min_pg_version: ClassVar[int | None] = None
    max_pg_version: ClassVar[int | None] = None
    squawk: ClassVar[str | None] = None
    node_types: ClassVar[tuple[type[ast.Node], ...]] = ()
    alter_subtypes: ClassVar[frozenset[int]] = frozenset()
    settings: ClassVar[frozenset[str] | None] = None

    def check(self, statement: Statement, ctx: LintContext) -> Iterator[Violation]:
        """Yield the violations of this rule in ``statement``.

        :param statement: the statement (``.node`` is its pglast AST node).
        :param ctx: where it runs; see :class:`LintContext`.
        :returns: an iterator of :class:`Violation` (usually a generator).
        :raises confiture_core.errors.ConfigError: its settings (``ctx.config``) are unusable: the run
            stops with that one-line error (exit 2). Any other exception is reported as a ``CF001``
            finding and the rule is skipped for the rest of the file.
        """
        raise NotImplementedError
        yield  # pragma: no cover

    @classmethod
    def applies_to(cls, pg_version: int) -> bool:
        """Whether the rule applies when targeting PostgreSQL major ``pg_version``."""
        if cls.min_pg_version is not None and pg_version < cls.min_pg_version:
            return False
        return cls.max_pg_version is None or pg_version <= cls.max_pg_version

    @classmethod
    def validate_class(cls) -> None:
        """Check the class attributes.

        :raises TypeError: an empty or malformed code, name, groups, summary, severity, ``node_types``,
            ``alter_subtypes`` or ``settings``.
        """
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not _CODE_RE.match(cls.code):
            raise TypeError(f"{where}: code {cls.code!r} must look like 'CF101' (letters then 3 digits)")
        if not _NAME_RE.match(cls.name):
            raise TypeError(f"{where}: name {cls.name!r} must be dotted lower-case, like 'safety.concurrent-index'")
        if not cls.groups or not all(isinstance(g, str) and g for g in cls.groups):
            raise TypeError(f"{where}: groups must be a non-empty tuple of names")
        if not cls.summary:
            raise TypeError(f"{where}: summary must not be empty")
        if cls.severity not in ("error", "warning"):
            raise TypeError(f"{where}: severity must be 'error' or 'warning'")
        types = cls.node_types
        if not isinstance(types, tuple) or not all(isinstance(t, type) and issubclass(t, ast.Node) for t in types):
            raise TypeError(f"{where}: node_types must be a tuple of pglast.ast classes, like (ast.IndexStmt,), "
                            f"got {types!r}")
        subtypes = cls.alter_subtypes
        if isinstance(subtypes, str | bytes) or not isinstance(subtypes, Collection) \
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in subtypes):
            raise TypeError(f"{where}: alter_subtypes must be a set of pglast.enums.AlterTableType members, "
                            f"got {subtypes!r}")
        keys = cls.settings
        if keys is not None and (isinstance(keys, str | bytes) or not isinstance(keys, Collection)
                                 or not all(isinstance(k, str) for k in keys)):
            raise TypeError(f"{where}: settings must be a set of setting names or None, got {keys!r}")

    def violation(
        self,
        statement: Statement,
        ctx: LintContext,
        message: str | None = None,
        *,
        location: int | None = None,
    ) -> Violation:
        """Build a violation of this rule at ``statement``.

        :param statement: the offending statement.
        :param ctx: the context passed to :meth:`check`.
        :param message: the finding's text; default :attr:`summary`.
        :param location: a pglast node ``location`` (character offset in the file)
            to point at instead of the statement's first character; ignored when
            it falls outside the statement.
        """
        line, column = statement.line, statement.column
        if location is not None and location >= 0 and statement.offset <= location < statement.offset + len(
            statement.sql
        ):
            line, column = ctx.position(location)
        return Violation._make(self.code, message or self.summary, ctx.path, line, column, self.severity,
                               redact_secrets(statement.sql), self.name)
