"""The console script's run of the ``confiture`` group: one-line errors, exit codes, signals."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import ConfitureError
from ..words import count_or_none
from .output import Output, error_line, is_database_error
from .root import cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs :data:`~confiture_core.cli.root.cli` with one-line errors.

    Exit codes: 0 success, 1 failure (a migration failed, validation problems, lint
    violations, Ctrl-C), 2 usage or configuration error. Errors are one line, without
    traceback (``CONFITURE_DEBUG=1`` shows one), and never contain a database password.

    :param argv: the arguments after the program name (default ``sys.argv[1:]``).
    :raises SystemExit: always, with the exit code.
    """
    if os.environ.get("_CONFITURE_COMPLETE"):  # shell completion (README): click's protocol, then exit
        from click.shell_completion import shell_complete

        raise SystemExit(shell_complete(cli, {}, "confiture", "_CONFITURE_COMPLETE",
                                        os.environ["_CONFITURE_COMPLETE"]))
    args = list(sys.argv[1:] if argv is None else argv)
    json_errors = "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in itertools.pairwise(args))
    _run(args, Output(json_errors=json_errors))


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM (a cancelled CI job, ``timeout``) into KeyboardInterrupt, so a run ends as it
    does on Ctrl-C: the transaction in progress rolled back, the advisory lock released, exit
    handlers run."""
    import signal
    import threading

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


@contextmanager
def _errors(output: Output) -> Iterator[None]:
    """Confiture's and the database's errors as one line (the command's context still open)."""
    try:
        yield
    except ConfitureError as exc:
        output.fail(error_line(exc), exc.exit_code)
    except Exception as exc:
        if not is_database_error(exc):
            raise
        output.fail(error_line(exc), 1)


def interrupted_message(output: Output, command: str | None) -> str:
    """What a Ctrl-C (or SIGTERM) stopped, from what the run reported so far (``output.run_tally``)."""
    if command == "lint":
        return "interrupted"
    if output.run_tally is None:  # no migration run started: looking, a dry run, a prompt, a repair
        return "interrupted: nothing was changed"
    direction, done = output.run_tally
    verb = "applied" if direction == "up" else "reverted"
    # the count is what was reported: one more may have committed an instant before the interrupt
    return (f"interrupted: {count_or_none(done, 'migration')} {verb} before it, the one in progress rolled back "
            "(one that runs outside a transaction is recorded as failed); `confiture migrate status` shows where it "
            "stopped")


def _run(args: list[str], output: Output) -> None:
    debug = os.environ.get("CONFITURE_DEBUG") == "1"
    _interrupt_on_sigterm()
    try:
        ctx = cli.make_context("confiture", args)
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click.ClickException as e:
        output.usage_error(e)
    output.attach(ctx)
    try:
        with ctx:
            with _errors(output):
                cli.invoke(ctx)
    except click.exceptions.Exit as e:
        raise SystemExit(e.exit_code) from None
    except click.ClickException as e:
        output.usage_error(e)
    except click.exceptions.Abort:
        # click raises Abort for end of input at a prompt; every prompt comes before anything is applied
        output.fail("no answer at the prompt (end of input): nothing was applied", 1)
    except KeyboardInterrupt:
        output.fail(interrupted_message(output, ctx.invoked_subcommand), 1)
    except SystemExit:
        raise
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        output.fail(error_line(exc), 1)
