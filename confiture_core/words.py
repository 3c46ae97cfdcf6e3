"""Counted nouns in messages: "1 migration", "2 migrations", "no migration"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` in the singular for 1, else in the plural (``noun + "s"`` unless given).

    :param n: how many (0 reads "0 migrations"; :func:`count_or_none` reads "no migration").
    :param noun: the singular, e.g. ``"migration"``.
    :param plural: the plural when it is not ``noun + "s"``.
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def count_or_none(n: int, noun: str, plural: str | None = None) -> str:
    """:func:`count`, but ``"no NOUN"`` for 0 ("no migration reverted" reads better than "0 migrations")."""
    return f"no {noun}" if n == 0 else count(n, noun, plural)
