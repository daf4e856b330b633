"""`play.joystick` (notebook 07) as a reader uses it: a real JupyterLab server and kernel, and
Debian's Chromium driven by Playwright. The notebook is run from the Run menu and the buttons are
clicked; the test checks the caption, that the picture changes with each press and comes back
with reset, and, in the kernel, the actions pressed and that no matplotlib figure is left open or
alive.

Not part of `make test` (marker `browser`): run it with `make test-browser`."""

from __future__ import annotations

import numpy as np
import pytest

from .jupyter_page import STDERR, STDOUT, notebook_run_in_page, shown_pixels

pytestmark = pytest.mark.browser

JOYSTICK_CELL = """\
import dataclasses
import keras
import numpy as np
from avgkit import config, models, play
keras.utils.set_random_seed(0)
acting = dataclasses.replace(config.preset("tiny"), actions=("NOOP", "UP", "RIGHT", "LEFT", "DOWN"))
generator = models.build_generator(acting)
history = np.random.default_rng(0).integers(0, 256, (4, 48, 64, 3), np.uint8)
game = play.Imagined(generator, history)
play.joystick(game, zoom=2)
"""
PROBE_CELL = """\
import gc
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
gc.collect()
live = sum(isinstance(o, Figure) for o in gc.get_objects())
print(f"probe: actions {game.actions}, frames {len(game.frames)}, "
      f"open figures {len(plt.get_fignums())}, live figures {live}")
"""


def test_the_joystick_imagines_a_frame_per_press_and_resets(browser, lab, tmp_path):
    from playwright.sync_api import expect

    sources = [JOYSTICK_CELL, PROBE_CELL]
    opened = notebook_run_in_page(browser, lab, "joystick.ipynb", sources, tmp_path)
    with opened as (page, cells, errors):
        caption = cells.nth(0).locator(".widget-label")
        image = cells.nth(0).locator("img.widget-image")
        probe = cells.nth(1).locator(STDOUT)
        expect(probe).to_contain_text("probe: actions [], frames 4,")
        expect(caption).to_contain_text("press a direction")
        start = shown_pixels(image)
        assert start.shape == (96, 128, 3)  # the 48 x 64 frame, zoomed twice

        pictures = [start]
        for presses in (["LEFT"], ["LEFT", "UP"]):
            shown = image.get_attribute("src")
            cells.nth(0).get_by_role("button", name=presses[-1], exact=True).click()
            expect(caption).to_have_text(f"imagined frame {len(presses)} ({', '.join(presses)})")
            expect(image).not_to_have_attribute("src", shown)
            pictures.append(shown_pixels(image))
            assert np.abs(pictures[-1] - pictures[-2]).mean() > 0  # a new frame is shown

        cells.nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        expect(probe).to_contain_text("probe: actions ['LEFT', 'UP'], frames 6,")
        assert "open figures 0, live figures 0" in probe.inner_text(), probe.inner_text()

        shown = image.get_attribute("src")
        cells.nth(0).get_by_role("button", name="reset").click()
        expect(caption).to_contain_text("press a direction")
        expect(image).not_to_have_attribute("src", shown)
        np.testing.assert_array_equal(shown_pixels(image), start)  # the real history again
        expect(page.locator(STDERR)).to_have_count(0)
        assert not errors, errors
