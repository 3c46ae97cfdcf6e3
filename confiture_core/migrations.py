"""Migration discovery, versions and checksums (SQL and Python migrations).

File names, in the migrations folder:

- ``<version>_<name>.up.sql`` and optionally ``<version>_<name>.down.sql`` (the down
  file is paired by version, so its name may differ);
- ``<version>_<name>.py`` defining ``up(conn)`` and optionally ``down(conn)``, each
  given a psycopg ``Connection``; set ``transactional = False`` in the module to
  run outside a transaction.

Versions are non-negative integers (``1``, ``0042``, ``20240131120000``) and are
compared as numbers: 1, 2, 10, never 1, 10, 2. Hidden files, ``__init__.py``,
``_``-prefixed files and files with other extensions (``README.md``) are ignored.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError, MigrationFileError
from .hookerrors import describe_import_error
from .paths import shown

if TYPE_CHECKING:  # imported where a file is parsed: `confiture --version`, `--help` need no pglast
    from .sql import SqlFile

_SQL_RE = re.compile(r"^(?P<version>\d+)_(?P<name>.+)\.(?P<direction>up|down)\.sql$")
_PY_RE = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_]+)\.py$")

Direction = Literal["up", "down"]


def normalized_bytes(data: bytes) -> bytes:
    """File bytes as checksummed: a leading UTF-8 BOM dropped, CRLF turned into LF."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.replace(b"\r\n", b"\n")


def checksum_bytes(data: bytes) -> str:
    """SHA-256 hex digest of :func:`normalized_bytes` of ``data``."""
    import hashlib  # here: `confiture lint --no-cache` never hashes (OpenSSL takes ms to load)

    return hashlib.sha256(normalized_bytes(data)).hexdigest()


def read_text(path: Path) -> str:
    """A migration file's text: UTF-8, BOM dropped, CRLF turned into LF.

    :raises MigrationFileError: unreadable file, invalid UTF-8 or a NUL byte (with
        the line and the byte offset, counted after the BOM is dropped and CRLF turned into LF).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MigrationFileError(f"{shown(path)}: cannot read: {exc.strerror}") from None
    normal = normalized_bytes(data)
    try:
        text = normal.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = normal.count(b"\n", 0, exc.start) + 1
        raise MigrationFileError(
            f"{shown(path)}:{line}: not valid UTF-8 at byte {exc.start}; save the file as UTF-8"
        ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise MigrationFileError(f"{shown(path)}:{line}: NUL byte at byte {nul}; PostgreSQL text cannot hold one "
                                 "(the parser would silently stop there): remove it")
    return text


#: Imported Python migration modules by (path, checksum): imported once per process.
_MODULES: dict[tuple[str, str | None], ModuleType] = {}


@dataclass(frozen=True)
class Migration:
    """One versioned migration.

    :ivar version: the version as an ``int`` (ordering and identity).
    :ivar name: the descriptive part of the up file's name.
    :ivar up_path: the up file (``.up.sql`` or ``.py``).
    :ivar down_path: the down file, or ``None`` (for Python: the same file, when it
        defines ``down``).
    :ivar kind: ``"sql"`` or ``"python"``.
    """

    version: int
    name: str
    up_path: Path
    down_path: Path | None
    kind: Literal["sql", "python"]
    #: the parsed SQL file per direction (:meth:`sql`)
    _parsed: dict[Direction, SqlFile] = field(default_factory=dict, compare=False, repr=False)
    #: directions whose file :meth:`preflight` found plainly transactional without building the AST
    _plain: set[Direction] = field(default_factory=set, compare=False, repr=False)
    #: the text :meth:`preflight` read, kept until :meth:`sql` parses it
    _text: dict[Direction, str] = field(default_factory=dict, compare=False, repr=False)
    #: whether a Python migration's function for a direction has no code (parsed once)
    _empty: dict[Direction, bool] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the up file (BOM dropped, CRLF as LF), hex."""
        try:
            return checksum_bytes(self.up_path.read_bytes())
        except OSError as exc:
            raise MigrationFileError(f"{shown(self.up_path)}: cannot read: {exc.strerror}") from None

    def path_for(self, direction: Direction) -> Path | None:
        """The file run for ``direction`` (``None``: no down migration)."""
        return self.up_path if direction == "up" else self.down_path

    def sql(self, direction: Direction) -> SqlFile:
        """The parsed statements of the SQL file for ``direction``.

        :raises MigrationFileError: for a Python migration, a missing down file,
            or a file PostgreSQL's parser rejects.
        """
        if self.kind != "sql":
            raise MigrationFileError(f"{shown(self.up_path)}: a Python migration has no SQL")
        if direction not in self._parsed:
            path = self.path_for(direction)
            if path is None:
                raise MigrationFileError(f"{shown(self.up_path)}: no down migration ({self.version}_*.down.sql)")
            from .sql import parse_sql_text

            text = self._text.pop(direction, None)  # read by preflight()
            self._parsed[direction] = parse_sql_text(read_text(path) if text is None else text, shown(path))
        return self._parsed[direction]

    def parsed(self, direction: Direction) -> bool:
        """Whether :meth:`sql` has parsed the file for ``direction`` already (it then costs nothing)."""
        return direction in self._parsed

    def preflight(self, direction: Direction) -> None:
        """Read the SQL file for ``direction`` and check it as :meth:`is_transactional` and :meth:`sql` would,
        building pglast's AST only when needed: a file that PostgreSQL's parser shows to be plainly
        transactional (:func:`~confiture_core.sql.plainly_transactional`, no AST: the pre-flight of a long
        plan) keeps its text until :meth:`sql` parses it, e.g. while the server runs the migration before it.

        :raises MigrationFileError: as :meth:`sql` (nothing for a Python migration).
        """
        if self.kind != "sql" or self.parsed(direction) or direction in self._plain:
            return
        path = self.path_for(direction)
        if path is None:
            self.sql(direction)  # raises: no down file
            return
        from .sql import parse_sql_text, plainly_transactional

        text = read_text(path)
        if plainly_transactional(text):
            self._plain.add(direction)
            self._text[direction] = text
        else:
            self._parsed[direction] = parse_sql_text(text, shown(path))

    def module(self) -> ModuleType:
        """The imported Python migration module (imported once).

        :raises MigrationFileError: import failure or no ``up`` callable.
        """
        return self._module

    @cached_property
    def _module(self) -> ModuleType:
        """:meth:`module`, cached on the migration (not when the import raises)."""
        known = _MODULES.get((str(self.up_path), self.checksum))
        if known is not None:
            # one import per process, even across runners (the review gate's dry run, then the real run)
            return known
        read_text(self.up_path)  # refused as a .sql file is: not UTF-8, or a NUL byte
        spec = importlib.util.spec_from_file_location(f"confiture_migration_{self.version}", self.up_path)
        if spec is None or spec.loader is None:
            raise MigrationFileError(f"{shown(self.up_path)}: cannot import")
        mod = importlib.util.module_from_spec(spec)
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries --format json
                spec.loader.exec_module(mod)
        except Exception as exc:
            # its own file and line: "SyntaxError: expected ':' (at migrations/5_x.py:3)"
            why = describe_import_error(exc)
            raise MigrationFileError(f"{shown(self.up_path)}: import failed: {why}") from None
        if not callable(getattr(mod, "up", None)):
            raise MigrationFileError(f"{shown(self.up_path)}: a Python migration must define up(conn)")
        _check_python_module(mod, self.up_path)
        _MODULES[(str(self.up_path), self.checksum)] = mod
        return mod

    def python_callable(self, direction: Direction) -> Callable[..., Any]:
        """``up`` or ``down`` of a Python migration.

        :raises MigrationFileError: when ``down`` is asked for and not defined.
        """
        fn = getattr(self.module(), direction, None)
        if not callable(fn):
            raise MigrationFileError(f"{shown(self.up_path)}: no down(conn) defined; cannot revert")
        return fn  # type: ignore[no-any-return]

    def has_down(self) -> bool:
        """Whether the migration can be reverted."""
        if self.kind == "sql":
            return self.down_path is not None
        return callable(getattr(self.module(), "down", None))

    def is_transactional(self, direction: Direction, *, mixed: bool = False) -> bool:
        """False when the migration runs in autocommit, one statement at a time.

        SQL: when it holds statements that cannot run in a transaction block, or
        carries the ``-- confiture: no-transaction`` directive (or, with ``mixed``,
        the project's ``mixed = true``, when it mixes both kinds). Python: when the
        module sets ``transactional = False``. The runner asks before anything runs.

        :raises MigrationFileError: a SQL file with no statement (empty, or only
            comments, as ``migrate new`` creates it), a Python function with no code
            (only a docstring, ``pass`` or ``...``, as ``migrate new --python`` writes
            it), or a SQL file that mixes both kinds of statements without the
            directive and without ``mixed``.
        """
        if self.kind == "python":
            module = self.module()
            fn = getattr(module, direction, None)
            if direction not in self._empty:  # asked at planning, at run time and when recording: parse it once
                self._empty[direction] = fn is not None and _does_nothing(fn)
            if self._empty[direction]:
                line = getattr(getattr(fn, "__code__", None), "co_firstlineno", 1)
                todo = ("write the migration in it, or delete the file" if direction == "up" else "write what "
                        "reverts the migration in it, or remove down() (the migration then cannot be reverted)")
                raise MigrationFileError(f"{shown(self.up_path)}:{line}: {direction}() has no code yet (only a "
                                         f"docstring, pass or ...): {todo}")
            return bool(getattr(module, "transactional", True))
        if direction in self._plain:  # see preflight()
            return True
        parsed = self.sql(direction)
        if all(st.is_transaction_control and not st.ends_the_transaction for st in parsed.statements):
            raise MigrationFileError(self._no_statement(direction))  # a ROLLBACK is refused below, by name
        transactional, refusal = sql_transaction_mode(parsed, mixed=mixed)
        if refusal is not None:
            raise MigrationFileError(f"{shown(self.path_for(direction))}:{refusal}")
        return transactional

    def _no_statement(self, direction: Direction) -> str:
        """The refusal of a SQL file without a statement (transaction control aside)."""
        where = shown(self.path_for(direction))
        if direction == "up":
            return (f"{where}: has no SQL statement yet (it is empty or holds only comments): write the migration "
                    "in it, or delete it")
        return (f"{where}: has no SQL statement yet (it is empty or holds only comments): write the statements "
                f"that revert version {self.version} in it, or delete it (the migration then cannot be reverted)")


def sql_transaction_mode(sql: SqlFile, *, mixed: bool = False) -> tuple[bool, str | None]:
    """How the runner runs a SQL file: ``(in one transaction, None)``, or ``(True, why it refuses it)``.

    A file runs in autocommit when it carries the ``-- confiture: no-transaction``
    directive or when all its statements need autocommit; a file mixing
    statements that need autocommit with others is refused, unless ``mixed``
    (the project's ``mixed = true``) runs it in autocommit too. The refusal is
    ``"<line>: <reason>"`` (what :meth:`Migration.is_transactional` raises, after
    the file name). A transactional file holding ROLLBACK or a prepared-transaction
    statement (:attr:`~confiture_core.sql.Statement.ends_the_transaction`) is refused too.
    """
    if sql.no_transaction:
        return False, None
    needs = [s for s in sql.statements if s.no_transaction_reason]
    if not needs:
        ender = next((s for s in sql.statements if s.ends_the_transaction), None)
        if ender is not None:
            return True, (f"{ender.line}: {ender.sql.split()[0].upper()} is not allowed in a migration that runs in a "
                          "transaction; remove it (the runner rolls back on failure)")
        return True, None
    others = len(sql.statements) - len(needs)
    if others and not mixed:
        first = needs[0]
        return True, (f"{first.line}: {first.no_transaction_reason} cannot run in a transaction block, but this "
                      f"file also has {others} other statement(s); split it into two migrations, or put "
                      "'-- confiture: no-transaction' at the top of the file (or mixed = true in the project's "
                      "configuration) to run every statement in autocommit, one at a time")
    return False, None


def discover(folder: Path) -> list[Migration]:
    """All migrations in ``folder``, sorted by numeric version.

    :param folder: the migrations folder.
    :returns: migrations in ascending version order; ``[]`` for an empty folder.
    :raises MigrationFileError: missing folder, an unparsable ``.sql``/``.py`` file
        name, duplicate versions, or a down file without its up file. Each message
        names the file(s).
    """
    if not folder.is_dir():
        raise MigrationFileError(
            f"{folder}: migrations folder not found; create it or set migrations_dir in confiture.toml"
        )
    ups: dict[int, tuple[str, Path, str]] = {}
    downs: dict[int, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise MigrationFileError(f"{shown(folder)}: cannot read the migrations folder: {exc.strerror}") from None
    for path in entries:
        fname = path.name
        if fname.startswith((".", "_")):
            continue
        lower = fname.lower()
        suffix = next((x for x in (".up.sql", ".down.sql", ".sql", ".py") if lower.endswith(x)), None)
        if not path.is_file():
            if suffix is not None:
                refuse_not_a_file(path)
            continue
        if suffix is not None and not fname.endswith(suffix):
            raise MigrationFileError(
                f"{shown(path)}: the extension must be lower case ({suffix}); rename it to "
                f"{fname[: len(fname) - len(suffix)]}{suffix}")
        if fname.endswith(".sql"):
            m = _SQL_RE.match(fname)
            if not m:
                plain = re.match(r"^\d+_.+(?=\.sql$)", fname)  # 3_add.sql: only the direction is missing
                hint = f"; rename it to {plain[0]}.up.sql (or .down.sql if it reverts one)" if plain else ""
                raise MigrationFileError(
                    f"{shown(path)}: cannot parse the file name; expected <version>_<name>.up.sql or "
                    f"<version>_<name>.down.sql with a numeric version{hint}"
                )
            version = int(m["version"])
            if m["direction"] == "down":
                if version in downs:
                    raise MigrationFileError(f"{shown(path)}: duplicate down migration for version {version} "
                                             f"(also {downs[version].name})")
                downs[version] = path
                continue
            kind = "sql"
        elif fname.endswith(".py"):
            m = _PY_RE.match(fname)
            if not m:
                raise MigrationFileError(
                    f"{shown(path)}: cannot parse the file name; expected <version>_<name>.py with a numeric "
                    "version and a name of letters, digits and underscores"
                )
            version = int(m["version"])
            kind = "python"
        else:
            continue
        if version in ups:
            raise MigrationFileError(
                f"{shown(path)}: duplicate version {version} (also {ups[version][1].name}); "
                "give one of them a new version"
            )
        ups[version] = (m["name"], path, kind)
    for version, path in downs.items():
        if version not in ups:
            raise MigrationFileError(f"{shown(path)}: down migration without an up migration for version {version}; "
                                     f"add {path.name.removesuffix('.down.sql')}.up.sql, or delete it if it is left "
                                     "over")
        if ups[version][2] == "python":
            raise MigrationFileError(f"{shown(path)}: version {version} is a Python migration; define down(conn) in "
                                     f"{ups[version][1].name} instead")
    return [
        Migration(v, name, path, downs.get(v), kind)  # type: ignore[arg-type]
        for v, (name, path, kind) in sorted(ups.items())
    ]


def refuse_not_a_file(path: Path) -> None:
    """Refuse an entry named like a migration file that is not one (a folder, a dangling
    symbolic link, a symbolic link loop, a FIFO...): skipping it would silently drop a migration.

    :raises MigrationFileError: naming the entry and what to do.
    """
    import errno
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MigrationFileError(f"{shown(path)}: symbolic link loop (it never reaches a file); point it at "
                                     "the migration file or remove it") from None
        if path.is_symlink():
            target = os.readlink(path)
            raise MigrationFileError(f"{shown(path)}: symbolic link to {target}, which does not exist; point it "
                                     "at the migration file or remove it") from None
        raise MigrationFileError(f"{shown(path)}: cannot read: {exc.strerror}") from None
    what = "a folder" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
    raise MigrationFileError(f"{shown(path)}: is {what}, not a file, but named like a migration; rename or "
                             "remove it")


def parse_version(text: str, what: str = "version") -> int:
    """A ``--to`` / ``baseline`` version argument as an int.

    :param what: how the message names the argument (``"--to"``, ``"VERSION"``).
    :raises ConfigError: not a non-negative integer.
    """
    t = text
    if not (t.isascii() and t.isdigit()):
        raise ConfigError(f"{what}: version {text!r}: expected a non-negative integer such as 42 or 20240131120000")
    return int(t)


def _does_nothing(fn: Callable[..., Any]) -> bool:
    """Whether ``fn``'s body holds only a docstring, ``pass`` or ``...`` (as ``migrate new --python`` writes it)."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return False
    defn = tree.body[0] if tree.body else None
    if not isinstance(defn, ast.FunctionDef):
        return False
    return all(isinstance(st, ast.Pass) or (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant)
                                             and (st.value.value is Ellipsis or isinstance(st.value.value, str)))
               for st in defn.body)


def _check_python_module(mod: ModuleType, path: Path) -> None:
    """Refuse what the runner cannot honour: ``async def up``/``down`` (they would return an
    un-awaited coroutine and do nothing), generator functions (calling one runs none of its
    body) and a ``transactional`` that is not a bool.

    :raises MigrationFileError: naming the file and line.
    """
    for name in ("up", "down"):
        fn = getattr(mod, name, None)
        if fn is not None and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            line = getattr(getattr(fn, "__code__", None), "co_firstlineno", 1)
            raise MigrationFileError(f"{shown(path)}:{line}: {name}() is defined with async def; Confiture calls "
                                     f"it with a synchronous psycopg connection: define it with def {name}(conn)")
        if fn is not None and inspect.isgeneratorfunction(fn):
            line = getattr(getattr(fn, "__code__", None), "co_firstlineno", 1)
            raise MigrationFileError(f"{shown(path)}:{line}: {name}() is a generator function (it uses yield), so "
                                     "calling it would run none of its body: remove the yield")
    value = getattr(mod, "transactional", True)
    if not isinstance(value, bool):
        raise MigrationFileError(f"{shown(path)}: transactional = {value!r}; it must be True or False")
