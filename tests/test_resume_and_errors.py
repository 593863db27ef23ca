"""Resume after SIGKILL, refusal to mix studies, and bad input."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import tables
from pypet import Trajectory

from brainsweep.explorer import GridSearch, ParameterSpace, Study, StudyFileError, load

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from brainsweep.explorer import ParameterSpace, Study, GridSearch

    path, log, n_jobs, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])

    def slow(params, seed):
        time.sleep(delay)
        with open(log, "a") as f:
            f.write("%d\\n" % params["i"])
        rng = np.random.default_rng(seed)
        return {"v": params["i"] * 0.5 + rng.normal(), "arr": rng.normal(size=50)}

    space = ParameterSpace({"i": list(range(120))})
    Study(slow, space, GridSearch(), path=path, seed=5).run(n_jobs=n_jobs, progress=False)
""")


def _start(tmp_path, path, log, n_jobs, delay):
    script = tmp_path / "study_script.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(path), str(log), str(n_jobs), str(delay)],
                            start_new_session=True)


def _count(log):
    return len(log.read_text().split()) if log.exists() else 0


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_sigkill_then_rerun_resumes_without_loss_or_duplicates(tmp_path, n_jobs):
    path, log = tmp_path / "kill.h5", tmp_path / "evaluated.log"
    proc = _start(tmp_path, path, log, n_jobs, 0.03)
    deadline = time.time() + 60
    while _count(log) < 50 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job, pool workers included
    proc.wait()
    # the file is readable right after the kill, by brainsweep and by pypet
    partial = load(path)
    n_before = len(partial.df)
    assert 0 < n_before < 120
    traj = Trajectory(filename=str(path))
    traj.f_load(index=-1, load_parameters=2, load_results=1)
    assert len(traj) == 120
    evaluated_first = _count(log)

    proc = _start(tmp_path, path, log, n_jobs, 0.0)
    assert proc.wait(timeout=120) == 0
    res = load(path)
    assert len(res.df) == 120 and res.df.index.is_unique and (res.df["status"] == "ok").all()
    # finished runs were kept, not recomputed: at most the in-flight ones ran twice
    recomputed = _count(log) - 120
    assert recomputed <= evaluated_first - n_before
    pd.testing.assert_frame_equal(res.df.loc[partial.df.index, ["v", "seed"]], partial.df[["v", "seed"]])

    # identical to an uninterrupted run
    clean = tmp_path / "clean.h5"
    proc = _start(tmp_path, clean, tmp_path / "clean.log", 1, 0.0)
    assert proc.wait(timeout=120) == 0
    ref = load(clean)
    pd.testing.assert_frame_equal(res.df[["i", "v", "seed", "status"]], ref.df[["i", "v", "seed", "status"]])
    for i in (0, 60, 119):
        np.testing.assert_array_equal(res.run(i)["arr"], ref.run(i)["arr"])
    with tables.open_file(path) as h5:  # small same-shaped arrays: one row per run, no run groups
        assert h5.get_node(f"/{res.trajectory}/results/runs")._v_nchildren == 0
        rows = h5.get_node(f"/{res.trajectory}/results/arrays/arr/idx").read()
    assert sorted(rows) == list(range(120))  # no orphan rows, no duplicates


def _f(params):
    return {"v": params["x"]}


def test_a_different_study_at_the_same_path_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    Study(_f, ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False)
    with pytest.raises(StudyFileError, match="holds a different study.*space"):
        Study(_f, ParameterSpace({"x": [1.0, 3.0]}), path=path).run(progress=False)

    def other(params):
        return {"v": 0.0}

    with pytest.raises(StudyFileError, match="evaluate"):
        Study(other, ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False)
    assert load(path).df["v"].tolist() == [1.0, 2.0]  # untouched
    res = Study(_f, ParameterSpace({"x": [1.0, 3.0]}), path=path, overwrite=True).run(progress=False)
    assert res.df["v"].tolist() == [1.0, 3.0]
    with pytest.raises(StudyFileError, match="seed"):
        Study(_f, ParameterSpace({"x": [1.0, 3.0]}), path=path, seed=999).run(progress=False)


def test_foreign_and_corrupt_files_are_refused(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("just text")
    with pytest.raises(StudyFileError, match="not an HDF5 file"):
        load(text)
    with pytest.raises(StudyFileError, match="not an HDF5 file"):
        Study(_f, ParameterSpace({"x": [1.0]}), path=text).run(progress=False)
    assert text.read_text() == "just text"  # nothing lost
    foreign = tmp_path / "foreign.h5"
    with tables.open_file(foreign, "w") as h5:
        h5.create_array("/", "data", np.arange(3))
    with pytest.raises(StudyFileError, match="not a brainsweep study.*data"):
        Study(_f, ParameterSpace({"x": [1.0]}), path=foreign).run(progress=False)
    good = tmp_path / "good.h5"
    Study(_f, ParameterSpace({"x": [1.0]}), path=good).run(progress=False)
    data = bytearray(good.read_bytes())
    data[: len(data) // 2] = b"\0" * (len(data) // 2)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(bytes(data))
    with pytest.raises(StudyFileError):
        load(broken)
    with pytest.raises(StudyFileError, match="no such file"):
        load(tmp_path / "missing.h5")


def test_bad_spaces_are_rejected_with_the_parameter_named():
    with pytest.raises(ValueError, match="'x'.*empty"):
        ParameterSpace({"x": []})
    with pytest.raises(ValueError, match="'x'.*not a number"):
        ParameterSpace({"x": [1.0, {"a": 1}]})
    with pytest.raises(ValueError, match="'x'.*NaN"):
        ParameterSpace({"x": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="'x'.*mix types"):
        ParameterSpace({"x": [1.0, "a"]})
    with pytest.raises(ValueError, match="'x'.*expected a list"):
        ParameterSpace({"x": 3.0})
    with pytest.raises(ValueError, match="'x'.*low bound 2.0 must be smaller"):
        ParameterSpace(bounds={"x": (2.0, 1.0)})
    with pytest.raises(ValueError, match="log scale needs a positive low"):
        ParameterSpace(bounds={"x": (0.0, 1.0, "log")})
    with pytest.raises(ValueError, match="more than once"):
        ParameterSpace({"x": [1.0]}, fixed={"x": 2.0})
    with pytest.raises(ValueError, match="GridSearch needs a list of values"):
        Study(_f, ParameterSpace(bounds={"x": (0.0, 1.0)}), GridSearch())
    with pytest.raises(ValueError, match="unknown parameter 'K_gll'.*did you mean 'K_gl'"):
        ParameterSpace({"K_gll": [1.0]}).validate(["K_gl", "sigma_ou"])


def test_failures_are_recorded_and_the_study_goes_on(tmp_path):
    def flaky(params):
        x = params["x"]
        if x == 1:
            raise RuntimeError("solver blew up")
        if x == 2:
            return {"v": float("nan")}
        if x == 3:
            return {"v": params["sigma"]}  # misspelled / unknown parameter
        return {"v": float(x)}

    res = Study(flaky, ParameterSpace({"x": [0, 1, 2, 3, 4]}, fixed={"sigma_ou": 0.1}),
                path=tmp_path / "f.h5").run(n_jobs=2, progress=False)
    df = res.df
    assert df["status"].tolist() == ["ok", "failed", "diverged", "failed", "ok"]
    assert df.loc[1, "message"] == "RuntimeError: solver blew up"
    assert "solver blew up" in res.run(1)["error"] and "Traceback" in res.run(1)["error"]
    assert "non-finite" in df.loc[2, "message"] and np.isnan(df.loc[2, "v"])
    assert "'sigma' is not explored or fixed" in df.loc[3, "message"]
    assert "did you mean 'sigma_ou'" in df.loc[3, "message"]
    assert df.loc[4, "v"] == 4.0


def test_per_run_time_limit_records_timeouts(tmp_path):
    def sleepy(params):
        time.sleep(params["t"])
        return {"v": 1.0}

    res = Study(sleepy, ParameterSpace({"t": [0.0, 2.0, 0.0]}), path=tmp_path / "t.h5",
                timeout=0.3).run(progress=False)
    assert res.df["status"].tolist() == ["ok", "timeout", "ok"]
    assert res.df.loc[1, "runtime"] < 1.5
    assert "time limit of 0.3 s" in res.df.loc[1, "message"]


def test_a_worker_process_that_dies_fails_only_its_run(tmp_path):
    def deadly(params):
        if params["x"] == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # as an OOM kill or a segfault would
        return {"v": params["x"] * 2.0}

    res = Study(deadly, ParameterSpace({"x": list(range(8))}), path=tmp_path / "d.h5").run(
        n_jobs=2, progress=False)
    df = res.df
    assert len(df) == 8
    assert df.loc[3, "status"] == "failed" and "worker process died" in df.loc[3, "message"]
    ok = df.drop(index=3)
    assert (ok["status"] == "ok").all() and (ok["v"] == ok["x"] * 2.0).all()


def test_lambdas_and_closures_run_in_a_process_pool(tmp_path):
    offset = 10.0
    res = Study(lambda p: {"v": p["x"] + offset}, ParameterSpace({"x": [1.0, 2.0, 3.0]}),
                path=tmp_path / "l.h5").run(n_jobs=2, progress=False)
    assert res.df["v"].tolist() == [11.0, 12.0, 13.0]


def test_a_second_writer_is_refused_while_readers_are_welcome(tmp_path):
    from brainsweep.explorer.storage import StudyFile

    path = tmp_path / "busy.h5"
    Study(_f, ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False)
    writer = StudyFile.open(str(path), "a")  # as a running study holds it
    try:
        with pytest.raises(StudyFileError, match="being written by another process"):
            Study(_f, ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False)
        with pytest.raises(StudyFileError, match="being written by another process"):
            Study(_f, ParameterSpace({"x": [5.0]}), path=path, overwrite=True).run(progress=False)
        # another process reads it while it is open for writing
        code = f"from brainsweep.explorer import load; print(load({str(path)!r}).df['v'].tolist())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "[1.0, 2.0]", out.stderr
    finally:
        writer.close()
    assert not (tmp_path / "busy.h5.lock").exists()
    assert Study(_f, ParameterSpace({"x": [1.0, 2.0]}), path=path).run(progress=False).df["v"].tolist() == [1.0, 2.0]


def test_study_arguments_and_results_queries_are_checked(tmp_path):
    from brainsweep.explorer.reproduce import reproduce

    space = ParameterSpace({"x": [1.0, 2.0]})
    with pytest.raises(TypeError, match="space: expected a ParameterSpace, got dict"):
        Study(_f, {"x": [1.0]})
    with pytest.raises(TypeError, match="strategy: expected a Strategy.*got str"):
        Study(_f, space, "grid")
    with pytest.raises(ValueError, match="timeout: expected a positive number of seconds, got -1"):
        Study(_f, space, timeout=-1)
    with pytest.raises(ValueError, match="seed: expected a non-negative integer, got 1.5"):
        Study(_f, space, seed=1.5)
    with pytest.raises(TypeError, match="evaluate: expected a callable, got int"):
        Study(3, space)
    with pytest.raises(ValueError, match="objective, run_kwargs and keep are for studies of a brainsweep model"):
        Study(_f, space, objective=_f)
    with pytest.raises(ValueError, match="n_jobs: expected a positive integer, got 0"):
        Study(_f, space, path=tmp_path / "j.h5").run(n_jobs=0, progress=False)
    with pytest.raises(ValueError, match="executor: expected None, 'serial', 'pool', 'mpi'"):
        Study(_f, space, path=tmp_path / "j.h5").run(executor="threads", progress=False)

    path = tmp_path / "q.h5"
    res = Study(_f, space, path=path).run(progress=False)
    with pytest.raises(KeyError, match="run 7 is not stored.*2 runs, indices 0..1"):
        res.run(7)
    with pytest.raises(KeyError, match="best: no score 'fitness' \\(scores: \\['v'\\]\\)"):
        res.best(key="fitness")
    with pytest.raises(KeyError, match="no column 'z'"):
        res.plot_grid("x", "x", "z")
    with pytest.raises(KeyError, match="run 9 is not stored"):
        reproduce(path, 9)
    lam = Study(lambda p: {"v": 1.0}, space, path=tmp_path / "lam.h5").run(progress=False)
    with pytest.raises(StudyFileError, match="could not be pickled.*lambda or closure"):
        reproduce(lam.path, 0)
