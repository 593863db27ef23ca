"""The ``brainsweep`` command: demo, run, info, plot, reproduce, archive, merge, aln-tables.

::

    brainsweep demo                                # Hopf fit to an empirical BOLD FC -> demo.h5 + PNGs
    mpiexec -n 4 brainsweep run study.yaml         # or study.py; resumes if the file exists
    brainsweep info study.h5
    brainsweep plot study.h5 --x K_gl --y a --z fc_fit -o fc_fit.png
    brainsweep reproduce study.h5 --run 17         # exit 0 if bit-identical, 1 if not
    brainsweep archive study.h5 -o study.zip
    brainsweep merge part1.h5 part2.h5 -o all.h5   # studies of one space and evaluator into one file

Exit codes: 0 ok, 1 failure (a study error, a run that does not reproduce), 2 usage.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

__all__ = ["main"]


class UserError(Exception):
    """A mistake of the user's (bad file, bad option): one line on stderr, exit 1."""


def _root() -> bool:
    from .mpi import is_root
    return is_root()


def _say(*args, **kw) -> None:
    if _root():
        print(*args, **kw, flush=True)


# -- run ------------------------------------------------------------------------------------
def cmd_run(args) -> int:
    path = Path(args.study)
    if not path.is_file():
        raise FileNotFoundError(f"no such study file: {path}")
    if path.suffix == ".py":
        ignored = [flag for flag, given in (("-o/--output", args.output is not None), ("-j/--jobs", args.jobs is not None),
                                            ("--overwrite", args.overwrite), ("-q/--quiet", args.quiet),
                                            ("--trust", args.trust)) if given]
        if ignored:
            raise UserError(f"{', '.join(ignored)} apply to a YAML study file only; a .py script chooses its own "
                            f"file, workers and overwriting (pass the script's own options after --: "
                            f"brainsweep run {path} -- ARGS)")
        import runpy
        sys.argv = [str(path)] + list(args.args)
        sys.path.insert(0, str(path.parent.resolve()))
        runpy.run_path(str(path), run_name="__main__")
        return 0
    if path.suffix not in (".yaml", ".yml"):
        raise UserError(f"{path}: expected a .yaml/.yml study file or a .py script")
    from .studyfile import load_study
    study = load_study(path, overwrite=args.overwrite, study_path=args.output, trust=args.trust, say=_say)
    _say(f"study {path} -> {study.path}")
    res = study.run(n_jobs=args.jobs or 1, progress=not args.quiet and _root())
    if res is None:
        return 0
    if _root():
        _print_summary(res)
    return _all_failed(res)


def _all_failed(res) -> int:
    """1 (with the first error on stderr) if the study stored runs but none is ok."""
    if len(res.df) and not (res.df["status"] == "ok").any():
        if _root():
            msg = str(res.df["message"].iloc[0]).strip().splitlines()
            print(f"every run failed; run {res.df.index[0]}: {msg[-1] if msg else res.df['status'].iloc[0]}",
                  file=sys.stderr)
        return 1
    return 0


def _print_summary(res, n_best: int = 5) -> None:
    counts = res.df["status"].value_counts().to_dict() if len(res.df) else {}
    print(f"{res.path}: {len(res.df)} runs stored {counts}")
    key = _best_key(res)
    if key is not None:
        import pandas as pd
        with pd.option_context("display.width", 120, "display.max_columns", 12):
            print(f"best runs by {key}:")
            print(_best_table(res, n_best, key).to_string())


def _node_groups(names) -> dict:
    """{base: [names]} for explored names written ``<base>__<node>`` (one value per node), in order."""
    from .explorer.space import split_per_node_name

    groups: dict = {}
    for name in names:
        split = split_per_node_name(name)
        if split is not None:
            groups.setdefault(split[0], []).append(name)
    return {base: members for base, members in groups.items() if len(members) > 1}


def _best_table(res, n: int, key: str):
    """The best runs' explored values and ``key``; a per-node parameter as its mean, min and max
    over the nodes (``a__0 .. a__67`` would be 68 columns)."""
    best = res.best(n, key=key, minimize=_minimize(res, key))
    groups = _node_groups(res.params)
    grouped = {m for members in groups.values() for m in members}
    table = best[[p for p in res.params if p not in grouped]].copy()
    for base, members in groups.items():
        values = best[members].astype(float)
        table[f"{base} mean ({len(members)} nodes)"] = values.mean(axis=1)
        table[f"{base} min"] = values.min(axis=1)
        table[f"{base} max"] = values.max(axis=1)
    table[key] = best[key]
    return table


def _best_key(res):
    objectives = res.strategy.get("objectives") or []
    if objectives:
        return objectives[0]
    numeric = [s for s in res.scores if s in res.df and res.df[s].dtype.kind in "fi"]
    preferred = [s for s in ("fc_fit", "fcd_ks", "peak_frequency_error", "spectral_loss", "dipole_rmse")
                 if s in numeric]
    return (preferred or numeric or [None])[0]


def _minimize(res, key) -> bool:
    """Direction of a score: the strategy's weight (see ``plots_optim.score_weight``), else
    the score's declared direction."""
    from .explorer.plots_optim import score_weight
    return score_weight(res.strategy, res.scores, key)[1] < 0


# -- info -----------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _printable(text: str) -> str:
    """``text`` without terminal escape sequences; other control characters (except newlines
    and tabs) shown as escapes (``\\x07``): strings read from a study file cannot drive the terminal."""
    text = _ANSI.sub("", str(text))
    return "".join(c if c in "\n\t" or (c.isprintable() and not 0x80 <= ord(c) <= 0x9f)
                   else c.encode("unicode_escape").decode("ascii") for c in text)


def cmd_info(args) -> int:
    """Print what a study file holds; every string from the file passes :func:`_printable`."""
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = _info(args)
    print(_printable(buffer.getvalue()), end="")
    return code


def _info(args) -> int:
    from .explorer import load
    res = load(_existing(args.file))
    fp = res.fingerprint
    print(f"file:      {res.path}")
    print(f"evaluate:  {fp.get('evaluate')}")
    dims = fp["space"]["dimensions"]
    print("space:")
    groups = _node_groups([d["name"] for d in dims])
    for base, members in groups.items():
        mine = [d for d in dims if d["name"] in set(members)]
        if all(d["kind"] == "bounded" for d in mine) and len({(d["low"], d["high"], d["scale"]) for d in mine}) == 1:
            d = mine[0]
            print(f"  {members[0]} .. {members[-1]}: one value per node ({len(members)}), "
                  f"{d['low']} .. {d['high']} ({d['scale']})")
            dims = [d for d in dims if d["name"] not in set(members)]
    for d in dims:
        if d["kind"] == "grid":
            vals = d["values"]
            shown = ", ".join(map(str, vals[:8])) + (", ..." if len(vals) > 8 else "")
            print(f"  {d['name']}: {len(vals)} values [{shown}]")
        elif d["kind"] == "bounded":
            print(f"  {d['name']}: {d['low']} .. {d['high']} ({d['scale']})")
        else:
            print(f"  {d['name']}: one of {d['categories']}")
    for k, v in fp["space"].get("fixed", {}).items():
        print(f"  {k} = {v} (fixed)")
    strat = dict(fp["strategy"])
    print(f"strategy:  {strat.pop('name', '?')} {strat if strat else ''}".rstrip())
    print(f"seed:      {res.seed}")
    if getattr(res, "strategy_state_note", ""):
        print(f"state:     {res.strategy_state_note}")
    counts = res.df["status"].value_counts().to_dict() if len(res.df) else {}
    print(f"runs:      {len(res.df)} stored of {res.n_registered} registered; "
          + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"scores:    {', '.join(res.scores) or '-'}")
    if res.attachments:
        print(f"attached:  {', '.join(sorted(res.attachments))}")
    key = _best_key(res)
    if key is not None and counts.get("ok"):
        import pandas as pd
        with pd.option_context("display.width", 120, "display.max_columns", 12):
            print(f"best {min(args.best, counts['ok'])} by {key}:")
            print(_best_table(res, args.best, key).to_string())
    failed = res.df[res.df["status"] != "ok"]
    if len(failed):
        print(f"first problem: run {failed.index[0]} {failed['status'].iloc[0]}: "
              f"{str(failed['message'].iloc[0]).strip().splitlines()[-1] if failed['message'].iloc[0] else ''}")
    print("provenance:")
    for k, v in res.provenance.items():
        if k != "packages":
            print(f"  {k}: {v}")
    return 0


# -- plot -----------------------------------------------------------------------------------
def _fixed(pairs, res) -> dict:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--fixed {pair!r}: expected name=value")
        k, v = pair.split("=", 1)
        if k not in res.params:
            raise UserError(f"--fixed {k}: not an explored parameter ({', '.join(res.params)})")
        col = res.df[k]
        if col.dtype.kind in "fi":
            try:
                value = float(v)
            except ValueError:
                raise UserError(f"--fixed {k}={v}: expected a number") from None
            values = col.unique()
            value = values[abs(values - value).argmin()].item() if abs(values - value).min() <= 1e-9 * max(
                1.0, abs(value)) else value
        elif col.dtype.kind == "b":
            value = v.lower() in ("1", "true", "yes")
        else:
            value = v
        out[k] = value
    return out


#: the options each plot kind uses; any other given option is refused, not silently ignored
_PLOT_OPTIONS = {"grid": ("x", "y", "z", "fixed", "agg"), "sweep": ("x", "z", "fixed", "agg"),
                 "fitness": ("z",), "population": ("x", "y", "generation"), "convergence": ("z",)}


def _check_plot_options(args, res) -> None:
    """Refuse options the plot kind would ignore and combinations that cannot make sense."""
    kind = args.kind
    need = {"grid": ("x", "y", "z"), "sweep": ("x", "z"), "population": ("x", "y")}.get(kind, ())
    missing = [f"--{n}" for n in need if getattr(args, n) is None]
    if missing:
        raise UserError(f"plot --kind {kind} needs {' '.join(missing)}")
    unused = [f"--{n}" for n in ("x", "y", "z", "fixed", "agg", "generation")
              if getattr(args, n) is not None and n not in _PLOT_OPTIONS[kind]]
    if unused:
        raise UserError(f"plot --kind {kind} does not use {', '.join(unused)} "
                        f"(it uses {', '.join('--' + n for n in _PLOT_OPTIONS[kind])})")
    if kind in ("grid", "population") and args.x == args.y:
        raise UserError(f"plot --kind {kind}: --x and --y are both {args.x!r}; choose two different parameters")
    for axis in ("x", "y"):
        name = getattr(args, axis)
        if name is not None and axis in _PLOT_OPTIONS[kind] and name not in res.params:
            raise UserError(f"--{axis} {name}: not an explored parameter ({', '.join(res.params)})")
    on_axes = [pair.split("=", 1)[0] for pair in args.fixed or [] if pair.split("=", 1)[0] in (args.x, args.y)]
    if on_axes:
        raise UserError(f"--fixed {', '.join(on_axes)}: that parameter is on an axis; it cannot also be held fixed")
    if args.z is not None and args.z not in res.scores + ["runtime"]:
        raise UserError(f"--z {args.z}: not a score of the study ({', '.join(res.scores + ['runtime'])})")
    if kind in ("fitness", "population") and "generation" not in res.df.columns and (
            kind == "population" or "iteration" not in res.df.columns):
        raise UserError(f"plot --kind {kind}: this is a {res.strategy.get('name', '?')} study without generations "
                        f"(use --kind {'grid or sweep' if res.strategy.get('name') == 'grid' else 'convergence'})")


def cmd_plot(args) -> int:
    from .explorer import load
    from .explorer.plots import grid_heatmap, parameter_units, sweep_line
    from .explorer.plots_optim import plot_convergence, plot_fitness, plot_population, score_weight
    res = load(_existing(args.file))
    kind = args.kind
    _check_plot_options(args, res)
    fixed = _fixed(args.fixed, res) or None
    units = parameter_units(res.fingerprint.get("evaluate"))
    agg = args.agg or "mean"
    if kind == "grid":
        fig = grid_heatmap(res.df, args.x, args.y, args.z, fixed=fixed, agg=agg, params=res.params, units=units)
    elif kind == "sweep":
        fig = sweep_line(res.df, args.x, args.z, fixed=fixed, agg=agg, params=res.params, units=units)
    elif kind == "population":
        generation = -1 if args.generation is None else args.generation
        fig = plot_population(res.df, args.x, args.y, generation=generation, units=units)
    else:
        objective, weight = score_weight(res.strategy, res.scores, args.z)
        fig = plot_fitness(res.df, objective, (weight,)) if kind == "fitness" else \
            plot_convergence(res.df, objective, minimize=weight < 0)
    out = args.output or f"{Path(args.file).stem}_{kind}.png"
    fig.savefig(out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0


# -- reproduce --------------------------------------------------------------------------------
def cmd_reproduce(args) -> int:
    from .explorer.reproduce import reproduce
    report = reproduce(_existing(args.file), args.run, trust=args.trust)
    params = ", ".join(f"{k}={v}" for k, v in report["params"].items())
    print(f"evaluator: {report['evaluator']}")
    if report["match"]:
        print(f"run {report['idx']} ({params}, seed {report['seed']}): reproduced bit for bit "
              f"({len(report['compared'])} values compared: {', '.join(report['compared'])})")
        return 0
    print(f"run {report['idx']} ({params}, seed {report['seed']}): DOES NOT MATCH", file=sys.stderr)
    for d in report["differences"]:
        print(f"  {d}", file=sys.stderr)
    return 1


# -- archive ----------------------------------------------------------------------------------
_ARCHIVE_README = """\
brainsweep study archive
========================

{h5_col} the study: every run's parameters, scores and stored outputs (pypet/HDF5)
{files}{wheel}requirements.txt     brainsweep{wheel_note} and its dependencies, pinned to the versions that made it
environment.txt      Python, platform and package versions recorded in the study file

Needs Python {python_needed} (made with Python {python}).

Inspect the study (in this folder; a fresh virtual environment keeps other projects apart):
    python3 -m venv venv && . venv/bin/activate
    pip install -r requirements.txt        # with another Python: pip install {install}
    brainsweep info {h5}
    brainsweep reproduce {h5} --run 0      # re-simulates run 0, compares bit for bit
{rerun}"""


def cmd_archive(args) -> int:
    import json
    import platform
    import shutil
    import zipfile

    from .explorer import load
    src = Path(_existing(args.file))
    res = load(src)
    out = Path(args.output or src.with_suffix(".zip").name)
    wheel = _build_wheel()
    requirements = _pinned_requirements(wheel.name if wheel else None)
    prov = dict(res.provenance)
    packages = prov.pop("packages", "{}")
    env = "\n".join(f"{k}: {v}" for k, v in prov.items()) + "\n\npackages:\n" + "\n".join(
        f"  {k}=={v}" for k, v in json.loads(packages or "{}").items()) + "\n"
    studies = [n for n in res.attachments if n.endswith((".yaml", ".yml", ".py"))]
    files = "".join(f"{n:<20} {_role(n, studies)}\n" for n in sorted(res.attachments))
    if studies:
        rerun = (f"\nRerun the study from scratch (a different file name so it does not resume):\n"
                 f"    brainsweep run {studies[0]} --output rerun.h5\n"
                 f"Resume / complete it in place (the stored runs are kept):\n"
                 f"    brainsweep run {studies[0]} --output {src.name}\n")
    else:
        rerun = ("\nThe study was not made from a study file (no YAML attached); rerun the script that "
                 "made it (provenance.command in environment.txt).\n")
    from . import __version__
    readme = _ARCHIVE_README.format(
        h5_col=f"{src.name:<20}", h5=src.name, files=files, rerun=rerun, python=platform.python_version(),
        python_needed=_python_needed(), install=f"wheels/{wheel.name}" if wheel else f"brainsweep=={__version__}",
        wheel=f"wheels/{wheel.name}\n                     brainsweep {__version__} itself (pip installs this file)\n"
        if wheel else "", wheel_note=" (from wheels/)" if wheel else f" {__version__}")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with open(src, "rb") as f, z.open(_readable(src.name), "w", force_zip64=True) as dst:
            shutil.copyfileobj(f, dst, 1 << 20)
        for name, data in sorted(res.attachments.items()):
            z.writestr(_readable(name), data)
        if wheel:
            z.writestr(_readable(f"wheels/{wheel.name}"), wheel.read_bytes())
            shutil.rmtree(wheel.parent, ignore_errors=True)
        z.writestr(_readable("requirements.txt"), requirements)
        z.writestr(_readable("environment.txt"), env)
        z.writestr(_readable("README.txt"), readme)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB: {src.name}"
          + (f", {', '.join(sorted(res.attachments))}" if res.attachments else "")
          + (f", wheels/{wheel.name}" if wheel else "") + ", requirements.txt, environment.txt, README.txt)")
    return 0


def _readable(name: str):
    """A zip entry that unpacks as a regular file with mode 0644 (readable by everyone)."""
    import time
    import zipfile
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o100644 << 16
    return info


def _source_tree() -> Path | None:
    """The folder brainsweep was installed from (editable install: pyproject.toml beside the package)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "brainsweep").is_dir() else None


def _build_wheel() -> Path | None:
    """brainsweep as a wheel (``pip wheel --no-deps``) in a temporary folder, or None when it
    was not installed from a source tree (then the archive names ``brainsweep==<version>``)."""
    import subprocess
    import tempfile
    import shutil
    root = _source_tree()
    if root is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="brainsweep-wheel-"))
    copy = tmp / "src"  # built from a copy: no build/ folder (with stale modules) in the source tree
    shutil.copytree(root / "brainsweep", copy / "brainsweep",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "LICENSE"):
        if (root / name).is_file():
            shutil.copy2(root / name, copy / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp), str(copy)], capture_output=True, text=True)
    wheels = sorted(tmp.glob("brainsweep-*.whl"))
    if proc.returncode != 0 or not wheels:
        _say(f"brainsweep archive: could not build a wheel of {root} ({proc.stderr.strip()[-200:]}); "
             f"requirements.txt names brainsweep by version", file=sys.stderr)
        return None
    return wheels[0]


def _python_needed() -> str:
    from importlib import metadata
    try:
        return metadata.metadata("brainsweep").get("Requires-Python") or f">= {sys.version_info[0]}.{sys.version_info[1]}"
    except metadata.PackageNotFoundError:
        return f">= {sys.version_info[0]}.{sys.version_info[1]}"


def _pinned_requirements(wheel_name: str | None) -> str:
    """brainsweep (its wheel in the archive, else its version) and every package it depends
    on, directly or not, pinned to the installed version; never a local path."""
    import platform
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from . import __version__
    pins, todo = {}, [Requirement("brainsweep")]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in pins:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here
        pins[name] = f"{dist.metadata['Name']}=={dist.version}"
        for line in dist.requires or []:
            sub = Requirement(line)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    pins.pop("brainsweep", None)
    head = [f"# brainsweep archive: made with Python {platform.python_version()} on {platform.system()}; "
            f"pip install -r requirements.txt (in this folder)",
            f"wheels/{wheel_name}" if wheel_name else f"brainsweep=={__version__}"]
    return "\n".join(head + sorted(pins.values(), key=str.lower)) + "\n"


def _role(name: str, studies: list) -> str:
    if name in studies:
        return "the study file"
    if name == "NOT_ATTACHED.txt":
        return "files the study read from outside its folder: copy them yourself"
    return "a file the study file names (target, connectome)"


# -- aln-tables ----------------------------------------------------------------------------------
def cmd_aln_tables(args) -> int:
    try:
        from .models.aln.transfer import main as aln_main
    except ImportError as err:
        raise UserError(f"the ALN model is not available in this installation ({err})") from None
    return int(aln_main(args.args) or 0)


# -- demo ------------------------------------------------------------------------------------
DEMO_YAML = """\
# brainsweep demo: Hopf oscillators on the dk_average connectome (Desikan-Killiany, 84 regions),
# each run's simulated BOLD FC fitted to the EMPIRICAL resting-state BOLD FC of the same data set
# (CC-BY-4.0, doi:10.1038/s41467-023-38626-y). The two files below are written by `brainsweep demo`
# from brainsweep.data.load_dataset("dk_average").
path: demo.h5
model:
  name: HopfModel
  params: {{w: 0.05, sigma_ou: 0.05, signalV: 100.0}}
connectome: {{name: {sc_file}, normalize: max}}
integration: {{duration: {duration}, dt: 0.1, sampling_dt: 10.0, bold: true, tr: {tr}, seed: 2024}}
space:
  grid:
    K_gl: {K_gl}
    a: {a}
strategy: grid
objectives:
  - fc:
      target: {fc_file}
      transient_ms: {transient}
      keep: true
"""
DEMO_SIZES = {False: dict(duration=100000.0, transient=10000.0, tr=500.0, K_gl=[0.0, 0.2, 0.5, 1.0, 2.0],
                          a=[-0.05, 0.0]),
              True: dict(duration=30000.0, transient=10000.0, tr=500.0, K_gl=[0.0, 1.0], a=[-0.05, 0.0])}
DEMO_FILES = {"sc_file": "dk_average_sc.npz", "fc_file": "dk_average_fc.npy"}


def run_demo(outdir=".", fast=False, jobs=1, progress=True) -> dict:
    """The ``brainsweep demo`` study: a Hopf grid on dk_average fitted to its empirical BOLD FC;
    returns {"h5", "yaml", "plots", "best"} (paths, best row)."""
    import numpy as np

    from .data import load_dataset
    from .explorer.plots_models import plot_fc_matrices
    from .studyfile import load_study
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    yaml_path = outdir / "demo.yaml"
    sizes = DEMO_SIZES[bool(fast)]
    ds = load_dataset("dk_average")
    if _root():
        np.savez(outdir / DEMO_FILES["sc_file"], Cmat=ds.Cmat, Dmat=ds.Dmat)
        np.save(outdir / DEMO_FILES["fc_file"], ds.FC)
        yaml_path.write_text(DEMO_YAML.format(**sizes, **DEMO_FILES))
    _barrier()
    n_runs = len(sizes["K_gl"]) * len(sizes["a"])
    _say(f"brainsweep demo{' (fast)' if fast else ''}: {n_runs} Hopf runs on dk_average ({ds.n_regions} regions), "
         f"each fitted to its empirical BOLD FC; {_bold_seconds(sizes):g} s of BOLD a run -> {outdir / 'demo.h5'}")
    study = load_study(yaml_path, overwrite=True)
    res = study.run(n_jobs=jobs, progress=progress and _root())
    out = {"h5": study.path, "yaml": str(yaml_path), "plots": []}
    if not _root():
        return out
    if _all_failed(res):
        raise UserError(f"every demo run failed; see {study.path} (brainsweep info)")
    best = res.best(1, key="fc_fit", minimize=False)
    idx, r = int(best.index[0]), float(best["fc_fit"].iloc[0])
    heat = outdir / "demo_fc_fit.png"
    res.plot_grid("K_gl", "a", "fc_fit").savefig(heat, dpi=90)
    pair = outdir / "demo_fc_best.png"
    fc_best = res.run(idx)["fc"]
    off = ~np.eye(ds.n_regions, dtype=bool)
    plot_fc_matrices(fc_best, ds.FC, titles=(
        f"simulated, run {idx}: K_gl={best['K_gl'].iloc[0]}, a={best['a'].iloc[0]}\n"
        f"{_bold_seconds(sizes):g} s of BOLD; r = {r:.3f}; mean FC {fc_best[off].mean():.2f}",
        f"empirical BOLD FC, dk_average ({ds.n_regions} regions)\nmean FC {ds.FC[off].mean():.2f}"),
    ).savefig(pair, dpi=80)
    out["plots"] = [str(heat), str(pair)]
    out["best"] = best
    _print_summary(res)
    print(_fit_note(res, sizes, ds, fc_best))
    print(f"data: {ds.attribution}")
    print(f"wrote {study.path}, {yaml_path} (rerun: brainsweep run {shlex.quote(str(yaml_path))}), {heat}, {pair}")
    return out


def _bold_seconds(sizes: dict) -> float:
    """Seconds of BOLD each demo run's FC is computed from (after the transient)."""
    return (sizes["duration"] - sizes["transient"]) / 1000.0


def _fit_note(res, sizes: dict, ds, fc_best) -> str:
    """What the demo's best FC fit is and means: the Pearson r of upper triangles against the
    empirical FC, from how much BOLD, next to what the structural weights alone reach and the
    mean FC (r measures the pattern, not the level of synchrony)."""
    import numpy as np

    from .evaluation import matrix_correlation
    ok = res.df[res.df["status"] == "ok"].sort_values("fc_fit", ascending=False)
    seconds, off = _bold_seconds(sizes), ~np.eye(ds.n_regions, dtype=bool)
    top = ok.iloc[0]
    lines = [f"best FC fit to the empirical dk_average FC: r = {top['fc_fit']:.3f} at K_gl={top['K_gl']}, "
             f"a={top['a']} (Pearson r of the {int(off.sum()) // 2} region pairs, upper triangles; "
             f"{seconds:g} s of simulated BOLD a run, {seconds * 1000 / sizes['tr']:.0f} samples at TR "
             f"{sizes['tr']:g} ms, after a {sizes['transient'] / 1000:g} s transient)",
             f"for scale: the structural weights themselves correlate r = {matrix_correlation(ds.Cmat, ds.FC):.3f} "
             f"with that FC"]
    uncoupled = ok[ok["K_gl"] == 0.0]
    if len(uncoupled):
        lines[-1] += f"; uncoupled oscillators (K_gl=0) reach r = {uncoupled['fc_fit'].max():.3f}"
    lines += [f"r compares patterns, not levels: the best run's mean FC is {fc_best[off].mean():.2f}, the empirical "
              f"{ds.FC[off].mean():.2f} (stronger coupling synchronises more)",
              f"the FC of {seconds:g} s of BOLD is noisy (the empirical FC is a group average of long scans), so "
              f"neighbouring grid points fit about as well; a longer integration.duration in demo.yaml lowers the "
              f"noise (examples/02_whole_brain_bold_fc.py fits with 240 s of BOLD)"]
    return "\n".join(lines)


def _barrier() -> None:
    from .explorer.executors import _mpi_world_size
    if _mpi_world_size() > 1:
        from .mpi import world
        world().Barrier()


def cmd_demo(args) -> int:
    run_demo(outdir=args.outdir, fast=args.fast or os.environ.get("BRAINSWEEP_FAST") == "1",
             jobs=args.jobs, progress=not args.quiet)
    return 0


# -- plumbing -----------------------------------------------------------------------------------
# -- merge ----------------------------------------------------------------------------------
def cmd_merge(args) -> int:
    from .explorer.merge import merge
    out = merge([_existing(p) for p in args.files], args.output, overwrite=args.overwrite)
    from .explorer import load
    _say(f"merged {len(args.files)} studies -> {out} ({len(load(out).df)} runs)")
    return 0


def _existing(path) -> str:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return str(path)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    p = argparse.ArgumentParser(
        prog="brainsweep", description="Simulate whole-brain neural mass models, sweep and fit their parameters; "
        "every run kept in a pypet/HDF5 study file.",
        epilog="Under `mpiexec -n N brainsweep run ...` the runs are spread over the MPI ranks automatically.")
    p.add_argument("--version", action="version", version=f"brainsweep {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")
    sub.required = True

    s = sub.add_parser("demo", help="whole-brain Hopf model fitted to an empirical BOLD FC (dk_average)",
                       description="Grid over global coupling K_gl and bifurcation parameter a of Hopf oscillators "
                       "on the dk_average connectome (84 regions, BOLD), each run's FC fitted to the empirical BOLD "
                       "FC of that data set (CC-BY-4.0). Writes demo.h5, demo.yaml, the data files it reads and PNG "
                       "plots. BRAINSWEEP_FAST=1 (or --fast) makes it tiny.")
    s.add_argument("--outdir", default=".", help="where to write demo.h5 and the plots (default: .)")
    s.add_argument("--fast", action="store_true", help="tiny sizes (as BRAINSWEEP_FAST=1)")
    s.add_argument("-j", "--jobs", type=int, default=1, help="local worker processes (ignored under mpiexec)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("run", help="run (or resume) a study file: study.yaml or study.py",
                       description="Validate and run a YAML study file (every mistake is reported with its line), "
                       "or execute a Python study script. An existing study file is resumed. A tvbo experiment "
                       "file (dynamics/network/integration/explorations) runs as a study written to <stem>.h5 here; "
                       "one line per section says what is not run.")
    s.add_argument("study", help="study.yaml / study.yml, a tvbo experiment .yaml, or a study.py script "
                   "(arguments after -- are passed to the script)")
    s.add_argument("-o", "--output", help="YAML only: study file to write (overrides the YAML's path)")
    s.add_argument("-j", "--jobs", type=int, help="YAML only: local worker processes (default 1; ignored under "
                   "mpiexec)")
    s.add_argument("--overwrite", action="store_true", help="YAML only: replace an existing file holding a "
                   "different study")
    s.add_argument("-q", "--quiet", action="store_true", help="YAML only: no progress bar")
    s.add_argument("--trust", action="store_true", help="YAML only: when resuming a study file of format 1 whose "
                   "strategy state is a pickle, unpickle it (this runs code from the file: only for a file you trust)")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("info", help="what a study file holds", description="Model, space, strategy, "
                       "runs ok/failed, best runs and provenance of a study file (and why a stored strategy state "
                       "is not read, if it is not).")
    s.add_argument("file")
    s.add_argument("-n", "--best", type=int, default=5, help="how many best runs to list (default 5)")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("plot", help="plot a stored study to a PNG/PDF/SVG",
                       description="grid: heatmap of --z over --x and --y (other parameters --fixed name=value or "
                       "averaged); sweep: --z over --x; fitness: objective over generations; population: --x vs --y "
                       "of one generation; convergence: best objective so far.")
    s.add_argument("file")
    s.add_argument("--kind", choices=("grid", "sweep", "fitness", "population", "convergence"), default="grid")
    s.add_argument("--x", help="parameter on the x axis")
    s.add_argument("--y", help="parameter on the y axis (grid, population)")
    s.add_argument("--z", help="score to plot (grid, sweep; the objective for fitness/convergence)")
    s.add_argument("--fixed", nargs="*", metavar="NAME=VALUE", help="hold other explored parameters at these values")
    s.add_argument("--agg", choices=("mean", "min", "max", "median"),
                   help="grid, sweep: how to aggregate over parameters that are neither plotted nor fixed "
                   "(default mean)")
    s.add_argument("--generation", type=int, help="population: which generation (default -1, the last)")
    s.add_argument("-o", "--output", help="image file (default <file>_<kind>.png)")
    s.add_argument("--dpi", type=int, default=100)
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("reproduce", help="re-run a stored run and check it bit for bit",
                       description="Re-simulate run N with its stored parameters and seed, compare every stored "
                       "score and array. Exit 0 if bit-identical, 1 (and the differences) if not.")
    s.add_argument("file")
    s.add_argument("--run", type=int, required=True, metavar="N", help="run index")
    s.add_argument("--trust", action="store_true",
                   help="allow unpickling the study's evaluator when the file recorded it only as a pickle "
                   "(unpickling runs code from the file: only for a file you trust)")
    s.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("archive", help="zip a study with its study file, environment and a README",
                       description="Write a zip holding the study file, the YAML (and target files) it was made "
                       "from, `pip freeze`, the recorded environment and a README on how to rerun it.")
    s.add_argument("file")
    s.add_argument("-o", "--output", help="zip file (default <file>.zip)")
    s.set_defaults(func=cmd_archive)

    s = sub.add_parser("merge", help="merge study files of one space and evaluator into one",
                       description="Copy the runs of two or more study files of one parameter space and one evaluator "
                       "(strategies may differ) into a new study file, renumbered in input order with their "
                       "parameters, seeds, scores, arrays and tracebacks.")
    s.add_argument("files", nargs="+", metavar="FILE", help="study files (.h5), at least two")
    s.add_argument("-o", "--output", required=True, help="the merged study file to write")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output (only a study file)")
    s.set_defaults(func=cmd_merge)

    s = sub.add_parser("aln-tables", help="compute (or find) the cached ALN transfer-function tables",
                       description="Compute the EIF transfer-function tables of the ALN model for given neuron "
                       "parameters (or find them in the cache); `brainsweep aln-tables --help` lists the options.",
                       add_help=False)
    s.set_defaults(func=cmd_aln_tables)
    return p


def main(argv=None) -> int:
    """Entry point of the ``brainsweep`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    extra = []
    if argv[:1] == ["aln-tables"]:  # its options belong to brainsweep.models.aln.transfer.main
        argv, extra = argv[:1], argv[1:]
    elif "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    args.args = extra
    from .explorer import StudyFileError
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, KeyError, StudyFileError, FileNotFoundError, IsADirectoryError,
            PermissionError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        if args.command in ("run", "demo"):
            msg = msg.replace("overwrite=True", "--overwrite")
        if _root():  # under mpiexec every rank reads the same study file: rank 0 reports its mistakes
            print(f"brainsweep {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except RuntimeError as err:
        if "failed on rank 0" in str(err) and not _root():
            return 1  # an MPI worker rank: rank 0 has reported the error already
        raise
    except KeyboardInterrupt:
        print(f"brainsweep {args.command}: interrupted (a study resumes when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
