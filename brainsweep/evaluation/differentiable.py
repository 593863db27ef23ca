"""Objectives with their gradient with respect to the simulated signal.

Each objective is a callable ``objective(outputs) -> (loss, {output name: dloss/doutput})``
where ``outputs`` maps output names to (nodes, samples) arrays as ``model.run`` returns
them; :func:`brainsweep.models.adjoint.gradient` carries the signal gradient back to the
parameters. Every gradient here is exact (the vector-Jacobian product of the very numpy
operations that compute the loss).

=============================  ============================================================
objective                      loss
=============================  ============================================================
:class:`sum_of_squares`        ``sum((y - target)**2)``
:class:`spectral_correlation_  ``1 - corr(mean Welch PSD, target PSD)`` (TVB-O's notebook)
loss`
:class:`log_spectral_rmse_     ``sqrt(mean((10 log10(mean PSD / target))**2))`` in dB
loss`
:class:`peak_frequency_loss`   per region ``1 - corr(PSD_i, Lorentzian at f_i)``, averaged
:class:`spectral_centroid_     per region ``(centroid_i - f_i)**2`` in a band, averaged (Hz²)
loss`
:class:`fc_fit_loss`           ``1 - corr(upper triangle of FC, of the target FC)``
:class:`dipole_rmse_loss`      RMSE to a target dipole, as :func:`..dipole.dipole_rmse`
=============================  ============================================================

The same objects serve the other strategies: given as ``Study(model, space, CMAES(...),
objective=fc_fit_loss(...))`` (or Evolution, BayesOpt, GridSearch), each run stores the score
``loss`` (the signal gradient is not computed into anything), so every strategy minimises the
very number GradientDescent does. A study's identity includes :func:`objective_digest` (the
objective's settings and targets), so a study resumed with another target is refused.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .dipole import _aligned

__all__ = ["sum_of_squares", "spectral_correlation_loss", "log_spectral_rmse_loss", "peak_frequency_loss",
           "spectral_centroid_loss", "fc_fit_loss", "dipole_rmse_loss", "welch_with_vjp", "lorentzian",
           "objective_digest"]


class sum_of_squares:
    """``sum((outputs[key] - target) ** 2)`` (units of the output squared); gradient ``2 (y - target)``."""

    def __init__(self, target, key: str):
        self.target = np.asarray(target, dtype=float)
        self.key = key

    def __call__(self, outputs):
        y = outputs[self.key]
        if y.shape != self.target.shape:
            raise ValueError(f"sum_of_squares: output {self.key!r} has shape {y.shape}, target {self.target.shape}")
        r = y - self.target
        return float(np.sum(r * r)), {self.key: 2.0 * r}


def _welch_setup(n: int, nperseg: int, noverlap: int | None):
    import scipy.signal

    if not 2 <= nperseg <= n:
        raise ValueError(f"nperseg: expected 2 <= nperseg <= n_samples ({n}), got {nperseg}")
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    if not 0 <= noverlap < nperseg:
        raise ValueError(f"noverlap: expected 0 <= noverlap < nperseg ({nperseg}), got {noverlap}")
    step = nperseg - noverlap
    starts = np.arange(0, n - nperseg + 1, step)
    win = scipy.signal.get_window("hann", nperseg)
    return starts, win


def welch_with_vjp(x, fs: float, nperseg: int, noverlap: int | None = None):
    """Welch PSD of each row of ``x`` exactly as ``scipy.signal.welch`` (Hann window, mean
    removed per segment, density scaling, one-sided, mean over segments), and a function
    mapping dL/dS (rows x frequencies) to dL/dx.

    Returns (f in Hz, S in units of x**2/Hz, vjp).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[-1]
    starts, win = _welch_setup(n, int(nperseg), noverlap)
    M = int(nperseg)
    nf = M // 2 + 1
    scale = np.full(nf, 1.0 / (fs * (win * win).sum()))
    scale[1:nf - 1 if M % 2 == 0 else nf] *= 2.0  # one-sided: DC (and Nyquist for even M) once
    segs = np.stack([x[:, s:s + M] for s in starts], axis=1)          # rows, segments, M
    d = segs - segs.mean(axis=-1, keepdims=True)
    X = np.fft.rfft(d * win, axis=-1)
    S = (scale * (X.real ** 2 + X.imag ** 2)).mean(axis=1)
    f = np.fft.rfftfreq(M, 1.0 / fs)

    def vjp(gS):
        gS = np.asarray(gS, dtype=float).reshape(S.shape)
        a = (scale * gS)[:, None, :] / len(starts)                     # dL/dP per segment, real
        full = np.zeros(X.shape[:-1] + (M,), dtype=complex)
        full[..., :nf] = a * X
        # dP_k/dd_n = 2 c_k w_n Re(conj(X_k) e^{-2 pi i k n / M})  ->  2 w_n Re(sum_k a_k X_k e^{+...})
        gd = 2.0 * win * (np.fft.ifft(full, axis=-1).real * M)
        gseg = gd - gd.mean(axis=-1, keepdims=True)
        gx = np.zeros_like(x)
        for j, s in enumerate(starts):
            gx[:, s:s + M] += gseg[:, j]
        return gx

    return f, S, vjp


def _corr_loss_with_grad(a, b, who="spectral_correlation_loss"):
    """1 - Pearson correlation of vectors a and b, and its gradient with respect to a."""
    ca, cb = a - a.mean(), b - b.mean()
    na, nb = np.sqrt(ca @ ca), np.sqrt(cb @ cb)
    if na <= 1e-300 or nb <= 1e-300:
        raise ValueError(f"{who}: a constant vector has no correlation (and no gradient)")
    r = (ca @ cb) / (na * nb)
    return 1.0 - r, -(cb / (na * nb) - r * ca / (na * na))


def _transient(transient):
    if isinstance(transient, bool) or not isinstance(transient, (int, np.integer)) or transient < 0:
        raise ValueError(f"transient: expected a number of samples >= 0, got {transient!r}")
    return int(transient)


def _output(outputs, key, who):
    if key not in outputs:
        raise ValueError(f"{who}: no output {key!r}; outputs are {sorted(outputs)}")
    return np.atleast_2d(np.asarray(outputs[key], dtype=float))


class _Spectral:
    """Shared part of the spectral objectives: the Welch PSD (rows x kept frequencies) of
    ``outputs[key]`` after ``transient`` samples, and the way back to the signal.

    Kept frequencies: inside ``band`` (Hz, both ends included; default all), without the DC
    bin when ``positive`` (a log of the ~0 power left after mean removal would dominate)."""

    _who = "spectral objective"

    def _init_spectral(self, fs, nperseg, key, noverlap, band, transient, positive=False):
        self.transient = _transient(transient)
        self.fs, self.nperseg, self.noverlap = float(fs), int(nperseg), noverlap
        if not (np.isfinite(self.fs) and self.fs > 0):
            raise ValueError(f"fs: expected a sampling rate > 0 Hz, got {fs!r}")
        self.key, self.band = key, None if band is None else (float(band[0]), float(band[1]))
        f = np.fft.rfftfreq(self.nperseg, 1.0 / self.fs)
        keep = np.ones(len(f), bool) if band is None else (f >= self.band[0]) & (f <= self.band[1])
        if positive:
            keep &= f > 0
        if not keep.any():
            raise ValueError(f"{self._who}: no Welch frequency (resolution {f[1]:.4g} Hz) inside band {band} Hz")
        self._keep = keep
        self.freqs = f[keep]

    def _check_target(self, values, what):
        arr = np.asarray(values, dtype=float)
        n = int(self._keep.sum())
        if arr.shape != (n,):
            raise ValueError(f"{self._who}: {what} has shape {arr.shape}; the Welch PSD (nperseg="
                             f"{self.nperseg}, fs={self.fs}, band={self.band}) has {n} values "
                             f"(frequencies {self.freqs[0]:.4g}..{self.freqs[-1]:.4g} Hz)")
        return arr

    def _spectrum(self, outputs):
        """(S of kept frequencies, function mapping dL/dS to {key: dL/doutput})."""
        full = _output(outputs, self.key, self._who)
        _, S, vjp = welch_with_vjp(full[:, self.transient:], self.fs, self.nperseg, self.noverlap)

        def back(gS_kept):
            gS = np.zeros_like(S)
            gS[:, self._keep] = gS_kept
            grad = np.zeros_like(full)
            grad[:, self.transient:] = vjp(gS)
            return {self.key: grad.reshape(np.shape(outputs[self.key]))}

        return S[:, self._keep], back


class spectral_correlation_loss(_Spectral):
    """``1 - corr(mean over nodes of the Welch PSD of outputs[key], target_psd)`` and its gradient.

    The notebook's loss (TVB-O Jansen-Rit peak frequency: linear spectra); ``log=True``
    correlates log10 spectra instead (brainsweep's ``spectral_loss``). ``fs`` is the sampling
    rate of the output in Hz (1000 / sampling_dt in ms); ``target_psd`` has one value per
    frequency of a Welch PSD with the same ``nperseg`` and ``fs`` inside ``band`` (Hz, both
    ends included; default all frequencies). The first ``transient`` samples are left out.
    Dimensionless, in [0, 2].
    """

    _who = "spectral_correlation_loss"

    def __init__(self, target_psd, fs: float, nperseg: int, key: str, noverlap: int | None = None,
                 band=None, log: bool = False, transient: int = 0):
        self._init_spectral(fs, nperseg, key, noverlap, band, transient)
        self.target = np.asarray(target_psd, dtype=float).ravel()
        if self._keep.sum() != self.target.size:
            raise ValueError(f"spectral_correlation_loss: target_psd has {self.target.size} values, the "
                             f"Welch PSD (nperseg={nperseg}, fs={fs}, band={band}) has {self._keep.sum()}")
        self.log = bool(log)
        self._b = np.log10(self.target) if self.log else self.target

    def __call__(self, outputs):
        S, back = self._spectrum(outputs)
        mean = S.mean(axis=0)
        a = np.log10(mean) if self.log else mean
        loss, ga = _corr_loss_with_grad(a, self._b)
        gmean = ga / (mean * np.log(10.0)) if self.log else ga
        return float(loss), back(np.broadcast_to(gmean / S.shape[0], S.shape))


class log_spectral_rmse_loss(_Spectral):
    """``sqrt(mean_f (10 log10(S(f) / target_psd(f)))**2)`` in dB, S the node-averaged Welch PSD
    of ``outputs[key]`` (after ``transient`` samples), over the frequencies inside ``band`` (Hz,
    ends included) except DC: :func:`brainsweep.evaluation.log_spectral_rmse` of the same
    spectra. ``target_psd`` has one value per such frequency (``self.freqs``), > 0.
    Sensitive to the overall power (10x everywhere is 10 dB). At a loss of exactly 0 the
    gradient is returned as 0 (the minimum)."""

    _who = "log_spectral_rmse_loss"

    def __init__(self, target_psd, fs: float, nperseg: int, key: str, noverlap: int | None = None,
                 band=None, transient: int = 0):
        self._init_spectral(fs, nperseg, key, noverlap, band, transient, positive=True)
        self.target = self._check_target(np.ravel(target_psd), "target_psd")
        if not np.all(self.target > 0):
            raise ValueError("log_spectral_rmse_loss: target_psd must be > 0 at every kept frequency")
        self._lt = 10.0 * np.log10(self.target)

    def __call__(self, outputs):
        S, back = self._spectrum(outputs)
        mean = S.mean(axis=0)
        if not np.all(mean > 0):
            raise ValueError("log_spectral_rmse_loss: the simulated spectrum has zero power at "
                             f"{self.freqs[mean <= 0][:5]} Hz (a constant signal?); its log has no gradient")
        d = 10.0 * np.log10(mean) - self._lt
        loss = float(np.sqrt(np.mean(d * d)))
        gd = d / (d.size * loss) if loss > 0 else np.zeros_like(d)
        gmean = gd * 10.0 / (mean * np.log(10.0))
        return loss, back(np.broadcast_to(gmean / S.shape[0], S.shape))


def lorentzian(f, f0, width):
    """``1 / (1 + ((f - f0) / width)**2)``: a peak of height 1 at ``f0`` Hz, half width ``width`` Hz
    at half maximum. ``f0`` may be an array (one peak per row of the result)."""
    f0 = np.asarray(f0, dtype=float)
    return 1.0 / (1.0 + ((np.asarray(f, float) - f0[..., None]) / float(width)) ** 2)


def _per_node_targets(target_hz, who):
    t = np.asarray(target_hz, dtype=float)
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"{who}: target_hz: expected one finite frequency (Hz) per node, got shape {t.shape}")
    return t


def _check_nodes(S, targets, who):
    if S.shape[0] != targets.size:
        raise ValueError(f"{who}: {targets.size} target frequencies for {S.shape[0]} nodes")


class peak_frequency_loss(_Spectral):
    """Per-region peak frequency, differentiably (TVB-O's form): the mean over nodes of
    ``1 - corr(S_i, L_i)`` where ``S_i`` is node i's Welch PSD of ``outputs[key]`` inside
    ``band`` (Hz) and ``L_i`` a Lorentzian of half width ``width`` Hz centred on node i's target
    frequency ``target_hz[i]`` (Hz). 0 when every spectrum has the shape of its Lorentzian;
    in [0, 2]. ``log=True`` correlates log10 spectra with log10 Lorentzians."""

    _who = "peak_frequency_loss"

    def __init__(self, target_hz, fs: float, nperseg: int, key: str, band=(2.0, 20.0), width: float = 1.0,
                 noverlap: int | None = None, log: bool = False, transient: int = 0):
        self._init_spectral(fs, nperseg, key, noverlap, band, transient)
        self.target_hz = _per_node_targets(target_hz, self._who)
        if not (np.isfinite(width) and width > 0):
            raise ValueError(f"peak_frequency_loss: width: expected a half width > 0 Hz, got {width!r}")
        self.width, self.log = float(width), bool(log)
        L = lorentzian(self.freqs, self.target_hz, self.width)
        self._b = np.log10(L) if self.log else L

    def __call__(self, outputs):
        S, back = self._spectrum(outputs)
        _check_nodes(S, self.target_hz, self._who)
        n = S.shape[0]
        gS = np.empty_like(S)
        total = 0.0
        for i in range(n):
            a = np.log10(S[i]) if self.log else S[i]
            li, ga = _corr_loss_with_grad(a, self._b[i], self._who)
            total += li
            gS[i] = (ga / (S[i] * np.log(10.0)) if self.log else ga) / n
        return float(total / n), back(gS)


class spectral_centroid_loss(_Spectral):
    """Mean over nodes of ``(c_i - target_hz[i])**2`` (Hz²), ``c_i = sum f S_i(f) / sum S_i(f)``
    the spectral centroid of node i's Welch PSD of ``outputs[key]`` inside ``band`` (Hz).
    A smooth stand-in for the peak frequency when the band holds one peak."""

    _who = "spectral_centroid_loss"

    def __init__(self, target_hz, fs: float, nperseg: int, key: str, band=(2.0, 20.0),
                 noverlap: int | None = None, transient: int = 0):
        self._init_spectral(fs, nperseg, key, noverlap, band, transient)
        self.target_hz = _per_node_targets(target_hz, self._who)

    def centroids(self, S):
        """Spectral centroids (Hz) of the rows of ``S`` (kept frequencies)."""
        return (S @ self.freqs) / S.sum(axis=1)

    def __call__(self, outputs):
        S, back = self._spectrum(outputs)
        _check_nodes(S, self.target_hz, self._who)
        tot = S.sum(axis=1)
        if not np.all(tot > 0):
            raise ValueError(f"spectral_centroid_loss: nodes {np.flatnonzero(tot <= 0)[:5]} have no power in "
                             f"band {self.band} Hz")
        c = (S @ self.freqs) / tot
        r = c - self.target_hz
        n = S.shape[0]
        gc = 2.0 * r / n
        gS = gc[:, None] * (self.freqs[None, :] - c[:, None]) / tot[:, None]
        return float(np.mean(r * r)), back(gS)


class fc_fit_loss:
    """``1 - corr(upper triangle of FC, upper triangle of target_fc)`` (diagonal excluded), FC
    the Pearson correlation matrix of the rows of ``outputs[key]`` after ``transient`` samples:
    one minus :func:`brainsweep.evaluation.matrix_correlation` of
    :func:`brainsweep.evaluation.fc`. Dimensionless, in [0, 2]."""

    def __init__(self, target_fc, key: str, transient: int = 0):
        t = np.asarray(target_fc, dtype=float)
        if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 3:
            raise ValueError(f"fc_fit_loss: target_fc: expected a square matrix of >= 3 nodes, got shape {t.shape}")
        self.target_fc, self.key, self.transient = t, key, _transient(transient)
        self._iu = np.triu_indices(t.shape[0], k=1)

    def __call__(self, outputs):
        full = _output(outputs, self.key, "fc_fit_loss")
        x = full[:, self.transient:]
        if x.shape[0] != self.target_fc.shape[0]:
            raise ValueError(f"fc_fit_loss: output {self.key!r} has {x.shape[0]} nodes, target_fc "
                             f"{self.target_fc.shape[0]}")
        c = x - x.mean(axis=1, keepdims=True)
        norm = np.sqrt((c * c).sum(axis=1))
        if np.any(norm <= 0):
            raise ValueError(f"fc_fit_loss: nodes {np.flatnonzero(norm <= 0)[:5]} are constant; their "
                             "correlations are undefined")
        z = c / norm[:, None]
        fc = z @ z.T
        loss, gv = _corr_loss_with_grad(fc[self._iu], self.target_fc[self._iu], "fc_fit_loss")
        G = np.zeros_like(fc)
        G[self._iu] = gv
        gz = (G + G.T) @ z
        gc = (gz - z * (z * gz).sum(axis=1, keepdims=True)) / norm[:, None]
        grad = np.zeros_like(full)
        grad[:, self.transient:] = gc - gc.mean(axis=1, keepdims=True)
        return float(loss), {self.key: grad.reshape(np.shape(outputs[self.key]))}


class dipole_rmse_loss:
    """RMSE (target's unit, nAm) between a target dipole and the simulated one, exactly as
    :func:`brainsweep.evaluation.dipole_rmse` computes it: the simulated dipole is ``scale`` times
    the sum over ``nodes`` (default all) of ``outputs[key]`` (e.g. Jansen-Rit's ``v_pyr``, the
    proxy of :func:`~brainsweep.evaluation.jansen_rit_dipole`), sampled at ``(j + 1) *
    sampling_dt`` ms as ``model.run`` returns it, smoothed by a Hamming window of
    ``smooth_window`` ms, linearly interpolated onto ``target_t`` (ms) and compared with
    ``target`` for ``tstart <= t <= tstop``. At a loss of exactly 0 the gradient is 0."""

    def __init__(self, target_t, target, key: str, sampling_dt: float, nodes=None, scale: float = 1.0,
                 smooth_window: float | None = None, tstart: float = 0.0, tstop: float | None = None):
        if not (np.isfinite(sampling_dt) and sampling_dt > 0):
            raise ValueError(f"dipole_rmse_loss: sampling_dt: expected a step > 0 ms, got {sampling_dt!r}")
        self.target_t, self.target = np.asarray(target_t, float), np.asarray(target, float)
        self.key, self.sampling_dt, self.scale = key, float(sampling_dt), float(scale)
        self.nodes = None if nodes is None else np.atleast_1d(np.asarray(nodes, dtype=np.int64))
        if self.nodes is not None and (self.nodes.ndim != 1 or np.any(self.nodes < 0)):
            raise ValueError(f"dipole_rmse_loss: nodes: expected node indices >= 0, got {nodes!r}")
        self.smooth_window, self.tstart, self.tstop = smooth_window, float(tstart), tstop

    def __call__(self, outputs):
        full = _output(outputs, self.key, "dipole_rmse_loss")
        if self.nodes is not None and self.nodes.max() >= full.shape[0]:
            raise ValueError(f"dipole_rmse_loss: nodes {self.nodes.tolist()}: output {self.key!r} has "
                             f"{full.shape[0]} nodes")
        rows = np.arange(full.shape[0]) if self.nodes is None else self.nodes
        n = full.shape[1]
        sim_t = (np.arange(n) + 1.0) * self.sampling_dt
        d = full[rows].sum(axis=0)
        sim, tgt = _aligned(sim_t, d, self.target_t, self.target, self.smooth_window, self.scale,
                            self.tstart, self.tstop)
        r = sim - tgt
        loss = float(np.sqrt(np.mean(r * r)))
        g_sim = r / (r.size * loss) if loss > 0 else np.zeros_like(r)
        tstop = self.target_t[-1] if self.tstop is None else float(self.tstop)
        t_sel = self.target_t[(self.target_t >= self.tstart) & (self.target_t <= tstop)]
        g = self.scale * _smooth_vjp(_interp_vjp(sim_t, t_sel, g_sim), self.smooth_window, self.sampling_dt)
        grad = np.zeros_like(full)
        np.add.at(grad, rows, g)
        return loss, {self.key: grad.reshape(np.shape(outputs[self.key]))}


def _interp_vjp(xp, x, g):
    """dL/dfp of ``np.interp(x, xp, fp)`` given dL/d(result) = g (xp increasing, x inside it)."""
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    w = (x - xp[k]) / (xp[k + 1] - xp[k])
    out = np.zeros(len(xp))
    np.add.at(out, k, g * (1.0 - w))
    np.add.at(out, k + 1, g * w)
    return out


def _smooth_vjp(g, window_ms, dt):
    """dL/dx of :func:`smooth_dipole` (``np.convolve(x, w, "same")``, ``w`` its normalised
    Hamming window of ``round(window_ms / dt)`` samples) given dL/d(result) = g."""
    m = int(np.round(1e-3 * window_ms * (1000.0 / dt))) if window_ms else 0
    if m <= 0:
        return g
    win = np.hamming(m)
    win /= win.sum()
    full = np.zeros(g.size + m - 1)
    full[(m - 1) // 2:(m - 1) // 2 + g.size] = g   # "same" keeps these samples of the full convolution
    return np.correlate(full, win, "valid")


def objective_digest(objective) -> str | None:
    """SHA-256 (hex) of the class and every setting (targets included) of one of this module's
    objectives; None for any other callable. Stable across processes (array bytes, not ids)."""
    cls = type(objective)
    if cls.__module__ != __name__ or cls.__name__ not in __all__:
        return None
    h = hashlib.sha256(cls.__qualname__.encode())
    for key, value in sorted(vars(objective).items()):
        h.update(key.encode())
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
    return h.hexdigest()
