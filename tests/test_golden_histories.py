"""The same seeds give the same numbers: short runs recorded in tests/golden/histories.json.

The record was made before the architecture refactoring (one kernel per formula
for the reference network and the engine) by ``tests/golden/make_golden.py``;
every run here is recomputed and compared — to the last bit on a machine of the record
(``make_golden.machine()``: OpenBLAS's kernel and NumPy's AVX-512 dispatch; the record holds
one set per machine), else to ``RTOL_OTHER_CPU``: SIMD ``exp``/``log`` and BLAS kernels round
differently on other CPUs (seen: 3e-16 relative in float64, 4e-9 in float32 runs between
an AMD Zen and an AVX-512 Xeon). A change that is meant to alter the numbers must say so and
rewrite the record on purpose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(HERE))

import make_golden  # noqa: E402

RECORDS = json.loads((HERE / "histories.json").read_text())
MACHINE = make_golden.machine()
RECORD = RECORDS.get(MACHINE) or next(iter(RECORDS.values()))
RTOL_OTHER_CPU = 1e-6
RTOL = 0.0 if MACHINE in RECORDS else RTOL_OTHER_CPU
"""0 (the last bit) on a recorded machine; a float32 rounding's worth elsewhere."""


def close(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    if RTOL == 0:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", sorted(make_golden.TRAIN_RUNS))
def test_train_histories_are_the_recorded_ones(name):
    got = make_golden.train_history(make_golden.TRAIN_RUNS[name])
    want = RECORD["train"][name]
    for metric in make_golden.METRICS:
        close(got["history"][metric], want["history"][metric])
    close(got["parameter_sums"], want["parameter_sums"])


@pytest.mark.parametrize("name", sorted(make_golden.TUNE_RUNS))
def test_tune_histories_are_the_recorded_ones(name):
    got = make_golden.tune_history(make_golden.TUNE_RUNS[name])
    want = RECORD["tune"][name]
    assert sorted(got) == sorted(want)
    for key in want:
        assert sorted(got[key]) == sorted(want[key])
        for epoch in want[key]:
            close(got[key][epoch], want[key][epoch])


def test_this_machine_is_compared_to_the_last_bit_when_it_is_recorded():
    if MACHINE not in RECORDS:
        pytest.skip(f"no record for {MACHINE!r} (compared to rtol {RTOL_OTHER_CPU}); make_golden.py adds one")
    assert RTOL == 0.0
