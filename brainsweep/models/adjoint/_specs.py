"""The adjoint's view of a model's equations (sympy), built from its YAML definition.

Each spec gives, in the engine's conventions (see :mod:`brainsweep.models.engine`): the time
derivatives of the state of one node as functions of its state ``x``, its coupling vector ``c``
(the network sums, then the node's own locally delayed quantities), its input channels (noise,
held fixed by the adjoint), the step ``DT`` and its parameters (sympy symbols named as the
model's parameters); the coupled quantities written to the delay buffer; and the recorded
outputs. Every model defined by a YAML file gets its spec from that definition
(:mod:`._symbolic`): brainsweep's own definitions (the built-in models) and TVB-O files; there
are no hand-written equations here (one way to define a model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass
class SymbolicSpec:
    """One node's equations: ``rhs[k]`` = d state_k / dt (per ms)."""

    states: tuple        # sympy symbols of the state variables (engine order)
    coupling: tuple      # sympy symbols of the coupling vector entries
    rhs: tuple           # expressions, one per state
    coupled: tuple       # expressions of the coupled quantities (one per coupling entry)
    outputs: dict        # output name -> expression
    inputs: tuple = ()   # sympy symbols of the input channels (noise + stimulus), in channel order
    derived: tuple = ()  # (symbol, expression) of intermediate variables used above, dependencies first
    #: constants of the run the equations read (symbol -> kernel code reading ``const``, the
    #: tuple ``model.constants()`` returns), e.g. ``n_nodes`` -> ``const[0][0]``
    constants: dict = field(default_factory=dict)
    #: import lines the generated kernels need (functions printed by the equations' own classes)
    imports: tuple = ()


#: the integration step (ms) where an equation uses it (clamped states limit their derivative)
DT = sp.Symbol("adjdt", real=True)


class logistic(sp.Function):
    """``1 / (1 + exp(z))``, printed as the kernels' overflow-safe ``_logistic``: the derivative
    of the sympy form, ``-exp(z) / (1 + exp(z))**2``, is inf/inf = NaN for z > ~355 (a
    Jansen-Rit sigmoid far from its midpoint)."""

    def fdiff(self, argindex=1):
        q = logistic(self.args[0])
        return -q * (1 - q)

    def _pythoncode(self, printer):
        return f"_logistic({printer._print(self.args[0])})"


def _is_aln(cls) -> bool:
    from ..aln.model import ALNModel

    return issubclass(cls, ALNModel)


def variant_of(model) -> str:
    """What a model's equations depend on beyond its class (part of the kernel cache key): ALN's
    ``filter_sigma`` switch selects a branch of its right-hand side."""
    if _is_aln(type(model)):
        from ._aln import filter_on

        return f"filter_sigma={int(filter_on(model))}"
    return ""


def fixed_params(model) -> dict:
    """Parameters without a derivative here -> the reason (checked before anything runs)."""
    if _is_aln(type(model)):
        from ._aln import FIXED

        return dict(FIXED)
    return {}


def initial_value_params(model, initial_state) -> dict:
    """{state: parameter} of the states whose initial value in ``model.run`` is that parameter's
    value (their adjoint at t = 0 adds to the parameter's gradient)."""
    if _is_aln(type(model)):
        from ._aln import initial_value_params as of_aln

        return of_aln(initial_state)
    return {}


def _kind(cls):
    """Where a model class's adjoint equations come from, or None."""
    if _is_aln(cls):
        return "aln"
    if getattr(cls, "model_def", None) is not None and getattr(cls, "coupling_map", None) is not None:
        return "tvbo"
    if getattr(cls, "model_def", None) is not None and hasattr(cls.model_def, "sums"):
        return "brainsweep"
    return None


def check_supported(cls) -> None:
    """A clear error for a model class without equations the adjoint can read."""
    if _kind(cls) is None:
        raise ValueError(f"no symbolic equations for model {cls.__name__}; exact gradients are available for "
                         f"every model defined by a YAML file (brainsweep's definitions and TVB-O's, "
                         f"brainsweep.models.from_yaml) and for ALN")


def spec_for(model) -> SymbolicSpec:
    """The symbolic spec of ``model`` from its YAML definition (a TVB-O file or one of brainsweep's
    definitions) or, for ALN, from its numba right-hand side itself (:mod:`._aln`), else a clear
    error."""
    cls = type(model)
    check_supported(cls)
    kind = _kind(cls)
    if kind == "aln":
        from ._aln import spec_from_aln

        return spec_from_aln(model)
    if kind == "tvbo":
        from ._symbolic import spec_from_definition

        return spec_from_definition(cls)
    from ._symbolic import spec_from_brainsweep_definition

    return spec_from_brainsweep_definition(cls)
