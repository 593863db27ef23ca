"""A study file crafted to run code when unpickled: every reading command opens it without
running that code; only an explicit trust (``reproduce --trust``) unpickles the evaluator."""

import pickle
import sys
import textwrap

import numpy as np
import pytest
import tables

from brainsweep import evaluation as ev
from brainsweep.cli import main
from brainsweep.explorer import ParameterSpace, Study, StudyFileError, load, storage
from brainsweep.explorer import _plain
from brainsweep.explorer.reproduce import reproduce

_MODULE = '''
import numpy as np

def evaluate(p):
    return {"y": p["x"] ** 2, "arr": np.arange(3.0) * p["x"]}
'''
SPACE = ParameterSpace({"x": [1.0, 2.0, 3.0]})


class _Touch:
    """Unpickling this creates ``path``: the payload a crafted file would carry."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture()
def evaluate(tmp_path, monkeypatch):
    (tmp_path / "bs_trust_eval.py").write_text(textwrap.dedent(_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bs_trust_eval", None)
    import bs_trust_eval
    return bs_trust_eval.evaluate


def _replace(h5, where, name, data: bytes):
    if name in where:
        h5.remove_node(where, name)
    h5.create_array(where, name, np.frombuffer(data, dtype=np.uint8))


def _craft(path, marker, *, keep_ref=True, ref=None):
    """Put the payload in place of every pickle a study file may hold (the evaluator and, as a
    reader of an older file would find it, the strategy states)."""
    payload = pickle.dumps(_Touch(marker), protocol=5)
    with tables.open_file(str(path), "a") as h5:
        bk = storage.bookkeeping(h5)
        _replace(h5, bk, "evaluator", payload)
        if not keep_ref and "evaluator_ref" in bk:
            h5.remove_node(bk, "evaluator_ref")
        if ref is not None:
            _replace(h5, bk, "evaluator_ref", _plain.encode(ref))


def _to_format_1(path, marker):
    """The layout of brainsweep format 1: bookkeeping at /brainsweep, pickled states, run groups
    directly under results/runs; every pickle replaced by the payload."""
    payload = np.frombuffer(pickle.dumps(_Touch(marker), protocol=5), dtype=np.uint8)
    with tables.open_file(str(path), "a") as h5:
        bk = storage.bookkeeping(h5)
        traj = str(bk._v_attrs.trajectory)
        h5.move_node(bk, "/", "brainsweep")
        bk = h5.get_node("/brainsweep")
        bk._v_attrs.format_version = 1
        h5.remove_node(bk, "states")
        states = h5.create_vlarray(bk, "states", tables.UInt8Atom())
        states.append(payload)
        _replace(h5, bk, "evaluator", payload.tobytes())
        if "evaluator_ref" in bk:
            h5.remove_node(bk, "evaluator_ref")
        runs = h5.get_node(f"/{traj}/results/runs")
        for bucket in list(runs._f_iter_nodes("Group")):
            if bucket._v_name.startswith("run_set_"):
                for group in list(bucket._f_iter_nodes("Group")):
                    h5.move_node(group, runs)
                h5.remove_node(bucket)


def _read_everything(path, tmp_path, monkeypatch, capsys):
    """Every reading command; each may refuse, none may run the payload."""
    import brainsweep.cli as cli
    monkeypatch.setattr(cli, "_build_wheel", lambda: None)  # archive: the study's reading is what counts
    res = load(path)
    _ = (res.df, res.strategy_state, res.attachments, res.provenance, res.fingerprint, res.space,
         res.run(0), res.arrays("arr"), res.best(1, key="y"), repr(res))
    assert main(["info", str(path)]) == 0
    assert main(["plot", str(path), "--kind", "sweep", "--x", "x", "--z", "y", "-o", str(tmp_path / "p.png")]) == 0
    assert main(["archive", str(path), "-o", str(tmp_path / "a.zip")]) == 0
    capsys.readouterr()


def test_a_crafted_evaluator_pickle_is_never_unpickled_unless_trusted(tmp_path, evaluate, monkeypatch, capsys):
    path, marker = tmp_path / "crafted.h5", tmp_path / "PWNED"
    Study(evaluate, SPACE, path=path, seed=2).run(progress=False)
    _craft(path, marker)
    monkeypatch.setattr(storage, "CREATED_HERE", set())  # as in another process: this one did not create it
    _read_everything(path, tmp_path, monkeypatch, capsys)
    assert load(path).evaluator().fn is evaluate  # rebuilt from its reference
    report = reproduce(path, 1)  # rebuilt from its reference: the pickle is not touched
    assert report["match"] and report["evaluator"].startswith("bs_trust_eval.evaluate#")
    assert Study(evaluate, SPACE, path=path, seed=2).run(progress=False).df["y"].tolist() == [1.0, 4.0, 9.0]
    assert not marker.exists()

    _craft(path, marker, keep_ref=False)  # only the pickle left
    _read_everything(path, tmp_path, monkeypatch, capsys)
    with pytest.raises(StudyFileError, match="stored only as a pickle.*can run any code.*--trust"):
        reproduce(path, 1)
    with pytest.raises(StudyFileError, match="stored only as a pickle"):
        load(path).evaluator()
    assert main(["reproduce", str(path), "--run", "1"]) == 1
    assert "pass --trust (trust=True) only for a file you trust" in capsys.readouterr().err
    assert Study(evaluate, SPACE, path=path, seed=2).run(progress=False).df["y"].tolist() == [1.0, 4.0, 9.0]
    assert not marker.exists()

    # the test can fail: trusting the file runs its payload
    with pytest.raises(Exception):
        main(["reproduce", str(path), "--run", "1", "--trust"])  # the payload is no evaluator
    assert marker.exists()


def test_a_crafted_reference_cannot_name_code_to_run(tmp_path, evaluate, monkeypatch, capsys):
    path, marker = tmp_path / "ref.h5", tmp_path / "PWNED"
    Study(evaluate, SPACE, path=path, seed=2).run(progress=False)
    monkeypatch.setattr(storage, "CREATED_HERE", set())
    for target in ("subprocess:check_call", "os:system", "builtins:exec", "pickle:loads"):
        _craft(path, marker, ref={"kind": "function", "target": target, "code": None,
                                  "fixed": {"touch": 1, str(marker): 1}, "timeout": None})
        _read_everything(path, tmp_path, monkeypatch, capsys)
        with pytest.raises(StudyFileError, match="standard library"):
            reproduce(path, 0)
        assert main(["reproduce", str(path), "--run", "0"]) == 1
    _craft(path, marker, ref={"kind": "model", "model": "HopfModel", "params": {}, "network": {}, "attrs": {},
                              "fixed": {}, "run_kwargs": {}, "keep": [], "timeout": None, "complete": True,
                              "objective": {"objective": "pickle.loads", "settings": {}}})
    with pytest.raises(StudyFileError, match="unknown objective 'pickle.loads'"):
        reproduce(path, 0)
    assert not marker.exists()


def test_a_crafted_format_1_file_with_pickled_states_is_read_and_refused_without_running_code(
        tmp_path, evaluate, monkeypatch, capsys):
    path, marker = tmp_path / "old.h5", tmp_path / "PWNED"
    Study(evaluate, SPACE, path=path, seed=2).run(progress=False)
    _to_format_1(path, marker)
    monkeypatch.setattr(storage, "CREATED_HERE", set())
    _read_everything(path, tmp_path, monkeypatch, capsys)
    res = load(path)
    assert res.strategy_state is None and "pickle" in res.strategy_state_note
    np.testing.assert_array_equal(res.run(2)["arr"], [0.0, 3.0, 6.0])
    with pytest.raises(StudyFileError, match="stored only as a pickle"):
        reproduce(path, 0)
    with pytest.raises(StudyFileError, match="trust"):
        Study(evaluate, SPACE, path=path, seed=2).run(progress=False)  # resuming
    assert not marker.exists()


def _model_study(path):
    from brainsweep.models import HopfModel
    rng = np.random.default_rng(4)
    m = HopfModel(Cmat=rng.random((3, 3)), Dmat=rng.random((3, 3)) * 10, params={"sigma_ou": 0.02})
    run = dict(duration=300.0, sampling_dt=1.0)
    out = m.run(seed=3, **run)
    target_fc, target_t = np.corrcoef(out["x"]), out["t"]
    target_dip = out["x"].sum(axis=0) * 0.5
    objective = ev.combine(ev.fit_fc(target_fc, key="x", transient_ms=0.0, keep=True),
                           ev.fit_dipole(target_t, target_dip, dipole="x", keep=True))
    Study(m, ParameterSpace({"K_gl": [0.0, 0.5]}), path=path, seed=1, objective=objective, run_kwargs=run,
          keep=["x"]).run(progress=False)
    return target_fc, target_t, target_dip


def test_plot_fc_and_plot_dipole_read_their_targets_from_plain_data(tmp_path, monkeypatch):
    path, marker = tmp_path / "model.h5", tmp_path / "PWNED"
    target_fc, target_t, target_dip = _model_study(path)
    _craft(path, marker)
    monkeypatch.setattr(storage, "CREATED_HERE", set())
    res = load(path)
    fig = res.plot_fc(idx=1)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 2
    np.testing.assert_array_equal(images[1], target_fc)
    np.testing.assert_array_equal(images[0], res.run(1)["fc"])
    fig = res.plot_dipole(idx=1, initial_idx=0)
    lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.lines}
    target_line = next(ln for label, ln in lines.items() if "target" in label.lower())
    np.testing.assert_array_equal(target_line.get_xdata(), target_t)
    np.testing.assert_array_equal(target_line.get_ydata(), target_dip)
    assert reproduce(path, 1)["match"]  # the model evaluation rebuilt from plain data
    assert not marker.exists()

    _craft(path, marker, keep_ref=False)  # an older file: no plain spec, so no target to show
    res = load(path)
    assert len([ax for ax in res.plot_fc(idx=1).axes if ax.images]) == 1
    with pytest.raises(ValueError, match="records no target dipole"):
        res.plot_dipole(idx=1)
    assert not marker.exists()


_YAML_MODEL = """\
path: y.h5
model: {name: hopf, params: {a: -0.05, sigma_ou: 0.02}}
integration:
  duration: 2000
  sampling_dt: 1
  stimulus: {x: {type: PulseTrain, amplitude: 0.1, period: 100.0}}
outputs: [x]
space: {grid: {w: [0.05, 0.06]}}
objectives:
  - peak_frequency: {f_hz: 10.0, band: [1, 40], key: x}
"""

_YAML_FUNCTION = """\
path: f.h5
function: bs_trust_eval:evaluate
space: {grid: {x: [1.0, 2.0]}}
"""


@pytest.mark.parametrize("text", [_YAML_MODEL, _YAML_FUNCTION], ids=["model", "function"])
def test_yaml_studies_are_recorded_completely_by_reference(tmp_path, evaluate, monkeypatch, text):
    from brainsweep.explorer._evaluator_ref import reference_doc
    from brainsweep.studyfile import load_study

    (tmp_path / "s.yaml").write_text(text)
    study = load_study(tmp_path / "s.yaml")
    res = study.run(progress=False)
    assert (res.df["status"] == "ok").all()
    with tables.open_file(res.path) as h5:
        doc = reference_doc(h5)
    assert doc is not None and doc.get("complete", True)
    monkeypatch.setattr(storage, "CREATED_HERE", set())
    for idx in res.df.index:
        report = reproduce(res.path, idx)  # no trust needed: nothing is unpickled
        assert report["match"], report["differences"]
