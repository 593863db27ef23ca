"""The brainsweep command: run/info/plot/reproduce/archive on a small YAML study, exit codes,
one-line errors, and the demo."""

import os
import platform
import re
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tables

from brainsweep.cli import main
from brainsweep.explorer import load

BIN = Path(sys.executable).parent
STUDY = """\
path: cli.h5
model:
  name: hopf
  params: {a: -0.05, w: 0.05, sigma_ou: 0.05, signalV: 100.0}
connectome: {name: sc}
integration: {duration: 1000, sampling_dt: 5, seed: 5}
outputs: [x]
space:
  grid:
    K_gl: [0.0, 0.5, 1.0]
    sigma_ou: [0.02, 0.05]
objectives:
  - fc: {target: {synthetic: {K_gl: 0.5}, seed: 3}, key: x, transient_ms: 200}
"""


@pytest.fixture
def study_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    (tmp_path / "sc").mkdir()
    w = rng.uniform(0.1, 1.0, (5, 5))
    np.savetxt(tmp_path / "sc" / "weights.txt", (w + w.T) / 2)
    np.savetxt(tmp_path / "sc" / "tract_lengths.txt", np.full((5, 5), 40.0))
    (tmp_path / "study.yaml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(*args, cwd):
    return subprocess.run([str(BIN / "brainsweep"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _stored(f, name, run):
    """(node, leading index) of run ``run``'s stored array ``name``: a row of the study's array of
    that name, or the node in the run's own group."""
    rows = f"/cli/results/arrays/{name}"
    if rows in f:
        return f.get_node(f"{rows}/{name}"), (list(f.get_node(f"{rows}/idx")[:]).index(run),)
    node, = [n for n in f.walk_nodes("/cli/results", "Array") if n._v_pathname.endswith(f"run_{run:08d}/{name}/{name}")]
    return node, ()


def test_run_info_plot_reproduce_archive(study_dir, capsys):
    assert main(["run", "study.yaml", "-q"]) == 0
    res = load(study_dir / "cli.h5")
    assert len(res.df) == 6 and (res.df["status"] == "ok").all()
    best = res.df["fc_fit"].idxmax()
    out = capsys.readouterr().out
    lines = out.splitlines()
    first_row = lines[lines.index("best runs by fc_fit:") + 3]  # after the column and index headers
    assert first_row.split()[0] == str(best)

    assert main(["info", "cli.h5"]) == 0
    info = capsys.readouterr().out
    assert "6 ok" in info and "K_gl: 3 values [0.0, 0.5, 1.0]" in info and "attached:  sc/tract_lengths.txt, sc/weights.txt, study.yaml" in info

    assert main(["plot", "cli.h5", "--x", "K_gl", "--y", "sigma_ou", "--z", "fc_fit", "-o", "g.png"]) == 0
    assert main(["plot", "cli.h5", "--kind", "sweep", "--x", "K_gl", "--z", "fc_fit", "--fixed", "sigma_ou=0.05",
                 "-o", "s.png"]) == 0
    for name in ("g.png", "s.png"):
        assert (study_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["reproduce", "cli.h5", "--run", "3"]) == 0
    assert "reproduced bit for bit" in capsys.readouterr().out
    with tables.open_file(study_dir / "cli.h5", "a") as f:  # change one stored sample by 1 ulp
        node, row = _stored(f, "x", 3)
        node[row + (0, 7)] = np.nextafter(node[row + (0, 7)], np.inf)
    assert main(["reproduce", "cli.h5", "--run", "3"]) == 1
    err = capsys.readouterr().err
    assert "DOES NOT MATCH" in err and "x: differs" in err

    assert main(["archive", "cli.h5", "-o", "cli.zip"]) == 0
    with zipfile.ZipFile(study_dir / "cli.zip") as z:
        wheels = [n for n in z.namelist() if n.startswith("wheels/")]
        assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl")
        assert set(z.namelist()) == {"cli.h5", "study.yaml", "sc/weights.txt", "sc/tract_lengths.txt",
                                     "requirements.txt", "environment.txt", "README.txt", wheels[0]}
        assert z.read("study.yaml").decode() == STUDY
        requirements = z.read("requirements.txt").decode()
        assert "numpy==" in requirements and wheels[0] in requirements.splitlines()
        assert "brainsweep run study.yaml --output rerun.h5" in z.read("README.txt").decode()


def _dependencies_only(folder: Path) -> Path:
    """A folder of links to this environment's installed packages, without brainsweep."""
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if "brainsweep" in name or name.startswith("__editable__") or name.endswith(".pth") or name == "__pycache__":
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def test_slow_archive_installs_in_a_fresh_venv_and_reruns(study_dir):
    """SLOW (about 60 s): the archive's requirements.txt installs brainsweep from the archive's
    wheel into a fresh `python -m venv`, offline, and the venv reruns the study to the same
    scores. Its dependencies come from this environment through one path file (every brainsweep
    entry left out; `--system-site-packages` would not see them, as this environment is a venv)."""
    umask = os.umask(0o077)  # files made under a private umask (0600) must still unpack readable
    try:
        assert main(["run", "study.yaml", "-q"]) == 0
        assert main(["archive", "cli.h5", "-o", "cli.zip"]) == 0
    finally:
        os.umask(umask)

    fresh = study_dir / "unpacked"
    with zipfile.ZipFile("cli.zip") as z:
        for info in z.infolist():
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        z.extractall(fresh)
    assert sorted(os.listdir(fresh / "sc")) == ["tract_lengths.txt", "weights.txt"]  # the connectome it names
    requirements = (fresh / "requirements.txt").read_text()
    assert not re.search(r"^-e |git\+|file:|/work/|^/", requirements, re.M), requirements
    wheel_line = [ln for ln in requirements.splitlines() if ln and not ln.startswith("#")][0]
    assert re.fullmatch(r"wheels/brainsweep-[\w.]+-py3-none-any\.whl", wheel_line)
    assert (fresh / wheel_line).is_file()
    readme = (fresh / "README.txt").read_text()
    assert f"Needs Python >=3.12 (made with Python {platform.python_version()})" in readme

    venv = study_dir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    vsite = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip())
    (vsite / "deps.pth").write_text(str(_dependencies_only(study_dir / "deps")) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    before = subprocess.run([str(vpy), "-c", "import brainsweep"], capture_output=True, text=True, env=env, cwd=fresh)
    assert before.returncode != 0  # the fresh venv has no brainsweep until the archive installs it
    proc = subprocess.run([str(vpy), "-m", "pip", "install", "--no-index", "-r", "requirements.txt"],
                          capture_output=True, text=True, env=env, cwd=fresh, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    where = subprocess.run([str(vpy), "-c", "import brainsweep; print(brainsweep.__file__)"],
                           capture_output=True, text=True, env=env, cwd=fresh, check=True).stdout.strip()
    assert Path(where).is_relative_to(vsite), where
    proc = subprocess.run([str(venv / "bin" / "brainsweep"), "run", "study.yaml", "--output", "rerun.h5", "-q"],
                          capture_output=True, text=True, env=env, cwd=fresh, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load(fresh / "cli.h5").df, load(fresh / "rerun.h5").df
    assert (b["status"] == "ok").all()
    assert list(a["fc_fit"]) == list(b["fc_fit"]) and list(a["seed"]) == list(b["seed"])


def test_user_mistakes_are_one_line_without_traceback(study_dir, capsys):
    cases = [
        (("info", "missing.h5"), "no such file: missing.h5"),
        (("reproduce", "missing.h5", "--run", "1"), "no such file: missing.h5"),
        (("run", "nope.yaml"), "no such study file: nope.yaml"),
        (("run", "sc/weights.txt"), "expected a .yaml/.yml study file or a .py script"),
    ]
    for args, message in cases:
        assert main(list(args)) == 1
        err = capsys.readouterr().err
        assert err == f"brainsweep {args[0]}: error: {err.split('error: ', 1)[1]}" and message in err
        assert err.count("\n") == 1, err
    (study_dir / "bad.yaml").write_text(STUDY.replace("K_gl: [0.0", "K_gll: [0.0").replace("hopf", "hopff"))
    proc = _cli("run", "bad.yaml", cwd=study_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "line 3: model: unknown model 'hopff'" in proc.stderr and "bad.yaml: " in proc.stderr


def test_usage_errors_exit_2_and_every_command_has_help(study_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "x.h5"])  # --run missing
    assert e.value.code == 2
    for command in ("demo", "run", "info", "plot", "reproduce", "archive", "merge"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        assert f"usage: brainsweep {command}" in capsys.readouterr().out
    proc = _cli("aln-tables", "--help", cwd=study_dir)
    assert proc.returncode == 0 and "brainsweep aln-tables" in proc.stdout and "--cache-dir" in proc.stdout


def test_plot_needs_its_axes(study_dir, capsys):
    assert main(["run", "study.yaml", "-q"]) == 0
    assert main(["plot", "cli.h5", "--x", "K_gl", "--z", "fc_fit"]) == 1
    assert "plot --kind grid needs --y" in capsys.readouterr().err
    assert main(["plot", "cli.h5", "--x", "K_gl", "--y", "sigma_ou", "--z", "fc_fit", "--fixed", "a=1"]) == 1
    assert "--fixed a: not an explored parameter" in capsys.readouterr().err


def test_run_py_script_with_arguments(study_dir, capsys):
    (study_dir / "script.py").write_text("import sys\nopen('args.txt', 'w').write(' '.join(sys.argv[1:]))\n")
    proc = _cli("run", "script.py", "--", "--n", "3", cwd=study_dir)
    assert proc.returncode == 0, proc.stderr
    assert (study_dir / "args.txt").read_text() == "--n 3"
    # options of YAML studies are refused for a script, not silently ignored; the script does not run
    (study_dir / "args.txt").unlink()
    assert main(["run", "script.py", "-o", "x.h5", "-j", "2", "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "-o/--output, -j/--jobs, --overwrite apply to a YAML study file only" in err and err.count("\n") == 1
    assert "brainsweep run script.py -- ARGS" in err and not (study_dir / "args.txt").exists()


def test_info_prints_no_terminal_escapes_from_the_file(study_dir, monkeypatch, capsys):
    """Strings stored in a study file (provenance, parameter values) cannot drive the terminal:
    escape sequences are dropped, other control characters shown escaped."""
    from brainsweep.cli import _printable
    from brainsweep.explorer import GridSearch, ParameterSpace, Study
    monkeypatch.setattr(sys, "argv", ["evil\x1b]0;owned\x07\x1b[2J", "\x1b[31mred\x1b[0m\x08"])
    space = ParameterSpace({"label": ["\x1b[5mblink", "plain"], "x": [1.0, 2.0]})
    Study(lambda p: {"score": p["x"]}, space, GridSearch(), path="esc.h5").run(progress=False)
    capsys.readouterr()
    assert main(["info", "esc.h5"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x08" not in out
    assert "evil" in out and "red\\x08" in out and "blink" in out and "plain" in out
    assert _printable("a\x1b[31mb\x1b]0;t\x07c\x9bd\te\nf") == "abc\\x9bd\te\nf"


def test_demo_fast_fits_the_empirical_fc_of_dk_average(tmp_path):
    """The fast demo (4 runs) fits dk_average's empirical BOLD FC: the stored fc_fit is the r of the
    stored simulated FC with the FC read here from the shipped TSV; coupling beats no coupling; the
    summary states the best r, the BOLD length and the structural weights' own r."""
    proc = subprocess.run([str(BIN / "brainsweep"), "demo", "-q"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "BRAINSWEEP_FAST": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = load(tmp_path / "demo.h5")
    assert len(res.df) == 4 and (res.df["status"] == "ok").all()
    folder = Path(__file__).resolve().parents[1] / "brainsweep" / "data" / "dk_average"
    emp = np.loadtxt(folder / "atlas-DesikanKilliany_meas-BoldCorrelation_relmat.dense.tsv", delimiter="\t")
    iu = np.triu_indices(84, 1)
    for idx in res.df.index:
        fc = res.run(idx)["fc"]
        assert fc.shape == (84, 84)
        r = np.corrcoef(fc[iu], emp[iu])[0, 1]
        assert res.df.loc[idx, "fc_fit"] == pytest.approx(r, abs=1e-9)
    by_k = res.df.groupby("K_gl")["fc_fit"].max()
    assert by_k[1.0] > 0.3 and by_k[0.0] < 0.2 and by_k[1.0] > by_k[0.0] + 0.2
    best = res.df["fc_fit"].max()
    W = np.loadtxt(folder / "atlas-DesikanKilliany_meas-streamlineCount_relmat.dense.tsv", delimiter="\t")
    assert f"r = {best:.3f}" in proc.stdout and "20 s of simulated BOLD a run, 40 samples" in proc.stdout
    assert f"structural weights themselves correlate r = {np.corrcoef(W[iu], emp[iu])[0, 1]:.3f}" in proc.stdout
    assert f"the empirical {emp[iu].mean():.2f}" in proc.stdout and "CC-BY-4.0" in proc.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "dk_average_fc.npy"), emp)
    for name in ("demo_fc_fit.png", "demo_fc_best.png", "demo.yaml"):
        assert (tmp_path / name).stat().st_size > 500
    assert "rerun: brainsweep run demo.yaml" in proc.stdout


def test_demo_outdir_is_in_the_rerun_command(tmp_path):
    proc = subprocess.run([str(BIN / "brainsweep"), "demo", "-q", "--fast", "--outdir", "out dir"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "rerun: brainsweep run 'out dir/demo.yaml'" in proc.stdout
    rerun = subprocess.run([str(BIN / "brainsweep"), "run", "out dir/demo.yaml", "-q"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr  # the command as printed resumes the finished study
    assert len(load(tmp_path / "out dir" / "demo.h5").df) == 4


def test_run_under_mpiexec_matches_serial(study_dir):
    """`mpiexec -n 2 brainsweep run` spreads the runs to rank 1, prints once, and stores the same
    scores as a serial run."""
    assert main(["run", "study.yaml", "-q"]) == 0
    proc = subprocess.run([str(BIN / "mpiexec"), "-n", "2", str(BIN / "brainsweep"), "run", "study.yaml",
                           "--output", "mpi.h5", "-q"], cwd=study_dir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("study study.yaml -> mpi.h5") == 1
    serial, mpi = load(study_dir / "cli.h5").df, load(study_dir / "mpi.h5").df
    assert list(serial["fc_fit"]) == list(mpi["fc_fit"])
    assert set(mpi["worker"]).isdisjoint(set(serial["worker"]))
    # a different study at that path: one error line from rank 0, none from the worker rank
    (study_dir / "other.yaml").write_text(STUDY.replace("[0.02, 0.05]", "[0.03, 0.05]"))
    proc = subprocess.run([str(BIN / "mpiexec"), "-n", "2", str(BIN / "brainsweep"), "run", "other.yaml",
                           "--output", "mpi.h5", "-q"], cwd=study_dir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("error:") == 1 and "holds a different study" in proc.stderr and "--overwrite" in proc.stderr
    # a study file with mistakes: rank 0 alone lists them
    (study_dir / "bad.yaml").write_text(STUDY.replace("hopf", "hopff").replace("duration: 1000", "duration: 1000.05"))
    proc = subprocess.run([str(BIN / "mpiexec"), "-n", "2", str(BIN / "brainsweep"), "run", "bad.yaml"],
                          cwd=study_dir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("error: bad.yaml: 2 problems") == 1 and proc.stderr.count("unknown model 'hopff'") == 1


def test_function_study_with_evolution_and_bayes_plots(study_dir, monkeypatch, capsys):
    """`function: module:callable` studies; the optimiser plots are reachable from the CLI."""
    (study_dir / "circle_mod.py").write_text(
        "def circle(params):\n    return {'fitness': abs(params['x'] ** 2 + params['y'] ** 2 - 1)}\n")
    monkeypatch.syspath_prepend(str(study_dir))
    evo = ("function: circle_mod:circle\nseed: 4\nspace: {bounds: {x: [-2.0, 2.0], y: [-2.0, 2.0]}}\n"
           "strategy: {evolution: {pop_init: 30, pop: 15, generations: 4}}\n")
    (study_dir / "evo.yaml").write_text(evo)
    (study_dir / "bo.yaml").write_text(evo.replace("{evolution: {pop_init: 30, pop: 15, generations: 4}}",
                                                   "{bayes: {n_calls: 8, n_initial: 4, batch: 2}}"))
    assert main(["run", "evo.yaml", "-q"]) == 0 and main(["run", "bo.yaml", "-q"]) == 0
    df = load(study_dir / "evo.h5").df
    assert sorted(df["generation"].unique()) == [0, 1, 2, 3]
    np.testing.assert_allclose(df["fitness"], np.abs(df["x"] ** 2 + df["y"] ** 2 - 1), rtol=1e-12)
    assert len(load(study_dir / "bo.h5").df) == 8
    for args in (["evo.h5", "--kind", "fitness"], ["evo.h5", "--kind", "population", "--x", "x", "--y", "y"],
                 ["bo.h5", "--kind", "convergence"]):
        assert main(["plot", *args, "-o", "p.png"]) == 0
        assert (study_dir / "p.png").read_bytes()[:4] == b"\x89PNG"
        (study_dir / "p.png").unlink()
    capsys.readouterr()
    assert main(["info", "evo.h5"]) == 0
    assert "best 5 by fitness" in capsys.readouterr().out


SQUARE = "def square(params):\n    return {'v': params['x'] ** 2 + 10 * params['y']}\n"


def _square_study(folder, name, xs, batch_size=2, seed=9):
    (folder / f"{name}.yaml").write_text(f"function: square_mod:square\nseed: {seed}\npath: {name}.h5\n"
                                         f"space: {{grid: {{x: {list(xs)}, y: [0.0, 1.0]}}}}\n"
                                         f"strategy: {{grid: {{batch_size: {batch_size}}}}}\n")
    assert main(["run", f"{name}.yaml", "-q"]) == 0
    return folder / f"{name}.h5"


def test_merge_two_jobs_of_one_grid_holds_both_in_order(study_dir, monkeypatch, capsys):
    """`brainsweep merge`: two jobs of one grid (other seeds, other batch sizes) become one study whose df is
    the first job's runs then the second's, renumbered; mistakes are one line and exit 1."""
    (study_dir / "square_mod.py").write_text(SQUARE)
    monkeypatch.syspath_prepend(str(study_dir))
    a = load(_square_study(study_dir, "a", [1.0, 2.0, 3.0])).df
    b = load(_square_study(study_dir, "b", [1.0, 2.0, 3.0], batch_size=4, seed=10)).df
    capsys.readouterr()
    assert main(["merge", "a.h5", "b.h5", "-o", "all.h5"]) == 0
    assert "merged 2 studies -> all.h5 (12 runs)" in capsys.readouterr().out
    merged = load(study_dir / "all.h5").df
    cols = ["x", "y", "v", "status", "seed"]
    assert merged.index.tolist() == list(range(12))
    assert merged[cols].iloc[:6].reset_index(drop=True).equals(a[cols].reset_index(drop=True))
    assert merged[cols].iloc[6:].reset_index(drop=True).equals(b[cols].reset_index(drop=True))
    np.testing.assert_array_equal(merged["v"], merged["x"] ** 2 + 10 * merged["y"])
    assert sorted(zip(merged["x"][:6], merged["y"][:6])) == [(x, y) for x in (1.0, 2.0, 3.0) for y in (0.0, 1.0)]
    assert set(merged["seed"][:6]).isdisjoint(merged["seed"][6:])  # the jobs' own seeds are kept
    _square_study(study_dir, "other", [1.0, 2.0])
    for args, message in ((["a.h5", "b.h5", "-o", "all.h5"], "all.h5 exists; choose another output or pass overwrite"),
                          (["a.h5", "-o", "x.h5"], "merge needs at least two study files (got 1)"),
                          (["a.h5", "nope.h5", "-o", "x.h5"], "no such file: nope.h5"),
                          (["a.h5", "other.h5", "-o", "x.h5"], "their parameter spaces differ")):
        assert main(["merge", *args]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("brainsweep merge: error: ") and message in err, err
    assert not (study_dir / "x.h5").exists()
    assert main(["merge", "b.h5", "a.h5", "-o", "all.h5", "--overwrite"]) == 0
    assert load(study_dir / "all.h5").df["seed"].tolist() == b["seed"].tolist() + a["seed"].tolist()


def test_run_trust_resumes_a_format_1_file_and_info_says_why_its_state_is_not_read(study_dir, monkeypatch, capsys):
    import pickle
    from test_file_integrity import _to_format_1
    (study_dir / "square_mod.py").write_text(SQUARE)
    monkeypatch.syspath_prepend(str(study_dir))
    path = _square_study(study_dir, "old", [1.0, 2.0])
    _to_format_1(path, pickle.dumps({"next": 4}))
    capsys.readouterr()
    assert main(["info", "old.h5"]) == 0
    out = capsys.readouterr().out
    note = load("old.h5").strategy_state_note
    assert "pickle" in note and f"state:     {note}" in out
    with pytest.warns(UserWarning, match="marked the told batches"):  # format 1 had no told-flag
        assert main(["run", "old.yaml", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(brainsweep run --trust)" in err, err
    before = load(path).df
    assert main(["run", "old.yaml", "-q", "--trust"]) == 0  # the pickled state {"next": 4}: nothing left
    res = load(path)
    assert res.df[["x", "y", "v", "seed"]].equals(before[["x", "y", "v", "seed"]])
    assert res.df["v"].tolist() == [1.0, 11.0, 4.0, 14.0]


def _per_node_loss(p):
    return {"loss": sum((p[f"a__{i}"] - 0.1 * i) ** 2 for i in range(5)) + (p["k"] - 0.5) ** 2}


def test_info_shows_a_per_node_parameter_as_one_line_and_its_mean(tmp_path, capsys):
    """Per-node names a__0 .. a__4 (as a per_node space expands) are one line in the space and
    mean/min/max columns in the best-runs table, computed from the stored values."""
    from brainsweep.explorer import CMAES, ParameterSpace, Study
    bounds = {f"a__{i}": (0.0, 1.0) for i in range(5)} | {"k": (0.0, 1.0)}
    path = tmp_path / "nodes.h5"
    res = Study(_per_node_loss, ParameterSpace(bounds=bounds), CMAES(max_evals=24, popsize=8),
                path=str(path), seed=0).run(progress=False)
    capsys.readouterr()
    assert main(["info", str(path), "--best", "1"]) == 0
    out = capsys.readouterr().out
    assert "a__0 .. a__4: one value per node (5), 0.0 .. 1.0 (linear)" in out
    assert "a__3" not in out.replace("a__0 .. a__4", "")
    best = res.best(1, key="loss", minimize=True).iloc[0]
    values = np.array([best[f"a__{i}"] for i in range(5)])
    row = [line for line in out.splitlines() if line.strip().startswith(str(best.name) + " ")][-1].split()
    assert np.isclose(float(row[2]), values.mean(), rtol=1e-5)
    assert np.isclose(float(row[3]), values.min(), rtol=1e-5) and np.isclose(float(row[4]), values.max(), rtol=1e-5)
