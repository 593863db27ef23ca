"""A YAML gradient study of a model (per-node a, b of a 3-node Jansen-Rit network, 4 starts; Adam,
and L-BFGS-B): SIGKILLed in the middle of a write it resumes to exactly the iterates of an uninterrupted run
(params, loss, gradient and its norm per start and step), without recomputing what was stored;
under ``mpiexec -n 3`` its iterates equal the serial run's, the starts evaluated on both workers."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from brainsweep.explorer import gradient_history, load

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")

STUDY = """\
path: fit.h5
seed: 8
model: {name: JansenRitModel, params: {mu: 0.22}}
connectome: {name: net3}
integration: {duration: 400, dt: 0.1, sampling_dt: 1, integrator: heun, initial_state: {y1: 5.0, y2: 5.0}}
space:
  bounds: {a: [0.05, 0.12], b: [0.03, 0.08]}
  per_node: [a, b]
strategy: {gradient: {optimizer: adam, lr: 0.003, steps: 4, starts: 4, start: lhs}}
objectives:
  - spectrum_correlation: {target: {synthetic: {a: 0.08, b: 0.05}, seed: 1}, nperseg: 128, transient_ms: 100}
"""

#: runs the study of argv[1] (executor argv[2]), counting rank 0's HDF5 flushes of the study file
#: itself (not of the file being created): KILL_FLUSH=k: SIGKILL just before the k-th (its changes
#: are lost, as in a kill during a write); COUNT_FLUSH=file: the number of flushes is written there
SCRIPT = textwrap.dedent("""
    import atexit, os, signal, sys
    import tables
    from brainsweep.studyfile import load_study

    rank = os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    kill_at = int(os.environ.get("KILL_FLUSH", "0")) if rank == "0" else 0
    real, count = tables.File.flush, [0]

    def flush(self, *a, **k):
        if os.path.basename(self.filename) == "fit.h5":
            count[0] += 1
            if count[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(self, *a, **k)

    tables.File.flush = flush
    if os.environ.get("COUNT_FLUSH"):
        atexit.register(lambda: open(os.environ["COUNT_FLUSH"], "w").write(str(count[0])))
    load_study(sys.argv[1]).run(executor=sys.argv[2], progress=False)
""")

WEIGHTS = np.array([[0.0, 1.0, 0.5], [0.3, 0.0, 1.0], [1.0, 0.2, 0.0]])
NAMES = [f"{p}__{i}" for p in "ab" for i in range(3)]
COLS = NAMES + ["grad__" + n for n in NAMES] + ["loss", "grad_norm", "start", "step", "status", "seed"]


def _folder(path: Path, optimizer: str = "adam, lr: 0.003") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "net3").mkdir(exist_ok=True)
    np.savetxt(path / "net3" / "weights.txt", WEIGHTS)
    np.savetxt(path / "net3" / "tract_lengths.txt", 30.0 * WEIGHTS)
    (path / "study.yaml").write_text(STUDY.replace("adam, lr: 0.003", optimizer))
    (path / "run.py").write_text(SCRIPT)
    return path


def _run(folder: Path, executor="serial", mpi=0, **env):
    cmd = [sys.executable, str(folder / "run.py"), str(folder / "study.yaml"), executor]
    if mpi:
        cmd = [MPIEXEC, "-n", str(mpi)] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted serial study: (its iterates, number of HDF5 flushes it made)."""
    folder = _folder(tmp_path_factory.mktemp("ref"))
    proc = _run(folder, COUNT_FLUSH=str(folder / "flushes"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    h = gradient_history(load(folder / "fit.h5"))
    assert len(h) == 16 and (h["status"] == "ok").all() and sorted(set(h["start"])) == [0, 1, 2, 3]
    return h, int((folder / "flushes").read_text())


@pytest.mark.parametrize("when", [0.5, 0.8])
def test_sigkill_mid_study_resumes_to_the_iterates_of_an_uninterrupted_run(tmp_path, reference, when):
    want, n_flush = reference
    folder = _folder(tmp_path)
    proc = _run(folder, KILL_FLUSH=str(max(2, int(n_flush * when))))
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-2000:])
    cut = load(folder / "fit.h5").df
    assert 0 < len(cut) < len(want)
    proc = _run(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = gradient_history(load(folder / "fit.h5"))
    assert got[COLS].equals(want[COLS]), (got[COLS], want[COLS])
    # the runs stored before the kill were kept, not evaluated again
    ok = cut.index[cut["status"] == "ok"]
    np.testing.assert_array_equal(got.loc[ok, "finished"], cut.loc[ok, "finished"])


def test_lbfgsb_killed_mid_study_resumes_to_the_same_iterates(tmp_path):
    """L-BFGS-B's iterates come from replaying the stored evaluations through scipy: after a kill
    the replay continues exactly where the uninterrupted run went."""
    ref = _folder(tmp_path / "ref", "lbfgsb")
    proc = _run(ref, COUNT_FLUSH=str(ref / "flushes"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = gradient_history(load(ref / "fit.h5"))
    assert len(want) >= 8 and (want["status"] == "ok").all()
    folder = _folder(tmp_path / "cut", "lbfgsb")
    proc = _run(folder, KILL_FLUSH=str(int((ref / "flushes").read_text()) // 2))
    assert proc.returncode == -9 and 0 < len(load(folder / "fit.h5").df) < len(want)
    assert _run(folder).returncode == 0
    got = gradient_history(load(folder / "fit.h5"))
    assert got[COLS].equals(want[COLS]), (got[COLS], want[COLS])


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")
def test_under_mpiexec_the_iterates_equal_the_serial_run_and_starts_spread_over_ranks(tmp_path, reference):
    want, _ = reference
    folder = _folder(tmp_path)
    proc = _run(folder, executor="mpi", mpi=3)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = load(folder / "fit.h5")
    got = gradient_history(res)
    assert got[COLS].equals(want[COLS]), (got[COLS], want[COLS])
    # rank 0 coordinates (it evaluates run 0 itself, the check of the first run before the file
    # is made); ranks 1 and 2 evaluate all other runs, each step's starts spread over both
    rest = got.drop(index=0)
    assert rest["worker"].nunique() == 2 and got.loc[0, "worker"] not in set(rest["worker"])
    assert (rest.groupby("step")["worker"].nunique() == 2).all()
