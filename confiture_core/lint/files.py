"""The files a lint run covers: files given by name, and the ``*.sql`` files below folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError
from ..migrations import refuse_not_a_file


def check_exist(paths: Iterable[Path]) -> None:
    """Refuse the first path that does not exist, before anything else is done (no connection is made first).

    :raises ConfigError: ``<path>: no such file or folder``.
    """
    for p in paths:
        if not p.exists():
            raise _no_such(p)


def _no_such(p: Path) -> ConfigError:
    return ConfigError(f"{p}: no such file or folder")


def collect_files(paths: Iterable[Path], folders: list[str] | None = None, *, skip_down: bool = False,
                  skipped: list[Path] | None = None) -> list[Path]:
    """The files to lint: each file as given; every ``*.sql`` below each folder.

    Hidden files and folders (``.git``, ``.confiture``) are skipped. Order: as
    given, each folder's files sorted by path; duplicates removed.

    :param folders: when given, every folder walked is appended to it (the run
        memo stamps them: a file added to one changes its stamp).
    :param skip_down: leave out the ``*.down.sql`` files found below folders (a file
        given by name is kept); each one left out is appended to ``skipped``.
    :raises ConfigError: a path that does not exist, or a folder that cannot be read.
    :raises MigrationFileError: a ``*.sql`` entry that is not a file (a dangling or looping symbolic
        link, a FIFO): an error, as ``migrate`` makes it, not a lint that passes over it.
    """
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        if p.is_dir():
            found = _sql_below(str(p), folders)
            if skip_down:
                kept = [(f, real) for f, real in found if not f.endswith(".down.sql")]
                if skipped is not None and len(kept) < len(found):
                    skipped.extend(Path(f) for f, _ in found if f.endswith(".down.sql"))
                found = kept
        elif p.exists():
            found = [(str(p), None)]
        else:
            raise _no_such(p)
        for f, real in found:
            key = real or os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                out.append(Path(f))
    return out


def _sql_below(root: str, folders: list[str] | None = None) -> list[tuple[str, str | None]]:
    """``(path, real path or None)`` of every ``*.sql`` file below ``root``; ``path`` starts with ``root``.

    What ``sorted(Path(root).rglob("*.sql"))`` filtered by ``is_file()`` and
    non-hidden parts gives, in the same order (by path components), with
    ``os.scandir``: symlinked folders are not entered; a file that is not a
    symlink gets its real path from its folder's (``None``: resolve it).
    """
    found: list[tuple[tuple[str, ...], str, str | None]] = []

    def walk(folder: str, parts: tuple[str, ...], real: str | None) -> None:
        if folders is not None:
            folders.append(folder)
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:  # skipping it would lint nothing and pass
            raise ConfigError(f"{folder}: cannot read the folder: {exc.strerror}; fix its permissions or give "
                              "other PATHS") from None
        real_prefix = None if real is None else real if real.endswith(os.sep) else real + os.sep
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
                if is_dir and not e.is_symlink():
                    walk(e.path, (*parts, name), real_prefix + name if real_prefix else None)
                    continue
                if name.endswith(".sql") and not is_dir and e.is_file():
                    file_real = real_prefix + name if real_prefix and not e.is_symlink() else None
                    found.append(((*parts, name), e.path, file_real))
                elif name.endswith(".sql") and not e.is_file():
                    refuse_not_a_file(Path(e.path))  # a *.sql that is not a file: as migrate refuses it
            except OSError:  # a symbolic link loop, for one
                if name.endswith(".sql"):
                    refuse_not_a_file(Path(e.path))  # a *.sql that is not a file: as migrate refuses it
                continue

    walk(root, (), os.path.realpath(root))
    found.sort(key=lambda t: t[0])
    return [(path, real) for _, path, real in found]
