"""brainsweep.inference: priors, features, the SBI strategy on a study, the stored posterior.

The end-to-end problem has an analytic posterior: x = (mu, ln s) + N(0, 0.3^2) noise, flat
priors mu ~ U(-3, 3), s ~ log-U(0.1, 10): given x0 the posterior of mu (and of ln s) is
N(x0, 0.3^2) (far from the bounds).
Training is tiny (one core, a few hundred simulations) to keep the suite fast.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sbi")

from brainsweep.explorer import ParameterSpace, Study, _plain, load  # noqa: E402
from brainsweep.inference import SBI, calibration, features, posterior, training_data  # noqa: E402
from brainsweep.inference._prior import BoxPrior  # noqa: E402
from sbi_helpers import sample_in_new_process  # noqa: E402

SIGMA = 0.3
X0 = np.array([0.5, math.log(2.0)])
NET = {"model": "zuko_maf", "hidden_features": 24, "num_transforms": 2}
TRAIN = {"max_num_epochs": 80, "training_batch_size": 50, "learning_rate": 1e-3}


def gaussian(p, seed):
    rng = np.random.default_rng(seed)
    return {"x": np.array([p["mu"], math.log(p["s"])]) + SIGMA * rng.standard_normal(2)}


def gaussian_with_hole(p, seed):
    """NaN features (a diverged run) for mu > 2.7."""
    return {"x": np.array([np.nan, np.nan])} if p["mu"] > 2.7 else gaussian(p, seed)


def take_x(out):
    return out["x"]


def ragged(p):
    return {"x": np.zeros(2 if p["mu"] < 0 else 3)}


SPACE = ParameterSpace(bounds={"mu": (-3.0, 3.0), "s": (0.1, 10.0, "log")})


# -- prior -------------------------------------------------------------------------------------------
def test_prior_coordinates_and_integer_mass():
    space = ParameterSpace(bounds={"a": (0.0, 2.0), "b": (1e-3, 1e-1, "log"), "n": (1, 4, "int")})
    prior = BoxPrior(space)
    assert np.allclose(prior.low, [0.0, math.log(1e-3), 0.5]) and np.allclose(prior.high, [2.0, math.log(0.1), 4.5])
    theta = prior.sample(np.random.default_rng(0), 40_000)
    params = prior.to_params(theta)
    assert params[:, 1].min() >= 1e-3 and params[:, 1].max() <= 0.1
    # log-uniform: ln b uniform, so the median of b is the geometric mean of the bounds
    assert abs(np.median(params[:, 1]) - 1e-2) / 1e-2 < 0.05
    counts = np.array([(params[:, 2] == k).sum() for k in (1, 2, 3, 4)]) / len(params)
    assert np.allclose(counts, 0.25, atol=0.01)
    pts = prior.to_points(theta[:3])
    assert all(isinstance(p["n"], int) and isinstance(p["a"], float) for p in pts)
    assert np.allclose(prior.to_theta({"a": 1.0, "b": 0.01, "n": 2}), [[1.0, math.log(0.01), 2.0]])


def test_prior_refuses_lists_and_unbounded():
    with pytest.raises(ValueError, match=r"SBI needs bounds.*\['k'\]"):
        BoxPrior(ParameterSpace({"k": [1, 2]}, bounds={"a": (0.0, 1.0)}))
    with pytest.raises(ValueError, match="high bound must be a finite number"):
        ParameterSpace(bounds={"a": (0.0, math.inf)})


# -- features ------------------------------------------------------------------------------------
def _signals(n=4, fs=250.0, seconds=8.0, freq=10.0):
    t = np.arange(int(seconds * fs)) * 1000.0 / fs
    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * freq * t / 1000.0)[None] + 0.3 * rng.standard_normal((n, t.size))
    return {"x": x, "t": t, "BOLD": rng.standard_normal((n, 200)).cumsum(axis=1), "BOLD_t": np.arange(200) * 2000.0}


def test_features_against_numpy():
    out = _signals()
    iu = np.triu_indices(4, 1)
    assert np.allclose(features.fc_upper()(out), np.corrcoef(out["BOLD"])[iu])
    ff = features.fc_fcd(k=3, window=20, step=10)(out)
    assert ff.shape == (6,)
    assert np.allclose(ff[:3], np.sort(np.linalg.eigvalsh(np.corrcoef(out["BOLD"])))[::-1][:3] / 4)
    assert np.allclose(features.peak_frequencies(key="x", band=(2, 40))(out), 10.0)
    rel = features.psd_bands(key="x", relative=True)(out).reshape(4, 5)
    assert np.all(rel.argmax(axis=1) == 2) and np.all(rel.sum(axis=1) <= 1.0 + 1e-9)  # 10 Hz: alpha band
    d = features.dipole_samples(n=7, key="x", transient_ms=1000.0)(out)
    t = out["t"][out["t"] >= 1000.0]
    assert np.allclose(d[:7], np.interp(np.linspace(t[0], t[-1], 7), t, out["x"][0][out["t"] >= 1000.0]))
    both = features.concat(features.peak_frequencies(key="x", average=True), features.fc_upper())(out)
    assert both.shape == (7,)
    with pytest.raises(ValueError, match=r"k <= 4"):
        features.fc_fcd(k=5)(out)


# -- strategy contract and bad input ------------------------------------------------------------
def test_settings_refused_with_names():
    with pytest.raises(ValueError, match="simulations: expected an integer >= 20"):
        SBI(simulations=5, features=take_x)
    with pytest.raises(ValueError, match="density_estimator"):
        SBI(features=take_x, density_estimator="gan")
    with pytest.raises(ValueError, match="training: unknown argument"):
        SBI(features=take_x, training={"epochs": 3})
    with pytest.raises(TypeError, match="features"):
        SBI(simulations=50)
    with pytest.raises(ValueError, match="rounds"):
        SBI(features=take_x, rounds=2)


def test_state_round_trip_asks_the_same_batch():
    a = SBI(simulations=40, batch=10, features=take_x)
    a.start(SPACE, 5)
    first = a.ask()
    from brainsweep.explorer.strategy import Outcome
    a.tell(first, [Outcome(i, p, "ok", {"n_features": 2, "x_000": 0.1 * i, "x_001": 0.0})
                   for i, p in enumerate(first.points)])
    b = SBI(simulations=40, batch=10, features=take_x)
    b.set_state(SPACE, _plain.decode(_plain.encode(a.get_state())))
    assert a.ask().points == b.ask().points


def test_a_plain_study_gets_the_features_and_an_unwrapped_evaluator_is_refused(tmp_path):
    from brainsweep.inference._evaluator import FeatureEvaluator
    study = Study(gaussian, SPACE, SBI(simulations=20, features=take_x), path=str(tmp_path / "nf.h5"), seed=1)
    assert isinstance(study.evaluator, FeatureEvaluator)  # Study(m, space, SBI(...)) as the issue writes it
    rec = study.evaluator.evaluate_chunk([(0, {"mu": 1.0, "s": 1.0}, 5)])[0]
    assert rec.status == "ok" and rec.scalars["n_features"] == 2
    np.testing.assert_array_equal([rec.scalars["x_000"], rec.scalars["x_001"]], take_x(gaussian({"mu": 1.0, "s": 1.0}, seed=5)))
    study.evaluator = study.evaluator.base  # a runs' evaluation without the features
    with pytest.raises(ValueError, match="return no features"):
        study.run(progress=False)


def test_inconsistent_feature_lengths(tmp_path):
    sbi = SBI(simulations=20, features=take_x)
    with pytest.raises(ValueError, match="features of inconsistent length"):
        sbi.study(ragged, SPACE, str(tmp_path / "rag.h5"), seed=1).run(progress=False)


def test_too_few_finite_simulations(tmp_path):
    sbi = SBI(simulations=20, features=take_x)
    space = ParameterSpace(bounds={"mu": (2.8, 3.0), "s": (0.1, 10.0, "log")})  # all NaN
    with pytest.raises(ValueError, match=r"only 0 of 20 simulations.*'diverged': 20"):
        sbi.study(gaussian_with_hole, space, str(tmp_path / "few.h5"), seed=1).run(progress=False)


# -- end to end ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("sbi") / "gauss.h5")
    sbi = SBI(simulations=600, batch=300, features=take_x, density_estimator=NET, training=TRAIN,
              calibration=200, calibration_samples=200)
    res = sbi.study(gaussian, SPACE, path, seed=11).run(progress=False)
    return sbi, res, path


def test_posterior_matches_the_analytic_one(trained):
    sbi, res, _ = trained
    s = sbi.posterior().sample(4000, X0, seed=3)
    mu, log_s = s[:, 0], np.log(s[:, 1])
    assert abs(mu.mean() - X0[0]) < 0.12 and abs(log_s.mean() - X0[1]) < 0.12
    assert 0.7 * SIGMA < mu.std() < 1.35 * SIGMA and 0.7 * SIGMA < log_s.std() < 1.35 * SIGMA


def test_diverged_runs_excluded_and_counted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # sbi's default tracker would write ./sbi-logs here
    sbi = SBI(simulations=60, features=take_x, density_estimator=NET, training={"max_num_epochs": 2})
    path = str(tmp_path / "hole.h5")
    res = sbi.study(gaussian_with_hole, SPACE, path, seed=4).run(progress=False)
    n_div = int((res.df["status"] == "diverged").sum())
    assert n_div == int((res.df["mu"] > 2.7).sum()) > 0
    assert "non-finite" in res.df["message"][res.df["status"] == "diverged"].iloc[0]
    assert sbi.excluded == {"diverged": n_div} and sbi.training_info["n_train"] == 60 - n_div
    data = training_data(path)
    assert int((data["status"] == "diverged").sum()) == n_div and np.isnan(data["x"][data["status"] == "diverged"]).all()
    assert list(res.df.columns[res.df.columns.str.startswith("x_")]) == ["x_000", "x_001"]
    assert not (tmp_path / "sbi-logs").exists()  # training logs nothing into the working folder


def test_calibration_is_uniform_and_covers(trained):
    _, res, _ = trained
    c = calibration(res)
    assert c["n"] == 200
    assert np.all(c["ks_pvals"] > 0.01), c["ks_pvals"]
    levels = list(np.round(c["levels"], 2))
    for level in (0.5, 0.9):
        assert abs(c["coverage"][levels.index(level)] - level) < 0.05, c["coverage"]


def test_posterior_in_a_new_process_samples_the_same(trained, tmp_path):
    sbi, _, path = trained
    here = sbi.posterior().sample(500, X0, seed=21)
    assert np.array_equal(sample_in_new_process(path, X0, 500, 21, tmp_path), here)


def test_resume_of_a_finished_study_keeps_the_estimator(trained):
    sbi, _, path = trained
    again = SBI(simulations=600, batch=300, features=take_x, density_estimator=NET, training=TRAIN,
                calibration=200, calibration_samples=200)
    again.study(gaussian, SPACE, path).run(progress=False)   # nothing left to do: no retraining
    assert np.array_equal(again.posterior().sample(100, X0, seed=2), sbi.posterior().sample(100, X0, seed=2))
    assert len(load(path).df) == 800


def test_plots(trained):
    import matplotlib
    matplotlib.use("Agg")
    from brainsweep.inference import plot_calibration, plot_posterior
    sbi, res, _ = trained
    fig = plot_calibration(res)
    assert len(fig.axes) == 3
    fig2 = plot_posterior(sbi.posterior().sample(500, X0, seed=1), ["mu", "s"], truth=[0.5, 2.0])
    assert len(fig2.axes) == 4


def test_training_report(trained):
    """Not a check: the measured training and calibration numbers, printed with ``-s``."""
    sbi, _, _ = trained
    c = sbi.calibration_result
    print(f"\ntraining {sbi.training_info}; KS p {c['ks_pvals']}; coverage 50/90 % "
          f"{c['coverage'][9]:.3f}/{c['coverage'][17]:.3f}")
    assert sbi.training_info["n_train"] == 600


def test_too_many_features_refused_before_the_file_exists(tmp_path):
    sbi = SBI(simulations=20, features=lambda out: np.zeros(1001))
    path = tmp_path / "wide.h5"
    with pytest.raises(ValueError, match="1001 values.*at most about 1000"):
        sbi.study(gaussian, SPACE, str(path), seed=1).run(progress=False)
    assert not path.exists()


def test_predictive_check(trained):
    from brainsweep.inference import plot_predictive, predictive_check
    import matplotlib
    matplotlib.use("Agg")
    sbi, _, _ = trained
    samples = sbi.posterior().sample(200, X0, seed=5)
    check = predictive_check(gaussian, SPACE, take_x, samples, X0, seed=1)
    # simulated x = theta + noise: posterior N(x0, s^2) plus noise s^2 -> std sqrt(2) * 0.3 around x0
    assert np.all(np.abs(check["z"]) < 0.5) and np.all((check["quantile"] > 0.2) & (check["quantile"] < 0.8))
    assert 0.7 < check["x"][:, 0].std() / (math.sqrt(2) * SIGMA) < 1.4
    far = predictive_check(gaussian, SPACE, take_x, samples, np.array([-2.5, -2.0]), seed=1)
    assert np.all(far["quantile"] < 0.01)
    assert len(plot_predictive(check).axes) == 1


STOP = {"mu": None}


def interruptible(p, seed):
    """``gaussian``, but a KeyboardInterrupt (a killed study) at the run whose mu is STOP["mu"]."""
    if STOP["mu"] is not None and p["mu"] == STOP["mu"]:
        raise KeyboardInterrupt
    return gaussian(p, seed)


TINY = {"model": "zuko_maf", "hidden_features": 8, "num_transforms": 1}


def _tiny_sbi():
    return SBI(simulations=40, batch=20, features=take_x, density_estimator=TINY, training={"max_num_epochs": 3})


def test_interrupted_study_resumes_to_the_same_estimator(tmp_path, monkeypatch):
    whole = _tiny_sbi()
    whole.study(interruptible, SPACE, str(tmp_path / "whole.h5"), seed=8).run(progress=False)
    expected = whole.posterior().sample(50, X0, seed=1)

    # killed in the middle of the second batch
    path = str(tmp_path / "killed.h5")
    probe = _tiny_sbi()
    probe.start(SPACE, 8)
    probe.ask()
    STOP["mu"] = probe.ask().points[5]["mu"]
    try:
        with pytest.raises(KeyboardInterrupt):
            _tiny_sbi().study(interruptible, SPACE, path, seed=8).run(progress=False)
    finally:
        STOP["mu"] = None
    assert 20 <= len(load(path).df) < 40
    # killed during the training: the simulations are kept, the training is redone
    import brainsweep.inference.strategy as strategy_module

    def killed(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(strategy_module, "train_npe", killed)
    with pytest.raises(KeyboardInterrupt):
        _tiny_sbi().study(interruptible, SPACE, path).run(progress=False)
    assert len(load(path).df) == 40 and load(path).strategy_state["estimator"] is None
    monkeypatch.undo()
    resumed = _tiny_sbi()
    resumed.study(interruptible, SPACE, path).run(progress=False)
    assert np.array_equal(resumed.posterior().sample(50, X0, seed=1), expected)
    assert np.array_equal(posterior(path).sample(50, X0, seed=1), expected)


def test_example_09_runs_fast(tmp_path):
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "09_sbi_posterior.py")
    done = subprocess.run([sys.executable, os.path.abspath(example)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "BRAINSWEEP_FAST": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "90 % credible interval" in done.stdout and "SBC on 100 held-out runs" in done.stdout
    for name in ("sbi_jr.h5", "09_posterior.png", "09_calibration.png", "09_predictive.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(load(tmp_path / "sbi_jr.h5").df) == 350    # 200 training, 50 recalibration, 100 held out


def test_sequential_rounds_focus_on_x_obs(tmp_path):
    with pytest.raises(ValueError, match="x_obs"):
        SBI(features=take_x, rounds=2)
    with pytest.raises(ValueError, match="calibration"):
        SBI(features=take_x, rounds=2, x_obs=X0, calibration=10)
    sbi = SBI(simulations=300, rounds=2, x_obs=X0, batch=300, features=take_x, density_estimator=NET,
              training=TRAIN)
    path = str(tmp_path / "tsnpe.h5")
    res = sbi.study(gaussian, SPACE, path, seed=12).run(progress=False)
    assert len(res.df) == 600 and sbi.training_info["round"] == 2 and sbi.training_info["n_train"] == 600
    second = res.df[res.df["batch"] == 1]
    # round 2 draws uniformly inside the first posterior's region (posterior N(x0, 0.3^2): about
    # +-4 sigma for 1e-4 of its mass left out), not over the prior's 6 units (std 1.73)
    assert np.all(np.abs(second["mu"] - X0[0]) < 6 * SIGMA) and second["mu"].std() < 0.9
    assert np.all(np.abs(np.log(second["s"]) - X0[1]) < 6 * SIGMA)
    s = posterior(path).sample(4000, X0, seed=3)
    mu, log_s = s[:, 0], np.log(s[:, 1])
    assert abs(mu.mean() - X0[0]) < 0.1 and abs(log_s.mean() - X0[1]) < 0.1
    assert 0.75 * SIGMA < mu.std() < 1.3 * SIGMA and 0.75 * SIGMA < log_s.std() < 1.3 * SIGMA
    data = training_data(path)
    assert not data["holdout"].any()


def test_interrupted_sequential_study_draws_the_same_rounds(tmp_path):
    def make():
        return SBI(simulations=30, rounds=2, x_obs=X0, batch=15, features=take_x, density_estimator=TINY,
                   training={"max_num_epochs": 3})
    whole = make()
    ref = whole.study(interruptible, SPACE, str(tmp_path / "whole.h5"), seed=9).run(progress=False)
    kill_mu = float(ref.df["mu"][ref.df["batch"] == 3].iloc[4])  # inside round 2's second batch
    path = str(tmp_path / "killed.h5")
    STOP["mu"] = kill_mu
    try:
        with pytest.raises(KeyboardInterrupt):
            make().study(interruptible, SPACE, path, seed=9).run(progress=False)
    finally:
        STOP["mu"] = None
    assert 45 <= len(load(path).df) < 60
    resumed = make()
    res = resumed.study(interruptible, SPACE, path).run(progress=False)
    assert np.array_equal(res.df[["mu", "s"]].to_numpy(), ref.df[["mu", "s"]].to_numpy())
    assert np.array_equal(resumed.posterior().sample(50, X0, seed=1), whole.posterior().sample(50, X0, seed=1))


# -- Results methods (registered by brainsweep.inference) ---------------------------------------------
def test_results_methods_serve_the_stored_posterior(trained, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    sbi, res, path = trained
    again = load(path)
    assert np.array_equal(again.posterior().sample(300, X0, seed=4), sbi.posterior().sample(300, X0, seed=4))
    assert again.check_calibration(n=200) is again.strategy_state["calibration"]  # the stored 200 held out
    fig = again.plot_posterior(again.posterior().sample(300, X0, seed=1), truth={"mu": 0.5, "s": 2.0})
    assert len(fig.axes) == 4 and fig.axes[-1].get_xlabel() == "log10 s"   # s is log-uniform: drawn as log10
    assert np.isclose(fig.axes[-1].lines[0].get_xdata()[0], math.log10(2.0))  # the truth on that axis
    assert len(again.plot_calibration().axes) == 3
    # a new process that did not import brainsweep.inference is told what to import
    code = f"from brainsweep.explorer import load; load({path!r}).posterior()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0 and "import brainsweep.inference first" in done.stderr


def test_results_check_calibration_on_fresh_simulations(trained):
    _, res, _ = trained
    c = res.check_calibration(n=150, num_samples=200, seed=3, features=take_x)  # a user callable: given again
    assert c["n"] == 150 and c["excluded"] == 0
    assert not np.array_equal(c["ranks"][:150], calibration(res)["ranks"][:150])  # not the stored ones
    assert np.all(c["ks_pvals"] > 0.01), c["ks_pvals"]
    levels = list(np.round(c["levels"], 2))
    # binomial sd of a coverage over 150 truths: <= 0.041; 3 sd
    for level in (0.5, 0.9):
        assert abs(c["coverage"][levels.index(level)] - level) < 0.12, c["coverage"]


def test_results_predictive_check_uses_the_study_evaluation(trained):
    from brainsweep.inference import predictive_check
    sbi, res, _ = trained
    samples = sbi.posterior().sample(40, X0, seed=5)
    with pytest.raises(ValueError, match="pass the same function as features="):
        res.predictive_check(samples, X0)       # take_x is a user's callable, stored by name only
    mine = res.predictive_check(samples, X0, features=take_x, seed=2)
    direct = predictive_check(gaussian, SPACE, take_x, samples, X0, seed=2)
    assert np.array_equal(mine["x"], direct["x"]) and np.array_equal(mine["quantile"], direct["quantile"])


def test_results_methods_refused_for_other_strategies(tmp_path):
    from brainsweep.explorer import GridSearch
    res = Study(lambda p: {"y": p["a"]}, ParameterSpace({"a": [1.0, 2.0]}), GridSearch(),
                path=str(tmp_path / "grid.h5")).run(progress=False)
    with pytest.raises(ValueError, match="'grid' strategy; posterior is for studies of"):
        res.posterior()


def test_feature_specs_rebuild_the_same_features():
    out = _signals()
    f = features.concat(features.fc_fcd(k=3, window=20, step=10), features.psd_bands(key="x", relative=True),
                        features.log_psd(key="x", band=(2, 30), resolution=2.0), features.moments(key="x"))
    again = features.from_spec(_plain.decode(_plain.encode(f.spec())))
    assert np.array_equal(again(out), f(out))
    with pytest.raises(ValueError, match="not one of brainsweep's feature functions"):
        features.from_spec({"feature": "os.system"})
    with pytest.raises(ValueError, match="user's callable"):
        features.from_spec(features.concat(take_x, features.moments()).spec())


def test_log_psd_and_moments_against_scipy():
    from scipy.signal import welch
    out = _signals()
    f, p = welch(out["x"], fs=250.0, nperseg=125)   # 2 Hz bins
    sel = (f >= 4.0) & (f <= 40.0)
    assert np.allclose(features.log_psd(key="x", band=(4, 40), resolution=2.0)(out), np.log10(p[:, sel]).ravel())
    avg = features.log_psd(key="x", band=(4, 40), resolution=2.0, average=True)(out)
    assert np.allclose(avg, np.log10(welch(out["x"].mean(axis=0), fs=250.0, nperseg=125)[1][sel]))
    mom = features.moments(key="x")(out).reshape(4, 2)
    assert np.allclose(mom[:, 0], out["x"].mean(axis=1)) and np.allclose(mom[:, 1], np.log10(out["x"].std(axis=1)))
    with pytest.raises(ValueError, match="simulate longer"):
        features.log_psd(key="x", resolution=0.01)(out)


def test_ensemble_is_the_mixture_of_its_members_and_reloads(tmp_path):
    import torch
    from sbi.inference.posteriors import DirectPosterior
    with pytest.raises(ValueError, match="ensemble: expected a positive number"):
        SBI(features=take_x, ensemble=0)
    with pytest.raises(ValueError, match="ensemble: .*rounds=1"):
        SBI(features=take_x, rounds=2, x_obs=X0, ensemble=2)
    sbi = SBI(simulations=100, batch=100, features=take_x, density_estimator=TINY, ensemble=3,
              training={"max_num_epochs": 5})
    path = str(tmp_path / "ens.h5")
    sbi.study(gaussian, SPACE, path, seed=3).run(progress=False)
    doc = load(path).strategy_state["estimator"]
    assert len(doc["ensemble"]) == 3 and "state" not in doc and load(path).strategy["ensemble"] == 3
    assert len(sbi.training_info["epochs"]) == 3 and sbi.training_info["n_train"] == 100
    post = posterior(path)
    members = post.estimator
    w0 = [v for k, v in members[0].state_dict().items() if "weight" in k][0]
    w1 = [v for k, v in members[1].state_dict().items() if "weight" in k][0]
    assert not torch.equal(w0, w1)                        # different seeds: different networks
    # the stored posterior is the equal-weight mixture: log p = log mean_k p_k (sbi's DirectPosterior each)
    theta = np.array([[0.4, 1.5], [-1.0, 0.3], [2.0, 5.0]])
    each = [DirectPosterior(posterior_estimator=m, prior=post.prior.torch_prior())
            .log_prob(torch.as_tensor(post.prior.to_theta(theta), dtype=torch.float32),
                      x=torch.as_tensor(X0, dtype=torch.float32), norm_posterior=False).numpy()
            for m in members]
    mixture = np.log(np.mean(np.exp(np.array(each, dtype=float)), axis=0))
    assert np.allclose(post.log_prob(theta, X0), mixture, atol=1e-5)
    assert np.array_equal(post.sample(200, X0, seed=4), sbi.posterior().sample(200, X0, seed=4))
    # a resumed finished study neither retrains nor changes the ensemble
    again = SBI(simulations=100, batch=100, features=take_x, density_estimator=TINY, ensemble=3,
                training={"max_num_epochs": 5})
    again.study(gaussian, SPACE, path).run(progress=False)
    assert np.array_equal(again.posterior().sample(50, X0, seed=1), post.sample(50, X0, seed=1))


def test_stored_calibration_is_on_the_held_out_runs_only(trained):
    """The stored SBC was computed on the runs after the training ones, which training never saw."""
    from brainsweep.inference.sbc import calibrate
    sbi, res, path = trained
    data = training_data(path)
    assert data["holdout"].sum() == 200 and not data["holdout"][:600].any() and data["holdout"][600:].all()
    assert sbi.training_info["n_train"] == 600
    held = data["holdout"] & (data["status"] == "ok")
    seed = int(np.random.SeedSequence([11, 0xCA1]).generate_state(1, np.uint32)[0])  # the strategy's
    again = calibrate(sbi.posterior(), data["theta"][held], data["x"][held], 200, seed)
    assert np.array_equal(again["ranks"], calibration(res)["ranks"])
    on_training = calibrate(sbi.posterior(), data["theta"][:200], data["x"][:200], 200, seed)
    assert not np.array_equal(on_training["ranks"], calibration(res)["ranks"])


def test_yaml_sbi_takes_an_ensemble(tmp_path, monkeypatch):
    from brainsweep.studyfile import StudySpecError, parse_study
    (tmp_path / "bs_ens_fns.py").write_text("def f(p):\n    return {'x': [p['mu']]}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ("function: bs_ens_fns:f\npath: e.h5\nspace: {bounds: {mu: [0.0, 1.0]}}\nstrategy:\n"
            "  sbi: {simulations: 40, ensemble: 3, features: {moments: {key: x}}}\n")
    sbi = parse_study(text, "e.yaml", tmp_path)["strategy"]
    assert sbi.ensemble == 3 and sbi.config()["ensemble"] == 3
    assert "ensemble" not in SBI(features=take_x).config()     # files of single-NPE studies keep their config
    with pytest.raises(StudySpecError, match="ensemble: expected a positive number of estimators, got 0"):
        parse_study(text.replace("ensemble: 3", "ensemble: 0"), "e.yaml", tmp_path)
