"""Element-wise kernels split over the threads BLAS may use (one big network on a few cores).

The fused engine's matrix products run on BLAS's threads; its element-wise passes (Adam's
sweep, the dropout draws) would run on one core while the others wait. ``train_many``
sets the number of threads for those passes to BLAS's own (``element_threads``), and the
kernels that gain from it hand all parts of their rows but the first to a small pool of
Python threads (``run_parts``): the work is compiled code or NumPy that releases the GIL,
so the parts truly run side by side. Each element is computed by the same operations
whatever the split, so the results are the same bits with 1 thread or more.

The pool's threads sleep between calls (no spinning, unlike an OpenMP pool), so they do
not take turns on the cores with OpenBLAS's own threads, which spin only while a product
runs or has just run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

MIN_PART = 65_536
"""Elements per part at least: below that, handing a part to a thread costs more than it saves."""

_state = {"threads": 1}
_pools: dict[int, ThreadPoolExecutor] = {}


def threads() -> int:
    """How many threads element-wise passes may use now (1 outside ``element_threads``)."""
    return _state["threads"]


@contextlib.contextmanager
def element_threads(n: int) -> Iterator[None]:
    """Let element-wise passes use ``n`` threads (capped at the CPUs this process may run on) inside the block."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    before = _state["threads"]
    _state["threads"] = max(1, min(int(n), cpus))
    try:
        yield
    finally:
        _state["threads"] = before


def parts(n: int, size: int) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges splitting ``n`` rows of ``size`` elements each over ``threads()`` (at most),
    each part at least ``MIN_PART`` elements (one part when the work is small)."""
    k = max(1, min(threads(), n, (n * size) // MIN_PART))
    bounds = [round(i * n / k) for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]


def run_parts(fn: Callable[..., object], args: Sequence[tuple]) -> None:
    """``fn(*a)`` for every ``a`` of ``args``: the first in this thread, the others on the pool, side by side.

    ``fn`` must release the GIL for the parts to overlap (a ``nogil`` Numba kernel, a NumPy call on
    large arrays); exceptions of any part are raised here after all parts have ended.
    """
    if len(args) == 1:
        fn(*args[0])
        return
    pool = _pools.get(len(args) - 1)
    if pool is None:
        pool = _pools[len(args) - 1] = ThreadPoolExecutor(len(args) - 1, thread_name_prefix="scratchnet-elementwise")
    futures = [pool.submit(fn, *a) for a in args[1:]]
    try:
        fn(*args[0])
    finally:
        for future in futures:
            future.result()
