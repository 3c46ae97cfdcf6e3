"""What a hook may return: ``confiture_validate``'s findings and ``confiture_backfill``'s backfills, checked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .hookspecs import LEVELS, Backfill, Finding


def checked(call: Callable[[], Any], check: Callable[[Any], Any]) -> Any:
    """``call()``, its value passed through ``check`` unless it is ``None``.

    :raises TypeError: (from ``check``) the value has the wrong type.
    :raises ValueError: (from ``check``) the value is of the right type but wrong.
    """
    value = call()
    return None if value is None else check(value)


def _iterable(value: Any, expected: str) -> list[Any]:
    """``value`` as a list when it is a plain iterable (not a string, bytes or mapping), else ``TypeError``."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"returned {type(value).__name__}, expected {expected}")
    return list(value)


def findings(value: Any) -> list[Finding]:
    """A ``confiture_validate`` return value, checked: an iterable of :class:`Finding` with known levels.

    :raises TypeError: not an iterable of :class:`Finding`.
    :raises ValueError: a finding's level is not one of :data:`~confiture_core.hookspecs.LEVELS`.
    """
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


def backfills(value: Any) -> list[Backfill]:
    """A ``confiture_backfill`` return value, checked: Backfills with unique names.

    :raises TypeError: not a :class:`Backfill` or an iterable of them, or a field of the wrong type.
    :raises ValueError: two backfills share a name.
    """
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
