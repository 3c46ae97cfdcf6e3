"""How a hook implementation's failure is named: HookFailed, HookIsolationError, and the one-line description."""

from __future__ import annotations

from .errors import ConfitureError
from .paths import shown


class HookContractError(Exception):
    """A hook implementation broke the calling contract (a wrapper that did not yield once).

    :class:`HookFailed` shows its message without a type name: it is Confiture's
    finding, not an exception the plugin raised.
    """


class HookFailed(ConfitureError):
    """A plugin's hook implementation raised, returned the wrong type or broke isolation (exit 1).

    :ivar plugin: the plugin's name.
    :ivar hook: the hook's name.
    :ivar original: the exception it raised (for an isolation breach, one describing it).
    """

    exit_code = 1

    def __init__(self, plugin: str, hook: str, where: str, original: BaseException) -> None:
        at = raised_at(original)
        super().__init__(f"plugin {plugin!r} failed in {hook}{where}: {describe_error(original)}"
                         + (f" (at {at})" if at else ""))
        self.plugin = plugin
        self.hook = hook
        self.original = original


class HookIsolationError(HookFailed):
    """A hook implementation committed, rolled back or closed the runner's connection, or changed its role.

    The message says what it did, without an exception type name.
    """

    def __init__(self, plugin: str, hook: str, where: str, why: str) -> None:
        super().__init__(plugin, hook, where, HookContractError(why))


def describe_error(exc: BaseException) -> str:
    """One line for what a hook did: ``Type: message``, ``called sys.exit(3)``, or a contract breach as is.

    A database error keeps its message's first line (PostgreSQL's ``LINE 1: ...`` excerpt and caret are left
    out) and gets its SQLSTATE, as in ``UndefinedColumn: column "x" does not exist [42703]``.
    """
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, HookContractError):
        return str(exc)
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first} [{sqlstate}]"
    return f"{type(exc).__name__}: {exc}"


#: modules whose frames are not the plugin's own code (the caller, the hook machinery, the database driver);
#: the first-party packs (``confiture_plugins``) name their own files (a callback file's line) in their errors
_NOT_THE_PLUGIN = ("confiture_core", "confiture_plugins", "pluggy", "psycopg", "psycopg_binary", "psycopg_c",
                   "importlib")


def raised_at(exc: BaseException) -> str | None:
    """``file:line`` of the plugin's own code where ``exc`` was raised: the innermost frame of its traceback
    outside Confiture, pluggy and psycopg (a failed query is named at the plugin's call, not inside psycopg);
    the file relative to the current folder when inside it. ``None`` when no such frame (an exception
    Confiture made itself, such as a contract breach).
    """
    import traceback

    found = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] not in _NOT_THE_PLUGIN:
            found = (frame.f_code.co_filename, line)
    return None if found is None else f"{shown(found[0])}:{found[1]}"


def describe_import_error(exc: BaseException) -> str:
    """One line for a plugin module that failed to import: ``Type: message (at file:line)``, a syntax error at
    its own file and line (not Python's ``(bad.py, line 2)``), any other error where the module's code raised."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        return f"{type(exc).__name__}: {exc.msg} (at {shown(exc.filename)}:{exc.lineno})"
    at = raised_at(exc)
    return f"{type(exc).__name__}: {exc}" + (f" (at {at})" if at else "")


def is_failure(exc: BaseException) -> bool:
    """Whether ``exc`` raised by a hook is the hook's failure (``KeyboardInterrupt`` and the like pass through)."""
    return isinstance(exc, (Exception, SystemExit))
