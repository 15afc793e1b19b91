"""Peak memory of `scratchnet predict` on a large array (issue 14: under 500 MB for 10 M rows).

    python benchmarks/bench_predict_memory.py                  # 10,000,000 × 64 uint8 rows (640 MB .npy)
    python benchmarks/bench_predict_memory.py --rows 1000000   # a quicker look
    python benchmarks/bench_predict_memory.py --mode jsonl     # also: table (default), json, csv, npy

Writes a ``.npy`` of raw digits pixels (0…16, uint8) and a small digits model
to a temporary folder, runs ``scratchnet predict MODEL X.npy`` under
``/usr/bin/time -v`` with its output sent to /dev/null (or to a file for
``--mode csv/npy``), and prints the command, wall time, CPU time and peak RSS.
Run it with PYTHONPATH=src to measure this checkout.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def _write_rows(path: Path, rows: int, features: int, chunk: int = 1_000_000) -> None:
    """A (rows, features) uint8 .npy written chunk by chunk (the writer stays small too)."""
    rng = np.random.default_rng(0)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, features))
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        out[start : start + n] = rng.integers(0, 17, size=(n, features), dtype=np.uint8)
        out.flush()
    del out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--mode", choices=["table", "json", "jsonl", "csv", "npy"], default="table")
    args = parser.parse_args()
    env = {**os.environ, "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory(prefix="scratchnet-bench-") as tmp:
        tmp = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "scratchnet", "train", "--dataset", "digits", "--epochs", "2", "--quiet",
             "--out", str(tmp / "run")],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        data = tmp / "X.npy"
        _write_rows(data, args.rows, 64)
        command = [sys.executable, "-m", "scratchnet", "predict", str(tmp / "run" / "model.npz"), str(data)]
        if args.mode in ("json", "jsonl"):
            command.insert(4, f"--{args.mode}")
        elif args.mode in ("csv", "npy"):
            command[4:4] = ["--output", str(tmp / f"out.{args.mode}")]
        timed = ["/usr/bin/time", "-v", *command]
        done = subprocess.run(timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        report = done.stderr
        if done.returncode != 0:
            sys.exit(f"predict failed:\n{report}")
        fields = {
            key: re.search(rf"{re.escape(key)}: (.*)", report).group(1).strip()
            for key in ("Maximum resident set size (kbytes)", "Elapsed (wall clock) time (h:mm:ss or m:ss)",
                        "User time (seconds)", "System time (seconds)", "Percent of CPU this job got")
        }  # fmt: skip
        peak_mb = int(fields["Maximum resident set size (kbytes)"]) / 1024
        print(f"command: scratchnet predict model.npz X.npy ({args.mode}); X: {args.rows:,} × 64 uint8, "
              f"{data.stat().st_size / 2**20:.0f} MiB on disk")  # fmt: skip
        print(f"peak RSS: {peak_mb:.0f} MiB")
        print(f"wall: {fields['Elapsed (wall clock) time (h:mm:ss or m:ss)']}, user {fields['User time (seconds)']} s, "
              f"system {fields['System time (seconds)']} s, CPU {fields['Percent of CPU this job got']}")  # fmt: skip
        print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
