"""Make tests/data/engine_regression.npz: noisy runs of the engine, kept to pin its numerics.

A study stored with one version of brainsweep must reproduce bit for bit with a later one
(``brainsweep reproduce``). This file records runs of several models from a fixed seed: batched
(16 runs: groups of 8 on 2 threads, of 16 on one), single, Euler and Heun, OU and white noise, a stimulus and
BOLD. ``tests/test_engine_regression.py`` recomputes them and requires identical arrays.

Made with the engine of commit cd121d6 (before the stack-scratch, gather8 and per-scheme kernel
changes), so the test also shows that those changes left every number unchanged:
``git worktree add /tmp/old cd121d6 && PYTHONPATH=/tmp/old python tests/data/engine_make_regression.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def network(n=10, seed=5):
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 1, (n, n)) * (rng.random((n, n)) < 0.6)
    np.fill_diagonal(c, 0)
    d = rng.uniform(5, 80, (n, n))
    return c, (d + d.T) / 2


def _named(prefix, outputs):
    """{prefix + "_" + key: array} of one run's output dict."""
    return {f"{prefix}_{k}": v for k, v in outputs.items()}


def _batch(m, k_values, seeds, **kw):
    """Outputs of a K_gl batch, keyed batch<r>_<output>."""
    out = {}
    for r, o in enumerate(m.run_batch([{"K_gl": k} for k in k_values], seeds=seeds, **kw)):
        out.update(_named(f"batch{r}", o))
    return out


def cases():
    """{model name: callable returning its dict of arrays}; shared by the maker and the test."""
    from brainsweep.models import FitzHughNagumoModel, HopfModel, Sinusoid, WilsonCowanModel, WongWangModel

    c, d = network()
    run = dict(duration=200.0, sampling_dt=4.0)
    bold = dict(bold=True, tr=50.0, bold_dt=1.0)

    def hopf():
        m = HopfModel(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.05, a=-0.02)
        out = _batch(m, np.linspace(0.2, 1.2, 16), list(range(100, 116)), outputs=["x"], **run, **bold)
        stim = {"x": Sinusoid(amplitude=0.1, frequency=40.0)}
        out.update(_named("heun", m.run(seed=7, integrator="heun", stimulus=stim, **run)))
        return out

    def fhn():
        m = FitzHughNagumoModel(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.02, sigma_white=0.01)
        return _batch(m, np.linspace(0.1, 0.8, 4), list(range(4)), **run)

    def wc():
        m = WilsonCowanModel(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.01, exc_ext=0.75)
        return _batch(m, np.linspace(0.1, 1.0, 4), list(range(20, 24)), **run, **bold)

    def ww():
        m = WongWangModel(Cmat=c, Dmat=d)
        m.params.update(sigma_ou=0.002)
        return _named("single", m.run(seed=11, **run))

    return {"hopf": hopf, "fhn": fhn, "wc": wc, "ww": ww}


def compute():
    out = {}
    for name, fn in cases().items():
        out.update({f"{name}/{k}": np.asarray(v) for k, v in fn().items()})
    return out


if __name__ == "__main__":
    import brainsweep

    print("engine of", brainsweep.__file__, file=sys.stderr)
    np.savez_compressed(Path(__file__).with_name("engine_regression.npz"), **compute())
