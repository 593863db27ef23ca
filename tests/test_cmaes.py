"""CMAES (the cma package): convergence through Study, exact resume, bounds, bad input."""

import json
import math
import random

import numpy as np
import pandas as pd
import pytest

from brainsweep.explorer import ParameterSpace, Study, _plain, load
from brainsweep.explorer.cmaes import CMAES

from test_evolution import CIRCLE_SPACE, circle, drive

TAU_TRUE = 12.0
QUAD_SPACE = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0), "tau": (0.1, 1000.0, "log")})


def quadratic(p):
    """Minimum 0 at x = 1.2, y = -0.7, tau = 12 (tau on a log scale)."""
    return {"loss": (p["x"] - 1.2) ** 2 + (p["y"] + 0.7) ** 2 + (math.log10(p["tau"] / TAU_TRUE)) ** 2}


ROSEN_SPACE = ParameterSpace(bounds={"a": (-2.0, 2.0), "b": (-1.0, 3.0)})


def rosenbrock(p):
    """Rosenbrock's banana valley: minimum 0 at a = b = 1."""
    return {"f": 100.0 * (p["b"] - p["a"] ** 2) ** 2 + (1.0 - p["a"]) ** 2}


def round_trip(state):
    return _plain.decode(_plain.encode(state))


# -- convergence through Study ----------------------------------------------------------------------

def test_quadratic_with_a_log_scale_parameter_converges_through_study(tmp_path):
    res = Study(quadratic, QUAD_SPACE, CMAES(sigma0=0.25, max_evals=300), path=tmp_path / "q.h5",
                seed=3).run(progress=False)
    df = res.df
    popsize = 4 + int(3 * math.log(3))                        # cma's default for 3 parameters
    assert len(df) <= 300 and len(df) % popsize == 0
    assert df["generation"].tolist() == [i // popsize for i in range(len(df))]
    best = res.best(1).iloc[0]
    assert best["x"] == pytest.approx(1.2, abs=0.01) and best["y"] == pytest.approx(-0.7, abs=0.01)
    assert best["tau"] == pytest.approx(TAU_TRUE, rel=0.03)
    assert ((df["tau"] >= 0.1) & (df["tau"] <= 1000.0)).all()
    assert res.strategy["name"] == "cmaes" and json.loads(json.dumps(res.strategy)) == res.strategy


def test_rosenbrock_converges_within_a_few_hundred_evaluations(tmp_path):
    res = Study(rosenbrock, ROSEN_SPACE, CMAES(sigma0=0.3, max_evals=600), path=tmp_path / "r.h5",
                seed=0).run(progress=False)
    best = res.best(1).iloc[0]
    assert len(res.df) <= 600
    assert math.hypot(best["a"] - 1.0, best["b"] - 1.0) < 0.02          # distance to the minimum
    assert best["f"] < 1e-4


# -- resume --------------------------------------------------------------------------------------

_CUT = {"after": None, "calls": 0}


def interruptible_quadratic(p):
    _CUT["calls"] += 1
    if _CUT["after"] is not None and _CUT["calls"] > _CUT["after"]:
        raise KeyboardInterrupt
    return quadratic(p)


def _study(path, after=None):
    _CUT.update(after=after, calls=0)
    return Study(interruptible_quadratic, QUAD_SPACE, CMAES(sigma0=0.3, generations=12), path=path,
                 seed=9).run(progress=False)


def test_an_interrupted_study_resumes_to_identical_results(tmp_path):
    reference = _study(tmp_path / "ref.h5")
    path = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        _study(path, after=37)                                   # inside generation 5 of 7 points
    assert 0 < len(load(path).df) < len(reference.df)
    resumed = _study(path)
    cols = ["x", "y", "tau", "loss", "status", "generation"]
    pd.testing.assert_frame_equal(resumed.df[cols], reference.df[cols])
    a, b = resumed.strategy_state, reference.strategy_state
    np.testing.assert_array_equal(a["told"], b["told"])
    np.testing.assert_array_equal(a["mean"], b["mean"])
    assert a["asked"] == b["asked"] and a["sigma"] == b["sigma"]


@pytest.mark.parametrize("stop", [1, 4, 9])
def test_set_state_replays_to_the_same_next_generations(stop):
    def make():
        return CMAES(sigma0=0.3, popsize=6, generations=12)

    full, _, ref = drive(make(), rosenbrock, space=ROSEN_SPACE, seed=2)
    head, _, first = drive(make(), rosenbrock, space=ROSEN_SPACE, seed=2, stop_after=stop)
    resumed = make()
    resumed.set_state(ROSEN_SPACE, round_trip(first.get_state()))
    tail, _, resumed = drive(resumed, rosenbrock, space=ROSEN_SPACE, start=False)
    assert head + tail == full                                   # every point, bit for bit
    assert resumed.best() == ref.best()


def test_a_replay_that_asks_other_points_is_refused():
    _, _, first = drive(CMAES(sigma0=0.3, popsize=6, generations=5), rosenbrock, space=ROSEN_SPACE,
                        seed=2, stop_after=2)
    state = round_trip(first.get_state())
    state["seed"] += 1                                           # another generator: other samples
    with pytest.raises(ValueError, match="replaying generation 0 asked other points"):
        CMAES(sigma0=0.3, popsize=6, generations=5).set_state(ROSEN_SPACE, state)


def test_state_is_plain_data_and_global_random_is_untouched():
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    a, _, es = drive(CMAES(sigma0=0.2, generations=4), circle, seed=1)
    assert (random.random(), np.random.random()) == expected
    b, _, _ = drive(CMAES(sigma0=0.2, generations=4), circle, seed=1)
    c, _, _ = drive(CMAES(sigma0=0.2, generations=4), circle, seed=2)
    assert a == b and a != c
    blob = _plain.encode(es.get_state())                         # TypeError for anything else
    assert len(blob) < 20_000


# -- bounds, scales, objectives, failures -------------------------------------------------------------

def test_points_stay_inside_bounds_on_log_and_integer_scales():
    space = ParameterSpace(bounds={"tau": (1e-3, 10.0, "log"), "n": (1, 4, "int"), "x": (0.0, 1.0)})
    batches, _, _ = drive(CMAES(sigma0=0.9, popsize=20, generations=5),
                          lambda p: {"s": p["x"] + p["n"]}, space=space, seed=0)
    pts = [p for b, _ in batches for p in b]
    assert all(1e-3 <= p["tau"] <= 10.0 and p["n"] in (1, 2, 3, 4) and 0.0 <= p["x"] <= 1.0 for p in pts)
    assert all(type(p["n"]) is int for p in pts)
    # generation 0 from the centre of the log range (10**-1 = 0.1) with sigma 0.9 of the range:
    # spread over decades, not over the linear range (half of a linear spread lies above 5)
    taus = np.array([p["tau"] for p in batches[0][0]])
    assert np.mean(taus < 0.1) > 0.2 and np.mean(taus > 5.0) < 0.3


def test_x0_starts_the_search_there():
    batches, _, _ = drive(CMAES(sigma0=0.01, generations=1, x0={"x": 4.0, "y": -4.0}), circle, seed=0)
    pts = np.array([[p["x"], p["y"]] for p in batches[0][0]])
    np.testing.assert_allclose(pts.mean(axis=0), [4.0, -4.0], atol=0.2)   # 0.01 x range 10 = 0.1


def test_maximisation_and_failures_ranked_last():
    def flaky(p):
        if p["x"] > 2.0:
            return {"_status": "failed"}
        return {"gain": -abs(math.hypot(p["x"], p["y"]) - 1.0)}

    _, told, es = drive(CMAES(sigma0=0.3, max_evals=300, minimize=False), flaky, seed=4)
    assert any(o.status == "failed" for o in told)
    state = es.get_state()
    ok = [o.scores["gain"] for o in told if o.status == "ok"]
    best_point, best_value = es.best()
    assert best_value == max(ok) > -0.01
    assert abs(math.hypot(best_point["x"], best_point["y"]) - 1.0) < 0.01
    assert es.config()["weights"] == [1.0]
    # what cma was told: -gain for ok runs; failures at the worst ok value + the ok range
    told_values = state["told"].ravel()
    signed = [-o.scores["gain"] if o.status == "ok" else None for o in told]
    n_fail = 0
    for i, v in enumerate(signed):
        if v is not None:
            assert told_values[i] == v
        else:
            n_fail += 1
            assert told_values[i] > max(x for x in signed[:(i // len(state["told"][0]) + 1)
                                                          * len(state["told"][0])] if x is not None)
    assert n_fail > 0


def test_objective_adoption():
    es = CMAES(generations=2)
    es.check_scores({"loss": 1.0})
    assert es.objectives == ("loss",)
    with pytest.raises(ValueError, match="objectives="):
        CMAES(generations=2).check_scores({"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match=r"need \['b'\]"):
        CMAES(generations=2, objective="b").check_scores({"a": 1.0})


# -- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(sigma0=0.0, generations=3), "sigma0"),
    (dict(sigma0=-0.2, generations=3), "sigma0"),
    (dict(sigma0=float("nan"), generations=3), "sigma0"),
    (dict(sigma0=2.0, generations=3), "sigma0"),
    (dict(), "generations=.*max_evals="),
    (dict(generations=0), "generations"),
    (dict(popsize=1, generations=3), "popsize"),
    (dict(popsize=10, max_evals=5), "max_evals"),
    (dict(generations=3, minimize="no"), "minimize"),
    (dict(generations=3, x0=[0.5, 0.5]), "x0"),
    (dict(generations=3, cma_options={"seed": 4, "bounds": [0, 2]}), r"\['bounds', 'seed'\]"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CMAES(**kwargs)


def test_spaces_cma_cannot_search_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match=r"\['kind'\] are categorical"):
        CMAES(generations=2).check(ParameterSpace(bounds={"x": (0.0, 1.0), "kind": ["a", "b"]}))
    with pytest.raises(ValueError, match="needs bounds"):
        CMAES(generations=2).check(ParameterSpace({"x": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"x0\['x'\] = 7.0 is not a number within the bounds"):
        CMAES(generations=2, x0={"x": 7.0}).check(CIRCLE_SPACE)
    with pytest.raises(ValueError, match=r"\['z'\] are not parameters"):
        CMAES(generations=2, x0={"z": 1.0}).check(CIRCLE_SPACE)
    with pytest.raises(ValueError, match="less than one generation"):
        CMAES(max_evals=5).check(CIRCLE_SPACE)                   # popsize 6 for 2 parameters
    path = tmp_path / "never.h5"
    with pytest.raises(ValueError, match="categorical"):
        Study(lambda p: {"f": 1.0}, ParameterSpace(bounds={"x": (0.0, 1.0), "kind": ["a", "b"]}),
              CMAES(generations=2), path=path, seed=0).run(progress=False)
    assert not path.exists()
