"""The explicit-SIMD batched gather against a plain reference of the single-run summation order."""

import numpy as np
import pytest
from numba import njit

from brainsweep.models._simd import gather4


@njit
def _call(buf, c, offsets, w, k0, k1, up0, uB, ub0):
    return gather4(buf, c, offsets, w, np.uint64(k0), np.uint64(k1), np.uint64(up0), np.uint64(uB), np.uint64(ub0))


def _reference(buf, c, offsets, w, k0, k1, up0, B, b0):
    """Connection k0 + 4n + m into partial m, partials added as (p0 + p1) + (p2 + p3), run by run."""
    out = []
    for r in range(4):
        part = [0.0, 0.0, 0.0, 0.0]
        for k in range(k0, k1):
            part[(k - k0) % 4] += w[k] * buf[c, (int(offsets[k]) + up0) * B + b0 + r]
        out.append((part[0] + part[1]) + (part[2] + part[3]))
    return out


@pytest.mark.parametrize("n_conn", range(0, 11))
def test_gather4_is_the_single_run_sum_lane_by_lane(n_conn):
    rng = np.random.default_rng(n_conn)
    B, slots = 8, 40
    buf = rng.normal(size=(2, slots * B)) * 10.0 ** rng.integers(-8, 8, size=(2, slots * B))
    offsets = rng.integers(0, slots - 5, size=n_conn + 3).astype(np.uint64)
    w = rng.random(n_conn + 3)
    k0, k1 = 2, 2 + n_conn  # a row that does not start at 0
    for c, up0, b0 in [(0, 0, 0), (1, 3, 4), (1, 5, 0)]:
        got = _call(buf, c, offsets, w, k0, k1, up0, B, b0)
        want = _reference(buf, c, offsets, w, k0, k1, up0, B, b0)
        assert list(got) == want  # bit-identical, not just close
        for r in range(4):  # and it is the sum: error within rounding of the terms' magnitudes
            terms = np.array([w[k] * buf[c, (int(offsets[k]) + up0) * B + b0 + r] for k in range(k0, k1)])
            assert abs(got[r] - terms.sum()) <= 1e-14 * np.abs(terms).sum()


@pytest.mark.parametrize("change, message", [
    (dict(buf=lambda b: np.asfortranarray(b)), "buf must be a 2-D C-contiguous float64 array"),
    (dict(buf=lambda b: b.astype(np.float32)), "buf must be a 2-D C-contiguous float64 array"),
    (dict(offsets=lambda o: o.astype(np.int64)), "offsets must be a 1-D contiguous uint64 array"),
    (dict(w=lambda w: w[::2]), "w must be a 1-D contiguous float64 array"),
])
def test_gather4_refuses_other_layouts_and_types(change, message):
    from numba.core.errors import TypingError

    buf, offsets, w = np.zeros((2, 64)), np.zeros(4, dtype=np.uint64), np.ones(8)
    args = dict(buf=buf, offsets=offsets, w=w)
    for name, f in change.items():
        args[name] = f(args[name])

    @njit
    def call(buf, offsets, w):
        return gather4(buf, 0, offsets, w, np.uint64(0), np.uint64(4), np.uint64(0), np.uint64(4), np.uint64(0))

    with pytest.raises(TypingError, match=message):
        call(args["buf"], args["offsets"], args["w"])


def test_gather4_refuses_signed_indices():
    from numba.core.errors import TypingError

    @njit
    def call(buf, offsets, w):
        return gather4(buf, 0, offsets, w, 0, np.uint64(4), np.uint64(0), np.uint64(4), np.uint64(0))

    with pytest.raises(TypingError, match="k0 must be uint64, got int64"):
        call(np.zeros((2, 64)), np.zeros(4, dtype=np.uint64), np.ones(8))
