"""Summary features of a run's outputs for simulation-based inference.

A feature function maps a run's outputs (the dict a model's ``run_batch`` returns per run, or
whatever a plain evaluation function returns) to a 1-D float array of fixed length. Any callable
works (``lambda out: out["x"]``); the ones here are brainsweep's standard summaries, with a
``spec()`` so that a study records their settings:

- :func:`fc_upper`: the FC upper triangle (n(n-1)/2 correlations);
- :func:`fc_fcd`: the k leading FC eigenvalues (divided by n) and k quantiles of the FCD
  upper triangle (the distribution a KS distance compares);
- :func:`psd_bands`: per-region band powers (log10, or relative);
- :func:`peak_frequencies`: per-region (or node-averaged) spectral peak frequency, Hz;
- :func:`dipole_samples`: the dipole resampled at evenly spaced times;
- :func:`log_psd`: the log10 Welch PSD itself, every frequency bin within a band;
- :func:`moments`: per-region mean and log10 standard deviation;
- :func:`concat`: several feature functions one after the other.

Times are in ms (``t``/``<key>_t`` outputs), frequencies in Hz.
"""

from __future__ import annotations

import numpy as np

from ..evaluation.connectivity import bandpass, fc, fcd, upper_triangle
from ..evaluation.objectives import _fs, _series
from ..evaluation.spectra import band_power, peak_frequency, welch_psd

__all__ = ["fc_upper", "fc_fcd", "psd_bands", "peak_frequencies", "dipole_samples", "log_psd", "moments",
           "concat", "as_vector", "from_spec", "FeatureFunction"]

#: EEG bands (Hz) used by :func:`psd_bands` by default
BANDS = ((1.0, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 80.0))


def as_vector(values, where: str = "features") -> np.ndarray:
    """``values`` as a finite-or-NaN 1-D float64 array; ``ValueError`` naming ``where`` otherwise."""
    arr = np.asarray(values, dtype=float) if not isinstance(values, dict) else None
    if arr is None or arr.ndim > 1 and sum(s > 1 for s in arr.shape) > 1:
        shape = "a dict" if arr is None else f"shape {arr.shape}"
        raise ValueError(f"{where}: expected a 1-D array of numbers, got {shape}")
    arr = arr.ravel()
    if arr.size == 0:
        raise ValueError(f"{where}: the feature vector is empty")
    return arr


class FeatureFunction:
    """Base of brainsweep's feature functions: settings in attributes, ``spec()`` as plain data."""

    _FIELDS: tuple = ()

    def spec(self) -> dict:
        doc = {"feature": type(self).__name__}
        for name in self._FIELDS:
            v = getattr(self, name)
            doc[name] = [list(b) for b in v] if name == "bands" else (v.spec() if isinstance(v, FeatureFunction)
                                                                     else v)
        return doc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self._FIELDS)})"


class _FCUpper(FeatureFunction):
    _FIELDS = ("key", "transient_ms", "band")

    def __init__(self, key, transient_ms, band):
        self.key, self.transient_ms, self.band = key, float(transient_ms), None if band is None else tuple(band)

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        m = fc(x, band=self.band, fs=_fs(t) if self.band else None)
        return upper_triangle(m)


class _FCFCD(FeatureFunction):
    _FIELDS = ("k", "key", "transient_ms", "window", "step", "band")

    def __init__(self, k, key, transient_ms, window, step, band):
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k: expected a positive integer, got {k!r}")
        self.k, self.key, self.transient_ms = int(k), key, float(transient_ms)
        self.window, self.step, self.band = int(window), int(step), None if band is None else tuple(band)

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        if self.band is not None:
            x = bandpass(x, self.band, _fs(t))
        n = x.shape[0]
        if n < self.k:
            raise ValueError(f"fc_fcd(k={self.k}): {self.key!r} has only {n} regions; use k <= {n}")
        eig = np.linalg.eigvalsh(fc(x))[::-1][:self.k] / n
        levels = (np.arange(self.k) + 0.5) / self.k
        quant = np.quantile(upper_triangle(fcd(x, self.window, self.step)), levels)
        return np.concatenate([eig, quant])


class _PSDBands(FeatureFunction):
    _FIELDS = ("key", "bands", "transient_ms", "relative", "average")

    def __init__(self, key, bands, transient_ms, relative, average):
        self.key, self.bands = key, tuple(tuple(float(v) for v in b) for b in bands)
        self.transient_ms, self.relative, self.average = float(transient_ms), bool(relative), bool(average)
        if not self.bands:
            raise ValueError("bands: expected at least one (low, high) band in Hz")

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        if self.average:
            x = x.mean(axis=0, keepdims=True)
        power = np.stack([np.atleast_1d(band_power(x, _fs(t), b, relative=self.relative)) for b in self.bands],
                         axis=1)  # (n_regions, n_bands)
        if not self.relative:
            power = np.log10(np.maximum(power, np.finfo(float).tiny))
        return power.ravel()


class _PeakFrequencies(FeatureFunction):
    _FIELDS = ("key", "band", "transient_ms", "average")

    def __init__(self, key, band, transient_ms, average):
        self.key, self.band, self.transient_ms = key, tuple(band), float(transient_ms)
        self.average = bool(average)

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        return np.atleast_1d(peak_frequency(x, _fs(t), self.band, average=self.average))


class _DipoleSamples(FeatureFunction):
    _FIELDS = ("n", "key", "transient_ms")

    def __init__(self, n, key, transient_ms):
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n: expected an integer >= 2 samples, got {n!r}")
        self.n, self.key, self.transient_ms = int(n), key, float(transient_ms)

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        at = np.linspace(t[0], t[-1], self.n)
        return np.concatenate([np.interp(at, t, row) for row in x])


class _LogPSD(FeatureFunction):
    _FIELDS = ("key", "band", "resolution", "transient_ms", "average")

    def __init__(self, key, band, resolution, transient_ms, average):
        self.key, self.band, self.transient_ms = key, tuple(float(v) for v in band), float(transient_ms)
        self.resolution, self.average = float(resolution), bool(average)
        if not (0.0 <= self.band[0] < self.band[1]) or self.resolution <= 0.0:
            raise ValueError(f"log_psd: expected 0 <= band[0] < band[1] and resolution > 0 Hz, got band "
                             f"{band!r}, resolution {resolution!r}")

    def __call__(self, out) -> np.ndarray:
        t, x = _series(out, self.key, self.transient_ms)
        if self.average:
            x = x.mean(axis=0, keepdims=True)
        fs = _fs(t)
        nperseg = int(round(fs / self.resolution))
        if nperseg > x.shape[1]:
            raise ValueError(f"log_psd(resolution={self.resolution} Hz) needs {nperseg} samples per Welch segment; "
                             f"{self.key!r} has {x.shape[1]} after the transient: simulate longer")
        f, psd = welch_psd(x, fs, nperseg=nperseg)
        psd = np.atleast_2d(psd)[:, (f >= self.band[0]) & (f <= self.band[1])]
        return np.log10(np.maximum(psd, np.finfo(float).tiny)).ravel()


class _Moments(FeatureFunction):
    _FIELDS = ("key", "transient_ms")

    def __init__(self, key, transient_ms):
        self.key, self.transient_ms = key, float(transient_ms)

    def __call__(self, out) -> np.ndarray:
        _, x = _series(out, self.key, self.transient_ms)
        std = np.log10(np.maximum(x.std(axis=1), np.finfo(float).tiny))
        return np.column_stack([x.mean(axis=1), std]).ravel()


class _Concat(FeatureFunction):
    _FIELDS = ("parts",)

    def __init__(self, parts):
        if not parts or not all(callable(p) for p in parts):
            raise ValueError("concat: expected one or more feature callables")
        self.parts = tuple(parts)

    def spec(self) -> dict:
        return {"feature": "concat", "parts": [p.spec() if isinstance(p, FeatureFunction) else None
                                               for p in self.parts]}

    def __call__(self, out) -> np.ndarray:
        return np.concatenate([as_vector(p(out), f"concat part {i}") for i, p in enumerate(self.parts)])


def fc_upper(key: str = "BOLD", transient_ms: float = 0.0, band=None) -> FeatureFunction:
    """Upper triangle (diagonal excluded) of the FC of output ``key`` after ``transient_ms``;
    ``band`` (Hz) band-passes first. n(n-1)/2 features: at most 45 regions fit the runs table's
    1000 feature columns (see ``SBI``); summarise larger networks with :func:`fc_fcd`."""
    return _FCUpper(key, transient_ms, band)


def fc_fcd(k: int = 40, key: str = "BOLD", transient_ms: float = 0.0, window: int = 30, step: int = 5,
           band=None) -> FeatureFunction:
    """The ``k`` largest FC eigenvalues divided by the number of regions, then ``k`` evenly spaced
    quantiles (levels (i + 0.5)/k) of the FCD upper triangle (``window``/``step`` in samples, see
    :func:`brainsweep.evaluation.fcd`): 2k features."""
    return _FCFCD(k, key, transient_ms, window, step, band)


def psd_bands(key: str = "x", bands=BANDS, transient_ms: float = 0.0, relative: bool = False,
              average: bool = False) -> FeatureFunction:
    """Per-region Welch band power of output ``key`` for each band (Hz): log10 of the power
    (units of ``key`` squared), or its fraction of the total with ``relative=True``; region-major
    order (n_regions x n_bands values, or n_bands with ``average=True``)."""
    return _PSDBands(key, bands, transient_ms, relative, average)


def peak_frequencies(key: str = "x", band=(1.0, 100.0), transient_ms: float = 0.0,
                     average: bool = False) -> FeatureFunction:
    """Frequency (Hz) of the Welch PSD maximum within ``band``: one per region, or one of the
    region-averaged spectrum with ``average=True``."""
    return _PeakFrequencies(key, band, transient_ms, average)


def dipole_samples(n: int = 100, key: str = "dipole", transient_ms: float = 0.0) -> FeatureFunction:
    """The signal ``key`` (e.g. a dipole) linearly interpolated at ``n`` evenly spaced times between
    ``transient_ms`` and the end (per row for a 2-D signal)."""
    return _DipoleSamples(n, key, transient_ms)


def log_psd(key: str = "x", band=(1.0, 45.0), resolution: float = 1.0, transient_ms: float = 0.0,
            average: bool = False) -> FeatureFunction:
    """log10 of the Welch PSD of output ``key`` (units of ``key`` squared per Hz) at every frequency
    bin within ``band`` (Hz), segments of 1/``resolution`` s (bins ``resolution`` Hz apart);
    region-major order, or the region-averaged signal's with ``average=True``."""
    return _LogPSD(key, band, resolution, transient_ms, average)


def moments(key: str = "x", transient_ms: float = 0.0) -> FeatureFunction:
    """Per region: the mean of output ``key`` and log10 of its standard deviation (2 per region)."""
    return _Moments(key, transient_ms)


def concat(*parts) -> FeatureFunction:
    """Feature functions one after the other (e.g. ``concat(fc_fcd(k=10), psd_bands(key="x"))``)."""
    return _Concat(parts)



_CLASSES = {cls.__name__: cls for cls in (_FCUpper, _FCFCD, _PSDBands, _PeakFrequencies, _DipoleSamples, _LogPSD,
                                          _Moments)}


def from_spec(spec) -> FeatureFunction:
    """The feature function a ``spec()`` document describes (as a study records it), rebuilt from
    brainsweep's own feature classes only; ``ValueError`` for anything else (a user's callable is
    recorded by name and code hash only, and cannot be rebuilt from a file)."""
    if not isinstance(spec, dict) or "feature" not in spec:
        raise ValueError(f"feature spec: expected a document with 'feature' (written by spec()), got {spec!r:.80}")
    kind = spec["feature"]
    if kind == "concat":
        parts = spec.get("parts") or []
        if any(p is None for p in parts):
            raise ValueError("feature spec: a part of this concat is a user's callable, recorded by name only")
        return _Concat([from_spec(p) for p in parts])
    cls = _CLASSES.get(kind)
    if cls is None:
        raise ValueError(f"feature spec: {kind!r} is not one of brainsweep's feature functions "
                         f"({sorted(_CLASSES)} or concat)")
    args = {k: spec[k] for k in cls._FIELDS if k in spec}
    missing = [k for k in cls._FIELDS if k not in args]
    if missing:
        raise ValueError(f"feature spec of {kind}: missing {missing}")
    return cls(**args)
