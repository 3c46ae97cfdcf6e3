"""Entry points of one group, found without importing :mod:`importlib.metadata`.

``importlib.metadata`` costs ~20 ms to import (it pulls in ``email``, ``zipfile``,
``csv``...), a sizeable share of a short command such as ``confiture lint`` on an
unchanged tree. :func:`entry_points` reads the same files the same way for the
common case (every ``sys.path`` entry a folder or missing, the standard path
finder the only distribution finder) and returns ``None`` otherwise, so that
the caller falls back to ``importlib.metadata.entry_points(group=...)``.

The rules followed are those of ``importlib.metadata`` (CPython 3.11-3.13):
distributions are the ``*.dist-info``/``*.egg-info`` folders of each ``sys.path``
entry, grouped by normalised name in ``os.listdir`` order, the first of each
name winning; ``entry_points.txt`` is parsed like ``Sectioned``; the name and
version come from the ``Name``/``Version`` headers of ``METADATA`` (or ``PKG-INFO``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

_VALUE_RE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(folder: str, name: str) -> str | None:
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


@dataclass
class _Dist:
    """What callers read of ``EntryPoint.dist``: ``metadata["Name"]`` and ``version``."""

    folder: str
    _headers: dict[str, str] | None = field(default=None, repr=False)

    @property
    def metadata(self) -> dict[str, str | None]:
        if self._headers is None:
            text = _read(self.folder, "METADATA") or _read(self.folder, "PKG-INFO") or ""
            headers: dict[str, str] = {}
            for line in text.splitlines():
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and not line[0].isspace():
                    headers.setdefault(key.lower(), value.lstrip(" \t"))
            self._headers = headers
        return _Headers(self._headers)

    @property
    def version(self) -> str | None:
        return self.metadata["Version"]


class _Headers(dict[str, str | None]):
    def __getitem__(self, key: str) -> str | None:
        return self.get(key.lower())


@dataclass
class EntryPoint:
    """The parts of ``importlib.metadata.EntryPoint`` that Confiture uses."""

    name: str
    value: str
    group: str
    dist: _Dist

    def load(self) -> Any:
        """Import the module (and the attribute, if any) the entry point names."""
        match = _VALUE_RE.match(self.value)
        assert match is not None  # checked by entry_points()
        module = importlib.import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


def entry_points(group: str) -> list[EntryPoint] | None:
    """The entry points of ``group``, in ``importlib.metadata``'s order; ``None``: ask it instead."""
    finders = [f for f in sys.meta_path if getattr(f, "find_distributions", None) is not None]
    if finders != [importlib.machinery.PathFinder]:
        return None
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        root = entry or "."
        if not os.path.isdir(root):
            if os.path.exists(root):
                return None  # a zip file: leave it to importlib.metadata
            continue
        if os.path.basename(entry).lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(root)
        except OSError:
            continue
        infos: dict[str, list[str]] = {}
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                infos.setdefault(_normalize(low.rpartition(".")[0].partition("-")[0]), []).append(child)
        for children_of_name in infos.values():
            for child in children_of_name:
                stem, ext = os.path.splitext(child)
                name = _normalize(stem.partition("-")[0]) if ext in (".dist-info", ".egg-info") else None
                if name is None:
                    return None  # e.g. ".DIST-INFO": importlib.metadata reads the Name header
                if name in seen:
                    continue
                seen.add(name)
                folder = os.path.join(entry, child)
                text = _read(folder, "entry_points.txt")
                if not text:
                    continue
                dist = _Dist(folder)
                section: str | None = None
                for line in map(str.strip, text.splitlines()):
                    if not line or line.startswith("#"):
                        continue
                    if line.startswith("[") and line.endswith("]"):
                        section = line.strip("[]")
                        continue
                    if section is None:
                        continue
                    if "=" not in line:
                        return None  # importlib.metadata raises on such a line: let it
                    if section != group:
                        continue
                    key, value = (p.strip() for p in line.split("=", 1))
                    if not _VALUE_RE.match(value):
                        return None
                    found.append(EntryPoint(key, value, section, dist))
    return found
