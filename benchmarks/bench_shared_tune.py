"""Wall time of one `scratchnet tune` against 2 or 3 processes sharing one store (issue 14, trap 6).

    PYTHONPATH=src python benchmarks/bench_shared_tune.py               # the default digits grid (270 trainings)
    PYTHONPATH=src python benchmarks/bench_shared_tune.py --processes 3 --epochs 50

Runs the grid alone (one process, one worker) into one store, then N processes started together on a new
store (each --workers 1), and prints the wall times, how many trainings each
process ran, and the store's count of rows (every training exactly once).
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path


def _tune(store: Path, epochs: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "scratchnet", "tune", "--dataset", "digits", "--epochs", str(epochs),
            "--store", str(store), "--workers", str(workers), "--no-progress"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=250)
    args = parser.parse_args()
    env = {**os.environ, "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory(prefix="scratchnet-shared-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        alone = subprocess.run(_tune(tmp / "alone.sqlite", args.epochs, 1), env=env,
                               capture_output=True, text=True, check=True)  # fmt: skip
        alone_s = time.perf_counter() - start
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                _tune(tmp / "shared.sqlite", args.epochs, 1),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(args.processes)
        ]
        outs = [p.communicate()[0] for p in procs]
        shared_s = time.perf_counter() - start
        trained = [int(re.search(r"^(\d+) trainings run", o, re.M).group(1)) for o in outs]
        with closing(sqlite3.connect(tmp / "shared.sqlite")) as conn:
            rows, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT hidden_layers || ',' || hidden_nodes || ',' || learning_rate || ','"
                " || fold) FROM runs"
            ).fetchone()
        print(f"alone (1 process, --workers 1): {alone_s:.1f} s wall; {alone.stdout.splitlines()[-1]}")
        print(f"{args.processes} processes (--workers 1 each) on one store: {shared_s:.1f} s wall; trainings run by "
              f"each: {trained} (sum {sum(trained)}); store rows {rows}, distinct {distinct}")  # fmt: skip
        print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
