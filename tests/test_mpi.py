"""Studies under ``mpiexec``: same results as serial/pool, worker failures recorded,
a SIGKILLed job resumed by running the same command again."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

from brainsweep.explorer import ParameterSpace, Study, load

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")

SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from brainsweep.explorer import ParameterSpace, Study
    from brainsweep.mpi import is_root

    path, delay, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    executor = sys.argv[4] if len(sys.argv) > 4 else None
    n_jobs = int(sys.argv[5]) if len(sys.argv) > 5 else 1

    def evaluate(params, seed):
        if delay:
            time.sleep(delay)
        if log != "-":
            with open(log, "a") as f:
                f.write("%d\\n" % params["i"])
        if params["i"] == 7:
            raise ValueError("bad point 7")
        rng = np.random.default_rng(seed)
        return {"v": params["i"] + rng.normal(), "noise": rng.normal(size=(3, 4)).astype(np.float32),
                "rank": os.getpid()}

    space = ParameterSpace({"i": list(range(40)), "c": [0.5, 1.5]})
    res = Study(evaluate, space, path=path, seed=2024).run(n_jobs=n_jobs, executor=executor, progress=False)
    # every rank gets the results; rank-0-only output goes under is_root()
    assert len(res.df) == 80
    if is_root():
        print("STORED", len(res.df), res.df["worker"].nunique())
""")

COLS = ["i", "c", "status", "seed", "v", "message"]


def _script(tmp_path):
    p = tmp_path / "mpi_study.py"
    p.write_text(SCRIPT)
    return str(p)


def _mpirun(tmp_path, n, path, delay=0.0, log="-", timeout=120, **popen):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, _script(tmp_path), str(path), str(delay), str(log)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **popen)


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    path = tmp / "serial.h5"
    out = subprocess.run([sys.executable, _script(tmp), str(path), "0", "-", "serial"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return load(path)


def _assert_same(res, ref):
    pd.testing.assert_frame_equal(res.df[COLS], ref.df[COLS])
    for i in (0, 7, 41, 79):
        a, b = res.run(i), ref.run(i)
        assert a.keys() == b.keys()
        if "noise" in a:
            np.testing.assert_array_equal(a["noise"], b["noise"])


def _kill_job(proc, tmp_path):
    """SIGKILL mpiexec and every rank, as a scheduler does (ranks may sit in their own
    process groups, so they are also found by their command line)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    marker = str(tmp_path).encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker in f.read():
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    time.sleep(0.2)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_mpi_results_equal_serial_results(tmp_path, serial_reference, n):
    path = tmp_path / f"mpi{n}.h5"
    out = _mpirun(tmp_path, n, path)
    assert out.returncode == 0, out.stderr
    assert "STORED 80" in out.stdout and out.stdout.count("STORED") == 1  # rank 0 prints alone
    res = load(path)
    _assert_same(res, serial_reference)
    assert res.df["worker"].nunique() == n - 1  # rank 0 only coordinates
    # the worker's exception is a failed run with its traceback, and the study went on
    assert res.df.loc[14, "status"] == "failed" and "bad point 7" in res.run(14)["error"]
    assert (res.df.drop(index=[14, 15])["status"] == "ok").all()


def test_pool_results_equal_serial_results(tmp_path, serial_reference):
    path = tmp_path / "pool.h5"
    out = subprocess.run([sys.executable, _script(tmp_path), str(path), "0", "-", "pool", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    _assert_same(load(path), serial_reference)


def test_sigkill_of_the_whole_mpi_job_then_resume(tmp_path, serial_reference):
    path, log = tmp_path / "killed.h5", tmp_path / "done.log"
    cmd = [MPIEXEC, "-n", "3", sys.executable, _script(tmp_path), str(path), "0.05", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().split()) >= 30:
            break
        time.sleep(0.05)
    _kill_job(proc, tmp_path)

    partial = load(path)  # readable right after the kill
    assert 0 < len(partial.df) < 80
    with tables.open_file(path) as h5:
        from brainsweep.explorer.storage import bookkeeping
        assert bookkeeping(h5).batches.nrows == 1
    out = _mpirun(tmp_path, 3, path)
    assert out.returncode == 0, out.stderr
    res = load(path)
    assert res.df.index.is_unique
    _assert_same(res, serial_reference)
    # stored runs were kept as they were
    pd.testing.assert_frame_equal(res.df.loc[partial.df.index, ["v", "worker"]], partial.df[["v", "worker"]])


def test_explicit_mpi_executor_needs_two_ranks(tmp_path):
    with pytest.raises(ValueError, match="at least 2 MPI ranks"):
        Study(lambda p: {"v": 1.0}, ParameterSpace({"x": [1.0]}), path=tmp_path / "x.h5").run(executor="mpi")


OPT_SCRIPT = textwrap.dedent("""
    import sys, time
    from brainsweep.explorer import BayesOpt, Evolution, ParameterSpace, Study

    path, which, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    executor = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "auto" else None
    n_jobs = int(sys.argv[5]) if len(sys.argv) > 5 else 1

    def circle(params):
        time.sleep(delay)
        if delay:
            with open(path + ".log", "a") as f:
                f.write("x\\n")
        return {"fitness": abs(params["x"] ** 2 + params["y"] ** 2 - 1.0)}

    space = ParameterSpace(bounds={"x": (-2.0, 2.0), "y": (-2.0, 2.0)})
    if which == "evo":
        strategy = Evolution(weights=(-1.0,), pop_init=24, pop=12, generations=5)
    else:
        strategy = BayesOpt(n_calls=16, n_initial=8, base_estimator="RF", acq_func="EI", batch=4)
    Study(circle, space, strategy, path=path, seed=77).run(n_jobs=n_jobs, executor=executor, progress=False)
""")

OPT_COLS = ["x", "y", "status", "seed", "fitness"]


def _opt(tmp_path, path, which, delay=0.0, executor="auto", n_jobs=1, mpi=0, **popen):
    script = tmp_path / "opt_study.py"
    script.write_text(OPT_SCRIPT)
    cmd = [sys.executable, str(script), str(path), which, str(delay), executor, str(n_jobs)]
    if mpi:
        cmd = [MPIEXEC, "-n", str(mpi)] + cmd
    return cmd


@pytest.mark.parametrize("which,tag", [("evo", "generation"), ("bayes", "iteration")])
def test_optimisers_give_identical_studies_serially_in_a_pool_and_on_mpi(tmp_path, which, tag):
    frames = {}
    for label, kw in {"serial": dict(executor="serial"), "pool": dict(executor="pool", n_jobs=2),
                      "mpi3": dict(mpi=3)}.items():
        path = tmp_path / f"{which}_{label}.h5"
        out = subprocess.run(_opt(tmp_path, path, which, **kw), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        frames[label] = load(path).df
    ref = frames["serial"]
    assert len(ref) == (24 + 4 * 12 if which == "evo" else 16)
    for label in ("pool", "mpi3"):
        pd.testing.assert_frame_equal(frames[label][OPT_COLS + [tag]], ref[OPT_COLS + [tag]], obj=label)


@pytest.mark.parametrize("which", ["evo", "bayes"])
def test_optimiser_killed_mid_study_resumes_to_the_same_result(tmp_path, which):
    path = tmp_path / f"{which}_killed.h5"
    proc = subprocess.Popen(_opt(tmp_path, path, which, delay=0.08, mpi=3),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = 30 if which == "evo" else 10
    log = Path(str(path) + ".log")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().split()) >= target:
            break
        time.sleep(0.05)
    _kill_job(proc, tmp_path)
    partial = load(path)
    n_partial = len(partial.df)
    assert 0 < n_partial < (72 if which == "evo" else 16)
    out = subprocess.run(_opt(tmp_path, path, which, mpi=3), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = load(path).df
    clean_path = tmp_path / f"{which}_clean.h5"
    out = subprocess.run(_opt(tmp_path, clean_path, which, executor="serial"), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    pd.testing.assert_frame_equal(resumed[OPT_COLS], load(clean_path).df[OPT_COLS])
