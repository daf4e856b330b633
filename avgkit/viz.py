"""Figures for the notebooks and reports (matplotlib, no state kept between calls)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from avgkit.data.frames import to_uint8


def frame_strip(frames, titles=None, height: float = 2.6, suptitle: str | None = None):
    """A row of images: uint8 (n, H, W, 3), or float in [-1, 1]. Returns the figure."""
    frames = to_uint8(frames)
    width = height * frames.shape[2] / frames.shape[1]
    fig, axes = plt.subplots(
        1, len(frames), figsize=(width * len(frames), height + 0.4), squeeze=False
    )
    for index, (axis, frame) in enumerate(zip(axes[0], frames)):
        axis.imshow(frame, interpolation="nearest")
        axis.set_axis_off()
        if titles is not None:
            axis.set_title(titles[index], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


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
