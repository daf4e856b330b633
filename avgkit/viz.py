"""Figures for the notebooks and reports (matplotlib, no state kept between calls)."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from avgkit.data.frames import to_uint8


def frame_strip(frames, titles=None, height: float = 2.6, suptitle: str | None = None):
    """A row of images: uint8 (n, H, W, 3), or float in [-1, 1]. Returns the figure."""
    return frame_grid([frames], None, titles, height, suptitle)


def frame_grid(rows, row_labels=None, titles=None, height: float = 2.6, suptitle=None):
    """Rows of images, such as truth and predictions over time. rows: a list of (n, H, W, 3)
    arrays (uint8, or float in [-1, 1]), all of the same n; titles: one per column. Returns the
    figure."""
    rows = [to_uint8(frames) for frames in rows]
    count = len(rows[0])
    width = height * rows[0].shape[2] / rows[0].shape[1]
    fig, axes = plt.subplots(
        len(rows), count, figsize=(width * count, (height + 0.3) * len(rows) + 0.1), squeeze=False
    )
    for r, frames in enumerate(rows):
        for c, frame in enumerate(frames):
            axis = axes[r, c]
            axis.imshow(frame, interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if titles is not None and r == 0:
                axis.set_title(titles[c], fontsize=9)
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def fixed_batch_steps(grids, steps, cell: float = 1.3, suptitle: str | None = None):
    """The fixed batch as training goes, from the grids a run saved (`train.outputs.
    fixed_batch_grid`: a row per clip, its last input | prediction | truth, square crops).
    A row per clip: its last input, the truth, then the prediction at each of `steps`.
    grids: uint8 (n * s, 3 * s, 3), one per step. Returns the figure."""
    grids = [np.asarray(grid) for grid in grids]
    size = grids[0].shape[1] // 3
    count = grids[0].shape[0] // size

    def part(grid, clip, column):
        return grid[clip * size : (clip + 1) * size, column * size : (column + 1) * size]

    rows = [
        np.stack([part(grids[-1], i, 0), part(grids[-1], i, 2)] + [part(g, i, 1) for g in grids])
        for i in range(count)
    ]
    titles = ["last input", "truth", *(f"step {step}" for step in steps)]
    labels = [f"clip {i + 1}" for i in range(count)]
    return frame_grid(rows, labels, titles, height=cell, suptitle=suptitle)


def clip_grid(clips, hist_len: int, labels=None, cell: float = 1.3):
    """One clip a row, its frames left to right, the target last.

    `clips`: (n, h, w, 3 * (hist_len + 1)), uint8 or float in [-1, 1]. Returns the figure.
    """
    clips = to_uint8(clips)
    count, frames = len(clips), hist_len + 1
    fig, axes = plt.subplots(count, frames, figsize=(cell * frames, cell * count), squeeze=False)
    for row in range(count):
        for column in range(frames):
            axis = axes[row, column]
            axis.imshow(clips[row, ..., 3 * column : 3 * column + 3], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(
                    "target" if column == hist_len else f"input {column + 1}", fontsize=8
                )
        if labels is not None:
            axes[row, 0].set_ylabel(labels[row], fontsize=8, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def pyramid_strip(images, titles=None, height: float = 2.6, suptitle: str | None = None):
    """A row of images of different sizes, such as the scales of a pyramid, coarse to fine.

    `images`: a list of (h, w, 3) arrays, uint8 or float in [-1, 1], of any sizes. Each is drawn
    at the same height, without smoothing, so a coarse scale shows its pixels as blocks; the
    default titles give each image's size. Returns the figure.
    """
    images = [to_uint8(image) for image in images]
    if titles is None:
        titles = [f"{image.shape[0]}x{image.shape[1]}" for image in images]
    widths = [height * image.shape[1] / image.shape[0] for image in images]
    fig, axes = plt.subplots(
        1,
        len(images),
        figsize=(sum(widths) + 0.2 * len(images), height + 0.4),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    for axis, image, title in zip(axes[0], images, titles, strict=True):
        axis.imshow(image, interpolation="nearest")
        axis.set_axis_off()
        axis.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def training_curves(logs: dict, smooth: int = 5):
    """Panels of G loss, D loss, PSNR and sharpness difference against the step, a line per run.

    logs: {label: rows of `avgkit.train.read_log`}. Each curve is a running mean over `smooth`
    logged points (the raw points faint behind it). A run without D (non-adversarial) has no D
    curve. Returns the figure.
    """
    panels = [
        ("g_loss", "generator loss"),
        ("d_loss", "discriminator loss"),
        ("psnr", "PSNR on the batch (dB)"),
        ("sharp_diff", "sharpness difference (dB)"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for (column, title), axis in zip(panels, axes, strict=True):
        for index, (label, rows) in enumerate(logs.items()):
            steps = np.array([row["step"] for row in rows])
            values = np.array([row[column] for row in rows])
            logged = np.isfinite(values)  # D's loss is missing where a run trained G alone
            if not logged.any():
                continue
            steps, values, color = steps[logged], values[logged], f"C{index}"
            axis.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
            axis.plot(steps, _running_mean(values, smooth), color=color, label=label)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the up to window - 1 values before it."""
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def discriminator_curves(curves: dict, scales: int = 4):
    """D's diagnostics over training, a row per run and a panel per scale: the mean sigmoid of D
    on real, generated and held-out real frames, and the adversarial term's share of the
    gradient reaching G's output. curves: {run: {column: values}} with the stats log's columns
    ("step", "d_real_<k>", "d_fake_<k>", "d_heldout_<k>", "adv_share_<k>"; None or NaN where
    not logged). Returns the figure."""
    fig, axes = plt.subplots(
        len(curves), scales, figsize=(3.4 * scales + 2.6, 2.6 * len(curves)), squeeze=False
    )
    for row, (name, curve) in zip(axes, curves.items()):
        steps = np.array(curve["step"], np.float64)
        for k, axis in enumerate(row):
            for key, style, color, label in (
                ("d_real", "-", "C0", "σ(D) on real frames"),
                ("d_fake", "-", "C1", "σ(D) on generated frames"),
                ("d_heldout", "o", "C2", "σ(D) on held-out real frames"),
                ("adv_share", ":", "C3", "adversarial share of G's gradient"),
            ):
                values = np.array([np.nan if v is None else v for v in curve[f"{key}_{k}"]], float)
                shown = ~np.isnan(values)
                if shown.any():  # held-out frames only in runs trained with a test folder
                    axis.plot(steps[shown], values[shown], style, color=color, ms=3, label=label)
            axis.set_ylim(0, 1)
            axis.set_title(f"{name}, scale {k}", fontsize=9)
            axis.set_xlabel("step", fontsize=8)
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def text_table(header, rows) -> str:
    """An aligned plain-text table to print (no pandas needed): `header` names the columns,
    `rows` are lists of values. The first column is aligned left, the others right; integers
    get thousands separators, anything else is shown with `str` (format floats beforehand)."""

    def cell(value):
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    table = [[str(name) for name in header]] + [[cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(row):
        cells = [row[0].ljust(widths[0])] + [
            text.rjust(width) for text, width in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(table[0]), rule] + [line(row) for row in table[1:]])


def horizon_curves(rows, titles: dict):
    """An evaluation's scores against the horizon: a column per metric (titles: {metric: panel
    title}), a row per region (whole frame, moving areas), a colour per predictor, the 95%
    interval shaded, the legend outside the panels. rows: dicts with predictor, horizon,
    metric, region, mean, ci_low and ci_high, as `avgkit.evaluate.Results.rows` gives. Returns
    the figure."""
    predictors = list(dict.fromkeys(row["predictor"] for row in rows))
    regions = list(dict.fromkeys(row["region"] for row in rows))
    fig, axes = plt.subplots(
        len(regions), len(titles), figsize=(3.9 * len(titles) + 1.8, 3.0 * len(regions)),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for r, region in enumerate(regions):
        for (metric, title), axis in zip(titles.items(), axes[r], strict=True):
            for index, predictor in enumerate(predictors):
                line = [
                    row
                    for row in rows
                    if (row["predictor"], row["metric"], row["region"])
                    == (predictor, metric, region)
                ]
                horizons = [row["horizon"] for row in line]
                mean, low, high = (
                    np.array([row[key] for row in line], float)
                    for key in ("mean", "ci_low", "ci_high")
                )
                color = f"C{index}"
                axis.plot(horizons, mean, marker=".", color=color, label=predictor)
                axis.fill_between(horizons, low, high, color=color, alpha=0.15, linewidth=0)
            axis.set_title(f"{title}, {region}", fontsize=9)
            axis.grid(alpha=0.3)
            if r == len(regions) - 1:
                axis.set_xlabel("horizon (predicted frame)")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return fig


def side_by_side(panels, labels, header: int = 14, inputs: int = 0) -> np.ndarray:
    """Videos next to each other under their labels, for a GIF. panels: a list of (T, H, W, 3)
    arrays of one shape, uint8 or float in [-1, 1]; labels: one per panel, cut to its width;
    inputs: the first `inputs` frames are the model's inputs, marked "input i" in the header
    and by a yellow bar, the others "t+r". Returns uint8 (T, header + H, len(panels) * W, 3)."""
    panels = [to_uint8(panel) for panel in panels]
    count, _, width = panels[0].shape[:3]
    frames = []
    for t in range(count):
        tag = f"input {t + 1}" if t < inputs else f"t+{t - inputs + 1}" if inputs else ""
        heads = []
        for label in labels:
            head = Image.new("RGB", (width, header))
            draw = ImageDraw.Draw(head)
            if t < inputs:
                draw.rectangle([0, header - 3, width, header], fill=(230, 200, 0))
            draw.text((3, 1), f"{label} {tag}".strip(), fill="white")
            heads.append(np.asarray(head))
        frames.append(np.concatenate(heads, axis=1))
    strip = np.stack(frames)
    return np.concatenate([strip, np.concatenate(panels, axis=2)], axis=1)


def recursion_figure(
    truths, predictions: dict, step: int, height: float = 2.6, *, pyplot: bool = True
):
    """Horizon `step` (1-based) of a rollout: top row the truth and each prediction, bottom row
    each prediction's absolute error (mean over channels, 0 black to 2 bright).
    truths: (R, H, W, 3) and predictions {label: (R, H, W, 3)}, float in [-1, 1].
    pyplot=False: a bare `matplotlib.figure.Figure` that no backend manages (for `figure_png`).
    Returns the figure."""
    truth = np.asarray(truths[step - 1], np.float32)
    count = 1 + len(predictions)
    width = height * truth.shape[1] / truth.shape[0]
    figsize = (width * count, 2 * height + 0.8)
    fig = plt.figure(figsize=figsize) if pyplot else Figure(figsize=figsize)
    axes = fig.subplots(2, count, squeeze=False)
    axes[0, 0].imshow(to_uint8(truth), interpolation="nearest")
    axes[0, 0].set_title(f"truth, t + {step}", fontsize=9)
    for column, (label, frames) in enumerate(predictions.items(), start=1):
        prediction = np.asarray(frames[step - 1], np.float32)
        error = np.abs(prediction - truth).mean(axis=-1)
        axes[0, column].imshow(to_uint8(prediction), interpolation="nearest")
        axes[0, column].set_title(label, fontsize=9)
        axes[1, column].imshow(error, cmap="magma", vmin=0.0, vmax=2.0, interpolation="nearest")
        axes[1, column].set_title(f"|error|, mean {error.mean():.3f}", fontsize=9)
    for axis in axes.flat:
        axis.set_axis_off()
    fig.tight_layout()
    return fig


def recursion_slider(truths, predictions: dict, height: float = 2.6):
    """An ipywidgets slider over the horizons of a rollout above a picture of
    `recursion_figure` at the chosen horizon. Returns the widget (a VBox).

    The figure is drawn off pyplot to PNG bytes in an `ipywidgets.Image`: no Output widget
    captures display messages (their capture raced headless executors such as papermill, which
    then waited forever for a finished cell: nteract/papermill#723), and no backend keeps
    anything of it (under ipympl a pyplot figure gets canvas and toolbar widgets, and the toolbar
    kept each closed figure alive). It works alike with the inline backend and ipympl. A
    headless run keeps no widget state: show `recursion_figure` beside it for a static picture.
    """
    import ipywidgets

    def png(step: int) -> bytes:
        return figure_png(recursion_figure(truths, predictions, step, height, pyplot=False))

    slider = ipywidgets.IntSlider(
        value=1, min=1, max=len(truths), description="horizon", continuous_update=False
    )
    picture = ipywidgets.Image(value=png(1))

    def redraw(change):
        picture.value = png(change["new"])

    slider.observe(redraw, names="value")
    return ipywidgets.VBox([slider, picture])


def figure_png(figure, dpi: int = 80) -> bytes:
    """`figure` as PNG bytes; the figure is closed (if pyplot has it)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()
