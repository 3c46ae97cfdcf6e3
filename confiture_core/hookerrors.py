"""How a hook implementation's failure is named: HookFailed, HookIsolationError, and the one-line description."""

from __future__ import annotations

from .errors import ConfitureError


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
        super().__init__(f"plugin {plugin!r} failed in {hook}{where}: {describe_error(original)}")
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
    """One line for what a hook did: ``Type: message``, ``called sys.exit(3)``, or a contract breach as is."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, HookContractError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def is_failure(exc: BaseException) -> bool:
    """Whether ``exc`` raised by a hook is the hook's failure (``KeyboardInterrupt`` and the like pass through)."""
    return isinstance(exc, (Exception, SystemExit))
