"""Equation text -> numba source that evaluates it in the order it is written.

sympy reorders sums and products when it builds an expression, which changes rounding. Here the
text's own Python syntax tree (``ast``, nothing is evaluated) is printed back fully parenthesised
with the symbols renamed, so ``a - r2 * x + K * c`` is computed exactly as written. Only an
allow-list of node types is accepted: numbers, names, + - * / ** (``^`` is read as ``**``),
unary minus, comparisons, ``&``/``|`` in conditions, ``Piecewise((value, condition), ...)``,
the math functions below and the functions a file declares. sympy parses the same text for
checking, units and derivatives (``_expr.parse``); this module needs no sympy.
"""

from __future__ import annotations

import ast
from functools import lru_cache

__all__ = ["TextCodeError", "names_in", "calls_in", "text_code", "topological_order", "MATH_FUNCTIONS"]

#: function name in an equation -> its numba source (math module or builtin)
MATH_FUNCTIONS = {
    **{f: f"math.{f}" for f in ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
                                "cosh", "tanh", "erf", "erfc", "floor")},
    "ln": "math.log", "ceiling": "math.ceil", "abs": "abs", "Abs": "abs", "max": "max", "Max": "max",
    "min": "min", "Min": "min",
}  # fmt: skip
_CONSTANTS = {"pi": "math.pi"}
_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_LOGIC = {ast.BitAnd: "and", ast.BitOr: "or"}


class TextCodeError(ValueError):
    """An equation text outside the allowed syntax, or naming an unknown symbol (``symbol``)."""

    def __init__(self, symbol: str, message: str):
        super().__init__(message)
        self.symbol = symbol


def _tree(text) -> ast.expr:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise TextCodeError(str(text), "expected an expression string")
    return _parsed(str(text))


@lru_cache(maxsize=4096)  # the trees are only read, never changed
def _parsed(text: str) -> ast.expr:
    try:
        return ast.parse(text.replace("^", "**").strip(), mode="eval").body
    except SyntaxError as exc:
        raise TextCodeError(str(text), f"expression does not parse ({exc.msg})") from None


def _walk_names(node, names: set, calls: set) -> None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        calls.add(node.func.id)
        for a in node.args:
            _walk_names(a, names, calls)
        return
    if isinstance(node, ast.Name):
        names.add(node.id)
    for child in ast.iter_child_nodes(node):
        _walk_names(child, names, calls)


def names_in(text) -> set:
    """The symbol names an expression reads (not the functions it calls, nor True/False/pi)."""
    return set(_names_calls(_tree(text))[0]) - {"True", "False", "pi"}


def calls_in(text) -> set:
    """The names of the functions an expression calls."""
    return set(_names_calls(_tree(text))[1])


@lru_cache(maxsize=4096)
def _names_calls(tree: ast.expr) -> tuple:
    names, calls = set(), set()
    _walk_names(tree, names, calls)
    return frozenset(names), frozenset(calls)


def text_code(text, rename: dict, functions: dict | None = None) -> str:
    """numba source of ``text``: each name replaced by ``rename[name]`` (code string), a call of a
    declared function ``f`` (``functions``: name -> list of code strings appended to its
    arguments, e.g. the parameters its body reads) becomes ``f_<f>(args..., extra...)``.
    Raises TextCodeError naming the unknown symbol or the construct that is not allowed."""
    return _Printer(rename, functions or {}).code(_tree(text))


class _Printer:
    def __init__(self, rename: dict, functions: dict):
        self.rename = rename
        self.functions = functions

    def code(self, node, condition: bool = False) -> str:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) and condition:
                return repr(node.value)
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                return repr(node.value)
            raise TextCodeError(repr(node.value), "only numbers are allowed as constants")
        if isinstance(node, ast.Name):
            if node.id in self.rename:
                return self.rename[node.id]
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            if condition and node.id in ("True", "False"):
                return node.id
            raise TextCodeError(node.id, "unknown symbol (not a parameter, state variable, derived variable, "
                                         "coupling sum or input of this file)")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return f"({self.code(node.left)} {_BINARY[type(node.op)]} {self.code(node.right)})"
        if isinstance(node, ast.BinOp) and type(node.op) in _LOGIC and condition:
            return f"({self.code(node.left, True)} {_LOGIC[type(node.op)]} {self.code(node.right, True)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return f"({'-' if isinstance(node.op, ast.USub) else '+'}{self.code(node.operand)})"
        if isinstance(node, ast.Compare) and condition and all(type(o) in _COMPARE for o in node.ops):
            parts = [self.code(node.left)]
            for op, right in zip(node.ops, node.comparators):
                parts += [_COMPARE[type(op)], self.code(right)]
            return f"({' '.join(parts)})"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            return self._call(node)
        raise TextCodeError(ast.unparse(node), f"not allowed in an equation: {type(node).__name__}"
                            + (" (comparisons only as Piecewise conditions)" if isinstance(node, ast.Compare) else ""))

    def _call(self, node: ast.Call) -> str:
        name = node.func.id
        if name == "Piecewise":
            return self._piecewise(node)
        args = [self.code(a) for a in node.args]
        if name in self.functions:
            return f"f_{name}({', '.join(args + list(self.functions[name]))})"
        if name in MATH_FUNCTIONS:
            return f"{MATH_FUNCTIONS[name]}({', '.join(args)})"
        raise TextCodeError(name, f"unknown function {name!r} (known: declared functions and "
                                  f"{', '.join(sorted(MATH_FUNCTIONS))}, Piecewise)")

    def _piecewise(self, node: ast.Call) -> str:
        pieces = []
        for arg in node.args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                raise TextCodeError("Piecewise", "Piecewise takes (value, condition) pairs")
            pieces.append((self.code(arg.elts[0]), self.code(arg.elts[1], condition=True)))
        if not pieces:
            raise TextCodeError("Piecewise", "Piecewise needs at least one (value, condition) pair")
        out = "math.nan"  # no condition holds: sympy's Piecewise is undefined (nan)
        for value, cond in reversed(pieces):
            out = value if cond == "True" else f"({value} if {cond} else {out})"
        return out


def topological_order(deps: dict) -> list:
    """Names ordered so that each comes after the names it depends on (``deps``: name -> set of
    names, only those in deps count). Raises TextCodeError naming one variable of a cycle."""
    order, state = [], {}

    def visit(n, path):
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = path[path.index(n):] + [n]
            raise TextCodeError(n, f"circular definition: {' -> '.join(cycle)}")
        state[n] = 1
        for m in sorted(deps[n] & deps.keys(), key=list(deps).index):
            visit(m, path + [n])
        state[n] = 2
        order.append(n)

    for n in deps:
        visit(n, [])
    return order
