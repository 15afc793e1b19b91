"""The single-network speed-ups give the same bits as the whole-array NumPy they replace (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.network import draw_dropout_mask_
from scratchnet.optimizers import Adam, _adam_fused

SHAPES = [  # (parameter, step factors): the engine's V1 (per column), a stacked bucket (per network), one array
    ((785, 64), (1, 64)),
    ((3, 50, 10), (3, 1, 1)),
    ((3, 1, 10), (3, 1, 1)),
    ((512,), None),
    ((7, 5), None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "factor_shape"), SHAPES)
def test_adam_kernel_is_bit_identical_to_numpy(dtype, shape, factor_shape):
    rng = np.random.default_rng(3)
    opt = Adam()
    p = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    m = (rng.standard_normal(shape) * 0.1).astype(dtype)
    v = (rng.random(shape) * 0.01).astype(dtype)
    # the hard cases: subnormal moments (a unit that stopped learning), zero and tiny gradients
    tiny = np.finfo(dtype).tiny
    m.ravel()[::3] *= dtype(tiny * 5)  # subnormal now or within a few steps
    g.ravel()[::5] = 0
    g.ravel()[1::7] *= dtype(1e-21)
    factors = opt.step_factors(0.001, 7)
    if factor_shape is not None:
        factors = tuple((rng.random(factor_shape) * f).astype(dtype) for f in factors)
    want = [a.copy() for a in (p, m, v)]
    got = [a.copy() for a in (p, m, v)]
    for _ in range(40):
        opt.apply_numpy(want[0], g.copy(), want[1:], factors, np.empty_like(p))
        assert _adam_fused(got[0], g.copy(), got[1], got[2], factors, opt.beta1, opt.beta2)
    assert np.count_nonzero((m != 0) & (np.abs(m) < tiny)) > 0
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()


def test_adam_falls_back_to_numpy_for_strided_arrays():
    p = np.ones((4, 6), np.float32)[:, ::2]
    assert not _adam_fused(p, p.copy(), np.zeros_like(p), np.zeros_like(p), (0.1, 1e-8), 0.9, 0.999)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_into_a_scratch_buffer_is_the_same_draw(dtype):
    a, b = np.empty((64, 30), dtype), np.empty((64, 30), dtype)
    r1, r2 = np.random.default_rng([1, 2, 1]), np.random.default_rng([1, 2, 1])
    scratch = np.empty((64, 30))
    for _ in range(3):
        draw_dropout_mask_(a, r1, 0.2)
        draw_dropout_mask_(b, r2, 0.2, scratch)
        assert a.tobytes() == b.tobytes()
    assert 0.7 < np.mean(a > 0) < 0.9
