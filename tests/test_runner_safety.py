"""Runs that misbehave: sys.exit is a failed run, Ctrl-C still stops a study, a run stuck in C
code is stopped at its time limit; an evaluator's identity includes its code."""

import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from brainsweep.explorer import GridSearch, ParameterSpace, Study, StudyFileError, load
from brainsweep.explorer._evaluator_ref import code_hash, rebuild
from brainsweep.explorer.runner import FunctionEvaluator, grace_seconds

_LIBC = ctypes.CDLL(None)


def _exits_on_two(p):
    if p["x"] == 2.0:
        sys.exit(3)
    return {"y": p["x"] ** 2}


def _stuck_in_c(p):
    """x == 1 blocks SIGALRM and sleeps 10 s in libc: only killing the process ends it early."""
    if p["x"] == 1.0:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        _LIBC.sleep(10)
    return {"y": p["x"] + 0.5}


def _interrupts(p):
    if p["x"] == 1.0:
        raise KeyboardInterrupt
    return {"y": p["x"]}


@pytest.mark.parametrize("jobs", [1, 2])
def test_sys_exit_in_an_evaluator_is_a_failed_run_and_the_study_goes_on(tmp_path, jobs):
    res = Study(_exits_on_two, ParameterSpace({"x": [1.0, 2.0, 3.0]}), path=tmp_path / "e.h5",
                seed=1).run(n_jobs=jobs, progress=False)
    assert res.df["status"].tolist() == ["ok", "failed", "ok"]
    assert res.df.loc[1, "message"] == "the evaluation called sys.exit(3); recorded as a failed run"
    assert res.df.loc[2, "y"] == 9.0


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_keyboard_interrupt_still_stops_the_study_and_it_resumes(tmp_path, timeout):
    path = tmp_path / "k.h5"
    space = ParameterSpace({"x": [0.0, 1.0, 2.0]})
    with pytest.raises(KeyboardInterrupt):
        Study(_interrupts, space, path=path, seed=1, timeout=timeout).run(progress=False)
    res = load(path)
    assert res.df["status"].tolist() == ["ok"]  # run 0 stored before the interrupt, nothing after


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_stuck_in_c_code_is_stopped_at_its_time_limit(tmp_path, jobs):
    t0 = time.perf_counter()
    res = Study(_stuck_in_c, ParameterSpace({"x": [0.0, 1.0, 2.0, 3.0]}), path=tmp_path / "c.h5", seed=1,
                timeout=0.5).run(n_jobs=jobs, progress=False)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"the study took {elapsed:.1f} s; the stuck run sleeps 10 s"
    assert res.df["status"].tolist() == ["ok", "timeout", "ok", "ok"]
    assert res.df["y"].tolist()[2:] == [2.5, 3.5]
    assert "killed after 1.55 s" in res.df.loc[1, "message"]
    assert 0.5 + grace_seconds(0.5) <= res.df.loc[1, "runtime"] < 4.0


def test_python_level_timeouts_do_not_kill_the_process(tmp_path):
    def slow(p):
        time.sleep(10 if p["x"] == 1.0 else 0)
        return {"y": p["x"]}

    ev = FunctionEvaluator(slow, timeout=0.3)
    t0 = time.perf_counter()
    recs = ev.evaluate_chunk([(i, {"x": float(i)}, 0) for i in range(3)])
    assert time.perf_counter() - t0 < 3.0
    assert [r.status for r in recs] == ["ok", "timeout", "ok"]
    assert recs[1].message == "run exceeded the time limit of 0.3 s"  # SIGALRM, not the kill


def test_a_run_that_kills_its_process_is_a_failed_run():
    def crash(p):
        if p["x"] == 1.0:
            os.kill(os.getpid(), signal.SIGKILL)
        return {"y": p["x"]}

    recs = FunctionEvaluator(crash, timeout=5.0).evaluate_chunk([(i, {"x": float(i)}, 0) for i in range(3)])
    assert [r.status for r in recs] == ["ok", "failed", "ok"]
    assert "killed by signal 9 (SIGKILL)" in recs[1].message


# -- identity and references ----------------------------------------------------------------------
_MODULE = '''
import math

def evaluate(p):
    """v1"""
    if p.get("mode") in {"alpha", "beta", "gamma", "delta"}:  # a frozenset constant: its order varies
        return {"y": 0.0}
    return {"y": math.sqrt(p["x"]) + 1.0}
'''


def _module(tmp_path, monkeypatch, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _identity_in_new_process(tmp_path, name):
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {name}; "
            f"from brainsweep.explorer.runner import FunctionEvaluator; "
            f"print(FunctionEvaluator({name}.evaluate).identity)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_identity_is_the_same_in_another_process_and_changes_with_the_body(tmp_path, monkeypatch):
    mod = _module(tmp_path, monkeypatch, "bs_eval_v1", _MODULE)
    here = FunctionEvaluator(mod.evaluate).identity
    assert here.startswith("bs_eval_v1.evaluate#") and len(here.split("#")[1]) == 16
    assert _identity_in_new_process(tmp_path, "bs_eval_v1") == here
    # comments and blank lines do not change the code; a changed constant or operation does
    commented = _MODULE.replace('    """v1"""', '    """v1"""\n    # a comment\n')
    assert FunctionEvaluator(_module(tmp_path, monkeypatch, "bs_eval_c", commented).evaluate).identity \
        == here.replace("bs_eval_v1", "bs_eval_c")
    for change in ('+ 1.0}', '+ 2.0}'), ("math.sqrt", "math.exp"), ('{"y"', '{"z"'):
        other = _module(tmp_path, monkeypatch, "bs_eval_d", _MODULE.replace(*change)).evaluate
        assert FunctionEvaluator(other).identity != here.replace("bs_eval_v1", "bs_eval_d"), change


def test_code_hash_follows_nested_functions_defaults_and_closures():
    def make(k, default):
        def helper(v):
            return v * k

        def f(p, scale=default):
            return {"y": helper(p["x"]) * scale}
        return f

    assert code_hash(make(2, 1.0)) == code_hash(make(2, 1.0))
    assert code_hash(make(2, 1.0)) != code_hash(make(3, 1.0))  # closure value of the helper
    assert code_hash(make(2, 1.0)) != code_hash(make(2, 2.0))  # default value
    assert code_hash(len) is None


def test_resuming_with_a_changed_function_body_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    space = ParameterSpace({"x": [1.0, 4.0]})
    v1 = _module(tmp_path, monkeypatch, "bs_eval_r", _MODULE)
    Study(v1.evaluate, space, path=path, seed=3).run(progress=False)
    v2 = _module(tmp_path, monkeypatch, "bs_eval_r", _MODULE.replace("+ 1.0}", "+ 1.5}"))
    with pytest.raises(StudyFileError, match="different study.*evaluate"):
        Study(v2.evaluate, space, path=path, seed=3).run(progress=False)
    assert load(path).df["y"].tolist() == [2.0, 3.0]


def test_a_function_reference_rebuilds_the_evaluator_and_refuses_what_a_crafted_file_could_name(
        tmp_path, monkeypatch):
    mod = _module(tmp_path, monkeypatch, "bs_eval_ref", _MODULE)
    ev = FunctionEvaluator(mod.evaluate, fixed={"k": 2}, timeout=3.0)
    doc = ev.reference()
    assert doc["target"] == "bs_eval_ref:evaluate" and doc["fixed"] == {"k": 2} and doc["timeout"] == 3.0
    again = rebuild(doc)
    assert again.fn is mod.evaluate and again.identity == ev.identity
    assert again.evaluate_one(0, {"x": 9.0}, 0).scalars == {"y": 4.0}

    assert FunctionEvaluator(lambda p: {}).reference() is None
    assert FunctionEvaluator(textwrap.dedent).reference() is None  # what a reader would refuse is not recorded
    assert FunctionEvaluator(_exits_on_two).reference()["target"] == f"{__name__}:_exits_on_two"
    for target, message in (("subprocess:run", "standard library"), ("os:system", "standard library"),
                            ("builtins:eval", "standard library"), ("pip._internal.cli.main:main", "public module"),
                            ("bs_eval_ref:evaluate.__globals__", "public module"),
                            ("numpy:ndarray", "not a Python function"), ("bs_eval_ref", "module:qualname")):
        with pytest.raises(StudyFileError, match=message):
            rebuild({**doc, "target": target})
    with pytest.raises(StudyFileError, match="has changed since the study was run"):
        rebuild({**doc, "code": "0" * 64})
    with pytest.raises(StudyFileError, match="unknown kind 'pickle'"):
        rebuild({"kind": "pickle"})


def test_a_model_reference_names_only_brainsweep_models(tmp_path):
    from brainsweep import evaluation as ev
    from brainsweep.explorer.model_eval import ModelEvaluation
    from brainsweep.models import HopfModel, PulseTrain

    rng = np.random.default_rng(0)
    m = HopfModel(Cmat=rng.random((3, 3)), Dmat=rng.random((3, 3)) * 20, params={"a": -0.05})
    m.initial_state = {"x": 0.2}
    kw = dict(duration=300.0, sampling_dt=1.0, stimulus={"x": PulseTrain(amplitude=0.3, period=50.0)})
    evaluation = ModelEvaluation(m, ParameterSpace({"K_gl": [0.1, 0.2]}, fixed={"sigma_ou": 0.01}),
                                 objective=ev.fit_fc(np.corrcoef(rng.random((3, 20))), key="x", transient_ms=0.0),
                                 run_kwargs=kw, keep=["x"])
    doc = evaluation.reference()
    assert doc["model"] == "HopfModel" and doc["attrs"] == {"initial_state": {"x": 0.2}}
    again = rebuild(doc)
    assert again.identity == evaluation.identity
    a, b = (e.evaluate_chunk([(0, {"K_gl": 0.2}, 11)])[0] for e in (evaluation, again))
    assert a.status == b.status == "ok" and a.scalars == b.scalars
    np.testing.assert_array_equal(a.values["x"], b.values["x"])
    for bad, message in (({"model": "Model"}, "not a model class"), ({"model": "os"}, "not a model class"),
                         ({"attrs": {"rhs": 1}}, "not a setting"), ({"network": {"Bmat": 1}}, "unknown network"),
                         ({"objective": {"objective": "eval", "settings": {}}}, "unknown objective")):
        with pytest.raises(StudyFileError, match=message):
            rebuild({**doc, **bad})


_MPI_SCRIPT = '''
import ctypes, signal, sys
from brainsweep.explorer import ParameterSpace, Study
from brainsweep.mpi import is_root
libc = ctypes.CDLL(None)

def evaluate(p):
    if p["x"] == 1.0:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        libc.sleep(30)
    if p["x"] == 2.0:
        sys.exit(4)
    return {"y": p["x"] + 0.5}

res = Study(evaluate, ParameterSpace({"x": [0.0, 1.0, 2.0, 3.0]}), path=sys.argv[1], seed=1,
            timeout=0.5).run(progress=False)
if is_root():
    print(",".join(res.df["status"]))
'''


def test_under_mpi_a_stuck_run_times_out_and_sys_exit_fails_only_its_run(tmp_path):
    import shutil
    from pathlib import Path
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not found")
    (tmp_path / "s.py").write_text(_MPI_SCRIPT)
    t0 = time.perf_counter()
    out = subprocess.run([mpiexec, "-n", "2", sys.executable, str(tmp_path / "s.py"), str(tmp_path / "m.h5")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok,timeout,failed,ok"
    assert time.perf_counter() - t0 < 28.0  # the stuck run alone would sleep 30 s


class _ExitingEvaluator:
    """A user's own evaluator whose evaluate_chunk calls sys.exit for x == 2."""

    identity = "exiting-evaluator"

    def evaluate_chunk(self, tasks):
        from brainsweep.explorer.storage import RunRecord
        if any(p["x"] == 2.0 for _, p, _ in tasks):
            sys.exit(5)
        return [RunRecord(i, "ok", s, scalars={"y": p["x"]}) for i, p, s in tasks]


@pytest.mark.parametrize("jobs", [1, 2])
def test_sys_exit_escaping_a_custom_evaluator_fails_its_chunk_not_the_study(tmp_path, jobs):
    res = Study(_ExitingEvaluator(), ParameterSpace({"x": [1.0, 2.0, 3.0]}), path=tmp_path / "x.h5",
                seed=1).run(n_jobs=jobs, progress=False)
    # three runs, chunks of one run each (the first chunk is one run, then one per worker remains)
    assert res.df["status"].tolist() == ["ok", "failed", "ok"]
    assert res.df.loc[1, "message"] == "the evaluation called sys.exit(5); recorded as a failed run"
    assert res.df.loc[[0, 2], "y"].tolist() == [1.0, 3.0]


class _ExitingAtFirstEvaluator(_ExitingEvaluator):
    """As above, with the space's fixed values merged into its ``fixed`` by Study."""

    def __init__(self):
        self.fixed = {"offset": 0.0}

    def evaluate_chunk(self, tasks):
        from brainsweep.explorer.storage import RunRecord
        if any(p["x"] == 1.0 for _, p, _ in tasks):
            sys.exit(3)
        return [RunRecord(i, "ok", s, scalars={"y": p["x"] + self.fixed["offset"] + self.fixed["shift"]})
                for i, p, s in tasks]


def test_sys_exit_in_the_first_probed_run_of_an_optimiser_is_a_failed_run(tmp_path):
    """Strategies with objectives evaluate run 0 in-process first (the probe); a sys.exit there
    is a failed run too, and the space's fixed values reach a custom evaluator's ``fixed``."""
    from brainsweep.explorer import BayesOpt
    space = ParameterSpace({"x": [1.0, 2.0, 3.0]}, fixed={"shift": 10.0})
    ev = _ExitingAtFirstEvaluator()
    res = Study(ev, ParameterSpace(bounds={"x": (1.0, 3.0)}, fixed={"shift": 10.0}),
                BayesOpt(n_calls=4, n_initial=3, objective="y"), path=tmp_path / "b.h5",
                seed=2).run(progress=False)
    assert ev.fixed == {"offset": 0.0, "shift": 10.0} and space.fixed == {"shift": 10.0}
    assert len(res.df) == 4
    ok = res.df[res.df["status"] == "ok"]
    np.testing.assert_allclose(ok["y"], ok["x"] + 10.0)


def test_legacy_identities_are_those_older_brainsweep_recorded():
    """Format-1 files recorded these identities; a study resumes them by comparing with
    ``legacy_identity``. The model value was computed by brainsweep 7de0a15's ModelEvaluation."""
    from brainsweep import evaluation as ev
    from brainsweep.explorer.model_eval import ModelEvaluation
    from brainsweep.models import HopfModel

    assert FunctionEvaluator(_exits_on_two).legacy_identity == f"{__name__}._exits_on_two"
    m = HopfModel(Cmat=np.arange(9.0).reshape(3, 3) / 10, params={"a": -0.03})
    e = ModelEvaluation(m, ParameterSpace({"K_gl": [0.1]}), objective=ev.fit_fc(np.eye(3)),
                        run_kwargs={"duration": 100.0}, keep=["x"])
    old = "brainsweep.models.hopf.HopfModel[brainsweep.evaluation.objectives.FitFC]#0ef678909e6d3791"
    assert e.legacy_identity == old and e.identity != old
    changed = ModelEvaluation(m, ParameterSpace({"K_gl": [0.1]}), objective=ev.fit_fc(np.eye(3) * 0.5),
                              run_kwargs={"duration": 100.0}, keep=["x"])
    assert changed.legacy_identity == old and changed.identity != e.identity  # the target now counts
