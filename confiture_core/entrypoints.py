"""The entry points of one group, read from the installed distributions without importing ``importlib.metadata``.

Importing :mod:`importlib.metadata` (email, zipfile, csv, tempfile, socket...) and letting it scan
every distribution costs a command more than the rest of a small ``confiture lint`` run's start-up.
The facts read here are those it reads, per the PyPA specifications "Recording installed projects"
(a ``<name>-<version>.dist-info`` folder per distribution, its ``METADATA`` headers ``Name`` and
``Version``) and "Entry points" (``entry_points.txt``, an INI file read with :mod:`configparser`:
one section per group, ``name = module:attr [extras]``), in the same order: each ``sys.path``
entry in turn, its ``*.dist-info`` folders then its ``*.egg-info`` ones, a distribution found
again later on the path ignored. Where something else could provide distributions (a zip file on
the path, a meta-path finder of its own), :func:`entry_points` answers ``None`` and the caller
asks :mod:`importlib.metadata`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_NORMALISE = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class Distribution:
    """An installed distribution: its ``Name`` and ``Version`` (``METADATA`` or ``PKG-INFO`` headers)."""

    name: str
    version: str

    @property
    def metadata(self) -> dict[str, str]:
        """``{"Name": ..., "Version": ...}``, as :attr:`importlib.metadata.Distribution.metadata` gives them."""
        return {"Name": self.name, "Version": self.version}


@dataclass(frozen=True)
class EntryPoint:
    """One entry point (``name = value`` in the ``group`` section), as :class:`importlib.metadata.EntryPoint`."""

    name: str
    value: str
    group: str
    dist: Distribution | None = field(default=None, compare=False)

    def load(self) -> Any:
        """Import the module of :attr:`value` and return it, or the attribute it names (``module:attr``).

        :raises ImportError: the module cannot be imported. :raises AttributeError: the attribute is missing.
        """
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in attr.split("[", 1)[0].strip().split(".") if attr.strip() else ():
            obj = getattr(obj, part)
        return obj


def _path_finders_only() -> bool:
    """Whether only the standard path finder provides distributions (the only source read here)."""
    import importlib.machinery

    return not any(hasattr(f, "find_distributions") and f is not importlib.machinery.PathFinder
                   for f in sys.meta_path)


def _headers(folder: str, names: Sequence[str]) -> Distribution | None:
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
                found: dict[str, str] = {}
                for line in f:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version") and key not in found:
                        found[key] = value.strip()
                if "Name" in found:
                    return Distribution(found["Name"], found.get("Version", ""))
        except OSError:
            continue
    return None


def entry_points(group: str, path: Sequence[str] | None = None) -> list[EntryPoint] | None:
    """The entry points of ``group`` of every distribution installed on ``path`` (default ``sys.path``).

    :returns: the entry points, the first distribution of a name winning as with
        :func:`importlib.metadata.entry_points`; ``None`` when a source this module does not read
        could provide distributions (a zip file on the path, another meta-path finder).
    """
    import configparser

    if not _path_finders_only():
        return None
    seen: set[str] = set()
    out: list[EntryPoint] = []
    for entry in sys.path if path is None else path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            return None  # a zip file (an egg, python3XX.zip that exists): importlib.metadata reads those
        except OSError:
            continue
        for suffix in (".dist-info", ".egg-info"):
            for child in children:
                if not child.lower().endswith(suffix):
                    continue
                # the name as importlib.metadata tells distributions apart: the folder's, normalised
                key = _NORMALISE.sub("_", child[:-len(suffix)].split("-", 1)[0]).lower()
                if key in seen:
                    continue
                seen.add(key)
                folder = os.path.join(root, child)
                try:
                    with open(os.path.join(folder, "entry_points.txt"), encoding="utf-8") as f:
                        text = f.read()
                except (OSError, UnicodeDecodeError):
                    continue
                if f"[{group}]" not in text:
                    continue
                parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
                parser.optionxform = str  # type: ignore[assignment,method-assign]  # names keep their case
                try:
                    parser.read_string(text)
                except configparser.Error:
                    continue  # importlib.metadata would fail on it too; the distribution brings none here
                if parser.has_section(group):
                    dist = _headers(folder, ("METADATA", "PKG-INFO") if suffix == ".dist-info" else ("PKG-INFO",))
                    out += [EntryPoint(k, v, group, dist) for k, v in parser.items(group)]
    return out
