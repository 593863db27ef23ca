"""Plots follow each score's direction (issue 14, item 4): a maximised objective is plotted as
"max so far" / "maximised" and follows the highest value, from the Python API and the CLI;
axes carry units; plot options that cannot make sense are refused."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from brainsweep.cli import main
from brainsweep.explorer import BayesOpt, Evolution, GridSearch, ParameterSpace, Study, load
from brainsweep.explorer.plots import axis_label, grid_heatmap, parameter_units, sweep_line
from brainsweep.explorer.plots_optim import plot_convergence, plot_fitness, score_weight


def peak(params):
    """Highest (0) at x = 0.3: a score to maximise."""
    return {"score": -(params["x"] - 0.3) ** 2}


SPACE = ParameterSpace(bounds={"x": (0.0, 1.0)})


def _best_line(fig):
    return [ln for ln in fig.axes[0].get_lines() if ln.get_label() in ("best so far",)][0].get_ydata()


def test_score_weight_reads_the_strategy_then_the_score_declaration():
    # objectives=None: the strategy adopted the only score; its single weight is that score's
    assert score_weight({"objectives": None, "weights": [1.0]}, ["score"]) == ("score", 1.0)
    assert score_weight({"objectives": None, "weights": [-1.0]}, ["score"]) == ("score", -1.0)
    assert score_weight({"objectives": ["a", "b"], "weights": [-1.0, 2.0]}, ["a", "b"], "b") == ("b", 2.0)
    # no strategy weight: the score's declared direction (also with a prefix), else minimised
    assert score_weight({"name": "grid"}, ["fc_fit", "fcd_ks"], "fc_fit") == ("fc_fit", 1.0)
    assert score_weight({"name": "grid"}, ["bold_fc_fit"], None) == ("bold_fc_fit", 1.0)
    assert score_weight({"name": "grid"}, ["fc_fit", "fcd_ks"], "fcd_ks") == ("fcd_ks", -1.0)
    assert score_weight({"name": "grid"}, ["loss"], None) == ("loss", -1.0)
    with pytest.raises(ValueError, match="name the objective"):
        score_weight({"name": "grid"}, ["a", "b"])


def test_convergence_of_a_maximised_objective_follows_the_highest_value():
    df = pd.DataFrame({"score": [0.1, 0.5, 0.2, 0.7, 0.3], "status": ["ok"] * 5})
    fig = plot_convergence(df, "score", minimize=False)
    np.testing.assert_array_equal(_best_line(fig), [0.1, 0.5, 0.5, 0.7, 0.7])
    assert fig.axes[0].get_ylabel() == "score, max so far"
    fig = plot_convergence(df, "score", minimize=True)
    np.testing.assert_array_equal(_best_line(fig), [0.1, 0.1, 0.1, 0.1, 0.1])
    assert fig.axes[0].get_ylabel() == "score, min so far"


def test_readme_bayes_and_evolution_maximising_studies_plot_as_maximised(tmp_path):
    """BayesOpt(minimize=False) and Evolution(weights=(1.0,)) without objectives=[...] (the
    README's calls): before, both were labelled minimised and followed the lowest value."""
    Study(peak, SPACE, BayesOpt(n_calls=6, n_initial=3, batch=3, minimize=False), path=tmp_path / "bo.h5",
          seed=1).run(progress=False)
    res = load(tmp_path / "bo.h5")
    fig = res.plot_convergence()
    assert fig.axes[0].get_ylabel() == "score, max so far"
    np.testing.assert_array_equal(_best_line(fig), np.maximum.accumulate(res.df["score"].to_numpy()))
    Study(peak, SPACE, Evolution(weights=(1.0,), pop_init=6, pop=4, generations=3), path=tmp_path / "evo.h5",
          seed=2).run(progress=False)
    res = load(tmp_path / "evo.h5")
    fig = res.plot_fitness()
    assert fig.axes[0].get_ylabel() == "score, maximised"
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].get_lines()}
    per_gen = res.df.groupby("generation")["score"].max().to_numpy()
    np.testing.assert_array_equal(lines["best of generation"], per_gen)
    np.testing.assert_array_equal(lines["best so far"], np.maximum.accumulate(per_gen))
    assert res.generation_stats()["best"].tolist() == per_gen.tolist()


@pytest.fixture
def saved_figures(monkeypatch):
    """Figures the CLI saves, kept for inspection."""
    figs = []
    original = Figure.savefig

    def keep(self, *args, **kw):
        figs.append(self)
        return original(self, *args, **kw)
    monkeypatch.setattr(Figure, "savefig", keep)
    return figs


def test_cli_convergence_and_fitness_follow_the_direction(tmp_path, monkeypatch, saved_figures):
    monkeypatch.chdir(tmp_path)
    Study(peak, SPACE, BayesOpt(n_calls=6, n_initial=3, batch=3, minimize=False), path="bo.h5",
          seed=3).run(progress=False)
    Study(peak, SPACE, Evolution(weights=(1.0,), pop_init=6, pop=4, generations=2), path="evo.h5",
          seed=4).run(progress=False)
    assert main(["plot", "bo.h5", "--kind", "convergence", "-o", "c.png"]) == 0
    scores = load("bo.h5").df["score"].to_numpy()
    assert saved_figures[-1].axes[0].get_ylabel() == "score, max so far"
    np.testing.assert_array_equal(_best_line(saved_figures[-1]), np.maximum.accumulate(scores))
    assert main(["plot", "evo.h5", "--kind", "fitness", "-o", "f.png"]) == 0
    assert saved_figures[-1].axes[0].get_ylabel() == "score, maximised"


def test_cli_refuses_plots_that_cannot_make_sense(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    grid = ParameterSpace({"x": [0.0, 0.5, 1.0], "y": [1.0, 2.0]})
    Study(lambda p: {"score": p["x"] * p["y"]}, grid, GridSearch(), path="grid.h5").run(progress=False)
    cases = [
        (["--x", "x", "--y", "y", "--z", "score", "--fixed", "y=2.0"], "--fixed y: that parameter is on an axis"),
        (["--kind", "fitness"], "plot --kind fitness: this is a grid study without generations (use --kind grid"),
        (["--kind", "population", "--x", "x", "--y", "y"], "plot --kind population: this is a grid study"),
        (["--x", "x", "--y", "x", "--z", "score"], "--x and --y are both 'x'"),
        (["--kind", "sweep", "--x", "x", "--z", "score", "--generation", "2"],
         "plot --kind sweep does not use --generation"),
        (["--kind", "convergence", "--x", "x"], "plot --kind convergence does not use --x"),
        (["--x", "x", "--y", "y", "--z", "scor"], "--z scor: not a score of the study (score, runtime)"),
        (["--x", "x", "--y", "q", "--z", "score"], "--y q: not an explored parameter (x, y)"),
    ]
    for args, message in cases:
        assert main(["plot", "grid.h5", *args, "-o", "p.png"]) == 1, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "p.png").exists()
    assert main(["plot", "grid.h5", "--kind", "sweep", "--x", "x", "--z", "score", "--fixed", "y=2",
                 "-o", "s.png"]) == 0
    with pytest.raises(ValueError, match="y cannot be held fixed and plotted"):
        grid_heatmap(load("grid.h5").df, "x", "y", "score", fixed={"y": 2.0}, params=["x", "y"])


def test_axes_carry_units():
    units = parameter_units("brainsweep.models.hopf.HopfModel[brainsweep.evaluation.objectives.FitFC]#0123")
    assert units["a"] == "1/ms" and units["signalV"] == "m/s" and units["K_gl"] == "1"
    assert axis_label("a", units) == "a (1/ms)" and axis_label("K_gl", units) == "K_gl"
    assert axis_label("peak_frequency_error") == "peak_frequency_error (Hz)"
    assert axis_label("bold_fc_fit") == "bold_fc_fit (correlation)"
    # only brainsweep's own model modules are looked up; a name from a file imports nothing else
    assert parameter_units("os.system[x]#0") == {} and parameter_units("__main__.f") == {}
    df = pd.DataFrame({"a": [-0.1, -0.1, 0.0, 0.0], "K_gl": [0.0, 1.0, 0.0, 1.0],
                       "peak_frequency": [1.0, 2.0, 3.0, 4.0], "status": ["ok"] * 4})
    ax = grid_heatmap(df, "K_gl", "a", "peak_frequency", params=["a", "K_gl"], units=units).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("K_gl", "a (1/ms)")
    assert sweep_line(df, "a", "peak_frequency", params=["a", "K_gl"], units=units).axes[0].get_ylabel() == \
        "peak_frequency (Hz), mean over K_gl"
    with pytest.raises(ValueError, match="needs an optimisation study"):
        plot_fitness(df, "peak_frequency")


def _peak_x(out):
    return {"x_max": float(out["x"].max())}


def test_plots_of_a_model_study_label_parameters_with_their_units(tmp_path, monkeypatch, saved_figures):
    from brainsweep.models import HopfModel
    monkeypatch.chdir(tmp_path)
    space = ParameterSpace({"a": [-0.1, 0.1], "w": [0.2, 0.4]})
    Study(HopfModel(), space, GridSearch(), path="m.h5", objective=_peak_x,
          run_kwargs=dict(duration=20.0)).run(progress=False)
    res = load("m.h5")
    ax = res.plot_grid("w", "a", "x_max").axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("w (rad/ms)", "a (1/ms)")
    assert res.plot_sweep("a", "x_max").axes[0].get_xlabel() == "a (1/ms)"
    assert main(["plot", "m.h5", "--x", "a", "--y", "w", "--z", "x_max", "-o", "m.png"]) == 0
    assert saved_figures[-1].axes[0].get_ylabel() == "w (rad/ms)"
