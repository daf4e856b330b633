"""Run the notebook series headlessly with papermill into runs/notebooks/ (`make run-all`).

A profile sets each notebook's parameters: `cpu` (default) runs a fuller version of every
notebook on a laptop CPU; `cpu-long` trains the same model forty times longer, to answer the
adversarial question on a CPU; `gpu` runs the paper-size model. Each notebook runs with its folder
as working directory, as under nbval and JupyterLab. Notebook 00 runs last, so that it shows
this run's results.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill

CPU_DATA = {
    "train_episodes": 8,
    "test_episodes": 2,
    "frames_per_episode": 500,
    "num_clips": 100_000,
}
GPU_DATA = {
    "train_episodes": 20,
    "test_episodes": 4,
    "frames_per_episode": 1000,
    "num_clips": 500_000,
}
# small preset, 2,000 steps a mode: about 2 minutes of training here (2 AVX-512 cores,
# 2026-12-01); evaluated 64 frames deep (the TF1 README's figure) on 13 test sequences
CPU_RUNS = {"preset": "small", "adversarial_steps": 2000, "non_adversarial_steps": 2000}
# forty times longer: about 1 hour 10 minutes of training here
CPU_LONG_RUNS = {**CPU_RUNS, "adversarial_steps": 80_000, "non_adversarial_steps": 80_000}
# the paper preset at the TF1 README's step counts (about 24 hours a mode on a GTX 980 Ti)
GPU_RUNS = {"preset": "paper", "adversarial_steps": 500_000, "non_adversarial_steps": 1_000_000}
CELL_TIMEOUT = 4 * 3600  # the cpu-long profile's training cell takes about 70 minutes
PROFILES = {
    "cpu": {
        "01_data.ipynb": CPU_DATA,
        "05_training.ipynb": {**CPU_DATA, **CPU_RUNS},
        "06_evaluation.ipynb": {**CPU_DATA, **CPU_RUNS, "recursions": 64},
    },
    "cpu-long": {
        "01_data.ipynb": CPU_DATA,
        "05_training.ipynb": {**CPU_DATA, **CPU_LONG_RUNS},
        "06_evaluation.ipynb": {**CPU_DATA, **CPU_LONG_RUNS, "recursions": 64},
    },
    "gpu": {
        "01_data.ipynb": GPU_DATA,
        "05_training.ipynb": {**GPU_DATA, **GPU_RUNS},
        "06_evaluation.ipynb": {**GPU_DATA, **GPU_RUNS, "recursions": 64},
    },
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--out", type=Path, default=Path("runs/notebooks"))
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=CELL_TIMEOUT,
        help=f"seconds a cell may run before the run fails, naming it (default {CELL_TIMEOUT})",
    )
    args = parser.parse_args(argv)
    out = args.out / args.profile
    out.mkdir(parents=True, exist_ok=True)
    # 00_overview last: its first result is then the evaluation this run has just made
    for notebook in sorted(args.notebooks, key=lambda path: path.name.startswith("00_")):
        parameters = PROFILES[args.profile].get(notebook.name, {})
        print(f"{notebook.name}: {parameters or 'defaults'}", flush=True)
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(out / notebook.name),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name="python3",
                progress_bar=True,  # a bar over the cells, on stderr
                execution_timeout=args.cell_timeout,
            )
        except Exception as error:  # a failed or timed-out cell: name the notebook and stop
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            print(f"{notebook.name}: failed ({reason}); partial output in {out}", flush=True)
            return 1
        print(
            f"{notebook.name}: done in {time.perf_counter() - started:.0f} s -> {out}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
