"""Evolution and BayesOpt through Study: storage, reload, interrupted-and-resumed runs, plots."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainsweep.explorer import BayesOpt, Evolution, ParameterSpace, Study, load
from brainsweep.explorer.plots_optim import (generation_stats, pareto_front, plot_convergence,
                                             plot_partial_dependence, plot_pareto)

from test_evolution import CIRCLE_SPACE, circle, drive

_INTERRUPT = {"after": None, "calls": 0}


def interruptible_circle(params):
    """The unit circle; raises KeyboardInterrupt (as Ctrl-C would) at a chosen call."""
    _INTERRUPT["calls"] += 1
    if _INTERRUPT["after"] is not None and _INTERRUPT["calls"] > _INTERRUPT["after"]:
        raise KeyboardInterrupt
    return {"fitness": abs(params["x"] ** 2 + params["y"] ** 2 - 1)}


def _run(strategy, path, interrupt_after=None, seed=21):
    _INTERRUPT.update(after=interrupt_after, calls=0)
    return Study(interruptible_circle, CIRCLE_SPACE, strategy, path=path, seed=seed).run(progress=False)


def _evo():
    return Evolution(weights=(-1.0,), pop_init=40, pop=20, generations=5)


def test_evolution_study_stores_every_generation_as_the_strategy_asked(tmp_path):
    res = _run(_evo(), tmp_path / "evo.h5")
    df = res.df
    assert len(df) == 120 and (df["status"] == "ok").all()
    assert df["generation"].value_counts().sort_index().tolist() == [40, 20, 20, 20, 20]
    # the file holds exactly the points a bare ask/tell loop with the study seed produces
    batches, _, strategy = drive(_evo(), circle, seed=21)
    points = [p for pts, _ in batches for p in pts]
    np.testing.assert_array_equal(df[["x", "y"]].to_numpy(), [[p["x"], p["y"]] for p in points])
    np.testing.assert_array_equal(df["fitness"], np.abs(df["x"] ** 2 + df["y"] ** 2 - 1))
    best = res.best(3)
    assert best["fitness"].tolist() == sorted(df["fitness"])[:3]
    state = res.strategy_state
    np.testing.assert_array_equal(state["genes"], strategy.get_state()["genes"])
    assert res.strategy["objectives"] is None and state["objectives"] == ["fitness"]
    # plots through Results
    st = generation_stats(df, "fitness", -1.0)
    assert st["runs"].tolist() == [40, 20, 20, 20, 20]
    assert st.loc[4, "best_so_far"] == df["fitness"].min()
    assert st.loc[0, "mean"] == pytest.approx(df.loc[df["generation"] == 0, "fitness"].mean())
    fig = res.plot_fitness()
    assert isinstance(fig, Figure)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["best of generation"].get_ydata(), st["best"])
    fig = res.plot_population("x", "y", generation=-1)
    offsets = [c.get_offsets() for c in fig.axes[0].collections]
    assert [len(o) for o in offsets] == [100, 20]   # earlier generations, the last one


@pytest.mark.parametrize("make, interrupt_after", [(_evo, 70), (lambda: BayesOpt(
    n_calls=20, n_initial=8, batch=4, acq_func="EI", acq_optimizer="sampling",
    acq_optimizer_kwargs={"n_points": 500}), 13)])
def test_an_interrupted_study_resumes_to_the_same_result(tmp_path, make, interrupt_after):
    reference = _run(make(), tmp_path / "ref.h5")
    path = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        _run(make(), path, interrupt_after=interrupt_after)
    partial = load(path)
    assert 0 < len(partial.df) < len(reference.df)
    resumed = _run(make(), path)
    cols = ["x", "y", "fitness", "status", "seed"] + [c for c in ("generation", "iteration") if c in reference.df]
    pd.testing.assert_frame_equal(resumed.df[cols], reference.df[cols])
    a, b = resumed.strategy_state, reference.strategy_state
    for key in ("genes", "values", "Xi", "yi"):
        if key in a:
            np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_bayes_study_convergence_and_partial_dependence(tmp_path):
    bo = BayesOpt(n_calls=16, n_initial=8, batch=4, acq_func="EI", acq_optimizer="sampling",
                  acq_optimizer_kwargs={"n_points": 500})
    res = _run(bo, tmp_path / "bo.h5")
    df = res.df
    assert df["iteration"].tolist() == [i // 4 for i in range(16)]
    fig = plot_convergence(df, "fitness")
    best_line = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "best so far"][0]
    np.testing.assert_array_equal(best_line.get_ydata(), np.minimum.accumulate(df["fitness"].to_numpy()))
    assert isinstance(res.plot_convergence(), Figure)
    for source in (res.strategy_state, df):
        fig = plot_partial_dependence(source, CIRCLE_SPACE, objective="fitness")
        assert len(fig.axes) >= 3                   # 2 partial dependences + the 2-D panel


def test_pareto_front_matches_a_brute_force_dominance_check():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.random(300), "b": rng.random(300), "c": rng.integers(0, 5, 300)})
    df["status"] = np.where(rng.random(300) < 0.1, "failed", "ok")
    df.loc[5, "a"] = np.nan
    weights = (-1.0, 1.0, -1.0)                    # minimise a, maximise b, minimise c
    front = pareto_front(df, ["a", "b", "c"], weights)
    ok = df[(df["status"] == "ok") & df["a"].notna()]
    signed = ok[["a", "b", "c"]].to_numpy() * np.array(weights)   # larger is better
    expected = []
    for i, u in enumerate(signed):
        if not any(np.all(v >= u) and np.any(v > u) for v in signed):
            expected.append(ok.index[i])
    assert sorted(front.index) == sorted(expected)
    assert front["a"].is_monotonic_increasing
    assert isinstance(plot_pareto(df, ["a", "b"], [-1.0, 1.0]), Figure)
    with pytest.raises(ValueError, match="weight"):
        pareto_front(df, ["a", "b"], [-1.0])


def test_nsga2_study_pareto_front_through_results(tmp_path):
    def two_circles(params):
        x, y = params["x"], params["y"]
        return {"f1": math.hypot(x - 1, y), "f2": math.hypot(x + 1, y)}

    evo = Evolution(weights=(-1.0, -1.0), objectives=["f1", "f2"], pop_init=40, pop=20,
                    generations=15, algorithm="nsga2")
    res = Study(two_circles, CIRCLE_SPACE, evo, path=tmp_path / "nsga2.h5", seed=1).run(progress=False)
    front = res.pareto_front()
    assert len(res.df) == 40 + 14 * 20 and len(front) >= 10
    # the true Pareto set of two distances to (1, 0) and (-1, 0) is the segment between
    # them, where f1 + f2 = 2 (elsewhere f1 + f2 > 2); the found front lies near it and
    # spans most of it
    excess = front["f1"] + front["f2"] - 2.0
    assert excess.min() > -1e-12 and excess.max() < 0.1 and excess.median() < 0.01
    assert front["f1"].min() < 0.2 and front["f1"].max() > 1.8


def test_a_missing_objective_is_an_error_before_anything_is_stored(tmp_path):
    evo = Evolution(weights=(-1.0, -1.0), objectives=["f1", "f2"], pop_init=8, pop=4, generations=2,
                    algorithm="nsga2")
    path = tmp_path / "bad.h5"
    with pytest.raises(ValueError, match=r"need \['f2'\]"):
        Study(lambda p: {"f1": p["x"]}, CIRCLE_SPACE, evo, path=path, seed=0).run(progress=False)
    assert not path.exists()
