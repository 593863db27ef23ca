"""Importing a generated model module from the kernel cache directory (no sympy needed)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys

from ..engine import kernel_dir

__all__ = ["import_generated"]


def import_generated(name: str, source: str, prefix: str = "bsy"):
    """Write the generated module to the kernel cache directory and import it. The file name
    carries a hash of the source: the engine's kernel of the model (whose cache key includes
    this module's source) and numba's cache files are reused by later processes."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    modname = f"{prefix}_{name}_{digest}"
    if modname in sys.modules:
        return sys.modules[modname]
    path = kernel_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".{os.getpid()}.{id(source)}.tmp")  # several processes may write it
        tmp.write_text(source)
        tmp.replace(path)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod
