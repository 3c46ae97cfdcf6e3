"""Replay of a whole ``confiture lint`` run whose inputs have not changed (the warm path).

A lint run with the result cache on, in which every file was answered from the
cache, leaves a *run memo* next to the cache
(``<project>/.confiture/lint-cache/run-<key>.memo``): what it wrote to stdout
and stderr, its exit code, and a stamp of every input it depended on. The next
identical invocation checks those stamps and, when all still hold, writes the
same output and exits with the same code without importing click, pluggy,
pglast or any rule (:func:`replay`, called by :mod:`confiture_core.entry`
before anything else is imported).

What must be identical, or the memo is not used:

- the invocation: the arguments, the current folder, the Python executable,
  version and ``sys.path``, the whole environment (every variable: a plugin may
  read any of them), and whether stdout and stderr are terminals. Only a SHA-256
  digest of all that is kept in the memo (the environment and the arguments may
  hold passwords: ``PGPASSWORD``, ``--database-url``);
- the files, by stamp (size, mtime and ctime in ns, inode, device, via
  ``os.stat``): every linted file; every folder walked to find them (a file added
  or removed changes its folder's stamp); the config files searched for, present
  or absent; every loaded module's file (Confiture, pglast, the rule packs, ``-p``
  modules, the ``[plugins] dir`` files), so an edit or an upgrade of any of them
  invalidates; the ``[plugins] dir`` folder; every ``sys.path`` entry and the
  ``entry_points.txt`` and ``METADATA`` of every distribution on it, so
  installing, removing or upgrading a rule pack invalidates; the folders of every
  loaded package (``__path__``: a package that finds its rule modules with
  ``pkgutil.iter_modules`` sees a new file there); the result cache's manifest.
  A file the run read (the config file, the linted files, the module files, the
  manifest) must still be there when the memo is written, else none is written.

A memo holds the length and SHA-256 of its payload; a memo that cannot be read,
decoded or checked is deleted and the command runs normally.

A memo is only written when every one of those stamps was last changed at least
:data:`confiture_core.lint.memo.SETTLE_NS` before the run started (an edit in the same clock tick as a
stamp could otherwise go unseen, and an edit during the run always shows as a
newer ctime), when the target PostgreSQL version did not come from a server
(``--pg-version``, or no database URL configured), when every plugin loaded
(a plugin that failed to import left no module file to stamp), and when the run ended
normally (exit 0 or 1) with every file answered from the cache, so that the
replayed report, whose ``cached`` flags and ``cache_hits`` say so, is the one
that run printed. ``--no-cache``, ``--pending``, ``--list-rules``,
``--explain`` and ``--help`` are never replayed.

This module imports nothing beyond the standard library (it runs before the CLI) and only
reads memos; :mod:`confiture_core.lint.memo` writes them.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: this module runs before everything else
    from collections.abc import Iterable, Sequence
    from typing import Any

#: Bump when the memo format or what it covers changes (old memos are then ignored).
MEMO_VERSION = "2"

_GLOBAL_VALUE_OPTIONS = frozenset({"--config", "--project", "-C", "--database-url", "-p", "--disable-plugin"})
_NEVER_REPLAYED = frozenset({"--no-cache", "--pending", "--list-rules", "--explain", "--help", "-h", "--version",
                             "--diff", "--baseline", "--write-baseline"})
#: ``(path, stamp)``: stamp is ``[size, mtime_ns, ctime_ns, ino, dev]``, or ``None`` when nothing is there.
Dependency = tuple[str, list[int] | None]


# ------------------------------------------------------------------ invocation


class Invocation:
    """A ``confiture ... lint ...`` command line that may be replayed.

    :ivar digest: the SHA-256 (hex) of everything the run's output depends on besides files
        (arguments, folders, Python, the whole environment, the streams); only this
        digest is written to the memo, never the arguments or the environment themselves.
    :ivar start: the folder the config search starts from (``--project`` or the current folder), real path.
    :ivar config: the real path of ``--config``, or ``None``.
    """

    __slots__ = ("config", "digest", "start")

    def __init__(self, digest: str, start: str, config: str | None) -> None:
        self.digest = digest
        self.start = start
        self.config = config

    @property
    def memo_name(self) -> str:
        """The memo's file name (from :attr:`digest`)."""
        return f"run-{self.digest[:32]}.memo"

    def memo_folders(self) -> list[str]:
        """The cache folders a memo of this invocation may be in (one per possible project folder).

        The project folder is the config file's folder, else the start folder; the
        config search is not repeated here (the memo's stamps prove it), only the
        folders holding a candidate file are tried.
        """
        if self.config is not None:
            folders = [os.path.dirname(self.config)]
        else:
            folders = []
            folder = self.start
            while True:
                if os.path.isfile(os.path.join(folder, "confiture.toml")):
                    folders.append(folder)
                    break
                if os.path.isfile(os.path.join(folder, "pyproject.toml")):
                    folders.append(folder)
                parent = os.path.dirname(folder)
                if parent == folder:
                    break
                folder = parent
            if self.start not in folders:
                folders.append(self.start)
        return [os.path.join(f, ".confiture", "lint-cache") for f in folders]


def is_lint(argv: Sequence[str]) -> bool:
    """Whether the command line runs ``confiture lint`` (its command word, after the global options).

    :param argv: the arguments after the program name.
    """
    at = _command(argv)[0]
    return at >= 0 and argv[at] == "lint"


def _command(argv: Sequence[str]) -> tuple[int, str | None, str | None]:
    """``(index of the command word or -1, --project value, --config value)`` of a command line."""
    project: str | None = None
    config: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_VALUE_OPTIONS:
            if i + 1 >= len(argv):
                return -1, project, config
            if arg in ("--project", "-C"):
                project = argv[i + 1]
            elif arg == "--config":
                config = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--project=") or (arg.startswith("-C") and len(arg) > 2 and not arg.startswith("--")):
            project = arg.split("=", 1)[1] if arg.startswith("--") else arg[2:]
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif not arg.startswith("-"):
            return i, project, config
        i += 1
    return -1, project, config


def parse_invocation(argv: Sequence[str], env: dict[str, str] | None = None) -> Invocation | None:
    """The :class:`Invocation` of a command line, or ``None`` when it is not a replayable ``lint`` run.

    :param argv: the arguments after the program name.
    :param env: the environment (default ``os.environ``).
    """
    env = dict(os.environ) if env is None else env
    command_at, project, config = _command(argv)
    if command_at < 0 or argv[command_at] != "lint":
        return None
    for arg in argv[command_at + 1:]:
        if arg.split("=", 1)[0] in _NEVER_REPLAYED:
            return None
    try:
        cwd = os.getcwd()
        start = os.path.realpath(project) if project is not None else cwd
        if config is not None and project is not None:
            config = os.path.join(project, config)  # -C DIR applies to --config as in the CLI (absolute: kept)
        config_real = os.path.realpath(config) if config is not None else None
        # a terminal's width shapes the text output (wrapped to fit it)
        streams = [(s.isatty(), str(getattr(s, "encoding", None)), str(getattr(s, "errors", None)),
                    tuple(os.get_terminal_size(s.fileno())) if s.isatty() else None)
                   for s in (sys.stdout, sys.stderr)]
    except (OSError, ValueError, AttributeError):
        return None
    doc = (
        ("memo", MEMO_VERSION),
        ("argv", tuple(argv)),
        ("cwd", cwd),
        ("start", start),
        ("config", config_real),
        ("python", sys.executable, sys.version, tuple(sys.path)),
        ("env", tuple(sorted(env.items()))),  # all of it: a plugin may read any variable
        ("streams", tuple(streams)),
    )
    import hashlib  # here: a run that is never replayed (--no-cache...) needs none of it

    # repr of str/int/bool/None tuples: canonical; only its digest is kept (it may hold passwords)
    digest = hashlib.sha256(repr(doc).encode("utf-8", "surrogatepass")).hexdigest()
    return Invocation(digest, start, config_real)


# ------------------------------------------------------------------ stamps


def stamp_of(path: str) -> list[int] | None:
    """``[size, mtime_ns, ctime_ns, inode, device]`` of what ``path`` names (symlinks followed), or ``None``."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def stamps_hold(deps: Iterable[Sequence[Any]]) -> bool:
    """Whether every recorded ``(path, stamp)`` still matches what is on disk."""
    for path, recorded in deps:
        if stamp_of(path) != recorded:
            return False
    return True


# ------------------------------------------------------------------ replay


def replay(inv: Invocation) -> int | None:
    """Write the output of an identical earlier run whose inputs are unchanged; return its exit code.

    A memo that cannot be read, decoded or checked (length and SHA-256 of the payload)
    is deleted and ignored.

    :param inv: the command line (see :func:`parse_invocation`).
    :returns: the exit code to exit with, or ``None`` (no usable memo: run the command).
    """
    for folder in inv.memo_folders():
        path = os.path.join(folder, inv.memo_name)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError):
            continue
        try:
            memo = _decode(data)
            if memo is None:
                raise ValueError("not a memo")
            key, deps, code, chunks = memo
            if key != inv.digest or not stamps_hold(deps):
                continue
        except Exception:  # any damage: forget the memo, run normally
            _discard(path)
            continue
        return _write_back(chunks, code)
    return None


def _decode(data: bytes) -> tuple[str, list[Any], int, list[tuple[int, str]]] | None:
    """``(key, deps, exit_code, [(stream, text)])`` of a memo's bytes, ``None`` when they do not check out."""
    import hashlib  # imported by parse_invocation already

    header = marshal.loads(data)
    if not isinstance(header, dict) or header.get("memo") != MEMO_VERSION:
        return None
    size = header["size"]
    payload = data[size:]
    if (not isinstance(size, int) or size <= 0 or len(payload) != header["length"]
            or hashlib.sha256(payload).hexdigest() != header["sha256"]):
        return None
    text = payload.decode("utf-8", "surrogatepass")
    chunks: list[tuple[int, str]] = []
    pos = 0
    for which, length in header["chunks"]:
        if which not in (0, 1) or not isinstance(length, int) or length < 0:
            return None
        chunks.append((which, text[pos : pos + length]))
        pos += length
    code = header["exit_code"]
    deps = header["deps"]
    if pos != len(text) or code not in (0, 1) or not isinstance(header["key"], str) or not isinstance(deps, list):
        return None
    return header["key"], deps, code, chunks


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_back(chunks: Sequence[tuple[int, str]], code: int) -> int:
    """Write the recorded output; a write error (closed pipe, full disk) ends the run as in the CLI:
    one line on stderr, exit 1."""
    try:
        streams = (sys.stdout, sys.stderr)
        for which, text in chunks:
            streams[which].write(text)
        for s in streams:
            s.flush()
    except (OSError, ValueError, AttributeError) as exc:
        _silence_stdout()
        try:
            sys.stderr.write(f"error: internal error: {type(exc).__name__}: {exc} "
                             "(set CONFITURE_DEBUG=1 for a traceback)\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
