"""A pseudo-terminal driver for the real ``confiture`` console script, and checks on what it drew.

A command runs in a pseudo-terminal of a given size (pexpect), its whole output is kept as
bytes, and replayed into a terminal emulator (pyte) to read the screen a person would see.
The checks are the ones a person makes at a terminal: no internal error, the cursor shown
again at the end, no line wider than the terminal (so the terminal never breaks a word or a
version number itself), no styling escape codes under ``NO_COLOR``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pyte

EXE = shutil.which("confiture", path=str(Path(sys.executable).parent)) or "confiture"

# ECMA-48 control sequences (CSI ... final byte), OSC strings, and two-byte escapes
_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")
_OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_ESC2 = re.compile(rb"\x1b[@-Z\\-_]")
SGR = re.compile(rb"\x1b\[[0-9;:]*m")
HIDE_CURSOR = b"\x1b[?25l"
SHOW_CURSOR = b"\x1b[?25h"
INTERNAL = ("internal error", "Traceback (most recent call last)")


def strip_escapes(raw: bytes) -> bytes:
    """``raw`` without any escape sequence (the printable text and the line controls left)."""
    return _ESC2.sub(b"", _OSC.sub(b"", _CSI.sub(b"", raw)))


@dataclass
class Session:
    """One finished command in a pseudo-terminal: its raw output, exit code and screen."""

    argv: list[str]
    cols: int
    raw: bytes
    exit_code: int | None
    signal: int | None
    lines: list[str] = field(default_factory=list)
    cursor_hidden: bool = False

    @property
    def text(self) -> str:
        """Everything written, escape sequences removed, as one string."""
        return strip_escapes(self.raw).decode("utf-8", "replace")

    @property
    def screen(self) -> str:
        """The screen (with the lines scrolled off above it) as a person reads it at the end."""
        return "\n".join(self.lines)

    def physical_lines(self) -> list[str]:
        """Each line the program wrote, split where it wrote a newline or carriage return."""
        return re.split(r"\r\n|\n|\r", self.text)

    def too_wide(self) -> list[str]:
        """Lines wider than the terminal: the terminal, not the program, would break them (mid-word)."""
        from rich.cells import cell_len

        return [line for line in self.physical_lines() if cell_len(line) > self.cols]

    def assert_sane(self, *, no_color: bool = False, expect_code: int | None = 0) -> None:
        """The checks every command must pass at a terminal.

        :param no_color: ``NO_COLOR`` was set: no styling (SGR) escape sequence may appear.
        :param expect_code: the exit code expected (``None``: any).
        """
        where = f"{' '.join(self.argv)} at {self.cols} columns:\n{self.screen}"
        for marker in INTERNAL:
            assert marker not in self.text, where
        if expect_code is not None:
            assert self.exit_code == expect_code, f"exit {self.exit_code} (signal {self.signal}): {where}"
        assert not self.cursor_hidden, f"cursor left hidden: {where}"
        if self.raw.count(HIDE_CURSOR):
            assert self.raw.rfind(SHOW_CURSOR) > self.raw.rfind(HIDE_CURSOR), f"cursor left hidden: {where}"
        wide = self.too_wide()
        assert not wide, f"lines wider than {self.cols} columns {wide!r}: {where}"
        if no_color:
            found = SGR.findall(self.raw)
            assert not found, f"NO_COLOR but styling escapes {found[:5]!r}: {where}"

    def assert_on_screen(self, *tokens: str) -> None:
        """Each token appears on the screen: a word (or version number, path) whole on one line, not broken
        across two; a phrase of several words possibly wrapped between its words."""
        flowing = " ".join(self.screen.split())
        for token in tokens:
            if " " in token:
                assert " ".join(token.split()) in flowing, f"{token!r} not on screen:\n{self.screen}"
                for word in token.split():
                    assert any(word in line for line in self.lines), f"{word!r} broken on screen:\n{self.screen}"
            else:
                assert any(token in line for line in self.lines), f"{token!r} not whole on screen:\n{self.screen}"


def environment(*, no_color: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a person's terminal: TERM set, no database URL inherited, colours per ``NO_COLOR``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CONFITURE_DATABASE_URL", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES",
                        "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI", "GITHUB_ACTIONS")}
    env["TERM"] = "xterm-256color"
    env.pop("CONFITURE_DEBUG", None)
    if no_color:
        env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


class Terminal:
    """Runs ``confiture`` in a pseudo-terminal of ``cols`` x ``rows`` in ``cwd``."""

    def __init__(self, cwd: Path, *, cols: int = 80, rows: int = 40, no_color: bool = False,
                 env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.cols = cols
        self.rows = rows
        self.no_color = no_color
        self.env = environment(no_color=no_color, extra=env)

    def spawn(self, *args: str) -> pexpect.spawn:
        """Start ``confiture ARGS``; drive it with pexpect, then hand it to :meth:`finish`."""
        return pexpect.spawn(EXE, list(args), cwd=str(self.cwd), env=self.env, dimensions=(self.rows, self.cols),
                             timeout=120)

    def finish(self, child: pexpect.spawn, argv: list[str], before: bytes = b"") -> Session:
        """Read the rest of ``child``'s output, wait for it and replay everything on an emulated screen."""
        chunks = [before]
        while True:
            try:
                chunks.append(child.read_nonblocking(65536, timeout=120))
            except pexpect.EOF:
                break
        child.wait()
        raw = b"".join(chunks)
        # an emulator far taller than the terminal keeps every line that scrolled away: the program only moves
        # its cursor relatively (progress bars), so the extra height changes nothing it draws
        screen = pyte.Screen(self.cols, 4000)
        screen.set_mode(pyte.modes.LNM)  # a pty turns \n into \r\n; be safe when it did not
        stream = pyte.ByteStream(screen)
        stream.feed(raw)
        lines = [line.rstrip() for line in screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return Session(argv, self.cols, raw, child.exitstatus, child.signalstatus, lines,
                       cursor_hidden=bool(screen.cursor.hidden))

    def run(self, *args: str) -> Session:
        """Run ``confiture ARGS`` to its end without input."""
        child = self.spawn(*args)
        return self.finish(child, list(args))

    def interrupt(self, *args: str, after: str | bytes) -> Session:
        """Run ``confiture ARGS``, press Ctrl-C once ``after`` (a regex) has appeared, and read the end."""
        child = self.spawn(*args)
        child.expect(after)
        seen = (child.before or b"") + (child.after if isinstance(child.after, bytes) else b"")
        child.sendintr()
        return self.finish(child, list(args), seen)

