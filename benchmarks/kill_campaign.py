"""Kill campaign: studies killed at random moments resume to the results of an uninterrupted run.

    python benchmarks/kill_campaign.py [--kills 120] [--mpi-kills 12] [--seed 1]

Each kill starts a study (grid, Evolution or BayesOpt of a plain function; in this process
forked, serial or with a pool of 2 workers, or under ``mpiexec -n 3``), kills it, reruns
the same study to completion and compares the final ``df`` (parameters, score, seed,
status, strategy tags) and every run's stored array with an uninterrupted serial run.

Kill moments: SIGKILL at a uniformly random time within an uninterrupted run's duration
(the first second included: creation happens there); SIGKILL just before the k-th HDF5
flush of the writing process (k random; that flush's changes are lost, as in a kill during
a write); SIGKILL just before the new file is renamed into place; and, for the pool,
SIGINT (Ctrl-C) to the whole process group at a random time.

Prints the counts per kind: kills, resumed identical, repairs reported by the resume,
file absent after the kill (killed before creation completed), failures.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from brainsweep.explorer import BayesOpt, Evolution, GridSearch, ParameterSpace, Study, load

STRATEGIES = ("grid", "evolution", "bayes")
EXECUTORS = ("serial", "pool")
DELAY = 0.004  # seconds per run, so that kills land between and during writes


def evaluate(params, seed):
    """A noisy quadratic bowl; returns one score and one per-run array."""
    time.sleep(DELAY)
    rng = np.random.default_rng(seed)
    x, y = params["x"], params["y"]
    return {"loss": (x - 0.3) ** 2 + (y + 0.2) ** 2 + 0.01 * rng.normal(),
            "trace": rng.normal(size=20).astype(np.float32)}


def make_study(path: str, strategy: str) -> Study:
    if strategy == "grid":
        space = ParameterSpace({"x": list(np.linspace(-1, 1, 8)), "y": list(np.linspace(-1, 1, 6))})
        strat = GridSearch(batch_size=12)
    elif strategy == "evolution":
        space = ParameterSpace(bounds={"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
        strat = Evolution(pop_init=10, pop=8, generations=3)
    else:
        space = ParameterSpace(bounds={"x": (-1.0, 1.0), "y": (-1.0, 1.0)})
        strat = BayesOpt(n_calls=8, n_initial=4, batch=2)
    return Study(evaluate, space, strat, path=path, seed=11)


def run_study(path: str, strategy: str, executor: str) -> None:
    n_jobs = 2 if executor == "pool" else 1
    make_study(path, strategy).run(n_jobs=n_jobs, executor="mpi" if executor == "mpi" else None,
                                   progress=False)


def _arm(kill_flush: int | None, kill_rename: bool) -> None:
    """In the study's process: SIGKILL itself before the k-th flush / before the rename."""
    import tables

    if kill_flush:
        real, count = tables.File.flush, [0]

        def flush(self, *a, **k):
            count[0] += 1
            if count[0] == kill_flush:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *a, **k)

        tables.File.flush = flush
    if kill_rename:
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if str(src).endswith(".h5") and ".creating-" in str(src):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst, *a, **k)

        os.replace = replace


def count_flushes(path: str, strategy: str) -> int:
    """Flushes of the writing process in an uninterrupted run (forked, serial)."""
    import tables

    real, count = tables.File.flush, [0]

    def flush(self, *a, **k):
        count[0] += 1
        return real(self, *a, **k)

    tables.File.flush = flush
    try:
        run_study(path, strategy, "serial")
    finally:
        tables.File.flush = real
    return count[0]


# -- processes ---------------------------------------------------------------------------------

def fork_study(path: str, strategy: str, executor: str, log: str, kill_flush=None, kill_rename=False) -> int:
    """Run the study in a forked child (its own session); return the child's pid."""
    with warnings.catch_warnings():  # fork() warns in a process with threads (e.g. BLAS's)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.setsid()
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            # the parent's sys.stdout/err may not write to fds 1 and 2 (pytest's capture)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            _arm(kill_flush, kill_rename)
            run_study(path, strategy, executor)
        except BaseException:  # noqa: BLE001 - reported through the exit code and the log
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def wait_pid(pid: int, timeout: float) -> int | None:
    """Exit status of ``pid`` (negative: killed by that signal), or None after ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    return None


def kill_group(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


MPI_SCRIPT = """
import os, sys
sys.path.insert(0, {folder!r})
import kill_campaign as kc
if os.environ.get("KILL_FLUSH") and os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK")) == "0":
    kc._arm(int(os.environ["KILL_FLUSH"]), False)  # rank 0 writes the file
kc.run_study(sys.argv[1], sys.argv[2], "mpi")
"""


def mpi_command(workdir: Path, path: str, strategy: str) -> list[str]:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    script = workdir / "mpi_study.py"
    if not script.exists():
        script.write_text(MPI_SCRIPT.format(folder=str(Path(__file__).resolve().parent)))
    return [mpiexec, "-n", "3", sys.executable, str(script), path, strategy]


def kill_mpi_job(proc, marker: str) -> None:
    """SIGKILL mpiexec and every rank (ranks may sit in their own process groups)."""
    kill_group(proc.pid)
    proc.wait()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    time.sleep(0.2)


# -- one kill ------------------------------------------------------------------------------------

def compare(path: str, reference) -> str:
    """'' if the study at ``path`` equals ``reference``, else what differs."""
    res = load(path)
    cols = ["x", "y", "loss", "seed", "status"] + [t for t in reference.tags]
    got, want = res.df, reference.df
    if list(got.index) != list(want.index):
        return f"runs {list(got.index)[:5]}... != {list(want.index)[:5]}... ({len(got)} vs {len(want)})"
    for c in cols:
        if got[c].tolist() != want[c].tolist():
            bad = [i for i, (a, b) in enumerate(zip(got[c], want[c])) if a != b]
            return f"column {c} differs in {len(bad)} runs (first: run {bad[0]})"
    a, b = res.arrays("trace"), reference.arrays("trace")
    if a.keys() != b.keys() or any(not np.array_equal(a[i], b[i]) for i in a):
        return "stored arrays differ"
    return ""


def one_kill(workdir: Path, n: int, strategy: str, executor: str, mode: str, reference, rng: random.Random,
             duration: float, n_flush: int) -> dict:
    """Start, kill, rerun to completion, compare. Returns a record of what happened."""
    path = str(workdir / f"k{n}_{strategy}_{executor}.h5")
    log = str(workdir / f"k{n}.log")
    out = {"strategy": strategy, "executor": executor, "mode": mode, "file_after_kill": False,
           "readable_after_kill": False, "repairs": 0, "error": ""}
    if executor == "mpi":
        env = dict(os.environ)
        if mode == "flush":
            env.update(KILL_FLUSH=str(rng.randint(1, n_flush)))
        proc = subprocess.Popen(mpi_command(workdir, path, strategy), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        if mode == "time":
            time.sleep(rng.uniform(0, duration))
        else:
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pass
        kill_mpi_job(proc, path)
    else:
        pid = fork_study(path, strategy, executor, log, kill_flush=rng.randint(1, n_flush) if mode == "flush"
                         else None, kill_rename=(mode == "rename"))
        if mode in ("time", "sigint"):
            time.sleep(rng.uniform(0, duration))
            kill_group(pid, signal.SIGINT if mode == "sigint" else signal.SIGKILL)
        status = wait_pid(pid, 30)
        if status is None:
            out["error"] = "the killed/interrupted study did not exit within 30 s"
        kill_group(pid)  # pool workers of the killed process
        if status is None:
            wait_pid(pid, 5)
    if os.path.exists(path):
        out["file_after_kill"] = True
        try:
            load(path)
            out["readable_after_kill"] = True
        except Exception:  # noqa: BLE001 - counted
            pass
    if out["error"]:
        return out
    # the rerun, to completion
    rerun_log = str(workdir / f"k{n}.rerun.log")
    if executor == "mpi":
        done = subprocess.run(mpi_command(workdir, path, strategy), capture_output=True, text=True, timeout=300)
        code, text = done.returncode, done.stdout + done.stderr
    else:
        pid = fork_study(path, strategy, executor, rerun_log)
        code = wait_pid(pid, 120)
        kill_group(pid)
        text = Path(rerun_log).read_text() if os.path.exists(rerun_log) else ""
    out["repairs"] = sum(text.count(w) for w in ("removed", "dropped", "undid", "finished an interrupted",
                                                 "marked the told", "creation was interrupted"))
    if code != 0:
        out["error"] = f"rerun exit {code}: {text.strip().splitlines()[-1] if text.strip() else ''}"
        return out
    out["error"] = compare(path, reference)
    return out


def references(workdir: Path, strategies=STRATEGIES) -> dict:
    """Uninterrupted serial run of each strategy: (Results, duration s, flushes)."""
    refs = {}
    for strategy in strategies:
        path = str(workdir / f"ref_{strategy}.h5")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 0
            try:
                n = count_flushes(path, strategy)
                Path(path + ".flushes").write_text(str(n))
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
                code = 1
            os._exit(code)
        if wait_pid(pid, 300) != 0:
            raise RuntimeError(f"the reference {strategy} study failed")
        refs[strategy] = (load(path), time.perf_counter() - t0, int(Path(path + ".flushes").read_text()))
    return refs


def make_plan(kills: int, mpi_kills: int, rng: random.Random, strategies=STRATEGIES) -> list[tuple]:
    """(strategy, executor, kill mode) of each kill: strategies and executors in turn."""
    plan = []
    for n in range(kills):
        strategy = strategies[n % len(strategies)]
        executor = EXECUTORS[(n // len(strategies)) % len(EXECUTORS)]
        modes = ["time", "time", "flush", "flush", "rename"] + (["sigint", "sigint"] if executor == "pool" else [])
        plan.append((strategy, executor, rng.choice(modes)))
    for n in range(mpi_kills):
        plan.append((strategies[n % len(strategies)], "mpi", rng.choice(["time", "flush"])))
    return plan


def campaign(workdir: Path, plan: list[tuple], seed: int = 1, progress=None) -> list[dict]:
    """Run every kill of ``plan`` (see :func:`make_plan`); return one record per kill."""
    rng = random.Random(seed)
    refs = references(workdir, sorted({strategy for strategy, _, _ in plan}))
    records = []
    for n, (strategy, executor, mode) in enumerate(plan):
        ref, duration, n_flush = refs[strategy]
        # MPI: three fresh interpreters import brainsweep first (several seconds)
        span = duration + (8.0 if executor == "mpi" else 0.0)
        rec = one_kill(workdir, n, strategy, executor, mode, ref, rng, span, n_flush)
        records.append(rec)
        if progress:
            progress(n, rec)
    return records


def summary(records: list[dict]) -> str:
    by = Counter((r["executor"], r["mode"]) for r in records)
    ok = Counter((r["executor"], r["mode"]) for r in records if not r["error"])
    lines = [f"{'executor':<8} {'kill':<7} {'kills':>5} {'identical':>9}"]
    for key in sorted(by):
        lines.append(f"{key[0]:<8} {key[1]:<7} {by[key]:>5} {ok[key]:>9}")
    n_ok = sum(1 for r in records if not r["error"])
    lines.append(f"total: {len(records)} kills, {n_ok} resumed to results identical to an uninterrupted run; "
                 f"{sum(1 for r in records if not r['file_after_kill'])} killed before the file existed, "
                 f"{sum(1 for r in records if r['file_after_kill'] and r['readable_after_kill'])} files readable "
                 f"right after the kill (of {sum(1 for r in records if r['file_after_kill'])}), "
                 f"{sum(1 for r in records if r['repairs'])} resumes reported a repair")
    by_strategy = Counter(r["strategy"] for r in records)
    lines.append("per strategy: " + ", ".join(f"{s} {by_strategy[s]}" for s in sorted(by_strategy)))
    for r in records:
        if r["error"]:
            lines.append(f"FAILED {r['strategy']}/{r['executor']}/{r['mode']}: {r['error']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=120, help="serial and pool kills (default 120)")
    ap.add_argument("--mpi-kills", type=int, default=12, help="kills of mpiexec -n 3 jobs (default 12)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.time()
    plan = make_plan(args.kills, args.mpi_kills, random.Random(args.seed))
    with tempfile.TemporaryDirectory() as tmp:
        records = campaign(Path(tmp), plan, args.seed,
                           progress=lambda n, r: print(f"{n + 1:4d} {r['strategy']:<9} {r['executor']:<6} "
                                                       f"{r['mode']:<6} {'ok' if not r['error'] else r['error']}",
                                                       flush=True))
    print(summary(records))
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
