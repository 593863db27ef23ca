"""Models as data: TVB-O YAML files compiled onto the engine (brainsweep.models.symbolic).

The tvbo files are read from the installed package; when it is not installed, the session
fixture installs just its wheel (no dependencies) into ~/.cache/brainsweep and points
BRAINSWEEP_TVBO_PATH at it. Nothing of tvbo is copied into this repository (EUPL-1.2).
"""

import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_engine import small_net

from brainsweep.models import JansenRitModel
from brainsweep.models.symbolic import YamlModelError, catalog, catalog_couplings, from_yaml, tvbo_database

TVBO_VERSION = "0.5.3"


@pytest.fixture(scope="session")
def tvbo_db():
    """The tvbo database folder; installs the tvbo wheel without dependencies if needed."""
    db = tvbo_database()
    if db is None:
        target = Path.home() / ".cache" / "brainsweep" / f"tvbo-{TVBO_VERSION}"
        if not (target / "tvbo" / "database").is_dir():
            r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                str(target), f"tvbo=={TVBO_VERSION}"], capture_output=True, text=True)  # fmt: skip
            if r.returncode != 0:
                pytest.skip(f"tvbo {TVBO_VERSION} is not installed and pip could not install it: {r.stderr[-400:]}")
        os.environ["BRAINSWEEP_TVBO_PATH"] = str(target / "tvbo")
        db = tvbo_database()
    assert db is not None and (db / "models" / "JansenRit.yaml").is_file()
    return db


def _network(n=10, seed=0):
    return small_net(n, seed)  # random weights, zero diagonal, symmetric lengths 10-60 mm


# ---------------------------------------------------------------------------------- the catalogue

# tvbo 0.5.3 database/models (top folder): the ones refused, with the feature named in the reason
REFUSED = {
    "CoombesByrne": "'eta': value 20.0 is outside its domain",
    "GastSchmidtKnosche_SF": "'alpha': value 10.0 is outside its domain",
    "ReducedSetFitzHughNagumo": "multi-mode model",
    "ReducedSetHindmarshRose": "multi-mode model",
    "StefanescuJirsa2D": "multi-mode model",
    "StefanescuJirsa3D": "multi-mode model",
    "ReducedWongWangTvboptim": "coupling inputs 'instant'/'delayed' (tvboptim's split",
    "ZerlautAdaptationFirstOrder": "'S_i': derived variable name declared twice",
}
# these diverge with Heun at dt = 0.1 ms from the file's initial values and run at dt = 0.01 ms
# (TsodyksMarkram's time constants are in seconds: tau = 0.013)
SMALL_DT = {"Epileptor5D": 0.01, "EpileptorRestingState": 0.01, "TsodyksMarkram": 0.01}
MODELS = sorted("""CakanObermayer CoombesByrne CoombesByrne2D DecoBalancedExcInh DumontGutkin Epileptor Epileptor2D
Epileptor3DStefanescuMcDonald Epileptor5D EpileptorCodim3 EpileptorCodim3SlowMod EpileptorRestingState
GastSchmidtKnosche_SD GastSchmidtKnosche_SF Generic2dOscillator GenericLinear Hopfield Jansen1995 JansenRit
JansenRit1995 KIonEx Kuramoto Kuramoto2 LarterBreakspear Linear MontbrioPazoRoxin ReducedSetFitzHughNagumo
ReducedSetHindmarshRose ReducedWongWang ReducedWongWangExcInh ReducedWongWangFunc ReducedWongWangTvboptim Spring
StefanescuJirsa2D StefanescuJirsa3D SupHopf TsodyksMarkram WilsonCowan ZerlautAdaptationFirstOrder
ZerlautAdaptationSecondOrder ZetterbergJansen""".split())


def test_catalogue_lists_the_database(tvbo_db):
    files = sorted(f.stem for f in (tvbo_db / "models").glob("*.y*ml"))
    assert files == MODELS  # a new tvbo version must be looked at, not silently half-tested
    cat = catalog()
    assert set(MODELS) <= set(cat) and cat["JansenRitModel"] == "brainsweep"
    assert {"Linear", "Difference", "Sigmoidal", "SigmoidalJansenRit", "HyperbolicTangent", "KuramotoCoupling",
            "PreSigmoidal", "Scaling"} <= set(catalog_couplings())  # fmt: skip
    assert len(MODELS) - len(REFUSED) >= 30


@pytest.mark.parametrize("name", MODELS)
def test_catalogue_model_runs_or_is_refused(tvbo_db, name):
    """Every database model runs on a 10-node delayed network for 1 s (finite), or is refused
    before compiling with a one-line reason naming the unsupported feature."""
    C, D = _network()
    if name in REFUSED:
        with pytest.raises(YamlModelError) as err:
            from_yaml(name, Cmat=C, Dmat=D)
        msg = str(err.value)
        assert REFUSED[name] in msg and "\n" not in msg and f"{name}.y" in msg
        return
    m = from_yaml(name, Cmat=C, Dmat=D)
    dt = SMALL_DT.get(name, 0.1)
    assert m.network.delay_steps(m.params["signalV"], dt).max() > 50  # really delayed
    out = m.run(1000.0, dt=dt, sampling_dt=1.0, seed=0)
    assert out["t"][-1] == pytest.approx(1000.0)
    for s in m.spec()["state_names"]:
        assert out[s].shape == (10, 1000) and np.isfinite(out[s]).all(), s


# ---------------------------------------------------------------- couplings vs an independent loop

_TEST_MODEL = """\
name: TwoVar
parameters:
  tau:
    value: 10.0
    domain: {lo: 1.0, hi: 100.0}
    unit: ms
    description: decay time constant
  w:
    value: 0.05
    domain: {lo: 0.0, hi: 1.0}
    unit: rad_per_ms
    description: rotation frequency
derived_variables:
  drive:
    equation: {rhs: c_glob0 + 0.5*c_glob1}
coupling_inputs:
  c_glob0: {}
  c_glob1: {}
  local_coupling: {local: true}
state_variables:
  u:
    equation: {lhs: Derivative(u, t), rhs: -u/tau - w*v + drive + local_coupling*u}
    coupling_variable: true
    initial_value: 0.3
  v:
    equation: {lhs: Derivative(v, t), rhs: w*u - v/tau + 0.1*tanh(v)}
    coupling_variable: true
    initial_value: -0.2
"""

# independent pre/post of tvbo's coupling functions (written from their documented formulas)
_COUPLINGS = {
    "Linear": (dict(coupling_a=0.3, coupling_b=0.01), lambda xi, xj, p: xj,
               lambda gx, p: p["coupling_a"] * gx + p["coupling_b"]),
    "Difference": (dict(coupling_a=0.2), lambda xi, xj, p: xj - xi, lambda gx, p: p["coupling_a"] * gx),
    "KuramotoCoupling": (dict(coupling_a=0.5, coupling_N=3.0), lambda xi, xj, p: np.sin(xj - xi),
                         lambda gx, p: p["coupling_a"] * gx / p["coupling_N"]),
    "HyperbolicTangent": (dict(coupling_a=0.4, coupling_b=2.0, coupling_midpoint=0.1, coupling_sigma=0.7),
                          lambda xi, xj, p: p["coupling_a"] * (np.tanh((p["coupling_b"] * xj - p["coupling_midpoint"])
                                                                       / p["coupling_sigma"]) + 1.0),
                          lambda gx, p: gx),
    "Sigmoidal": (dict(coupling_cmin=-0.5, coupling_cmax=0.8, coupling_a=2.0, coupling_midpoint=0.1,
                       coupling_sigma=1.5), lambda xi, xj, p: xj,
                  lambda gx, p: p["coupling_cmin"] + (p["coupling_cmax"] - p["coupling_cmin"])
                  / (1.0 + np.exp(-p["coupling_a"] * (gx - p["coupling_midpoint"]) / p["coupling_sigma"]))),
    "PreSigmoidal": (dict(coupling_H=0.3, coupling_Q=1.0, coupling_G=4.0, coupling_P=1.5, coupling_theta=0.2),
                     lambda xi, xj, p: p["coupling_H"] * (p["coupling_Q"] + np.tanh(p["coupling_G"] * (
                         p["coupling_P"] * xj - p["coupling_theta"]))), lambda gx, p: gx),
    "Scaling": (dict(coupling_a=0.25), lambda xi, xj, p: xj, lambda gx, p: p["coupling_a"] * gx),
}


def _reference(C, steps, x0, n_steps, dt, tau, w, pre, post, p, scheme):
    """Plain loop. c_k = post(sum_j C_ij pre(x_i(n), x_j(n - d_ij))) from the history at step n,
    held in both Heun stages (as TVB); x_{n+1} = x_n + dt f(x_n, c) (Euler) or the Heun average."""
    hist = [np.array(x0, dtype=float)]
    N = C.shape[0]

    def f(x, c):
        u, v = x[:, 0], x[:, 1]
        drive = c[:, 0] + 0.5 * c[:, 1]
        return np.stack([-u / tau - w * v + drive, w * u - v / tau + 0.1 * np.tanh(v)], axis=1)

    for n in range(n_steps):
        x = hist[n]
        c = np.zeros((N, 2))
        for i in range(N):
            for k in range(2):
                gx = sum(C[i, j] * pre(x[i, k], hist[max(n - steps[i, j], 0)][j, k], p) for j in range(N) if C[i, j])
                c[i, k] = post(gx, p)
        d1 = f(x, c)
        if scheme == "euler":
            hist.append(x + dt * d1)
        else:
            hist.append(x + 0.5 * dt * (d1 + f(x + dt * d1, c)))
    return np.stack(hist[1:], axis=-1)  # (N, 2, n_steps)


@pytest.mark.parametrize("coupling, scheme", [(c, "euler") for c in sorted(_COUPLINGS)]
                         + [(c, "heun") for c in ("Difference", "KuramotoCoupling", "Sigmoidal")])
def test_coupling_functions_match_an_independent_loop(tvbo_db, tmp_path, coupling, scheme):
    path = tmp_path / "TwoVar.yaml"
    path.write_text(_TEST_MODEL)
    C, D = _network(5, seed=3)
    params, pre, post = _COUPLINGS[coupling]
    m = from_yaml(path, coupling=coupling, Cmat=C, Dmat=D, tau=12.0, signalV=2.0, **params)
    x0 = np.array([[0.3 + 0.1 * i, -0.2 + 0.05 * i] for i in range(5)])
    out = m.run(60.0, dt=0.1, integrator=scheme, initial_state=x0, seed=0)
    steps = m.network.delay_steps(2.0, 0.1)
    assert steps.max() >= 20
    ref = _reference(C, steps, x0, 600, 0.1, 12.0, 0.05, pre, post, params, scheme)
    for k, s in enumerate(("u", "v")):
        np.testing.assert_allclose(out[s], ref[:, k], rtol=1e-10, atol=1e-12, err_msg=f"{coupling} {s}")
    if coupling == "Difference":
        assert m.coupling_mode == "diffusive" and m.coupled_vars == ("q0", "q1")
    if coupling == "KuramotoCoupling":  # sin(x_j - x_i): sums of sin x_j, cos x_j; own cos x_i, -sin x_i at t
        assert len(m.coupled_vars) == 8 and len(m.local_only_vars) == 4


# ---------------------------------------------------------------------- Jansen-Rit vs hand-written


def test_yaml_jansen_rit_equals_the_hand_written_model(tvbo_db):
    C, D = _network(10, seed=1)
    y = from_yaml("JansenRit", coupling="SigmoidalJansenRit", Cmat=C, Dmat=D)
    h = JansenRitModel(C, D)
    shared = [k for k in h.params if k in y.params]
    assert {"A", "B", "a", "b", "mu", "coupling_cmax", "coupling_midpoint", "signalV"} <= set(shared)
    h.params.update({k: y.params[k] for k in shared})  # the TVB class defaults of the YAML file
    x0 = np.random.default_rng(2).uniform(-1, 1, (10, 6)) * np.array([1, 5, 5, 1, 1, 1])
    oy = y.run(1000.0, initial_state=x0, seed=1)
    oh = h.run(1000.0, initial_state=x0, seed=1)
    for s in ("y0", "y1", "y2", "y3", "y4", "y5"):
        scale = np.max(np.abs(oh[s]))
        assert scale > 0.1
        assert np.max(np.abs(oy[s] - oh[s])) <= 1e-12 * scale, s


# --------------------------------------------------------------------------------------- bad input

_GOOD = {
    "params": "parameters:\n  k:\n    value: 0.5\n    domain: {lo: 0.0, hi: 1.0}\n",
    "derived": "derived_variables:\n  h:\n    equation: {rhs: k*x}\n",
    "states": "state_variables:\n  x:\n    equation: {rhs: -h + c_glob}\n    coupling_variable: true\n",
    "cin": "coupling_inputs:\n  c_glob: {}\n",
}


def _write(tmp_path, **replace) -> Path:
    parts = dict(_GOOD, **replace)
    path = tmp_path / "Bad.yaml"
    path.write_text("name: Bad\n" + "".join(parts[k] for k in ("params", "derived", "states", "cin")))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


@pytest.fixture
def no_compile(monkeypatch):
    """Errors must come before any source is generated or compiled."""
    import brainsweep.models.symbolic._model as mod

    def fail(*a, **k):
        raise AssertionError("generated/compiled before the error was found")

    monkeypatch.setattr(mod, "import_generated", fail)


def test_good_minimal_file_builds(tmp_path, tvbo_db):
    m = from_yaml(_write(tmp_path), coupling="Linear")
    assert m.spec()["state_names"] == ["x"] and m.params["k"] == 0.5


@pytest.mark.parametrize("case, replace, needle, symbol, words", [
    ("does not parse", {"states": "state_variables:\n  x:\n    equation: {rhs: -k*(x +* 2)}\n"},
     "rhs: -k*(x +* 2)", "x", "does not parse"),
    ("unknown symbol", {"derived": "derived_variables:\n  h:\n    equation: {rhs: k*x + kk}\n"},
     "rhs: k*x + kk", "kk", "unknown symbol"),
    ("unknown function", {"derived": "derived_variables:\n  h:\n    equation: {rhs: sigm(x)}\n"},
     "rhs: sigm(x)", "sigm", "unknown function"),
    ("outside domain", {"params": "parameters:\n  k:\n    value: 1.5\n    domain: {lo: 0.0, hi: 1.0}\n"},
     "value: 1.5", "k", "outside its domain [0, 1]"),
    ("circular", {"derived": "derived_variables:\n  h:\n    equation: {rhs: k*g}\n  g:\n    equation: {rhs: h + x}\n"},
     "rhs: k*g", "h", "circular definition: h -> g -> h"),
])  # fmt: skip
def test_bad_input_names_file_line_and_symbol(tmp_path, tvbo_db, no_compile, case, replace, needle, symbol, words):
    path = _write(tmp_path, **replace)
    with pytest.raises(YamlModelError) as err:
        from_yaml(path)
    e = err.value
    assert (e.path, e.line, e.symbol) == (str(path.resolve()), _line_of(path, needle), symbol), case
    assert words in str(e) and f"{path.resolve()}:{e.line}:" in str(e)


def test_parameter_value_outside_domain_given_by_the_user(tmp_path, tvbo_db, no_compile, monkeypatch):
    path = _write(tmp_path)
    with pytest.raises(YamlModelError, match=r"Bad.yaml:3: 'k': value 2.0 is outside its domain \[0, 1\]"):
        from_yaml(path, k=2.0)


def test_coupling_naming_a_state_that_does_not_exist(tmp_path, tvbo_db, no_compile):
    cpl = tmp_path / "Fast.yaml"
    cpl.write_text("name: Fast\nparameters:\n  G: {value: 0.1}\nlocal_states:\n  - S\n"
                   "pre_expression: {rhs: local_states}\npost_expression: {rhs: G*gx}\ndelayed: false\n")
    with pytest.raises(YamlModelError) as err:
        from_yaml(_write(tmp_path), coupling=cpl)
    e = err.value
    assert (e.path, e.line, e.symbol) == (str(cpl.resolve()), 5, "S") and "names state 'S'" in str(e)
    cpl.write_text(cpl.read_text().replace("- S", "- x"))  # an existing state, but instantaneous: no Dmat
    with pytest.raises(YamlModelError) as err:
        from_yaml(_write(tmp_path), coupling=cpl, Cmat=np.ones((2, 2)), Dmat=np.ones((2, 2)))
    assert (err.value.line, err.value.symbol) == (8, "delayed") and "pass no Dmat" in str(err.value)
    cpl.write_text("name: Pick\npre_expression: {rhs: 'x_j[1]'}\npost_expression: {rhs: gx}\n")
    with pytest.raises(YamlModelError) as err:
        from_yaml(_write(tmp_path), coupling=cpl)
    assert (err.value.line, err.value.symbol) == (2, "x_j[1]") and "has 1 (x)" in str(err.value)


def test_coupling_that_cannot_be_summed_is_refused(tmp_path, tvbo_db, no_compile):
    cpl = tmp_path / "Mixed.yaml"
    cpl.write_text("name: Mixed\npre_expression: {rhs: tanh(x_j - x_i)}\npost_expression: {rhs: gx}\n")
    with pytest.raises(YamlModelError, match="mixes x_i and x_j"):
        from_yaml(_write(tmp_path), coupling=cpl)


# ------------------------------------------------------------------ report, pickling, kernel cache


def test_report_shows_equations_units_and_descriptions(tvbo_db):
    m = from_yaml("JansenRit", coupling="SigmoidalJansenRit")
    r = m.report()
    assert "| y4 | dy4/dt = A*a*(J*a_2*sigma_y0_1 + c_glob + local_coupling*(y1 - y2) + mu)" in r
    assert "| A | 3.25 | 3.25 | mV | [2.6, 9.75] | Maximum amplitude of EPSP [mV] |" in r
    assert "Coupling SigmoidalJansenRit" in r and "coupling_midpoint" in r


def test_pickled_model_is_rebuilt_from_its_files(tvbo_db):
    C, D = _network(4)
    m = from_yaml("Generic2dOscillator", coupling="Difference", Cmat=C, Dmat=D, a=-1.5)
    m2 = pickle.loads(pickle.dumps(m))
    assert type(m2) is type(m) and m2.params["a"] == -1.5 and np.array_equal(m2.network.Cmat, C)


def test_generated_source_is_part_of_the_kernel_cache_key(tmp_path, tvbo_db):
    from brainsweep.models.engine import get_kernel

    p1 = tmp_path / "a" / "M.yaml"
    p2 = tmp_path / "b" / "M.yaml"
    for p, rate in ((p1, "1.0"), (p2, "2.0")):
        p.parent.mkdir()
        p.write_text(f"name: M\nparameters:\n  k: {{value: 0.5}}\nstate_variables:\n  x:\n    equation: {{rhs: -{rate}*k*x}}\n")
    k1, k2 = get_kernel(type(from_yaml(p1))), get_kernel(type(from_yaml(p2)))
    assert Path(k1.__file__).name != Path(k2.__file__).name  # same model name, different equations
    src1 = Path(sys.modules[type(from_yaml(p1)).__module__].__file__).read_text()
    assert "dx[0]=(((-1.0)*p[0])*x_x)" in src1.replace(" ", "")  # evaluated as written: (-1.0 * k) * x
    out = from_yaml(p2).run(10.0, dt=0.1, integrator="euler", initial_state={"x": 1.0})
    assert out["x"][0, -1] == pytest.approx((1 - 0.1 * 2.0 * 0.5) ** 100, rel=1e-12)


def test_clamped_state_stays_in_its_domain(tmp_path, tvbo_db):
    p = tmp_path / "Clamp.yaml"
    p.write_text("name: Clamp\nparameters:\n  k: {value: 1.0}\nstate_variables:\n  r:\n"
                 "    equation: {rhs: -k}\n    domain: {lo: 0.0, hi: 1.0, enforce: clamp}\n    initial_value: 0.5\n")
    out = from_yaml(p).run(5.0, dt=0.1, integrator="euler", initial_state={"r": 0.5})
    r = out["r"][0]
    np.testing.assert_allclose(r[:4], 0.5 - 0.1 * np.arange(1, 5), rtol=1e-12)
    assert r.min() >= -1e-15 and math.isclose(r[-1], 0.0, abs_tol=1e-15)


def test_generated_kernel_is_loaded_from_the_cache_by_a_new_process(tmp_path, tvbo_db):
    """The second process finds the generated rhs module and the compiled kernel on disk."""
    p = tmp_path / "Cached.yaml"
    p.write_text("name: Cached\nparameters:\n  k: {value: 0.25}\nstate_variables:\n  x:\n    equation: {rhs: -k*x + 0.125}\n")
    script = (
        "import sys\n"
        "from brainsweep.models.symbolic import from_yaml\n"
        "from brainsweep.models.engine import get_kernel\n"
        f"m = from_yaml({str(p)!r})\n"
        "m.run(1.0, dt=0.1, integrator='euler', initial_state={'x': 1.0})\n"
        "st = get_kernel(type(m))._run_group_euler.stats\n"
        "print(sum(st.cache_hits.values()), sum(st.cache_misses.values()))\n"
    )
    env = dict(os.environ, BRAINSWEEP_KERNEL_DIR=str(tmp_path / "kernels"))
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]
    (h1, m1), (h2, m2) = (tuple(int(v) for v in r.stdout.split()) for r in runs)
    assert (h1, m1) == (0, 1) and (h2, m2) == (1, 0)


# ------------------------------------------------------------------------- agreement with TVB 2.10

TVB_FIXTURE = Path(__file__).parent / "data" / "tvb_yaml_fixtures" / "tvb_reference.npz"


def _tvb_cases():
    import json

    with np.load(TVB_FIXTURE) as f:
        return sorted(json.loads(str(f["meta"])))


@pytest.mark.parametrize("name", _tvb_cases())
def test_agreement_with_tvb_library(tvbo_db, name):
    """tvb-library 2.10 runs of the same files (deterministic Heun, dt 0.1 ms, 100 ms, 4 delayed
    nodes, constant initial history; made by make_tvb_fixtures.py in a separate environment)."""
    import json

    with np.load(TVB_FIXTURE) as f:
        meta = json.loads(str(f["meta"]))[name]
        m = from_yaml(name, coupling=meta["coupling"], Cmat=f["W"], Dmat=f["L"], signalV=float(f["speed"]))
        assert m.network.delay_steps(float(f["speed"]), float(f["dt"])).max() == 120
        out = m.run(float(f["sim_ms"]), dt=float(f["dt"]), integrator="heun", initial_state=f[f"{name}__x0"])
        stride, ref = int(f["stride"]), f[f"{name}__traj"]
    for k, s in enumerate(m.spec()["state_names"]):
        scale = np.max(np.abs(ref[k]))
        assert out[s][:, stride - 1 :: stride].shape == ref[k].shape
        assert np.max(np.abs(out[s][:, stride - 1 :: stride] - ref[k])) <= 1e-7 * scale, s


def test_inputs_choose_the_state_variables_with_an_input_channel(tmp_path, tvbo_db):
    p = tmp_path / "In.yaml"
    p.write_text("name: In\nparameters:\n  k: {value: 0.5}\nstate_variables:\n  x:\n    equation: {rhs: -k*x}\n"
                 "  y:\n    equation: {rhs: -k*y}\n")
    m = from_yaml(p, inputs=("y",))
    assert m.input_channels == ("y",) and from_yaml(p).input_channels == ("x", "y")
    out = m.run(1.0, dt=0.1, integrator="euler", initial_state={"x": 1.0, "y": 1.0}, stimulus={"y": np.full(10, 2.0)})
    y = 1.0
    for _ in range(10):
        y = y + 0.1 * (-0.5 * y + 2.0)
    assert out["x"][0, -1] == pytest.approx(0.95**10, rel=1e-13) and out["y"][0, -1] == pytest.approx(y, rel=1e-13)
    with pytest.raises(ValueError, match="did you mean 'y'"):
        from_yaml(p, inputs=("yy",))


def test_batches_bold_and_noise_go_through_the_engine(tmp_path, tvbo_db):
    """run_batch gives each run's single-run result (with OU + white noise on every state and
    BOLD of the first state variable); the noise really enters."""
    path = tmp_path / "TwoVar.yaml"
    path.write_text(_TEST_MODEL)
    C, D = _network(5, seed=3)
    m = from_yaml(path, coupling="Linear", Cmat=C, Dmat=D, sigma_white=0.01, sigma_ou=0.02)
    sets = [{"tau": 8.0}, {"tau": 15.0}]
    kw = dict(bold=True, tr=500.0, sampling_dt=1.0)
    outs = m.run_batch(sets, seeds=[4, 5], duration=3000.0, **kw)
    for pd, seed, out in zip(sets, (4, 5), outs):
        single = m.copy()
        single.params.update(pd)
        ref = single.run(3000.0, seed=seed, **kw)
        np.testing.assert_array_equal(out["u"], ref["u"])
        np.testing.assert_array_equal(out["BOLD"], ref["BOLD"])
        assert out["BOLD"].shape == (5, 6) and np.isfinite(out["BOLD"]).all() and np.ptp(out["BOLD"]) > 0
    quiet = m.copy()
    quiet.params.update(sigma_white=0.0, sigma_ou=0.0, tau=8.0)
    assert np.max(np.abs(quiet.run(3000.0, seed=4, **kw)["u"] - outs[0]["u"])) > 1e-3
