"""The lint result cache: per-file results on disk, keyed by the file and everything else that decides its findings.

Results are cached under ``<project>/.confiture/lint-cache`` keyed by the file's
content and path, the rule set (codes, names, the source of every loaded module
of each rule's top-level package, the set of known rule codes), the source of
Confiture's own lint and SQL modules, the options, and the Confiture and pglast
versions; a file whose size, mtime, ctime, inode and device match its entry is
answered without being read.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pglast

from .. import __version__
from .options import LintOptions
from .results import FileResult
from .rule import LintRule, Violation

#: Bump when the engine's output for the same input changes (invalidates caches).
ENGINE_VERSION = "2"


_source_hashes: dict[str, str] = {}


def _source_hash(src: str) -> str:
    import hashlib  # only with the result cache: a --no-cache run never hashes

    if src not in _source_hashes:
        try:
            _source_hashes[src] = hashlib.sha256(Path(src).read_bytes()).hexdigest()
        except OSError:
            _source_hashes[src] = src
    return _source_hashes[src]


def _module_source(mod: Any) -> str | None:
    src = getattr(mod, "__file__", None)
    if isinstance(src, str) and src.endswith(".py") and os.path.exists(src):
        return src
    import inspect  # slow to import; rarely needed (a module without a .py file)

    try:
        return inspect.getsourcefile(mod)
    except TypeError:
        return None


def _package_hash(package: str) -> list[tuple[str, str]]:
    """``(module, source hash)`` of every loaded module of ``package`` (the package itself and below):
    a rule's helpers count as much as the module defining it."""
    out = []
    for name, mod in sorted(sys.modules.items()):
        if mod is None or not (name == package or name.startswith(package + ".")):
            continue
        src = _module_source(mod)
        out.append((name, _source_hash(src) if src is not None else name))
    return out


#: The parts of Confiture whose source decides findings (hashed into the fingerprint: an
#: edit of the engine invalidates caches without a bump of :data:`ENGINE_VERSION`).
_CORE_SOURCES = ("lint", "sql", "sql.py", "migrations.py", "errors.py")


def _core_hash() -> str:
    import hashlib  # only with the result cache: a --no-cache run never hashes

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for part in _CORE_SOURCES:
        p = root / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.is_file() else []
        for f in files:
            h.update(f"{f.relative_to(root)}\0{_source_hash(str(f))}\0".encode())
    return h.hexdigest()


def ruleset_fingerprint(rules: Sequence[type[LintRule]], options: LintOptions,
                        known_codes: Iterable[str] = ()) -> str:
    """A hex digest of everything besides the file that determines findings."""
    import hashlib

    packages = sorted({r.__module__.split(".")[0] for r in rules})
    data = {
        "engine": ENGINE_VERSION,
        "core": _core_hash(),
        "confiture": __version__,
        "pglast": pglast.__version__,
        "python": sys.version_info[:2],
        "rules": sorted((r.code, r.name, r.__module__, r.__qualname__) for r in rules),
        "sources": {p: _package_hash(p) for p in packages},
        "known_codes": sorted(set(known_codes)),
        "pg_version": options.pg_version,
        "config": options.lint_config,
        "lock_timeout": options.runner_lock_timeout,
        "statement_timeout": options.runner_statement_timeout,
        "ignore_meta": sorted(options.ignore_meta),
        "mixed": options.mixed,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


#: A file's stat is trusted by the cache only if the file was last modified at least this
#: long before it was hashed (a later edit in the same mtime tick would go unseen).
STAT_SETTLE_NS = 2_000_000_000


def _stat_stamp(st: os.stat_result) -> list[int] | None:
    """``[size, mtime_ns, ctime_ns, inode, device]``, ``None`` when too recent to be trusted.

    The ctime (which no tool can set back), inode and device catch a same-size edit
    whose mtime was restored (``touch -d``, ``cp -p``, ``rsync -a``)."""
    if max(st.st_mtime_ns, st.st_ctime_ns) > time.time_ns() - STAT_SETTLE_NS:
        return None
    return _stat_fields(st)


def _stat_fields(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class ResultCache:
    """Per-file results on disk, one manifest per rule set: ``<dir>/<fingerprint>.json``.

    The manifest maps each file's path to ``[key, statements, findings, stat]`` (stat:
    see :func:`_stat_stamp`, or ``None``) where ``key`` is the SHA-256 of the fingerprint, the path and the
    file's bytes; a changed file (or rule set, options, versions) simply misses.
    A file whose stat matches the entry's is not read at all
    (:meth:`lookup`). One file per rule set keeps a
    warm run to one read and one write. Concurrent runs may drop each other's new
    entries (last writer wins); results are never wrong, only recomputed.

    :param directory: the cache folder (created on first write), normally
        ``<project>/.confiture/lint-cache``.
    :param fingerprint: :func:`ruleset_fingerprint` of this run.
    """

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.fingerprint = fingerprint
        self.file = directory / f"{fingerprint[:32]}.json"
        self._entries: dict[str, list[Any]] | None = None
        self._dirty = False

    def key(self, path: str, data: bytes) -> str:
        """The cache key of a file's path and bytes."""
        import hashlib

        h = hashlib.sha256(self.fingerprint.encode())
        h.update(b"\0" + path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        return h.hexdigest()

    def _load(self) -> dict[str, list[Any]]:
        if self._entries is None:
            try:
                raw = json.loads(self.file.read_text("utf-8"))
                self._entries = raw if isinstance(raw, dict) else {}
            except (OSError, ValueError):
                self._entries = {}
        return self._entries

    def lookup(self, path: str, st: os.stat_result) -> FileResult | None:
        """The stored result for ``path`` when the file's size, mtime, ctime, inode and device
        are the ones recorded with it: an unchanged file is answered without reading it.

        Stats are only recorded for files not modified in the last :data:`STAT_SETTLE_NS`
        before they were hashed, so an edit in the same clock tick cannot be missed.
        """
        entry = self._load().get(path)
        if not entry or len(entry) != 4 or entry[3] is None:
            return None
        if entry[3] != _stat_fields(st):
            return None
        return self._result(path, entry)

    def get(self, path: str, key: str, st: os.stat_result | None = None) -> FileResult | None:
        """The stored result for ``path`` if its key matches, else ``None``.

        :param st: the file's stat taken before its bytes were read; recorded with
            the entry (see :meth:`lookup`) when it had none.
        """
        entry = self._load().get(path)
        if not entry or entry[0] != key:
            return None
        result = self._result(path, entry)
        if result is not None and st is not None and (len(entry) != 4 or entry[3] is None):
            stamp = _stat_stamp(st)
            if stamp is not None:
                self._entries[path] = [*entry[:3], stamp]  # type: ignore[index]
                self._dirty = True
        return result

    @staticmethod
    def _result(path: str, entry: list[Any]) -> FileResult | None:
        try:
            stmts, rows = entry[1], entry[2]
            return FileResult(path, [Violation._make(c, m, p, int(ln), int(col),
                                                     "warning" if s == "warning" else "error", e, n)
                                     for c, m, p, ln, col, s, e, n in rows],
                              int(stmts), cached=True)
        except (ValueError, TypeError, IndexError):
            return None

    def put(self, path: str, key: str, result: FileResult, st: os.stat_result | None = None) -> None:
        """Remember a result (written by :meth:`save`); ``st``: the file's stat taken before reading it."""
        rows = [[v.code, v.message, v.path, v.line, v.column, v.severity, v.excerpt, v.name]
                for v in result.violations]
        self._load()[path] = [key, result.statements, rows, _stat_stamp(st) if st is not None else None]
        self._dirty = True

    def save(self) -> None:
        """Write the manifest atomically; I/O errors are ignored (the cache is an optimisation)."""
        if not self._dirty or self._entries is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._entries, separators=(",", ":")), "utf-8")
            os.replace(tmp, self.file)
        except OSError:
            pass
