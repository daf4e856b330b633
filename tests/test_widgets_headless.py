"""The recursion slider executed headlessly with papermill, many times in a row: none may hang
(the old ipywidgets.interactive slider hung about one run in four; a hang fails here by the
cell timeout instead of waiting forever)."""

from __future__ import annotations

import nbformat
import papermill

RUNS = 8
CELL = """
import numpy as np
from avgkit import viz

rng = np.random.default_rng(0)
truths = rng.uniform(-1, 1, (6, 21, 16, 3)).astype(np.float32)
viz.recursion_slider(truths, {"noisy": np.clip(truths + 0.1, -1, 1)})
"""


def test_the_slider_never_hangs_a_headless_run(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    source = tmp_path / "slider.ipynb"
    nbformat.write(notebook, source)
    for run in range(RUNS):
        executed = papermill.execute_notebook(
            str(source),
            str(tmp_path / f"run{run}.ipynb"),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=120,
        )
        outputs = executed.cells[0].outputs
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
