"""Sequences after the rollback: put back with setval only when every value in between is provably ours."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import pq

from .catalog import SeqState, Snapshot, take_snapshot

Conn = psycopg.Connection[Any]


def prove_draws(conn: Conn, oids: list[int], known: dict[int, SeqState]) -> dict[int, set[int]]:
    """Which one-value advances our own session drew: sequence oid -> the values proven ours.

    A sequence that moved by exactly one value since we last read it (``known``: its state now) handed out
    exactly that value; if our session's ``currval`` is that value, we got it (a value is handed out once).
    ``currval`` fails when this session never drew from the sequence, so it is read in a DO block that
    catches the error, and the answer comes back through a transaction-local setting. Nothing is proven
    outside a transaction, nor when DO is refused (in a savepoint: the dry run's transaction lives on).

    :param conn: the runner's connection, in the dry run's transaction.
    :param oids: the sequences that moved by one value.
    """
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        return {}  # the answer travels in a transaction-local setting
    ids = ",".join(str(int(o)) for o in oids)
    try:
        conn.execute(
            "SAVEPOINT confiture_currval; "
            "DO $confiture$ DECLARE r text := ''; o oid; BEGIN "
            f"FOREACH o IN ARRAY '{{{ids}}}'::oid[] LOOP "
            "BEGIN r := r || o || '=' || currval(o::regclass) || ','; "
            "EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; "
            "PERFORM set_config('confiture.currval', r, true); END $confiture$; "
            "RELEASE SAVEPOINT confiture_currval")
        row = conn.execute("SELECT current_setting('confiture.currval', true)").fetchone()
    except psycopg.Error:
        try:
            conn.execute("ROLLBACK TO SAVEPOINT confiture_currval; RELEASE SAVEPOINT confiture_currval")
        except psycopg.Error:
            pass
        return {}
    out: dict[int, set[int]] = {}
    for item in str(row[0] if row else "").split(","):
        if "=" in item:
            o, v = item.split("=", 1)
            st = known.get(int(o))
            if st is not None and st.last_value == int(v):
                out.setdefault(int(o), set()).add(int(v))
    return out


def restore_sequences(conn: Conn, start: Snapshot, end: Snapshot, seen: dict[int, set[int | None]] | None = None,
                      proven: dict[int, set[int]] | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Put back, after the rollback, the sequences the dry run advanced, when that is provably safe.

    A rewind hands the values between the start state and the current one out a
    second time, so it is done only when every one of them was drawn by the dry
    run's own session (``proven``: values seen handed out one at a time while our
    ``currval`` was that value; see :func:`prove_draws`), and
    the sequence is still where the run left it. The check and the ``setval`` are
    one statement, under an EXCLUSIVE lock on the sequence (which makes other
    sessions' ``nextval`` wait) where the server allows ``LOCK`` on a sequence
    (PostgreSQL 18 does, 15 does not; NOWAIT: a sequence in use is left alone). A sequence
    the run moved backwards (``setval`` in a migration) to a value it saw is moved
    forward to its start state, which never repeats a value. Anything else is left
    advanced: a gap, which PostgreSQL allows, never a duplicate.

    :returns: (restored names, (name, reason) of the sequences left as they are).
    """
    restored: list[str] = []
    left: list[tuple[str, str]] = []
    now = take_snapshot(conn).sequences
    for oid in sorted(end.sequences):
        first = start.sequences.get(oid)
        cur = now.get(oid)
        if first is None or cur is None or cur.last_value == first.last_value:
            continue
        name = first.name
        if cur.last_value is None:
            left.append((name, "its state was reset during the run (is_called false); left as it is"))
            continue
        step = first.increment or 1
        ahead = (cur.last_value - first.next_value()) * (1 if step > 0 else -1)
        if ahead >= 0:
            count = ahead // abs(step) + 1
            mine = (proven or {}).get(oid, set())
            values = (first.next_value() + i * step for i in range(count))
            if count > len(mine) or not all(v in mine for v in values):
                left.append((name, f"advanced from {_seq_text(first.last_value)} to {cur.last_value}: not every "
                                   "value in between is provably the dry run's own (another session may have "
                                   "used the sequence, or one statement drew several values), so rewinding "
                                   "could hand a value out twice; left advanced (a gap)"))
                continue
        elif cur.last_value not in (seen or {}).get(oid, set()):
            left.append((name, f"moved back to {cur.last_value} by another session; left as it is"))
            continue
        why = _setval_if(conn, oid, cur.last_value, first)
        if why is None:
            restored.append(name)
        else:
            left.append((name, why))
    return restored, left


def _seq_text(value: int | None) -> str:
    return "never used" if value is None else str(value)


def _setval_if(conn: Conn, oid: int, expected: int, to: SeqState) -> str | None:
    """``setval`` the sequence back to ``to`` if it is still at ``expected``: ``None``, or why not."""
    value, called = (to.start, False) if to.last_value is None else (to.last_value, True)
    try:
        with conn.transaction():
            conn.execute(
                "DO $confiture$ BEGIN "
                f"EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE NOWAIT', {int(oid)}::oid::regclass); "
                "EXCEPTION WHEN wrong_object_type OR feature_not_supported THEN NULL; END $confiture$")
            row = conn.execute(
                "SELECT setval(%(o)s::oid::regclass, %(v)s, %(c)s) FROM (SELECT pg_sequence_last_value("
                "%(o)s::oid::regclass) AS cur OFFSET 0) x WHERE x.cur = %(e)s",
                {"o": oid, "v": value, "c": called, "e": expected}).fetchone()
    except psycopg.Error as exc:
        return f"could not be put back safely ({(exc.diag.message_primary or str(exc)).strip()}); left advanced"
    if row is None:
        return "used by another session after the dry run; left advanced"
    return None

