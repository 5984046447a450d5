"""The ``crisiseval`` command line. Every command works on a run directory (default: ``.``).

Commands live in modules by concern (``study``: run, sample, the stages, estimate, demo;
``store_cmds``: status, stratify, lowest-sample, mock-server; the analysis and report commands)
and each module registers its own. :func:`main` owns the exit codes:

* 0 — done (every cell of the study finished);
* 2 — a user error (bad file, option, config, store): one line on stderr;
* 3 — the run finished but cells failed (their kinds, and whether a re-run can help, printed);
* 130 — interrupted (Ctrl-C or SIGTERM): finished calls are saved, run again to resume.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Annotated

import click
import typer

from crisiseval import __version__
from crisiseval.cli import annotate as annotate_cmds
from crisiseval.cli import compare as compare_cmds
from crisiseval.cli import conversations as conversation_cmds
from crisiseval.cli import gate as gate_cmds
from crisiseval.cli import inspect_cmd as inspect_cmds
from crisiseval.cli import probes as probe_cmds
from crisiseval.cli import store_cmds, study
from crisiseval.cli import triage as triage_cmds
from crisiseval.cli._common import Settings, err, out
from crisiseval.errors import CrisisEvalError

app = typer.Typer(
    name="crisiseval",
    help="Measure how safely large language models handle mental-health crises.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

INTERRUPTED = (
    "interrupted: finished calls are saved in the store; run the same command again to finish "
    "the rest"
)


def _version(value: bool) -> None:
    if value:
        out.print(f"crisiseval {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log crisiseval's retries and fallbacks.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or progress lines.")
    ] = False,
) -> None:
    Settings.quiet = quiet
    # -v is about crisiseval: its own loggers go to DEBUG; the HTTP client libraries (which
    # would log every request, and could log bodies) stay at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)  # even where a handler was set up already
    logging.getLogger("crisiseval").setLevel(logging.DEBUG if verbose else logging.WARNING)


study.register(app)
store_cmds.register(app)
gate_cmds.register(app)
compare_cmds.register(app)
probe_cmds.register(app)
annotate_cmds.register(app)
conversation_cmds.register(app)
inspect_cmds.register(app)
triage_cmds.register(app)


def _register_analysis() -> None:
    from crisiseval.cli.analysis import register

    register(app)


_register_analysis()


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        code = app(standalone_mode=False)
    except CrisisEvalError as exc:
        err.print(f"error: {exc}", style="bold red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort):
        err.print(INTERRUPTED, style="yellow", markup=False, soft_wrap=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    if code == 130:  # typer turns KeyboardInterrupt into a silent exit 130: say how to resume
        err.print(INTERRUPTED, style="yellow", markup=False, soft_wrap=True)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
