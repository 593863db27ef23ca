"""Studies killed at random moments (also during writes and during creation) resume to
results identical to an uninterrupted run; two processes starting studies on one path
never both write and never delete a study. The larger campaign, with counts, is
``benchmarks/kill_campaign.py``."""

import importlib.util
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from brainsweep.explorer import load

_spec = importlib.util.spec_from_file_location(
    "kill_campaign", Path(__file__).resolve().parents[1] / "benchmarks" / "kill_campaign.py")
kc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kc)

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


def test_kills_at_random_moments_resume_to_identical_results(tmp_path):
    """12 kills of grid and evolution studies (serial and a pool of 2; SIGKILL at random
    times from the first instant, before a random HDF5 flush, before the new file's rename;
    Ctrl-C of the pool) and 2 of a Bayesian optimisation."""
    rng = random.Random(20261201)
    plan = kc.make_plan(12, 0, rng, strategies=("grid", "evolution"))
    plan[0] = ("grid", "serial", "rename")           # creation's last step
    plan[1] = ("evolution", "serial", "flush")
    plan[2] = ("grid", "pool", "sigint")
    plan[3] = ("evolution", "pool", "time")
    plan += [("bayes", "serial", "flush"), ("bayes", "pool", "time")]
    records = kc.campaign(tmp_path, plan, seed=7)
    failures = [r for r in records if r["error"]]
    assert not failures, kc.summary(records)
    assert len(records) == 14
    assert {r["mode"] for r in records} >= {"time", "flush", "rename", "sigint"}
    # the kills hit the file at different stages: before it existed and after
    assert any(not r["file_after_kill"] for r in records) and any(r["file_after_kill"] for r in records)
    assert all(r["readable_after_kill"] for r in records if r["file_after_kill"])


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")
def test_an_mpi_job_killed_during_a_write_resumes_to_identical_results(tmp_path):
    rng = random.Random(3)
    refs = kc.references(tmp_path, ["grid"])
    ref, duration, n_flush = refs["grid"]
    # a flush of rank 0 in the second half of the study: during the runs' writes
    rec = kc.one_kill(tmp_path, 0, "grid", "mpi", "flush", ref, _Fixed(n_flush * 3 // 4), duration, n_flush)
    assert rec["error"] == "", rec
    assert rec["file_after_kill"] and rec["readable_after_kill"]


class _Fixed(random.Random):
    """A generator whose randint always gives one value (a chosen flush)."""

    def __init__(self, value):
        super().__init__(0)
        self.value = value

    def randint(self, a, b):
        return self.value


def _wait(pid, timeout=120):
    status = kc.wait_pid(pid, timeout)
    kc.kill_group(pid)
    return status


def test_two_processes_starting_studies_on_one_path(tmp_path):
    """A second study on a path another process is writing is refused with the holder's
    pid; started after the first finished, a different study is refused and the first's
    file is untouched."""
    path = str(tmp_path / "shared.h5")
    slow = kc.DELAY
    kc.DELAY = 0.05  # forked children inherit it: the first study takes ~2.5 s
    try:
        first = kc.fork_study(path, "grid", "serial", str(tmp_path / "first.log"))
        deadline = time.time() + 60
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.01)
        second = kc.fork_study(path, "evolution", "serial", str(tmp_path / "second.log"))
        assert _wait(second) == 1
        text = (tmp_path / "second.log").read_text()
        assert f"being written by another process (pid {first} on host" in text
        same = kc.fork_study(path, "grid", "pool", str(tmp_path / "same.log"))  # the same study, too
        assert _wait(same) == 1 and "being written by another process" in (tmp_path / "same.log").read_text()
        assert _wait(first) == 0
    finally:
        kc.DELAY = slow
    third = kc.fork_study(path, "evolution", "serial", str(tmp_path / "third.log"))
    assert _wait(third) == 1
    assert "holds a different study" in (tmp_path / "third.log").read_text()
    res = load(path)
    assert len(res.df) == 48 and (res.df["status"] == "ok").all()


def test_simultaneous_starts_leave_one_writer(tmp_path):
    """Two processes started at the same instant on a new path: exactly one creates and
    runs the study, the other is refused; the file holds the winner's complete study."""
    path = str(tmp_path / "race.h5")
    a = kc.fork_study(path, "grid", "serial", str(tmp_path / "a.log"))
    b = kc.fork_study(path, "evolution", "serial", str(tmp_path / "b.log"))
    codes = sorted([_wait(a), _wait(b)])
    assert codes == [0, 1], codes
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "being written by another process" in logs
    res = load(path)
    assert (res.df["status"] == "ok").all() and len(res.df) in (48, 26)
    assert not any(p.name.startswith(".race.h5.creating") for p in tmp_path.iterdir())


def test_sigint_of_a_pool_study_exits_promptly(tmp_path):
    path = str(tmp_path / "int.h5")
    pid = kc.fork_study(path, "grid", "pool", str(tmp_path / "int.log"))
    deadline = time.time() + 60
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    kc.kill_group(pid, signal.SIGINT)
    assert kc.wait_pid(pid, 20) is not None, "the study did not stop on Ctrl-C"
    kc.kill_group(pid)
