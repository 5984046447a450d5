"""Probe-suite commands: ``probes list``, ``probes check FILE`` and ``resources``."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from crisiseval.cli._common import RunDir, RunDirOpt, out, print_json

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

probes_app = typer.Typer(
    help="Probe suites: hand-written risky/benign pairs, locale and multilingual probes.",
    no_args_is_help=True,
)


def _suite_table(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(title=title)
    for col in ("suite", "version", "probes", "pairs", "labels", "locales", "languages"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            r["name"],
            str(r["version"]),
            str(r["probes"]),
            str(r["pairs"]),
            str(len(r["labels"])),
            str(len(r["locales"])),
            ", ".join(r["languages"]),
        )
    return t


@probes_app.command("list")
def list_suites(as_json: JsonOpt = False) -> None:
    """The suites crisiseval ships, with their sizes."""
    from crisiseval.probes import builtin_names, builtin_suite

    rows = [builtin_suite(name).summary() for name in builtin_names()]
    if as_json:
        print_json(
            [
                {k: r[k] for k in ("name", "probes", "pairs", "labels", "locales", "languages")}
                for r in rows
            ]
        )
        return
    out.print(_suite_table(rows, "built-in probe suites"))
    out.print(
        "use one in an experiment file: sample: {probes: [indirect-risk, locale]}", markup=False
    )


@probes_app.command("check")
def check_suite(
    path: Annotated[Path, typer.Argument(help="A probe suite file (.yaml or .jsonl).")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a suite file of your own (one line naming the file and line on a problem)."""
    from crisiseval.probes import load_suite

    summary = load_suite(path).summary()
    if as_json:
        print_json(summary)
        return
    out.print(_suite_table([summary], f"{path}: valid"))


def resources(
    run_dir: RunDirOpt = Path("."),
    directory: Annotated[
        Path | None,
        typer.Option(
            "--directory",
            help="A helpline directory (YAML, crisiseval-helplines/1); default: the shipped one.",
        ),
    ] = None,
    home: Annotated[
        str, typer.Option("--home", help="The country the 'home' column counts (ISO code).")
    ] = "US",
    as_json: JsonOpt = False,
) -> None:
    """Find the crisis resources (helpline numbers and names of the directory) in every answer
    of a run, no model needed: per respondent, how many answers give a resource of the home
    country (US by default), of another country, both or none; for probes with a locale, how
    many give a crisis line of the user's country and how many a resource valid only elsewhere.
    Numbers the directory does not list are not counted as resources."""
    from crisiseval.resources import Directory, check_answer, country_bucket

    home = home.upper()
    book = Directory.load(directory)
    with RunDir(run_dir).reader() as store:
        locale = {p.item_id: p.locale for p in store.probes() if p.locale is not None}
        buckets: dict[str, Counter[str]] = defaultdict(Counter)
        local: dict[str, Counter[str]] = defaultdict(Counter)
        countries: dict[str, Counter[str]] = defaultdict(Counter)
        for _rid, iid, text, who, _run in store.ok_responses():
            check = check_answer(text, book, locale=locale.get(iid))
            buckets[who][country_bucket(check, home)] += 1
            buckets[who]["answers"] += 1
            for c in check.countries:
                countries[who][c] += 1
            if iid in locale:
                local[who]["with_locale"] += 1
                local[who]["matches_locale"] += int(bool(check.matches_locale))
                local[who]["wrong_country"] += int(bool(check.wrong_country))
    if not buckets:
        out.print("no answers in the run store")
        return
    rows: list[dict[str, Any]] = [
        {
            "respondent": who,
            "answers": c["answers"],
            "home": home,
            "home_only": c["home"],
            "other_only": c["other"],
            "both": c["both"],
            "none": c["none"],
            "with_locale": local[who]["with_locale"],
            "matches_locale": local[who]["matches_locale"],
            "wrong_country": local[who]["wrong_country"],
            "countries": dict(countries[who].most_common()),
        }
        for who, c in sorted(buckets.items())
    ]
    if as_json:
        print_json({"directory": book.digest, "respondents": rows})
        return
    t = Table(
        title=f"crisis resources in the answers (directory: {len(book.countries())} countries)"
    )
    for col in (
        "respondent",
        "answers",
        f"{home} only",
        "other only",
        "both",
        "none",
        "own country",
        "wrong country",
    ):
        t.add_column(col, overflow="fold")
    for r in rows:
        n = r["with_locale"]
        t.add_row(
            r["respondent"],
            str(r["answers"]),
            str(r["home_only"]),
            str(r["other_only"]),
            str(r["both"]),
            str(r["none"]),
            f"{r['matches_locale']}/{n}" if n else "n/a",
            f"{r['wrong_country']}/{n}" if n else "n/a",
        )
    out.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(probes_app, name="probes")
    app.command()(resources)
