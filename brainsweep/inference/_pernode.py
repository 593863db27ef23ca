"""Where the per-node evaluation lived before it moved to :mod:`brainsweep.explorer.pernode`
(kept so that evaluators pickled by older versions still unpickle with ``trust``)."""

from ..explorer.pernode import PerNodeEvaluation, model_evaluation, per_node_bounds, per_node_groups

__all__ = ["per_node_bounds", "per_node_groups", "model_evaluation", "PerNodeEvaluation"]
