"""Objective adapters on model-output mappings: scores, transients, pickling, combining."""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from brainsweep import evaluation as ev


def _bold_out(seed=0, n=6, n_tr=200, tr=2000.0):
    rng = np.random.default_rng(seed)
    bold = rng.standard_normal((n, n)) @ rng.standard_normal((n, n_tr))
    return {"t": np.arange(0, n_tr * tr, 1.0), "BOLD": bold, "BOLD_t": tr * np.arange(1, n_tr + 1)}


def _neural_out(f_hz=10.0, n=3, seconds=10.0, dt=1.0, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds * 1000, dt)
    x = np.sin(2 * np.pi * f_hz * t / 1000.0) + 0.3 * rng.standard_normal((n, t.size))
    return {"t": t, "x": x}


def test_fit_fc_drops_transient_and_scores_against_direct_computation():
    out = _bold_out()
    keep = out["BOLD_t"] >= 10_000.0
    fc_direct = np.corrcoef(out["BOLD"][:, keep])
    assert ev.fit_fc(fc_direct)(out)["fc_fit"] == pytest.approx(1.0, abs=1e-12)
    other = np.corrcoef(np.random.default_rng(5).standard_normal((6, 50)))
    iu = np.triu_indices(6, 1)
    scores = ev.fit_fc([fc_direct, other], keep=True)(out)
    expected = np.mean([1.0, np.corrcoef(fc_direct[iu], other[iu])[0, 1]])
    assert scores["fc_fit"] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(scores["fc"], fc_direct, atol=1e-13)
    with pytest.raises(ValueError, match="6 nodes"):
        ev.fit_fc(np.eye(5))(out)


def test_fit_fcd_zero_for_own_fcd_and_positive_otherwise():
    out = _bold_out(n_tr=300)
    bold = out["BOLD"][:, out["BOLD_t"] >= 10_000.0]
    own = ev.fcd(bold, window=30, step=5)
    assert ev.fit_fcd(own)(out)["fcd_ks"] == 0.0
    other = ev.fcd(np.random.default_rng(9).standard_normal((6, 300)), window=30, step=5)
    d = ev.fit_fcd([own, other], keep=True)(out)
    assert d["fcd_ks"] == pytest.approx(ev.ks_distance(own, other) / 2)
    assert d["fcd"].shape == own.shape


def test_fit_spectrum_and_peak_frequency_use_sampling_rate_from_time_axis():
    out = _neural_out(f_hz=10.0, dt=0.5)  # fs = 2000 Hz
    f, S = ev.welch_psd(out["x"], 2000.0)
    scores = ev.fit_spectrum(S.mean(axis=0), f, key="x", band=(2, 40), keep=True)(out)
    assert scores["spectral_loss"] == pytest.approx(0.0, abs=1e-12)
    assert scores["log_spectral_rmse"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(scores["psd_f"], f)
    pk = ev.target_peak_frequency(12.0, band=(2, 40), key="x")(out)
    assert pk["peak_frequency"] == pytest.approx(10.0, abs=0.25)
    assert pk["peak_frequency_error"] == pytest.approx(abs(pk["peak_frequency"] - 12.0))
    flat = {"t": out["t"], "x": np.zeros_like(out["x"])}
    with pytest.warns(ev.ConstantSignalWarning):
        pk = ev.target_peak_frequency(12.0, band=(2, 40), key="x")(flat)
    assert np.isnan(pk["peak_frequency"]) and pk["peak_frequency_error"] == 28.0
    with pytest.raises(ValueError, match="outside band"):
        ev.target_peak_frequency(50.0, band=(2, 40), key="x")


def test_fit_dipole_with_key_nodes_and_jansen_rit_builder():
    t = np.arange(0, 200, 0.1)
    y1 = np.stack([np.sin(t / 20.0), 0.5 * np.cos(t / 15.0)])
    y2 = np.stack([0.2 * np.sin(t / 10.0), np.zeros_like(t)])
    out = {"t": t, "y1": y1, "y2": y2, "agg": y1 - y2}
    target_t = np.arange(0, 170, 1.7)
    agg = (y1 - y2).sum(axis=0)
    target = 3.0 * np.interp(target_t, t, agg)
    jr = ev.fit_dipole(target_t, target, dipole=ev.JansenRitDipole(scale=3.0), keep=True)(out)
    assert jr["dipole_rmse"] == pytest.approx(0.0, abs=1e-12)
    assert jr["dipole_corr_loss"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(jr["dipole"], target, atol=1e-12)
    by_key = ev.fit_dipole(target_t, target + 0.5, dipole="agg", scale=3.0)(out)
    assert by_key["dipole_rmse"] == pytest.approx(0.5, abs=1e-12)
    node0 = ev.fit_dipole(target_t, 3.0 * np.interp(target_t, t, (y1 - y2)[0]), nodes=0, scale=3.0)(out)
    assert node0["dipole_rmse"] == pytest.approx(0.0, abs=1e-12)


def test_combine_prefix_and_duplicate_names():
    out = _bold_out()
    fc_emp = ev.fc(out["BOLD"][:, 5:])
    fcd_emp = ev.fcd(out["BOLD"][:, 5:])
    obj = ev.combine(ev.fit_fc(fc_emp), ev.fit_fcd(fcd_emp), ev.fit_fc(fc_emp.T, prefix="sym_"))
    scores = obj(out)
    assert set(scores) == {"fc_fit", "fcd_ks", "sym_fc_fit"}
    with pytest.raises(ValueError, match="produced twice"):
        ev.combine(ev.fit_fc(fc_emp), ev.fit_fc(fc_emp))(out)


def test_missing_output_key_suggests_close_names():
    out = _neural_out()
    with pytest.raises(ValueError, match=r"did you mean \['x'\]"):
        ev.target_peak_frequency(10.0, band=(2, 40), key="xx")(out)
    with pytest.raises(ValueError, match="leaves 0 samples"):
        ev.fit_fc(np.eye(6), transient_ms=10**9)(_bold_out())


def _call(obj, out):
    return obj(out)


def test_objectives_are_picklable_and_run_in_a_process_pool():
    out = _bold_out()
    obj = ev.combine(ev.fit_fc(ev.fc(out["BOLD"][:, 5:])), ev.fit_fcd(ev.fcd(out["BOLD"][:, 5:])))
    direct = obj(out)
    assert pickle.loads(pickle.dumps(obj))(out) == direct
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_call, obj, out).result() == direct
    assert "FitFC(" in repr(obj)


def _spec_roundtrip(obj):
    from brainsweep.explorer import _plain
    return ev.objectives.objective_from_spec(_plain.decode(_plain.encode(obj.spec())))


def test_every_adapter_is_rebuilt_from_its_plain_spec_with_identical_scores():
    out, neural = _bold_out(n_tr=300), _neural_out(f_hz=10.0, dt=0.5)
    bold = out["BOLD"][:, out["BOLD_t"] >= 10_000.0]
    f, S = ev.welch_psd(neural["x"], 2000.0)
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 500.0, 1.0)
    dip_out = {"t": t, "y1": rng.standard_normal((2, t.size)), "y2": rng.standard_normal((2, t.size)),
               "agg": rng.standard_normal(t.size)}
    cases = [
        (ev.fit_fc([ev.fc(bold), np.corrcoef(rng.standard_normal((6, 40)))], band=(0.01, 0.2), detrend=True,
                   keep=True, prefix="a_"), out),
        (ev.fit_fcd([ev.fcd(bold, window=20, step=4)], window=20, step=4, keep=True), out),
        (ev.fit_spectrum(S.mean(axis=0) * 1.5, f, key="x", band=(2, 40), nperseg=512, keep=True), neural),
        (ev.target_peak_frequency(12.0, band=(2, 40), key="x", transient_ms=100.0), neural),
        (ev.fit_dipole(t[::5], np.sin(t[::5] / 50.0), dipole=ev.JansenRitDipole(scale=2.0), nodes=[1],
                       smooth_window=5.0, tstart=10.0, tstop=400.0, keep=True), dip_out),
        (ev.fit_dipole(t, np.cos(t / 30.0), dipole="agg"), dip_out),
        (ev.combine(ev.fit_fc(ev.fc(bold)), ev.fit_fcd(ev.fcd(bold), prefix="p_")), out),
    ]
    for obj, o in cases:
        rebuilt = _spec_roundtrip(obj)
        assert type(rebuilt) is type(obj) and rebuilt is not obj
        want, got = obj(o), rebuilt(o)
        assert set(want) == set(got)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    dip = _spec_roundtrip(cases[4][0]).dipole
    assert isinstance(dip, ev.JansenRitDipole) and (dip.scale, dip.y1, dip.y2) == (2.0, "y1", "y2")


def test_a_user_objective_has_no_spec_and_a_spec_names_only_brainsweep_adapters():
    from brainsweep.evaluation.objectives import objective_from_spec, objective_spec

    def mine(out):
        return {"m": 1.0}

    assert objective_spec(mine) is None
    assert objective_spec(ev.combine(ev.fit_fc(np.eye(3)), mine)) is None
    assert ev.fit_dipole([0.0, 1.0, 2.0], [0.0, 1.0, 0.0], dipole=lambda o: o["x"]).spec() is None
    opaque = objective_spec(ev.combine(ev.fit_fc(np.eye(3)), mine), opaque=True)
    assert opaque["parts"][0]["settings"]["key"] == "BOLD"
    assert opaque["parts"][1] == {"objective": "opaque", "callable": f"{__name__}.{mine.__qualname__}"}
    with pytest.raises(ValueError, match="recorded by name only"):
        objective_from_spec(opaque)
    with pytest.raises(ValueError, match="unknown objective 'os.system'"):
        objective_from_spec({"objective": "os.system", "settings": {}})
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['__class__'\]"):
        objective_from_spec({"objective": "fit_fc", "settings": {"fc_emp": np.eye(3), "__class__": 1}})
    with pytest.raises(ValueError, match="dipole must be an output key"):
        objective_from_spec({"objective": "fit_dipole", "settings": {
            "target_t": np.arange(3.0), "target": np.zeros(3), "dipole": {"builtins.eval": {}}}})
