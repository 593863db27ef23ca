"""Dipole smoothing, resampling, RMSE and correlation loss against direct computations."""

from pathlib import Path

import numpy as np
import pytest

from brainsweep import evaluation as ev

MEASURED = Path(__file__).resolve().parents[2] / "shared" / "data" / "yes_trial_S1_ERP_all_avg.txt"


def _direct_hamming_smooth(x, winsz):
    """Independent reference: explicit sum over the window, zero outside the signal, centred as
    numpy's 'same' mode (output i = full-convolution index i + (winsz - 1) // 2)."""
    n = np.arange(winsz)
    w = 0.54 - 0.46 * np.cos(2 * np.pi * n / (winsz - 1))  # Hamming window formula
    w /= w.sum()
    out = np.zeros_like(x)
    shift = (winsz - 1) // 2
    for i in range(x.size):
        k = i + shift
        for j in range(winsz):
            if 0 <= k - j < x.size:
                out[i] += w[j] * x[k - j]
    return out


@pytest.mark.parametrize("window_ms, dt, winsz", [(30.0, 0.5, 60), (5.0, 1.0, 5), (2.2, 0.4, 6)])
def test_smooth_matches_direct_hamming_convolution(window_ms, dt, winsz):
    x = np.random.default_rng(0).standard_normal(150)
    np.testing.assert_allclose(ev.smooth_dipole(x, window_ms, dt), _direct_hamming_smooth(x, winsz), atol=1e-13)


def test_smooth_edge_cases():
    x = np.random.default_rng(1).standard_normal((2, 50))
    np.testing.assert_array_equal(ev.smooth_dipole(x, 0.0, 0.5), x)
    out = ev.smooth_dipole(x, 4.0, 0.5)
    np.testing.assert_allclose(out[1], ev.smooth_dipole(x[1], 4.0, 0.5))
    # a constant is preserved away from the (zero-padded) edges
    c = ev.smooth_dipole(np.full(100, 2.0), 10.0, 1.0)
    np.testing.assert_allclose(c[10:-10], 2.0)
    with pytest.raises(ValueError, match="longer than the dipole"):
        ev.smooth_dipole(x, 30.0, 0.5)
    with pytest.raises(ValueError, match="window_ms"):
        ev.smooth_dipole(x, -1.0, 0.5)


def test_identical_offset_and_scaled_copies():
    t = np.linspace(0, 170, 103)
    target = 20 * np.sin(2 * np.pi * t / 80.0)
    assert ev.dipole_rmse(t, target, t, target) == 0.0
    assert ev.dipole_rmse(t, target + 1.5, t, target) == pytest.approx(1.5, abs=1e-12)
    assert ev.dipole_rmse(t, target / 3000.0, t, target, scale=3000.0) == pytest.approx(0.0, abs=1e-12)
    # the offset only inside [tstart, tstop] matters
    sim = target + np.where((t >= 50) & (t <= 100), 2.0, 0.0)
    assert ev.dipole_rmse(t, sim, t, target, tstart=50, tstop=100) == pytest.approx(2.0)
    assert ev.dipole_rmse(t, sim, t, target, tstart=110) == 0.0
    assert ev.dipole_correlation_loss(t, target, t, target) == pytest.approx(0.0, abs=1e-14)
    assert ev.dipole_correlation_loss(t, -target, t, target) == pytest.approx(2.0, abs=1e-14)
    assert ev.dipole_correlation_loss(t, 5 * target + 3, t, target) == pytest.approx(0.0, abs=1e-14)


def test_time_shifted_sinusoid_on_a_finer_grid_gives_analytic_rmse():
    amp, period, phase = 10.0, 40.0, 0.7  # nAm, ms, rad
    t_target = np.arange(0, 160, 1.6)  # 100 samples = 4 full periods
    t_sim = np.arange(0, 200.0001, 0.025)  # hnn's 0.025 ms integration step
    target = amp * np.sin(2 * np.pi * t_target / period)
    sim = amp * np.sin(2 * np.pi * t_sim / period + phase)
    # mean over whole periods of (sin(a) - sin(a + phase))^2 = 2 sin^2(phase / 2)
    expected = amp * np.sqrt(2) * abs(np.sin(phase / 2))
    assert ev.dipole_rmse(t_sim, sim, t_target, target) == pytest.approx(expected, rel=1e-4)


def test_resampling_errors():
    t = np.linspace(0, 100, 51)
    with pytest.raises(ValueError, match="not inside the simulated time range"):
        ev.dipole_rmse(t, np.sin(t), np.linspace(0, 120, 10), np.zeros(10))
    with pytest.raises(ValueError, match="samples but sim_t"):
        ev.dipole_rmse(t, np.zeros(50), t, np.zeros(51))
    with pytest.raises(ValueError, match="strictly increasing"):
        ev.dipole_rmse(t[::-1], np.zeros(51), t, np.zeros(51))
    with pytest.raises(ValueError, match="non-finite"):
        ev.dipole_rmse(t, np.full(51, np.nan), t, np.zeros(51))
    with pytest.raises(ValueError, match="target sample"):
        ev.dipole_rmse(t, np.zeros(51), t, np.zeros(51), tstart=99.0)
    with pytest.warns(ev.ConstantSignalWarning):
        assert ev.dipole_correlation_loss(t, np.ones(51), t, np.sin(t)) == 1.0


def test_jansen_rit_dipole_proxy():
    y1 = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    y2 = np.array([[0.5, 1.0, 4.0], [0.0, 1.0, 0.5]])
    np.testing.assert_allclose(ev.jansen_rit_dipole(y1, y2, scale=-2.0), -2.0 * (y1 - y2))
    with pytest.raises(ValueError, match="same shape"):
        ev.jansen_rit_dipole(y1, y2[:, :2])


@pytest.mark.skipif(not MEASURED.exists(), reason=f"measured dipole not present at {MEASURED}")
def test_exact_copy_of_measured_dipole_scores_zero_even_on_a_finer_grid():
    from brainsweep.data import read_dipole

    dip = read_dipole(MEASURED)
    assert dip.agg.size == 103 and dip.t[0] == 0.0 and dip.t[-1] == pytest.approx(169.8, abs=0.05)
    assert ev.dipole_rmse(dip.t, dip.agg, dip.t, dip.agg) == 0.0
    # a simulation sampled every 0.025 ms that passes through the measured points (piecewise linear)
    t_fine = np.arange(0, dip.t[-1], 0.025)
    t_fine = np.union1d(t_fine, dip.t)
    sim = np.interp(t_fine, dip.t, dip.agg)
    assert ev.dipole_rmse(t_fine, sim, dip.t, dip.agg) == pytest.approx(0.0, abs=1e-12)
    # a constant 1 nAm offset on the measured dipole gives exactly 1 nAm
    assert ev.dipole_rmse(t_fine, sim + 1.0, dip.t, dip.agg) == pytest.approx(1.0, abs=1e-12)
