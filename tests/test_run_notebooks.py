"""`make run-all`'s runner in a terminal: a line per notebook, a closing summary, and none of the
kernels' start-up messages (absl, CUDA, ipykernel's TCP warning), which go to kernels.log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL = "import tensorflow as tf\n\nprint('devices', len(tf.config.list_logical_devices()))"


def test_the_terminal_shows_progress_and_no_kernel_noise(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, tmp_path / "07_tf.ipynb")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--out", str(tmp_path / "out"),
         str(tmp_path / "07_tf.ipynb")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},
    )  # fmt: skip
    terminal = done.stdout + done.stderr
    assert done.returncode == 0, terminal
    assert "07_tf.ipynb: defaults" in terminal and "07_tf.ipynb: done in" in terminal
    assert "all notebooks ran in" in terminal and "kernels.log" in terminal
    kernels = (tmp_path / "out" / "cpu" / "kernels.log").read_text()
    for noise in ("absl", "without encryption", "I0000"):
        assert noise not in terminal, noise
    assert "absl" in kernels  # TensorFlow's start-up lines were made, and kept in the log
    executed = nbformat.read(tmp_path / "out" / "cpu" / "07_tf.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].startswith("devices")
