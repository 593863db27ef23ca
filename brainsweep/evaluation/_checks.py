"""Input validation shared by the evaluation functions (private)."""

import warnings

import numpy as np


class ConstantSignalWarning(RuntimeWarning):
    """A signal (or matrix triangle) has zero variance, so its correlation is undefined.

    The evaluation functions replace such undefined correlations with 0 (documented per
    function) and emit this warning naming the offending nodes, instead of returning NaN
    that would silently poison an optimiser. Turn it into an error with
    ``warnings.simplefilter("error", ConstantSignalWarning)``.
    """


def as_float_array(x, name, ndim=None, min_ndim=None, max_ndim=None):
    """Return ``x`` as a finite float64 array, raising ``ValueError`` naming ``name`` otherwise."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a numeric array, got {type(x).__name__} ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim}-D, got shape {arr.shape}")
    if max_ndim is not None and arr.ndim > max_ndim:
        raise ValueError(f"{name}: expected at most {max_ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array (shape {arr.shape})")
    if np.isfinite(arr.sum()):  # fast path; the sum can only overflow, never hide a NaN
        return arr
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: {int(bad.sum())} non-finite value(s) (NaN or inf), first at index {first}; "
            "a diverged simulation should be reported as failed, not scored"
        )
    return arr


def as_timeseries(x, name):
    """Return ``x`` as a finite (n_nodes, n_samples) float64 array (1-D input becomes one node)."""
    arr = as_float_array(x, name, min_ndim=1, max_ndim=2)
    return arr[None, :] if arr.ndim == 1 else arr


def square_matrix(m, name):
    arr = as_float_array(m, name, ndim=2)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name}: expected a square matrix, got shape {arr.shape}")
    return arr


def check_positive(value, name):
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return float(value)


def check_band(band, name="band", fs=None):
    """Validate a frequency band ``(lo, hi)`` in Hz (``0 <= lo < hi``, ``hi <= fs/2`` if fs given)."""
    try:
        lo, hi = (float(b) for b in band)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a pair (low_hz, high_hz), got {band!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise ValueError(f"{name}: expected 0 <= low < high (Hz), got {band!r}")
    if fs is not None and lo >= fs / 2:
        raise ValueError(f"{name}: low edge {lo} Hz is at or above the Nyquist frequency {fs / 2} Hz")
    return lo, hi


def warn_constant(what, indices, stacklevel=3):
    idx = [int(i) for i in np.atleast_1d(indices)]
    shown = idx[:10] + (["..."] if len(idx) > 10 else [])
    warnings.warn(f"{what}: zero variance at index {shown}; its correlations are set to 0",
                  ConstantSignalWarning, stacklevel=stacklevel)
