"""Welch PSD, peak frequency, band power and spectral distances against analytic spectra."""

import numpy as np
import pytest

from brainsweep import evaluation as ev

FS = 1000.0  # Hz, i.e. sampling_dt = 1 ms


def _sine_plus_noise(f_hz, amp=1.0, noise=0.5, seconds=20.0, seed=0, n=1):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    return amp * np.sin(2 * np.pi * f_hz * t + rng.uniform(0, 2 * np.pi, (n, 1))) + noise * rng.standard_normal((n, t.size))


@pytest.mark.parametrize("f_hz", [10.0, 23.3, 41.7])
def test_peak_frequency_of_sinusoid_within_resolution(f_hz):
    x = _sine_plus_noise(f_hz, n=3)
    f, _ = ev.welch_psd(x, FS)
    df = f[1] - f[0]
    assert df == pytest.approx(0.5)  # default 2 s segments
    assert abs(ev.peak_frequency(x, FS, band=(2, 60)) - f_hz) <= df / 2 + 1e-9
    per_node = ev.peak_frequency(x, FS, band=(2, 60), average=False)
    assert per_node.shape == (3,) and np.all(np.abs(per_node - f_hz) <= df / 2 + 1e-9)


def test_band_power_of_sinusoid_is_half_amplitude_squared_and_white_noise_is_variance():
    amp = 2.0
    x = _sine_plus_noise(10.0, amp=amp, noise=0.0)[0]
    assert ev.band_power(x, FS, (5, 15)) == pytest.approx(amp**2 / 2, rel=0.01)
    assert ev.band_power(x, FS, (5, 15), relative=True) == pytest.approx(1.0, abs=0.01)
    sigma = 0.7
    noise = np.random.default_rng(1).normal(0, sigma, 200_000)
    f, S = ev.welch_psd(noise, FS)
    # white noise: flat density sigma^2 / (fs / 2) (one-sided), integrating to the variance
    assert np.median(S) == pytest.approx(sigma**2 / (FS / 2), rel=0.05)
    assert ev.band_power(noise, FS, (0, FS / 2)) == pytest.approx(sigma**2, rel=0.02)
    assert ev.band_power(noise, FS, (100, 200), relative=True) == pytest.approx(0.2, abs=0.01)


def test_welch_shapes_and_fmax():
    x = np.random.default_rng(2).standard_normal((4, 3000))
    f, S = ev.welch_psd(x, FS, fmax=80)
    assert S.shape == (4, f.size) and f[-1] <= 80 and f[0] == 0
    f1, S1 = ev.welch_psd(x[0], FS, nperseg=500)
    assert S1.shape == f1.shape and f1[1] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="nperseg"):
        ev.welch_psd(x, FS, nperseg=5000)
    with pytest.raises(ValueError, match="fs"):
        ev.welch_psd(x, -1.0)


def test_peak_frequency_errors_and_flat_signal():
    x = _sine_plus_noise(10.0)[0]
    with pytest.raises(ValueError, match="no frequency bin"):
        ev.peak_frequency(x, FS, band=(10.1, 10.3))
    with pytest.raises(ValueError, match="band"):
        ev.peak_frequency(x, FS, band=(20, 10))
    with pytest.warns(ev.ConstantSignalWarning):
        assert np.isnan(ev.peak_frequency(np.full(4000, 3.0), FS, band=(2, 40)))


def test_spectral_loss_is_one_minus_correlation_of_log_spectra():
    rng = np.random.default_rng(3)
    f = np.linspace(1, 50, 99)
    S = 1.0 / f + 0.1 * np.exp(-((f - 10) ** 2) / 4)
    T = 1.0 / f**1.5 + rng.uniform(0, 0.02, f.size)
    expected = 1 - np.corrcoef(np.log10(S), np.log10(T))[0, 1]
    assert ev.spectral_loss(S, T) == pytest.approx(expected, abs=1e-12)
    assert ev.spectral_loss(S, 7.0 * S) == pytest.approx(0.0, abs=1e-12)  # scale-free
    assert ev.log_spectral_rmse(S, 10.0 * S) == pytest.approx(10.0)  # 10x power = 10 dB
    assert ev.log_spectral_rmse(S, S) == 0.0
    # node-averaged 2-D input
    assert ev.spectral_loss(np.stack([S, 3 * S]), S) == pytest.approx(0.0, abs=1e-12)


def test_spectral_loss_interpolates_onto_target_frequencies_within_band():
    f_sim = np.linspace(0, 100, 201)
    f_tgt = np.linspace(0, 60, 37)
    S_sim = np.exp(-f_sim / 20.0)  # log10 is linear in f, so linear interpolation is exact
    S_tgt = 4.0 * np.exp(-f_tgt / 20.0)
    assert ev.spectral_loss(S_sim, S_tgt, f=f_sim, f_target=f_tgt) == pytest.approx(0.0, abs=1e-12)
    rmse = ev.log_spectral_rmse(S_sim, S_tgt, f=f_sim, f_target=f_tgt, band=(5, 50))
    assert rmse == pytest.approx(10 * np.log10(4.0), abs=1e-9)
    with pytest.raises(ValueError, match="different lengths"):
        ev.spectral_loss(S_sim, S_tgt)
    with pytest.raises(ValueError, match="non-negative"):
        ev.spectral_loss(-S_sim, S_sim)
    with pytest.raises(ValueError, match="fewer than 3"):
        ev.spectral_loss(S_sim, S_tgt, f=f_sim, f_target=f_tgt, band=(70, 90))


def test_spectral_loss_of_flat_spectrum_is_one_with_warning():
    S = np.ones(20)
    with pytest.warns(ev.ConstantSignalWarning):
        assert ev.spectral_loss(S, np.linspace(1, 2, 20)) == 1.0
