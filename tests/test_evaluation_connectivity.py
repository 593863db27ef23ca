"""FC, matrix correlation, FCD and KS distance against independent computations."""

import warnings

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from brainsweep import evaluation as ev


def test_fc_hand_checked_and_matches_corrcoef():
    x = np.array([[1.0, 2, 3, 4], [2, 4, 6, 8], [4, 3, 2, 1]])
    expected = np.array([[1.0, 1, -1], [1, 1, -1], [-1, -1, 1]])
    np.testing.assert_allclose(ev.fc(x), expected, atol=1e-15)
    rng = np.random.default_rng(1)
    y = rng.standard_normal((7, 50)) @ rng.standard_normal((50, 50))
    np.testing.assert_allclose(ev.fc(y), np.corrcoef(y), atol=1e-13)


def test_fc_detrend_removes_opposite_linear_trends():
    t = np.arange(400.0)
    s = np.sin(2 * np.pi * t / 37.0)
    x = np.stack([3e-2 * t + s, -2e-2 * t + s, s])
    assert ev.fc(x)[0, 1] < -0.5  # the trends dominate
    np.testing.assert_allclose(ev.fc(x, detrend=True)[0, 1], 1.0, atol=1e-12)


def test_fc_bandpass_separates_shared_slow_from_opposite_fast_component():
    fs = 0.5  # BOLD at TR = 2000 ms
    t = np.arange(2000) / fs  # s
    slow = np.sin(2 * np.pi * 0.04 * t)
    fast = np.sin(2 * np.pi * 0.2 * t)
    x = np.stack([slow + fast, slow - fast, np.cos(2 * np.pi * 0.04 * t)])
    # equal power in both components: corr = (1 - 1) / 2 = 0 analytically
    assert abs(ev.fc(x)[0, 1]) < 1e-3
    # after zero-phase filtering each sinusoid keeps amplitude |H(f)|^2 (forward and backward):
    # corr = (Gs^2 - Gf^2) / (Gs^2 + Gf^2) with the Butterworth gains from scipy's design
    sos = scipy.signal.butter(2, [0.01, 0.1], btype="bandpass", fs=fs, output="sos")
    _, h = scipy.signal.sosfreqz(sos, worN=[0.04, 0.2], fs=fs)
    gs, gf = np.abs(h) ** 2
    expected = (gs**2 - gf**2) / (gs**2 + gf**2)
    assert expected > 0.99
    y = ev.bandpass(x, (0.01, 0.1), fs)
    # away from the filter's edge transients (~1 / 0.01 Hz = 50 samples) the match is exact ...
    assert np.corrcoef(y[:, 100:-100])[0, 1] == pytest.approx(expected, abs=1e-6)
    # ... and the edges cost a little on the whole series
    assert ev.fc(x, band=(0.01, 0.1), fs=fs)[0, 1] == pytest.approx(expected, abs=5e-3)
    with pytest.raises(ValueError, match="fs"):
        ev.fc(x, band=(0.01, 0.1))


def test_fc_constant_node_is_zero_with_warning_not_nan():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 100))
    x[2] = 0.1  # constant (mean of 0.1s is not exactly 0.1: rounding must not count as signal)
    with pytest.warns(ev.ConstantSignalWarning, match=r"\[2\]"):
        out = ev.fc(x)
    assert np.isfinite(out).all()
    assert np.all(out[2] == 0) and np.all(out[:, 2] == 0)
    np.testing.assert_allclose(out[np.ix_([0, 1, 3], [0, 1, 3])], np.corrcoef(x[[0, 1, 3]]), atol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ev.ConstantSignalWarning)
        with pytest.raises(ev.ConstantSignalWarning):
            ev.fc(x)


@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, np.nan, 2.0, 3.0], [1, 2, 3, 4]]), "non-finite"),
    (np.ones((2, 2, 5)), "at most 2-D"),
    (np.ones((3, 2)), "at least 3 samples"),
])
def test_fc_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        ev.fc(bad)


def test_matrix_correlation_upper_triangle_only():
    rng = np.random.default_rng(3)
    a, b = rng.random((6, 6)), rng.random((6, 6))
    iu = np.triu_indices(6, 1)
    expected = np.corrcoef(a[iu], b[iu])[0, 1]
    assert ev.matrix_correlation(a, b) == pytest.approx(expected, abs=1e-14)
    a2 = a.copy()
    np.fill_diagonal(a2, 100.0)
    a2[np.tril_indices(6, -1)] = -5.0  # lower triangle and diagonal are ignored
    assert ev.matrix_correlation(a2, b) == pytest.approx(expected, abs=1e-14)
    assert ev.matrix_correlation(a, a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        ev.matrix_correlation(a, b[:5, :5])
    with pytest.warns(ev.ConstantSignalWarning):
        assert ev.matrix_correlation(np.zeros((6, 6)), b) == 0.0


def test_mean_fc_fit_over_subjects():
    rng = np.random.default_rng(4)
    sim = np.corrcoef(rng.standard_normal((5, 40)))
    subs = [np.corrcoef(rng.standard_normal((5, 40))) for _ in range(3)]
    iu = np.triu_indices(5, 1)
    expected = np.mean([np.corrcoef(sim[iu], s[iu])[0, 1] for s in subs])
    assert ev.mean_fc_fit(sim, subs) == pytest.approx(expected, abs=1e-14)
    assert ev.mean_fc_fit(sim, np.stack(subs)) == pytest.approx(expected, abs=1e-14)


def _fcd_loop(x, window, step):
    """Independent reference: loop over windows with np.corrcoef."""
    n, T = x.shape
    iu = np.triu_indices(n, 1)
    vecs = [np.corrcoef(x[:, s:s + window])[iu] for s in range(0, T - window + 1, step)]
    return np.corrcoef(np.array(vecs))


@pytest.mark.parametrize("T, window, step", [(200, 30, 5), (203, 20, 7), (61, 30, 31)])
def test_fcd_matches_loop_reference(T, window, step):
    x = np.random.default_rng(5).standard_normal((6, T))
    out = ev.fcd(x, window=window, step=step)
    ref = _fcd_loop(x, window, step)
    assert out.shape == ref.shape == (ev.n_windows(T, window, step),) * 2
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_fcd_bad_input():
    x = np.random.default_rng(6).standard_normal((5, 34))
    with pytest.raises(ValueError, match="at least 35 samples"):
        ev.fcd(x, window=30, step=5)
    with pytest.raises(ValueError, match="3 nodes"):
        ev.fcd(x[:2], window=10, step=5)
    with pytest.raises(ValueError, match="window"):
        ev.fcd(x, window=2)


def _network_noise(rng, T, state):
    """10 nodes in two modules driven by shared latent signals (within-module corr 0.6,
    between-module 0). State 0: modules are nodes 0-4 and 5-9; state 1: even and odd nodes."""
    f = rng.standard_normal((2, T))
    module = np.arange(10) // 5 if state == 0 else np.arange(10) % 2
    return np.sqrt(0.6) * f[module] + np.sqrt(0.4) * rng.standard_normal((10, T))


def _switching_and_stationary(seed, T=2400, block=200):
    rng = np.random.default_rng(seed)
    switching = np.concatenate([_network_noise(rng, block, b % 2) for b in range(T // block)], axis=1)
    return switching, _network_noise(rng, T, 0)


def test_fcd_switching_process_has_wider_distribution_and_larger_ks():
    sw, st = _switching_and_stationary(7)
    _, st2 = _switching_and_stationary(8)
    f_sw, f_st, f_st2 = (ev.fcd(x, window=60, step=10) for x in (sw, st, st2))
    iu = np.triu_indices(len(f_sw), 1)
    # same-state window pairs correlate highly, cross-state pairs much less: a wide, bimodal FCD
    assert f_sw[iu].std() > 2 * f_st[iu].std()
    assert np.mean(f_sw[iu] < 0.5) > 0.3 and np.mean(f_st[iu] < 0.5) < 0.05
    assert ev.ks_distance(f_sw, f_st) > 3 * ev.ks_distance(f_st2, f_st)


def test_ks_distance_equals_scipy():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=170)
    assert ev.ks_distance(a, b) == pytest.approx(scipy.stats.ks_2samp(a, b).statistic, abs=1e-15)
    m = np.corrcoef(rng.standard_normal((20, 40)))
    iu = np.triu_indices(20, 1)
    assert ev.ks_distance(m, b) == pytest.approx(scipy.stats.ks_2samp(m[iu], b).statistic, abs=1e-15)
    assert ev.ks_distance(m, m) == 0.0
    with pytest.raises(ValueError, match="square"):
        ev.ks_distance(np.ones((3, 4)), b)
