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

Isolation rules, per implementation (and per wrapper half), enforced by
:mod:`confiture_core.isolation`:

* its own savepoint, taken when it first uses the connection (an implementation
  that runs no query costs no round trip), released with the next statement; on
  an exception ``ROLLBACK TO`` it, so none of that implementation's writes survive;
* a COMMIT or ROLLBACK issued by the implementation ends the runner's
  transaction: this is detected from the connection's transaction status (or its
  savepoint being gone) and refused (:class:`HookIsolationError`); a COMMIT is
  also made to fail by the runner's commit guard (see :mod:`confiture_core.runner`),
  so it rolls back;
* a closed connection is detected and refused the same way, and so is a role
  left changed (``SET ROLE`` without ``RESET ROLE``: the runner's own statements
  would then run without its privileges), as far as the server reports it
  (``is_superuser``, ``session_authorization``);
* a return value of the wrong type (``confiture_validate``, ``confiture_backfill``)
  is a failure of that implementation, inside its savepoint
  (:mod:`confiture_core.hookresults`);
* ``SystemExit`` (``sys.exit()`` in a hook) is a failure like any exception;
  ``KeyboardInterrupt`` still interrupts;
* the failure policy: a plugin named in ``[plugins] non_fatal`` turns its
  failure into a warning; any other failure raises :class:`HookFailed`
  (:mod:`confiture_core.hookerrors`).

Hooks with no implementation cost nothing: no savepoint is taken.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookresults
from .errors import ConfitureError
from .hookerrors import HookContractError, HookFailed, HookIsolationError, describe_error, is_failure
from .hookspecs import Backfill, Finding, HookContext, MigrationResult
from .isolation import Owner, chain_of, check_alive, check_alive_after_error, in_transaction

if TYPE_CHECKING:
    import psycopg

__all__ = ["HookContractError", "HookFailed", "HookIsolationError", "Hooks", "describe_error"]


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
        for plugin, result in self._call("confiture_validate", ctx, {"context": ctx}, check=hookresults.findings):
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
        for plugin, items in self._call("confiture_backfill", ctx, {"context": ctx}, check=hookresults.backfills):
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
                chain_of(ctx.connection).forget()  # the runner rolls the transaction back
                raise
            if in_transaction(ctx.connection):
                chain_of(ctx.connection).flush()  # a no-op when the commit guard releases it
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
                call = partial(hookresults.checked, call, check)
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
        owner = Owner(plugin, hook, where)
        if not in_transaction(conn):
            return self._unisolated(conn, owner, fn, raw)
        chain = chain_of(conn)
        use = chain.begin(owner)  # the savepoint (and the role to compare with) taken when fn first uses it
        try:
            value = fn()
        except BaseException as exc:
            chain.end(use)  # raises when the previous implementation's savepoint turned out gone
            if not (raw and isinstance(exc, HookFailed)) and not is_failure(exc):
                raise
            check_alive_after_error(conn, owner, exc)
            chain.roll_back(use)
            return self._failed(owner, exc, raw)
        chain.end(use)
        check_alive(conn, owner, use.role_before)
        chain.kept(use)
        return value

    def _unisolated(self, conn: psycopg.Connection[Any], owner: Owner, fn: Callable[[], Any], raw: bool) -> Any:
        """``fn()`` outside a transaction (no savepoint), with the failure policy and the closed-connection check."""
        try:
            value = fn()
        except BaseException as exc:
            if raw and isinstance(exc, HookFailed):
                return self._failed(owner, exc, raw)
            if not is_failure(exc):
                raise
            if conn.closed:
                raise HookIsolationError(owner.plugin, owner.hook, owner.where,
                                         f"closed the connection, then failed ({describe_error(exc)})") from exc
            return self._failed(owner, exc, raw)
        if conn.closed:
            raise HookIsolationError(owner.plugin, owner.hook, owner.where,
                                     "closed the connection; a hook must not close the runner's connection")
        return value

    def _failed(self, owner: Owner, exc: BaseException, raw: bool) -> Any:
        """The failure policy: :data:`_SKIPPED` and a warning for a non-fatal plugin, else :class:`HookFailed`.

        With ``raw``, a :class:`HookFailed` raised inside a wrapper is always raised (wrapped again)."""
        if raw and isinstance(exc, HookFailed):
            raise HookFailed(owner.plugin, owner.hook, owner.where, exc) from exc
        if owner.plugin in self.non_fatal:
            self.warn(f"plugin {owner.plugin!r} failed in {owner.hook}{owner.where} (non-fatal, its writes were "
                      f"rolled back): {describe_error(exc)}")
            return _SKIPPED
        raise HookFailed(owner.plugin, owner.hook, owner.where, exc) from exc


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


class _Skipped:
    def __repr__(self) -> str:
        return "<skipped>"


_SKIPPED: Any = _Skipped()
