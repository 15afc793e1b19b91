"""Progress display: a tqdm bar on a terminal, a plain line now and then anywhere else.

Off a terminal (a log file, a pipe, CI) a bar's redraws pile up as kilobytes of
carriage returns; ``progress_bar`` then gives a ``LineProgress``, which prints
one ordinary line every ``LINE_INTERVAL`` seconds and one at the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm.auto import tqdm

LINE_INTERVAL = float(os.environ.get("SCRATCHNET_PROGRESS_INTERVAL", "30"))
"""Seconds between two plain progress lines off a terminal ($SCRATCHNET_PROGRESS_INTERVAL)."""


class LineProgress:
    """The part of tqdm's interface the bars of scratchnet use, printing ``desc: 12.0/270 training (4 %), …``."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: float | None = None,
        initial: float = 0,
        desc: str = "",
        unit: str = "it",
        unit_scale: float = 1.0,
        interval: float | None = None,
        file: TextIO | None = None,
        silent: bool = False,
        **_: Any,
    ) -> None:
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n = self.initial = initial
        self.desc, self.unit, self.scale = desc, unit, float(unit_scale)
        self.interval = float("inf") if silent else LINE_INTERVAL if interval is None else interval
        self.silent = silent
        self.file = file
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _line(self) -> None:
        elapsed = time.monotonic() - self.start
        done = self.n * self.scale
        text = f"{self.desc}: {_number(done)}"
        if self.total:
            total = self.total * self.scale
            text += f"/{_number(total)} {self.unit} ({100 * self.n / self.total:.0f} %)"
            rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0
            if rate > 0:
                text += f", {elapsed:.0f} s elapsed, about {(self.total - self.n) / rate:.0f} s left"
        else:
            text += f" {self.unit}, {elapsed:.0f} s elapsed"
        print(text + (f"; {self.postfix}" if self.postfix else ""), file=self.file or sys.stderr, flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n > self.initial and not self.silent:
                self._line()


def _number(value: float) -> str:
    """``12``, ``12.5``: at most one decimal."""
    return f"{value:.1f}".removesuffix(".0")


def on_terminal(file: TextIO | None = None) -> bool:
    """Is the bar's stream (stderr) a terminal?"""
    stream = file or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> Any:
    """A tqdm bar on a terminal, else a ``LineProgress`` (same arguments; tqdm's display options are ignored)."""
    if kwargs.pop("disable", False):  # no display at all
        return LineProgress(iterable, **kwargs, silent=True)
    if on_terminal(kwargs.get("file")):
        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, **kwargs)
