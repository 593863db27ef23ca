"""CMA-ES (Hansen's ``cma`` package) as a study strategy: one generation per ask.

>>> space = ParameterSpace(bounds={"x": (-5.0, 5.0), "tau": (1.0, 100.0, "log")})
>>> Study(loss, space, CMAES(sigma0=0.25, max_evals=300), path="cma.h5").run()

The search runs in the unit cube of the space's bounds: each parameter is mapped
linearly (log scale: linearly in ``log10``) onto ``[0, 1]``, so ``sigma0`` is a
fraction of every parameter's range, and cma keeps its samples inside the cube
with its own ``BoundTransform`` (a smooth, piecewise quadratic map of the real
line onto the bounds, not clipping). Integer parameters are searched as
continuous values on ``[low - 1/2, high + 1/2]`` and rounded.

Randomness: cma draws its normal samples from this strategy's own
``numpy.random.RandomState`` (cma's ``randn`` option), never from the global
generator. The state stored after every tell is plain data: the study seed, the
values told for every generation and a fingerprint of every generation asked.
:meth:`CMAES.set_state` rebuilds the ``cma.CMAEvolutionStrategy`` by replaying
those generations (ask, compare the fingerprint, tell the stored values): the
replay is deterministic, so the next generation asked is the one an
uninterrupted run asks (cma's internal state, its covariance matrix, evolution
paths, step-size and eigen-decomposition schedule, has no complete public
setter, so it is recomputed rather than stored).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from .evolution import _adopt_objectives, _check_optimisable, _check_told, _failure_value, _score
from .space import ParameterSpace
from .strategy import Batch, Outcome, Strategy

__all__ = ["CMAES"]

_INT_MARGIN = 0.4999  # integer parameters span [low - m, high + m]: equal odds per value
#: options this strategy sets itself (bounds, randomness, population, output)
_RESERVED = ("bounds", "BoundaryHandler", "randn", "seed", "popsize", "maxiter", "maxfevals",
             "verbose", "verb_disp", "verb_log", "verb_filenameprefix", "verb_plot")


class CMAES(Strategy):
    """Covariance matrix adaptation evolution strategy (``cma``) of one score.

    Parameters
    ----------
    sigma0 : float
        Initial step size as a fraction of every parameter's range (``0 < sigma0 <= 1``;
        the optimum should lie within about ``x0 +- 2 sigma0``).
    popsize : int, optional
        Points per generation (one batch); default cma's ``4 + floor(3 ln n)`` for
        ``n`` parameters.
    generations, max_evals : int
        Stop after this many generations, or after at most this many evaluations
        (whole generations: ``max_evals // popsize`` of them). Give one or both; the
        search also ends when one of cma's own termination criteria (``tolx``,
        ``tolfun``, ``tolstagnation``, ...) holds, named in the state's ``"stop"``.
    x0 : dict, optional
        Starting mean ``{name: value}``; default the centre of the (log-)bounds.
    minimize : bool
        Minimise (default) or maximise the objective.
    objective : str, optional
        The score to optimise; default the single score the evaluation returns.
    cma_options : dict, optional
        Further json-able ``cma`` options (e.g. ``{"CMA_diagonal": True, "tolx": 1e-6}``);
        the options this strategy sets itself (bounds, randomness, popsize, output)
        are refused.

    Failed, diverged or timed-out runs and NaN/inf scores are told to cma as the
    worst ok value seen so far plus the range of the ok values (as BayesOpt does):
    cma only ranks the values of a generation, so failures rank last. A generation
    that fails entirely is flat; cma then widens its step size.
    """

    name = "cmaes"

    def __init__(self, sigma0: float = 0.25, popsize: int | None = None, generations: int | None = None,
                 max_evals: int | None = None, x0: dict | None = None, minimize: bool = True,
                 objective: str | None = None, cma_options: dict | None = None):
        if isinstance(sigma0, bool) or not isinstance(sigma0, (int, float, np.floating)) \
                or not math.isfinite(sigma0) or not 0 < sigma0 <= 1:
            raise ValueError(f"sigma0: expected a step size in (0, 1] as a fraction of each "
                             f"parameter's range, got {sigma0!r}")
        for label, v, lo in (("popsize", popsize, 2), ("generations", generations, 1),
                             ("max_evals", max_evals, 1)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo):
                raise ValueError(f"{label}: expected an integer >= {lo}, got {v!r}")
        if generations is None and max_evals is None:
            raise ValueError("CMAES: give generations=... or max_evals=... (when to stop)")
        if popsize is not None and max_evals is not None and max_evals < popsize:
            raise ValueError(f"max_evals ({max_evals}) is less than one generation (popsize {popsize})")
        if x0 is not None and not isinstance(x0, dict):
            raise ValueError(f"x0: expected a dict {{parameter: value}}, got {type(x0).__name__}")
        if not isinstance(minimize, (bool, np.bool_)):
            raise ValueError(f"minimize: expected True or False, got {minimize!r}")
        if objective is not None and (not isinstance(objective, str) or not objective):
            raise ValueError(f"objective: expected a score name, got {objective!r}")
        if cma_options is not None and not isinstance(cma_options, dict):
            raise ValueError(f"cma_options: expected a dict, got {type(cma_options).__name__}")
        reserved = sorted(k for k in (cma_options or {}) if k in _RESERVED)
        if reserved:
            raise ValueError(f"cma_options: {reserved} are set by CMAES itself "
                             f"(use sigma0, popsize, generations, max_evals, the space's bounds)")
        self.sigma0 = float(sigma0)
        self.popsize = None if popsize is None else int(popsize)
        self.generations = None if generations is None else int(generations)
        self.max_evals = None if max_evals is None else int(max_evals)
        self.x0 = None if x0 is None else {str(k): _plain(v) for k, v in x0.items()}
        self.minimize = bool(minimize)
        self.cma_options = {str(k): _plain(v) for k, v in (cma_options or {}).items()}
        self._objective_given = objective
        self.objectives = (objective,) if objective else ()
        self._es = None

    # -- contract ------------------------------------------------------------------------------
    def config(self) -> dict:
        return {"name": self.name, "objectives": [self._objective_given] if self._objective_given else None,
                "weights": [-1.0 if self.minimize else 1.0], "sigma0": self.sigma0,
                "popsize": self.popsize, "generations": self.generations, "max_evals": self.max_evals,
                "x0": self.x0, "cma_options": dict(sorted(self.cma_options.items()))}

    def check(self, space: ParameterSpace) -> None:
        _check_optimisable(space, "CMAES")
        cats = [d.name for d in space.dimensions if d.kind == "categorical"]
        if cats:
            raise ValueError(f"CMAES searches numeric parameters; {cats} are categorical (a list of "
                             f"choices): use Evolution or BayesOpt, or one study per choice")
        if self.x0 is not None:
            names = [d.name for d in space.dimensions]
            unknown = sorted(set(self.x0) - set(names))
            if unknown:
                raise ValueError(f"x0: {unknown} are not parameters of the space {names}")
            for d in space.dimensions:
                if d.name in self.x0:
                    v = self.x0[d.name]
                    if not isinstance(v, (int, float)) or isinstance(v, bool) or not d.low <= v <= d.high:
                        raise ValueError(f"x0[{d.name!r}] = {v!r} is not a number within the bounds "
                                         f"({d.low}, {d.high})")
        if self.max_evals is not None and self.max_evals < self._popsize(space):
            raise ValueError(f"max_evals ({self.max_evals}) is less than one generation "
                             f"(popsize {self._popsize(space)} for {len(space.dimensions)} parameters)")

    def expected_total(self) -> int | None:
        return self._n_generations * self._lam if self._es is not None else None

    def check_scores(self, scores: dict) -> None:
        """Adopt the single score as objective (objective=None) or check the named one."""
        self.objectives = _adopt_objectives(self.objectives, scores, "CMAES")

    def start(self, space: ParameterSpace, seed: int) -> None:
        self._setup(space, int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint32)[0]))
        if not self._objective_given:
            self.objectives = ()

    def ask(self) -> Batch | None:
        if self._pending is None:
            if self._generation >= self._n_generations or self._stop:
                return None
            self._pending = self._es.ask()
        return Batch([self._decode(x) for x in self._pending], {"generation": self._generation})

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        _check_told(self, self._pending, outcomes)
        sign = 1.0 if self.minimize else -1.0
        values = []
        for x, out in zip(self._pending, outcomes):
            v = _score(out, self.objectives[0]) if self.objectives else None
            values.append(None if v is None else sign * v)
            if v is not None and (self._best is None or sign * v < self._best[1]):
                self._best = (np.array(x, dtype=float), sign * v)
        ok = [v for v in values if v is not None]
        if ok:
            self._ok_range = (min(ok + list(self._ok_range[:1])), max(ok + list(self._ok_range[1:])))
        failed = _failure_value(list(self._ok_range))
        told = [failed if v is None else v for v in values]
        self._tell_generation(self._pending, told)
        self._pending = None

    def get_state(self) -> dict:
        """Plain data from which :meth:`set_state` replays the search (see the module doc)."""
        sign = 1.0 if self.minimize else -1.0
        es = self._es
        return {"version": 1, "seed": self._seed, "generation": self._generation,
                "objectives": list(self.objectives),
                "told": np.array(self._told, dtype=float).reshape(len(self._told), self._lam),
                "asked": list(self._asked), "ok_range": list(self._ok_range),
                "best_x": None if self._best is None else self._best[0],
                "best_value": None if self._best is None else sign * self._best[1],
                "stop": {str(k): _plain(v) for k, v in self._stop.items()},
                # for information (not read back): the distribution in unit-cube coordinates
                "mean": np.array(es.mean, dtype=float), "sigma": float(es.sigma)}

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError("CMAES.set_state: not a state saved by CMAES.get_state")
        self._setup(space, int(state["seed"]))
        told = np.asarray(state["told"], dtype=float)
        if len(told) != len(state["asked"]) or (len(told) and told.shape[1] != self._lam):
            raise ValueError(f"CMAES state: {len(told)} told generations of shape {told.shape[1:]} for "
                             f"{len(state['asked'])} asked ones of popsize {self._lam}")
        for g, values in enumerate(told):
            xs = self._es.ask()
            if _fingerprint(xs) != state["asked"][g]:
                raise ValueError(f"CMAES.set_state: replaying generation {g} asked other points than the "
                                 f"stored study did (another cma version, {_cma_version()}, or other "
                                 f"settings); the search cannot continue exactly")
            self._tell_generation(xs, values.tolist())
        self.objectives = tuple(state["objectives"])
        self._ok_range = tuple(float(v) for v in state["ok_range"])
        if state.get("best_x") is not None:
            sign = 1.0 if self.minimize else -1.0
            self._best = (np.asarray(state["best_x"], dtype=float), sign * float(state["best_value"]))

    # -- results -------------------------------------------------------------------------------
    def best(self) -> tuple[dict, float] | None:
        """The best evaluated point and its objective value (None before any ok run)."""
        if self._best is None:
            return None
        x, v = self._best
        return self._decode(x), (v if self.minimize else -v)

    # -- internals -------------------------------------------------------------------------------
    def _popsize(self, space: ParameterSpace) -> int:
        return self.popsize or 4 + int(3 * math.log(len(space.dimensions)))

    def _setup(self, space: ParameterSpace, seed: int) -> None:
        import cma
        self.check(space)
        self._space = space
        self._seed = seed
        self._lam = self._popsize(space)
        limits = [g for g in (self.generations, self.max_evals and self.max_evals // self._lam) if g]
        self._n_generations = min(limits)
        rng = np.random.RandomState(seed)
        opts = dict(self.cma_options)
        opts.update({"bounds": [0.0, 1.0], "BoundaryHandler": cma.BoundTransform, "popsize": self._lam,
                     "randn": lambda *shape: rng.standard_normal(shape), "seed": np.nan,
                     "verbose": -9, "verb_disp": 0, "verb_log": 0})
        # one flat generation (all failed) must not end the search: cma widens sigma instead
        opts.setdefault("tolflatfitness", self._n_generations + 1)
        x0 = [self._unit(d, self.x0[d.name]) if self.x0 and d.name in self.x0 else 0.5
              for d in space.dimensions]
        self._es = cma.CMAEvolutionStrategy(x0, self.sigma0, opts)
        self._generation = 0
        self._told: list[list[float]] = []
        self._asked: list[str] = []
        self._ok_range: tuple = ()
        self._best = None
        self._stop: dict = {}
        self._pending = None

    def _tell_generation(self, xs, values: list[float]) -> None:
        self._es.tell(xs, values)
        self._asked.append(_fingerprint(xs))
        self._told.append([float(v) for v in values])
        self._generation += 1
        self._stop = dict(self._es.stop())

    @staticmethod
    def _unit(d, value: float) -> float:
        lo, hi = _internal_bounds(d)
        v = math.log10(value) if d.scale == "log" else float(value)
        return min(max((v - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.5

    def _decode(self, x) -> dict:
        point = {}
        for d, u in zip(self._space.dimensions, np.asarray(x, dtype=float)):
            lo, hi = _internal_bounds(d)
            v = lo + float(u) * (hi - lo)
            if d.scale == "log":
                point[d.name] = d.clip(10.0 ** v)
            elif d.scale == "int":
                point[d.name] = d.clip(int(round(v)))
            else:
                point[d.name] = d.clip(v)
        return point


def _internal_bounds(d) -> tuple[float, float]:
    if d.scale == "log":
        return math.log10(d.low), math.log10(d.high)
    if d.scale == "int":
        return d.low - _INT_MARGIN, d.high + _INT_MARGIN
    return float(d.low), float(d.high)


def _fingerprint(xs) -> str:
    """A short hash of a generation's points (unit cube, float64 bytes)."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(xs, dtype=float)).tobytes()).hexdigest()[:16]


def _cma_version() -> str:
    import cma
    return f"cma {getattr(cma, '__version__', '?')}"


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
