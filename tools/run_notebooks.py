"""Run the notebook series headlessly with papermill into runs/notebooks/ (`make run-all`).

A profile sets each notebook's parameters: `cpu` (default) runs a fuller version of every
notebook on a laptop CPU; `cpu-long` trains the same model eighty times longer, to answer the
adversarial question on a CPU; `gpu` runs the paper-size model. Each notebook runs with its folder
as working directory, as under nbval and JupyterLab. Notebook 00 runs last, so that it shows
this run's results.

The terminal shows one line as each notebook starts and ends, papermill's bar over its cells,
and a closing summary. The kernels' own start-up lines (TensorFlow's absl and CUDA messages,
ipykernel's TCP warning) are written by the kernel processes to their inherited standard error,
which this script points at `<out>/kernels.log` while its own messages keep the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
# notebooks 05-06's recipe (`config.lesson`: the official networks, G by Adam at 1e-3) for 1,500
# steps, G alone for the first 1,200: sprites in their colours on the fixed batch, and 05's
# three legs take about 2 minutes with AVX-512, 4 with AVX2 only (docs/performance.md);
# evaluated 16 frames deep (the study's depth) on 4 windows of each test episode; the longer
# profiles 64 deep, the TF1 README's figure.
CPU_RUNS = {
    "preset": "official",
    "g_alone_steps": 1200,
    "adversarial_steps": 1500,
    "non_adversarial_steps": 1500,
    "g_learning_rate": 1e-3,
}
CPU_EVALUATION = {"recursions": 16, "sequences_per_video": 4}
# the small preset, 80,000 steps a mode from scratch (as the paper), G at 1e-4 (1e-3 is for
# short runs): about 1 hour 10 minutes of training on 2 AVX-512 cores (2026-12-01)
CPU_LONG_RUNS = {
    "preset": "small",
    "g_alone_steps": 0,
    "adversarial_steps": 80_000,
    "non_adversarial_steps": 80_000,
    "g_learning_rate": 1e-4,
}
# the paper preset at the TF1 README's step counts, from scratch (about 24 hours a mode on a
# GTX 980 Ti)
GPU_RUNS = {
    "preset": "paper",
    "g_alone_steps": 0,
    "adversarial_steps": 500_000,
    "non_adversarial_steps": 1_000_000,
    "g_learning_rate": 1e-4,
}
CELL_TIMEOUT = 4 * 3600  # the cpu-long profile's training cell takes about 70 minutes
PROFILES = {
    "cpu": {
        "01_data.ipynb": CPU_DATA,
        "05_training.ipynb": {**CPU_DATA, **CPU_RUNS},
        "06_evaluation.ipynb": {**CPU_DATA, **CPU_RUNS, **CPU_EVALUATION},
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
    started = time.perf_counter()
    with kernel_output_to(out / "kernels.log"):
        code = run_all(args.notebooks, out, args.profile, args.cell_timeout)
    print(
        f"\n{'all notebooks ran' if code == 0 else 'stopped'} in "
        f"{(time.perf_counter() - started) / 60:.1f} min. Executed notebooks: {out}/; "
        f"the runs, evaluations and data they made: {os.environ.get('AVGKIT_HOME', 'runs')}/ "
        f"(training/, evaluation/, data/); kernel messages: {out / 'kernels.log'}",
        flush=True,
    )
    return code


@contextlib.contextmanager
def kernel_output_to(log: Path):
    """Point this process's file descriptor 2, which the kernels it starts inherit, at `log`;
    `sys.stderr` (papermill's bar, these messages) keeps the terminal."""
    terminal = os.dup(2)
    saved_stderr = sys.stderr
    with log.open("ab") as file:
        os.dup2(file.fileno(), 2)
        sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
        try:
            yield
        finally:
            sys.stderr.close()
            sys.stderr = saved_stderr
            os.dup2(terminal, 2)
            os.close(terminal)


def run_all(notebooks: list[Path], out: Path, profile: str, cell_timeout: int) -> int:
    """Execute the notebooks in turn into `out`; 1 at the first that fails, else 0."""
    # 00_overview last: its first result is then the evaluation this run has just made
    for notebook in sorted(notebooks, key=lambda path: path.name.startswith("00_")):
        parameters = PROFILES[profile].get(notebook.name, {})
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
                execution_timeout=cell_timeout,
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
