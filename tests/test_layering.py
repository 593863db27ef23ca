"""Imports flow one way: cli/studyfile -> inference -> explorer/mpi -> models/evaluation -> data.

Each lower package is imported with every one of its submodules in a fresh Python process,
and the modules that process then holds (``sys.modules``) must not include a higher layer:
a lower module importing a higher one is a cycle waiting to happen (the higher layers import
the lower ones at their top).
"""

import json
import subprocess
import sys

import pytest

HIGHER = {
    "brainsweep.data": ("models", "evaluation", "explorer", "mpi", "inference", "studyfile", "cli"),
    "brainsweep.evaluation": ("explorer", "mpi", "inference", "studyfile", "cli"),
    "brainsweep.models": ("explorer", "mpi", "inference", "studyfile", "cli"),
    "brainsweep.explorer": ("inference", "studyfile", "cli"),
}

PROBE = """
import importlib, json, pkgutil, sys
pkg = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(m for m in sys.modules if m.startswith("brainsweep."))}))
"""


def _loaded_from(package: str, layers) -> list:
    """The modules of ``layers`` (subpackage names of brainsweep) loaded by importing
    ``package`` and all its submodules in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", PROBE, package], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["imported"]) > 1, out  # the package's submodules were really walked
    return [m for m in out["loaded"] if m.split(".")[1] in layers]


@pytest.mark.parametrize("package", sorted(HIGHER))
def test_lower_layers_do_not_import_higher_ones(package):
    higher = _loaded_from(package, HIGHER[package])
    assert higher == [], f"importing {package} and its submodules loaded {higher}"


def test_the_probe_sees_imports_across_layers():
    """The check can fail: importing the explorer's modules loads the models layer below it."""
    assert "brainsweep.models.engine" in _loaded_from("brainsweep.explorer", ("models",))
