"""The MPI coordinator hands out work breadth first: a batch smaller than the ranks' prefetch
room (BayesOpt's 2 runs, a CMA-ES generation) is spread over the ranks, not queued on one."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install mpich)")

SCRIPT = textwrap.dedent("""
    import sys, time
    from brainsweep.explorer import ParameterSpace, Study
    from brainsweep.mpi import is_root

    def evaluate(params):
        time.sleep(0.3)
        return {"v": params["i"]}

    res = Study(evaluate, ParameterSpace({"i": [0, 1]}), path=sys.argv[1], seed=1).run(progress=False)
    if is_root():
        print("WORKERS", res.df["worker"].nunique(), sorted(res.df["worker"]))
""")


def test_two_runs_go_to_two_ranks(tmp_path):
    script = tmp_path / "two.py"
    script.write_text(SCRIPT)
    out = subprocess.run([MPIEXEC, "-n", "3", sys.executable, str(script), str(tmp_path / "two.h5")],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WORKERS"))
    assert line.split()[1] == "2", line
