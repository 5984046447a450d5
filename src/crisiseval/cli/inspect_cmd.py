"""``import-inspect``: bring an Inspect eval log's answers into a run store (the ``inspect``
extra), so that ``crisiseval run`` (classify and judge) and ``report`` judge and report them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crisiseval.cli._common import RunDir, RunDirOpt, log


def import_inspect(
    log_file: Annotated[
        Path, typer.Argument(help="An Inspect eval log (.eval or .json) written by `inspect eval`.")
    ],
    run_dir: RunDirOpt = Path("."),
    respondent: Annotated[
        str | None,
        typer.Option(
            "--respondent",
            help="The respondent the answers belong to (default: the log's model, e.g. "
            "openai/gpt-4o-mini).",
        ),
    ] = None,
) -> None:
    """Import the answers of an Inspect eval log as responses (one per sample and epoch).

    Samples of crisiseval's own Inspect task keep their item (and so its labels); other samples'
    user messages become the item's turns. Re-importing the same log rewrites the same answers;
    a respondent with answers from elsewhere is refused (choose --respondent)."""
    from crisiseval.inspect_tasks.importer import read_log, write_import

    # The whole log is read and checked before the store is opened: a bad log writes nothing.
    imported = read_log(log_file, respondent)
    with RunDir(run_dir).writer() as store:
        write_import(store, imported)
        path = store.path
    for line in imported.lines():
        log(line)
    log(f"store: {path}")
    log(
        "judge them: crisiseval run STUDY.yaml -d RUN with a sample: holding these inputs and "
        "classify: and judge: sections but no respond: (docs/inspect.md)"
    )


def register(app: typer.Typer) -> None:
    app.command("import-inspect")(import_inspect)
