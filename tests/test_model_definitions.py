"""brainsweep's own models defined as data (brainsweep/models/definitions/*.yaml).

The compiled definitions must equal the hand-written Python/numba classes they replaced, bit for
bit (``data/definitions_regression.npz``, made with those classes; Hopf, FHN, WC and WW noisy
runs are also pinned by ``engine_regression.npz``); the sympy form of each file (used for
derivatives) must compute the same right-hand side; bad files are refused naming file, line and
symbol before anything is generated.
"""

import importlib.util
import math
import pickle
import platform
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from sympy.core.function import AppliedUndef

import brainsweep.models as bm
from brainsweep.models import from_yaml
from brainsweep.models.symbolic import YamlModelError
from brainsweep.models.symbolic import _defined_model
from brainsweep.models.symbolic._textcode import TextCodeError, text_code

DATA = Path(__file__).with_name("data")
ROOT = Path(__file__).resolve().parents[1]
BUILTIN = {"hopf": "HopfModel", "fitzhugh_nagumo": "FitzHughNagumoModel", "wilson_cowan": "WilsonCowanModel",
           "jansen_rit": "JansenRitModel", "kuramoto": "KuramotoModel", "wong_wang": "WongWangModel",
           "thalamic": "ThalamicMassModel"}


# ------------------------------------------------------------------------------ the files

def test_definitions_are_package_data_found_with_importlib_resources():
    folder = resources.files("brainsweep.models") / "definitions"
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".yaml"))
    assert names == sorted(f"{n}.yaml" for n in BUILTIN)
    for stem, cls_name in BUILTIN.items():
        cls = getattr(bm, cls_name)
        assert Path(cls.definition_path).name == f"{stem}.yaml"
        assert cls.__module__ == f"brainsweep.models.{stem}" and cls.__name__ == cls_name
    # a non-editable install copies them: setup.cfg lists them as package data of brainsweep.models
    from setuptools.config.setupcfg import read_configuration

    pkg_data = read_configuration(ROOT / "setup.cfg")["options"]["package_data"]
    patterns = pkg_data["brainsweep.models"]
    assert all(any(Path(n).match(p) for p in patterns) for n in [f"definitions/{s}.yaml" for s in BUILTIN])


def test_builtin_models_have_no_hand_written_equations():
    """One way to define a model: the modules only publish the class compiled from the file."""
    for stem in BUILTIN:
        src = (ROOT / "brainsweep" / "models" / f"{stem}.py").read_text()
        assert "njit" not in src and "def " not in src and len(src.splitlines()) < 30, stem


# ----------------------------------------------------------------------- same numbers

def _maker():
    spec = importlib.util.spec_from_file_location("definitions_make_regression", DATA / "definitions_make_regression.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"),
                    reason="the fixture pins x86-64 Linux libm results bit for bit")
@pytest.mark.parametrize("model", ["jansen_rit", "kuramoto", "thalamic", "wong_wang", "wilson_cowan"])
def test_compiled_definitions_equal_the_hand_written_classes_bit_for_bit(model):
    stored = np.load(DATA / "definitions_regression.npz")
    want = {k.split("/", 1)[1]: stored[k] for k in stored.files if k.startswith(model + "/")}
    got = _maker().cases()[model]()
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        assert np.all(np.isfinite(value)) and np.ptp(value) > 0, key
        differ = np.flatnonzero(got[key] != value)
        assert differ.size == 0, f"{model} {key}: {differ.size} of {value.size} values differ"


def _inline(expr, model_def):
    """expr with derived variables and declared functions substituted (plain sympy)."""
    derived = {model_def.symbols[d.name]: d.expr for d in model_def.derived}
    funcs = {f.name: f for f in model_def.functions}
    for _ in range(len(derived) + len(funcs) + 1):
        expr = expr.xreplace(derived).replace(
            lambda e: isinstance(e, AppliedUndef),
            lambda e: funcs[e.func.__name__].body.xreplace(dict(zip(funcs[e.func.__name__].args, e.args))))
    return expr


@pytest.mark.parametrize("stem", list(BUILTIN))
def test_sympy_form_of_each_file_computes_the_compiled_rhs(stem):
    """The same text read by sympy (for derivatives) and by the order-keeping code generator."""
    cls = getattr(bm, BUILTIN[stem])
    md = cls.model_def
    rng = np.random.default_rng(1)
    spec = cls.spec()
    n_nodes = 5.0
    p = np.array([float(pa.choices.index(pa.default)) if pa.choices else pa.default for pa in spec["params"].values()])
    for k, name in enumerate(spec["param_names"]):
        if name.startswith("sigma") or name in ("TR", "d_phi") or spec["params"][name].choices:
            continue
        p[k] *= rng.uniform(0.8, 1.2)  # not only the defaults
    for trial in range(3):
        x = np.array([rng.uniform(lo, hi) if hi > lo else lo + rng.uniform(0, 0.1) for lo, hi in
                      (s.init for s in cls.state_vars)])
        cpl = rng.normal(0, 0.3, max(len(cls.coupled_vars), 1))
        inp = rng.normal(0, 0.1, max(len(cls.input_channels), 1))
        dx = np.zeros(len(x))
        const = cls(**({} if cls.single_node else {"Cmat": np.ones((5, 5)) - np.eye(5)})).constants()
        cls.rhs(x, cpl, inp, p, const, dx)
        values = {sp.Symbol(n): p[k] for k, n in enumerate(spec["param_names"])}
        values.update({md.symbols[s.name]: x[k] for k, s in enumerate(md.states)})
        values.update({sp.Symbol(f"cpl_{c}"): cpl[m] for m, c in enumerate(md.sums)})
        values.update({sp.Symbol(f"inp_{c}"): inp[k] for k, c in enumerate(md.inputs)})
        values[sp.Symbol("n_nodes")] = n_nodes
        for k, s in enumerate(md.states):
            want = float(_inline(s.expr, md).evalf(30, subs=values))
            assert dx[k] == pytest.approx(want, rel=1e-11, abs=1e-14 * (1 + abs(want))), (stem, s.name, trial)
        if cls.coupled_fn is not None:
            cv = np.zeros(len(md.sums))
            cls.coupled_fn(x, p, const, cv)
            for m, e in enumerate(md.sums.values()):
                assert cv[m] == pytest.approx(float(_inline(e, md).evalf(30, subs=values)), rel=1e-11)
        if cls.derived_vars:
            out = np.zeros(len(cls.derived_vars))
            cls.derived_fn(x, p, const, out)
            for j, name in enumerate(cls.derived_vars):
                want = float(_inline(md.symbols[name], md).evalf(30, subs=values))
                assert out[j] == pytest.approx(want, rel=1e-11), (stem, name)


def test_code_keeps_the_written_order_where_sympy_reorders():
    rename = {n: n for n in ("a", "b", "c", "big")}
    assert text_code("a - b * c + big", rename) == "((a - (b * c)) + big)"
    assert text_code("-a**2 / b", rename) == "((-(a ** 2)) / b)"
    assert text_code("Piecewise((a, b < 1e-9), (c, True))", rename) == "(a if (b < 1e-09) else c)"
    code = text_code("big + a - big", rename)  # (1e16 + 1) - 1e16 = 0 in floating point, as written
    assert eval(code, {}, {"big": 1e16, "a": 1.0}) == 0.0
    assert str(sp.sympify("big + a - big")) == "a"  # sympy would have cancelled it: a different number


# ------------------------------------------------------------------------- a new model

LEAK = """\
name: Leak
description: leaky integrator, a new model written as a file
parameters:
  tau: {value: 10.0, unit: ms, description: time constant, domain: {lo: 0.0, lo_strict: true}}
  K: {value: 0.5, unit: "1", description: coupling strength, domain: {lo: 0.0}}
state_variables:
  v:
    unit: mV
    description: potential
    initial_value: 2.0
    equation: {rhs: -v / tau + K * cpl_v + inp_v}
derived_variables:
  v2: {unit: mV^2, record: true, equation: {rhs: v * v}}
brainsweep:
  class: LeakModel
  name: leak
  coupling: {mode: diffusive, sums: {v: v}}
  inputs: {v: {}}
  integration: {method: euler, dt: 0.5}
"""


def test_a_new_model_is_a_yaml_file(tmp_path):
    path = tmp_path / "leak.yaml"
    path.write_text(LEAK)
    m = from_yaml(path, tau=4.0)
    assert type(m).__name__ == "LeakModel" and m.params["tau"] == 4.0 and m.dt == 0.5
    out = m.run(duration=20.0, seed=0)
    n = np.arange(1, 41)
    want = 2.0 * (1 - 0.5 / 4.0) ** n  # Euler of dv/dt = -v / tau from v = 2
    np.testing.assert_allclose(out["v"][0], want, rtol=1e-14)
    np.testing.assert_allclose(out["v2"][0], want**2, rtol=1e-13)
    # two nodes, diffusive: K (v_j - v_i) adds nothing to equal states, and the report lists the file
    m2 = from_yaml(path, Cmat=np.array([[0.0, 1.0], [1.0, 0.0]]), delays=np.zeros((2, 2)), tau=4.0)
    np.testing.assert_allclose(m2.run(duration=20.0, seed=0)["v"], np.vstack([want, want]), rtol=1e-14)
    assert "dv/dt = -v / tau + K * cpl_v + inp_v" in m.report()
    clone = pickle.loads(pickle.dumps(m))
    assert type(clone) is type(m) and clone.params["tau"] == 4.0
    with pytest.raises(ValueError, match="declares its own coupling"):
        from_yaml(path, coupling="Linear")


@pytest.mark.parametrize("old, new, symbol, words", [
    ("+ inp_v}", "+ inp_vv}", "inp_vv", "unknown symbol"),
    ("  v2: {unit: mV^2, record: true, equation: {rhs: v * v}}",
     "  v2: {equation: {rhs: v * w2}}\n  w2: {equation: {rhs: v2 + 1}}", "v2", "circular definition"),
    ("-v / tau", "__import__(v)", "__import__", "unknown function"),
    ("-v / tau", "v.real", "v.real", "not allowed"),
    ("value: 0.5, unit", "value: -0.5, unit", "K", "must be >= 0.0"),
    ("sums: {v: v}", "sums: {v: inp_v}", "inp_v", "computed from a node's own state"),
    ("sums: {v: v}", "sums: {v: 2 * v}", "v", "diffusive coupling needs sums of state variables"),
    ("integration:", "outputs: [v, q]\n  integration:", "q", "neither a state"),
    ("  v2: {unit", "  tau: {unit", "tau", "already declared as a parameter"),
])  # fmt: skip
def test_bad_definition_names_file_line_and_symbol(tmp_path, monkeypatch, old, new, symbol, words):
    def fail(*a, **k):
        raise AssertionError("generated before the error was found")

    monkeypatch.setattr(_defined_model, "import_generated", fail)
    assert old in LEAK
    path = tmp_path / "bad.yaml"
    path.write_text(LEAK.replace(old, new))
    with pytest.raises(YamlModelError) as info:
        from_yaml(path)
    err = info.value
    assert err.path == str(path) and err.symbol == symbol and words in str(err), str(err)
    line = path.read_text().splitlines()[err.line - 1]
    assert symbol.split(".")[0] in line, (err.line, line)


def test_text_code_refuses_what_is_not_an_equation():
    for text in ("lambda: 1", "[1, 2]", "a if b else c", "a < b", "f(a)", "'x'"):
        with pytest.raises(TextCodeError):
            text_code(text, {"a": "a", "b": "b", "c": "c"})
    assert math.isclose(eval(text_code("exp(pi)", {}), {"math": math}), math.exp(math.pi))
