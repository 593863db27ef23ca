"""A study: a parameter space, a strategy, an evaluation and a file, driven by one loop.

::

    study = Study(evaluate, space, GridSearch(), path="circle.h5")
    study.run(n_jobs=2)

The loop asks the strategy for a batch, registers its runs in the trajectory,
evaluates the runs not yet stored on the executor, stores each finished run,
tells the strategy the outcomes and stores its state. Running the same study
again on an existing file resumes it: stored runs are kept and not recomputed.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
import warnings
from datetime import datetime, timezone

import numpy as np

from .executors import evaluate_guarded, make_executor
from .runner import FunctionEvaluator, run_seed
from .space import ParameterSpace
from ._filelock import WriterLock
from .storage import RESERVED, TAG_NAMES, StudyFile, StudyFileError, UntrustedStateError, _take_lock
from .strategy import GridSearch, Outcome, Strategy

__all__ = ["Study"]


class Study:
    """Bind an evaluation, a parameter space, a strategy and a study file.

    Parameters
    ----------
    evaluate : callable or Model
        ``evaluate(params) -> dict`` (or ``evaluate(params, seed=...)``): scalar
        values become scores (one table row per run), arrays, strings, DataFrames
        and dicts are stored under the run's node. A brainsweep model may be given
        instead, with ``objective`` (see :class:`~brainsweep.explorer.ModelEvaluation`).
    space : ParameterSpace
        A space with ``per_node`` parameters is bound to the model's nodes here
        (:meth:`ParameterSpace.bind`); ``study.space`` is the bound space, the one stored.
        Each run passes the model one array per per-node parameter (exact gradients with
        GradientDescent; any other strategy runs the model with those arrays).
    strategy : Strategy, default GridSearch()
    path : str
        The HDF5 file. If it holds the same study, running resumes it (after checking the
        file's consistency and repairing what an interrupted write left, with a warning).
        A new file appears under ``path`` only once it is a complete study. One process
        writes a study at a time: another is refused with the writer's host and pid.
        Parameter names must not be the runs table's columns (``idx``, ``status``,
        ``seed``, ``runtime``, ``finished``, ``worker``, ``message``) or strategy tags
        (``batch``, ``generation``, ``iteration``).
    seed : int, optional
        Study seed; run ``i`` gets seed ``run_seed(seed, i)``. Drawn and stored if None.
    overwrite : bool
        Replace a file holding a different study (never needed to resume). Only a
        brainsweep study file is replaced; any other file at ``path`` is refused.
    timeout : float, optional
        Per-run wall-clock limit in seconds; exceeded runs are stored as ``timeout``.
    name : str, optional
        Trajectory name (default: the file's stem).
    objective, run_kwargs, keep :
        Only with a model: see :class:`~brainsweep.explorer.ModelEvaluation`.
    attachments : dict name -> str or bytes
        Files stored in the study file (e.g. the YAML study it was made from);
        ``load(path).attachments`` returns them.
    trust : bool
        Resume a study file written by brainsweep's format 1, whose strategy state is a
        pickle (unpickling runs code from the file: only for files you trust).
    """

    def __init__(self, evaluate, space: ParameterSpace, strategy: Strategy | None = None,
                 path: str = "study.h5", *, seed: int | None = None, overwrite: bool = False,
                 timeout: float | None = None, name: str | None = None,
                 objective=None, run_kwargs: dict | None = None, keep=None,
                 attachments: dict | None = None, trust: bool = False):
        if not isinstance(space, ParameterSpace):
            raise TypeError(f"space: expected a ParameterSpace, got {type(space).__name__}")
        strategy = GridSearch() if strategy is None else strategy
        if not isinstance(strategy, Strategy):
            raise TypeError(f"strategy: expected a Strategy (GridSearch, Evolution, BayesOpt), "
                            f"got {type(strategy).__name__}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        per_node = space.per_node
        space = space.bind(evaluate)  # per-node parameters: one dimension per node of the model
        _check_names(space)
        strategy.check(space)
        self.space = space
        self.strategy = strategy
        self.path = os.fspath(path)
        self.seed = None if seed is None else int(seed)
        self.overwrite = overwrite
        self.trust = bool(trust)
        self._replace = False  # set by _open_or_check: the file at path is replaced on creation
        self.name = name
        self.attachments = dict(attachments or {})
        make = getattr(strategy, "make_evaluator", None)  # a strategy's own way to evaluate a model (SBI: per-node priors)
        made = None if make is None else make(evaluate, space, objective=objective, run_kwargs=run_kwargs,
                                              keep=keep, timeout=timeout)
        gradients = getattr(strategy, "needs_gradients", False)
        if per_node and made is None and not gradients:
            # runs gather <param>__<node> values into per-node arrays (the evaluation SBI uses)
            from .pernode import model_evaluation
            made = model_evaluation(evaluate, space, objective=objective, run_kwargs=run_kwargs, keep=keep,
                                    timeout=timeout)
        self.evaluator = made if made is not None else _make_evaluator(
            evaluate, space, timeout, objective, run_kwargs, keep, gradients=gradients)
        wrap = getattr(strategy, "wrap_evaluator", None)
        if wrap is not None:  # a strategy that needs more of each run (SBI: its summary features)
            self.evaluator = wrap(self.evaluator)

    # -- identity -----------------------------------------------------------------
    def fingerprint(self) -> dict:
        """What makes two studies the same study (compared on resume)."""
        return {"space": self.space.to_json(), "strategy": self.strategy.config(),
                "evaluate": self.evaluator.identity}

    # -- the loop -----------------------------------------------------------------------
    def run(self, n_jobs: int = 1, executor=None, progress: bool = True):
        """Run (or resume) the study; return its :class:`Results` (on every MPI rank).

        ``n_jobs``: processes of a local pool (1: in this process; -1: all cores).
        ``executor``: ``"mpi"``, ``"serial"``, ``"pool"`` or an Executor; by default MPI
        when started under ``mpiexec`` with several ranks.
        """
        from .results import load

        ex = make_executor(n_jobs, executor)
        if ex.is_worker_process():  # an MPI worker rank: evaluate until rank 0 is done
            ex.serve(self.evaluator)
            ex.share_outcome()
            return load(self.path)
        error = None
        lock = None
        try:
            # the lock before anything looks at the file: checking and creating cannot race
            lock = _take_lock(self.path)
            file = self._open_or_check(lock)
            if file is not None:
                file.close()  # pool workers fork with no HDF5 handle open (the lock stays)
            ex.start(self.evaluator)
            file = StudyFile.open(self.path, "a", lock=lock) if file is not None else None
            self._loop(ex, file, progress, lock)
        except BaseException as err:
            error = err
            raise
        finally:
            ex.close()
            if lock is not None:
                lock.release()
            ex.share_outcome(error)
        return load(self.path)

    def _open_or_check(self, lock: WriterLock) -> StudyFile | None:
        """The existing study to resume (checked to be this one), or None to create one."""
        from ._create import classify_existing

        self._replace = False
        kind = classify_existing(self.path)
        if kind == "none":
            return None
        if kind == "half-made":
            warnings.warn(f"{self.path} is a study file whose creation was interrupted (by an older "
                          f"brainsweep) before any run was stored; starting it again", stacklevel=3)
            self._replace = True
            return None
        if self.overwrite:
            self._replace = True
            return None  # replaced once the new file is complete
        file = StudyFile.open(self.path, "a", lock=lock)
        mine, theirs = self.fingerprint(), file.fingerprint
        legacy = getattr(self.evaluator, "legacy_identity", None)
        if file.version < 2 and legacy is not None and theirs.get("evaluate") == legacy:
            # format 1 recorded the evaluator without its code: same name and settings resume
            mine = {**mine, "evaluate": legacy}
        if mine != theirs:
            diff = [k for k in mine if mine.get(k) != theirs.get(k)]
            file.close()
            raise StudyFileError(
                f"{self.path} holds a different study (its {', '.join(diff)} differ); "
                f"use another path, or overwrite=True to replace it")
        if self.seed is not None and self.seed != file.seed:
            file.close()
            raise StudyFileError(f"{self.path} was started with seed {file.seed}, not {self.seed}; "
                                 f"omit seed to resume it, or overwrite=True to restart")
        try:
            file.last_state(trust=self.trust)
        except UntrustedStateError:
            file.close()
            raise
        return file

    def _loop(self, ex, file: StudyFile | None, progress: bool, lock: WriterLock) -> None:
        strategy, space = self.strategy, self.space
        if file is None:
            seed = self.seed if self.seed is not None else _draw_seed()
            strategy.start(space, seed)
            n_told = 0
        else:
            seed = file.seed
            n_told, state = file.last_state(trust=self.trust)
            if state is None:
                strategy.start(space, seed)
            else:
                strategy.set_state(space, state)
        bar = _progress(progress, strategy.expected_total(), file)
        try:
            batch_no = n_told
            while (batch := strategy.ask()) is not None:
                if not batch.points:
                    raise RuntimeError(f"{type(strategy).__name__}.ask returned an empty batch")
                points = [space.clip(p) if not space.is_grid else dict(p) for p in batch.points]
                if file is None:
                    probe = self._probe(points[0], seed)
                    file = StudyFile.create(self.path, space, self.fingerprint(), seed,
                                            _provenance(), self.name, evaluator=self.evaluator,
                                            attachments=self.attachments, lock=lock,
                                            replace=self._replace)
                    first = file.register_batch(points)
                    if probe is not None:
                        file.write_runs([probe], batch.tags)
                        bar.update(1)
                else:
                    first = self._first_of(file, batch_no, points)
                self._evaluate_batch(ex, file, first, points, batch.tags, seed, bar)
                strategy.tell(batch, self._outcomes(file, first, points))
                file.save_state(batch_no, strategy.get_state())
                batch_no += 1
        finally:
            bar.close()
            if file is not None:
                file.close()

    def _probe(self, point: dict, seed: int):
        """Evaluate the very first run in-process for strategies with objectives, so a
        missing objective is an error before anything is stored or dispatched."""
        overrides_check = type(self.strategy).check_scores is not Strategy.check_scores
        if not self.strategy.objectives and not overrides_check:
            return None
        rec = evaluate_guarded(self.evaluator, [(0, point, run_seed(seed, 0))])[0]
        if rec.status == "ok":
            self.strategy.check_scores(rec.scalars)
        return rec

    def _first_of(self, file: StudyFile, batch_no: int, points: list) -> int:
        """Index of the batch's first run: registered now, or found registered (resume)."""
        batches = file.batches()
        if batch_no < len(batches):
            first, n = int(batches[batch_no]["first"]), int(batches[batch_no]["n"])
            stored = file.registered_points(first, n)
            if n != len(points) or any(_differs(a, b) for a, b in zip(stored, points)):
                raise StudyFileError(
                    f"{self.path}: resuming batch {batch_no}, the strategy asked for other points than "
                    f"the file holds; the study file and the strategy state do not match")
            return first
        return file.register_batch(points)

    def _evaluate_batch(self, ex, file, first, points, tags, seed, bar) -> None:
        done = file.done()
        tasks = [(first + i, p, run_seed(seed, first + i)) for i, p in enumerate(points)
                 if first + i not in done]
        if not tasks:
            return
        # executors hand back records as soon as they finish, coalescing what arrives
        # together; each group is written and flushed at once
        for records in ex.imap(tasks):
            file.write_runs(records, tags)
            bar.update(len(records))

    def _outcomes(self, file: StudyFile, first: int, points: list) -> list[Outcome]:
        rows = file.read_rows(first, len(points))
        return [Outcome(first + i, point, *rows[first + i]) for i, point in enumerate(points)]


def _check_names(space: ParameterSpace) -> None:
    """Parameter names must not be the runs table's own columns or strategy tags."""
    taken = set(RESERVED) | set(TAG_NAMES)
    for name in list(space.names) + list(space.fixed):
        if name.replace(".", "__") in taken:
            raise ValueError(f"parameter {name!r}: the name is reserved for the runs table "
                             f"(reserved: {', '.join(RESERVED + TAG_NAMES)}); rename the parameter")


def _differs(a: dict, b: dict) -> bool:
    for k in a:
        x, y = a[k], b.get(k)
        if isinstance(x, float) or isinstance(y, float):
            if not np.isclose(float(x), float(y), rtol=1e-12, atol=0):
                return True
        elif x != y:
            return True
    return False


def _draw_seed() -> int:
    return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])


def _provenance() -> dict:
    from .. import __version__
    return {
        "brainsweep": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "command": " ".join(sys.argv),
        "cwd": os.getcwd(),
        "git_commit": _git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "packages": json.dumps(_versions()),
    }


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("numpy", "scipy", "numba", "pandas", "tables", "pypet", "deap", "scikit-optimize",
                "mpi4py", "matplotlib"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _git_commit() -> str:
    """Commit of the git work tree the study is run from, with '+dirty' if modified."""
    import subprocess
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        if not sha:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(enabled: bool, total: int | None, file: StudyFile | None):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm
    initial = len(file.done()) if file is not None else 0
    return tqdm(total=total, initial=initial, unit="run", dynamic_ncols=True, smoothing=0.1)


def _make_evaluator(evaluate, space, timeout, objective, run_kwargs, keep, gradients=False):
    if gradients and hasattr(evaluate, "run_batch") and hasattr(evaluate, "params"):
        # a gradient strategy on a model: loss and exact gradients by the discrete adjoint
        from .adjoint_eval import AdjointEvaluation
        if objective is None or keep is not None:
            raise ValueError("a gradient study of a model needs objective= (a loss with its gradient, "
                             "brainsweep.evaluation.differentiable) and stores no outputs (keep=)")
        return AdjointEvaluation(evaluate, objective, space, run_kwargs or {}, timeout=timeout)
    if hasattr(evaluate, "run_batch") and hasattr(evaluate, "params"):
        from .model_eval import ModelEvaluation
        return ModelEvaluation(evaluate, space, objective=objective, run_kwargs=run_kwargs,
                               keep=keep, timeout=timeout)
    if hasattr(evaluate, "evaluate_chunk") and hasattr(evaluate, "identity"):
        if space.fixed and isinstance(getattr(evaluate, "fixed", None), dict):
            evaluate.fixed = {**space.fixed, **evaluate.fixed}  # the space's fixed values reach every run
        if timeout is not None:
            if not hasattr(evaluate, "timeout"):
                raise ValueError(f"timeout: {type(evaluate).__name__} has no per-run time limit; "
                                 f"leave Study(timeout=) unset for it")
            if evaluate.timeout is None:
                evaluate.timeout = timeout
            elif evaluate.timeout != timeout:
                raise ValueError(f"timeout: Study(timeout={timeout}) differs from the evaluator's own "
                                 f"timeout={evaluate.timeout}; give one of them")
        return evaluate
    if objective is not None or run_kwargs is not None or keep is not None:
        raise ValueError("objective, run_kwargs and keep are for studies of a brainsweep model; "
                         "a plain callable computes its own scores")
    return FunctionEvaluator(evaluate, fixed=space.fixed, timeout=timeout)
