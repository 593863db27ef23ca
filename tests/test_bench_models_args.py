"""Argument checks of benchmarks/bench_models.py (the script prints the README's model table)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_models.py"


@pytest.mark.parametrize("value", ["0", "-2"])
def test_repeat_below_one_is_an_argument_error_naming_the_option(value):
    res = subprocess.run([sys.executable, str(SCRIPT), "--repeat", value], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert f"--repeat must be at least 1, got {value}" in res.stderr
    assert "| model |" not in res.stdout  # refused before any measurement
