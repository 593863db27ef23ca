"""Models as data: TVB-O (The Virtual Brain Ontology) YAML files compiled onto the engine.

brainsweep's own models are defined the same way (``brainsweep/models/definitions/*.yaml``: a
TVB-O model file plus a ``brainsweep`` section, see ``_definition.py``), compiled with their
equations evaluated in the order written (``_textcode``), so they equal hand-written code.

```python
from brainsweep.models import from_yaml, catalog
jr = from_yaml("JansenRit", coupling="SigmoidalJansenRit", Cmat=C, Dmat=D)
print(jr.report())
```

A model file's parameters (value, domain, unit, description), functions, derived parameters and
variables (incl. Piecewise ones), state equations, initial values, clamped domains and coupling
inputs are parsed with sympy, checked (unknown symbols, circular definitions, values outside
their domain: errors naming the file, the line and the symbol), and turned into numba source in
the engine's model form; the engine inlines it into its kernel like a hand-written model.
sympy is imported on the first ``from_yaml`` call, not with ``brainsweep.models``.
"""

from ._source import Refused, YamlModelError, catalog, catalog_couplings, tvbo_database

__all__ = ["from_yaml", "model_class", "catalog", "catalog_couplings", "YamlModel", "YamlModelError", "Refused",
           "tvbo_database"]


def from_yaml(path_or_name, coupling=None, Cmat=None, Dmat=None, *, delays=None, inputs=None, database=None,
              **params):
    """A model from a TVB-O YAML file or a tvbo database name (see :func:`catalog`).

    coupling: a coupling-function file or tvbo name (Linear, Difference, Sigmoidal,
    SigmoidalJansenRit, HyperbolicTangent, KuramotoCoupling, PreSigmoidal, Scaling; default
    Linear, TVB's default); its parameters are called ``coupling_<name>``. Cmat, Dmat (mm),
    delays (ms) as for every model; ``params`` set parameter values (checked against their
    domains). inputs: the state variables that get an input channel (stimulus + OU + white noise
    added to the derivative; default all, () for none: each channel costs a little time per
    node-step). database: the tvbo package or database folder (default ``$BRAINSWEEP_TVBO_PATH``,
    else the installed ``tvbo``). Errors: :class:`YamlModelError` naming file, line and symbol.

    A brainsweep definition (a file with a ``brainsweep`` section, or the name of one of
    brainsweep's own, e.g. ``"hopf"``: see ``definitions/``) declares its own coupling and
    inputs: ``coupling`` and ``inputs`` must then be None.
    """
    definition = _definition_of(path_or_name, coupling, inputs)
    if definition is not None:
        return definition(Cmat, Dmat, delays=delays, params=params or None)
    from ._model import from_yaml as build

    return build(path_or_name, coupling, Cmat, Dmat, delays=delays, inputs=inputs, database=database, **params)


def model_class(model, coupling=None, *, inputs=None, database=None):
    """The generated Model class of a model file/name and coupling file/name (cached per process)."""
    definition = _definition_of(model, coupling, inputs)
    if definition is not None:
        return definition
    from ._model import model_class as build

    return build(model, coupling, inputs=inputs, database=database)


def _definition_of(path_or_name, coupling, inputs):
    """The class of a brainsweep definition (own name or file with a ``brainsweep`` section), else None."""
    from pathlib import Path

    from ._definition import builtin_definitions, is_definition
    from ._defined_model import definition_class

    p = Path(str(path_or_name))
    if str(path_or_name) not in builtin_definitions() and not (p.suffix in (".yaml", ".yml") and p.is_file()
                                                               and is_definition(p)):
        return None
    if coupling is not None or inputs is not None:
        raise ValueError(f"{path_or_name}: a brainsweep definition declares its own coupling and inputs "
                         "(pass coupling=None, inputs=None)")
    return definition_class(path_or_name)


def __getattr__(name):
    if name == "YamlModel":
        from ._model import YamlModel

        return YamlModel
    raise AttributeError(name)
