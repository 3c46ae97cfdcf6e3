"""How a file's path appears in messages: relative to the current folder when under it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def shown(path: Path | str | None) -> str:
    """``path`` as messages show it: relative to the current folder when under it (``.`` for the folder itself),
    else as given; ``-`` for ``None``. The folder is resolved, not the name, so a symbolic link is shown as listed
    (and a link loop cannot raise). Never raises: a path that cannot be resolved is shown as given."""
    if path is None:
        return "-"
    path = Path(path)
    try:
        cwd = os.getcwd()
        full = _resolved(cwd, str(path.parent)) / path.name if path.name else path.resolve()
        return str(full.relative_to(_resolved(cwd, cwd)))
    except (ValueError, OSError, RuntimeError):
        return str(path)


@lru_cache(maxsize=64)
def _resolved(cwd: str, folder: str) -> Path:
    """``folder`` resolved from ``cwd`` (once per pair: a run shows the files of one or two folders, once per
    migration parsed).

    :raises OSError, RuntimeError: as :meth:`Path.resolve`.
    """
    return (Path(cwd) / folder).resolve()
