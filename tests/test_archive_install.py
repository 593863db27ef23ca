"""`brainsweep archive` reruns elsewhere (issue 14, item 5): readable files, no local paths, the
Python version named, and brainsweep installed from the archive into a fresh virtual environment.

SLOW (about 30-90 s): builds a wheel, creates a venv and reruns a small study in it.
The fresh venv is `python -m venv` plus one path file that exposes this environment's
*dependencies* (numpy, numba, ...; every brainsweep entry left out), so nothing is downloaded:
brainsweep itself comes only from the archive's wheel, installed by `pip install --no-index -r
requirements.txt`, which also checks that every pinned dependency is satisfied.
"""

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

from brainsweep.cli import main
from brainsweep.explorer import load

STUDY = """\
path: small.h5
model:
  name: hopf
  params: {a: -0.05, w: 0.05, sigma_ou: 0.05, signalV: 100.0}
connectome: {name: sc}
integration: {duration: 600, sampling_dt: 5, seed: 5}
space:
  grid:
    K_gl: [0.0, 0.5]
objectives:
  - fc: {target: {synthetic: {K_gl: 0.5}, seed: 3}, key: x, transient_ms: 100}
"""


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


def test_slow_archive_installs_in_a_fresh_venv_and_reruns(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    (tmp_path / "sc").mkdir()
    w = rng.uniform(0.1, 1.0, (4, 4))
    np.savetxt(tmp_path / "sc" / "weights.txt", (w + w.T) / 2)
    np.savetxt(tmp_path / "sc" / "tract_lengths.txt", np.full((4, 4), 40.0))
    (tmp_path / "study.yaml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    umask = os.umask(0o077)  # files made under a private umask (0600) must still unpack readable
    try:
        assert main(["run", "study.yaml", "-q"]) == 0
        assert main(["archive", "small.h5", "-o", "small.zip"]) == 0
    finally:
        os.umask(umask)

    fresh = tmp_path / "unpacked"
    with zipfile.ZipFile("small.zip") as z:
        for info in z.infolist():
            assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        z.extractall(fresh)
    requirements = (fresh / "requirements.txt").read_text()
    assert not re.search(r"^-e |git\+|file:|/work/|^/", requirements, re.M), requirements
    wheel_line = [ln for ln in requirements.splitlines() if ln and not ln.startswith("#")][0]
    assert re.fullmatch(r"wheels/brainsweep-[\w.]+-py3-none-any\.whl", wheel_line)
    assert (fresh / wheel_line).is_file()
    readme = (fresh / "README.txt").read_text()
    assert f"Needs Python >=3.12 (made with Python {platform.python_version()})" in readme

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    vpy = venv / "bin" / "python"
    vsite = Path(subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip())
    (vsite / "deps.pth").write_text(str(_dependencies_only(tmp_path / "deps")) + "\n")
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
    a, b = load(fresh / "small.h5").df, load(fresh / "rerun.h5").df
    assert (b["status"] == "ok").all()
    assert list(a["fc_fit"]) == list(b["fc_fit"]) and list(a["seed"]) == list(b["seed"])
