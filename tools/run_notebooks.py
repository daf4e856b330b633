"""Run the notebook series headlessly with papermill into runs/notebooks/ (`make run-all`).

A profile sets each notebook's parameters: `cpu` (default) runs a fuller version of every
notebook on a laptop CPU; `gpu` runs the paper-size model. Each notebook runs with its folder
as working directory, as under nbval and JupyterLab.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill

PROFILES = {
    "cpu": {
        "01_data.ipynb": {"train_episodes": 8, "frames_per_episode": 500, "num_clips": 100_000},
    },
    "gpu": {
        "01_data.ipynb": {"train_episodes": 20, "frames_per_episode": 1000, "num_clips": 500_000},
    },
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/notebooks"))
    args = parser.parse_args(argv)
    out = args.out / args.profile
    out.mkdir(parents=True, exist_ok=True)
    for notebook in args.notebooks:
        parameters = PROFILES[args.profile].get(notebook.name, {})
        print(f"{notebook.name}: {parameters or 'defaults'}", flush=True)
        started = time.perf_counter()
        papermill.execute_notebook(
            str(notebook),
            str(out / notebook.name),
            parameters=parameters,
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
        )
        print(
            f"{notebook.name}: done in {time.perf_counter() - started:.0f} s -> {out}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
