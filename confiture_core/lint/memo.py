"""Writing run memos: what a lint run wrote, and the stamp of every input it read.

The other half of :mod:`confiture_core.lint.replay` (which says what a memo
covers and replays it): :func:`start_recording` taps stdout and stderr when the
console script starts a replayable ``lint`` run, the lint command collects the
run's inputs (:func:`input_dependencies`) and :meth:`Recorder.finish` writes the
memo when every input settled before the run started.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import os
import stat
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .replay import MEMO_VERSION, Dependency, Invocation, stamp_of

#: A stamp is only recorded for a file last changed (mtime or ctime) at least this long (ns)
#: before the run started.
SETTLE_NS = 2_000_000_000

#: Memo files kept per cache folder (the least recently written are removed beyond it).
MAX_MEMOS = 8


class _Tee(io.TextIOBase):
    """A text stream that passes writes to ``stream`` and notes them (in order) in ``chunks``.

    Handing out the file descriptor or the binary buffer sets :attr:`bypassed`:
    what is written through them cannot be noted, so the run is not memoised.
    """

    def __init__(self, stream: TextIO, which: int, chunks: list[tuple[int, str]]) -> None:
        super().__init__()
        self._stream = stream
        self._which = which
        self._chunks = chunks
        self.bypassed = False

    def write(self, s: str) -> int:
        n = self._stream.write(s)
        self._chunks.append((self._which, s))
        return n

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        self.bypassed = True
        return self._stream.fileno()

    @property
    def buffer(self) -> io.BufferedIOBase:
        self.bypassed = True
        return self._stream.buffer  # type: ignore[return-value]

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors


class Recorder:
    """Notes what a lint run writes, so that :meth:`finish` can leave a memo of it.

    Created (and the streams tapped) by :func:`start_recording`; the lint command
    calls :meth:`finish` once its output is written.

    :ivar invocation: the command line being run.
    :ivar started_ns: wall-clock time (ns since the epoch) the process started.
    :ivar chunks: ``(0 stdout / 1 stderr, text)`` in the order written.
    """

    def __init__(self, invocation: Invocation, started_ns: int) -> None:
        self.invocation = invocation
        self.started_ns = started_ns
        self.chunks: list[tuple[int, str]] = []
        self._saved: tuple[TextIO, TextIO] | None = None

    def tap(self) -> None:
        """Route ``sys.stdout`` and ``sys.stderr`` through tees (undone by :meth:`untap`)."""
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, 0, self.chunks)
        sys.stderr = _Tee(sys.stderr, 1, self.chunks)

    def untap(self) -> None:
        """Give back the original streams."""
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def finish(self, cache_dir: str, deps: Sequence[Dependency], exit_code: int) -> bool:
        """Write the memo if every dependency settled before the run started.

        :param cache_dir: the lint cache folder (``<project>/.confiture/lint-cache``).
        :param deps: every input file or folder with its stamp (see :func:`input_dependencies`).
        :param exit_code: the code the command exits with.
        :returns: whether a memo was written.
        """
        _remove_legacy(cache_dir)
        if any(isinstance(s, _Tee) and s.bypassed for s in (sys.stdout, sys.stderr)):
            return False
        limit = self.started_ns - SETTLE_NS
        for _path, st in deps:
            if st is not None and (st[1] > limit or st[2] > limit):
                return False
        for s in (sys.stdout, sys.stderr):
            s.flush()
        payload = "".join(c for _, c in self.chunks).encode("utf-8", "surrogatepass")
        # only the invocation's digest: the arguments and the environment may hold passwords
        header: dict[str, Any] = {"memo": MEMO_VERSION, "key": self.invocation.digest,
                                  "deps": [(p, st) for p, st in deps], "exit_code": exit_code,
                                  "chunks": [(w, len(c)) for w, c in self.chunks if c],
                                  "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
        # marshal (not JSON): loads fast and needs no import; the Python version is part of the key
        size = len(marshal.dumps({**header, "size": 0}))
        size = len(marshal.dumps({**header, "size": size}))
        data = marshal.dumps({**header, "size": size}) + payload
        target = os.path.join(cache_dir, self.invocation.memo_name)
        tmp = f"{target}.{os.getpid()}.tmp"
        try:
            os.makedirs(cache_dir, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o600)  # an old file of that name kept its mode
            os.replace(tmp, target)
            _prune(cache_dir)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True


def _remove_legacy(cache_dir: str) -> None:
    """Delete memos of an older format: those held the whole command line and environment (passwords)."""
    try:
        with os.scandir(cache_dir) as it:
            old = [e.path for e in it if e.name.startswith("run-") and e.name.endswith(".memo")
                   and len(e.name) != len(Invocation("0" * 64, "", None).memo_name)]
        for path in old:
            os.unlink(path)
    except OSError:
        pass


def _prune(cache_dir: str) -> None:
    memos = []
    with os.scandir(cache_dir) as it:
        for e in it:
            if e.name.startswith("run-") and e.name.endswith(".memo"):
                memos.append((e.stat().st_mtime_ns, e.path))
    for _, path in sorted(memos)[:-MAX_MEMOS]:
        os.unlink(path)


_recorder: Recorder | None = None


def start_recording(inv: Invocation, started_ns: int) -> Recorder:
    """Tap the output streams of a replayable lint run (see :func:`~confiture_core.lint.replay.parse_invocation`)."""
    global _recorder
    _recorder = Recorder(inv, started_ns)
    _recorder.tap()
    return _recorder


def stop_recording() -> None:
    """Untap the streams (end of the command)."""
    global _recorder
    if _recorder is not None:
        _recorder.untap()
        _recorder = None


def current() -> Recorder | None:
    """The recorder of this process's lint run, if it is being recorded."""
    return _recorder


# ------------------------------------------------------------------ dependencies


def _config_candidates(start: str, config_file: str | None, explicit: str | None) -> list[str]:
    """The config files the config search looked at, in order (see :func:`confiture_core.config.load_config`)."""
    if explicit is not None:
        return [explicit]
    out = []
    folder = start
    while True:
        out += [os.path.join(folder, "confiture.toml"), os.path.join(folder, "pyproject.toml")]
        if config_file is not None and os.path.dirname(config_file) == folder:
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out


def _module_files() -> list[str]:
    """The file of every loaded module that has one on disk (the run read them all)."""
    out = []
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if isinstance(f, str) and os.path.isabs(f):
            out.append(f)
    return out


def _python_environment() -> list[str]:
    """Every loaded module's file, every ``sys.path`` entry, and the metadata of every distribution on it."""
    paths: list[str] = []
    for mod in list(sys.modules.values()):
        f = getattr(mod, "__file__", None)
        if isinstance(f, str):
            paths.append(f)
        try:  # a package's folders: a module file added there (found by pkgutil.iter_modules) changes them
            folders = [p for p in getattr(mod, "__path__", None) or () if isinstance(p, str)]
        except Exception:  # an odd __path__: no folder to add
            folders = []
        paths += folders
    for entry in sys.path:
        entry = os.path.abspath(entry or os.curdir)
        paths.append(entry)
        try:
            with os.scandir(entry) as it:
                names = [e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for name in names:
            meta = "PKG-INFO" if name.endswith(".egg-info") else "METADATA"
            paths += [os.path.join(entry, name, "entry_points.txt"), os.path.join(entry, name, meta)]
    return paths


def input_dependencies(
    *,
    start: str,
    config_file: str | None,
    explicit_config: str | None,
    plugins_dir: str | None,
    roots: Sequence[str],
    folders: Sequence[str],
    files: Sequence[str],
    read: Sequence[str] = (),
) -> list[Dependency] | None:
    """Every input of a lint run, stamped now (see the module docstring).

    :param start: where the config search started.
    :param config_file: the config file found or given, or ``None``.
    :param explicit_config: ``--config``'s real path, or ``None``.
    :param plugins_dir: the ``[plugins] dir`` folder, or ``None``.
    :param roots: the paths linted, as given.
    :param folders: every folder walked below them.
    :param files: every file linted.
    :param read: other files the run read (the result cache's manifest).
    :returns: the stamps, or ``None`` when a file the run read (the config file, a linted
        file, a loaded module's file, ``read``) is not there any more: its absence must
        not be recorded as the state the output was computed from.
    """
    paths = [*_config_candidates(start, config_file, explicit_config), *_python_environment()]
    if plugins_dir is not None:
        paths.append(plugins_dir)
    paths += [*roots, *folders, *files, *read]
    required = {*files, *read, *_module_files()}
    if config_file is not None:
        required.add(config_file)
    seen: set[str] = set()
    deps: list[Dependency] = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            stamp = stamp_of(p)
            if stamp is None and p in required:
                return None
            deps.append((p, stamp))
    for p in sorted(required - seen):
        stamp = stamp_of(p)
        if stamp is None:
            return None
        deps.append((p, stamp))
    for r in roots:  # a root that is a symlink: its folder too (re-pointing the link changes it)
        try:
            st = os.lstat(r)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            deps.append((os.path.dirname(os.path.abspath(r)), stamp_of(os.path.dirname(os.path.abspath(r)))))
    return deps
