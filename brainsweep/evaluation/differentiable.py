"""Objectives with their gradient with respect to the simulated signal.

Each objective is a callable ``objective(outputs) -> (loss, {output name: dloss/doutput})``
where ``outputs`` maps output names to (nodes, samples) arrays as ``model.run`` returns
them; :func:`brainsweep.models.adjoint.gradient` carries the signal gradient back to the
parameters.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sum_of_squares", "spectral_correlation_loss", "welch_with_vjp"]


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


def _corr_loss_with_grad(a, b):
    """1 - Pearson correlation of vectors a and b, and its gradient with respect to a."""
    ca, cb = a - a.mean(), b - b.mean()
    na, nb = np.sqrt(ca @ ca), np.sqrt(cb @ cb)
    if na <= 1e-300 or nb <= 1e-300:
        raise ValueError("spectral_correlation_loss: a flat spectrum has no correlation (and no gradient)")
    r = (ca @ cb) / (na * nb)
    return 1.0 - r, -(cb / (na * nb) - r * ca / (na * na))


class spectral_correlation_loss:
    """``1 - corr(mean over nodes of the Welch PSD of outputs[key], target_psd)`` and its gradient.

    The notebook's loss (TVB-O Jansen-Rit peak frequency: linear spectra); ``log=True``
    correlates log10 spectra instead (brainsweep's ``spectral_loss``). ``fs`` is the sampling
    rate of the output in Hz (1000 / sampling_dt in ms); ``target_psd`` has one value per
    frequency of a Welch PSD with the same ``nperseg`` and ``fs`` inside ``band`` (Hz, both
    ends included; default all frequencies). The first ``transient`` samples are left out.
    Dimensionless, in [0, 2].
    """

    def __init__(self, target_psd, fs: float, nperseg: int, key: str, noverlap: int | None = None,
                 band=None, log: bool = False, transient: int = 0):
        if isinstance(transient, bool) or not isinstance(transient, (int, np.integer)) or transient < 0:
            raise ValueError(f"transient: expected a number of samples >= 0, got {transient!r}")
        self.transient = int(transient)
        self.target = np.asarray(target_psd, dtype=float).ravel()
        self.fs, self.nperseg, self.noverlap = float(fs), int(nperseg), noverlap
        self.key, self.band, self.log = key, band, bool(log)
        f = np.fft.rfftfreq(self.nperseg, 1.0 / self.fs)
        self._keep = np.ones(len(f), bool) if band is None else (f >= band[0]) & (f <= band[1])
        if self._keep.sum() != self.target.size:
            raise ValueError(f"spectral_correlation_loss: target_psd has {self.target.size} values, the "
                             f"Welch PSD (nperseg={nperseg}, fs={fs}, band={band}) has {self._keep.sum()}")
        self._b = np.log10(self.target) if self.log else self.target

    def __call__(self, outputs):
        full = np.atleast_2d(outputs[self.key])
        y = full[:, self.transient:]
        _, S, vjp = welch_with_vjp(y, self.fs, self.nperseg, self.noverlap)
        mean = S.mean(axis=0)[self._keep]
        a = np.log10(mean) if self.log else mean
        loss, ga = _corr_loss_with_grad(a, self._b)
        gmean = ga / (mean * np.log(10.0)) if self.log else ga
        gS = np.zeros_like(S)
        gS[:, self._keep] = gmean / S.shape[0]
        grad = np.zeros_like(full)
        grad[:, self.transient:] = vjp(gS)
        return float(loss), {self.key: grad.reshape(np.shape(outputs[self.key]))}
