"""FitzHugh-Nagumo: scipy reference, integrator order, neurolib 0.6.2 fixture."""

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from brainsweep.models import FitzHughNagumoModel

DATA = Path(__file__).parent / "data"
P = dict(alpha=3.0, beta=4.0, gamma=-1.5, delta=0.0, epsilon=0.5, tau=20.0, x_ext=1.0)


def fhn(t, z):
    x, y = z
    return [-P["alpha"] * x**3 + P["beta"] * x**2 + P["gamma"] * x - y + P["x_ext"],
            (x - P["delta"] - P["epsilon"] * y) / P["tau"]]  # fmt: skip


def run(integrator, dt, duration=40.0):
    m = FitzHughNagumoModel()
    return m.run(duration=duration, dt=dt, sampling_dt=1.0, integrator=integrator,
                 initial_state={"x": 0.2, "y": 0.1})  # fmt: skip


def ref(t):
    return solve_ivp(fhn, (0, t[-1]), [0.2, 0.1], t_eval=t, rtol=1e-11, atol=1e-13, method="DOP853").y


@pytest.mark.parametrize("integrator,dt,tol", [("euler", 0.001, 5e-4), ("heun", 0.01, 2e-5)])
def test_single_node_matches_solve_ivp(integrator, dt, tol):
    out = run(integrator, dt)
    r = ref(out["t"])
    assert np.max(np.abs(out["x"][0] - r[0])) < tol
    assert np.max(np.abs(out["y"][0] - r[1])) < tol


@pytest.mark.parametrize("integrator,order", [("euler", 1), ("heun", 2)])
def test_error_shrinks_at_integrator_order(integrator, order):
    errs = []
    for dt in (0.02, 0.01, 0.005):
        out = run(integrator, dt)
        errs.append(np.max(np.abs(out["x"][0] - ref(out["t"])[0])))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all(np.abs(np.log2(ratios) - order) < 0.2), (errs, ratios)


def test_matches_neurolib_10_node_delayed_network():
    f = np.load(DATA / "engine_neurolib_fhn.npz")
    m = FitzHughNagumoModel(Cmat=f["Cmat"], Dmat=f["Dmat"])
    m.params.update(ast.literal_eval(str(f["params"])))
    out = m.run(duration=float(f["duration"]), dt=float(f["dt"]), sampling_dt=float(f["dt"]) * int(f["keep_every"]),
                initial_state={"x": f["x0"], "y": f["y0"]})  # fmt: skip
    assert np.max(np.abs(out["x"] - f["x"])) < 1e-9
    assert np.max(np.abs(out["y"] - f["y"])) < 1e-9
    assert np.ptp(f["x"][:, -100:]) > 0.5  # oscillating, not a fixed point
