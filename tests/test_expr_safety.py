"""An expression in a model file is parsed (sympy evaluates its text as Python) only after its
syntax tree was checked: a file cannot run code through an equation."""

import pytest
import sympy as sp

from brainsweep.models.symbolic._expr import ParseError, parse

X = {"x": sp.Symbol("x"), "k": sp.Symbol("k")}


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/pwned_by_yaml')",
    "x.__class__",
    "(lambda: 1)()",
    "[c for c in ()]",
    "exp.__globals__",
    "Symbol('y')",          # allowed names only through the file's declarations: a call with a string
    "x[0]",
    "exp(x, base=2)",
])
def test_code_in_an_expression_is_refused_before_sympy_sees_it(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParseError, match="not an expression|does not parse"):
        parse(text, X)
    assert not (tmp_path / "pwned_by_yaml").exists()


def test_ordinary_expressions_still_parse():
    e = parse("-x**2 + k*exp(-x) - Piecewise((x, x > 0), (0, True)) + 2.5e-3 ^ 2", X)
    x, k = X["x"], X["k"]
    want = -x**2 + k * sp.exp(-x) - sp.Piecewise((x, x > 0), (0, True)) + sp.Float(2.5e-3) ** 2
    assert sp.simplify(e - want) == 0
