"""The figures and tables the notebooks show."""

import matplotlib.pyplot as plt
import numpy as np

from avgkit import viz


def test_pyramid_strip_draws_one_axis_per_image_at_its_own_size():
    images = [np.zeros((4, 3, 3), np.uint8), np.ones((8, 6, 3), np.float32), np.zeros((16, 12, 3))]
    fig = viz.pyramid_strip(images)
    assert len(fig.axes) == 3
    assert [axis.get_title() for axis in fig.axes] == ["4x3", "8x6", "16x12"]
    assert [axis.images[0].get_array().shape for axis in fig.axes] == [
        (4, 3, 3),
        (8, 6, 3),
        (16, 12, 3),
    ]
    plt.close(fig)


def test_text_table_aligns_columns():
    text = viz.text_table(["preset", "parameters"], [["paper", 12569740], ["tiny", 6180]])
    assert text.splitlines() == [
        "preset  parameters",
        "------  ----------",
        "paper   12,569,740",
        "tiny         6,180",
    ]
