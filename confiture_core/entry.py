"""The ``confiture`` console script: replay an unchanged lint run, else run the CLI.

Only the standard library is imported before :func:`confiture_core.lint.replay.replay`
has had its chance: a warm ``confiture lint`` on an unchanged tree never imports
click, pluggy, pglast or rich.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .lint.replay import Invocation


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (see :func:`confiture_core.cli.main`).

    :param argv: the arguments after the program name (default ``sys.argv[1:]``).
    """
    started_ns = time.time_ns()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _main(args, started_ns, console=argv is None)
    except SystemExit as exc:
        quick = sys.modules.get("confiture_core.lint.quickexit")  # imported only by a lint process (below)
        if quick is not None:
            quick.record(exc.code)
        raise


def _main(args: list[str], started_ns: int, *, console: bool) -> None:
    if "lint" in args:
        from .lint.replay import is_lint, parse_invocation

        if is_lint(args):
            from .lint.gctune import for_lint_process

            for_lint_process()  # before the imports: they build objects that live until the end
            if console:  # the process ends with this run: no interpreter teardown (lint/quickexit.py)
                from .lint.quickexit import arm

                arm()
        invocation = parse_invocation(args)
        if invocation is not None:
            _replayable_lint(invocation, args, started_ns)
            return
    from .cli import main as cli_main

    cli_main(args)


def _replayable_lint(invocation: Invocation, args: list[str], started_ns: int) -> None:
    """Replay the memo of an identical run if its inputs are unchanged, else run and record."""
    from .lint import replay

    code = replay.replay(invocation)
    if code is not None:
        raise SystemExit(code)
    from .lint import memo  # only now: a replay needs nothing of it

    memo.start_recording(invocation, started_ns)
    try:
        from .cli import main as cli_main

        cli_main(args)
    finally:
        memo.stop_recording()


if __name__ == "__main__":  # pragma: no cover
    main()
