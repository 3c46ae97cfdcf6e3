"""Rule selection: which lint rules a run uses (``--select``/``--ignore``), and validation of rule classes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import ConfigError
from .codes import CODE_RE, META_CODES
from .rule import LintRule

#: Groups enabled when neither ``--select`` nor ``[lint] select`` is given.
DEFAULT_GROUPS = ("safety",)


class SelectionError(ConfigError):
    """A ``--select``/``--ignore`` item names no rule, group or code (exit 2)."""


def _names(rule: type[LintRule], item: str) -> bool:
    """Whether ``item`` names ``rule`` itself: its code or its dotted name."""
    return item == rule.name or bool(CODE_RE.fullmatch(item.upper()) and item.upper() == rule.code)


def _matches(rule: type[LintRule], item: str) -> bool:
    if item.upper() == "ALL":
        return True
    if item in rule.groups or _names(rule, item):
        return True
    up = item.upper()
    return len(up) >= 2 and up[0].isalpha() and rule.code.startswith(up) and up != rule.code and up[-1].isdigit()


def opt_in_by_name(available: Sequence[type[LintRule]]) -> set[type[LintRule]]:
    """The rules that only their code or dotted name selects: off by default in a group whose other
    rules are on by default (``safety.statement-timeout``, CF133, in ``safety``). Selecting such a
    group or a code prefix runs what running by default runs, no more; ``ALL`` still selects every
    rule. A pack whose rules are all off by default (``conventions``, ``tenancy``, ``cqrs``) is turned
    on by its group's name."""
    on_groups = {g for r in available if r.default_enabled for g in r.groups}
    return {r for r in available if not r.default_enabled and any(g in on_groups for g in r.groups)}


def split_items(values: Iterable[str] | str | None) -> list[str]:
    """Flatten ``--select a,b --select c`` (or a config list) into ``["a", "b", "c"]``."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


def check_items(available: Sequence[type[LintRule]], items: Iterable[str], source: str) -> None:
    """Check that each item of a selection names a rule, a group, a code prefix, an engine code or ``ALL``.

    :param source: where the items come from, for the message (``"--select/--ignore"``, or the configuration
        file and its setting).
    :raises SelectionError: the first item matching nothing, naming ``source`` and the known groups.
    """
    for item in items:
        if item.upper() in META_CODES or item.lower() == "core":
            continue
        if not any(_matches(r, item) for r in available):
            known_groups = sorted({g for r in available for g in r.groups})
            raise SelectionError(
                f"{source} {item!r} matches no rule; use a code like CF101, a group "
                f"({', '.join(known_groups)}), a dotted rule name, or ALL"
            )


def select_rules(
    available: Sequence[type[LintRule]],
    select: Sequence[str] | None,
    ignore: Sequence[str] = (),
) -> list[type[LintRule]]:
    """The rules to run.

    :param available: every known rule class.
    :param select: codes (``CF101``), code prefixes (``CF1``), groups (``safety``),
        dotted names (``safety.concurrent-index``) or ``ALL``; ``None`` or empty:
        the rules with ``default_enabled`` (the ``safety`` group for built-ins). A rule of
        :func:`opt_in_by_name` is selected only by its code, its name or ``ALL``.
    :param ignore: same forms; removed from the selection. Engine codes
        (``CF000``-``CF003``) are accepted and handled by :class:`~confiture_core.lint.engine.Linter`.
    :returns: the selected rule classes, sorted by code.
    :raises SelectionError: an item matching no rule, group, name or code.
    """
    check_items(available, [*(select or ()), *ignore], "--select/--ignore")
    if select:
        by_name = opt_in_by_name(available)
        chosen = [r for r in available
                  if any(_names(r, i) or (i.upper() == "ALL" if r in by_name else _matches(r, i)) for i in select)]
    else:
        chosen = [r for r in available if r.default_enabled]
    chosen = [r for r in chosen if not any(_matches(r, i) for i in ignore)]
    return sorted(set(chosen), key=lambda r: r.code)


def check_rule_classes(rules: Sequence[type[LintRule]]) -> list[type[LintRule]]:
    """Validate rule classes and reject duplicate codes or names.

    :raises ConfigError: a class that is not a :class:`LintRule` subclass, bad
        attributes, or two different classes with the same code or name.
    """
    seen_code: dict[str, type[LintRule]] = {}
    seen_name: dict[str, type[LintRule]] = {}
    out: list[type[LintRule]] = []
    for r in rules:
        if not (isinstance(r, type) and issubclass(r, LintRule)):
            raise ConfigError(f"lint rule {r!r} is not a LintRule subclass")
        try:
            r.validate_class()
        except TypeError as exc:
            raise ConfigError(str(exc)) from None
        if r.code in META_CODES:
            raise ConfigError(f"{r.__module__}.{r.__qualname__}: code {r.code} is reserved by the engine")
        for key, seen in ((r.code, seen_code), (r.name, seen_name)):
            other = seen.get(key)
            if other is not None and other is not r:
                raise ConfigError(
                    f"lint rules {other.__module__}.{other.__qualname__} and {r.__module__}.{r.__qualname__} "
                    f"both use {key!r}; rule codes and names must be unique"
                )
            seen[key] = r
        if r not in out:
            out.append(r)
    return out
