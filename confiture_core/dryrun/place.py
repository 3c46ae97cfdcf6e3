"""Where a dry run measures (a shadow database or the target) and the [dry_run] settings that decide it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..config import Config, check_duration
from ..dryrun_settings import (
    DEFAULT_MAX_TABLE_SIZE,
    DEFAULT_SAMPLE,
    SampleSpec,
    check_shadow_url,
    parse_sample,
    parse_size,
    parse_where,
)

#: overrides ``[dry_run] where`` (a CI job whose target is a throwaway database sets ``target``)
WHERE_ENV = "CONFITURE_DRY_RUN_WHERE"
DEFAULT_STATEMENT_TIMEOUT = "1min"


@dataclass(frozen=True)
class Place:
    """The dry run's place, from the command line (``None``: the configuration decides).

    :ivar where: ``auto``, ``shadow`` or ``target`` (``--shadow`` / ``--on-target``).
    :ivar shadow_url: ``--shadow-url``.
    :ivar allow_large: ``--allow-large-tables``: on the target, also run statements that rewrite or
        scan a table above ``[dry_run] max_table_size``.
    """

    where: str | None = None
    shadow_url: str | None = None
    allow_large: bool = False


def _setting(config: Config, key: str, default: Any) -> Any:
    return config.section("dry_run").get(key, default)


def _where_of(config: Config, env: dict[str, str]) -> str:
    value = env.get(WHERE_ENV) or _setting(config, "where", "auto")
    return parse_where(value, WHERE_ENV if env.get(WHERE_ENV) else f"{config.config_file}: [dry_run] where")


def on_shadow(config: Config, place: Place, target_is_dev_server: bool, env: dict[str, str] | None = None) -> bool:
    """Whether the dry run measures on a shadow database.

    ``--shadow``/``--on-target``, else :data:`WHERE_ENV`, else ``[dry_run] where``; ``auto`` (the
    default) means a shadow unless the target is the embedded development server.

    :raises ConfigError: an unknown value.
    """
    where = place.where or _where_of(config, dict(os.environ) if env is None else env)
    return where == "shadow" or (where == "auto" and not target_is_dev_server)


def on_dev_copy(config: Config, place: Place, target_is_dev_server: bool, env: dict[str, str] | None = None) -> bool:
    """Whether the dry run measures on a copy of the embedded development server's database
    (:func:`~.devcopy.dev_copy_dry_run`): ``auto`` (the default) on the development server; ``--on-target`` /
    ``where = "target"`` keep the rolled-back dry run on the database itself.

    :raises ConfigError: an unknown ``where``.
    """
    where = place.where or _where_of(config, dict(os.environ) if env is None else env)
    return where == "auto" and target_is_dev_server


def shadow_url(config: Config, place: Place) -> str | None:
    """``--shadow-url``, else ``[dry_run] shadow_url``, else ``None`` (the embedded server).

    :raises ConfigError: not a non-empty string.
    """
    return check_shadow_url(place.shadow_url or _setting(config, "shadow_url", None),
                            f"{config.config_file}: [dry_run] shadow_url")


def sample(config: Config) -> tuple[SampleSpec, str]:
    """``[dry_run] sample`` (default ``"1%"``) and its text. :raises ConfigError: not a percentage or row count."""
    value = _setting(config, "sample", DEFAULT_SAMPLE)
    return parse_sample(value, f"{config.config_file}: [dry_run] sample"), str(value)


def target_statement_timeout(config: Config) -> str:
    """``[dry_run] statement_timeout`` (default ``"1min"``): the bound of each statement of a dry run on the
    target. :raises ConfigError: not a duration."""
    return check_duration(_setting(config, "statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
                          f"{config.config_file}: [dry_run] statement_timeout")


def max_table_size(config: Config) -> int:
    """``[dry_run] max_table_size`` in bytes (default ``"1GB"``; units B, kB, MB, GB, TB of 1024).

    :raises ConfigError: not a size.
    """
    return parse_size(_setting(config, "max_table_size", DEFAULT_MAX_TABLE_SIZE),
                      f"{config.config_file}: [dry_run] max_table_size")
