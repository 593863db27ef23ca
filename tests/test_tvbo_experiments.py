"""tvbo experiment files run as brainsweep studies (``brainsweep run experiment.yaml``).

Real files of the installed tvbo 0.5.3 (the ``tvbo_db`` fixture of test_yaml_models installs its
wheel without dependencies): neuroml/JansenRit_LEMS.yaml unchanged; JR_MEG_FrequencyGradient and
RWW_BOLD_FC as temporary copies with a shorter duration and a 2-value grid. Nothing of tvbo is
copied into the repository.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_yaml_models import tvbo_db  # noqa: F401 - the session fixture

from brainsweep.cli import main
from brainsweep.data import load_dataset
from brainsweep import tvbo_experiment
from brainsweep.explorer import StudyFileError, load
from brainsweep.explorer._evaluator_ref import load_evaluator
from brainsweep.explorer.reproduce import reproduce
from brainsweep.models import from_yaml
from brainsweep.studyfile import StudySpecError
from brainsweep.tvbo_experiment import translate


@pytest.fixture
def here(tvbo_db, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tvbo_db.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _short_copy(db, name, folder, duration, lo_hi):
    """A temporary copy of an experiment with a shorter duration and 2 values per explored parameter."""
    data = yaml.safe_load((db / "experiments" / name).read_text())
    data["integration"]["duration"] = duration
    space = next(iter(data["explorations"].values()))["space"]
    for key, spec in space.items():
        spec["domain"].update(lo=lo_hi[key][0], hi=lo_hi[key][1], n=2)
    target = folder / name
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def test_jansen_rit_meg_experiment_equals_the_model_built_by_hand(tvbo_db, here, capsys, monkeypatch):  # noqa: F811
    exp = _short_copy(tvbo_db, "JR_MEG_FrequencyGradient_Optimization.yaml", here, 200,
                      {"JansenRit.a": (0.05, 0.1), "JansenRit.b": (0.05, 0.07)})
    assert main(["run", str(exp), "-q"]) == 0
    said = capsys.readouterr().out
    for line in ("optimizations: not run", "functions: not used", "observations: not computed",
                 "network: dk_average (84 regions, CC-BY-4.0; weights / max, tract lengths at 3 mm/ms)",
                 "integration: heun, dt = 1 ms, 200 ms; additive noise sigma_white = 0.0001",
                 "explorations: frequency_landscape: grid a, b (2 x 2 = 4 runs)"):
        assert line in said, line
    res = load(here / "JR_MEG_FrequencyGradient_Optimization.h5")
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    assert sorted(set(res.df["a"])) == [0.05, 0.1] and sorted(set(res.df["b"])) == [0.05, 0.07]
    # independently: tvbo's database JansenRit with SigmoidalJansenRit coupling (the same equations, written
    # in another order), the experiment's values passed by hand, dk_average weights / max, 3 mm/ms
    ds = load_dataset("dk_average", normalize="max")
    jr = from_yaml("JansenRit", "SigmoidalJansenRit", ds.Cmat, ds.Dmat, coupling_a=15.0, signalV=3.0,
                   sigma_white=1e-4, mu=0.15)
    init = {"y0": 0.0, "y1": 5.0, "y2": 5.0, "y3": 0.0, "y4": 0.0, "y5": 0.0}  # the experiment's initial values
    for i in (0, 3):
        row = res.df.loc[i]
        want = jr.run_batch([{"a": float(row["a"]), "b": float(row["b"])}], seeds=[int(row["seed"])], duration=200,
                            dt=1.0, sampling_dt=1.0, integrator="heun", initial_state=init)[0]["y0"]
        got = res.run(i)["y0"]
        assert got.shape == (84, 200) and np.ptp(got) > 1e-3
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    # rebuilt by reference (the model file written from the experiment, by content hash), also where the
    # folder of such files is another one (another machine or cache): found there by name, if unchanged
    study = here / "JR_MEG_FrequencyGradient_Optimization.h5"
    assert reproduce(study, 2)["match"]
    written = Path(load_evaluator(study).model.yaml_path)
    elsewhere = here / "other_cache"
    elsewhere.mkdir()
    monkeypatch.setattr(tvbo_experiment, "files_dir", lambda: elsewhere)
    (elsewhere / written.name).write_bytes(written.read_bytes())
    written.unlink()
    assert reproduce(study, 1)["match"]
    (elsewhere / written.name).write_text((elsewhere / written.name).read_text().replace("3.25", "3.5"))
    with pytest.raises(StudyFileError, match=r"model file '.*' has changed since the study was run"):
        load_evaluator(study)


def test_unchanged_neuroml_jansen_rit_runs_and_resumes(tvbo_db, here, capsys):  # noqa: F811
    exp = tvbo_db / "experiments" / "neuroml" / "JansenRit_LEMS.yaml"
    assert main(["run", str(exp), "-q"]) == 0
    said = capsys.readouterr().out
    assert "dynamics: JansenRit (6 state variable(s)) with coupling Linear" in said
    assert "explorations: none runnable; one run (grid A = [3.25])" in said
    res = load(here / "JansenRit_LEMS.h5")
    assert len(res.df) == 1 and res.df["status"].iloc[0] == "ok"
    want = from_yaml("JansenRit").run(2000.0, dt=0.1, sampling_dt=1.0, integrator="euler",
                                      seed=int(res.df["seed"].iloc[0]))["y0"]
    assert np.array_equal(res.run(0)["y0"], want)
    assert main(["run", str(exp), "-q"]) == 0  # again: the finished study is resumed, nothing re-run
    assert "1 runs stored" in capsys.readouterr().out


def test_reduced_wong_wang_fc_experiment_runs_its_grid(tvbo_db, here):  # noqa: F811
    exp = _short_copy(tvbo_db, "RWW_BOLD_FC_Optimization.yaml", here, 400,
                      {"ReducedWongWang.w": (0.3, 0.6), "FastLinearCoupling.G": (0.1, 0.5)})
    plan, notes = translate(exp)
    assert plan["space"].names == ["w", "coupling_G"] and plan["model"].network.Dmat is None  # instantaneous
    assert any("no delays (instantaneous coupling)" in n for n in notes)
    assert main(["run", str(exp), "-q"]) == 0
    res = load(here / "RWW_BOLD_FC_Optimization.h5")
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    S = {(r.w, r.coupling_G): res.run(i)["S"] for i, r in res.df.iterrows()}
    assert all(s.shape == (84, 100) and s.min() >= 0.0 and s.max() <= 1.0 for s in S.values())  # clamped domain
    assert not np.array_equal(S[(0.3, 0.1)], S[(0.3, 0.5)])  # the coupling parameter reaches the model
    # a grid outside the coupling parameter's domain in the file (G in [0, 1]) is refused before any run
    bad = _short_copy(tvbo_db, "RWW_BOLD_FC_Optimization.yaml", here, 400,
                      {"ReducedWongWang.w": (0.3, 0.6), "FastLinearCoupling.G": (0.5, 2.0)})
    with pytest.raises(StudySpecError, match=r"explorations: parameter 'coupling_G' must be <= 1.0 .*got 2.0"):
        translate(bad)


def test_refused_experiments_say_why_in_one_line_per_section(tvbo_db, here, capsys):  # noqa: F811
    exp = tvbo_db / "experiments" / "neuroml" / "IntegrateAndFire_Ex0.yaml"
    assert main(["run", str(exp), "-q"]) == 1
    err = capsys.readouterr().err
    assert "tvbo experiment not run: dynamics.events: spike/reset events (spike) are not supported" in err
    assert "integration: euler, dt = 0.005 ms, 300 ms" in err
    assert not (here / "IntegrateAndFire_Ex0.h5").exists()
    with pytest.raises(StudySpecError) as info:
        translate(tvbo_db / "experiments" / "Hopf_Pareto_ParallelOpt.yaml")
    problems = info.value.problems
    assert problems[0].startswith("tvbo experiment not run: network.transforms:")
    assert "normalized_graph_laplacian" in problems[0] and "code is never run" in problems[0]
    assert any(p.startswith("optimizations: not run") for p in problems)
    assert all("\n" not in p for p in problems)


def test_an_experiment_is_read_as_plain_data_only(here, capsys):
    exp = here / "evil.yaml"
    exp.write_text("dynamics: !!python/object/apply:os.system ['touch pwned']\n"
                   "integration: {method: euler, step_size: 0.1, duration: 10}\n")
    assert main(["run", str(exp), "-q"]) == 1
    assert re.search(r"line 1: the YAML tag '!!python/object/apply:os.system' is not allowed", capsys.readouterr().err)
    with pytest.raises(yaml.constructor.ConstructorError):
        translate(exp)
    assert not (here / "pwned").exists()
