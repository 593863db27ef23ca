"""``Results`` of a GradientDescent study: ``best()`` ranks by the strategy's loss (the
gradients are scores too), ``plot_loss``/``plot_landscape`` draw the stored iterates."""

import numpy as np

from brainsweep.explorer import GradientDescent, ParameterSpace, Study, load


def bowl(p):
    """(x - 0.3)^2 + 2 (y + 0.2)^2 and its exact gradient."""
    x, y = p["x"], p["y"]
    return {"loss": (x - 0.3) ** 2 + 2 * (y + 0.2) ** 2, "grad__x": 2 * (x - 0.3), "grad__y": 4 * (y + 0.2)}


def test_best_and_plots_of_a_gradient_study(tmp_path):
    space = ParameterSpace(bounds={"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
    path = str(tmp_path / "g.h5")
    Study(bowl, space, GradientDescent("adam", lr=0.05, steps=6, starts=2, start="random"), path=path,
          seed=2).run(progress=False)
    res = load(path)
    ok = res.df[res.df["status"] == "ok"]
    best = res.best()
    assert best.index[0] == ok["loss"].idxmin()
    fig = res.plot_loss()
    ys = np.concatenate([ln.get_ydata() for ln in fig.axes[0].lines if ln.get_label().startswith("start")])
    np.testing.assert_array_equal(np.sort(ys), np.sort(ok["loss"].to_numpy()))
    fig = res.plot_landscape("x", "y")
    q = next(c for c in fig.axes[0].collections if type(c).__name__ == "Quiver")
    assert len(q.X) == 2
    assert fig.axes[0].get_xlabel().startswith("x")
