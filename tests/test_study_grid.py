"""Grid studies end to end: run, store, reload, plot; serial and pool give the same file."""

import numpy as np
import pandas as pd
import pytest

from brainsweep.explorer import GridSearch, ParameterSpace, Study, load, run_seed


def circle(params):
    x, y = params["x"], params["y"]
    return {"score": (x**2 + y**2 - 1) ** 2, "trace": np.sin(np.arange(100) * x)}


def _space():
    return ParameterSpace({"x": np.linspace(-2, 2, 21), "y": np.linspace(-2, 2, 21)})


@pytest.fixture(scope="module")
def circle_serial(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "circle.h5"
    Study(circle, _space(), GridSearch(), path=path, seed=3).run(n_jobs=1, progress=False)
    return load(path)


def test_grid_scores_and_arrays_match_the_function(circle_serial):
    res = circle_serial
    df = res.df
    assert len(df) == 441 and (df["status"] == "ok").all()
    assert list(df.index) == list(range(441))
    # itertools.product order: x varies slowest
    xs = np.linspace(-2, 2, 21)
    assert df.loc[17, "x"] == xs[0] and df.loc[17, "y"] == xs[17]
    np.testing.assert_allclose(df["score"], (df["x"] ** 2 + df["y"] ** 2 - 1) ** 2, rtol=0, atol=0)
    trace = res.run(17)["trace"]
    np.testing.assert_array_equal(trace, np.sin(np.arange(100) * df.loc[17, "x"]))
    assert res.run(17)["score"] == df.loc[17, "score"]
    # seeds are a function of (study seed, run index) only
    assert df.loc[5, "seed"] == run_seed(3, 5)
    assert (df["runtime"] >= 0).all()
    best = res.best(4, key="score")
    np.testing.assert_allclose(best["x"] ** 2 + best["y"] ** 2, 1.0)


def test_pool_gives_the_same_results_as_serial(circle_serial, tmp_path):
    path = tmp_path / "pool.h5"
    Study(circle, _space(), GridSearch(), path=path, seed=3).run(n_jobs=2, progress=False)
    res = load(path)
    cols = ["x", "y", "status", "seed", "score", "batch"]
    pd.testing.assert_frame_equal(res.df[cols], circle_serial.df[cols])
    for i in (0, 17, 440):
        np.testing.assert_array_equal(res.run(i)["trace"], circle_serial.run(i)["trace"])
    assert res.df["worker"].nunique() == 2


def test_plot_grid_returns_heatmap_of_the_scores(circle_serial):
    fig = circle_serial.plot_grid("x", "y", "score")
    ax = fig.axes[0]
    mesh = ax.collections[0]
    values = np.asarray(mesh.get_array()).reshape(21, 21)
    # rows are y, columns x
    xs = np.linspace(-2, 2, 21)
    expected = (xs[None, :] ** 2 + xs[:, None] ** 2 - 1) ** 2
    np.testing.assert_allclose(values, expected)
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"


def test_slices_of_three_dimensional_grid(tmp_path):
    def f(p):
        return {"z": p["a"] * 100 + p["b"] * 10 + p["c"]}

    space = ParameterSpace({"a": [0, 1], "b": [0, 1, 2], "c": [0, 5]})
    res = Study(f, space, path=tmp_path / "s.h5").run(progress=False)
    fig = res.plot_grid("a", "b", "z", fixed={"c": 5})
    values = np.asarray(fig.axes[0].collections[0].get_array()).reshape(3, 2)
    np.testing.assert_array_equal(values, [[5, 105], [15, 115], [25, 125]])
    fig = res.plot_grid("a", "b", "z", agg="max")
    assert "max over c" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="c=3 is not a grid value; nearest is 5"):
        res.plot_grid("a", "b", "z", fixed={"c": 3})
    with pytest.raises(KeyError, match="not an explored parameter"):
        res.plot_grid("a", "b", "z", fixed={"q": 1})


def test_fixed_parameters_and_dotted_names_reach_the_callable(tmp_path):
    seen = []

    def f(p):
        seen.append(dict(p))
        return {"v": p["model.K_gl"] * p["scale"]}

    space = ParameterSpace({"model.K_gl": [0.5, 1.5]}, fixed={"scale": 2.0})
    res = Study(f, space, path=tmp_path / "d.h5").run(progress=False)
    assert list(res.df["v"]) == [1.0, 3.0]
    assert list(res.df["model.K_gl"]) == [0.5, 1.5]
    assert seen[0] == {"scale": 2.0, "model.K_gl": 0.5}


def test_seed_is_passed_when_the_callable_accepts_it(tmp_path):
    def f(p, seed):
        return {"r": float(np.random.default_rng(seed).normal())}

    space = ParameterSpace({"i": list(range(6))})
    a = Study(f, space, path=tmp_path / "a.h5", seed=11).run(progress=False).df
    b = Study(f, space, path=tmp_path / "b.h5", seed=11).run(n_jobs=2, progress=False).df
    assert a["r"].tolist() == b["r"].tolist()
    expected = [float(np.random.default_rng(run_seed(11, i)).normal()) for i in range(6)]
    assert a["r"].tolist() == expected
    c = Study(f, space, path=tmp_path / "c.h5", seed=12).run(progress=False).df
    assert c["r"].tolist() != a["r"].tolist()


def test_string_and_bool_grid_values(tmp_path):
    def f(p):
        return {"n": len(p["label"]) + (10 if p["flag"] else 0)}

    space = ParameterSpace({"label": ["a", "bbb"], "flag": [True, False]})
    res = Study(f, space, path=tmp_path / "s.h5").run(progress=False)
    assert res.df["label"].tolist() == ["a", "a", "bbb", "bbb"]
    assert res.df["flag"].tolist() == [True, False, True, False]
    assert res.df["n"].tolist() == [11, 1, 13, 3]
    assert str(res.df["n"].dtype) == "Int64"
