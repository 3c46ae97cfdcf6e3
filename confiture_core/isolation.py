"""Each hook implementation isolated on the runner's connection: a savepoint taken on first use, state checks after.

Lazy savepoints. An implementation's ``SAVEPOINT`` is sent only when it first
uses the connection, so an implementation that runs no query costs no round
trip. Every synchronous psycopg operation (``execute``, ``executemany``, COPY,
``conn.transaction()``, entering pipeline mode, server-side cursors,
``commit()``) goes through :meth:`psycopg.Connection.wait` before anything is
sent; while an implementation runs, the connection's ``wait`` is intercepted
once, and the savepoint is sent just before the implementation's first
operation (see psycopg's "Connection classes" docs: ``wait()`` consumes the
generator that sends and receives).

Round trips. Savepoints are chained so none is left open past its use:

* an implementation that used its savepoint and succeeded keeps it until the
  next statement: the ``RELEASE`` goes in the same message as the next
  implementation's ``SAVEPOINT``, or as the commit guard's disarming statement;
* the commit guard (:class:`~confiture_core.runner.CommitGuard`) is armed lazily
  around hook calls: its arming statement is sent in the same message as the first
  ``SAVEPOINT`` (:meth:`SavepointChain.defer_arm`), so hooks that run no query cost
  no round trip at all, not even the guard's (a ``COMMIT`` from a hook goes through
  ``wait()`` too, so the guard is always armed before it); a savepoint under which
  nothing ran ("clean") is handed to the next implementation as is;
* on a failure, ``ROLLBACK TO SAVEPOINT`` undoes the implementation's writes and
  leaves that savepoint open and clean, for the next one.

At most one hook savepoint is open at a time: past 64 open subtransactions
PostgreSQL's subxid cache overflows and every other session's snapshots slow
down (PostgreSQL docs, "Subtransactions").

Outside the contract: ``conn.pgconn`` (libpq used directly) bypasses ``wait()``,
so what a hook sends that way runs under no savepoint of its own; the state
checks below still see a transaction it ended.

State checks (no round trip: libpq's transaction status and the parameters the
server reports): after each implementation, the connection must still be open,
in the runner's transaction, not in an error state, with the role it had.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .hookerrors import HookIsolationError, describe_error

if TYPE_CHECKING:
    import psycopg

_counter = itertools.count(1)

#: SQLSTATE 3B001, invalid_savepoint_specification: the savepoint is gone (its transaction ended)
_SAVEPOINT_GONE = "3B001"


@dataclass(frozen=True)
class Owner:
    """Whose savepoint it is, for messages: the plugin, the hook, and `` for migration X`` or ``""``."""

    plugin: str
    hook: str
    where: str

    def gone(self, why: str) -> HookIsolationError:
        """The error for a savepoint of this owner that vanished."""
        return HookIsolationError(self.plugin, self.hook, self.where, (
            f"ended the runner's transaction (its savepoint is gone: {why}); a hook must not commit, roll back or "
            "close the connection"))


@dataclass
class Use:
    """One implementation's turn: its owner; once it used the connection, its savepoint and the session's
    role just before (see :func:`role`; an implementation that sends nothing cannot change the role)."""

    owner: Owner
    savepoint: str | None = None
    role_before: tuple[str | None, str | None] | None = None


_chains: weakref.WeakKeyDictionary[Any, SavepointChain] = weakref.WeakKeyDictionary()


def chain_of(conn: psycopg.Connection[Any]) -> SavepointChain:
    """The savepoint chain of ``conn`` (one per connection, shared by the hook facade and the commit guard)."""
    chain = _chains.get(conn)
    if chain is None:
        chain = _chains[conn] = SavepointChain(conn)
    return chain


class SavepointChain:
    """The hook savepoints of one connection (see the module docstring).

    :param conn: the runner's connection (autocommit mode, the runner's transaction open).
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        #: an open savepoint under which nothing ran: the next implementation to query takes it
        self._clean: str | None = None
        #: a savepoint an implementation used and kept: released with the next statement
        self._kept: tuple[str, Owner] | None = None
        #: a commit guard sends the first SAVEPOINT and the last RELEASE (see opening/closing)
        self.carried = False
        #: the RELEASE of a kept savepoint failed while the next implementation ran: its owner's fault
        self._broken: HookIsolationError | None = None
        #: the commit guard's arming statement, sent with the first SAVEPOINT (see defer_arm)
        self._arm: str | None = None
        #: whether that arming statement was sent
        self.armed = False
        #: statements that open the runner's transaction (a deferred ``BEGIN``), sent first with the first
        #: ``SAVEPOINT`` a hook needs (see defer_arm); ``None`` when the transaction is open already
        self._lead: Callable[[], str | None] | None = None

    # ------------------------------------------------------------ with the commit guard

    def defer_arm(self, statement: str, lead: Callable[[], str | None] | None = None) -> None:
        """Send ``statement`` (the commit guard's arming) with the first ``SAVEPOINT`` a hook needs, and
        release the last savepoint with the guard's disarming (see :meth:`closing`).

        :param lead: when the runner's ``BEGIN`` has not been sent yet (it waits to ride with the migration's
            first message): returns the statements that open the transaction, sent first in that message; until
            then hooks count as inside the transaction (:attr:`pending`), and one that runs no query sends nothing.
        """
        self.carried = True
        self._arm = statement
        self.armed = False
        self._lead = lead

    @property
    def pending(self) -> bool:
        """The runner's transaction is still to be opened with the first statement a hook sends."""
        return self._lead is not None

    def closing(self) -> tuple[str, Owner | None]:
        """The ``RELEASE`` to send with the guard's disarming statement (``""`` for none), and whose it is;
        :attr:`armed` says whether the arming statement was sent at all (if not, nothing is to be undone)."""
        self.carried = False
        self._arm = self._lead = None
        return self._take_release()

    def forget(self) -> None:
        """The transaction was (or is about to be) rolled back: no savepoint is open any more."""
        self._clean = self._kept = self._broken = self._arm = self._lead = None
        self.carried = self.armed = False

    def release_failed(self, owner: Owner | None, exc: Exception) -> HookIsolationError | None:
        """The isolation error for a failed message that released ``owner``'s savepoint, when that
        RELEASE is what failed (SQLSTATE 3B001); else ``None``."""
        if owner is None or getattr(exc, "sqlstate", None) != _SAVEPOINT_GONE:
            return None
        diag = getattr(exc, "diag", None)
        return owner.gone(((diag.message_primary if diag else None) or str(exc)).strip())

    # ------------------------------------------------------------ one implementation

    def begin(self, owner: Owner) -> Use:
        """Before an implementation runs: intercept the connection's next ``wait()``."""
        use = Use(owner)
        conn = self.conn
        wait = type(conn).wait.__get__(conn)

        def first_wait(gen: Any, *args: Any, **kwargs: Any) -> Any:
            vars(conn).pop("wait", None)  # once
            use.role_before = role(conn)
            self._take(use, wait)
            return wait(gen, *args, **kwargs)

        vars(conn)["wait"] = first_wait
        return use

    def end(self, use: Use) -> None:
        """After the implementation returned or raised: stop intercepting.

        :raises HookIsolationError: releasing the previous implementation's savepoint failed
            (that implementation ended the transaction); it is that one's failure.
        """
        vars(self.conn).pop("wait", None)
        if self._broken is not None:
            broken, self._broken = self._broken, None
            raise broken

    def kept(self, use: Use) -> None:
        """The implementation succeeded: its savepoint (if it took one) is released with the next statement."""
        if use.savepoint is not None:
            self._kept = (use.savepoint, use.owner)

    def roll_back(self, use: Use) -> None:
        """The implementation failed: ``ROLLBACK TO`` its savepoint (which stays open, clean, for the next).

        :raises HookIsolationError: the savepoint is gone (the implementation ended the transaction).
        """
        if use.savepoint is None:
            return
        self._send_now(f"ROLLBACK TO SAVEPOINT {use.savepoint}", use.owner)
        self._clean = use.savepoint

    def flush(self) -> None:
        """At the end of a hook call that no guard carries: release what is open (one round trip, if any).

        :raises HookIsolationError: the savepoint is gone.
        """
        if self.carried:
            return
        stmt, owner = self._take_release()
        if stmt:
            self._send_now(stmt, owner)

    # ------------------------------------------------------------ machinery

    def _take_release(self) -> tuple[str, Owner | None]:
        if self._kept is not None:
            (sp, owner), self._kept = self._kept, None
            if self._clean is not None:  # cannot both be set; release the clean one too for safety
                sp, self._clean = f"{sp}; RELEASE SAVEPOINT {self._clean}", None
            return f"RELEASE SAVEPOINT {sp}", owner
        if self._clean is not None:
            sp, self._clean = self._clean, None
            return f"RELEASE SAVEPOINT {sp}", None
        return "", None

    def _take(self, use: Use, wait: Callable[..., Any]) -> None:
        """The implementation's first operation is about to be sent: give it a savepoint first."""
        if self._clean is not None:  # opened with the guard, or rolled back to: nothing ran under it
            use.savepoint, self._clean = self._clean, None
            return
        sp = f"confiture_hook_{next(_counter)}"
        stmt = f"SAVEPOINT {sp}"
        owner = None
        if self._kept is not None:
            (prev, owner), self._kept = self._kept, None
            stmt = f"RELEASE SAVEPOINT {prev}; {stmt}"
        if self._arm is not None:
            stmt, self._arm, self.armed = f"{self._arm}; {stmt}", None, True
        if self._lead is not None:
            lead, self._lead = self._lead(), None
            if lead:
                stmt = f"{lead}; {stmt}"
        from psycopg import errors, generators, pq

        pgconn = self.conn.pgconn
        pgconn.send_query(stmt.encode())
        for res in wait(generators.execute(pgconn)):
            if res.status == pq.ExecStatus.FATAL_ERROR:
                exc = errors.error_from_result(res, encoding=self.conn.info.encoding)
                broken = self.release_failed(owner, exc)
                if broken is not None:
                    self._broken = broken
                    raise broken
                raise exc
        use.savepoint = sp

    def _send_now(self, stmt: str, owner: Owner | None) -> None:
        import psycopg

        try:
            self.conn.execute(stmt)
        except psycopg.Error as exc:
            broken = self.release_failed(owner, exc) if owner is not None else None
            if broken is None and owner is not None:
                broken = owner.gone((exc.diag.message_primary or str(exc)).strip())
            if broken is not None:
                raise broken from exc
            raise


# ---------------------------------------------------------------- state checks


def role(conn: psycopg.Connection[Any]) -> tuple[str | None, str | None]:
    """What the server reports of the session's role (no round trip): a ``SET ROLE`` from a
    superuser to another role changes ``is_superuser``; ``SET SESSION AUTHORIZATION``
    changes ``session_authorization``."""
    info = conn.info
    return info.parameter_status("is_superuser"), info.parameter_status("session_authorization")


#: libpq's PQTRANS_INTRANS and PQTRANS_INERROR (psycopg's ``pq.TransactionStatus``), compared with
#: ``pgconn.transaction_status`` directly: this is asked twice per hook implementation
_INTRANS, _INERROR = 2, 3


def in_transaction(conn: psycopg.Connection[Any]) -> bool:
    """Whether ``conn`` is open, idle in a transaction block (libpq's status; no round trip), or about to be:
    the runner's ``BEGIN`` waits to go with the first statement a hook sends (:attr:`SavepointChain.pending`)."""
    return not conn.closed and (conn.pgconn.transaction_status == _INTRANS or _begin_waits(conn))


def _begin_waits(conn: psycopg.Connection[Any]) -> bool:
    chain = _chains.get(conn)
    return chain is not None and chain.pending


def check_alive(conn: psycopg.Connection[Any], owner: Owner, before: tuple[str | None, str | None] | None) -> None:
    """After an implementation returned: the connection is open, in the transaction, with its role.

    :param before: :func:`role` before the implementation first used the connection (``None``: it did
        not, so the role is not checked).
    :raises HookIsolationError: it closed the connection, ended or aborted the transaction, or left a role set.
    """
    fail = HookIsolationError
    if conn.closed:
        raise fail(owner.plugin, owner.hook, owner.where,
                   "closed the connection; a hook must not close the runner's connection")
    status = conn.pgconn.transaction_status
    if before is None and (status == _INTRANS or _begin_waits(conn)):
        return  # it sent nothing (the runner's BEGIN, if it waits, still waits)
    if status == _INERROR:
        raise fail(owner.plugin, owner.hook, owner.where, (
            "left the transaction in an error state (it swallowed a database error without rolling back "
            "to a savepoint)"))
    if status != _INTRANS:
        raise fail(owner.plugin, owner.hook, owner.where, (
            "ended the runner's transaction (COMMIT or ROLLBACK); a hook must not commit, roll back or "
            "close the connection — use a savepoint (with conn.transaction()) instead"))
    if before is not None and role(conn) != before:
        raise fail(owner.plugin, owner.hook, owner.where, (
            "changed the session's role (SET ROLE or SET SESSION AUTHORIZATION) and left it changed, so the "
            "runner's own statements would run without its privileges; a hook must RESET ROLE before it "
            "returns"))


def check_alive_after_error(conn: psycopg.Connection[Any], owner: Owner, error: BaseException) -> None:
    """After an implementation raised: the connection is open and the transaction not ended.

    :raises HookIsolationError: it closed the connection or ended the transaction before failing.
    """
    why = (describe_error(error).strip().splitlines() or [type(error).__name__])[0]
    if conn.closed:
        raise HookIsolationError(owner.plugin, owner.hook, owner.where, f"closed the connection ({why})")
    from psycopg import pq

    status = conn.info.transaction_status
    if status not in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR) and not _begin_waits(conn):
        raise HookIsolationError(owner.plugin, owner.hook, owner.where,
                                 f"ended the runner's transaction (COMMIT or ROLLBACK) before failing ({why})")
