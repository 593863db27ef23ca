"""An evaluator recorded by reference, and rebuilt from it without unpickling anything.

A study file is mailed around and archived, so reading it must never run code from it.
What re-running a study needs (``reproduce``) is therefore recorded as plain data
(:mod:`._plain`): ``evaluator.reference()`` gives one of

- ``{"kind": "function", "target": "module:qualname", "code": <hash>, "fixed": {...},
  "timeout": s}``: a plain Python function importable here (not ``__main__``, a lambda
  or a closure);
- ``{"kind": "model", "model": <class name in brainsweep.models>, "params": {...},
  "network": {"Cmat": ..., "Dmat": ..., "delays": ...}, "attrs": {...},
  "run_kwargs": {...}, "keep": [...], "objective": <objective spec>, "timeout": s,
  "complete": bool}``; ``complete`` is False when the objective is (or holds) a user's own
  callable, which is then only named: plots can read the other parts' targets, but
  rebuilding needs the pickle; a model generated from TVB-O YAML files
  (``brainsweep.models.from_yaml``) is recorded with ``"yaml": {"model": {"path", "name",
  "sha256"}, "coupling": {...}, "inputs": [...]}`` (see :func:`yaml_model_source`) and rebuilt
  only from files whose bytes still hash to the recorded values;
- ``{"kind": "hnn", ...}``: hnn-core's network through
  :class:`brainsweep.explorer.hnn_eval.HNNEvaluator` (``set_params`` by ``module:qualname`` and code
  hash; see its ``reference``).

:func:`rebuild` turns such a document back into an evaluator. It only ever names code
already installed here, and refuses what a crafted file could abuse: a function from
Python's standard library or a private module, a class or builtin instead of a function, a
model class that is not brainsweep's, an objective that is not one of brainsweep's adapters,
and a function whose code no longer hashes to the recorded value.

:func:`load_evaluator` prefers that reference; the evaluator pickle that studies also
store is unpickled only for a file this process created or when the caller passes
``trust=True`` (``--trust``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pickle
import sys
import sysconfig
import types

import numpy as np

from . import _plain, storage
from .storage import StudyFileError

__all__ = ["code_hash", "importable_name", "rebuild", "load_evaluator", "reference_doc", "objective_spec_of",
           "objective_setting", "yaml_model_source", "yaml_model_class"]

_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis))


# -- code identity --------------------------------------------------------------------------
def code_hash(obj) -> str | None:
    """SHA-256 (hex) of the bytecode behind callable ``obj``: instructions, constants and
    names of its code object and of every nested one (inner functions, comprehensions),
    plus plain default values and closure values. Comments, formatting and line numbers
    do not count; a changed body does. Stable across processes (no ``id``/``hash`` of
    objects enters it). None for callables without Python code (builtins)."""
    fn = _python_function(obj)
    if fn is None:
        return None
    h = hashlib.sha256()
    _hash_function(h, fn, depth=0)
    return h.hexdigest()


def _python_function(obj):
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        return obj
    call = getattr(type(obj), "__call__", None)  # a callable object: its class's __call__
    return call if isinstance(call, types.FunctionType) else None


def _hash_function(h, fn, depth: int) -> None:
    _hash_code(h, fn.__code__)
    h.update(_stable_repr(fn.__defaults__, depth).encode())
    h.update(_stable_repr(sorted((fn.__kwdefaults__ or {}).items()), depth).encode())
    for cell in fn.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            value = None
        h.update(_stable_repr(value, depth).encode())


def _hash_code(h, code: types.CodeType) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    h.update(repr((code.co_argcount, code.co_kwonlyargcount, code.co_flags & 0x0F)).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(h, const)
        else:
            h.update(_stable_repr(const, 0).encode())


def _stable_repr(v, depth: int) -> str:
    """A text for ``v`` that is the same in every process (no addresses, no set order)."""
    if isinstance(v, _PLAIN_SCALARS):
        return repr(v)
    if isinstance(v, (tuple, list)):
        return type(v).__name__ + "(" + ",".join(_stable_repr(x, depth) for x in v) + ")"
    if isinstance(v, (frozenset, set)):
        return "set(" + ",".join(sorted(_stable_repr(x, depth) for x in v)) + ")"
    if isinstance(v, dict):
        return "dict(" + ",".join(sorted(f"{k!r}:{_stable_repr(x, depth)}" for k, x in v.items())) + ")"
    if isinstance(v, np.ndarray):
        return f"ndarray({v.dtype.str},{v.shape},{hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()})"
    if isinstance(v, np.generic):
        return repr(v.item())
    if isinstance(v, types.FunctionType) and depth < 4:  # a helper captured in a closure
        h = hashlib.sha256()
        _hash_function(h, v, depth + 1)
        return f"function({h.hexdigest()})"
    return f"<{type(v).__module__}.{type(v).__qualname__}>"


# -- functions by name ----------------------------------------------------------------------
def importable_name(fn) -> str | None:
    """``"module:qualname"`` if ``fn`` is a plain function that importing that name gives back
    here; None for ``__main__``, lambdas, closures, methods, builtins and callable objects."""
    if not isinstance(fn, types.FunctionType):
        return None
    module, qualname = getattr(fn, "__module__", None), fn.__qualname__
    if not module or module == "__main__" or "<" in qualname:
        return None
    target = f"{module}:{qualname}"
    try:  # exactly what a reader will accept, or no reference (the pickle, with trust, remains)
        return target if _checked_function(target) is fn else None
    except Exception:  # noqa: BLE001 - not importable under its own name: no reference
        return None


def _import_target(target: str):
    module, _, qualname = target.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _checked_function(target) -> types.FunctionType:
    """Import ``module:qualname`` read from a file, refusing anything a crafted file could
    turn against the reader instead of naming the study's own evaluate function."""
    if not isinstance(target, str) or target.count(":") != 1:
        raise StudyFileError(f"evaluator reference: expected 'module:qualname', got {target!r}")
    module, _, qualname = target.partition(":")
    modules, names = module.split("."), qualname.split(".")
    if not all(p.isidentifier() for p in modules + names) or any(p.startswith("_") for p in modules) \
            or any(p.startswith("__") for p in names):
        raise StudyFileError(f"evaluator reference {target!r}: not a function of a public module")
    if _in_standard_library(module):
        raise StudyFileError(f"evaluator reference {target!r} names Python's standard library, "
                             f"not a study's evaluate function; refusing to call it")
    try:
        fn = _import_target(target)
    except Exception as err:  # noqa: BLE001
        raise StudyFileError(f"the study's evaluate function {target} cannot be imported here "
                             f"({type(err).__name__}: {err}); is its module on the Python path?") from err
    if not isinstance(fn, types.FunctionType):
        raise StudyFileError(f"evaluator reference {target!r} is a {type(fn).__name__}, not a Python function")
    return fn


def _in_standard_library(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = getattr(spec, "origin", None) or ""
    stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
    real = os.path.realpath(origin) if origin else ""
    return any(real.startswith(p + os.sep) for p in stdlib) and "site-packages" not in real


# -- rebuilding -----------------------------------------------------------------------------
def rebuild(doc: dict):
    """The evaluator a reference document describes (see the module docstring)."""
    if not isinstance(doc, dict) or doc.get("kind") not in ("function", "model", "hnn"):
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise StudyFileError(f"evaluator reference: unknown kind {kind!r} (expected 'function', 'model' or 'hnn')")
    timeout = doc.get("timeout")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise StudyFileError(f"evaluator reference: timeout must be a positive number, got {timeout!r}")
    if doc["kind"] == "hnn":
        from .hnn_eval import HNNEvaluator
        try:
            return HNNEvaluator.from_reference(doc)
        except StudyFileError:
            raise
        except Exception as err:  # noqa: BLE001 - ImportError where hnn-core/NEURON is missing
            raise StudyFileError(f"the study's hnn evaluator cannot be rebuilt here "
                                 f"({type(err).__name__}: {err})") from err
    if doc["kind"] == "function":
        from .runner import FunctionEvaluator
        fn = _checked_function(doc.get("target"))
        now = code_hash(fn)
        if doc.get("code") != now:
            raise StudyFileError(f"the study's evaluate function {doc['target']} has changed since the study "
                                 f"was run (its code hashes to {str(now)[:12]}, the file recorded "
                                 f"{str(doc.get('code'))[:12]}); its runs cannot be re-run as they were")
        fixed = doc.get("fixed") or {}
        if not isinstance(fixed, dict):
            raise StudyFileError("evaluator reference: 'fixed' must be a mapping of parameter values")
        return FunctionEvaluator(fn, fixed=fixed, timeout=timeout)
    from .model_eval import ModelEvaluation
    if doc.get("complete") is False:
        raise IncompleteReference("the study's objective is (or holds) a user's own callable, recorded by name only")
    try:
        return ModelEvaluation.from_reference(doc)
    except StudyFileError:
        raise
    except Exception as err:  # noqa: BLE001 - a wrong document: say what
        raise StudyFileError(f"the study's model evaluation cannot be rebuilt from its reference "
                             f"({type(err).__name__}: {err})") from err


class IncompleteReference(StudyFileError):
    """A reference that names a part only (a user's objective): rebuilding needs the pickle."""


# -- reading a study file -------------------------------------------------------------------
def _bookkeeping(h5):
    """The group holding brainsweep's bookkeeping (its place is the storage module's choice)."""
    locate = getattr(storage, "bookkeeping", None)
    if locate is not None:
        node = locate(h5)
        return h5.get_node(node) if isinstance(node, str) else node
    return h5.get_node("/brainsweep")


def reference_doc(h5):
    """The evaluator reference stored in an open study file (plain data), or None."""
    bk = _bookkeeping(h5)
    if "evaluator_ref" not in bk:
        return None
    return _plain.decode(bk._f_get_child("evaluator_ref").read())


def load_evaluator(path_or_file, trust: bool = False):
    """The evaluator of a study file: rebuilt from its reference when it has one; else its
    pickle, which is unpickled only with ``trust=True`` or for a file this process created.

    ``path_or_file``: a path or an open :class:`StudyFile`. Raises ``StudyFileError`` with
    what to do when neither works.
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        with storage.StudyFile.open(os.fspath(path_or_file), "r") as f:
            return load_evaluator(f, trust)
    f = path_or_file
    doc = reference_doc(f.h5)
    why = ""
    if doc is not None:
        try:
            return rebuild(doc)
        except IncompleteReference as err:
            why = f" ({err})"
    bk = _bookkeeping(f.h5)
    if "evaluator" not in bk:
        raise StudyFileError(f"{f.path}: the study's evaluate function could not be pickled when the study was "
                             f"created, nor recorded by name (a lambda or closure?), so it cannot be re-run")
    mine = getattr(f, "study_id", None) in getattr(storage, "CREATED_HERE", ())
    if not (trust or mine):
        raise StudyFileError(f"{f.path}: the study's evaluator is stored only as a pickle{why}, and unpickling "
                             f"can run any code the file's author put in it; pass --trust (trust=True) "
                             f"only for a file you trust")
    try:
        return pickle.loads(bk._f_get_child("evaluator").read().tobytes())
    except Exception as err:  # noqa: BLE001 - e.g. its module is not importable here
        raise StudyFileError(f"{f.path}: the study's pickled evaluator cannot be loaded here "
                             f"({type(err).__name__}: {err}); is the module that defines it importable?") from err


def objective_spec_of(h5):
    """The plain spec of the study's objective (see ``objective_spec``), or None."""
    doc = reference_doc(h5)
    return doc.get("objective") if isinstance(doc, dict) and doc.get("kind") == "model" else None


def objective_setting(spec, name: str):
    """Setting ``name`` (e.g. ``"fc_emp"``, ``"target"``) of an objective spec, or of the first
    part of a combined objective that has it; None if none has."""
    if not isinstance(spec, dict):
        return None
    parts = (spec.get("parts") or []) if spec.get("objective") == "combine" else [spec]
    for part in parts:
        settings = part.get("settings") if isinstance(part, dict) else None
        if isinstance(settings, dict) and name in settings:
            return settings[name]
    return None


# -- models generated from TVB-O YAML files -------------------------------------------------------
_YAML_FOLDERS = {"model": "models", "coupling": "coupling_functions"}


def yaml_model_source(model) -> dict | None:
    """How a model generated from TVB-O files (``brainsweep.models.from_yaml``) is found again:
    ``{"model": {"path", "name", "sha256"}, "coupling": {...}, "inputs": [...]}``; None for
    every other model. The hashes are of the files' bytes, so a changed file is noticed."""
    generated = sys.modules.get("brainsweep.models.symbolic._model")  # not imported: not a YAML model
    if generated is None or not isinstance(model, generated.YamlModel):
        return None
    cls = type(model)
    return {"model": _file_reference(cls.yaml_path), "coupling": _file_reference(cls.coupling_path),
            "inputs": list(cls.input_channels)}


def _file_reference(path: str) -> dict:
    from pathlib import Path
    p = Path(path)
    return {"path": str(p), "name": p.stem, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}


def yaml_model_class(source) -> type:
    """The generated model class :func:`yaml_model_source` described: each file is looked up at
    its recorded path, else under its file name in the folder of models written from tvbo
    experiments (:func:`brainsweep.tvbo_experiment.files_dir`), else by name in the installed tvbo
    database, and used only if its bytes still hash to the recorded value (otherwise a
    StudyFileError says which file changed)."""
    if not isinstance(source, dict) or not all(isinstance(source.get(k), dict) for k in _YAML_FOLDERS):
        raise StudyFileError("evaluator reference: 'yaml' must hold the model and coupling files")
    inputs = source.get("inputs")
    if not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)):
        raise StudyFileError("evaluator reference: 'yaml.inputs' must be a list of state variable names")
    paths = {part: _recorded_file(part, source[part]) for part in _YAML_FOLDERS}
    from ..models.symbolic import model_class
    return model_class(paths["model"], paths["coupling"], inputs=tuple(inputs))


def _recorded_file(part: str, ref: dict) -> str:
    from pathlib import Path

    from ..models.symbolic._source import find_yaml
    path, name, digest = ref.get("path"), ref.get("name"), ref.get("sha256")
    if not all(isinstance(v, str) for v in (path, name, digest)):
        raise StudyFileError(f"evaluator reference: the {part} file needs path, name and sha256 strings")
    from ..tvbo_experiment import files_dir
    # the recorded path; a file of that name in this machine's folder of files written from tvbo
    # experiments; the tvbo database's file of that name
    candidates = [Path(path), files_dir() / Path(path).name]
    try:
        candidates.append(find_yaml(name, _YAML_FOLDERS[part]))
    except (FileNotFoundError, ValueError):
        pass  # not in a tvbo database here
    seen = {}
    for c in candidates:
        if c.is_file():
            seen[str(c)] = hashlib.sha256(c.read_bytes()).hexdigest()
            if seen[str(c)] == digest:
                return str(c)
    if not seen:
        raise StudyFileError(f"the study's {part} file {path} is not here (nor {name!r} in an installed tvbo "
                             f"database); the study cannot be rebuilt without it")
    found = "; ".join(f"{p} hashes to {h[:12]}" for p, h in seen.items())
    raise StudyFileError(f"the study's {part} file {name!r} has changed since the study was run ({found}; the "
                         f"study recorded {digest[:12]} for {path}); its runs cannot be re-run as they were")
