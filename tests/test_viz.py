"""The figures and tables the notebooks show."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

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


def test_frame_grid_lays_out_rows_and_columns_with_labels():
    truth = np.zeros((3, 4, 5, 3), np.uint8)
    prediction = np.full((3, 4, 5, 3), 0.5, np.float32)
    fig = viz.frame_grid([truth, prediction], ["truth", "G"], ["t+1", "t+2", "t+3"])
    assert len(fig.axes) == 6
    assert [axis.get_title() for axis in fig.axes[:3]] == ["t+1", "t+2", "t+3"]
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["truth", "G"]
    assert int(fig.axes[3].images[0].get_array()[0, 0, 0]) == 191  # (0.5 + 1) * 127.5 -> 191
    plt.close(fig)


def test_training_curves_smooth_each_run_and_skip_missing_d_losses():
    rows = [
        {"step": s, "g_loss": v, "d_loss": np.nan, "psnr": 20.0, "sharp_diff": 30.0}
        for s, v in ((10, 4.0), (20, 2.0), (30, 0.0))
    ]
    fig = viz.training_curves({"plain": rows}, smooth=2)
    g_axis, d_axis = fig.axes[0], fig.axes[1]
    raw, smoothed = g_axis.lines
    assert list(raw.get_ydata()) == [4.0, 2.0, 0.0]
    assert list(smoothed.get_ydata()) == [4.0, 3.0, 1.0]  # running mean of 2, by hand
    assert len(d_axis.lines) == 0  # a non-adversarial run has no D curve
    plt.close(fig)


def test_curves_of_a_run_whose_d_starts_late_skip_the_steps_before_it():
    losses = (np.nan, np.nan, 6.0, 4.0)  # G alone for two logged steps, then D
    rows = [
        {"step": 10 * (i + 1), "g_loss": 1.0, "d_loss": v, "psnr": 20.0, "sharp_diff": 30.0}
        for i, v in enumerate(losses)
    ]
    fig = viz.training_curves({"adversarial": rows}, smooth=2)
    raw, smoothed = fig.axes[1].lines
    assert list(raw.get_xdata()) == [30, 40] and list(smoothed.get_ydata()) == [6.0, 5.0]
    plt.close(fig)
    curve = {"step": [10, 20, 30, 40]}
    for k in range(2):
        curve |= {f"d_real_{k}": [None, None, 0.6, 0.7], f"d_fake_{k}": [None, None, 0.4, 0.3]}
        curve |= {f"d_heldout_{k}": [None] * 4, f"adv_share_{k}": [None, None, 0.1, 0.2]}
    fig = viz.discriminator_curves({"adversarial": curve}, scales=2)
    labels = [line.get_label() for line in fig.axes[1].lines]
    assert labels == [
        "σ(D) on real frames",
        "σ(D) on generated frames",
        "adversarial share of G's gradient",
    ]
    assert list(fig.axes[1].lines[2].get_ydata()) == [0.1, 0.2]
    plt.close(fig)


def test_recursion_figure_shows_truth_predictions_and_their_errors():
    truths = np.zeros((3, 4, 5, 3), np.float32)
    predictions = {"G": np.full((3, 4, 5, 3), 0.5, np.float32), "copy": truths.copy()}
    fig = viz.recursion_figure(truths, predictions, step=2)
    titles = [axis.get_title() for axis in fig.axes]
    assert titles[:3] == ["truth, t + 2", "G", "copy"]
    assert titles[4:] == ["|error|, mean 0.500", "|error|, mean 0.000"]
    assert np.allclose(fig.axes[4].images[0].get_array(), 0.5)  # |0.5 - 0| per pixel
    plt.close(fig)


def test_recursion_slider_redraws_its_picture_and_leaks_no_figure():
    truths = np.zeros((5, 4, 5, 3), np.float32)
    truths[2] = 1.0  # horizon 3 looks different
    open_before = len(plt.get_fignums())
    widget = viz.recursion_slider(truths, {"copy": truths})
    slider, picture = widget.children
    assert (slider.min, slider.max, slider.value) == (1, 5, 1)
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG")
    slider.value = 3
    assert bytes(picture.value) != first and bytes(picture.value).startswith(b"\x89PNG")
    assert len(plt.get_fignums()) == open_before


def test_recursion_slider_draws_off_pyplot(monkeypatch):
    """No backend may keep the slider's figures: under ipympl a pyplot figure's toolbar widget
    kept each closed one alive (tests/browser checks that in JupyterLab)."""
    truths = np.zeros((3, 4, 5, 3), np.float32)
    monkeypatch.setattr(plt, "figure", lambda *args, **kwargs: pytest.fail("drawn with pyplot"))
    slider, picture = viz.recursion_slider(truths, {"copy": truths}).children
    slider.value = 2
    assert bytes(picture.value).startswith(b"\x89PNG")


def test_gif_frames_mark_the_model_inputs():
    panels = [np.zeros((6, 10, 120, 3), np.uint8)] * 2
    frames = viz.side_by_side(panels, ["truth", "G"], header=14, inputs=4)
    assert frames.shape == (6, 24, 240, 3)
    bar = frames[:, 13, :, :]  # the last row of the header: the yellow bar, under the text
    assert (bar[:4] == (230, 200, 0)).all() and not bar[4:].any()
    assert not np.array_equal(frames[0, :11], frames[1, :11])  # "input 1" then "input 2"


def test_horizon_curves_put_regions_in_rows_and_the_legend_outside():
    rows = [
        {"predictor": p, "horizon": h, "metric": m, "region": r, "mean": 1.0,
         "ci_low": 0.5, "ci_high": 1.5}
        for p in ("G", "copy") for h in (1, 2) for m in ("psnr", "ssim")
        for r in ("whole", "moving")
    ]  # fmt: skip
    fig = viz.horizon_curves(rows, {"psnr": "PSNR", "ssim": "SSIM"})
    titles = [axis.get_title() for axis in fig.axes]
    assert titles == ["PSNR, whole", "SSIM, whole", "PSNR, moving", "SSIM, moving"]
    legend = fig.axes[1].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["G", "copy"]
    plt.close(fig)
