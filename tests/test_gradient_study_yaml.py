"""YAML gradient studies of a model (``strategy: {gradient: ...}`` with a differentiable objective):
the same stored iterates as the same study built in Python, per-node spaces and per-region target
frequencies, and every mistake reported with its line before anything runs."""

import numpy as np
import pytest

from brainsweep.data import load_connectome
from brainsweep.evaluation.differentiable import (peak_frequency_loss, spectral_correlation_loss,
                                                  welch_with_vjp)
from brainsweep.explorer import GradientDescent, ParameterSpace, Study, gradient_history
from brainsweep.models import JansenRitModel
from brainsweep.studyfile import StudySpecError, load_study, parse_study

WEIGHTS = np.array([[0.0, 1.0, 0.5], [0.3, 0.0, 1.0], [1.0, 0.2, 0.0]])
CENTRES = {"l_cuneus": (0.0, -80.0, 0.0), "l_precentral": (0.0, 0.0, 50.0), "l_frontalpole": (0.0, 60.0, 0.0)}
RUN = dict(duration=400.0, dt=0.1, sampling_dt=1.0, integrator="heun", initial_state={"y1": 5.0, "y2": 5.0})

#: lines 3-5 of both studies: the model, its network and the runs
NETWORK = """\
model: {name: JansenRitModel, params: {mu: 0.22}}
connectome: {name: net3}
integration: {duration: 400, dt: 0.1, sampling_dt: 1, integrator: heun, initial_state: {y1: 5.0, y2: 5.0}}
"""

NOTEBOOK = "path: notebook.h5\nseed: 4\n" + NETWORK + """\
space: {bounds: {a: [0.05, 0.12], b: [0.03, 0.08]}}
strategy: {gradient: {optimizer: adam, lr: 0.005, steps: 3, starts: 4, start: grid}}
objectives:
  - spectrum_correlation: {target: {synthetic: {a: 0.08, b: 0.05}, seed: 1}, nperseg: 128, transient_ms: 100}
"""

PER_REGION = "path: regions.h5\nseed: 5\n" + NETWORK + """\
space:
  bounds: {a: [0.05, 0.12], b: [0.03, 0.08]}
  per_node: [a, b]
strategy: {gradient: {optimizer: adam, lr: 0.002, steps: 2, starts: 4, start: grid}}
objectives:
  - peak_frequency:
      f_hz: {gradient: {from: [cuneus], high: 11, low: 7}}
      band: [3, 20]
      nperseg: 150
      transient_ms: 100
"""


@pytest.fixture
def folder(tmp_path):
    """A study folder with a 3-region connectome ``net3`` (weights, tract lengths, centres)."""
    net = tmp_path / "net3"
    net.mkdir()
    np.savetxt(net / "weights.txt", WEIGHTS)
    np.savetxt(net / "tract_lengths.txt", 30.0 * WEIGHTS)
    (net / "centres.txt").write_text("".join(f"{k} {x} {y} {z}\n" for k, (x, y, z) in CENTRES.items()))
    return tmp_path


def _model(folder):
    sc = load_connectome(str(folder / "net3"))
    jr = JansenRitModel(Cmat=sc.Cmat, Dmat=sc.Dmat)
    jr.params["mu"] = 0.22
    return jr


COLS_FIXED = ["status", "seed", "loss"]


def _same_iterates(yaml_res, py_res, names):
    a, b = gradient_history(yaml_res), gradient_history(py_res)
    cols = list(names) + ["grad__" + n for n in names] + COLS_FIXED + ["start", "step"]
    assert len(a) == len(b) and a[cols].equals(b[cols]), (a[cols], b[cols])
    return a


def test_the_notebook_problem_from_yaml_stores_the_iterates_of_the_python_study(folder):
    (folder / "notebook.yaml").write_text(NOTEBOOK)
    res = load_study(folder / "notebook.yaml").run(progress=False)
    # the same study in Python: target = node-mean Welch PSD of a run with the hidden a, b
    jr = _model(folder)
    hidden = jr.run_batch([{"a": 0.08, "b": 0.05}], seeds=[1], **RUN)[0]
    f, S, _ = welch_with_vjp(hidden["v_pyr"][:, 100:], 1000.0, 128)
    obj = spectral_correlation_loss(S.mean(axis=0), 1000.0, 128, "v_pyr", transient=100)
    space = ParameterSpace(bounds={"a": (0.05, 0.12), "b": (0.03, 0.08)})
    py = Study(jr, space, GradientDescent("adam", lr=0.005, steps=3, starts=4, start="grid"), objective=obj,
               run_kwargs=RUN, path=str(folder / "py.h5"), seed=4).run(progress=False)
    h = _same_iterates(res, py, ["a", "b"])
    assert len(h) == 12 and (h["status"] == "ok").all() and sorted(set(h["start"])) == [0, 1, 2, 3]
    # a 2 x 2 grid of starts: cell centres
    first = h[h["step"] == 0].sort_values("start")
    np.testing.assert_allclose(first[["a", "b"]].to_numpy(),
                               [[0.0675, 0.0425], [0.0675, 0.0675], [0.1025, 0.0425], [0.1025, 0.0675]])
    # the stored loss is the objective of the engine's own run at that point
    row = h.iloc[5]
    out = jr.run_batch([{"a": row["a"], "b": row["b"]}], seeds=[int(row["seed"])], **RUN)[0]
    assert row["loss"] == pytest.approx(obj(out)[0], rel=1e-12)
    assert "notebook.yaml" in res.attachments


def test_per_region_frequencies_with_per_node_parameters_from_yaml_equal_python(folder):
    (folder / "regions.yaml").write_text(PER_REGION)
    study = load_study(folder / "regions.yaml")
    assert study.space.names == ["a__0", "a__1", "a__2", "b__0", "b__1", "b__2"]
    res = study.run(progress=False)
    # target: 11 Hz at the cuneus, 7 Hz at the region farthest from it, linear in distance
    c = np.array(list(CENTRES.values()))
    d = np.linalg.norm(c - c[0], axis=1)
    target = 11.0 - 4.0 * d / d.max()
    jr = _model(folder)
    obj = peak_frequency_loss(target, 1000.0, 150, "v_pyr", band=(3.0, 20.0), width=1.0, transient=100)
    space = ParameterSpace(bounds={"a": (0.05, 0.12), "b": (0.03, 0.08)}, per_node=["a", "b"])
    py = Study(jr, space, GradientDescent("adam", lr=0.002, steps=2, starts=4, start="grid"), objective=obj,
               run_kwargs=RUN, path=str(folder / "py.h5"), seed=5).run(progress=False)
    h = _same_iterates(res, py, study.space.names)
    assert len(h) == 8 and (h["status"] == "ok").all()
    # grid starts: every region of a start begins at the same (a, b)
    first = h[h["step"] == 0]
    assert (first[["a__0", "a__1", "a__2"]].nunique(axis=1) == 1).all()
    assert sorted(set(first["a__0"])) == pytest.approx([0.0675, 0.1025])


def test_a_target_spectrum_file_gives_the_loss_of_the_synthetic_target(folder):
    jr = _model(folder)
    hidden = jr.run_batch([{"a": 0.08, "b": 0.05}], seeds=[1], **RUN)[0]
    f, S, _ = welch_with_vjp(hidden["v_pyr"][:, 100:], 1000.0, 128)
    np.savetxt(folder / "target.txt", np.column_stack([f, S.mean(axis=0)]))
    text = NOTEBOOK.replace("{synthetic: {a: 0.08, b: 0.05}, seed: 1}", "target.txt")
    (folder / "file.yaml").write_text(text)
    (folder / "notebook.yaml").write_text(NOTEBOOK)
    from_file, synthetic = (load_study(folder / n).evaluator for n in ("file.yaml", "notebook.yaml"))
    point = {"a": 0.07, "b": 0.06}
    assert from_file._evaluate(point, 9)["loss"] == pytest.approx(synthetic._evaluate(point, 9)["loss"], rel=1e-9)


BAD = """\
model: {name: HopfModel}
connectome: {name: net3}
integration: {duration: 400, dt: 0.1, stimulus: {x: {type: StepStimulus, amplitude: 1}}}
outputs: [x]
space:
  bounds: {a: [-0.1, 0.1], sigma_white: [0.0, 0.1], signalV: [1, 10], coupling: [additive, diffusive]}
  grid: {K_gl: [0.1, 0.2]}
strategy: {gradient: {optimizer: adam, lr: 0.0, steps: 2}}
objectives:
  - fcd: {target: x.csv}
"""


def test_every_mistake_of_a_gradient_study_is_reported_with_its_line(folder):
    with pytest.raises(StudySpecError) as err:
        parse_study(BAD, "bad.yaml", folder)
    assert err.value.problems == [
        "line 3: integration.stimulus: not for a gradient study (the adjoint integrates runs without stimulus)",
        "line 4: outputs: a gradient study stores the loss and its gradient, no outputs",
        "line 6: space: parameter 'sigma_white' of HopfModel sets the noise, which a gradient holds fixed "
        "(the realisation of the run's seed); it has no derivative",
        "line 6: space: parameter 'signalV' of HopfModel sets delays rounded to whole steps; it has no derivative",
        "line 6: space.bounds.coupling: categories have no gradient; a gradient study needs real-valued bounds",
        "line 7: space.grid.K_gl: a gradient study needs bounds [low, high] for every explored parameter, not a "
        "list of values",
        "line 8: strategy.gradient: lr: expected a positive finite number, got 0.0",
        "line 10: objectives.fcd: has no gradient; a gradient study takes one of spectrum_correlation, "
        "log_spectral, peak_frequency, spectral_centroid, fc, dipole",
    ]


@pytest.mark.parametrize("change, problem", [
    (("per_node: [a, b]", "per_node: [a, mu]"),
     "line 8: space.per_node: 'mu' has no bounds; give bounds={'mu': (low, high)} (bounds: ['a', 'b'])"),
    (("from: [cuneus]", "from: [occipital]"),
     "line 12: f_hz.gradient: no region of the connectome is named ['occipital'] (labels such as "
     "['l_cuneus', 'l_precentral', 'l_frontalpole'])"),
    (("nperseg: 150", "nperseg: 400"),
     "line 14: objectives.peak_frequency: nperseg 400 must be between 2 and the 300 samples after the transient "
     "(400 samples of 1 ms)"),
    (("f_hz: {gradient: {from: [cuneus], high: 11, low: 7}}", "f_hz: [9, 10]"),
     "line 12: f_hz: 2 frequencies for 3 regions (nodes)"),
    (("  - peak_frequency:", "  - peak_frequency:\n      key: v_pyramid"),
     "line 12: objectives.peak_frequency: the model has no output 'v_pyramid' (outputs: t, y0, y1, y2, y3, "
     "y4, y5, v_pyr)"),
    (("initial_state: {y1: 5.0", "initial_state: {y9: 5.0"),
     "line 5: integration.initial_state: the model has no state variable 'y9' "
     "(states: y0, y1, y2, y3, y4, y5)"),
])
def test_per_region_study_mistakes(folder, change, problem):
    with pytest.raises(StudySpecError) as err:
        parse_study(PER_REGION.replace(*change), "r.yaml", folder)
    assert problem in err.value.problems, err.value.problems


def test_a_per_node_space_with_cmaes_from_yaml_runs_per_node_arrays(folder):
    text = ("path: cma.h5\nseed: 3\n" + NETWORK +
            "space: {bounds: {a: [0.05, 0.12]}, per_node: [a]}\n"
            "strategy: {cmaes: {popsize: 4, generations: 1}}\n"
            "objectives:\n  - peak_frequency: {f_hz: 10, band: [2, 30], transient_ms: 100}\n")
    (folder / "cma.yaml").write_text(text)
    study = load_study(folder / "cma.yaml")
    assert type(study.evaluator).__name__ == "PerNodeEvaluation"
    res = study.run(progress=False)
    assert res.space.names == ["a__0", "a__1", "a__2"] and len(res.df) == 4 and (res.df["status"] == "ok").all()
    r = res.df.iloc[2]
    jr = _model(folder)
    jr.params["a"] = r[["a__0", "a__1", "a__2"]].to_numpy(float)
    from brainsweep import evaluation as ev
    out = jr.run_batch([{}], seeds=[int(r["seed"])], **RUN)[0]
    obj = ev.target_peak_frequency(10.0, (2.0, 30.0), key="v_pyr", transient_ms=100.0)
    assert obj(out)["peak_frequency_error"] == r["peak_frequency_error"]


def test_a_loss_only_objective_is_the_loss_of_another_strategy(folder):
    """spectrum_correlation with CMA-ES: each run stores the loss of the engine's run (score
    ``loss``, minimised), the very loss a gradient study of the same YAML descends."""
    text = NOTEBOOK.replace("strategy: {gradient: {optimizer: adam, lr: 0.005, steps: 3, starts: 4, start: grid}}",
                            "strategy: {cmaes: {popsize: 4, generations: 1}}").replace("notebook.h5", "cma.h5")
    (folder / "cma.yaml").write_text(text)
    study = load_study(folder / "cma.yaml")
    assert study.strategy.config()["objectives"] == ["loss"] and study.strategy.config()["weights"] == [-1.0]
    res = study.run(progress=False)
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    jr = _model(folder)
    hidden = jr.run_batch([{"a": 0.08, "b": 0.05}], seeds=[1], **RUN)[0]
    _, S, _ = welch_with_vjp(hidden["v_pyr"][:, 100:], 1000.0, 128)
    obj = spectral_correlation_loss(S.mean(axis=0), 1000.0, 128, "v_pyr", transient=100)
    r = res.df.iloc[1]
    out = jr.run_batch([{"a": r["a"], "b": r["b"]}], seeds=[int(r["seed"])], **RUN)[0]
    assert r["loss"] == pytest.approx(obj(out)[0], rel=1e-12)
