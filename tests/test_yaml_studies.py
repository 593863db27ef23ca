"""Study files with a model generated from TVB-O YAML (``model: {yaml: ..., coupling: ...}``).

The study runs through ``brainsweep run``, resumes after an interruption, and is rebuilt from its
evaluator reference (file paths, names and content hashes: no pickle) by ``brainsweep reproduce``
in a new process; a changed model file is refused. tvbo's files are read from the installed
package (the ``tvbo_db`` fixture of test_yaml_models installs its wheel without dependencies);
tests copy a tvbo file only into their temporary folder.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_yaml_models import tvbo_db  # noqa: F401 - the session fixture

from brainsweep.cli import main
from brainsweep.explorer import load
from brainsweep.explorer._evaluator_ref import load_evaluator, reference_doc
from brainsweep.explorer.storage import StudyFile, StudyFileError
from brainsweep.models import from_yaml
from brainsweep.models.symbolic._model import YamlModel
from brainsweep.studyfile import StudySpecError, parse_study

STUDY = """\
path: {path}
model:
  yaml: {model}
  coupling: SigmoidalJansenRit
  inputs: [y4]
  params: {{sigma_white: 0.0005}}
connectome: {{name: tvb68, normalize: max}}
integration: {{duration: 300, dt: 0.1, sampling_dt: 1.0, integrator: heun, seed: 3}}
outputs: [y1, y2]
space:
  grid: {{mu: [0.08, 0.12, 0.16, 0.2]}}
  fixed: {{coupling_a: 2.0}}
"""


def _write(folder: Path, name="jr", model="JansenRit"):
    f = folder / f"{name}.yaml"
    f.write_text(STUDY.format(path=f"{name}.h5", model=model))
    return f


class _Interrupt:
    """YamlModel.run_batch that stops the study (as Ctrl-C would) on its ``stop_at``-th call;
    ``runs`` counts the parameter sets it simulated."""

    def __init__(self, stop_at):
        self.calls, self.runs, self.stop_at, self.original = 0, 0, stop_at, YamlModel.run_batch

    def __call__(self, model, param_dicts, *args, **kwargs):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        self.runs += len(param_dicts)
        return self.original(model, param_dicts, *args, **kwargs)


def test_yaml_study_runs_resumes_and_reproduces_in_a_new_process(tvbo_db, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tvbo_db.parent))
    monkeypatch.chdir(tmp_path)
    study = _write(tmp_path)
    stop = _Interrupt(stop_at=2)
    monkeypatch.setattr(YamlModel, "run_batch", lambda model, *args, **kwargs: stop(model, *args, **kwargs))
    assert main(["run", str(study), "-q"]) == 130  # interrupted
    partial = load(tmp_path / "jr.h5")
    n_first = len(partial.df)
    assert 0 < n_first < 4
    assert stop.runs == n_first
    assert main(["run", str(study), "-q"]) == 0  # resumes: only the missing runs are simulated
    res = load(tmp_path / "jr.h5")
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    assert stop.runs == 4
    for i in partial.df.index:
        np.testing.assert_array_equal(res.run(i)["y1"], partial.run(i)["y1"])

    # the evaluator is recorded by reference: the files, their names and content hashes
    with StudyFile.open(str(tmp_path / "jr.h5"), "r") as f:
        doc = reference_doc(f.h5)
    assert doc["kind"] == "model" and doc["complete"]
    assert doc["yaml"]["model"]["name"] == "JansenRit" and doc["yaml"]["coupling"]["name"] == "SigmoidalJansenRit"
    assert doc["yaml"]["inputs"] == ["y4"]
    assert doc["yaml"]["model"]["sha256"] == hashlib.sha256((tvbo_db / "models" / "JansenRit.yaml").read_bytes()).hexdigest()

    # independent check of a stored run: the same model built by hand, the run's seed and parameters
    from brainsweep.data import load_connectome
    sc = load_connectome("tvb68", normalize="max")
    jr = from_yaml("JansenRit", "SigmoidalJansenRit", sc.Cmat, sc.Dmat, inputs=["y4"], sigma_white=0.0005,
                   coupling_a=2.0)
    row = res.df.loc[2]
    out = jr.run_batch([{"mu": float(row["mu"])}], seeds=[int(row["seed"])], duration=300, dt=0.1, sampling_dt=1.0,
                       integrator="heun")[0]
    np.testing.assert_array_equal(out["y2"], res.run(2)["y2"])

    # reproduce in a new process (no pickle is read without --trust there)
    env = dict(os.environ, BRAINSWEEP_TVBO_PATH=str(tvbo_db.parent))
    r = subprocess.run([sys.executable, "-m", "brainsweep.cli", "reproduce", "jr.h5", "--run", "3"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "reproduced bit for bit" in r.stdout and "y1, y2" in r.stdout


def test_a_changed_model_file_is_refused_and_an_unchanged_copy_is_found(tvbo_db, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tvbo_db.parent))
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "MyJansenRit.yaml"
    mine.write_bytes((tvbo_db / "models" / "JansenRit.yaml").read_bytes())
    study = _write(tmp_path, "mine", model="MyJansenRit.yaml")
    study.write_text(study.read_text().replace("[0.08, 0.12, 0.16, 0.2]", "[0.1]"))
    assert main(["run", str(study), "-q"]) == 0
    assert load(tmp_path / "mine.h5").attachments["MyJansenRit.yaml"] == mine.read_bytes()
    with StudyFile.open(str(tmp_path / "mine.h5"), "r") as f:
        doc = reference_doc(f.h5)
    assert doc["yaml"]["model"]["path"] == str(mine.resolve())
    assert load_evaluator(tmp_path / "mine.h5").model.yaml_path == str(mine.resolve())
    mine.write_text(mine.read_text().replace("value: 3.25", "value: 3.5", 1))
    with pytest.raises(StudyFileError, match=r"model file 'MyJansenRit' has changed since the study was run"):
        load_evaluator(tmp_path / "mine.h5")
    mine.unlink()
    with pytest.raises(StudyFileError, match=r"model file .*MyJansenRit.yaml is not here"):
        load_evaluator(tmp_path / "mine.h5")


def test_yaml_model_settings_are_checked_with_their_lines(tvbo_db, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("BRAINSWEEP_TVBO_PATH", str(tvbo_db.parent))
    text = STUDY.format(path="x.h5", model="JansenRitt").replace("sigma_white: 0.0005", "sigma_whit: 0.0005")
    with pytest.raises(StudySpecError) as err:
        parse_study(text, "x.yaml", tmp_path)
    assert "line 3: model.yaml:" in str(err.value) and "JansenRit" in str(err.value)
    text = STUDY.format(path="x.h5", model="JansenRit").replace("sigma_white: 0.0005", "sigma_whit: 0.0005")
    with pytest.raises(StudySpecError, match=r"line 6: model.params: JansenritModel has no parameter 'sigma_whit'; "
                                             r"did you mean 'sigma_white'\?"):
        parse_study(text, "x.yaml", tmp_path)
    text = STUDY.format(path="x.h5", model="JansenRit").replace("inputs: [y4]", "inputs: [y9]")
    with pytest.raises(StudySpecError, match=r"line 5: model.inputs: .*'y9'"):
        parse_study(text, "x.yaml", tmp_path)
    text = STUDY.format(path="x.h5", model="JansenRit").replace("sigma_white: 0.0005", "a: -1.0")
    with pytest.raises(StudySpecError, match=r"line 6: model.params.a: .*'a'"):
        parse_study(text, "x.yaml", tmp_path)
    text = "model: {name: HopfModel, coupling: Linear}\nspace: {grid: {K_gl: [0.1]}}\n"
    with pytest.raises(StudySpecError, match=r"line 1: model.coupling: only for a model given as yaml"):
        parse_study(text, "x.yaml", tmp_path)
