"""Savepoint-isolated hook calls: the typed facade the runner uses instead of ``pm.hook``.

pluggy calls every implementation of a hook in one go. To give each
implementation its own SAVEPOINT, :class:`Hooks` iterates
``pm.hook.<name>.get_hookimpls()`` itself, in the order pluggy's ``_multicall``
uses (the list reversed: wrappers first, then ``tryfirst``, plain ones with the
last registered first, ``trylast`` last), and drives new-style (``wrapper=True``)
and old-style (``hookwrapper=True``) wrappers around them with pluggy's
semantics: a wrapper receives the list of results (or the exception) at its
``yield`` and may replace it (an old-style one through pluggy's public
``Result`` API: ``get_result``, ``force_result``, ``force_exception``; an
exception it forces is that wrapper's failure).

Isolation rules, per implementation (and per wrapper half):

* ``SAVEPOINT`` before, ``RELEASE`` after (sent in one round trip with the next
  implementation's ``SAVEPOINT``, or at the end of the hook call); on an exception
  ``ROLLBACK TO`` then ``RELEASE``, so none of that implementation's writes survive;
* a COMMIT or ROLLBACK issued by the implementation ends the runner's
  transaction: this is detected from the connection's transaction status and
  refused (:class:`HookIsolationError`); a COMMIT is also made to fail by the
  runner's commit guard (see :mod:`confiture_core.runner`), so it rolls back;
* a closed connection is detected and refused the same way, and so is a role
  left changed (``SET ROLE`` without ``RESET ROLE``: the runner's own statements
  would then run without its privileges), as far as the server reports it
  (``is_superuser``, ``session_authorization``);
* a return value of the wrong type (``confiture_validate``, ``confiture_backfill``)
  is a failure of that implementation, inside its savepoint;
* ``SystemExit`` (``sys.exit()`` in a hook) is a failure like any exception;
  ``KeyboardInterrupt`` still interrupts;
* the failure policy: a plugin named in ``[plugins] non_fatal`` turns its
  failure into a warning; any other failure raises :class:`HookFailed`.

Hooks with no implementation cost nothing: no savepoint is taken.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import ConfitureError
from .hookspecs import LEVELS, Backfill, Finding, HookContext, MigrationResult

if TYPE_CHECKING:
    import psycopg

_counter = itertools.count(1)


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


def _is_failure(exc: BaseException) -> bool:
    """Whether ``exc`` raised by a hook is the hook's failure (``KeyboardInterrupt`` and the like pass through)."""
    return isinstance(exc, (Exception, SystemExit))


def _describe(ctx: HookContext | None) -> str:
    if ctx is not None and ctx.migration is not None:
        return f" for migration {ctx.migration.up_path.name}"
    return ""


class Hooks:
    """Typed, savepoint-isolating facade over a pluggy ``PluginManager``.

    :param pm: the plugin manager with the specs of :mod:`confiture_core.hookspecs`.
    :param non_fatal: names of plugins whose failures are warnings.
    :param warn: called with a one-line message for each non-fatal failure.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        non_fatal: Iterable[str] = (),
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.pm = pm
        self.non_fatal = set(non_fatal)
        #: the savepoint of the last implementation that succeeded, not yet released, with
        #: (plugin, hook, where) for the message when it turns out to be gone: releasing it
        #: together with the next implementation's SAVEPOINT saves one round trip per call
        self._pending: tuple[str, str, str, str] | None = None
        self.warn = warn or (lambda msg: None)

    # ------------------------------------------------------------ public API

    def has(self, name: str) -> bool:
        """Whether any plugin implements hook ``name``."""
        caller = getattr(self.pm.hook, name, None)
        return bool(caller is not None and caller.get_hookimpls())

    def implementers(self, name: str) -> set[str]:
        """Names of the plugins that implement hook ``name``."""
        caller = getattr(self.pm.hook, name, None)
        return {impl.plugin_name for impl in caller.get_hookimpls()} if caller is not None else set()

    def configure(self, config: Any) -> None:
        """Call ``confiture_configure(config)`` (no database, so no savepoint).

        :raises ConfitureError: a ``ConfitureError`` (e.g. ``ConfigError``) a plugin
            raised, as is; any other exception becomes :class:`HookFailed` naming
            the plugin (exit 1).
        """
        with contextlib.redirect_stdout(sys.stderr):
            for impl in reversed(self.pm.hook.confiture_configure.get_hookimpls()):
                if impl.hookwrapper or impl.wrapper:
                    continue
                try:
                    impl.function(config=config)
                except ConfitureError:
                    raise
                except (Exception, SystemExit) as exc:
                    raise HookFailed(impl.plugin_name, "confiture_configure", "", exc) from exc

    def validate(self, ctx: HookContext) -> list[Finding]:
        """Call ``confiture_validate``; returns the findings, tagged with plugin and version.

        :raises HookFailed: an implementation raised, or returned something other
            than ``None`` or an iterable of :class:`Finding` with a known level.
        """
        findings: list[Finding] = []
        for plugin, result in self._call("confiture_validate", ctx, {"context": ctx}, check=_findings):
            for f in result:
                f.plugin = f.plugin or plugin
                f.version = ctx.migration.version if ctx.migration else None
                findings.append(f)
        return findings

    def before_migrate(self, ctx: HookContext) -> None:
        """Call ``confiture_before_migrate``."""
        self._call("confiture_before_migrate", ctx, {"context": ctx})

    def after_migrate(self, ctx: HookContext, results: Sequence[MigrationResult]) -> None:
        """Call ``confiture_after_migrate``."""
        self._call("confiture_after_migrate", ctx, {"context": ctx, "results": list(results)})

    def before_migration(self, ctx: HookContext) -> None:
        """Call ``confiture_before_migration``."""
        self._call("confiture_before_migration", ctx, {"context": ctx})

    def after_migration(self, ctx: HookContext) -> None:
        """Call ``confiture_after_migration``."""
        self._call("confiture_after_migration", ctx, {"context": ctx})

    def backfill(self, ctx: HookContext) -> list[tuple[str, Backfill]]:
        """Call ``confiture_backfill``; returns (plugin name, Backfill) pairs.

        :raises HookFailed: an implementation raised, returned something other than
            ``None``, a :class:`Backfill` or an iterable of them, or two backfills
            of the same name.
        """
        out: list[tuple[str, Backfill]] = []
        for plugin, items in self._call("confiture_backfill", ctx, {"context": ctx}, check=_backfills):
            out.extend((plugin, b) for b in items)
        return out

    def on_error(self, ctx: HookContext, error: BaseException) -> None:
        """Call ``confiture_on_error``; its own failures only become warnings."""
        if not self.has("confiture_on_error"):
            return
        for impl in reversed(self.pm.hook.confiture_on_error.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document
                    impl.function(context=ctx, error=error)
            except (Exception, SystemExit) as exc:
                self.warn(f"plugin {impl.plugin_name!r} failed in confiture_on_error: {describe_error(exc)}")

    # ------------------------------------------------------------ machinery

    def _call(self, name: str, ctx: HookContext, kwargs: dict[str, Any],
              check: Callable[[Any], Any] | None = None) -> list[tuple[str, Any]]:
        """Run every implementation of ``name``; returns (plugin name, result) of
        the non-wrapper implementations that returned something other than None,
        after wrappers have had their say (a wrapper may replace the list).

        ``check`` turns a return value into the expected type or raises
        ``TypeError``/``ValueError``; it runs inside the implementation's
        savepoint, so a wrong return value is that implementation's failure.
        """
        caller = getattr(self.pm.hook, name)
        impls = caller.get_hookimpls()
        if not impls:
            return []
        # plugin output goes to stderr: stdout carries the CLI's JSON document
        with contextlib.redirect_stdout(sys.stderr):
            try:
                out = self._run_impls(name, impls, ctx, kwargs, check)
            except BaseException:
                self._pending = None  # the runner rolls the transaction back
                raise
            self._flush(ctx.connection)
            return out

    def _run_impls(self, name: str, impls: list[Any], ctx: HookContext,
                   kwargs: dict[str, Any], check: Callable[[Any], Any] | None) -> list[tuple[str, Any]]:
        conn = ctx.connection
        teardowns: list[tuple[Any, Generator[Any, Any, Any]]] = []
        results: list[tuple[str, Any]] = []
        exc: BaseException | None = None
        where = _describe(ctx)
        for impl in reversed(impls):
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            if impl.hookwrapper or impl.wrapper:
                # pluggy only registers generator functions as wrappers: calling one
                # runs none of its code, so it needs no savepoint of its own
                gen = impl.function(**args)
                try:
                    entered = self._isolated(conn, impl.plugin_name, name, where,
                                             partial(_enter, gen, bool(impl.hookwrapper)))
                except HookFailed as e:
                    exc = e
                    break
                if entered is not _SKIPPED:  # a non-fatal wrapper that failed before its yield is left out
                    teardowns.append((impl, gen))
                continue
            call: Callable[[], Any] = partial(impl.function, **args)
            if check is not None:
                call = partial(_checked, call, check)
            try:
                res = self._isolated(conn, impl.plugin_name, name, where, call)
            except HookFailed as e:
                exc = e
                break
            if res is not _SKIPPED and res is not None:
                results.append((impl.plugin_name, res))
        # unwind wrappers, innermost first, with pluggy's semantics
        outcome: Any = [r for _, r in results]
        for impl, gen in reversed(teardowns):
            try:
                if impl.hookwrapper:
                    result = _result(outcome, exc)

                    def send_old(g: Generator[Any, Any, Any] = gen, r: pluggy.Result[Any] = result,
                                 given: BaseException | None = exc) -> None:
                        try:
                            g.send(r)
                        except StopIteration:
                            forced = _unpack(r)[1]
                            if forced is not None and forced is not given:  # force_exception(): its failure
                                raise forced from None
                            return
                        raise HookContractError("hookwrapper yielded more than once")

                    if self._isolated(conn, impl.plugin_name, name, where, send_old, raw=True) is not _SKIPPED:
                        outcome, exc = _unpack(result)
                else:

                    def send_new(g: Generator[Any, Any, Any] = gen, e: BaseException | None = exc,
                                 outcome: Any = outcome) -> Any:
                        try:
                            if e is not None:
                                g.throw(e)
                            else:
                                g.send(outcome)
                        except StopIteration as stop:
                            return stop.value
                        raise HookContractError("wrapper yielded more than once")

                    value = self._isolated(conn, impl.plugin_name, name, where, send_new, raw=True)
                    if value is not _SKIPPED:  # a non-fatal wrapper's failed teardown changes nothing
                        outcome, exc = value, None
            except HookFailed as e:
                exc = e.original if isinstance(e.original, HookFailed) else e
        if exc is not None:
            raise exc
        if outcome is not None and [r for _, r in results] != outcome:
            # a wrapper replaced the results: keep plugin names where we can
            if not isinstance(outcome, (list, tuple)):
                raise HookFailed("<wrapper>", name, where, TypeError(
                    f"a wrapper returned {type(outcome).__name__}, expected the list of results"))
            replaced = []
            for r in outcome:
                try:
                    replaced.append(("<wrapper>", check(r) if check is not None and r is not None else r))
                except (TypeError, ValueError) as e:
                    raise HookFailed("<wrapper>", name, where, e) from e
            return [(p, r) for p, r in replaced if r is not None]
        return results

    def _isolated(
        self,
        conn: psycopg.Connection[Any],
        plugin: str,
        hook: str,
        where: str,
        fn: Callable[[], Any],
        *,
        raw: bool = False,
    ) -> Any:
        """Call ``fn`` inside its own savepoint, applying the failure policy.

        Returns ``fn()``'s value, or :data:`_SKIPPED` when a non-fatal plugin
        failed. With ``raw`` an exception that is a :class:`HookFailed` raised
        inside a wrapper passes through unchanged.
        """
        from psycopg import pq  # lazy: `confiture lint` never needs psycopg

        in_tx = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.INTRANS
        sp = f"confiture_hook_{next(_counter)}"
        role = _role(conn) if in_tx else None
        if in_tx:
            self._open(conn, sp)
        elif self._pending is not None:
            self._pending = None
        try:
            value = fn()
        except BaseException as exc:
            if raw and isinstance(exc, HookFailed):
                if in_tx:
                    self._rollback_to(conn, sp, plugin, hook, where, exc)
                raise HookFailed(plugin, hook, where, exc) from exc
            if not _is_failure(exc):
                raise
            if in_tx:
                self._rollback_to(conn, sp, plugin, hook, where, exc)
            elif conn.closed:
                raise HookIsolationError(plugin, hook, where,
                                         f"closed the connection, then failed ({describe_error(exc)})") from exc
            if plugin in self.non_fatal:
                self.warn(f"plugin {plugin!r} failed in {hook}{where} (non-fatal, its writes were rolled back): "
                          f"{describe_error(exc)}")
                return _SKIPPED
            raise HookFailed(plugin, hook, where, exc) from exc
        if in_tx:
            self._check_alive(conn, plugin, hook, where, role)
            self._pending = (sp, plugin, hook, where)  # released with the next SAVEPOINT, or by _flush
        elif conn.closed:
            raise HookIsolationError(plugin, hook, where, "closed the connection; a hook must not close the "
                                                          "runner's connection")
        return value

    def _open(self, conn: psycopg.Connection[Any], sp: str) -> None:
        """``SAVEPOINT sp``, releasing the previous implementation's savepoint in the same round trip."""
        if self._pending is None:
            conn.execute(f"SAVEPOINT {sp}")
            return
        prev, plugin, hook, where = self._pending
        self._pending = None
        self._release(conn, f"RELEASE SAVEPOINT {prev}; SAVEPOINT {sp}", plugin, hook, where)

    def _flush(self, conn: psycopg.Connection[Any]) -> None:
        """Release the last implementation's savepoint (end of a hook call)."""
        if self._pending is None:
            return
        from psycopg import pq

        prev, plugin, hook, where = self._pending
        self._pending = None
        if not conn.closed and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            self._release(conn, f"RELEASE SAVEPOINT {prev}", plugin, hook, where)

    def _release(self, conn: psycopg.Connection[Any], stmt: str, plugin: str, hook: str, where: str) -> None:
        """Run ``stmt`` (RELEASE / ROLLBACK TO of the hook's savepoint); its failure means
        the hook ended the runner's transaction and began another one."""
        import psycopg

        try:
            conn.execute(stmt)
        except psycopg.Error as exc:
            raise HookIsolationError(plugin, hook, where, (
                "ended the runner's transaction (its savepoint is gone: "
                f"{(exc.diag.message_primary or str(exc)).strip()}); a hook must not commit, roll back or "
                "close the connection")) from exc

    def _check_alive(self, conn: psycopg.Connection[Any], plugin: str, hook: str, where: str,
                     role: tuple[str | None, str | None] | None) -> None:
        if conn.closed:
            raise HookIsolationError(plugin, hook, where,
                                     "closed the connection; a hook must not close the runner's connection")
        from psycopg import pq

        status = conn.info.transaction_status
        if status == pq.TransactionStatus.INERROR:
            raise HookIsolationError(plugin, hook, where, (
                "left the transaction in an error state (it swallowed a database error without rolling back "
                "to a savepoint)"))
        if status != pq.TransactionStatus.INTRANS:
            raise HookIsolationError(plugin, hook, where, (
                "ended the runner's transaction (COMMIT or ROLLBACK); a hook must not commit, roll back or "
                "close the connection — use a savepoint (with conn.transaction()) instead"))
        if role is not None and _role(conn) != role:
            raise HookIsolationError(plugin, hook, where, (
                "changed the session's role (SET ROLE or SET SESSION AUTHORIZATION) and left it changed, so the "
                "runner's own statements would run without its privileges; a hook must RESET ROLE before it "
                "returns"))

    def _rollback_to(self, conn: psycopg.Connection[Any], sp: str, plugin: str, hook: str, where: str,
                     error: BaseException) -> None:
        self._check_alive_after_error(conn, plugin, hook, where, error)
        self._release(conn, f"ROLLBACK TO SAVEPOINT {sp}", plugin, hook, where)
        self._release(conn, f"RELEASE SAVEPOINT {sp}", plugin, hook, where)

    def _check_alive_after_error(self, conn: psycopg.Connection[Any], plugin: str, hook: str, where: str,
                                 error: BaseException) -> None:
        why = (describe_error(error).strip().splitlines() or [type(error).__name__])[0]
        if conn.closed:
            raise HookIsolationError(plugin, hook, where, f"closed the connection ({why})")
        from psycopg import pq

        status = conn.info.transaction_status
        if status not in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            raise HookIsolationError(plugin, hook, where,
                                     f"ended the runner's transaction (COMMIT or ROLLBACK) before failing ({why})")


def _role(conn: psycopg.Connection[Any]) -> tuple[str | None, str | None]:
    """What the server reports of the session's role (no round trip): a ``SET ROLE`` from a
    superuser to another role changes ``is_superuser``; ``SET SESSION AUTHORIZATION``
    changes ``session_authorization``."""
    info = conn.info
    return info.parameter_status("is_superuser"), info.parameter_status("session_authorization")


def _result(outcome: Any, exc: BaseException | None) -> pluggy.Result[Any]:
    """What an old-style hookwrapper receives at its ``yield``: the results so far, or the exception."""
    result = pluggy.Result.from_call(lambda: outcome)
    if exc is not None:
        result.force_exception(exc)
    return result


def _unpack(result: pluggy.Result[Any]) -> tuple[Any, BaseException | None]:
    """``(results, None)`` or ``(None, exception)`` from a ``Result`` an old-style hookwrapper may have forced."""
    try:
        return result.get_result(), None
    except BaseException as exc:  # the outcome, not an error of ours: it goes on to the next wrapper
        return None, exc


def _enter(gen: Generator[Any, Any, Any], old_style: bool) -> Any:
    """Run a wrapper up to its ``yield``."""
    try:
        return next(gen)
    except StopIteration:
        raise HookContractError(("hookwrapper" if old_style else "wrapper") + " did not yield") from None


def _checked(call: Callable[[], Any], check: Callable[[Any], Any]) -> Any:
    value = call()
    return None if value is None else check(value)


def _iterable(value: Any, expected: str) -> list[Any]:
    """``value`` as a list when it is a plain iterable (not a string, bytes or mapping), else ``TypeError``."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"returned {type(value).__name__}, expected {expected}")
    return list(value)


def _findings(value: Any) -> list[Finding]:
    """A ``confiture_validate`` return value, checked: an iterable of :class:`Finding` with known levels."""
    expected = "a list of Finding"
    if isinstance(value, Finding):
        raise TypeError(f"returned a bare Finding, expected {expected} (return [Finding(...)])")
    items = _iterable(value, expected)
    for f in items:
        if not isinstance(f, Finding):
            raise TypeError(f"returned a list containing {type(f).__name__}, expected {expected}")
        if f.level not in LEVELS:
            raise ValueError(f"returned a Finding with unknown level {f.level!r}; expected one of "
                             f"{', '.join(map(repr, LEVELS))}")
    return items


def _backfills(value: Any) -> list[Backfill]:
    """A ``confiture_backfill`` return value, checked: Backfills with unique names."""
    expected = "a Backfill or a list of Backfill"
    items = [value] if isinstance(value, Backfill) else _iterable(value, expected)
    seen: set[str] = set()
    for b in items:
        if not isinstance(b, Backfill):
            raise TypeError(f"returned a list containing {type(b).__name__}, expected {expected}")
        if not isinstance(b.name, str) or not b.name:
            raise TypeError(f"returned a Backfill whose name is {b.name!r}, expected a non-empty str")
        if not callable(b.batch):
            raise TypeError(f"backfill {b.name!r}: batch is {type(b.batch).__name__}, expected a callable")
        if isinstance(b.max_batches, bool) or not isinstance(b.max_batches, int) or b.max_batches < 1:
            raise TypeError(f"backfill {b.name!r}: max_batches is {b.max_batches!r}, expected a positive int")
        if b.name in seen:
            raise ValueError(f"returned two backfills named {b.name!r}; a backfill's name is its resume key and "
                             "must be unique among the backfills of one migration")
        seen.add(b.name)
    return items


class _Skipped:
    def __repr__(self) -> str:
        return "<skipped>"


_SKIPPED: Any = _Skipped()
