"""External stimuli, evaluated chunk by chunk (never allocated at full nodes x steps).

A stimulus is any callable ``f(t) -> array`` taking the times t (ms, 1-D) of one
chunk and returning values broadcastable to (n_nodes, len(t)); ``run(stimulus=
{channel: f})`` adds it to that input channel of every node (shape (len(t),)) or
per node ((n_nodes, len(t)) or amplitude arrays of length n_nodes). A stateful
stimulus may define ``reset()``; the engine calls it at the start of each run and
then evaluates the chunks in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Stimulus", "StepStimulus", "PulseTrain", "Sinusoid", "OUStimulus"]


def _amp(amplitude) -> np.ndarray:
    a = np.asarray(amplitude, dtype=float)
    if a.ndim > 1 or not np.all(np.isfinite(a)):
        raise ValueError(f"amplitude must be a finite number or a 1-D per-node array, got {amplitude!r}")
    return a[:, None] if a.ndim == 1 else a


class Stimulus:
    """Base class: subclasses implement ``__call__(t_ms) -> (nodes, len(t)) or (len(t),)``."""

    def reset(self) -> None:
        pass

    def __add__(self, other: "Stimulus") -> "Stimulus":
        return _Sum(self, other)


@dataclass
class _Sum(Stimulus):
    a: Stimulus
    b: Stimulus

    def reset(self):
        for s in (self.a, self.b):
            if hasattr(s, "reset"):
                s.reset()

    def __call__(self, t):
        return np.asarray(self.a(t)) + np.asarray(self.b(t))


@dataclass
class StepStimulus(Stimulus):
    """``amplitude`` (scalar or per node) from ``onset`` ms for ``duration`` ms (inf: until the end)."""

    amplitude: float | np.ndarray = 1.0
    onset: float = 0.0
    duration: float = np.inf

    def __call__(self, t):
        on = (t >= self.onset) & (t < self.onset + self.duration)
        return _amp(self.amplitude) * on


@dataclass
class PulseTrain(Stimulus):
    """Rectangular pulses of ``width`` ms every ``period`` ms from ``onset`` (``n_pulses``: None = unlimited)."""

    amplitude: float | np.ndarray = 1.0
    period: float = 100.0
    width: float = 1.0
    onset: float = 0.0
    n_pulses: int | None = None

    def __post_init__(self):
        if self.period <= 0 or self.width <= 0:
            raise ValueError(f"period and width must be > 0 ms, got {self.period}, {self.width}")

    def __call__(self, t):
        rel = t - self.onset
        k = np.floor(rel / self.period)
        on = (rel >= 0) & (rel - k * self.period < self.width)
        if self.n_pulses is not None:
            on &= k < self.n_pulses
        return _amp(self.amplitude) * on


@dataclass
class Sinusoid(Stimulus):
    """``amplitude * sin(2 pi frequency t + phase) + offset`` from ``onset`` ms; frequency in Hz."""

    amplitude: float | np.ndarray = 1.0
    frequency: float = 10.0
    phase: float = 0.0
    offset: float = 0.0
    onset: float = 0.0

    def __call__(self, t):
        val = _amp(self.amplitude) * np.sin(2 * np.pi * self.frequency * 1e-3 * t + self.phase) + self.offset
        return val * (t >= self.onset)


@dataclass
class OUStimulus(Stimulus):
    """Independent Ornstein-Uhlenbeck input per node (exact discretisation on the chunk's time grid).

    mean, sigma (stationary standard deviation), tau (ms); reproducible through ``seed``;
    the state continues across chunks and restarts at ``mean`` on ``reset()`` (each run).
    """

    n_nodes: int = 1
    mean: float = 0.0
    sigma: float = 1.0
    tau: float = 10.0
    seed: int = 0
    _x: np.ndarray | None = field(default=None, repr=False)
    _t: float | None = field(default=None, repr=False)
    _rng: np.random.Generator | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.tau <= 0 or self.sigma < 0:
            raise ValueError(f"OUStimulus needs tau > 0 ms and sigma >= 0, got tau={self.tau}, sigma={self.sigma}")
        self.reset()

    def reset(self):
        self._rng = np.random.default_rng(self.seed)
        self._x = np.full(self.n_nodes, float(self.mean))
        self._t = None

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        out = np.empty((self.n_nodes, t.shape[0]))
        x, last = self._x, self._t
        z = self._rng.standard_normal((self.n_nodes, t.shape[0]))
        for k in range(t.shape[0]):
            if last is not None:
                decay = np.exp(-(t[k] - last) / self.tau)
                x = self.mean + (x - self.mean) * decay + self.sigma * np.sqrt(1 - decay**2) * z[:, k]
            out[:, k] = x
            last = t[k]
        self._x, self._t = x, last
        return out
