"""Balloon-Windkessel BOLD: neurolib 0.6.2 fixture, coarse internal step, canonical shape, no state carry-over."""

from pathlib import Path

import numpy as np

from brainsweep.models import HopfModel, simulate_bold

DATA = Path(__file__).parent / "data"


def fixture_input(t_ms):
    z = np.empty((2, t_ms.size))
    z[0] = (t_ms >= 1000.0).astype(float)
    z[1] = 0.5 + 0.5 * np.sin(2 * np.pi * 0.05e-3 * t_ms)
    return z


def test_matches_neurolib_bold_integrator():
    f = np.load(DATA / "engine_neurolib_bold.npz")
    t = np.arange(1, 400_001) * 0.1
    bold, _ = simulate_bold(fixture_input(t), 0.1)
    assert np.max(np.abs(bold[:, 999::1000] - f["BOLD"])) < 1e-12
    # the coarse 1 ms step (input averaged over each ms) stays within 0.05 % of the signal range
    coarse, _ = simulate_bold(fixture_input(t).reshape(2, -1, 10).mean(axis=2), 1.0)
    assert np.max(np.abs(coarse[:, 99::100] - f["BOLD"])) < 5e-4 * np.ptp(f["BOLD"])


def test_short_stimulus_gives_canonical_response():
    t = np.arange(1, 30_001) * 1.0  # ms
    z = ((t > 1000) & (t <= 2000)).astype(float)[None]  # 1 s block at 1 s
    b = simulate_bold(z, 1.0)[0][0]
    t_peak = t[b.argmax()] - 1000.0
    assert 3000 < t_peak < 6000  # peak a few seconds after onset
    assert b.max() > 0.01
    after = t > t[b.argmax()]
    assert b[after].min() < -0.1 * b.max()  # post-stimulus undershoot
    assert 8000 < t[after][b[after].argmin()] - 1000 < 14000
    assert abs(b[-1]) < 0.2 * abs(b[after].min())  # returns towards baseline


def test_kernel_bold_matches_fine_step_reference():
    m = HopfModel()
    m.params.update(sigma_ou=0.05)
    fine = m.run(duration=20_000, bold=True, tr=500, bold_dt=0.1, seed=5)
    ref, _ = simulate_bold(4 * (fine["x"] + 1), 0.1)  # neurolib's Hopf BOLD drive (x + 1) * 4
    assert np.max(np.abs(fine["BOLD"] - ref[:, 4999::5000])) < 1e-12
    coarse = m.run(duration=20_000, bold=True, tr=500, seed=5)  # default bold_dt = 1 ms
    assert np.array_equal(coarse["x"], fine["x"])
    assert np.max(np.abs(coarse["BOLD"] - ref[:, 4999::5000])) < 1e-3 * np.ptp(ref)
    assert np.allclose(coarse["BOLD_t"], np.arange(1, 41) * 500.0)


def test_bold_state_not_carried_over_between_runs():
    m = HopfModel()
    m.params.update(sigma_ou=0.05)
    first = m.run(duration=10_000, bold=True, seed=2)
    m.run(duration=10_000, bold=True, seed=99)  # a different run in between
    again = m.run(duration=10_000, bold=True, seed=2)
    assert np.array_equal(first["BOLD"], again["BOLD"])
    assert np.allclose(first["BOLD_t"], [2000, 4000, 6000, 8000, 10000])
