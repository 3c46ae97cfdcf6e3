"""Everything the CLI writes: one :class:`Output` per command, every message scrubbed of database passwords.

Human output and progress go to stderr (rich, for people); ``--format json``
prints exactly one JSON document on stdout. The output object lives in the click
context's ``meta`` (shared by the whole command tree), never in a module global,
so in-process runs (click's ``CliRunner``) never leak one run's state into the next.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..config import redact_url, scrub
from ..hanging import print_hanging
from . import verbosity

if TYPE_CHECKING:  # imported where used: `confiture lint` needs neither psycopg nor most of rich
    import psycopg
    from rich.console import Console

_KEY = "confiture.output"


def make_console(**kwargs: Any) -> Console:
    """A ``rich.console.Console`` for people: wrapped at word boundaries on a terminal, never in a pipe or log.

    At a terminal, lines are wrapped by rich between words (the terminal would otherwise break a
    word or a version number at its last column); elsewhere a message stays on one line however
    long. ``NO_COLOR`` (https://no-color.org, any non-empty value) turns off every style, not only
    colours: no escape sequence is written for bold or dim text either.

    :param kwargs: passed to ``Console`` (``stderr``, ``file``, ``width``, ``force_terminal``...).
    """
    from rich.console import Console

    if os.environ.get("NO_COLOR"):
        kwargs["color_system"] = None
    console = Console(highlight=False, **kwargs)
    console.soft_wrap = not console.is_terminal
    return console


#: what may be an emoji code (``:fire:``), which rich replaces with the emoji (``file.sql:12:`` too)
_EMOJI_CODE = re.compile(r":[^\s:]+:")


def _plain_text(text: str) -> bool:
    """Whether rich prints ``text`` (markup off, no terminal) exactly as it is: no tab (expanded), no control
    character (removed), no emoji code (replaced: asked of rich's emoji table, only for a text that may hold
    one, such as ``file.sql:12: ...``, which rich's console would take ~50 ms to import for)."""
    if not text.replace("\n", "").isprintable():
        return False
    if not _EMOJI_CODE.search(text):
        return True
    from rich.emoji import Emoji

    return bool(Emoji.replace(text) == text)


class _ScrubbedStderr:
    """``sys.stderr`` as it is at each write (click's ``CliRunner`` and lint's memo swap it), with
    every database password removed from what is written; everything else is forwarded."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        self._scrub = scrub

    @staticmethod
    def _stream() -> Any:
        # rich's Live/Progress put a proxy on sys.stderr that prints through the console: write under it
        stream = sys.stderr
        return getattr(stream, "rich_proxied_file", stream)

    def write(self, text: str) -> int:
        stream = self._stream()
        if stream is None:  # stderr closed (``2>&-``)
            return len(text)
        return int(stream.write(self._scrub(text)))

    def flush(self) -> None:
        stream = self._stream()
        if stream is not None:
            stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream(), name)


class Output:
    """The command's output: the stderr console, the one JSON document, info/warning/error lines.

    Every text written (on stderr or stdout, JSON included) has the password of every
    database URL the command was given (:meth:`add_secret`) replaced by ``***``.

    :param json_errors: an error also prints ``{"ok": false, "error": ..., "exit_code": ...}`` on
        stdout when no JSON document was printed yet (``--format json``).
    """

    def __init__(self, json_errors: bool = False) -> None:
        self.json_errors = json_errors
        self.json_emitted = False
        self._secrets: list[str] = []
        self._console: Console | None = None
        #: what a run that changes the database has done so far (set by the reporter; ``None``: no such run
        #: started): its direction and the number of migrations done, for the message of an interrupt
        self.run_tally: tuple[str, int] | None = None
        #: the server's NOTICEs are not shown meanwhile (the review gate's dry run: the real run shows them)
        self.hold_notices = False
        #: the warnings :meth:`warn_once` has given
        self._warned: set[str] = set()

    @staticmethod
    def current() -> Output:
        """The running command's output object (a new one, kept for the command, on first use).

        Outside any click context a fresh one is returned (nothing is kept).
        """
        ctx = click.get_current_context(silent=True)
        if ctx is None:
            return Output()
        out = ctx.meta.get(_KEY)
        if not isinstance(out, Output):
            out = ctx.meta[_KEY] = Output()
        return out

    def attach(self, ctx: click.Context) -> None:
        """Make this the output object of ``ctx``'s command tree (see :meth:`current`)."""
        ctx.meta[_KEY] = self

    # ------------------------------------------------------------- scrubbing

    def add_secret(self, url: str | None) -> None:
        """Scrub ``url``'s password (and the URL itself) from everything written from now on."""
        if url and url not in self._secrets and redact_url(url) != url:  # no password: nothing to hide
            self._secrets.append(url)

    def scrub(self, text: str) -> str:
        """``text`` without any password of the URLs given to :meth:`add_secret`."""
        for url in self._secrets:
            text = scrub(text, url)
        return text

    # ---------------------------------------------------------------- stderr

    @property
    def console(self) -> Console:
        """The ``rich.console.Console`` on stderr (created, and rich imported, on first use); what is
        printed through it is scrubbed, rich renderables (tables, reports, progress bars) included."""
        if self._console is None:
            self._console = make_console(file=_ScrubbedStderr(self.scrub))
        return self._console

    def say(self, message: str, style: str | None = None) -> None:
        """A line on stderr, whatever ``-q`` says (what the command is for).

        When stderr is no terminal and the text is one rich would write unchanged (see :func:`_plain_text`),
        it is written as is, without rich (rendering costs ~0.2 ms a line: one per migration in a run).
        """
        text = self.scrub(message)
        if self.plain() and _plain_text(text):
            stream = _ScrubbedStderr._stream()
            if stream is not None:
                stream.write(text + "\n")
                stream.flush()
            return
        self.console.print(text, style=style, markup=False)

    def say_hanging(self, message: str, indent: int, style: str | None = None) -> None:
        """:meth:`say`, but at a terminal wrapped between words with every line after the first indented by
        ``indent`` spaces (a list of rule codes stays under its label instead of restarting at column 1).

        :param indent: the continuation lines' indent, in columns.
        """
        if self.plain():
            self.say(message, style)
            return
        from rich.text import Text

        print_hanging(self.console, Text(self.scrub(message)), indent, self.console.width, style or "")

    def _say_indented(self, message: str, style: str) -> None:
        """:meth:`say_hanging` for each line of ``message``: at a terminal a wrapped line continues 4 columns
        further in than where it starts (an error's listing stays readable at 80 columns)."""
        if self.plain():
            self.say(message, style)
            return
        for line in message.split("\n"):
            self.say_hanging(line, len(line) - len(line.lstrip(" ")) + 4, style)

    def plain(self) -> bool:
        """Whether stderr is no terminal for rich (so no colour, no wrapping, no progress bar): not a tty,
        and neither ``TTY_COMPATIBLE`` nor ``FORCE_COLOR`` set (which rich reads to decide otherwise; then
        rich decides). Rich is not imported to answer."""
        if "TTY_COMPATIBLE" in os.environ or "FORCE_COLOR" in os.environ:
            return False
        stream = _ScrubbedStderr._stream()
        try:
            return stream is None or not stream.isatty()
        except (ValueError, AttributeError):
            return False

    def info(self, message: str) -> None:
        """A notice on stderr (hidden by ``-q``)."""
        if not verbosity.quiet():
            self._say_indented(message, style="dim")

    def detail(self, message: str) -> None:
        """A detail on stderr, shown only with ``-v``."""
        if verbosity.verbose():
            self.say(message, style="dim")

    def warn(self, message: str) -> None:
        """A warning on stderr: ``warning: MESSAGE``."""
        self._say_indented("warning: " + message, style="yellow")

    def warn_once(self, message: str) -> None:
        """:meth:`warn`, unless this very warning was already given by this command (a fact about the setup,
        such as the shadow server's version, that each of the wizard's preflights would otherwise repeat)."""
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        """The server's NOTICE and WARNING messages on stderr, as psql shows them (``-q``: WARNING only)."""
        severity = (diag.severity or "NOTICE").lower()
        if (verbosity.quiet() or self.hold_notices) and severity not in ("warning", "error"):
            return
        self.say(f"{severity}: {diag.message_primary}", style="dim")

    def confirm(self, question: str) -> bool:
        """Ask ``question [y/N]`` on stderr, wrapped between words to the terminal; no is the default.

        :returns: ``True`` for y/yes, ``False`` for n/no or an empty answer (asked again otherwise).
        :raises click.Abort: end of input (Ctrl-D).
        :raises ConfitureError: Ctrl-C at the prompt (exit 1; prompts come before anything is applied).
        """
        from ..errors import ConfitureError

        while True:
            self.console.print(f"{self.scrub(question)} [y/N] ", end="", markup=False)
            try:
                answer = input().strip().lower()
            except EOFError:
                self.console.print()
                raise click.Abort from None
            except KeyboardInterrupt:
                self.console.print()  # the terminal echoed ^C on the prompt's line
                raise ConfitureError("interrupted at the prompt: nothing was applied") from None
            if answer in ("y", "yes"):
                return True
            if answer in ("", "n", "no"):
                return False

    # ---------------------------------------------------------------- stdout

    def echo(self, text: str, *, err: bool = False, nl: bool = True) -> None:
        """Plain text (no rich) on stdout, or on stderr with ``err``."""
        text = self.scrub(text)
        # text without an escape character has no ANSI style for click to strip: color=True skips its
        # regular expression over the whole text (~5 ms for lint's 3.6 MB JSON report of a large tree)
        click.echo(text, err=err, nl=nl, color=True if "\x1b" not in text else None)

    def emit_json(self, doc: Any) -> None:
        """Print the command's one JSON document on stdout (every string in it scrubbed)."""
        self.json_emitted = True
        click.echo(json.dumps(self._scrubbed(doc), indent=2, default=lambda o: self.scrub(str(o))))

    def _scrubbed(self, value: Any) -> Any:
        """``value`` with its strings scrubbed, before JSON escapes a password's quotes or backslashes."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self._scrubbed(k): self._scrubbed(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrubbed(v) for v in value]
        return value

    # ---------------------------------------------------------------- errors

    def error(self, message: str, code: int) -> None:
        """``error: MESSAGE`` on stderr; with ``--format json`` also the error document, unless the
        command already printed its own."""
        self._say_indented(f"error: {message}", style="red")
        if self.json_errors and not self.json_emitted:
            self.emit_json({"ok": False, "error": message, "exit_code": code})

    def fail(self, message: str, code: int) -> NoReturn:
        """:meth:`error`, then exit with ``code`` (1 a failure, 2 usage or configuration)."""
        self.error(message, code)
        raise SystemExit(code)

    def usage_error(self, exc: click.ClickException) -> NoReturn:
        """Show click's usage error as click does (with the usage line), then exit with its code."""
        exc.show()
        if self.json_errors and not self.json_emitted:
            self.emit_json({"ok": False, "error": exc.format_message(), "exit_code": exc.exit_code})
        raise SystemExit(exc.exit_code)


def _json_errors(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value == "json":
        Output.current().json_errors = True
    return value


format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, callback=_json_errors,
                             help="text (rich, on stderr) or json (one document on stdout).")


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` is psycopg's (never importing psycopg: when it is not imported, it cannot be)."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def error_line(exc: BaseException) -> str:
    """The one-line message (after ``error: ``, password not yet scrubbed) the CLI prints for ``exc``."""
    from ..errors import ConfitureError

    if isinstance(exc, ConfitureError):
        return str(exc)
    if is_database_error(exc):
        return f"database error: {str(exc).strip()}"
    hint = "" if os.environ.get("CONFITURE_DEBUG") == "1" else " (set CONFITURE_DEBUG=1 for a traceback)"
    return f"internal error: {type(exc).__name__}: {exc}{hint}"
