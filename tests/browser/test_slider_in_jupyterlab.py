"""`viz.recursion_slider` as a reader uses it: a real JupyterLab server and kernel, and Debian's
Chromium driven by Playwright. The notebook is run from the Run menu and the slider moved with
the keyboard; the test checks the readout, that the picture is the figure of the new horizon,
and, in the kernel, the slider's value and that no matplotlib figure stays open or alive. Once
with the inline backend and once with ipympl (`%matplotlib widget`).

Not part of `make test` (marker `browser`, deselected by pyproject's addopts): run it with
`make test-browser`, which needs `apt-get install -y chromium`."""

from __future__ import annotations

import numpy as np
import pytest

from avgkit import viz

from .jupyter_page import STDERR, STDOUT, notebook_run_in_page, png_pixels, shown_pixels

pytestmark = pytest.mark.browser

HORIZONS = 6
# The same arrays in the kernel (the cell's source) and here (exec of the same source).
DATA = """\
import numpy as np
rng = np.random.default_rng(0)
truths = rng.uniform(-1, 1, (6, 21, 16, 3)).astype(np.float32)
predictions = {"noisy": np.clip(truths + rng.normal(0, 0.3, truths.shape), -1, 1)}
"""
SLIDER_CELL = f"""{DATA}from avgkit import viz
widget = viz.recursion_slider(truths, predictions)
widget
"""
# What the kernel holds, read back from the page: the slider's value, the figures pyplot keeps
# open, and the Figure objects alive at all (ipympl's widgets can keep closed ones alive).
PROBE_CELL = """\
import gc
import matplotlib
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
gc.collect()
live = sum(isinstance(o, Figure) for o in gc.get_objects())
print(f"probe: slider {widget.children[0].value}, open figures {len(plt.get_fignums())}, "
      f"live figures {live}, backend {matplotlib.get_backend()}")
"""
BACKEND_NAMES = {"inline": ("backend_inline",), "widget": ("backend widget", "ipympl")}


def expected_pictures() -> list[np.ndarray]:
    """The figure at each horizon, drawn here as the kernel draws it (RGB arrays)."""
    scope: dict = {}
    exec(DATA, scope)
    return [
        png_pixels(viz.figure_png(viz.recursion_figure(scope["truths"], scope["predictions"], h)))
        for h in range(1, HORIZONS + 1)
    ]


def horizon_shown(image, expected: list[np.ndarray]) -> int:
    """The 1-based horizon whose expected figure is nearest to the PNG that the page shows in
    the Image widget (it must have the expected size)."""
    picture = shown_pixels(image)
    assert all(picture.shape == reference.shape for reference in expected), picture.shape
    return 1 + int(np.argmin([np.abs(picture - reference).mean() for reference in expected]))


@pytest.mark.parametrize("backend", ["inline", "widget"])
def test_the_slider_redraws_in_jupyterlab_and_leaks_no_figure(browser, lab, backend, tmp_path):
    from playwright.sync_api import expect

    name = f"slider_{backend}.ipynb"
    first = SLIDER_CELL if backend == "inline" else "%matplotlib widget\n" + SLIDER_CELL
    expected = expected_pictures()
    opened = notebook_run_in_page(browser, lab, name, [first, PROBE_CELL], tmp_path)
    with opened as (page, cells, errors):
        readout = cells.nth(0).locator(".widget-readout")
        image = cells.nth(0).locator("img.widget-image")
        probe = cells.nth(1).locator(STDOUT)
        expect(probe).to_contain_text("probe: slider 1,")
        assert "open figures 0, live figures 0," in probe.inner_text(), probe.inner_text()
        assert any(word in probe.inner_text() for word in BACKEND_NAMES[backend])
        expect(readout).to_have_text("1")
        assert horizon_shown(image, expected) == 1

        # Move the slider with the keyboard, as a reader can: focus its handle, press a key.
        for key, horizon in [("ArrowRight", 2), ("End", HORIZONS)]:
            shown = image.get_attribute("src")
            cells.nth(0).locator(".noUi-handle").focus()
            page.keyboard.press(key)
            expect(readout).to_have_text(str(horizon))
            expect(image).not_to_have_attribute("src", shown)
            assert horizon_shown(image, expected) == horizon

        # In the kernel, after the moves: run the probe again.
        cells.nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        expect(probe).to_contain_text(f"probe: slider {HORIZONS},")
        assert "open figures 0, live figures 0," in probe.inner_text(), probe.inner_text()
        expect(page.locator(STDERR)).to_have_count(0)
        assert not errors, errors
