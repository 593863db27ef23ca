"""GradientDescent: Adam as optax computes it, L-BFGS-B as scipy iterates, bounds, multi-start,
resume, NaN gradients and bad input, on functions whose gradient is analytic."""

import math
import os

import numpy as np
import pytest
from scipy.optimize import minimize

from brainsweep.explorer import ParameterSpace, Study, load
from brainsweep.explorer import _plain
from brainsweep.explorer.gradient import GradientDescent, grad_name, gradient_history, start_points
from brainsweep.explorer.strategy import Outcome


def rosen(p):
    x, y = p["x"], p["y"]
    return {"loss": (1 - x) ** 2 + 100 * (y - x * x) ** 2,
            "grad__x": -2 * (1 - x) - 400 * x * (y - x * x), "grad__y": 200 * (y - x * x)}


def rosen_fg(v):
    s = rosen({"x": v[0], "y": v[1]})
    return s["loss"], np.array([s["grad__x"], s["grad__y"]])


SPACE = ParameterSpace(bounds={"x": (-2.0, 2.0), "y": (-1.0, 3.0)})


def drive(strategy, evaluate, space=SPACE, seed=3, max_batches=10_000, state=None):
    """The study loop without a file: (list of batches of (start, point), scores) ."""
    if state is None:
        strategy.start(space, seed)
    else:
        strategy.set_state(space, state)
    seen, idx = [], 0
    for _ in range(max_batches):
        batch = strategy.ask()
        if batch is None:
            break
        outs = []
        for p in batch.points:
            scores = evaluate(p)
            bad = any(not math.isfinite(v) for v in scores.values())
            outs.append(Outcome(idx, dict(p), "diverged" if bad else "ok", scores))
            idx += 1
        seen.append([dict(p) for p in batch.points])
        strategy.tell(batch, outs)
    return seen


def test_adam_steps_equal_optax_formula_by_hand():
    # optax.adam(lr): m = (1-b1) g + b1 m; v = (1-b2) g^2 + b2 v; t += 1;
    # x += -lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t) + eps_root) + eps); here f = sum(c * x^2)
    c = np.array([1.0, 10.0])
    space = ParameterSpace(bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0)})
    gd = GradientDescent("adam", lr=0.1, steps=4, start=[{"x": 1.5, "y": -0.7}])
    seen = drive(gd, lambda p: {"loss": c[0] * p["x"] ** 2 + c[1] * p["y"] ** 2,
                                "grad__x": 2 * c[0] * p["x"], "grad__y": 2 * c[1] * p["y"]}, space)
    x, m, v = np.array([1.5, -0.7]), np.zeros(2), np.zeros(2)
    expected = [x.copy()]
    for t in range(1, 4):
        g = 2 * c * x
        m = 0.1 * g + 0.9 * m
        v = 0.001 * g * g + 0.999 * v
        x = x - 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t) + 0.0) + 1e-8)
        expected.append(x.copy())
    got = [np.array([b[0]["x"], b[0]["y"]]) for b in seen]
    assert len(got) == 4
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    # the first Adam step moves every coordinate by lr (m_hat / sqrt(v_hat) = sign(g))
    np.testing.assert_allclose(np.abs(got[1] - got[0]), 0.1, rtol=1e-6)
    assert gd.summary()[0]["status"] == "max_steps"


def test_lbfgsb_iterates_are_scipys_own():
    x0 = {"x": -1.2, "y": 1.0}
    calls = []

    def fg(v):
        calls.append(np.array(v, dtype=float))
        return rosen_fg(v)

    ref = minimize(fg, [x0["x"], x0["y"]], jac=True, method="L-BFGS-B",
                   bounds=[(-2.0, 2.0), (-1.0, 3.0)], options={"maxfun": 200, "maxiter": 200, "maxcor": 10})
    gd = GradientDescent("lbfgsb", steps=200, start=[x0])
    seen = drive(gd, rosen)
    got = np.array([[b[0]["x"], b[0]["y"]] for b in seen])
    assert len(got) == len(calls)
    np.testing.assert_array_equal(got, np.array(calls))
    assert gd.summary()[0]["status"] == "converged"
    assert ref.success and np.allclose(got[-1], [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("how", ["grid", "random", "lhs"])
def test_multistart_converges_on_rosenbrock(how):
    gd = GradientDescent("lbfgsb", steps=150, starts=4, start=how)
    seen = drive(gd, rosen)
    summary = gd.summary()
    assert len(summary) == 4 and len(seen[0]) == 4
    assert all(s["status"] == "converged" for s in summary), summary
    assert max(s["best_loss"] for s in summary) < 1e-8


def test_adam_converges_on_a_quadratic():
    target = np.array([0.3, -0.4])
    gd = GradientDescent("adam", lr=0.05, steps=400, starts=3, start="random", gtol=1e-6)
    drive(gd, lambda p: {"loss": (p["x"] - target[0]) ** 2 + 4 * (p["y"] - target[1]) ** 2,
                         "grad__x": 2 * (p["x"] - target[0]), "grad__y": 8 * (p["y"] - target[1])})
    for s in gd.summary():
        assert s["best_loss"] < 1e-6, s


@pytest.mark.parametrize("optimizer", ["adam", "lbfgsb"])
def test_bounds_respected_and_reached(optimizer):
    # minimum at (3, -3), outside the box [-1, 1]^2: the constrained minimum is the corner (1, -1)
    space = ParameterSpace(bounds={"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
    gd = GradientDescent(optimizer, lr=0.2, steps=80, starts=4, start="lhs")
    seen = drive(gd, lambda p: {"loss": (p["x"] - 3) ** 2 + (p["y"] + 3) ** 2,
                                "grad__x": 2 * (p["x"] - 3), "grad__y": 2 * (p["y"] + 3)}, space)
    pts = np.array([[p["x"], p["y"]] for b in seen for p in b])
    assert pts.min() >= -1.0 and pts.max() <= 1.0
    last = np.array([[p["x"], p["y"]] for p in seen[-1]])
    np.testing.assert_allclose(last, np.tile([1.0, -1.0], (len(last), 1)), atol=1e-12)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgsb"])
def test_state_round_trip_resumes_identically(optimizer):
    whole = drive(GradientDescent(optimizer, lr=0.05, steps=25, starts=3), rosen)
    gd = GradientDescent(optimizer, lr=0.05, steps=25, starts=3)
    first = drive(gd, rosen, max_batches=7)
    state = _plain.decode(_plain.encode(gd.get_state()))
    rest = drive(GradientDescent(optimizer, lr=0.05, steps=25, starts=3), rosen, state=state)
    assert first + rest == whole


def test_nan_gradient_ends_only_its_start():
    def f(p):
        s = rosen(p)
        if p["x"] > 1.0:  # the region of start 1 below
            s["grad__y"] = float("nan")
        return s
    gd = GradientDescent("adam", lr=0.01, steps=5, start=[{"x": 0.0, "y": 0.0}, {"x": 1.5, "y": 1.0}])
    seen = drive(gd, f)
    summ = gd.summary()
    assert summ[1]["status"] == "diverged" and summ[1]["evaluations"] == 1
    assert summ[0]["status"] == "max_steps" and summ[0]["evaluations"] == 5
    assert [len(b) for b in seen] == [2, 1, 1, 1, 1]


def test_start_points():
    space = ParameterSpace(bounds={"x": (0.0, 4.0), "y": (1e-3, 1e1, "log")})
    g = start_points(space, 4, "grid", 0)
    np.testing.assert_allclose(sorted(set(g[:, 0])), [1.0, 3.0])
    np.testing.assert_allclose(sorted(set(np.log10(g[:, 1]))), [-2.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"k\*\*2"):
        start_points(space, 5, "grid", 0)
    lhs = start_points(space, 8, "lhs", 1)
    # one point in each eighth of x and of log10(y)
    assert sorted(np.floor(lhs[:, 0] / 0.5).astype(int)) == list(range(8))
    assert sorted(np.floor((np.log10(lhs[:, 1]) + 3) / 0.5).astype(int)) == list(range(8))
    np.testing.assert_array_equal(lhs, start_points(space, 8, "lhs", 1))
    assert not np.array_equal(lhs, start_points(space, 8, "lhs", 2))


@pytest.mark.parametrize("space, kwargs, match", [
    (ParameterSpace(bounds={"x": (0.0, 1.0), "c": ["a", "b"]}), {}, "'c' is categorical"),
    (ParameterSpace(bounds={"x": (0.0, 1.0), "n": (1, 5, "int")}), {}, "'n' is an integer"),
    (ParameterSpace({"x": [0.0, 1.0]}), {}, "needs bounds for parameter 'x'"),
    (SPACE, {"lr": 0.0}, "lr: expected a positive"),
    (SPACE, {"lr": -1e-3}, "lr: expected a positive"),
    (SPACE, {"steps": 0}, "steps: expected an integer >= 1"),
    (SPACE, {"optimizer": "sgd"}, "optimizer"),
    (SPACE, {"start": [{"x": 5.0, "y": 0.0}]}, "outside its bounds"),
])
def test_bad_input_refused_before_anything_runs(tmp_path, space, kwargs, match):
    calls = []
    with pytest.raises(ValueError, match=match):
        Study(lambda p: calls.append(p) or rosen(p), space, GradientDescent(**kwargs),
              path=str(tmp_path / "bad.h5")).run(progress=False)
    assert not calls and not os.path.exists(tmp_path / "bad.h5")


def test_missing_gradient_is_an_error_before_anything_is_stored(tmp_path):
    with pytest.raises(ValueError, match=r"lacks \['grad__y'\]"):
        Study(lambda p: {"loss": p["x"] ** 2, "grad__x": 2 * p["x"]}, SPACE, GradientDescent(),
              path=str(tmp_path / "g.h5")).run(progress=False)
    assert not os.path.exists(tmp_path / "g.h5")


class Interrupt(Exception):
    pass


def _counting(limit_file):
    def evaluate(p):
        n = int(open(limit_file).read()) if os.path.exists(limit_file) else -1
        if n == 0:
            raise KeyboardInterrupt  # ends the study as a kill would, between stored batches
        if n > 0:
            open(limit_file, "w").write(str(n - 1))
        return rosen(p)
    return evaluate


@pytest.mark.parametrize("optimizer", ["adam", "lbfgsb"])
def test_study_stores_every_iterate_and_resumes_identically(tmp_path, optimizer):
    gd = dict(optimizer=optimizer, lr=0.05, steps=6, starts=2, start="lhs")
    whole = Study(rosen, SPACE, GradientDescent(**gd), path=str(tmp_path / "whole.h5"),
                  seed=11).run(progress=False)
    limit = str(tmp_path / "limit")
    open(limit, "w").write("7")  # 7 runs, then the 8th evaluation interrupts (mid-batch 3)
    path = str(tmp_path / "cut.h5")
    with pytest.raises(KeyboardInterrupt):
        Study(_counting(limit), SPACE, GradientDescent(**gd), path=path, seed=11).run(progress=False)
    assert 0 < len(load(path).df) < len(whole.df)
    os.remove(limit)
    again = Study(_counting(limit), SPACE, GradientDescent(**gd), path=path).run(progress=False)
    a, b = gradient_history(whole), gradient_history(again)
    cols = ["x", "y", "loss", "grad__x", "grad__y", "start", "step", "status"]
    assert a[cols].equals(b[cols])
    assert sorted(a.groupby("start").size().tolist()) == [6, 6] or optimizer == "lbfgsb"
    assert set(a["start"]) == {0, 1} and (a["step"] >= 0).all()
    np.testing.assert_allclose(a["grad_norm"], np.hypot(a["grad__x"], a["grad__y"]))


def test_study_with_136_per_node_parameters(tmp_path):
    names = [f"{p}__{i}" for p in ("a", "b") for i in range(68)]
    target = np.linspace(-0.5, 0.5, len(names))
    space = ParameterSpace(bounds={n: (-1.0, 1.0) for n in names})

    def quad(p):
        v = np.array([p[n] for n in names])
        out = {"loss": float(np.sum((v - target) ** 2))}
        out.update({grad_name(n): float(2 * (v[i] - target[i])) for i, n in enumerate(names)})
        return out

    res = Study(quad, space, GradientDescent("lbfgsb", steps=4, starts=2, start="random"),
                path=str(tmp_path / "many.h5"), seed=5).run(progress=False)
    h = gradient_history(res)
    assert 4 <= len(h) <= 8 and {grad_name(n) for n in names} <= set(h.columns)
    assert set(h["start"]) == {0, 1}
    # a separable quadratic: L-BFGS-B's first line search lands on the minimum
    assert h.loss.min() < 1e-12
    for _, row in h.iterrows():
        v = row[names].to_numpy(float)
        np.testing.assert_allclose(row[[grad_name(n) for n in names]].to_numpy(float), 2 * (v - target))


# -- plots of a finished study ---------------------------------------------------------------------

def test_plot_loss_and_landscape_show_the_stored_iterates(tmp_path):
    from brainsweep.explorer import plot_landscape, plot_loss

    calls = []

    def logged(p):
        out = rosen(p)
        if 1.5 < p["x"] < 1.6 and p["y"] > 2.55:  # start 2's second iterate (1.55, 2.6) diverges
            out["grad__x"] = float("nan")
        calls.append((p["x"], p["y"], out["loss"]))
        return out

    starts = [{"x": -1.5, "y": 2.0}, {"x": 0.5, "y": -0.5}, {"x": 1.65, "y": 2.5}]
    res = Study(logged, SPACE, GradientDescent("adam", lr=0.1, steps=5, start=starts),
                path=str(tmp_path / "p.h5"), seed=1).run(progress=False)
    res = load(str(tmp_path / "p.h5"))
    # batches hold the running starts in order: 3 runs, then starts 0 and 1 only (2 diverged)
    by_start = {0: [], 1: [], 2: []}
    order = [0, 1, 2] + [0, 1, 2] + [0, 1] * 3
    for s, c in zip(order, calls):
        by_start[s].append(c)
    assert len(calls) == len(order)
    ok = {s: v if s != 2 else v[:1] for s, v in by_start.items()}  # start 2's second run is not ok
    fig = plot_loss(res)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    for s in range(3):
        ln = lines[f"start {s}"]
        np.testing.assert_array_equal(ln.get_xdata(), np.arange(len(ok[s])))
        np.testing.assert_array_equal(ln.get_ydata(), [c[2] for c in ok[s]])
    crosses = [ln for ln in fig.axes[0].lines if ln.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_ydata()[0] == ok[2][-1][2]
    fig = plot_landscape(res, "x", "y")
    q = next(c for c in fig.axes[0].collections if type(c).__name__ == "Quiver")
    first = np.array([[c[0], c[1]] for c in (ok[s][0] for s in range(3))])
    last = np.array([[c[0], c[1]] for c in (ok[s][-1] for s in range(3))])
    np.testing.assert_array_equal(np.column_stack([q.X, q.Y]), first)
    np.testing.assert_array_equal(first, [[p["x"], p["y"]] for p in starts])
    np.testing.assert_allclose(np.column_stack([q.X + q.U, q.Y + q.V]), last, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(q.get_array(), [ok[s][-1][2] for s in range(3)])
    with pytest.raises(ValueError, match="both 'x'"):
        plot_landscape(res, "x", "x")
    with pytest.raises(KeyError, match="no column 'z'"):
        plot_landscape(res, "x", "z")


# -- per-node parameters (ParameterSpace(per_node=...)) of a model's gradient study -----------------

def _jr3():
    """A 3-node delayed Jansen-Rit network, 400 ms runs, and a spectral loss (target: hidden a, b)."""
    from brainsweep.evaluation.differentiable import spectral_correlation_loss, welch_with_vjp
    from brainsweep.models import JansenRitModel

    C = np.array([[0.0, 1.0, 0.5], [0.3, 0.0, 1.0], [1.0, 0.2, 0.0]])
    jr = JansenRitModel(Cmat=C, Dmat=10.0 * C)
    run = dict(duration=400.0, dt=0.1, sampling_dt=1.0, integrator="heun")
    hidden = jr.copy()
    hidden.params.update(a=0.08, b=0.05)
    _, S, _ = welch_with_vjp(hidden.run(seed=1, **run)["v_pyr"][:, 100:], 1000.0, 128)
    return jr, run, spectral_correlation_loss(S.mean(axis=0), 1000.0, 128, "v_pyr", transient=100)


def test_per_node_space_expands_to_one_dimension_per_node():
    from brainsweep.explorer.pernode import per_node_bounds
    from brainsweep.models import HopfModel

    jr, _, _ = _jr3()
    space = ParameterSpace(bounds={"a": (0.05, 0.12), "mu": (0.1, 0.3), "b": (0.03, 0.08, "log")},
                           fixed={"A": 3.25}, per_node=["a", "b"])
    assert space.per_node == ("a", "b") and space.names == ["a", "mu", "b"]
    bound = space.bind(jr)
    assert bound.per_node == () and len(bound) == 7
    assert bound.names == ["a__0", "a__1", "a__2", "mu", "b__0", "b__1", "b__2"]
    # the same space as written node by node (SBI's per_node_bounds)
    by_hand = ParameterSpace(bounds={**per_node_bounds("a", 0.05, 0.12, 3), "mu": (0.1, 0.3),
                                     **per_node_bounds("b", 0.03, 0.08, 3, "log")}, fixed={"A": 3.25})
    assert bound.to_json() == by_hand.to_json()
    # an unbound space records per_node (unambiguous), and reads back the same
    assert space.to_json()["per_node"] == ["a", "b"] and "per_node" not in bound.to_json()
    again = ParameterSpace.from_json(space.to_json())
    assert again.per_node == ("a", "b") and again.to_json() == space.to_json()
    assert space.for_nodes(2).names == ["a__0", "a__1", "mu", "b__0", "b__1"]
    plain = ParameterSpace(bounds={"a": (0.0, 1.0)})
    assert plain.bind(jr) is plain and plain.for_nodes(4) is plain
    with pytest.raises(ValueError, match="'coupling' takes a choice"):
        ParameterSpace(bounds={"coupling": (0.0, 1.0)}, per_node=["coupling"]).bind(HopfModel())


@pytest.mark.parametrize("kwargs, match", [
    (dict(bounds={"a": (0.0, 1.0)}, per_node=["b"]), "per_node: 'b' has no bounds"),
    (dict(grid={"b": [1.0, 2.0]}, bounds={"a": (0.0, 1.0)}, per_node=["b"]), "'b' is given as a grid"),
    (dict(bounds={"a": ["x", "y"]}, per_node=["a"]), "'a' has categories"),
    (dict(bounds={"a": (0.0, 1.0)}, per_node=["a", "a"]), "'a' named twice"),
    (dict(bounds={"a": (0.0, 1.0)}, per_node="a"), "expected a list of parameter names"),
])
def test_per_node_needs_bounded_parameters(kwargs, match):
    grid = kwargs.pop("grid", None)
    with pytest.raises(ValueError, match=match):
        ParameterSpace(grid, **kwargs)


def test_per_node_refused_without_a_model_or_for_a_shared_parameter(tmp_path):
    jr, run, obj = _jr3()
    with pytest.raises(ValueError, match="needs a brainsweep model .* function has no nodes"):
        Study(rosen, ParameterSpace(bounds={"x": (0.0, 1.0), "y": (0.0, 1.0)}, per_node=["x"]),
              GradientDescent(), path=str(tmp_path / "f.h5"))
    with pytest.raises(ValueError, match="'signalV' takes one value for all nodes"):
        Study(jr, ParameterSpace(bounds={"signalV": (1.0, 10.0)}, per_node=["signalV"]), GradientDescent(),
              objective=obj, run_kwargs=run, path=str(tmp_path / "m.h5"))
    with pytest.raises(ValueError, match="unknown parameter 'aa'.*did you mean 'a'"):
        Study(jr, ParameterSpace(bounds={"aa": (0.05, 0.1)}, per_node=["aa"]), GradientDescent(),
              objective=obj, run_kwargs=run, path=str(tmp_path / "m.h5"))
    assert not list(tmp_path.iterdir())


def test_alns_table_parameters_are_refused_by_a_gradient_study_before_anything_runs():
    from brainsweep.evaluation.differentiable import sum_of_squares
    from brainsweep.explorer.adjoint_eval import AdjointEvaluation
    from brainsweep.models import ALNModel
    space = ParameterSpace(bounds={"c_gl": (0.1, 0.5), "C": (150.0, 250.0)})
    with pytest.raises(ValueError, match="parameter 'C' of ALNModel sets ALN's transfer tables .*no derivative"):
        AdjointEvaluation(ALNModel(), sum_of_squares(np.zeros((1, 10)), "rates_exc"), space, dict(duration=10.0))


@pytest.mark.parametrize("name, match", [
    ("sigma_white", "sets the noise"), ("signalV", "sets delays"), ("coupling", "is a choice")])
def test_a_parameter_without_derivative_is_refused_before_anything_runs(tmp_path, name, match):
    from brainsweep.models import HopfModel
    C = np.ones((3, 3)) - np.eye(3)
    hopf = HopfModel(Cmat=C, Dmat=C)
    low_high = (0.0, 1.0) if name != "coupling" else ["additive", "diffusive"]
    space = ParameterSpace(bounds={"a": (-0.1, 0.1), name: low_high})
    gd = GradientDescent() if name != "coupling" else GradientDescent(start=[{"a": 0.0}])
    with pytest.raises(ValueError, match=match):
        from brainsweep.explorer.adjoint_eval import AdjointEvaluation
        from brainsweep.evaluation.differentiable import sum_of_squares
        AdjointEvaluation(hopf, sum_of_squares(np.zeros((3, 10)), "x"), space, dict(duration=10.0))
    if name != "coupling":  # a categorical dimension is refused by GradientDescent first
        with pytest.raises(ValueError, match=match):
            Study(hopf, space, gd, objective=lambda out: (0.0, {}), run_kwargs=dict(duration=10.0),
                  path=str(tmp_path / "h.h5"))
    assert not (tmp_path / "h.h5").exists()


def test_per_node_study_stores_the_expanded_space_and_resumes_from_either_form(tmp_path):
    from brainsweep.explorer.pernode import per_node_bounds

    jr, run, obj = _jr3()
    space = ParameterSpace(bounds={"a": (0.05, 0.12), "b": (0.03, 0.08)}, per_node=["a", "b"])
    gd = dict(optimizer="adam", lr=0.002, steps=3, starts=2, start="lhs")
    path = str(tmp_path / "pn.h5")
    study = Study(jr, space, GradientDescent(**gd), objective=obj, run_kwargs=run, path=path, seed=3)
    assert study.space.names == [f"{p}__{i}" for p in "ab" for i in range(3)]
    res = study.run(progress=False)
    assert res.space.names == study.space.names and res.space.per_node == ()
    h = gradient_history(res)
    assert len(h) == 6 and (h["status"] == "ok").all() and sorted(set(h["start"])) == [0, 1]
    # the stored loss is the objective of the engine's own run with those per-node values
    row = h.iloc[3]
    m = jr.copy()
    m.params.update(a=row[["a__0", "a__1", "a__2"]].to_numpy(float), b=row[["b__0", "b__1", "b__2"]].to_numpy(float))
    assert row["loss"] == pytest.approx(obj(m.run(seed=int(row["seed"]), **run))[0], rel=1e-12)
    # the same study written node by node is the same study: it resumes (nothing recomputed)
    by_hand = ParameterSpace(bounds={**per_node_bounds("a", 0.05, 0.12, 3), **per_node_bounds("b", 0.03, 0.08, 3)})
    again = Study(jr, by_hand, GradientDescent(**{**gd, "steps": 4}), objective=obj, run_kwargs=run, path=path)
    with pytest.raises(Exception, match="holds a different study .*strategy"):
        again.run(progress=False)  # steps differ: refused, not mixed
    same = Study(jr, by_hand, GradientDescent(**gd), objective=obj, run_kwargs=run, path=path).run(progress=False)
    pd_cols = list(study.space.names) + ["loss", "seed", "finished"]
    assert same.df[pd_cols].equals(res.df[pd_cols])


def test_grid_starts_of_a_per_node_space_give_every_node_of_a_parameter_one_value():
    space = ParameterSpace(bounds={"a": (0.0, 4.0), "b": (1e-3, 1e1, "log"), "c": (0.0, 1.0)},
                           per_node=["a", "b"]).for_nodes(5)
    g = start_points(space, 8, "grid", 0)           # 2 x 2 x 2 over (a, b, c), not k**11
    assert g.shape == (8, 11)
    a, b, c = g[:, :5], g[:, 5:10], g[:, 10]
    assert (a == a[:, :1]).all() and (b == b[:, :1]).all()
    flat = ParameterSpace(bounds={"a": (0.0, 4.0), "b": (1e-3, 1e1, "log"), "c": (0.0, 1.0)})
    np.testing.assert_array_equal(np.column_stack([a[:, 0], b[:, 0], c]), start_points(flat, 8, "grid", 0))
    with pytest.raises(ValueError, match=r"k\*\*3"):
        start_points(space, 9, "grid", 0)
    lhs = start_points(space, 8, "lhs", 0)          # other kinds: every dimension on its own
    assert len(set(lhs[:, 0])) == 8 and not np.allclose(lhs[:, 0], lhs[:, 1])


def test_an_objective_without_gradient_is_refused_or_named_in_the_failed_run(tmp_path):
    from brainsweep import evaluation as ev

    jr, run, _ = _jr3()
    space = ParameterSpace(bounds={"a": (0.05, 0.12)})
    with pytest.raises(ValueError, match="objective FitFC: has no gradient"):
        Study(jr, space, GradientDescent(), objective=ev.fit_fc(np.eye(3), key="v_pyr"), run_kwargs=run,
              path=str(tmp_path / "fc.h5"))
    assert not (tmp_path / "fc.h5").exists()
    # a callable returning scores instead of (loss, gradients): each run fails saying so, the study ends
    res = Study(jr, space, GradientDescent(starts=2), objective=lambda out: {"loss": 1.0}, run_kwargs=run,
                path=str(tmp_path / "dict.h5"), seed=1).run(progress=False)
    assert list(res.df["status"]) == ["failed", "failed"]
    assert res.df["message"].str.contains(r"returned dict, not \(loss, \{output: dloss/doutput\}\)").all()
    assert [s["status"] for s in res.strategy_state["starts"]] == ["failed", "failed"]


def test_per_node_space_with_another_strategy_runs_the_model_with_per_node_arrays(tmp_path):
    from brainsweep import evaluation as ev
    from brainsweep.explorer import CMAES

    jr, run, _ = _jr3()
    obj = ev.target_peak_frequency(10.0, (2.0, 30.0), key="v_pyr", transient_ms=100)
    space = ParameterSpace(bounds={"a": (0.05, 0.12), "b": (0.03, 0.08)}, per_node=["a", "b"])
    res = Study(jr, space, CMAES(popsize=4, generations=1, objective="peak_frequency_error", minimize=True),
                objective=obj, run_kwargs=run, path=str(tmp_path / "cma.h5"), seed=1).run(progress=False)
    assert res.space.names == [f"{p}__{i}" for p in "ab" for i in range(3)] and len(res.df) == 4
    for _, r in res.df.iterrows():  # each stored score is that of the model run with those per-node arrays
        m = jr.copy()
        m.params.update(a=r[["a__0", "a__1", "a__2"]].to_numpy(float), b=r[["b__0", "b__1", "b__2"]].to_numpy(float))
        out = m.run_batch([{}], seeds=[int(r["seed"])], **run)[0]
        assert obj(out)["peak_frequency_error"] == r["peak_frequency_error"]


def test_a_given_start_names_a_per_node_parameter_once_for_all_its_nodes():
    space = ParameterSpace(bounds={"a": (0.0, 1.0), "c": (0.0, 1.0)}, per_node=["a"]).for_nodes(3)
    gd = GradientDescent("adam", steps=1, start=[{"a": 0.25, "c": 0.5}, {"a__0": 0.1, "a__1": 0.2, "a__2": 0.3,
                                                                        "c": 0.9}])
    gd.start(space, 0)
    pts = gd.ask().points
    assert pts == [{"a__0": 0.25, "a__1": 0.25, "a__2": 0.25, "c": 0.5},
                   {"a__0": 0.1, "a__1": 0.2, "a__2": 0.3, "c": 0.9}]
    with pytest.raises(ValueError, match=r"start\[0\]: expected values for \['a', 'c'\], got \['a'\]"):
        GradientDescent(start=[{"a": 0.2}]).check(space)
    with pytest.raises(ValueError, match=r"start\[0\]\['a__0'\] = 2.0 is outside"):
        GradientDescent(start=[{"a": 2.0, "c": 0.1}]).check(space)
