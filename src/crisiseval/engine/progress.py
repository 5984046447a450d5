"""Progress of a long command, on a terminal or not.

* ``bar``: a rich progress bar (a terminal): calls done, rate, tokens, cost, time left.
* ``lines``: one plain status line at least every ``interval`` seconds and at the end (logs,
  ``| tee``, ``nohup``, ``> log.txt``): stage, done/total, failed, calls/s, ETA, tokens, $.
* ``off``: nothing (``--quiet``).

:func:`progress_mode` picks ``bar`` for a terminal and ``lines`` otherwise. The engine reports
model calls through :class:`CallProgress`; commands with phases (import, report) use
:func:`busy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

ProgressMode = Literal["bar", "lines", "off"]
LINE_INTERVAL_S = 10.0


def progress_mode(console: Console, *, quiet: bool = False) -> ProgressMode:
    if quiet:
        return "off"
    return "bar" if console.is_terminal else "lines"


class _RateColumn(ProgressColumn):
    """Calls per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /s" if speed is None else f"{speed:.1f}/s", style="magenta")


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class CallProgress:
    """Progress of one batch of model calls (one stage)."""

    def __init__(
        self,
        mode: ProgressMode,
        console: Console,
        description: str,
        total: int,
        *,
        interval: float | None = None,
    ) -> None:
        self.mode = mode
        self.console = console
        self.description = description
        self.total = total
        self.interval = LINE_INTERVAL_S if interval is None else interval
        self.done = 0
        self.failed = 0
        self.tokens = "0/0"
        self.cost = ""
        self.flight = ""
        self._t0 = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._ticker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._t0 = time.monotonic()
        if self.mode == "bar":
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _RateColumn(),
                TextColumn("[cyan]{task.fields[tokens]} tok"),
                TextColumn("{task.fields[cost]}"),
                TextColumn("{task.fields[flight]}"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._task = self._bar.add_task(
                self.description, total=self.total, tokens="0/0", cost="", flight=""
            )
            self._bar.start()
        elif self.mode == "lines":
            self._line()
            # A line at least every interval, even while every call in flight is slow.
            self._ticker = asyncio.get_running_loop().create_task(self._tick_lines())

    async def _tick_lines(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._line()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "lines":
            self._line(final=True)

    # ------------------------------------------------------------------ updates
    def advance(self, *, failed: bool, tokens: str, cost: str, flight: str = "") -> None:
        """One call finished; ``flight``: the calls allowed in flight now (e.g. ``in flight
        <= 32``), shown when the adaptive limit has backed off."""
        self.done += 1
        self.failed += int(failed)
        self.tokens, self.cost, self.flight = tokens, cost, flight
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, tokens=tokens, cost=cost, flight=flight)

    def line(self) -> str:
        elapsed = max(1e-9, time.monotonic() - self._t0)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        parts = [
            f"{self.description}: {self.done}/{self.total} calls",
            f"{self.failed} failed",
            f"{rate:.1f}/s",
            f"ETA {_eta(left)}",
            f"tokens {self.tokens}",
        ]
        if self.cost:
            parts.append(self.cost)
        if self.flight:
            parts.append(self.flight)
        return ", ".join(parts)

    def _line(self, *, final: bool = False) -> None:
        text = self.line() + (f" (done in {_eta(time.monotonic() - self._t0)})" if final else "")
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def busy(
    mode: ProgressMode, console: Console, description: str, *, interval: float | None = None
) -> Iterator[None]:
    """A long synchronous step (an import, a report): a spinner on a terminal; otherwise a line
    at the start, one at least every ``interval`` seconds while it runs, and one at the end."""
    if mode == "off":
        yield
        return
    if mode == "bar":
        with console.status(description):
            yield
        return
    every = LINE_INTERVAL_S if interval is None else interval
    t0 = time.monotonic()
    stop = threading.Event()

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def tick() -> None:
        while not stop.wait(every):
            say(f"{description}: still working ({_eta(time.monotonic() - t0)})")

    say(f"{description}: started")
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    say(f"{description}: done in {_eta(time.monotonic() - t0)}")


class BatchProgress(CallProgress):
    """The calls' progress plus the state of each open batch: ``batch ID in_progress 40/100``.

    Lines mode prints a line whenever a batch changes state (and every interval as usual); the
    bar shows the states in its description.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = self.description
        self.states: dict[str, str] = {}

    def batch_state(self, batch_id: str, state: str | None) -> None:
        """A batch's new state (None: it is over, stop showing it)."""
        if state is None:
            if self.states.pop(batch_id, None) is None:
                return
        elif self.states.get(batch_id) == state:
            return
        else:
            self.states[batch_id] = state
        if self.mode == "lines" and state is not None:
            self._line()
        elif self._bar is not None and self._task is not None:
            shown = "; ".join(f"{b} {s}" for b, s in self.states.items())
            title = f"{self.title} (batch {shown})" if shown else self.title
            self._bar.update(self._task, description=escape(title))  # the column reads markup

    def line(self) -> str:
        text = super().line()
        if self.states:
            text += ", " + ", ".join(f"batch {b} {s}" for b, s in self.states.items())
        return text
