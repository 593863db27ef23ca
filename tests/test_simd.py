"""The explicit-SIMD batched gather against a plain reference of the single-run summation order,
and the kernel's stack scratch arrays."""

import numpy as np
import pytest
from numba import njit

from brainsweep.models._simd import gather4, gather8, stack_zeros


@njit
def _call4(buf, c, offsets, w, k0, k1, up0, uB, ub0):
    return gather4(buf, c, offsets, w, np.uint64(k0), np.uint64(k1), np.uint64(up0), np.uint64(uB), np.uint64(ub0))


@njit
def _call8(buf, c, offsets, w, k0, k1, up0, uB, ub0):
    return gather8(buf, c, offsets, w, np.uint64(k0), np.uint64(k1), np.uint64(up0), np.uint64(uB), np.uint64(ub0))


def _reference(buf, c, offsets, w, k0, k1, up0, B, b0, width):
    """Connection k0 + 4n + m into partial m, partials added as (p0 + p1) + (p2 + p3), run by run."""
    out = []
    for r in range(width):
        part = [0.0, 0.0, 0.0, 0.0]
        for k in range(k0, k1):
            part[(k - k0) % 4] += w[k] * buf[c, (int(offsets[k]) + up0) * B + b0 + r]
        out.append((part[0] + part[1]) + (part[2] + part[3]))
    return out


@pytest.mark.parametrize("width, call", [(4, _call4), (8, _call8)], ids=["gather4", "gather8"])
@pytest.mark.parametrize("n_conn", range(0, 11))
def test_gather_is_the_single_run_sum_lane_by_lane(n_conn, width, call):
    rng = np.random.default_rng(n_conn)
    B, slots = 16, 40
    buf = rng.normal(size=(2, slots * B)) * 10.0 ** rng.integers(-8, 8, size=(2, slots * B))
    offsets = rng.integers(0, slots - 5, size=n_conn + 3).astype(np.uint64)
    w = rng.random(n_conn + 3)
    k0, k1 = 2, 2 + n_conn  # a row that does not start at 0
    for c, up0, b0 in [(0, 0, 0), (1, 3, 4), (1, 5, 0), (0, 2, 16 - width)]:
        got = call(buf, c, offsets, w, k0, k1, up0, B, b0)
        want = _reference(buf, c, offsets, w, k0, k1, up0, B, b0, width)
        assert len(got) == width
        assert list(got) == want  # bit-identical, not just close
        for r in range(width):  # and it is the sum: error within rounding of the terms' magnitudes
            terms = np.array([w[k] * buf[c, (int(offsets[k]) + up0) * B + b0 + r] for k in range(k0, k1)])
            assert abs(got[r] - terms.sum()) <= 1e-14 * np.abs(terms).sum()


@pytest.mark.parametrize("change, message", [
    (dict(buf=lambda b: np.asfortranarray(b)), "buf must be a 2-D C-contiguous float64 array"),
    (dict(buf=lambda b: b.astype(np.float32)), "buf must be a 2-D C-contiguous float64 array"),
    (dict(offsets=lambda o: o.astype(np.int64)), "offsets must be a 1-D contiguous uint64 array"),
    (dict(w=lambda w: w[::2]), "w must be a 1-D contiguous float64 array"),
])
@pytest.mark.parametrize("gather", [gather4, gather8], ids=["gather4", "gather8"])
def test_gather_refuses_other_layouts_and_types(change, message, gather):
    from numba.core.errors import TypingError

    buf, offsets, w = np.zeros((2, 64)), np.zeros(4, dtype=np.uint64), np.ones(8)
    args = dict(buf=buf, offsets=offsets, w=w)
    for name, f in change.items():
        args[name] = f(args[name])

    @njit
    def call(buf, offsets, w):
        return gather(buf, 0, offsets, w, np.uint64(0), np.uint64(4), np.uint64(0), np.uint64(8), np.uint64(0))

    with pytest.raises(TypingError, match=message):
        call(args["buf"], args["offsets"], args["w"])


def test_gather4_refuses_signed_indices():
    from numba.core.errors import TypingError

    @njit
    def call(buf, offsets, w):
        return gather4(buf, 0, offsets, w, 0, np.uint64(4), np.uint64(0), np.uint64(4), np.uint64(0))

    with pytest.raises(TypingError, match="k0 must be uint64, got int64"):
        call(np.zeros((2, 64)), np.zeros(4, dtype=np.uint64), np.ones(8))


N_SCRATCH = 3


@njit
def _scratch_sums(x):
    a = stack_zeros(N_SCRATCH)
    zeros_at_start = a[0] == 0.0 and a[1] == 0.0 and a[2] == 0.0
    for j in range(x.shape[0]):
        for k in range(N_SCRATCH):
            a[k] += x[j] * (k + 1)
    return zeros_at_start, a.shape[0], a[0], a[1], a[2]


def test_stack_zeros_is_a_zeroed_array_of_the_literal_length():
    x = np.arange(7.0)
    zeros_at_start, n, *sums = _scratch_sums(x)
    assert zeros_at_start and n == N_SCRATCH
    assert sums == [x.sum() * (k + 1) for k in range(N_SCRATCH)]


def test_stack_zeros_refuses_a_length_known_only_at_run_time():
    from numba.core.errors import TypingError

    @njit
    def call(n):
        return stack_zeros(n)[0]

    with pytest.raises(TypingError, match="n must be a positive integer literal, got int64"):
        call(3)


def test_stack_zeros_refuses_an_empty_array():
    from numba.core.errors import TypingError

    @njit
    def call():
        return stack_zeros(0).shape[0]

    with pytest.raises(TypingError, match=r"n must be a positive integer literal, got Literal\[int\]\(0\)"):
        call()
