"""Expression strings of TVB-O files -> sympy -> numba source.

Only a fixed set of functions is known (exp, log, tanh, Piecewise, ...); every other name must
be declared by the file (a parameter, state, derived variable, coupling input or function), so
a misspelt name is an error instead of a silently created symbol or a sympy built-in (``E``,
``I``, ``S``, ``N``, ``gamma`` and ``beta`` are ordinary model names here).
"""

from __future__ import annotations

import ast
import re

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import auto_number, auto_symbol, factorial_notation, parse_expr, repeated_decimals
from sympy.printing.pycode import PythonCodePrinter

from ._textcode import TextCodeError, _parsed
from ._textcode import topological_order as _topological_order

__all__ = ["parse", "to_code", "topological_order"]

_FUNCTIONS = {
    name: getattr(sp, name)
    for name in ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
                 "tanh", "Abs", "sign", "Piecewise", "Max", "Min", "erf", "erfc", "floor", "ceiling",
                 "Heaviside")
}  # fmt: skip
_FUNCTIONS.update(abs=sp.Abs, ln=sp.log, max=sp.Max, min=sp.Min, pi=sp.pi, true=sp.true, false=sp.false)
_BASE = {"Symbol": sp.Symbol, "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
         "Function": sp.Function, "True": sp.true, "False": sp.false}  # fmt: skip
_TRANSFORMS = (auto_symbol, repeated_decimals, auto_number, factorial_notation)
_INDEXED = re.compile(r"\b(x_[ij])\[(\d+)\]")


class ParseError(ValueError):
    """An expression that cannot be used; ``symbol`` names the offending name (or the text)."""

    def __init__(self, symbol: str, message: str):
        super().__init__(message)
        self.symbol = symbol


_SAFE_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name, ast.Load,
               ast.Constant, ast.Tuple, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def _refuse_code(src: str, text: str) -> None:
    """sympy's ``parse_expr`` evaluates its text as Python: only arithmetic, comparisons, calls of
    plain names, names and numbers get that far (no attributes, subscripts, strings, lambdas,
    dunder names), so a file's expression cannot run code."""
    try:
        tree = _parsed(src)  # the tree _textcode prints the engine's code from (cached)
    except TextCodeError as exc:
        raise ParseError(text, str(exc)) from None
    for node in ast.walk(tree):
        bad = None
        if not isinstance(node, _SAFE_NODES):
            bad = type(node).__name__
        elif isinstance(node, ast.Name) and node.id.startswith("_"):
            bad = f"name {node.id!r}"
        elif isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.keywords):
            bad = "call of something other than a function name"
        elif isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            bad = f"constant {node.value!r}"
        if bad is not None:
            raise ParseError(text, f"not an expression of numbers, names and functions ({bad})")


def parse(text, names: dict, functions: dict | None = None) -> sp.Expr:
    """Parse ``text`` with the declared ``names`` (name -> sympy object) and ``functions``
    (name -> sympy undefined Function class of a function the file declares). ``x_j[k]`` / ``x_i[k]`` become the symbols ``x_j__k`` / ``x_i__k``.
    Raises ParseError naming an unknown symbol or function, or the text that does not parse."""
    if isinstance(text, bool) or text is None:
        raise ParseError(str(text), "expected an expression string")
    src = _INDEXED.sub(r"\1__\2", str(text)).replace("^", "**")
    _refuse_code(src, str(text))
    local = dict(_FUNCTIONS)
    local.update(functions or {})
    local.update(names)
    try:
        expr = parse_expr(src, local_dict=local, global_dict=dict(_BASE), transformations=_TRANSFORMS)
    except Exception as exc:  # sympy raises SyntaxError, TokenError, TypeError, ... on bad text
        raise ParseError(str(text), f"expression does not parse ({type(exc).__name__}: {exc})") from None
    if not isinstance(expr, (sp.Basic, int, float)):
        raise ParseError(str(text), f"expression does not give a number: {expr!r}")
    expr = sp.sympify(expr)
    declared = set(functions or {})
    undef = sorted({f.func.__name__ for f in expr.atoms(AppliedUndef)} - declared)
    if undef:
        raise ParseError(undef[0], f"unknown function {undef[0]!r} (known: declared functions and "
                                   f"{', '.join(sorted(k for k in _FUNCTIONS if k[0].isalpha()))})")
    known = {s for s in names.values() if isinstance(s, sp.Symbol)}
    unknown = sorted(str(s) for s in expr.free_symbols if s not in known)
    if unknown:
        raise ParseError(unknown[0], "unknown symbol (not a parameter, state variable, derived variable "
                                     "or coupling input of this file)")
    return expr


def topological_order(deps: dict) -> list:
    """Names ordered so that each comes after the names it depends on (``deps``: name -> set of
    names, only those in deps count). Raises ParseError naming one variable of a cycle."""
    try:
        return _topological_order(deps)
    except TextCodeError as exc:
        raise ParseError(exc.symbol, str(exc)) from None


class _Printer(PythonCodePrinter):
    """Python source for numba: math.* functions, floats as exact repr, integer powers kept; a
    call of a declared function f(args) becomes ``f_<name>(args, <its parameters>)``."""

    def __init__(self, settings, function_params):
        super().__init__(settings)
        self._function_params = function_params

    def _print_Function(self, expr):
        if isinstance(expr, AppliedUndef):
            name = expr.func.__name__
            args = [self._print(a) for a in expr.args] + [self._print(s) for s in self._function_params[name]]
            return f"f_{name}({', '.join(args)})"
        return super()._print_Function(expr)

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        return f"({float(expr.p)!r} / {float(expr.q)!r})"

    def _print_Heaviside(self, expr):
        a = self._print(expr.args[0])
        return f"(1.0 if {a} > 0 else (0.0 if {a} < 0 else 0.5))"

    def _print_Pow(self, expr, rational=False):
        if expr.exp == sp.Rational(1, 2):
            return f"math.sqrt({self._print(expr.base)})"
        return super()._print_Pow(expr, rational=rational)


def to_code(expr, rename: dict, function_params: dict | None = None) -> str:
    """Python/numba source of ``expr`` with symbols renamed (symbol -> code string);
    function_params: declared function name -> parameter Symbols passed after its arguments."""
    fp = function_params or {}
    needed = set(expr.free_symbols).union(*(fp[f.func.__name__] for f in expr.atoms(AppliedUndef)))
    subs = {s: sp.Symbol(rename[s]) for s in needed}
    fp = {k: [subs.get(s, s) for s in v] for k, v in fp.items()}
    return _Printer({"fully_qualified_modules": True}, fp).doprint(expr.xreplace(subs))
