"""The parsers of the ``[dry_run]`` settings (sample, where, max_table_size, shadow_url), used when the
configuration is loaded and by the dry run that reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ConfigError

DEFAULT_SAMPLE = "1%"
DEFAULT_MAX_TABLE_SIZE = "1GB"
WHERE = ("auto", "shadow", "target")

_SPEC_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


class _Counted(Protocol):
    """A table whose row count is known (``rows``: ``pg_class.reltuples``, an estimate)."""

    @property
    def rows(self) -> float: ...


@dataclass(frozen=True)
class SampleSpec:
    """``[dry_run] sample``: a percentage of each table's rows (``percent``) or a number of rows per table."""

    percent: float | None = None
    rows: int | None = None

    def fraction_of(self, table: _Counted) -> float:
        """The fraction (0..1] of ``table``'s rows to copy."""
        if self.percent is not None:
            return self.percent / 100
        if table.rows <= 0:
            return 1.0
        return min(1.0, (self.rows or 0) / table.rows)


def parse_sample(value: Any, where: str) -> SampleSpec:
    """``"1%"`` (a percentage, more than 0 and at most 100) or a number of rows per table (``10000``).

    :raises ConfigError: anything else, naming ``where``.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return SampleSpec(rows=value)
    if isinstance(value, str):
        m = _SPEC_RE.match(value)
        if m and 0 < float(m.group(1)) <= 100:
            return SampleSpec(percent=float(m.group(1)))
        if value.strip().isdigit() and int(value) > 0:
            return SampleSpec(rows=int(value))
    raise ConfigError(f"{where} = {value!r}; expected a percentage such as \"1%\" or a number of rows such as 10000")


def parse_size(value: Any, where: str) -> int:
    """Bytes in a size such as ``"1GB"`` or ``"500MB"`` (units B, kB, MB, GB, TB of 1024, as PostgreSQL's
    ``pg_size_pretty``; a bare number counts bytes).

    :raises ConfigError: not a size, naming ``where``.
    """
    m = _SIZE_RE.match(str(value)) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if m is None:
        raise ConfigError(f"{where} = {value!r}; expected a size such as \"1GB\" or \"500MB\"")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "B").lower()])


def parse_where(value: Any, where: str) -> str:
    """``"auto"``, ``"shadow"`` or ``"target"``: where a dry run measures.

    :raises ConfigError: anything else, naming ``where``.
    """
    if value not in WHERE:
        raise ConfigError(f"{where} = {value!r}; expected \"auto\", \"shadow\" or \"target\"")
    return str(value)


def check_shadow_url(value: Any, where: str) -> str | None:
    """A shadow server's database URL (a non-empty string), or ``None`` when not set.

    :raises ConfigError: anything else, naming ``where``.
    """
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{where} must be a database URL (a string)")
    return value


def check_dry_run_section(path: object, section: dict[str, Any]) -> None:
    """Check ``[dry_run]``'s ``sample``, ``where``, ``max_table_size`` and ``shadow_url`` when the
    configuration is loaded (a typo is found by any command, not by the first dry run).

    :param path: the configuration file, for messages.
    :raises ConfigError: naming the file and the setting.
    """
    checks = {"sample": parse_sample, "where": parse_where, "max_table_size": parse_size,
              "shadow_url": check_shadow_url}
    for key, check in checks.items():
        if key in section:
            check(section[key], f"{path}: [dry_run] {key}")
