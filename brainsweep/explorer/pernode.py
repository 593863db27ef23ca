"""Per-node values: one explored dimension per node of a model's per-node parameter.

A space dimension named ``<param>__<node>`` (e.g. ``a__0``, ``a__1``, ...; written by
``ParameterSpace(per_node=[...])`` once bound to a model, or by hand with :func:`per_node_bounds`)
is node ``node``'s value of the model's per-node parameter ``param``: each run passes the model
one array for ``param`` (the model's current values, broadcast over the nodes, with the explored
nodes replaced). Used by every strategy but GradientDescent (which has its own adjoint
evaluation); for SBI the prior of each such dimension is its own bounds, like any other.
"""

from __future__ import annotations

import numpy as np

from .model_eval import ModelEvaluation
from .space import per_node_name, split_per_node_name

__all__ = ["per_node_bounds", "per_node_groups", "model_evaluation", "PerNodeEvaluation"]

def per_node_bounds(param: str, low: float, high: float, n_nodes: int, scale: str | None = None) -> dict:
    """``{"<param>__0": (low, high[, scale]), ..., "<param>__<n-1>": ...}`` for ``ParameterSpace(bounds=...)``."""
    if not isinstance(n_nodes, (int, np.integer)) or n_nodes < 1:
        raise ValueError(f"n_nodes: expected a positive integer, got {n_nodes!r}")
    bound = (low, high) if scale is None else (low, high, scale)
    return {per_node_name(param, i): bound for i in range(int(n_nodes))}


def per_node_groups(model, names) -> dict[str, list[tuple[str, int]]]:
    """``{param: [(name, node), ...]}`` for the names that address nodes of a per-node parameter
    of ``model`` (names the model has itself are left alone); ``ValueError`` for a node out of
    range or a parameter that is not per node."""
    groups: dict[str, list[tuple[str, int]]] = {}
    known = set(model.param_names)
    for name in names:
        split = split_per_node_name(name)
        if name in known or split is None or split[0] not in known:
            continue
        param, node = split
        if not model.params.specs[param].per_node:
            raise ValueError(f"parameter {name!r}: {param!r} of {type(model).__name__} takes one value for all "
                             f"nodes, not one per node")
        if node >= model.n_nodes:
            raise ValueError(f"parameter {name!r}: node {node} does not exist ({type(model).__name__} has "
                             f"{model.n_nodes} nodes, 0..{model.n_nodes - 1})")
        groups.setdefault(param, []).append((name, node))
    return groups


class _ModelSpace:
    """What ModelEvaluation checks of a space: the names the model must know, and fixed values."""

    def __init__(self, space, per_node: set):
        self.names = [n for n in space.names if n not in per_node]
        self.fixed = dict(space.fixed)

    def validate(self, known, what: str) -> None:
        known = list(known)
        unknown = [n for n in self.names + list(self.fixed) if n not in known]
        if unknown:
            raise ValueError(f"parameter(s) {unknown} are not parameters of {what} (known: {', '.join(known)}; "
                             f"per-node values: <param>__<node>)")


def model_evaluation(model, space, objective=None, run_kwargs=None, keep=None, timeout=None):
    """``ModelEvaluation`` of ``model`` over ``space``, or a :class:`PerNodeEvaluation` of it when the
    space has per-node dimensions (``<param>__<node>``)."""
    groups = per_node_groups(model, space.names)
    if not groups:
        return ModelEvaluation(model, space, objective=objective, run_kwargs=run_kwargs, keep=keep, timeout=timeout)
    per_node = {name for members in groups.values() for name, _ in members}
    inner = ModelEvaluation(model, _ModelSpace(space, per_node), objective=objective, run_kwargs=run_kwargs,
                            keep=keep, timeout=timeout)
    return PerNodeEvaluation(inner, groups)


class PerNodeEvaluation:
    """A ``ModelEvaluation`` whose runs gather ``<param>__<node>`` values into per-node arrays."""

    def __init__(self, evaluation: ModelEvaluation, groups: dict):
        self.evaluation, self.groups = evaluation, {p: list(m) for p, m in groups.items()}
        self._names = {name for members in self.groups.values() for name, _ in members}

    def with_evaluation(self, evaluation) -> "PerNodeEvaluation":
        """The same node mapping around another evaluation of the same model."""
        return PerNodeEvaluation(evaluation, self.groups)

    @property
    def identity(self) -> str:
        nodes = ";".join(f"{p}:{','.join(str(n) for _, n in m)}" for p, m in sorted(self.groups.items()))
        return f"{self.evaluation.identity}+per_node[{nodes}]"

    @property
    def threads(self) -> int:
        return self.evaluation.threads

    def reference(self):
        """The model evaluation's reference (the node mapping follows from the space's names)."""
        return self.evaluation.reference()

    def model_params(self, params: dict) -> dict:
        """A run's point with per-node dimensions gathered into one array per parameter."""
        model = self.evaluation.model
        out = {k: v for k, v in params.items() if k not in self._names}
        for param, members in self.groups.items():
            values = np.array(np.broadcast_to(np.asarray(out.get(param, self.evaluation.fixed.get(
                param, model.params[param])), dtype=float), (model.n_nodes,)))
            for name, node in members:
                values[node] = float(params[name])
            out[param] = values
        return out

    def evaluate_chunk(self, tasks: list):
        return self.evaluation.evaluate_chunk([(i, self.model_params(p), s) for i, p, s in tasks])
