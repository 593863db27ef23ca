"""Hopf model: scipy reference, integrator order, limit cycle, neurolib 0.6.2 fixture."""

import ast
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from brainsweep.models import HopfModel

DATA = Path(__file__).parent / "data"


def hopf_ode(a, w):
    def f(t, z):
        x, y = z
        r2 = x * x + y * y
        return [(a - r2) * x - w * y, (a - r2) * y + w * x]

    return f


def reference(a, w, x0, y0, t_eval):
    sol = solve_ivp(hopf_ode(a, w), (0, t_eval[-1]), [x0, y0], t_eval=t_eval, rtol=1e-11, atol=1e-13, method="DOP853")
    return sol.y


def run_single(integrator, dt, duration=20.0, a=0.25, w=0.2, x0=0.3, y0=-0.1, sampling_dt=1.0):
    m = HopfModel()
    m.params.update(a=a, w=w)
    out = m.run(duration=duration, dt=dt, sampling_dt=sampling_dt, integrator=integrator,
                initial_state={"x": x0, "y": y0}, seed=0)  # fmt: skip
    return out


@pytest.mark.parametrize("integrator,dt,tol", [("euler", 0.001, 2e-4), ("heun", 0.01, 2e-6)])
def test_single_node_matches_solve_ivp(integrator, dt, tol):
    out = run_single(integrator, dt)
    ref = reference(0.25, 0.2, 0.3, -0.1, out["t"])
    assert np.max(np.abs(out["x"][0] - ref[0])) < tol
    assert np.max(np.abs(out["y"][0] - ref[1])) < tol


@pytest.mark.parametrize("integrator,order", [("euler", 1), ("heun", 2)])
def test_error_shrinks_at_integrator_order(integrator, order):
    errs = []
    for dt in (0.04, 0.02, 0.01):
        out = run_single(integrator, dt)
        ref = reference(0.25, 0.2, 0.3, -0.1, out["t"])
        errs.append(np.max(np.abs(out["x"][0] - ref[0])))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all(np.abs(np.log2(ratios) - order) < 0.15), (errs, ratios)


def test_limit_cycle_radius_and_frequency():
    m = HopfModel()
    m.params.update(a=0.25, w=0.2)
    out = m.run(duration=1000.0, dt=0.01, sampling_dt=0.1, integrator="heun", initial_state={"x": 0.05, "y": 0.0})
    x, y = out["x"][0], out["y"][0]
    r = np.hypot(x, y)[-2000:]
    assert np.allclose(r, 0.5, atol=1e-6)  # sqrt(a)
    phase = np.unwrap(np.arctan2(y, x))[-2000:]
    omega = np.polyfit(out["t"][-2000:], phase, 1)[0]  # rad/ms
    assert abs(omega - 0.2) < 1e-6
    assert abs(omega / (2 * np.pi) * 1000 - 31.83) < 0.01  # Hz


def test_decays_for_negative_a():
    m = HopfModel()
    m.params.update(a=-0.1, w=0.2)
    out = m.run(duration=100.0, dt=0.01, integrator="heun", initial_state={"x": 0.1, "y": 0.0}, sampling_dt=1.0)
    r = np.hypot(out["x"][0], out["y"][0])
    # exact: u = r^2 obeys u' = 2 a u - 2 u^2  ->  u(t) = a u0 e^{2at} / (a + u0 (e^{2at} - 1))
    a, u0, e = -0.1, 0.01, np.exp(-0.2 * out["t"])
    assert np.allclose(r**2, a * u0 * e / (a + u0 * (e - 1)), rtol=1e-4, atol=0)
    assert r[-1] < 1e-5


def test_matches_neurolib_10_node_delayed_network():
    f = np.load(DATA / "engine_neurolib_hopf.npz")
    m = HopfModel(Cmat=f["Cmat"], Dmat=f["Dmat"])
    m.params.update(ast.literal_eval(str(f["params"])))
    out = m.run(duration=float(f["duration"]), dt=float(f["dt"]), sampling_dt=float(f["dt"]) * int(f["keep_every"]),
                initial_state={"x": f["x0"], "y": f["y0"]})  # fmt: skip
    assert np.array_equal(out["t"].round(9), f["t"].round(9))
    assert np.max(np.abs(out["x"] - f["x"])) < 1e-10
    assert np.max(np.abs(out["y"] - f["y"])) < 1e-10
    assert np.ptp(f["x"][:, -100:]) > 0.1  # the reference really oscillates


def test_report_lists_parameters():
    rep = HopfModel().report()
    assert "| K_gl | 0.6 | 0.6 | 1 | [0, inf) |" in rep
    assert "| tau_ou | 5 | 5 | ms | (0, inf) |" in rep
