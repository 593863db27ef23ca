"""YAML study files with the newer evaluations and strategies: ``model: {hnn: ...}``,
``strategy: {sbi: ...}`` and ``strategy: {gradient: ...}``; checked against direct runs."""

import sys

import numpy as np
import pytest

from brainsweep.explorer import load
from brainsweep.studyfile import StudySpecError, load_study, parse_study


# -- model: {hnn: ...} ----------------------------------------------------------------------------------
HNN_YAML = """\
path: hnn.h5
seed: 3
model:
  hnn:
    network_kwargs: {mesh_shape: [3, 3]}
    set_params: bs_hnn_case:set_params
    tstop: 40
    n_trials: 1
    smooth_window_len: 20
    scale_factor: 3000
    target: target.txt
    seed_from_run: false
space:
  grid: {mu: [18.0, 24.0]}
  fixed: {sigma: 3.0}
"""


@pytest.fixture
def hnn_case(tmp_path, monkeypatch):
    pytest.importorskip("hnn_core", reason="hnn-core not installed (pip install brainsweep[hnn])")
    pytest.importorskip("neuron", reason="NEURON not installed (pip install brainsweep[hnn])")
    import test_hnn
    (tmp_path / "bs_hnn_case.py").write_text(test_hnn.CASE)
    np.savetxt(tmp_path / "target.txt", np.c_[test_hnn.TARGET_T, test_hnn.TARGET])
    (tmp_path / "hnn.yaml").write_text(HNN_YAML)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bs_hnn_case", None)
    yield tmp_path, test_hnn
    sys.modules.pop("bs_hnn_case", None)


def test_yaml_hnn_model_is_validated_with_lines(hnn_case):
    folder, _ = hnn_case
    plan = parse_study(HNN_YAML, "hnn.yaml", folder)
    ev = plan["function"]
    assert type(ev).__name__ == "HNNEvaluator" and plan["model"] is None
    assert ev.fixed == {"sigma": 3.0} and ev.tstop == 40.0 and list(ev.scores) == ["dipole_rmse"]
    assert list(plan["files"]) == ["target.txt"]
    cases = [
        (HNN_YAML.replace("n_trials: 1", "n_trials: 0"), r"line 8: model.hnn.n_trials: expected an integer >= 1"),
        (HNN_YAML.replace("    tstop: 40", "    tstp: 40"), r"line 5: model.hnn: unknown setting\(s\) \['tstp'\]"),
        (HNN_YAML.replace("bs_hnn_case:set_params", "bs_hnn_case:nothing"),
         r"line 6: model.hnn.set_params: cannot import 'bs_hnn_case:nothing'"),
        (HNN_YAML + "objectives:\n  - fc: {target: fc.csv}\n",
         r"line 16: objectives: not for model: hnn \(its settings go under model.hnn; its scores are dipole_rmse, "
         r"dipole_corr, maximize_psd\)"),
        (HNN_YAML + "integration: {duration: 100}\n", r"line 16: integration: not for model: hnn"),
        (HNN_YAML.replace("model:\n  hnn:\n", "model:\n  hnn: 3\n  unused:\n"),
         r"line 4: model: hnn must be the only key under model \(model: \{hnn: \{...\}\}\)"),
    ]
    for text, message in cases:
        with pytest.raises(StudySpecError, match=message):
            parse_study(text, "hnn.yaml", folder)


def test_yaml_hnn_missing_hnn_core_is_one_line(hnn_case, monkeypatch):
    folder, _ = hnn_case
    from brainsweep.explorer import hnn_eval as hnn
    monkeypatch.setattr(hnn.HNNEvaluator, "from_spec",
                        classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(ImportError("No module named 'neuron'"))))
    with pytest.raises(StudySpecError) as err:
        parse_study(HNN_YAML, "hnn.yaml", folder)
    assert err.value.problems == ["line 4: model.hnn: hnn-core and NEURON are needed: pip install brainsweep[hnn] "
                                  "(No module named 'neuron')"]


def test_yaml_hnn_grid_study_matches_plain_hnn_core(hnn_case):
    """A 2-run grid study from YAML scores each run as plain hnn-core does (fixed sigma applied)."""
    folder, test_hnn = hnn_case
    res = load_study(folder / "hnn.yaml").run(progress=False)
    assert res.df["status"].tolist() == ["ok", "ok"] and res.df["mu"].tolist() == [18.0, 24.0]
    plain = test_hnn._plain_hnn(folder, [("a", {"mu": 18.0, "sigma": 3.0}, {}), ("b", {"mu": 24.0, "sigma": 3.0}, {})],
                                n_trials=1)
    assert res.df["dipole_rmse"].tolist() == [plain["a_rmse"], plain["b_rmse"]]
    np.testing.assert_array_equal(res.run(0)["dipole"], plain["a"])
    assert res.df["dipole_rmse"].iloc[0] != res.df["dipole_rmse"].iloc[1]
    assert "target.txt" in load(folder / "hnn.h5").attachments


# -- strategy: {sbi: ...} ---------------------------------------------------------------------------------
SINE = """\
import numpy as np

def sine(p, seed):
    '''A noisy sine of frequency f (Hz), 1 s at 1 kHz (t in ms).'''
    t = np.arange(1000.0)
    rng = np.random.default_rng(seed)
    return {"x": np.sin(2 * np.pi * p["f"] * t / 1000.0) + 0.1 * rng.standard_normal(t.size), "t": t}


def bowl(p):
    '''(x - 1)^2 + 4 (y + 0.5)^2 and its gradient.'''
    x, y = p["x"], p["y"]
    return {"loss": (x - 1.0) ** 2 + 4.0 * (y + 0.5) ** 2, "grad__x": 2.0 * (x - 1.0), "grad__y": 8.0 * (y + 0.5)}
"""

SBI_YAML = """\
function: bs_yaml_fns:sine
path: sbi.h5
seed: 5
space: {bounds: {f: [5.0, 40.0]}}
strategy:
  sbi:
    simulations: 40
    batch: 20
    density_estimator: {model: zuko_maf, hidden_features: 8, num_transforms: 1}
    training: {max_num_epochs: 3}
    features: {peak_frequencies: {key: x, band: [1, 100], average: true}}
"""


@pytest.fixture
def fns(tmp_path, monkeypatch):
    (tmp_path / "bs_yaml_fns.py").write_text(SINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bs_yaml_fns", None)
    yield tmp_path
    sys.modules.pop("bs_yaml_fns", None)


def test_yaml_sbi_features_are_checked_with_lines(fns):
    pytest.importorskip("sbi")
    from brainsweep.inference import features
    plan = parse_study(SBI_YAML, "sbi.yaml", fns)
    sbi = plan["strategy"]
    assert type(sbi).__name__ == "SBI" and (sbi.simulations, sbi.batch) == (40, 20)
    assert sbi.features.spec() == features.peak_frequencies(key="x", band=(1, 100), average=True).spec()
    two = SBI_YAML.replace("features: {peak_frequencies: {key: x, band: [1, 100], average: true}}",
                           "features: [{peak_frequencies: {key: x, average: true}}, {dipole_samples: {n: 4, key: x}}]")
    got = parse_study(two, "sbi.yaml", fns)["strategy"].features
    want = features.concat(features.peak_frequencies(key="x", average=True), features.dipole_samples(n=4, key="x"))
    assert got.spec() == want.spec()
    out = __import__("bs_yaml_fns").sine({"f": 12.0}, 3)
    np.testing.assert_array_equal(got(out), want(out))
    three = SBI_YAML.replace("features: {peak_frequencies: {key: x, band: [1, 100], average: true}}",
                             "features: [{log_psd: {key: x, band: [2, 30]}}, {moments: {key: x}}]")
    got = parse_study(three, "sbi.yaml", fns)["strategy"].features
    want = features.concat(features.log_psd(key="x", band=(2, 30)), features.moments(key="x"))
    assert got.spec() == want.spec()
    np.testing.assert_array_equal(got(out), want(out))
    for old, new, message in (
            ("{peak_frequencies:", "{peak_frequency:", r"line 11: strategy.sbi.features: unknown feature "
             r"'peak_frequency'; did you mean 'peak_frequencies'\? \(expected fc_upper, fc_fcd, psd_bands, "
             r"peak_frequencies, dipole_samples, log_psd, moments\)"),
            ("key: x, band", "keys: x, band", r"line 11: strategy.sbi.features.peak_frequencies: unknown argument "
             r"'keys'; did you mean 'key'\?"),
            ("{peak_frequencies: {key: x, band: [1, 100], average: true}}", "[3]",
             r"line 11: strategy.sbi.features: expected a feature name, \{name: \{arguments\}\} or a list"),
            ("simulations: 40", "simulations: 5", r"line 7: strategy.sbi: simulations: expected an integer >= 20"),
            ("    batch: 20\n", "    bach: 20\n", r"line 7: strategy.sbi: unknown option 'bach'; did you mean 'batch'")):
        with pytest.raises(StudySpecError, match=message):
            parse_study(SBI_YAML.replace(old, new), "sbi.yaml", fns)


def test_yaml_sbi_study_runs_and_its_posterior_samples(fns):
    pytest.importorskip("sbi")
    from brainsweep.inference import features, posterior
    (fns / "sbi.yaml").write_text(SBI_YAML)
    res = load_study(fns / "sbi.yaml").run(progress=False)
    assert len(res.df) == 40 and (res.df["status"] == "ok").all()
    assert res.df["f"].between(5.0, 40.0).all()
    feature = features.peak_frequencies(key="x", band=(1, 100), average=True)
    from bs_yaml_fns import sine
    assert (res.df["n_features"] == 1).all()
    for i in (0, 17, 39):  # the stored feature is the peak frequency of the run recomputed here
        row = res.df.loc[i]
        assert row["x_000"] == feature(sine({"f": row["f"]}, int(row["seed"])))[0]
    samples = posterior(fns / "sbi.h5").sample(200, np.array([20.0]), seed=1)
    samples = np.asarray(samples)
    assert samples.shape[0] == 200 and np.all((samples >= 5.0) & (samples <= 40.0))


# -- strategy: {gradient: ...} ----------------------------------------------------------------------------
GRAD_YAML = """\
function: bs_yaml_fns:bowl
path: grad.h5
seed: 2
space: {bounds: {x: [-3.0, 3.0], y: [-3.0, 3.0]}}
strategy: {gradient: {optimizer: lbfgsb, steps: 60, starts: 2, start: lhs, gtol: 1.0e-8}}
"""


def test_yaml_gradient_function_study_converges(fns):
    (fns / "grad.yaml").write_text(GRAD_YAML)
    plan = parse_study(GRAD_YAML, "grad.yaml", fns)
    assert type(plan["strategy"]).__name__ == "GradientDescent"
    res = load_study(fns / "grad.yaml").run(progress=False)
    best = res.df.loc[res.df["loss"].idxmin()]
    assert abs(best["x"] - 1.0) < 1e-5 and abs(best["y"] + 0.5) < 1e-5 and best["loss"] < 1e-10
    np.testing.assert_allclose(res.df["loss"], (res.df["x"] - 1) ** 2 + 4 * (res.df["y"] + 0.5) ** 2, rtol=1e-12)
    adam = GRAD_YAML.replace("optimizer: lbfgsb, steps: 60", "optimizer: adam, lr: 0.1, steps: 300")
    (fns / "adam.yaml").write_text(adam.replace("grad.h5", "adam.h5"))
    res = load_study(fns / "adam.yaml").run(progress=False)
    best = res.df.loc[res.df["loss"].idxmin()]
    assert abs(best["x"] - 1.0) < 1e-3 and abs(best["y"] + 0.5) < 1e-3
    with pytest.raises(StudySpecError, match=r"line 5: strategy.gradient: optimizer: expected one of"):
        parse_study(GRAD_YAML.replace("lbfgsb", "sgd"), "grad.yaml", fns)


def test_yaml_gradient_of_a_model_without_objective_is_refused_in_one_line(tmp_path):
    text = ("model: hopf\nintegration: {duration: 100}\nspace: {bounds: {K_gl: [0.0, 1.0]}}\n"
            "strategy: {gradient: {steps: 5}}\n")
    with pytest.raises(StudySpecError) as err:
        parse_study(text, "m.yaml", tmp_path)
    assert err.value.problems == [
        "line 4: strategy.gradient: a model's gradient study needs one differentiable objective "
        "(spectrum_correlation, log_spectral, peak_frequency, spectral_centroid, fc, dipole) under objectives:"]
