"""The ask/tell contract every search strategy follows, and grid search.

A study drives any strategy through one loop::

    strategy.start(space, seed)             # or strategy.set_state(saved) on resume
    while (batch := strategy.ask()) is not None:
        outcomes = [evaluate each point of batch.points]   # on an executor
        strategy.tell(batch, outcomes)
        save(strategy.get_state())

``ask`` must be deterministic given the state (the state holds the strategy's
random generator), so a resumed study asks again exactly the batch that was
being evaluated when it was interrupted. States are plain data (see ``_plain``),
stored as JSON: never pickles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .space import ParameterSpace

__all__ = ["Outcome", "Batch", "Strategy", "GridSearch", "STATUSES"]

#: run states, as optuna's TrialState: ``ok``; ``failed`` (exception text kept);
#: ``diverged`` (NaN/inf in a score or output); ``timeout`` (per-run time limit).
STATUSES = ("ok", "failed", "diverged", "timeout")


@dataclass
class Outcome:
    """What a strategy learns of one evaluated point."""

    index: int                      # run index in the trajectory
    params: dict                    # the point as evaluated
    status: str                     # one of STATUSES
    scores: dict = field(default_factory=dict)   # scalar scores (python floats/ints/bools)
    message: str = ""               # error text for failed/diverged/timeout runs

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Batch:
    """Points to evaluate together, and labels stored with each of their runs.

    ``tags`` are integer labels (e.g. ``{"generation": 3}``) written as columns
    of the runs table.
    """

    points: list
    tags: dict = field(default_factory=dict)


class Strategy:
    """Base class of search strategies (grid, evolution, Bayesian optimisation)."""

    #: short name stored in the trajectory
    name = "strategy"
    #: score keys the strategy optimises (empty for grid search)
    objectives: tuple = ()

    def config(self) -> dict:
        """Json-able settings; a resumed study must have the same config."""
        raise NotImplementedError

    def check(self, space: ParameterSpace) -> None:
        """Raise ``ValueError`` if the strategy cannot search ``space``."""

    def start(self, space: ParameterSpace, seed: int) -> None:
        """Begin a fresh search of ``space`` with random ``seed``."""
        raise NotImplementedError

    def ask(self) -> Batch | None:
        """The next batch to evaluate, or ``None`` when the search is finished."""
        raise NotImplementedError

    def tell(self, batch: Batch, outcomes: list[Outcome]) -> None:
        """Report the outcomes of ``batch`` (same order as ``batch.points``)."""

    def get_state(self) -> Any:
        """A snapshot from which ``set_state`` continues exactly, as plain data (see
        :mod:`._plain`: dicts with string keys, lists, str, int, float, bool, None and numpy
        arrays; never pickled objects), so that reading a study file runs no code."""
        raise NotImplementedError

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        """Continue from a :meth:`get_state` snapshot (as :func:`._plain.decode` returns it):
        the next ``ask`` equals the one an uninterrupted search would make."""
        raise NotImplementedError

    def expected_total(self) -> int | None:
        """Total number of runs, if known (for the progress bar)."""
        return None

    def check_scores(self, scores: dict) -> None:
        """Raise ``ValueError`` if an evaluation's scores lack an objective."""
        missing = [k for k in self.objectives if k not in scores]
        if missing:
            raise ValueError(f"the evaluation returned scores {sorted(scores)} but the strategy's "
                             f"objectives {list(self.objectives)} need {missing}")


class GridSearch(Strategy):
    """Evaluate every point of a grid ``ParameterSpace`` once.

    Parameters
    ----------
    batch_size : int, optional
        Points per ask; by default the whole grid is one batch. Smaller batches
        only bound memory for huge grids.
    """

    name = "grid"

    def __init__(self, batch_size: int | None = None):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self._points: list = []
        self._next = 0

    def config(self) -> dict:
        return {"name": self.name}

    def check(self, space: ParameterSpace) -> None:
        if not space.is_grid:
            bad = [d.name for d in space.dimensions if d.kind != "grid"]
            raise ValueError(f"GridSearch needs a list of values for every parameter; {bad} have bounds")

    def start(self, space: ParameterSpace, seed: int) -> None:
        self.check(space)
        self._points = space.grid_points()
        self._next = 0

    def ask(self) -> Batch | None:
        if self._next >= len(self._points):
            return None
        size = self.batch_size or len(self._points)
        pts = self._points[self._next:self._next + size]
        self._next += len(pts)
        return Batch(pts, {"batch": math.ceil(self._next / size) - 1})

    def get_state(self) -> Any:
        return {"next": self._next}

    def set_state(self, space: ParameterSpace, state: Any) -> None:
        self.start(space, 0)
        self._next = int(state["next"])

    def expected_total(self) -> int | None:
        return len(self._points)
