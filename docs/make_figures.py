"""Regenerate the README figures (docs/*.png) by running the demo and the examples at full size.

    python docs/make_figures.py            # ~10 minutes on 2 cores; add --fast for a quick check

Each example runs in a scratch directory; the PNGs the README shows are copied here. A figure
larger than 150 KB is an error (keep the repository small: lower the example's dpi).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS.parent / "examples"
MAX_BYTES = 150_000

#: (command, figures copied to docs/)
JOBS = [
    (["brainsweep", "demo", "-q"], ["demo_fc_fit.png", "demo_fc_best.png"]),
    (["01_single_node.py"], ["01_timeseries.png", "01_bifurcation_2d.png", "01_bifurcation_1d.png"]),
    (["02_whole_brain_bold_fc.py"], ["02_bold.png", "02_fc_sweep.png", "02_fc_best.png"]),
    (["03_grid_fc_heatmap.py"], ["03_fc_heatmap.png"]),
    (["04_evolution.py"], ["04_circle_population.png", "04_circle_fitness.png", "04_fc_fitness.png"]),
    (["05_jansen_rit_peak_frequency.py"], ["05_peak_frequency.png", "05_spectrum_fit.png"]),
    (["06_dipole_fit.py"], ["06_dipole_fit.png", "06_convergence.png"]),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="tiny sizes (BRAINSWEEP_FAST=1), for a quick check")
    ap.add_argument("--only", nargs="*", help="run only jobs whose command contains one of these strings")
    args = ap.parse_args(argv)
    env = {**os.environ, "BRAINSWEEP_FAST": "1" if args.fast else "0"}
    bindir = Path(sys.executable).parent
    too_big = []
    with tempfile.TemporaryDirectory(prefix="brainsweep-figures-") as scratch:
        for command, figures in JOBS:
            if args.only and not any(s in command[0] for s in args.only):
                continue
            if command[0].endswith(".py"):
                cmd = [sys.executable, str(EXAMPLES / command[0]), *command[1:]]
            else:
                cmd = [str(bindir / command[0]), *command[1:]]
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
            for name in figures:
                dst = DOCS / name
                shutil.copyfile(Path(scratch) / name, dst)
                if dst.stat().st_size > MAX_BYTES:
                    too_big.append(f"{name}: {dst.stat().st_size / 1e3:.0f} KB")
            print(f"{command[0]:<34} {time.perf_counter() - t0:6.1f} s  -> {', '.join(figures)}", flush=True)
    if too_big:
        print("figures over 150 KB:", "; ".join(too_big), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
