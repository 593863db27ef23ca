"""YAML study files with the newer evaluations and strategies: ``model: {hnn: ...}``,
``strategy: {sbi: ...}`` and ``strategy: {gradient: ...}``; checked against direct runs."""

import sys

import numpy as np
import pytest

from brainsweep.explorer import load
from brainsweep.studyfile import StudySpecError, load_study, parse_study


# -- model: {hnn: ...} ----------------------------------------------------------------------------------
HNN_YAML = """\
path: hnn.h5
seed: 3
model:
  hnn:
    network_kwargs: {mesh_shape: [3, 3]}
    set_params: bs_hnn_case:set_params
    tstop: 40
    n_trials: 1
    smooth_window_len: 20
    scale_factor: 3000
    target: target.txt
    seed_from_run: false
space:
  grid: {mu: [18.0, 24.0]}
  fixed: {sigma: 3.0}
"""


@pytest.fixture
def hnn_case(tmp_path, monkeypatch):
    pytest.importorskip("hnn_core", reason="hnn-core not installed (pip install brainsweep[hnn])")
    pytest.importorskip("neuron", reason="NEURON not installed (pip install brainsweep[hnn])")
    import test_hnn
    (tmp_path / "bs_hnn_case.py").write_text(test_hnn.CASE)
    np.savetxt(tmp_path / "target.txt", np.c_[test_hnn.TARGET_T, test_hnn.TARGET])
    (tmp_path / "hnn.yaml").write_text(HNN_YAML)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bs_hnn_case", None)
    yield tmp_path, test_hnn
    sys.modules.pop("bs_hnn_case", None)


def test_yaml_hnn_model_is_validated_with_lines(hnn_case):
    folder, _ = hnn_case
    plan = parse_study(HNN_YAML, "hnn.yaml", folder)
    ev = plan["function"]
    assert type(ev).__name__ == "HNNEvaluator" and plan["model"] is None
    assert ev.fixed == {"sigma": 3.0} and ev.tstop == 40.0 and list(ev.scores) == ["dipole_rmse"]
    assert list(plan["files"]) == ["target.txt"]
    cases = [
        (HNN_YAML.replace("n_trials: 1", "n_trials: 0"), r"line 8: model.hnn.n_trials: expected an integer >= 1"),
        (HNN_YAML.replace("    tstop: 40", "    tstp: 40"), r"line 5: model.hnn: unknown setting\(s\) \['tstp'\]"),
        (HNN_YAML.replace("bs_hnn_case:set_params", "bs_hnn_case:nothing"),
         r"line 6: model.hnn.set_params: cannot import 'bs_hnn_case:nothing'"),
        (HNN_YAML + "objectives:\n  - fc: {target: fc.csv}\n",
         r"line 16: objectives: not for model: hnn \(its settings go under model.hnn; its scores are dipole_rmse, "
         r"dipole_corr, maximize_psd\)"),
        (HNN_YAML + "integration: {duration: 100}\n", r"line 16: integration: not for model: hnn"),
        (HNN_YAML.replace("model:\n  hnn:\n", "model:\n  hnn: 3\n  unused:\n"),
         r"line 4: model: hnn must be the only key under model \(model: \{hnn: \{...\}\}\)"),
    ]
    for text, message in cases:
        with pytest.raises(StudySpecError, match=message):
            parse_study(text, "hnn.yaml", folder)


def test_yaml_hnn_missing_hnn_core_is_one_line(hnn_case, monkeypatch):
    folder, _ = hnn_case
    from brainsweep.models import hnn
    monkeypatch.setattr(hnn.HNNEvaluator, "from_spec",
                        classmethod(lambda cls, *a, **k: (_ for _ in ()).throw(ImportError("No module named 'neuron'"))))
    with pytest.raises(StudySpecError) as err:
        parse_study(HNN_YAML, "hnn.yaml", folder)
    assert err.value.problems == ["line 4: model.hnn: hnn-core and NEURON are needed: pip install brainsweep[hnn] "
                                  "(No module named 'neuron')"]


def test_yaml_hnn_grid_study_matches_plain_hnn_core(hnn_case):
    """A 2-run grid study from YAML scores each run as plain hnn-core does (fixed sigma applied)."""
    folder, test_hnn = hnn_case
    res = load_study(folder / "hnn.yaml").run(progress=False)
    assert res.df["status"].tolist() == ["ok", "ok"] and res.df["mu"].tolist() == [18.0, 24.0]
    plain = test_hnn._plain_hnn(folder, [("a", {"mu": 18.0, "sigma": 3.0}, {}), ("b", {"mu": 24.0, "sigma": 3.0}, {})],
                                n_trials=1)
    assert res.df["dipole_rmse"].tolist() == [plain["a_rmse"], plain["b_rmse"]]
    np.testing.assert_array_equal(res.run(0)["dipole"], plain["a"])
    assert res.df["dipole_rmse"].iloc[0] != res.df["dipole_rmse"].iloc[1]
    assert "target.txt" in load(folder / "hnn.h5").attachments
