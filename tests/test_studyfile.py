"""YAML study files: validation with line numbers, and a study built from a file computes what the
file says (synthetic FC target, grid, seed), checked against a direct model run."""

import textwrap

import numpy as np
import pytest

from brainsweep import evaluation as ev
from brainsweep.explorer import GridSearch, load
from brainsweep.studyfile import StudySpecError, load_study, parse_study


def _connectome(folder, n=4, seed=0):
    """A small symmetric connectome folder (weights.txt, tract_lengths.txt in mm)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 1.0, (n, n))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 0.0)
    d = rng.uniform(20.0, 80.0, (n, n))
    d = (d + d.T) / 2
    folder.mkdir()
    np.savetxt(folder / "weights.txt", w)
    np.savetxt(folder / "tract_lengths.txt", d)
    return w, d


GOOD = """\
path: small.h5
model:
  name: HopfModel
  params: {a: -0.05, w: 0.05, sigma_ou: 0.05, signalV: 100.0}
connectome: {name: sc}
integration: {duration: 1500, sampling_dt: 5, seed: 11}
outputs: [x]
space:
  grid:
    K_gl: {start: 0.0, stop: 1.0, num: 3}
objectives:
  - fc: {target: {synthetic: {K_gl: 0.5}, seed: 3}, key: x, transient_ms: 300}
"""


def test_every_mistake_is_reported_with_its_line(tmp_path):
    text = textwrap.dedent("""\
        path: bad.h5
        model:
          name: HopfModel
          params: {sigma_ou: -1, K_gll: 0.3}
        connectome: {name: tvb68, normalise: max}
        integration: {duration: -5, tr: 500}
        outputs: [BOLD, xx]
        space:
          grid:
            K_gl: [0.1, 0.2]
            sigmaou: [0.01]
          bounds: {a: [0.5, 0.1]}
        strategy: grd
        objectives:
          - fc: {target: missing.csv}
          - peak_freq: {f_hz: 10}
        """)
    with pytest.raises(StudySpecError) as info:
        parse_study(text, "bad.yaml", base_dir=tmp_path)
    problems = info.value.problems
    expected = [
        ("line 4:", "sigma_ou"), ("line 4:", "'K_gll'; did you mean 'K_gl'"),
        ("line 5:", "unknown key 'normalise'; did you mean 'normalize'"),
        ("line 6:", "duration: expected a positive number"), ("line 6:", "tr: the BOLD sampling period needs bold"),
        ("line 7:", "no output 'BOLD'"), ("line 7:", "no output 'xx'"),
        ("line 11:", "no parameter 'sigmaou'; did you mean 'sigma_ou'"),
        ("line 12:", "low bound 0.5 must be smaller than high bound 0.1"),
        ("line 13:", "unknown strategy 'grd'; did you mean 'grid'"),
        ("line 15:", "no such file"),
        ("line 16:", "unknown key 'peak_freq'; did you mean 'peak_frequency'"),
    ]
    for line, fragment in expected:
        assert any(p.startswith(line) and fragment in p for p in problems), (line, fragment, problems)
    assert len(problems) == len(expected), problems
    assert str(info.value).startswith(f"bad.yaml: {len(expected)} problems:")


def test_yaml_syntax_error_has_a_line(tmp_path):
    with pytest.raises(StudySpecError, match=r"line 4: not valid YAML \(expected ',' or '\]'.*line 3\)"):
        parse_study("model: HopfModel\nspace:\n  grid: [1, 2\n", "x.yaml", tmp_path)


def test_fc_objective_needs_a_network(tmp_path):
    text = "model: HopfModel\nspace: {grid: {K_gl: [0.1]}}\nobjectives:\n  - fc: {target: {synthetic: {K_gl: 0.2}}}\n"
    with pytest.raises(StudySpecError, match=r"line 4: objectives.fc: FC needs a network of at least 3 nodes"):
        parse_study(text, "x.yaml", tmp_path)


def test_default_strategy_directions_and_models(tmp_path):
    _connectome(tmp_path / "sc")
    plan = parse_study(GOOD, "good.yaml", tmp_path)
    assert isinstance(plan["strategy"], GridSearch)
    assert plan["space"]["K_gl"].values == (0.0, 0.5, 1.0)
    assert plan["objectives"][0]["score"] == "fc_fit" and plan["objectives"][0]["weight"] == 1.0
    assert plan["model"].network.n_nodes == 4 and plan["model"].params["a"] == -0.05
    assert plan["seed"] == 11 and plan["path"] == str(tmp_path / "small.h5")
    evo = GOOD.replace("space:\n  grid:\n    K_gl: {start: 0.0, stop: 1.0, num: 3}",
                       "space: {bounds: {K_gl: [0.0, 1.0]}}\nstrategy: {evolution: {pop_init: 4, pop: 4, generations: 1}}")
    strategy = parse_study(evo, "evo.yaml", tmp_path)["strategy"]
    assert strategy.config()["objectives"] == ["fc_fit"] and list(strategy.config()["weights"]) == [1.0]
    bo = evo.replace("{evolution: {pop_init: 4, pop: 4, generations: 1}}", "{bayes: {n_calls: 4, n_initial: 2}}")
    strategy = parse_study(bo, "bo.yaml", tmp_path)["strategy"]
    assert strategy.config()["objectives"] == ["fc_fit"] and strategy.config()["weights"] == [1.0]


def test_study_from_yaml_matches_a_direct_run(tmp_path):
    """The stored fc_fit of every run equals the FC correlation computed here from the stored
    activity and an independent run of the model with the hidden parameters."""
    w, d = _connectome(tmp_path / "sc")
    (tmp_path / "good.yaml").write_text(GOOD)
    study = load_study(tmp_path / "good.yaml")
    res = study.run(progress=False)
    assert list(res.df["status"]) == ["ok"] * 3 and res.seed == 11
    assert res.attachments["good.yaml"] == GOOD.encode()
    assert res.attachments["sc/weights.txt"] == (tmp_path / "sc" / "weights.txt").read_bytes()
    assert set(res.attachments) == {"good.yaml", "sc/weights.txt", "sc/tract_lengths.txt"}

    from brainsweep.models import HopfModel
    m = HopfModel(Cmat=w, Dmat=d)
    m.params.update(a=-0.05, w=0.05, sigma_ou=0.05, signalV=100.0, K_gl=0.5)
    target = m.run(duration=1500, sampling_dt=5, seed=3)
    fc_target = ev.fc(target["x"][:, target["t"] >= 300])
    t = target["t"]
    for idx, row in res.df.iterrows():
        x = res.run(idx)["x"]
        assert x.shape == (4, 300)
        expected = ev.matrix_correlation(ev.fc(x[:, t >= 300]), fc_target)
        assert row["fc_fit"] == pytest.approx(expected, abs=1e-12)
    # run 2 (K_gl = 1.0) is a plain model run with the seed the study stored for it
    m.params["K_gl"] = 1.0
    direct = m.run(duration=1500, sampling_dt=5, seed=int(res.df.loc[2, "seed"]))
    np.testing.assert_array_equal(direct["x"], res.run(2)["x"])


def test_file_targets_are_attached(tmp_path):
    _connectome(tmp_path / "sc")
    fc = np.eye(4) * 0.5 + 0.5
    np.savetxt(tmp_path / "fc_emp.csv", fc, delimiter=",")
    text = GOOD.replace("{synthetic: {K_gl: 0.5}, seed: 3}", "fc_emp.csv")
    (tmp_path / "s.yaml").write_text(text)
    study = load_study(tmp_path / "s.yaml")
    np.testing.assert_allclose(study.evaluator.objective.fc_emp[0], fc)
    assert set(study.attachments) == {"s.yaml", "fc_emp.csv", "sc/weights.txt", "sc/tract_lengths.txt"}
    # a file outside the study's folder cannot be unpacked next to it: listed, not attached
    sub = tmp_path / "studies"
    sub.mkdir()
    (sub / "s.yaml").write_text(text.replace("fc_emp.csv", "../fc_emp.csv").replace("name: sc", "name: ../sc"))
    study = load_study(sub / "s.yaml")
    assert set(study.attachments) == {"s.yaml", "NOT_ATTACHED.txt"}
    assert "../fc_emp.csv" in study.attachments["NOT_ATTACHED.txt"] and "../sc" in study.attachments["NOT_ATTACHED.txt"]


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such study file"):
        load_study(tmp_path / "nope.yaml")


JR = """\
model:
  name: jr
  params: {a: 0.1, b: 0.05, mu: 0.05}
integration:
  duration: 1400
  sampling_dt: 1
  seed: 2
  stimulus: {p: {type: PulseTrain, amplitude: 0.3, period: 1e9, width: 10, onset: 1100, n_pulses: 1}}
outputs: [v_pyr]
space:
  grid: {A: [3.25, 4.0]}
objectives:
  - dipole: {target: {synthetic: {A: 3.25}, seed: 9}, tstart: 1000, keep: true}
  - peak_frequency: {f_hz: 10, band: [1, 40], transient_ms: 1000}
"""


def test_stimulus_dipole_and_peak_frequency_objectives(tmp_path):
    """A Jansen-Rit column at rest, one input pulse: the run with the hidden gain A reproduces the
    synthetic target dipole (whatever its random initial state, the rest state is reached before
    the pulse), the other does not; the dipole is y1 - y2 of the stored run."""
    (tmp_path / "jr.yaml").write_text(JR)
    res = load_study(tmp_path / "jr.yaml").run(progress=False)
    df = res.df
    assert (df["status"] == "ok").all() and res.seed == 2
    assert df.loc[0, "dipole_rmse"] < 1e-6 < 0.1 < df.loc[1, "dipole_rmse"]
    run = res.run(1)
    t = np.arange(1, 1401) * 1.0
    np.testing.assert_allclose(run["dipole"], run["v_pyr"][0][t >= 1000], rtol=0, atol=1e-12)
    assert df["peak_frequency_error"].notna().all()


def test_bad_objective_option_is_reported_with_its_line(tmp_path):
    (tmp_path / "jr.yaml").write_text(JR.replace("{f_hz: 10, band: [1, 40]", "{f_hz: 10, band: [40, 1]"))
    with pytest.raises(StudySpecError, match=r"line 14: objectives.peak_frequency: band: expected 0 <= low < high"):
        load_study(tmp_path / "jr.yaml")


def test_timing_that_the_engine_would_refuse_is_reported_before_anything_runs(tmp_path):
    """Durations and sampling steps that are not whole numbers of steps, dt <= 0 and an FC target
    of the wrong size: each with its line, before any simulation (issue 14, item 7)."""
    _connectome(tmp_path / "sc")
    np.savetxt(tmp_path / "fc3.csv", np.eye(3), delimiter=",")
    text = GOOD.replace("integration: {duration: 1500, sampling_dt: 5, seed: 11}",
                        "integration:\n  duration: 2000.05\n  sampling_dt: 0.25\n  bold: true\n  tr: 0.35\n  seed: 11")
    text = text.replace("{synthetic: {K_gl: 0.5}, seed: 3}", "fc3.csv")
    with pytest.raises(StudySpecError) as info:
        parse_study(text, "t.yaml", tmp_path)
    problems = info.value.problems
    expected = [("line 7:", "integration.duration: 2000.05 ms is not a whole number of steps of dt = 0.1 ms "
                            "(nearest: 2000, 2000.1)"),
                ("line 8:", "integration.sampling_dt: 0.25 ms is not a whole number of steps of dt = 0.1 ms"),
                ("line 10:", "integration.tr: 0.35 ms is not a whole number of steps"),
                ("line 17:", "objectives.fc.target: fc3.csv is a 3 x 3 matrix, but the model has 4 nodes")]
    for line, fragment in expected:
        assert any(p.startswith(line) and fragment in p for p in problems), (line, fragment, problems)
    assert len(problems) == len(expected), problems
    for dt, shown in (("0", "0"), ("-0.1", "-0.1")):
        bad = GOOD.replace("integration: {duration: 1500,", f"integration: {{dt: {dt}, duration: 1500,")
        with pytest.raises(StudySpecError, match=rf"line 6: integration.dt: expected a positive number, got {shown}"):
            parse_study(bad, "t.yaml", tmp_path)
    long = GOOD.replace("sampling_dt: 5,", "sampling_dt: 2000,")
    with pytest.raises(StudySpecError, match=r"sampling_dt: 2000 ms is longer than the duration \(1500 ms\)"):
        parse_study(long, "t.yaml", tmp_path)


def test_timing_problems_for_run_kwargs_given_in_python():
    from brainsweep.models.engine import timing_problems
    assert timing_problems({"duration": 1000.0, "sampling_dt": 1.0, "tr": 500.0, "bold_dt": 1.0}) == []
    assert timing_problems({"dt": 0.0, "duration": 10.0}) == [("dt", "expected a positive number of ms, got 0.0")]
    assert [k for k, _ in timing_problems({"dt": 0.05, "duration": 100.02, "sampling_dt": 0.125})] == \
        ["duration", "sampling_dt"]
    assert timing_problems({"tr": 500.0, "bold_dt": 3.0}, 0.5) == [("tr", "500 ms is not a multiple of bold_dt = 3 ms")]


def test_yaml_python_tags_and_anchor_bombs_are_refused_in_one_short_message(tmp_path):
    import time
    cases = {
        "model: !!python/name:os.system hopf\nspace: {grid: {K_gl: [0.1]}}\n":
            "line 1: the YAML tag '!!python/name:os.system' is not allowed",
        "model: hopf\nspace: !!python/object/apply:os.system [echo hi]\n":
            "line 2: the YAML tag '!!python/object/apply:os.system' is not allowed",
        "model: !custom hopf\nspace: {grid: {K_gl: [0.1]}}\n": "line 1: the YAML tag '!custom' is not allowed",
        "model: hopf\nname: !!int abc\nspace: {grid: {K_gl: [0.1]}}\n": "line 2: !!int cannot hold this value",
    }
    for text, message in cases.items():
        with pytest.raises(StudySpecError) as info:
            parse_study(text, "x.yaml", tmp_path)
        assert len(info.value.problems) == 1 and info.value.problems[0].startswith(message), info.value.problems
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = "\n".join(lines) + "\nmodel: hopf\nname: *i\nspace: {grid: {K_gl: [0.1]}}\n"
    start = time.perf_counter()
    with pytest.raises(StudySpecError) as info:
        parse_study(bomb, "bomb.yaml", tmp_path)
    assert time.perf_counter() - start < 5.0
    assert info.value.problems == ["the YAML expands to more than 1,000,000 values through its aliases "
                                   "(&anchor / *alias): refused (a study file needs far fewer)"]
    assert len(str(info.value)) < 300
    with pytest.raises(StudySpecError, match="a study file has at most 5,000,000"):
        parse_study("#" * 5_000_001, "big.yaml", tmp_path)


def test_strategy_options_are_checked_by_name_with_a_suggestion(tmp_path):
    _connectome(tmp_path / "sc")
    evo = GOOD.replace("space:\n  grid:\n    K_gl: {start: 0.0, stop: 1.0, num: 3}",
                       "space: {bounds: {K_gl: [0.0, 1.0]}}\nstrategy: {evolution: {pop_init: 4, popp: 4, generations: 1}}")
    with pytest.raises(StudySpecError, match=r"line 9: strategy.evolution: unknown option 'popp'; did you mean 'pop'"):
        parse_study(evo, "evo.yaml", tmp_path)


def test_cmaes_strategy_from_yaml(tmp_path):
    """`strategy: {cmaes: {...}}` builds brainsweep's CMAES, maximising fc_fit as the objective says."""
    pytest.importorskip("brainsweep.explorer.cmaes")
    _connectome(tmp_path / "sc")
    text = GOOD.replace("space:\n  grid:\n    K_gl: {start: 0.0, stop: 1.0, num: 3}",
                        "space: {bounds: {K_gl: [0.0, 1.0]}}\nstrategy: {cmaes: {sigma0: 0.3, popsize: 4, generations: 2}}")
    strategy = parse_study(text, "cma.yaml", tmp_path)["strategy"]
    assert type(strategy).__name__ == "CMAES"
    config = strategy.config()
    assert config["objectives"] == ["fc_fit"] and config["weights"] == [1.0]
    assert (config["sigma0"], config["popsize"], config["generations"]) == (0.3, 4, 2)
    with pytest.raises(StudySpecError, match=r"line 9: strategy.cmaes: unknown option 'sigma'; did you mean 'sigma0'"):
        parse_study(text.replace("sigma0: 0.3", "sigma: 0.3"), "cma.yaml", tmp_path)
    with pytest.raises(StudySpecError, match=r"line 9: strategy.cmaes: sigma0: expected a step size in \(0, 1\]"):
        parse_study(text.replace("sigma0: 0.3", "sigma0: 2.0"), "cma.yaml", tmp_path)
    with pytest.raises(StudySpecError, match=r"line 9: strategy.cmaes: CMAES: give generations=... or max_evals"):
        parse_study(text.replace(", generations: 2", ""), "cma.yaml", tmp_path)


def test_model_evaluation_refuses_bad_timing_before_any_run():
    """ModelEvaluation checks run_kwargs with timing_problems when it is built (no simulation)."""
    from brainsweep.explorer import ParameterSpace
    from brainsweep.explorer.model_eval import ModelEvaluation
    from brainsweep.models import HopfModel
    model, space = HopfModel(), ParameterSpace({"K_gl": [0.0, 0.5]})
    with pytest.raises(ValueError, match=r"^run_kwargs: dt: expected a positive number of ms, got 0$"):
        ModelEvaluation(model, space, run_kwargs={"dt": 0, "duration": 100.0})
    with pytest.raises(ValueError, match=r"^run_kwargs: duration: 100.05 ms is not a whole number of steps of "
                                         r"dt = 0.1 ms \(nearest: 100, 100.1\)$"):
        ModelEvaluation(model, space, run_kwargs={"dt": 0.1, "duration": 100.05})
    ok = ModelEvaluation(model, space, run_kwargs={"dt": 0.1, "duration": 100.0, "sampling_dt": 1.0})
    assert ok.run_kwargs == {"dt": 0.1, "duration": 100.0, "sampling_dt": 1.0}
