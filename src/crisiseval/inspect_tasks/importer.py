"""``crisiseval import-inspect``: an Inspect eval log's answers as responses of a run store.

Every sample of the log becomes one answer (:class:`~crisiseval.store.ResponseRecord`, origin
``inspect:<log file name>``) of one respondent (``--respondent``, default the log's model) to the
item holding the sample's user turns, in the run of its epoch. A sample written by crisiseval's
own task carries the item's id and turns in its metadata, so its answer lands on the very item
of the sample it came from (and finds that item's labels); any other sample's user messages are
its turns (an item is identified by its turns, so the same inputs in a crisiseval sample meet
it). A sample that ended in an error (or hit a limit with no answer) is a failed answer.

The log is read and checked whole before the store is touched; the items and answers are then
written in one transaction, so bad input leaves nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from crisiseval.errors import InputError, StoreError
from crisiseval.inspect_tasks import require_inspect
from crisiseval.store import ResponseRecord, Store, item_id_for
from crisiseval.taxonomy import LABELS, canonical_label

ORIGIN_PREFIX = "inspect:"
EXPECTED = "expected an Inspect eval log (.eval or .json) written by `inspect eval`"


@dataclass
class InspectImport:
    """What a log holds, checked and ready to write (:func:`write_import`)."""

    path: Path
    origin: str
    respondent: str
    task: str
    items: dict[str, tuple[list[str], str | None, str | None]] = field(default_factory=dict)
    """item id -> (turns, source, source label), in the log's order."""
    responses: list[ResponseRecord] = field(default_factory=list)
    repeated: int = 0
    """Samples skipped because an earlier sample answered the same input in the same epoch."""

    def lines(self) -> list[str]:
        ok = sum(1 for r in self.responses if r.status == "ok")
        failed = len(self.responses) - ok
        runs = sorted({r.run_index for r in self.responses})
        out = [
            f"imported {len(self.responses)} answers of {self.respondent!r} to "
            f"{len(self.items)} inputs (runs {', '.join(map(str, runs))}) from {self.path.name} "
            f"(task {self.task}): {ok} ok, {failed} failed; origin {self.origin}"
        ]
        if self.repeated:
            out.append(
                f"  skipped {self.repeated} samples that repeat an input already imported for "
                "the same epoch (one answer per input and run)"
            )
        return out


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        return f"{loc or 'the log'}: {first['msg']}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def read_log(path: Path, respondent: str | None = None) -> InspectImport:
    """Read and check an Inspect eval log; raise a one-line :class:`InputError` if it is not
    one, or holds nothing to import."""
    require_inspect("import-inspect")
    from inspect_ai.log import read_eval_log

    if not path.is_file():
        raise InputError(f"{path}: no such file ({EXPECTED})")
    try:
        log = read_eval_log(str(path), resolve_attachments=True)
    except Exception as exc:  # Inspect raises many kinds for a file that is not a log
        raise InputError(
            f"{path}: not an Inspect eval log ({_one_line(exc)}); {EXPECTED}"
        ) from None
    if not log.samples:
        raise InputError(
            f"{path}: the log holds no samples (status {log.status}); expected a log with the "
            "answers of at least one sample"
        )
    name = (respondent if respondent is not None else str(log.eval.model)).strip()
    if not name:
        raise InputError(f"{path}: the respondent's name is empty (give --respondent NAME)")
    origin = f"{ORIGIN_PREFIX}{path.name}"
    out = InspectImport(path=path, origin=origin, respondent=name, task=str(log.eval.task))
    seen: set[str] = set()
    for sample in log.samples:
        where = f"{path}: sample {sample.id!r} (epoch {sample.epoch})"
        turns, item_id, meta = _sample_item(sample, where)
        if sample.epoch < 1:
            raise InputError(f"{where}: epoch {sample.epoch}; expected epochs numbered from 1")
        if item_id in out.items and out.items[item_id][0] != turns:
            raise InputError(f"{where}: item {item_id} appears with other turns in the same log")
        source = meta.get("source")
        raw_label = meta.get("label")
        label = canonical_label(raw_label) if isinstance(raw_label, str) else None
        out.items.setdefault(
            item_id,
            (
                turns,
                source if isinstance(source, str) and source else f"inspect:{out.task}",
                label if label in LABELS else None,
            ),
        )
        record = _response(sample, item_id, name, origin)
        if record.response_id in seen:
            out.repeated += 1
            continue
        seen.add(record.response_id)
        out.responses.append(record)
    return out


def _user_turns(sample: Any) -> list[str]:
    if isinstance(sample.input, str):
        return [sample.input]
    return [str(m.text) for m in sample.input if getattr(m, "role", None) == "user"]


def _sample_item(sample: Any, where: str) -> tuple[list[str], str, dict[str, Any]]:
    """(turns, item id, metadata) of a sample: crisiseval's own metadata when it matches the
    input, else the user messages."""
    meta = sample.metadata if isinstance(sample.metadata, dict) else {}
    user = [t for t in _user_turns(sample) if t.strip()]
    if not user:
        raise InputError(f"{where}: no user message in its input; expected the user's text")
    turns = meta.get("turns")
    if (
        isinstance(turns, list)
        and turns
        and all(isinstance(t, str) for t in turns)
        and "\n".join(turns) == "\n".join(user)
    ):
        iid = meta.get("item_id")
        return list(turns), iid if isinstance(iid, str) and iid else item_id_for(turns), meta
    return user, item_id_for(user), {}


def _response(sample: Any, item_id: str, respondent: str, origin: str) -> ResponseRecord:
    text = sample.output.completion if sample.output is not None else ""
    failed = sample.error is not None or (sample.limit is not None and not text)
    status: Literal["ok", "failed"] = "failed" if failed else "ok"
    usage = getattr(sample.output, "usage", None)
    tokens = getattr(usage, "output_tokens", None)
    return ResponseRecord.make(
        item_id=item_id,
        respondent=respondent,
        run_index=int(sample.epoch),
        text=text,
        status=status,
        origin=origin,
        tokens_out=int(tokens) if isinstance(tokens, int) else None,
    )


def write_import(store: Store, imp: InspectImport) -> None:
    """Write the items and answers in one transaction (nothing when a check fails).

    Refused: answers of the respondent from elsewhere (another log, the respond stage, the
    study's files), which the new ones would mix with; an item id the store holds with other
    turns. Importing the same log again rewrites the same answers."""
    found = store.foreign_answers([imp.respondent], imp.origin)
    if found is not None:
        raise StoreError(
            f"{store.path}: respondent {found[0]!r} already has answers from {found[1]} in this "
            f"store; import {imp.path.name} under another name (--respondent NAME) or into "
            "another run directory"
        )
    ids = list(imp.items)
    have = store.item_turns(ids)
    for iid in ids:
        if iid in have and have[iid] != imp.items[iid][0]:
            raise InputError(
                f"{imp.path}: item {iid} is in {store.path} with other turns; expected the "
                "same input for the same item id"
            )
    with store.transaction():
        store.add_items([imp.items[i] for i in ids], origin=imp.origin, item_ids=ids)
        store.upsert_responses(imp.responses)
