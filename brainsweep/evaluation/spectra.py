"""Power spectra: Welch PSD, peak frequency, band power and spectral distances.

Frequencies are in Hz and sampling rates ``fs`` in Hz: a model sampled every
``sampling_dt`` ms has ``fs = 1000 / sampling_dt``. Time series are ``(n_samples,)`` or
``(n_nodes, n_samples)``; spectra keep the leading shape and have frequency on the last axis.
"""

import numpy as np
import scipy.signal

from ._checks import ConstantSignalWarning, as_float_array, check_band, check_positive, warn_constant

# default Welch segment length: 2 s gives 0.5 Hz resolution, enough for alpha/beta peaks
DEFAULT_SEGMENT_S = 2.0


def welch_psd(x, fs, nperseg=None, noverlap=None, window="hann", detrend="constant",
              scaling="density", fmax=None):
    """Power spectral density by Welch's method (``scipy.signal.welch``) along the last axis.

    Parameters
    ----------
    x : array (n_samples,) or (n_nodes, n_samples)
    fs : float
        Sampling rate in Hz.
    nperseg : int or None
        Segment length in samples; default ``min(n_samples, max(8, round(2 s * fs)))``, i.e. 2 s
        segments (0.5 Hz resolution) with 50 % overlap, or one periodogram of the whole series
        if it is shorter.
    window, detrend, scaling, noverlap
        Passed to ``scipy.signal.welch`` (Hann window, mean removed per segment, density).
    fmax : float or None
        Keep only frequencies ``f <= fmax`` (Hz).

    Returns
    -------
    f : array (n_freq,) in Hz
    S : array (..., n_freq), units of ``x``² / Hz (``scaling="density"``) or ``x``²
        (``scaling="spectrum"``).
    """
    arr = as_float_array(x, "x", min_ndim=1, max_ndim=2)
    fs = check_positive(fs, "fs")
    n = arr.shape[-1]
    if n < 2:
        raise ValueError(f"x: need at least 2 samples for a spectrum, got {n}")
    if nperseg is None:
        nperseg = min(n, max(8, int(round(DEFAULT_SEGMENT_S * fs))))
    nperseg = int(nperseg)
    if not 2 <= nperseg <= n:
        raise ValueError(f"nperseg: expected 2 <= nperseg <= n_samples ({n}), got {nperseg}")
    f, S = scipy.signal.welch(arr, fs=fs, window=window, nperseg=nperseg, noverlap=noverlap,
                              detrend=detrend, scaling=scaling, axis=-1)
    if fmax is not None:
        keep = f <= float(fmax)
        f, S = f[keep], S[..., keep]
    return f, S


def _band_mask(f, band, resolution):
    lo, hi = check_band(band)
    mask = (f >= lo) & (f <= hi)
    if not mask.any():
        raise ValueError(f"band: no frequency bin within {band} Hz (resolution {resolution:.4g} Hz); "
                         "use a wider band or longer segments (nperseg)")
    return mask


def peak_frequency(x, fs, band=(1.0, 100.0), average=True, **welch_kwargs):
    """Frequency (Hz) of the largest Welch PSD value within ``band`` (edges inclusive).

    The precision is one frequency bin (``fs / nperseg`` Hz; 0.5 Hz with the default 2 s
    segments). For 2-D input, ``average=True`` (default) takes the peak of the node-averaged
    spectrum and returns a float; ``average=False`` returns one peak per node. A spectrum with
    no power in the band (constant signal) has no peak: NaN is returned with a
    :class:`ConstantSignalWarning`.
    """
    f, S = welch_psd(x, fs, **welch_kwargs)
    mask = _band_mask(f, band, f[1] - f[0])
    if S.ndim == 2 and average:
        S = S.mean(axis=0)
    Sb = S[..., mask]
    peaks = np.asarray(f[mask][np.argmax(Sb, axis=-1)], dtype=np.float64)
    flat = Sb.max(axis=-1) <= 0
    if np.any(flat):
        warn_constant("peak_frequency: no power in band", np.flatnonzero(np.atleast_1d(flat)))
        peaks = np.where(flat, np.nan, peaks)
    return float(peaks) if peaks.ndim == 0 else peaks


def band_power(x, fs, band, relative=False, **welch_kwargs):
    """Power in ``band`` (Hz): trapezoid integral of the Welch PSD, in units of ``x``².

    ``relative=True`` divides by the power over all frequencies (result in [0, 1]; 0 with a
    :class:`ConstantSignalWarning` for a constant signal). Returns a float for 1-D input and one
    value per node for 2-D input.
    """
    f, S = welch_psd(x, fs, **welch_kwargs)
    mask = _band_mask(f, band, f[1] - f[0])
    if mask.sum() > 1:
        power = np.trapezoid(S[..., mask], f[mask], axis=-1)
    else:  # a single bin: its density times the bin width
        power = S[..., mask][..., 0] * (f[1] - f[0])
    if relative:
        total = np.trapezoid(S, f, axis=-1)
        zero = np.atleast_1d(total <= 0)
        if zero.any():
            warn_constant("band_power: no power at all", np.flatnonzero(zero))
        power = np.where(total > 0, power / np.where(total > 0, total, 1.0), 0.0)
    return float(power) if np.ndim(power) == 0 else np.asarray(power)


def _aligned_log_spectra(S, S_target, f, f_target, band):
    """Log10 of both spectra on common frequencies (node-averaged if 2-D)."""
    a = as_float_array(S, "S", min_ndim=1, max_ndim=2)
    b = as_float_array(S_target, "S_target", min_ndim=1, max_ndim=2)
    a = a.mean(axis=0) if a.ndim == 2 else a
    b = b.mean(axis=0) if b.ndim == 2 else b
    for arr, name in ((a, "S"), (b, "S_target")):
        if (arr < 0).any():
            raise ValueError(f"{name}: power spectra must be non-negative")
    if (f is None) != (f_target is None):
        raise ValueError("f and f_target: give both frequency axes (Hz) or neither")
    if f is None:
        if a.shape != b.shape:
            raise ValueError(f"S and S_target have different lengths {a.shape} and {b.shape}; "
                             "pass f and f_target to interpolate S onto the target frequencies")
        if band is not None:
            raise ValueError("band: needs the frequency axes f and f_target")
        ft = None
    else:
        f = as_float_array(f, "f", ndim=1)
        ft = as_float_array(f_target, "f_target", ndim=1)
        if f.shape != a.shape or ft.shape != b.shape:
            raise ValueError(f"f {f.shape} / f_target {ft.shape} must match S {a.shape} / S_target {b.shape}")
        lo, hi = check_band(band) if band is not None else (0.0, np.inf)
        # the DC bin is dropped: after mean removal its power is ~0 and its log dominates
        keep = (ft >= max(lo, f[0])) & (ft <= min(hi, f[-1])) & (ft > 0)
        if keep.sum() < 3:
            raise ValueError(f"f_target: fewer than 3 target frequencies inside band {band} and the "
                             f"simulated range [{f[0]}, {f[-1]}] Hz")
        ft = ft[keep]
        b = b[keep]
    la, lb = _log10_floor(a, "S"), _log10_floor(b, "S_target")
    if ft is not None:
        la = np.interp(ft, f, la)
    return la, lb


def _log10_floor(S, name):
    top = S.max()
    if top <= 0:
        warn_constant(f"{name}: all-zero spectrum", [0], stacklevel=5)
        return np.zeros_like(S)
    # zeros are floored 12 decades below the maximum instead of giving -inf
    return np.log10(np.maximum(S, top * 1e-12))


def spectral_loss(S, S_target, f=None, f_target=None, band=None):
    """1 - Pearson correlation of the log10 power spectra ``S`` and ``S_target``.

    In [0, 2]; 0 for spectra of identical shape (any overall scale). 2-D spectra are averaged
    over nodes (axis 0) first. With ``f``/``f_target`` (Hz) the simulated log-spectrum is
    linearly interpolated onto the target frequencies (inside ``band`` if given, DC excluded);
    without them both spectra must have the same length. A flat log-spectrum (e.g. of a
    constant signal) correlates as 0, i.e. loss 1, with a :class:`ConstantSignalWarning`.
    """
    la, lb = _aligned_log_spectra(S, S_target, f, f_target, band)
    ca, cb = la - la.mean(), lb - lb.mean()
    na, nb = np.sqrt(ca @ ca), np.sqrt(cb @ cb)
    flat = [i for i, (nrm, lg) in enumerate(((na, la), (nb, lb)))
            if nrm <= 1e-12 * max(1.0, np.abs(lg).max())]
    if flat:
        warn_constant("spectral_loss: flat log-spectrum (0=S, 1=S_target)", flat)
        return 1.0
    return float(1.0 - np.clip((ca @ cb) / (na * nb), -1.0, 1.0))


def log_spectral_rmse(S, S_target, f=None, f_target=None, band=None):
    """Root-mean-square difference of the spectra in decibels: ``sqrt(mean((10 log10(S / S_target))²))``.

    Same alignment rules as :func:`spectral_loss`; unlike it, this is sensitive to the overall
    power (a spectrum 10 times larger everywhere gives 10 dB).
    """
    la, lb = _aligned_log_spectra(S, S_target, f, f_target, band)
    return float(np.sqrt(np.mean((10.0 * (la - lb)) ** 2)))


__all__ = ["welch_psd", "peak_frequency", "band_power", "spectral_loss", "log_spectral_rmse",
           "ConstantSignalWarning"]
