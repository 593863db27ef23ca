"""Make the engine reference fixtures with neurolib 0.6.2 (run ONCE, in a separate venv).

    /root/.pyenv/versions/3.12.1/bin/python -m venv /tmp/ref-neurolib
    /tmp/ref-neurolib/bin/pip install neurolib==0.6.2
    /tmp/ref-neurolib/bin/python tests/data/engine_make_fixtures.py

Writes tests/data/engine_neurolib_hopf.npz, engine_neurolib_fhn.npz (10-node delayed
networks, zero noise, given initial state, dt = 0.1 ms) and engine_neurolib_bold.npz
(neurolib's Balloon-Windkessel integrator on an analytic input). Only neurolib is used
here; the brainsweep tests recompute the same setups with our engine.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
N, DT, DURATION, KEEP_EVERY = 10, 0.1, 1000.0, 10


def network():
    rng = np.random.default_rng(20240601)
    cmat = rng.uniform(0, 1, (N, N)) * (rng.uniform(0, 1, (N, N)) < 0.6)
    np.fill_diagonal(cmat, 0)
    cmat /= cmat.sum(axis=1).max()
    dmat = rng.uniform(5, 100, (N, N))
    dmat = (dmat + dmat.T) / 2
    np.fill_diagonal(dmat, 0)
    return cmat, dmat, rng


def run_neurolib(model_cls, name, params):
    cmat, dmat, rng = network()
    x0 = rng.uniform(-0.5, 0.5, (N, 1))
    y0 = rng.uniform(-0.5, 0.5, (N, 1))
    m = model_cls(Cmat=cmat, Dmat=dmat)
    m.params.update(params)
    m.params["duration"] = DURATION
    m.params["dt"] = DT
    m.params["sigma_ou"] = 0.0
    m.params["xs_init"] = x0.copy()
    m.params["ys_init"] = y0.copy()
    m.run()
    np.savez_compressed(
        HERE / f"engine_neurolib_{name}.npz",
        Cmat=cmat, Dmat=dmat, x0=x0[:, 0], y0=y0[:, 0], dt=DT, duration=DURATION, keep_every=KEEP_EVERY,
        t=m.t[KEEP_EVERY - 1 :: KEEP_EVERY], x=m.x[:, KEEP_EVERY - 1 :: KEEP_EVERY],
        y=m.y[:, KEEP_EVERY - 1 :: KEEP_EVERY], params=repr(params),
    )  # fmt: skip


def bold_input(t_ms):
    """Analytic activity: node 0 a unit step at 1 s, node 1 0.5 + 0.5 sin(2 pi 0.05 Hz t) from 0."""
    z = np.empty((2, t_ms.size))
    z[0] = (t_ms >= 1000.0).astype(float)
    z[1] = 0.5 + 0.5 * np.sin(2 * np.pi * 0.05e-3 * t_ms)
    return z


def run_bold():
    from neurolib.models.bold.timeIntegration import simulateBOLD

    dt = 0.1
    t = np.arange(1, 400_001) * dt  # 40 s; input sample k is at t = (k+1) dt (neurolib model time axis)
    z = bold_input(t)
    ones = np.ones(2)
    bold, *_ = simulateBOLD(z, dt * 1e-3, ones, X=np.zeros(2), F=ones.copy(), Q=ones.copy(), V=ones.copy())
    keep = 1000  # every 100 ms
    np.savez_compressed(HERE / "engine_neurolib_bold.npz", t=t[keep - 1 :: keep], BOLD=bold[:, keep - 1 :: keep], dt=dt)


if __name__ == "__main__":
    from neurolib.models.fhn import FHNModel
    from neurolib.models.hopf import HopfModel

    run_neurolib(HopfModel, "hopf", {"K_gl": 0.8, "signalV": 20.0, "a": 0.1, "w": 0.3})
    run_neurolib(FHNModel, "fhn", {"K_gl": 0.5, "signalV": 10.0})
    run_bold()
    print("fixtures written to", HERE)
