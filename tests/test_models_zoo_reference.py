"""Wilson-Cowan, Wong-Wang, thalamic and Jansen-Rit models against their reference implementations.

Fixtures (tests/data/zoo_*.npz) were made once with neurolib 0.6.2 and tvb-library 2.10.0 in separate
environments; how is written in tests/data/README_zoo.md (scripts in tests/data/make_zoo_fixtures/).

Tolerances: the neurolib models use the same Euler scheme, dt, delays and initial history as neurolib,
so the only differences are floating-point rounding (order of sums, libm exp): measured <= 1e-12,
asserted with atol 1e-9 (relative to values of order 0.01-400), far below what a real difference
produces (a one-step delay shift or a wrong parameter changes the outputs by > 1e-4).
tvb keeps its delay history and weights in float32; a float64 implementation of the same scheme
differs from tvb's run by 2.4e-8 mV (see README_zoo.md), asserted with atol 1e-6 mV, while a delay one
step longer gives 5e-3 mV and coupling re-evaluated at the Heun predictor 2.5e-3 mV.
"""

from pathlib import Path

import numpy as np
import pytest

from brainsweep.models.jansen_rit import JansenRitModel, jansen_rit_rhs
from brainsweep.models.thalamic import STATES as THALAMIC_STATES
from brainsweep.models.thalamic import ThalamicMassModel
from brainsweep.models.wilson_cowan import WilsonCowanModel
from brainsweep.models.wong_wang import WongWangModel

DATA = Path(__file__).parent / "data"


def load(name):
    return np.load(DATA / f"zoo_{name}_neurolib.npz" if name != "jansenrit" else DATA / "zoo_jansenrit_tvb.npz")


def fixture_params(d):
    return {k[len("param_"):]: float(d[k]) for k in d.files if k.startswith("param_")}


def sample_index(t, dt):
    """Index into a sampling_dt = dt output of the fixture's sample times t (ms)."""
    return np.rint(np.asarray(t) / dt).astype(int) - 1


def test_wilson_cowan_matches_neurolib_delayed_network():
    d = load("wc")
    m = WilsonCowanModel(Cmat=d["Cmat"], Dmat=d["Dmat"])
    m.params.update(fixture_params(d))
    out = m.run(duration=float(d["duration"]), dt=float(d["dt"]), sampling_dt=1.0, seed=0,
                initial_state={"exc": d["exc_init"], "inh": d["inh_init"]})  # fmt: skip
    np.testing.assert_allclose(out["t"], d["t"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["exc"], d["exc"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["inh"], d["inh"], rtol=0, atol=1e-9)
    assert np.ptp(d["exc"][:, 100:]) > 0.1  # the fixture oscillates, so timing errors would show


def test_wong_wang_matches_neurolib_delayed_network():
    d = load("ww")
    dt = float(d["dt"])
    m = WongWangModel(Cmat=d["Cmat"], Dmat=d["Dmat"])
    m.params.update(fixture_params(d))
    m.params["tau_inh"] = float(d["effective_tau_inh"])  # neurolib 0.6.2 integrates si with tau_exc
    out = m.run(duration=float(d["duration"]), dt=dt, seed=0, initial_state={"se": d["ses_init"], "si": d["sis_init"]})
    k = sample_index(d["t"], dt)
    np.testing.assert_allclose(out["t"][k], d["t"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["se"][:, k], d["se"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["si"][:, k], d["si"], rtol=0, atol=1e-9)
    # r_exc/r_inh are recorded one step after the state they belong to, as in neurolib (see fixture README)
    np.testing.assert_allclose(out["r_exc"][:, k + 1], d["r_exc"], rtol=1e-9, atol=0)
    np.testing.assert_allclose(out["r_inh"][:, k + 1], d["r_inh"], rtol=1e-9, atol=0)


def test_thalamic_matches_neurolib_single_node():
    d = load("thalamic")
    m = ThalamicMassModel()
    m.params.update(fixture_params(d))
    init = {s.name: float(d[f"init_{s.name}"]) for s in THALAMIC_STATES}
    out = m.run(duration=float(d["duration"]), dt=float(d["dt"]), sampling_dt=1.0, seed=0, initial_state=init)
    np.testing.assert_allclose(out["t"], d["t"], rtol=0, atol=1e-9)
    for name in ("V_t", "V_r"):  # mV, |V| <= 75
        np.testing.assert_allclose(out[name], d[name], rtol=0, atol=1e-9)
    for name in ("Q_t", "Q_r"):  # Hz, up to 400
        np.testing.assert_allclose(out[name], d[name], rtol=1e-9, atol=1e-9)
    final = np.array([float(d[f"final_{s.name}"]) for s in THALAMIC_STATES])
    np.testing.assert_allclose(m.state[0], final, rtol=1e-9, atol=1e-12)
    assert np.ptp(d["Q_t"]) > 100  # bursting: a real test of timing


def _param_vector(model):
    return np.array([float(model.params[n]) for n in model.spec()["param_names"]])


@pytest.mark.parametrize("param_set", ["tvbo", "tvb_defaults"])
def test_jansen_rit_rhs_equals_tvb_dfun(param_set):
    d = load("jansenrit")
    m = JansenRitModel()
    m.params.update(dict(zip(d["param_names"].tolist(), map(float, d[f"dfun_params_{param_set}"]))))
    p = _param_vector(m)
    ref = d[f"dfun_{param_set}"]
    dx = np.empty(6)
    ours = np.empty_like(ref)
    for k, (state, c) in enumerate(zip(d["dfun_states"], d["dfun_coupling"])):
        jansen_rit_rhs(np.ascontiguousarray(state), np.array([c]), np.zeros(1), p, m.constants(), dx)
        ours[k] = dx
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-300)


def test_jansen_rit_defaults_are_the_tvbo_example_values():
    d = load("jansenrit")
    m = JansenRitModel()
    for name, value in zip(d["param_names"].tolist(), d["dfun_params_tvbo"]):
        assert m.params[name] == value, name
    for name, value in zip(d["coupling_names"].tolist(), d["coupling_values"]):
        assert m.params[f"coupling_{name}"] == value, name
    assert m.integrator == "heun"


def test_jansen_rit_heun_network_matches_tvb_simulator():
    d = load("jansenrit")
    m = JansenRitModel(Cmat=d["heun_weights"], Dmat=d["heun_lengths"])
    m.params["signalV"] = float(d["heun_speed"])
    m.params.update({f"coupling_{k}": float(v) for k, v in zip(d["coupling_names"].tolist(), d["coupling_values"])})
    out = m.run(duration=float(d["heun_duration"]), dt=float(d["heun_dt"]), sampling_dt=1.0,
                initial_state=d["heun_init_state"], integrator="heun", seed=0)  # fmt: skip
    np.testing.assert_allclose(out["t"], d["heun_t"], rtol=0, atol=1e-9)
    ours = np.stack([out[f"y{k}"] for k in range(6)])
    np.testing.assert_allclose(ours, d["heun_states"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["v_pyr"], d["heun_states"][1] - d["heun_states"][2], rtol=0, atol=1e-6)
    assert np.ptp(d["heun_states"][1] - d["heun_states"][2]) > 10  # oscillating network (mV)
