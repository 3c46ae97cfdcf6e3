"""The runner's session: the commit guard, the reset between migrations, the timeouts.

Commit guard. While plugin hooks or a Python migration run inside one of the
runner's transactions, a row sits in a temporary table whose deferred constraint
trigger raises at COMMIT: code that sends ``COMMIT`` therefore fails and rolls
everything back instead of committing half a migration. The runner's own commit
lets it through with :data:`COMMIT_OK` in the same round trip.

Session state. Between migrations the session is reset (``RESET ALL``, ``SET
SESSION AUTHORIZATION DEFAULT``, ``DEALLOCATE ALL``, ``CLOSE ALL``, ``UNLISTEN
*``, ``DISCARD PLANS``, ``DISCARD SEQUENCES``) and the configured
``lock_timeout`` / ``statement_timeout`` are set again, so a migration's
``SET search_path`` never leaks into the next. ``DISCARD ALL`` is not used: it
would also release the runners' advisory lock.

Riders. Statements that need no result of their own (the reset between
migrations, an applied migration's tracking row) are not sent on their own: they
ride in the same message as the runner's next ``BEGIN`` or ``COMMIT`` (see
:class:`Riders`), which saves two round trips per migration. PostgreSQL runs the
statements of one simple-protocol message in order, and a ``BEGIN`` among them
turns the implicit transaction of those before it into the explicit one
(PostgreSQL docs, "Frontend/Backend Protocol: Multiple Statements in a Simple
Query"), so a reset sent with ``BEGIN`` is part of the migration's transaction.
A SQL migration without hooks in its transaction defers its ``BEGIN`` itself: the
reset and the ``BEGIN`` then lead the body's first message (:meth:`Riders.lead`),
and the body's last message is held (:meth:`Riders.hold`) to go with the tracking
row and the ``COMMIT``: one message for a migration of up to 100 statements. An
error in a message skips the rest of it (the same docs page): nothing after the
failed statement runs, and the transaction is rolled back.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq, sql

from ..config import Config
from ..errors import MigrationFailed
from ..isolation import chain_of

Conn = psycopg.Connection[Any]

#: sent with the runner's own COMMIT: lets it through the commit guard
COMMIT_OK = "SELECT set_config('confiture.commit_ok', 'on', true)"

#: hooks that run inside a transaction of the runner, under the commit guard
GUARDED_HOOKS = ("validate", "before_migrate", "after_migrate", "before_migration", "after_migration", "backfill")

_GUARD_SQL = """
SET client_min_messages = warning;
CREATE TEMP TABLE IF NOT EXISTS confiture_commit_guard (id int);
CREATE OR REPLACE FUNCTION pg_temp.confiture_commit_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_temp.confiture_commit_guard WHERE id = NEW.id)
     AND current_setting('confiture.commit_ok', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'confiture: a plugin hook or Python migration issued COMMIT inside a migration; %',
      'refused and rolled back'
      USING HINT = 'hooks and transactional Python migrations must not commit, roll back or '
                   'close the runner''s connection';
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS confiture_commit_guard ON pg_temp.confiture_commit_guard;
CREATE CONSTRAINT TRIGGER confiture_commit_guard AFTER INSERT ON pg_temp.confiture_commit_guard
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.confiture_commit_guard();
RESET client_min_messages;
"""


class CommitGuard:
    """Makes a COMMIT sent by code the runner calls fail (see the module docstring).

    :param conn: the runner's connection.
    """

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.ready = False

    def prepare(self) -> None:
        """Create the guard's session objects (a temp table, its function and deferred trigger)
        once, in autocommit, so they outlive any rolled-back migration; a no-op when already
        done or inside a transaction."""
        if self.ready or self.conn.info.transaction_status != pq.TransactionStatus.IDLE:
            return
        self.conn.execute(_GUARD_SQL)
        self.ready = True

    @contextmanager
    def armed(self, hooks: bool = False) -> Iterator[None]:
        """Arm the guard while the block runs in the current transaction (a no-op outside one).

        :param hooks: the block calls plugin hooks: the guard is armed in the message of the first
            hook savepoint (only if a hook sends anything), and the last savepoint is released in
            the disarming message (see :mod:`confiture_core.isolation`), so that hooks cost no
            round trip of their own.
        :raises MigrationFailed: the block left a role set that cannot disarm it (SET ROLE
            without RESET ROLE).
        :raises HookIsolationError: a hook's savepoint is gone (it ended the transaction).
        """
        riders = riders_of(self.conn)
        waiting = hooks and riders.begin_waits()  # the BEGIN rides with the first SAVEPOINT a hook needs
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS and not waiting:
            yield
            return
        chain = chain_of(self.conn)
        arm = "INSERT INTO pg_temp.confiture_commit_guard VALUES (1)"
        if not self.ready:
            # created inside this transaction: not marked ready, since a rollback
            # of the transaction drops it again (prepare() avoids this cost)
            arm = f"{_GUARD_SQL}; {arm}"
        if hooks:
            chain.defer_arm(arm, riders.take_begin if waiting else None)  # with a hook's first statement, if any
        else:
            self.conn.execute(arm)
        try:
            yield
        except BaseException:
            chain.forget()  # the runner rolls the transaction back
            raise
        if self.conn.info.transaction_status != pq.TransactionStatus.INTRANS:
            chain.forget()
            return
        release, owner = chain.closing()
        if hooks and not chain.armed:
            return  # no hook sent anything: the guard was never armed, no savepoint was taken
        disarm = "DELETE FROM pg_temp.confiture_commit_guard"
        try:
            self.conn.execute(f"{release}; {disarm}" if release else disarm)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise MigrationFailed(
                "the runner lost its login role's privileges while plugin hooks or a Python migration ran "
                f"({exc.diag.message_primary or exc}): one of them ran SET ROLE and left it set; it must "
                "RESET ROLE before returning") from exc
        except psycopg.Error as exc:
            gone = chain.release_failed(owner, exc)
            if gone is not None:
                raise gone from exc
            raise


class Riders:
    """Statements waiting to ride with the runner's next ``BEGIN`` or ``COMMIT`` on one connection.

    Two kinds: SQL text (no parameters: the session reset, an applied migration's tracking row with its
    values as literals), joined into the next simple-protocol message; and calls that send statements with
    parameters, sent with the ``COMMIT`` in one pipeline (psycopg's pipeline mode: one round trip for all of
    them, PostgreSQL docs "Pipeline Mode").

    :param conn: the runner's connection.
    """

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._texts: list[str] = []
        self._calls: list[Callable[[], None]] = []
        #: a body's last message, held to be sent with the riders and the COMMIT as its tail (see :meth:`hold`)
        self._held: Callable[[list[str]], None] | None = None

    def add(self, statement: str) -> None:
        """Send ``statement`` (SQL text, no parameters) with the next message that takes riders."""
        self._texts.append(statement)

    def add_call(self, call: Callable[[], None]) -> None:
        """Run ``call`` (it sends statements on the connection) in the pipeline of the next ``COMMIT``."""
        self._calls.append(call)

    def texts(self) -> list[str]:
        """The waiting text riders (a copy)."""
        return list(self._texts)

    def take(self, statement: str) -> str:
        """``statement`` preceded by every waiting text rider, in one string for one simple-protocol message
        (the calls wait for :meth:`commit`)."""
        if not self._texts:
            return statement
        text = "; ".join([*self._texts, statement])
        self._texts.clear()
        return text

    def hold(self, send: Callable[[list[str]], None]) -> None:
        """Hold a body's last message: ``send(tail)`` sends it followed by the statements ``tail`` (each one
        statement), with the next :meth:`commit` (one round trip for the body's end, the tracking row and
        the ``COMMIT``), or with :meth:`flush`."""
        self._held = send

    def commit(self, *statements: str) -> None:
        """Send the held body message (see :meth:`hold`), the waiting riders and ``statements`` (each one
        statement) in one round trip.

        :raises psycopg.Error: the first statement that failed; those after it did not run.
        :raises MigrationFailed: a statement of the held body message failed (its file and line named).
        """
        if self._held is not None and not self._calls:
            held, self._held = self._held, None
            tail = [*self._texts, *statements]
            self._texts.clear()
            held(tail)
            return
        self._send_held()
        calls, self._calls = self._calls, []
        if not calls:
            self.conn.execute(self.take("; ".join(statements)))
            return
        from psycopg import capabilities

        if not capabilities.has_pipeline():
            for call in calls:
                call()
            self.conn.execute(self.take("; ".join(statements)))
            return
        self.flush()
        try:
            with self.conn.pipeline():
                for call in calls:
                    call()
                for st in statements:
                    self.conn.execute(st)
        except KeyboardInterrupt:
            # a pipeline cut mid-way leaves the connection busy in pipeline mode, where nothing else can be
            # sent: close it (the server rolls the open transaction back and frees the advisory lock)
            self.conn.close()
            raise

    def begin_waits(self) -> bool:
        """Whether a deferred ``BEGIN`` waits (see :meth:`~.transactions.CommitEach.unit`): the transaction is
        not open yet."""
        return bool(self._texts) and self._texts[-1] == "BEGIN"

    def take_begin(self) -> str | None:
        """The waiting text riders, taken, when they end with a deferred ``BEGIN`` (sent by the caller, in a
        message of its own making: a hook's first ``SAVEPOINT``); else ``None``, and nothing is sent."""
        if not self.begin_waits():
            return None
        text = "; ".join(self._texts)
        self._texts.clear()
        return text

    def lead(self) -> str | None:
        """The waiting text riders, taken, when the last one is a deferred ``BEGIN`` (see
        :meth:`~.transactions.CommitEach.unit`): they lead the next message, in which the results up to
        ``BEGIN``'s are theirs. Other waiting riders are sent now, on their own; ``None`` then, as when none
        wait."""
        text = self.take_begin()
        if text is None:
            self.flush()
        return text

    def _send_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held([])

    def flush(self) -> None:
        """Send the held body message and the waiting text riders now, on their own (before work that must
        see them: autocommit statements, the advisory lock's release)."""
        self._send_held()
        if self._texts and not self.conn.closed:
            text = "; ".join(self._texts)
            self._texts.clear()
            self.conn.execute(text)

    def drop(self) -> None:
        """Forget the waiting riders (their transaction was rolled back)."""
        self._texts.clear()
        self._calls.clear()
        self._held = None


_riders: weakref.WeakKeyDictionary[Any, Riders] = weakref.WeakKeyDictionary()


def riders_of(conn: Conn) -> Riders:
    """The riders of ``conn`` (one queue per connection, shared by the session, the recorder and the policy)."""
    found = _riders.get(conn)
    if found is None:
        found = _riders[conn] = Riders(conn)
    return found


class Session:
    """Session settings of the runner's connection: timeouts, and the reset between migrations.

    :param conn: the runner's connection.
    :param config: gives ``lock_timeout`` and ``statement_timeout``.
    """

    def __init__(self, conn: Conn, config: Config) -> None:
        self.conn = conn
        self.config = config
        self._reset: str | None = None

    def reset(self) -> None:
        """Reset session state a migration may have changed, keeping the advisory lock.

        One round trip: the resets and :meth:`apply_timeouts`' settings in one string.
        """
        self.conn.execute(self._reset_statement())

    def reset_later(self) -> None:
        """:meth:`reset`, sent with the runner's next ``BEGIN`` (see :class:`Riders`): no round trip of its own."""
        riders_of(self.conn).add(self._reset_statement())

    def _reset_statement(self) -> str:
        """The reset and the timeouts as one string (composed once: the same before every migration)."""
        if self._reset is None:
            self._reset = self._compose_reset()
        return self._reset

    def _compose_reset(self) -> str:
        return sql.SQL("; ").join([
            sql.SQL("RESET ALL; SET SESSION AUTHORIZATION DEFAULT; DEALLOCATE ALL; CLOSE ALL; UNLISTEN *; "
                    "DISCARD PLANS; DISCARD SEQUENCES"),
            *self._timeout_statements(),
        ]).as_string(self.conn)

    def apply_timeouts(self) -> None:
        """SET the configured ``lock_timeout`` and ``statement_timeout`` for this session.

        Also sets ``client_connection_check_interval`` to 1 s (PostgreSQL 14 and
        later): when the runner is killed mid-statement, its backend notices the
        lost client within a second and rolls back, releasing the advisory lock,
        instead of running on to the end of a long statement.
        """
        statements = self._timeout_statements()
        if statements:
            self.conn.execute(sql.SQL("; ").join(statements))

    def _timeout_statements(self) -> list[sql.Composable]:
        settings: list[tuple[str, str | None]] = [("lock_timeout", self.config.lock_timeout),
                                                  ("statement_timeout", self.config.statement_timeout)]
        if self.conn.info.server_version >= 140000:
            settings.append(("client_connection_check_interval", "1s"))
        return [sql.SQL("SELECT set_config({}, {}, false)").format(sql.Literal(name), sql.Literal(str(value)))
                for name, value in settings if value is not None]
