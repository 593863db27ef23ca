"""A study whose runs start from a given delayed past (``run_kwargs["initial_history"]``): each
stored run equals ``model.run`` with that history, the study resumes and reproduces, and two
studies that differ only inside a long array of run settings do not share an identity."""

import subprocess
import sys

import numpy as np
import pytest

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load, run_seed
from brainsweep.explorer.model_eval import ModelEvaluation
from brainsweep.explorer.reproduce import reproduce
from brainsweep.models import HopfModel

RUN = dict(duration=200.0, sampling_dt=1.0)


def _model():
    rng = np.random.default_rng(3)
    C = rng.uniform(0, 1, (4, 4))
    np.fill_diagonal(C, 0)
    D = rng.uniform(20, 60, (4, 4))          # mm; delays D / signalV
    return HopfModel(Cmat=C, Dmat=D)


def _history(model, steps=400, seed=0):
    n_coupled = len(type(model).coupled_vars)
    return np.random.default_rng(seed).normal(0, 0.5, (model.network.n_nodes, n_coupled, steps))


def test_a_study_stores_runs_from_the_given_history(tmp_path):
    m = _model()
    hist = _history(m)
    space = ParameterSpace({"K_gl": [0.2, 0.8]})
    path = tmp_path / "hist.h5"
    Study(m, space, GridSearch(), path=path, seed=5, run_kwargs={**RUN, "initial_history": hist},
          keep=["x"]).run(progress=False)
    res = load(path)
    for idx in (0, 1):
        mm = _model()
        mm.params["K_gl"] = res.df.loc[idx, "K_gl"]
        want = mm.run(seed=run_seed(5, idx), initial_history=hist, **RUN)["x"]
        np.testing.assert_array_equal(res.run(idx)["x"], want)
        default = mm.run(seed=run_seed(5, idx), **RUN)["x"]
        assert np.abs(default - want).max() > 1e-3   # the history matters in these runs
    report = reproduce(path, 1)
    assert report["match"], report["differences"]
    # a new process rebuilds the evaluation from its plain-data reference (no pickle), history included
    code = ("from brainsweep.explorer.reproduce import reproduce; import sys; "
            f"r = reproduce({str(path)!r}, 1); sys.exit(0 if r['match'] else 3)")
    assert subprocess.run([sys.executable, "-c", code], timeout=300).returncode == 0


def test_a_callable_history_is_refused_in_a_study():
    m = _model()
    with pytest.raises(ValueError, match="initial_history in a study must be an array"):
        ModelEvaluation(m, ParameterSpace({"K_gl": [0.1]}),
                        run_kwargs={**RUN, "initial_history": lambda t: np.zeros((4, 2))})


def test_long_arrays_differing_inside_give_different_identities():
    m = _model()
    space = ParameterSpace({"K_gl": [0.1]})
    hist = _history(m, steps=400)              # 1600 values: numpy abbreviates its repr
    other = hist.copy()
    other[2, 0, 200] += 1e-9                   # a change hidden by the "..." of repr
    assert repr(hist) == repr(other)
    a = ModelEvaluation(m, space, run_kwargs={**RUN, "initial_history": hist}).identity
    b = ModelEvaluation(m, space, run_kwargs={**RUN, "initial_history": other}).identity
    c = ModelEvaluation(m, space, run_kwargs={**RUN, "initial_history": hist.copy()}).identity
    assert a != b and a == c
