"""A differentiable objective (loss, {output: dloss/doutput}) drives CMAES, BayesOpt and Evolution
on a model study as it is: each run stores ``loss``, equal to the objective computed directly on
an engine run of the same parameters and seed, and to the loss GradientDescent's adjoint gets."""

import numpy as np
import pytest

from brainsweep.evaluation.differentiable import fc_fit_loss, objective_digest, spectral_correlation_loss
from brainsweep.explorer import CMAES, BayesOpt, Evolution, GradientDescent, ParameterSpace, Study, StudyFileError, load
from brainsweep.explorer.model_eval import ModelEvaluation
from brainsweep.models import HopfModel

RUN = dict(duration=600.0, dt=0.1, sampling_dt=1.0)
SPACE = ParameterSpace(bounds={"K_gl": (0.0, 1.5), "a": (-0.3, 0.0)})


def _hopf():
    rng = np.random.default_rng(0)
    C = rng.random((4, 4))
    np.fill_diagonal(C, 0.0)
    D = rng.random((4, 4)) * 40.0
    m = HopfModel(Cmat=C, Dmat=D + D.T)
    m.params.update(sigma_ou=0.05, signalV=10.0)
    return m


def _target_fc(K_gl=0.8, a=-0.1, seed=11):
    m = _hopf()
    m.params.update(K_gl=K_gl, a=a)
    return np.corrcoef(m.run(seed=seed, **RUN)["x"][:, 100:])


def _direct_loss(objective, params, seed):
    m = _hopf()
    m.params.update(params)
    return objective(m.run(seed=seed, **RUN))[0]


@pytest.mark.parametrize("strategy", [CMAES(sigma0=0.3, max_evals=8, popsize=4),
                                      BayesOpt(n_calls=6, n_initial=4, batch=2),
                                      Evolution(pop_init=4, pop=4, generations=2)],
                         ids=["cmaes", "bayesopt", "evolution"])
def test_stored_loss_equals_the_objective_computed_directly(tmp_path, strategy):
    obj = fc_fit_loss(_target_fc(), "x", transient=100)
    res = Study(_hopf(), SPACE, strategy, objective=obj, run_kwargs=RUN, path=tmp_path / "s.h5",
                seed=5).run(progress=False)
    df = res.df
    assert (df["status"] == "ok").all() and len(df) >= 6
    assert "loss" in df.columns and not any(c.startswith("grad__") for c in df.columns)
    for _, row in df.iterrows():
        direct = _direct_loss(obj, {"K_gl": row["K_gl"], "a": row["a"]}, int(row["seed"]))
        assert row["loss"] == pytest.approx(direct, rel=1e-12, abs=1e-14)
    assert df["loss"].nunique() == len(df) and 0.0 < df["loss"].min() < 2.0   # real, distinct losses


def test_same_loss_as_the_gradient_study_at_the_same_point_and_seed(tmp_path):
    obj = fc_fit_loss(_target_fc(), "x", transient=100)
    start = [{"K_gl": 0.3, "a": -0.2}]
    gd = Study(_hopf(), SPACE, GradientDescent("adam", lr=0.01, steps=1, starts=1, start=start), objective=obj,
               run_kwargs=dict(RUN), path=tmp_path / "gd.h5", seed=5).run(progress=False).df.iloc[0]
    ev = ModelEvaluation(_hopf(), SPACE, objective=obj, run_kwargs=RUN)
    (rec,) = ev.evaluate_chunk([(0, start[0], int(gd["seed"]))])
    assert rec.scalars["loss"] == pytest.approx(gd["loss"], rel=1e-12)
    assert gd["grad__K_gl"] != 0.0


def test_a_study_resumed_with_another_target_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    Study(_hopf(), SPACE, CMAES(max_evals=4, popsize=4), objective=fc_fit_loss(_target_fc(), "x"),
          run_kwargs=RUN, path=path, seed=1).run(progress=False)
    other = fc_fit_loss(_target_fc(K_gl=0.2), "x")
    assert objective_digest(other) != objective_digest(fc_fit_loss(_target_fc(), "x"))
    assert objective_digest(fc_fit_loss(_target_fc(), "x")) == objective_digest(fc_fit_loss(_target_fc(), "x"))
    with pytest.raises(StudyFileError, match="holds a different study \\(its evaluate differ"):
        Study(_hopf(), SPACE, CMAES(max_evals=4, popsize=4), objective=other, run_kwargs=RUN, path=path,
              seed=1).run(progress=False)
    assert len(load(path).df) == 4                                          # nothing stored lost
    same = Study(_hopf(), SPACE, CMAES(max_evals=4, popsize=4), objective=fc_fit_loss(_target_fc(), "x"),
                 run_kwargs=RUN, path=path, seed=1).run(progress=False)     # the same target resumes
    assert len(same.df) == 4


def test_objective_digest_is_none_for_other_callables_and_bad_returns_fail_the_run():
    assert objective_digest(lambda out: (0.0, {})) is None
    f = np.fft.rfftfreq(256, 1e-3)
    assert objective_digest(spectral_correlation_loss(np.ones(f.size), 1000.0, 256, "x")) is not None
    ev = ModelEvaluation(_hopf(), SPACE, objective=lambda out: (1.0, 2.0, 3.0), run_kwargs=RUN)
    (rec,) = ev.evaluate_chunk([(0, {"K_gl": 0.5, "a": -0.1}, 1)])
    assert rec.status == "failed" and "expected a dict of scores or (loss, {output: gradient})" in rec.message
