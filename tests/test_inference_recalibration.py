"""Recalibration of a trained NPE's base distribution on held-out simulations (SBI(recalibration=n)).

Checked against scipy's Student-t maximum-likelihood fit and against the analytic posterior of a
Gaussian mean when the estimator was trained on a simulator with half the noise (overconfident by
a factor 2 in width by construction).
"""

import numpy as np
import pytest

pytest.importorskip("sbi")

from brainsweep.explorer import ParameterSpace, load  # noqa: E402
from brainsweep.inference import SBI, calibration, posterior, training_data  # noqa: E402
from brainsweep.inference._posterior_io import Posterior, train_npe  # noqa: E402
from brainsweep.inference._prior import BoxPrior  # noqa: E402
from brainsweep.inference._recalibrate import fit_student_t, latent_codes, recalibrate  # noqa: E402
from brainsweep.inference.sbc import calibrate  # noqa: E402
from brainsweep.inference.strategy import _build_config  # noqa: E402
from sbi_helpers import sample_in_new_process  # noqa: E402

SPACE = ParameterSpace(bounds={"m1": (-4.0, 4.0), "m2": (-4.0, 4.0)})
NET = {"model": "zuko_maf", "hidden_features": 24, "num_transforms": 2}
TRAIN = {"max_num_epochs": 80, "training_batch_size": 50, "learning_rate": 1e-3}


def test_student_t_fit_is_scipys_maximum_likelihood():
    from scipy import stats
    z = stats.t.rvs(5.0, loc=0.3, scale=1.7, size=3000, random_state=np.random.default_rng(1))
    df, loc, scale = fit_student_t(z[:, None])
    ref = stats.t.fit(z)                       # scipy's own MLE of (df, loc, scale)
    ours, theirs = stats.t.logpdf(z, df, loc[0], scale[0]).sum(), stats.t.logpdf(z, *ref).sum()
    assert ours >= theirs - 1e-3, (ours, theirs)
    assert abs(df - ref[0]) < 0.05 * ref[0] and abs(loc[0] - ref[1]) < 0.01 and abs(scale[0] - ref[2]) < 0.01 * ref[2]
    # two dimensions, one shared df: each scale is recovered
    z2 = np.column_stack([z, 0.5 * stats.t.rvs(5.0, size=3000, random_state=np.random.default_rng(2))])
    df2, loc2, scale2 = fit_student_t(z2)
    assert 3.5 < df2 < 7.5 and abs(scale2[1] / scale2[0] - 0.5 / 1.7) < 0.03


def _gaussian_data(rng, n, sigma):
    theta = rng.uniform(-4.0, 4.0, size=(n, 2))
    return theta, theta + sigma * rng.standard_normal((n, 2))


def test_an_overconfident_estimator_gets_the_analytic_width_back():
    """Trained where x = theta + 0.5 noise, used where the noise is 1: the raw posterior is half the
    analytic width N(x, 1); refitted on 500 simulations with noise 1 it matches it."""
    prior = BoxPrior(SPACE)
    rng = np.random.default_rng(5)
    est, _ = train_npe(*_gaussian_data(rng, 1500, 0.5), prior, _build_config(NET), TRAIN, seed=3)
    held_theta, held_x = _gaussian_data(rng, 500, 1.0)
    test_theta, test_x = _gaussian_data(rng, 300, 1.0)
    x0 = np.array([0.3, -0.2])
    raw = Posterior(est, prior)
    raw_s = raw.sample(4000, x0, seed=1)
    raw_cov = calibrate(raw, test_theta, test_x, 300, seed=0)["coverage"]
    assert np.all(np.abs(raw_s.std(axis=0) - 0.5) < 0.1), raw_s.std(axis=0)
    assert raw_cov[17] < 0.6                                      # 90 % level: the truth inside about 44 %

    fit = recalibrate(est, held_theta, held_x)
    assert fit["family"] == "student_t" and fit["n"] == 500
    assert np.all(np.abs(np.array(fit["scale"]) - 2.0) < 0.25), fit     # codes (theta - x) / 0.5 have std 2
    assert fit["df"] > 10                                                # Gaussian errors: a light tail
    fixed = Posterior(est, prior)
    s = fixed.sample(4000, x0, seed=1)
    assert np.all(np.abs(s.std(axis=0) - 1.0) < 0.12), s.std(axis=0)
    assert np.all(np.abs(s.mean(axis=0) - x0) < 0.15)
    cov = calibrate(fixed, test_theta, test_x, 300, seed=0)["coverage"]
    assert abs(cov[9] - 0.5) < 0.07 and abs(cov[17] - 0.9) < 0.06, cov
    # the refit changes the base only: the codes are those the fit saw
    z = latent_codes(est, held_theta, held_x)
    assert np.allclose(z.std(axis=0), fit["code_std"]) and np.allclose(z.mean(axis=0), fit["code_mean"])


def gaussian(p, seed):
    rng = np.random.default_rng(seed)
    return {"x": np.array([p["m1"], p["m2"]]) + 0.5 * rng.standard_normal(2)}


def take_x(out):
    return out["x"]


STOP = {"on": False}


def _sbi(**kw):
    return SBI(simulations=300, batch=100, features=take_x, density_estimator=NET,
               training={"max_num_epochs": 20, "training_batch_size": 50, "learning_rate": 1e-3},
               recalibration=100, calibration=60, calibration_samples=100, **kw)


def test_study_stores_the_refitted_base_and_reloads_it(tmp_path):
    path = str(tmp_path / "recal.h5")
    sbi = _sbi()
    res = sbi.study(gaussian, SPACE, path, seed=4).run(progress=False)
    assert len(res.df) == 460 and res.strategy["recalibration"] == 100
    data = training_data(path)
    assert data["recalibration"].sum() == 100 and data["recalibration"][300:400].all()
    assert data["holdout"].sum() == 60 and data["holdout"][400:].all() and not data["holdout"][:400].any()
    fits = load(path).strategy_state["recalibration"]
    assert len(fits) == 1 and fits[0]["n"] == 100 and fits[0]["family"] == "student_t"
    assert load(path).strategy_state["estimator"]["base"] == "student_t"
    assert "base refitted on held-out runs" in repr(posterior(path))
    # the stored calibration is on the runs after the recalibration ones, with the refitted base
    held = data["holdout"] & (data["status"] == "ok")
    seed = int(np.random.SeedSequence([4, 0xCA1]).generate_state(1, np.uint32)[0])
    again = calibrate(sbi.posterior(), data["theta"][held], data["x"][held], 100, seed)
    assert np.array_equal(again["ranks"], calibration(res)["ranks"])
    # a new process rebuilds the refitted estimator from the file: the same samples
    x0 = [0.5, -1.0]
    here = sbi.posterior().sample(300, x0, seed=2)
    assert np.array_equal(sample_in_new_process(path, x0, 300, 2, tmp_path), here)
    # the refit changed the posterior: the codes of the recalibration runs were not N(0, 1) exactly
    plain = SBI(simulations=300, batch=100, features=take_x, density_estimator=NET,
                training={"max_num_epochs": 20, "training_batch_size": 50, "learning_rate": 1e-3})
    plain.study(gaussian, SPACE, str(tmp_path / "plain.h5"), seed=4).run(progress=False)
    assert not np.array_equal(plain.posterior().sample(300, x0, seed=2), here)


def test_killed_during_the_refit_resumes_to_the_same_posterior(tmp_path, monkeypatch):
    whole = _sbi()
    whole.study(gaussian, SPACE, str(tmp_path / "whole.h5"), seed=6).run(progress=False)
    expected = whole.posterior().sample(100, [0.0, 1.0], seed=3)
    import brainsweep.inference._recalibrate as recal_module

    def killed(*a, **k):
        raise KeyboardInterrupt
    path = str(tmp_path / "killed.h5")
    monkeypatch.setattr(recal_module, "recalibrate", killed)
    with pytest.raises(KeyboardInterrupt):
        _sbi().study(gaussian, SPACE, path, seed=6).run(progress=False)
    state = load(path).strategy_state
    assert len(load(path).df) == 400 and state["recalibration"] is None and "base" not in state["estimator"]
    monkeypatch.undo()
    resumed = _sbi()
    resumed.study(gaussian, SPACE, path).run(progress=False)
    assert np.array_equal(resumed.posterior().sample(100, [0.0, 1.0], seed=3), expected)
    assert np.array_equal(calibration(load(path))["ranks"], whole.calibration_result["ranks"])


def test_recalibration_settings_refused_with_names(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="recalibration: expected 0 or a number >= 20"):
        SBI(features=take_x, recalibration=5)
    with pytest.raises(ValueError, match="recalibration: expected 0 or a number >= 20"):
        SBI(features=take_x, recalibration=True)
    with pytest.raises(ValueError, match="recalibration: refits the base distribution of zuko's flows"):
        SBI(features=take_x, recalibration=100, density_estimator="maf")
    with pytest.raises(ValueError, match="recalibration: needs an amortised posterior"):
        SBI(features=take_x, recalibration=100, rounds=2, x_obs=[0.0, 0.0])
    assert "recalibration" not in SBI(features=take_x).config()     # older files keep their config
    from brainsweep.studyfile import StudySpecError, parse_study
    (tmp_path / "bs_recal_fns.py").write_text("def f(p):\n    return {'x': [p['mu']]}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ("function: bs_recal_fns:f\npath: r.h5\nspace: {bounds: {mu: [0.0, 1.0]}}\nstrategy:\n"
            "  sbi: {simulations: 40, recalibration: 50, features: {moments: {key: x}}}\n")
    assert parse_study(text, "r.yaml", tmp_path)["strategy"].recalibration == 50
    with pytest.raises(StudySpecError, match="recalibration: expected 0 or a number >= 20"):
        parse_study(text.replace("recalibration: 50", "recalibration: 3"), "r.yaml", tmp_path)


def test_too_few_finite_recalibration_runs(tmp_path, monkeypatch):
    """Recalibration runs that all diverge (NaN features after the training) stop the study by name."""
    def after_training_nan(p, seed):
        return {"x": np.array([np.nan, np.nan])} if STOP["on"] else gaussian(p, seed)
    original = SBI._train

    def train_then_break(self, n):
        original(self, n)
        STOP["on"] = True
    monkeypatch.setattr(SBI, "_train", train_then_break)
    sbi = SBI(simulations=60, batch=60, features=take_x, density_estimator=NET, training={"max_num_epochs": 2},
              recalibration=40)
    try:
        with pytest.raises(ValueError, match=r"only 0 of 40 recalibration simulations gave finite features "
                                             r"\(excluded: \{'diverged': 40\}\)"):
            sbi.study(after_training_nan, SPACE, str(tmp_path / "holes.h5"), seed=2).run(progress=False)
    finally:
        STOP["on"] = False
