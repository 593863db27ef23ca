"""Gradient descent in the study loop: Adam (optax's formula) and L-BFGS-B (scipy), multi-start.

>>> def rosen(p):
...     x, y = p["x"], p["y"]
...     return {"loss": (1 - x) ** 2 + 100 * (y - x * x) ** 2,
...             "grad__x": -2 * (1 - x) - 400 * x * (y - x * x), "grad__y": 200 * (y - x * x)}
>>> space = ParameterSpace(bounds={"x": (-2.0, 2.0), "y": (-1.0, 3.0)})
>>> Study(rosen, space, GradientDescent("lbfgsb", steps=200, starts=4, start="lhs"), path="r.h5").run()

The gradient protocol
---------------------
An evaluation returns the loss as the scalar score ``loss`` (``GradientDescent(loss=...)``
renames it) and its gradient as one scalar score per explored parameter, named
:func:`grad_name` of it: ``grad__<param>`` (dots of a dotted name become ``__``, as in the
runs table's columns). A parameter that stands for the value of one node is named
``<param>__<node>`` in the space (e.g. ``a__0 ... a__67``), so its gradient is
``grad__a__0``. The gradient is with respect to the parameter itself, whatever the scale
of its bounds. All scores are ordinary columns of ``load(path).df``; 2 x 68 parameters make
~275 columns, which the runs table holds (tested).

For a brainsweep model the evaluation is
:class:`brainsweep.explorer.adjoint_eval.AdjointEvaluation` (exact gradients by the discrete
adjoint of the engine's scheme), made by the study from a differentiable objective
(:mod:`brainsweep.evaluation.differentiable`); per-node parameters come from ``per_node``:

>>> space = ParameterSpace(bounds={"a": (0.04, 0.1), "b": (0.04, 0.09)}, per_node=["a", "b"])
>>> Study(jr, space, GradientDescent("adam", lr=0.005, steps=200, starts=64, start="grid"),
...       objective=peak_frequency_loss(target_hz, 1000.0, 1000, "v_pyr"),
...       run_kwargs=dict(duration=2500.0, dt=0.1, sampling_dt=1.0), path="jr_grad.h5").run()

(``start="grid"`` gives all nodes of a per-node parameter one value: 8 x 8 starts over
(a, b)). In a YAML study: ``strategy: {gradient: {...}}`` with one differentiable objective
(:mod:`brainsweep.studyfile`). Under ``mpiexec`` each step's starts are spread over the ranks.

Every iterate of every start is one stored run. A batch is one step of all starts still
running (on an executor or MPI ranks they are evaluated in parallel) and carries the tag
``step``; the start each run belongs to is kept in the strategy state, and
:func:`gradient_history` joins it to ``df`` (columns ``start``, ``step``, ``grad_norm``).

Reading a finished study
------------------------
>>> res = load("r.h5")
>>> h = gradient_history(res)        # res.df with start, step, grad_norm
>>> plot_loss(res)                   # loss per iterate, one line per start
>>> plot_landscape(res, "x", "y")    # start -> end arrows over the plane, coloured by final loss
>>> res.best(key="loss")             # the lowest-loss iterate of all starts

(``plot_loss`` and ``plot_landscape`` are in :mod:`brainsweep.explorer`; they return figures.)

Bounds
------
Adam is *projected*: after each update the point is clipped onto the bounds (a coordinate
on a bound whose gradient pushes outwards stays there). L-BFGS-B handles the bounds
natively (scipy's projected-gradient line search). Log-scaled bounds only change how
starting points are drawn (log-uniform); steps are taken in the parameter itself.

A start ends when ``steps`` evaluations were made (``max_steps``), on a tolerance
(``converged``: loss change ``|f_k - f_{k-1}| <= tol`` or projected-gradient max-norm
``<= gtol``; for L-BFGS-B whatever stops scipy's own iteration, with ``tol``/``gtol`` as
its ``ftol``/``gtol``), or when its run fails or returns a NaN/inf loss or gradient
(``diverged``/``failed``: the run is stored, that start ends, the others go on).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .space import ParameterSpace
from .strategy import Batch, Outcome, Strategy

__all__ = ["GradientDescent", "grad_name", "gradient_history", "start_points"]

_OPTIMIZERS = ("adam", "lbfgsb")
_STARTS = ("grid", "random", "lhs")


def grad_name(param: str) -> str:
    """The score holding the gradient of the loss with respect to ``param``."""
    return "grad__" + param.replace(".", "__")


# -- starting points ------------------------------------------------------------------------------

def start_points(space: ParameterSpace, n: int, how: str, seed: int) -> np.ndarray:
    """``n`` starting points (rows, in ``space.names`` order) inside the bounds.

    ``grid``: the centres of a k x ... x k grid of cells (``n`` must be ``k ** dims``); the
    dimensions of one per-node parameter (``ParameterSpace(per_node=...)``, bound to a model)
    count as one: every node of it starts at the same grid value (an 8 x 8 grid of (a, b)
    for 2 x 68 per-node values); ``random``: uniform (log-uniform on log scales); ``lhs``:
    a Latin hypercube (one point in each of ``n`` strata of every dimension, strata paired
    at random).
    """
    dims = space.dimensions
    d = len(dims)
    if how == "grid":
        keys = [space.node_parameter.get(dim.name, dim.name) for dim in dims]
        cols = list(dict.fromkeys(keys))
        unit = _grid_unit(n, len(cols))
        return _scaled(dims, unit[:, [cols.index(k) for k in keys]])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x67726164]))
    if how == "random":
        unit = rng.random((n, d))
    else:
        unit = np.stack([(rng.permutation(n) + rng.random(n)) / n for _ in range(d)], axis=1)
    return _scaled(dims, unit)


def _grid_unit(n: int, d: int) -> np.ndarray:
    """Centres of the cells of a k x ... x k grid in the unit cube of ``d`` dimensions (n = k**d)."""
    k = int(round(n ** (1.0 / d)))
    if k ** d != n:
        near = sorted({max(1, k - 1) ** d, k ** d, (k + 1) ** d})
        raise ValueError(f"starts={n} with start='grid' over {d} parameter(s): the number of starts "
                         f"must be k**{d} (e.g. {near}); or use start='lhs' or 'random'")
    centres = (np.arange(k) + 0.5) / k
    mesh = np.meshgrid(*([centres] * d), indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _scaled(dims, unit: np.ndarray) -> np.ndarray:
    """Points of the unit cube mapped onto the dimensions' bounds (log-uniform on log scales)."""
    n, d = unit.shape
    out = np.empty((n, d))
    for j, dim in enumerate(dims):
        if dim.scale == "log":
            lo, hi = math.log(dim.low), math.log(dim.high)
            out[:, j] = np.exp(lo + unit[:, j] * (hi - lo))
        else:
            out[:, j] = dim.low + unit[:, j] * (dim.high - dim.low)
        out[:, j] = np.clip(out[:, j], dim.low, dim.high)
    return out


# -- optimizer steps -------------------------------------------------------------------------------

def _adam_step(x, g, mu, nu, count, lr, b1, b2, eps, eps_root):
    """One step of ``optax.adam`` (0.2.8 ``scale_by_adam`` then ``scale(-lr)``), in its
    operation order: returns (x + updates, mu, nu, count + 1)."""
    mu = (1 - b1) * g + b1 * mu
    nu = (1 - b2) * (g ** 2) + b2 * nu
    count = count + 1
    mu_hat = mu / (1 - b1 ** count)
    nu_hat = nu / (1 - b2 ** count)
    updates = -lr * (mu_hat / (np.sqrt(nu_hat + eps_root) + eps))
    return x + updates, mu, nu, count


class _AskScipy(Exception):
    """Raised inside scipy's objective: scipy wants the loss at a point not yet evaluated."""

    def __init__(self, x):
        super().__init__("next point")
        self.x = x


def _lbfgsb_next(x0, history, bounds, options):
    """Replay the evaluations ``history`` [(x, f, g), ...] through scipy's L-BFGS-B from
    ``x0``: the point it asks next, or ``(None, result)`` once scipy has finished."""
    from scipy.optimize import minimize

    told = iter(history)

    def fun(x):
        try:
            hx, f, g = next(told)
        except StopIteration:
            raise _AskScipy(np.array(x, dtype=float)) from None
        if not np.array_equal(np.asarray(hx, dtype=float), x):
            raise RuntimeError("L-BFGS-B replay: scipy asked for another point than the one stored "
                               "(a different scipy version?); the stored study cannot be continued")
        return float(f), np.asarray(g, dtype=float)

    try:
        res = minimize(fun, np.asarray(x0, dtype=float), jac=True, method="L-BFGS-B",
                       bounds=bounds, options=options)
    except _AskScipy as ask:
        return ask.x, None
    return None, res


def _one_blas_thread():
    """L-BFGS-B's tiny BLAS calls are ~15x slower with several BLAS threads on a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return _nothing()


def _nothing():
    import contextlib
    return contextlib.nullcontext()


def _projected_gradient(x, g, low, high):
    pg = g.copy()
    pg[(x <= low) & (g > 0)] = 0.0
    pg[(x >= high) & (g < 0)] = 0.0
    return pg


# -- the strategy ------------------------------------------------------------------------------------

class GradientDescent(Strategy):
    """Minimise a loss whose gradient the evaluation returns (see the module's protocol).

    Parameters
    ----------
    optimizer : ``"adam"`` or ``"lbfgsb"``
        Adam with optax's defaults and formula (``optax.adam``: bias-corrected moments,
        ``update = -lr * m_hat / (sqrt(v_hat + eps_root) + eps)``), projected onto the
        bounds; or scipy's L-BFGS-B (native bounds), driven by replaying the told
        evaluations so that it fits the ask/tell loop and resumes exactly.
    lr : float
        Adam's learning rate (in units of the parameters per step); ignored by L-BFGS-B.
    steps : int
        Maximum number of evaluations (iterates) per start.
    starts : int
        Number of starts; ``start`` says where they are.
    start : ``"grid"``, ``"random"``, ``"lhs"`` or a list of points (dicts)
        Starting points: grid cell centres (``starts`` = k ** number of parameters),
        uniform random, Latin hypercube (drawn from the study seed), or given (a per-node
        parameter by its own name, ``{"a": 0.06}``, starts all its nodes there).
    tol, gtol : float, optional
        Early stop of a start on an absolute loss change ``<= tol`` between its successive
        iterates, or on a projected-gradient max-norm ``<= gtol``. For L-BFGS-B they are
        scipy's ``ftol`` (relative) and ``gtol`` (scipy's defaults when None).
    loss : str
        The score holding the loss (the gradients are ``grad__<param>``).
    b1, b2, eps, eps_root : float
        Adam's constants (optax's defaults).
    maxcor : int
        L-BFGS-B's number of stored corrections (scipy's default 10).
    """

    #: a Study of a model with this strategy evaluates it by AdjointEvaluation (exact gradients)
    needs_gradients = True
    name = "gradient"

    def __init__(self, optimizer: str = "adam", lr: float = 0.01, steps: int = 100, starts: int = 1,
                 start="lhs", tol: float | None = None, gtol: float | None = None, loss: str = "loss",
                 b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
                 maxcor: int = 10):
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {_OPTIMIZERS}, got {optimizer!r}")
        _positive_number("lr", lr)
        for label, v in (("steps", steps), ("starts", starts), ("maxcor", maxcor)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{label}: expected an integer >= 1, got {v!r}")
        for label, v in (("tol", tol), ("gtol", gtol)):
            if v is not None:
                _positive_number(label, v, allow_zero=True)
        for label, v in (("b1", b1), ("b2", b2)):
            _positive_number(label, v, allow_zero=True)
            if v >= 1:
                raise ValueError(f"{label}: expected a number in [0, 1), got {v!r}")
        _positive_number("eps", eps, allow_zero=True)
        _positive_number("eps_root", eps_root, allow_zero=True)
        if not isinstance(loss, str) or not loss:
            raise ValueError(f"loss: expected a score name, got {loss!r}")
        if isinstance(start, str):
            if start not in _STARTS:
                raise ValueError(f"start: expected one of {_STARTS} or a list of points, got {start!r}")
        elif not (isinstance(start, (list, tuple)) and start and all(isinstance(p, dict) for p in start)):
            raise ValueError(f"start: expected one of {_STARTS} or a non-empty list of points (dicts), "
                             f"got {start!r}")
        else:
            start = [{k: float(v) for k, v in p.items()} for p in start]
            starts = len(start)
        self.optimizer, self.lr, self.steps, self.starts = optimizer, float(lr), int(steps), int(starts)
        self.start_how, self.tol, self.gtol, self.loss = start, tol, gtol, loss
        self.b1, self.b2, self.eps, self.eps_root = float(b1), float(b2), float(eps), float(eps_root)
        self.maxcor = int(maxcor)
        self.objectives = (loss,)
        self._space = None

    # -- contract -------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "optimizer": self.optimizer, "lr": self.lr, "steps": self.steps,
                "starts": self.starts, "start": self.start_how, "tol": self.tol, "gtol": self.gtol,
                "loss": self.loss, "b1": self.b1, "b2": self.b2, "eps": self.eps,
                "eps_root": self.eps_root, "maxcor": self.maxcor}

    def check(self, space: ParameterSpace) -> None:
        if not isinstance(space, ParameterSpace):
            raise TypeError(f"GradientDescent: expected a ParameterSpace, got {type(space).__name__}")
        for d in space.dimensions:
            if d.kind == "grid":
                raise ValueError(f"GradientDescent needs bounds for parameter {d.name!r}, e.g. "
                                 f"ParameterSpace(bounds={{{d.name!r}: (low, high)}}); it is given as a "
                                 f"list of grid values")
            if d.kind == "categorical":
                raise ValueError(f"GradientDescent: parameter {d.name!r} is categorical {list(d.categories)}; "
                                 f"a gradient needs a real-valued parameter with (low, high) bounds")
            if d.scale == "int":
                raise ValueError(f"GradientDescent: parameter {d.name!r} is an integer (scale 'int'); "
                                 f"a gradient needs a real-valued parameter")
        if isinstance(self.start_how, list):
            for i, p in enumerate(self.start_how):
                row = _start_row(space, p, i)
                for d in space.dimensions:
                    if not d.low <= row[d.name] <= d.high:
                        raise ValueError(f"start[{i}][{d.name!r}] = {row[d.name]} is outside its bounds "
                                         f"({d.low}, {d.high})")

    def check_scores(self, scores: dict) -> None:
        need = [self.loss] + [grad_name(n) for n in self._space.names]
        missing = [k for k in need if k not in scores]
        if missing:
            shown = missing[:5] + (["..."] if len(missing) > 5 else [])
            raise ValueError(f"GradientDescent needs the loss {self.loss!r} and the gradient scores "
                             f"grad__<param>; the evaluation returned {sorted(scores)[:10]} and lacks "
                             f"{shown}")

    def expected_total(self) -> int | None:
        return self.starts * self.steps

    def start(self, space: ParameterSpace, seed: int) -> None:
        self.check(space)
        self._space = space
        if isinstance(self.start_how, list):
            x0 = np.array([[_start_row(space, p, i)[n] for n in space.names] for i, p in enumerate(self.start_how)],
                          dtype=float)
        else:
            x0 = start_points(space, self.starts, self.start_how, seed)
        d = len(space.names)
        self._starts = [{"x0": x0[i].copy(), "pending": x0[i].copy(), "status": "running", "n": 0,
                         "f_prev": None, "best_f": None, "best_idx": -1, "message": "",
                         "mu": np.zeros(d), "nu": np.zeros(d), "count": 0, "hist_x": [], "hist_f": [],
                         "hist_g": []} for i in range(len(x0))]
        self._runs = {"idx": [], "start": [], "step": []}
        self._step = 0

    def ask(self) -> Batch | None:
        live = self._live()
        if not live:
            return None
        names = self._space.names
        points = [{n: float(v) for n, v in zip(names, self._starts[s]["pending"])} for s in live]
        return Batch(points, {"step": self._step})

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        live = self._live()
        if len(outcomes) != len(live):
            raise ValueError(f"GradientDescent.tell: {len(outcomes)} outcomes for {len(live)} running starts")
        with _one_blas_thread() if self.optimizer == "lbfgsb" else _nothing():
            for s, out in zip(live, outcomes):
                self._runs["idx"].append(int(out.index))
                self._runs["start"].append(s)
                self._runs["step"].append(self._step)
                self._advance(self._starts[s], out)
        self._step += 1

    def get_state(self) -> Any:
        starts = []
        for st in self._starts:
            doc = dict(st)
            d = len(st["x0"])
            doc["hist_x"] = np.array(st["hist_x"], dtype=float).reshape(len(st["hist_x"]), d)
            doc["hist_g"] = np.array(st["hist_g"], dtype=float).reshape(len(st["hist_g"]), d)
            doc["hist_f"] = np.array(st["hist_f"], dtype=float)
            starts.append(doc)
        return {"step": self._step, "starts": starts,
                "runs": {k: np.array(v, dtype=np.int64) for k, v in self._runs.items()}}

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        self.check(space)
        self._space = space
        self._step = int(state["step"])
        self._starts = []
        for doc in state["starts"]:
            st = dict(doc)
            for k in ("x0", "pending", "mu", "nu"):
                st[k] = np.asarray(doc[k], dtype=float)
            st["hist_x"] = [np.asarray(r, dtype=float) for r in np.asarray(doc["hist_x"], dtype=float)]
            st["hist_g"] = [np.asarray(r, dtype=float) for r in np.asarray(doc["hist_g"], dtype=float)]
            st["hist_f"] = [float(v) for v in np.asarray(doc["hist_f"], dtype=float)]
            self._starts.append(st)
        self._runs = {k: [int(v) for v in np.asarray(state["runs"][k])] for k in ("idx", "start", "step")}

    # -- one start ---------------------------------------------------------------------------------
    def _live(self) -> list[int]:
        return [i for i, st in enumerate(self._starts) if st["status"] == "running"]

    def _advance(self, st: dict, out: Outcome) -> None:
        names = self._space.names
        x = np.array([float(out.params[n]) for n in names])
        st["n"] += 1
        if out.status != "ok":
            st["status"] = "diverged" if out.status == "diverged" else "failed"
            st["message"] = f"run {out.index}: {out.status} {out.message}".strip()
            return
        try:
            f = float(out.scores[self.loss])
            g = np.array([float(out.scores[grad_name(n)]) for n in names])
        except (KeyError, TypeError, ValueError) as err:
            st["status"], st["message"] = "failed", f"run {out.index}: no loss/gradient ({err})"
            return
        if not (math.isfinite(f) and np.all(np.isfinite(g))):
            bad = [n for n, v in zip(names, g) if not math.isfinite(v)][:5]
            st["status"] = "diverged"
            st["message"] = f"run {out.index}: non-finite loss {f} or gradient of {bad}"
            return
        if st["best_f"] is None or f < st["best_f"]:
            st["best_f"], st["best_idx"] = f, int(out.index)
        if self.optimizer == "adam":
            self._adam(st, x, f, g)
        else:
            self._lbfgsb(st, x, f, g)

    def _adam(self, st, x, f, g) -> None:
        low, high = self._bounds()
        pg = _projected_gradient(x, g, low, high)
        f_prev, st["f_prev"] = st["f_prev"], f
        if self.gtol is not None and np.max(np.abs(pg)) <= self.gtol:
            st["status"], st["message"] = "converged", "projected gradient norm <= gtol"
        elif self.tol is not None and f_prev is not None and abs(f - f_prev) <= self.tol:
            st["status"], st["message"] = "converged", "loss change <= tol"
        elif st["n"] >= self.steps:
            st["status"] = "max_steps"
        else:
            x_new, st["mu"], st["nu"], st["count"] = _adam_step(
                x, g, st["mu"], st["nu"], st["count"], self.lr, self.b1, self.b2, self.eps, self.eps_root)
            st["pending"] = np.clip(x_new, low, high)

    def _lbfgsb(self, st, x, f, g) -> None:
        st["hist_x"].append(x)
        st["hist_f"].append(f)
        st["hist_g"].append(g)
        if st["n"] >= self.steps:
            st["status"] = "max_steps"
            return
        low, high = self._bounds()
        options = {"maxcor": self.maxcor, "maxfun": self.steps, "maxiter": self.steps}
        if self.tol is not None:
            options["ftol"] = self.tol
        if self.gtol is not None:
            options["gtol"] = self.gtol
        nxt, res = _lbfgsb_next(st["x0"], list(zip(st["hist_x"], st["hist_f"], st["hist_g"])),
                                list(zip(low, high)), options)
        if nxt is None:
            st["status"] = "converged" if res.success else "max_steps"
            st["message"] = str(res.message)
        else:
            st["pending"] = nxt

    def _bounds(self):
        dims = self._space.dimensions
        return np.array([d.low for d in dims], float), np.array([d.high for d in dims], float)

    # -- reading a finished search -------------------------------------------------------------
    def summary(self) -> list[dict]:
        """Per start: status, number of evaluations, best loss and its run, message."""
        return [{"start": i, "status": st["status"], "evaluations": st["n"], "best_loss": st["best_f"],
                 "best_run": st["best_idx"], "message": st["message"]} for i, st in enumerate(self._starts)]


def gradient_history(results) -> "pd.DataFrame":  # noqa: F821 - pandas imported lazily
    """``results.df`` of a GradientDescent study with the columns ``start``, ``step`` (from the
    stored strategy state) and ``grad_norm`` (Euclidean norm of the ``grad__*`` scores)."""
    state = results.strategy_state
    if not (isinstance(state, dict) and "runs" in state and "starts" in state):
        raise ValueError("gradient_history: the study was not run by GradientDescent "
                         f"(strategy {results.strategy.get('name') if isinstance(results.strategy, dict) else '?'})")
    df = results.df.copy()
    runs = state["runs"]
    idx = np.asarray(runs["idx"], dtype=np.int64)
    start = dict(zip(idx.tolist(), np.asarray(runs["start"]).tolist()))
    step = dict(zip(idx.tolist(), np.asarray(runs["step"]).tolist()))
    df["start"] = [start.get(int(i), -1) for i in df.index]
    df["step"] = [step.get(int(i), -1) for i in df.index]
    gcols = [c for c in df.columns if isinstance(c, str) and c.startswith("grad__")]
    if gcols:
        df["grad_norm"] = np.sqrt((df[gcols].astype(float) ** 2).sum(axis=1, skipna=False))
    return df


def _start_row(space: ParameterSpace, point: dict, i: int) -> dict:
    """A given starting point as {name: value} over ``space.names``; a per-node parameter's own
    name (``a`` for ``a__0 .. a__{N-1}``) gives all its nodes one value."""
    bases = space.node_parameter
    allowed = set(space.names) | set(bases.values())
    row = {n: point[n] if n in point else point.get(bases.get(n)) for n in space.names}
    missing = [n for n, v in row.items() if v is None]
    if missing or set(point) - allowed:
        shown = space.names if not bases else sorted(set(bases.values())) + [n for n in space.names if n not in bases]
        raise ValueError(f"start[{i}]: expected values for {shown}, got {sorted(point)}")
    return row


def _positive_number(label: str, v, allow_zero: bool = False) -> None:
    ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
          and math.isfinite(float(v)) and (float(v) >= 0 if allow_zero else float(v) > 0))
    if not ok:
        raise ValueError(f"{label}: expected a {'non-negative' if allow_zero else 'positive'} finite "
                         f"number, got {v!r}")
